"""What every drawing function does around its curves: the figure's frame, the finish of its axes
and the legend under them, so that the five kinds of figure cannot drift apart.

- A figure is made here at FIGURE_WIDTH in the house style with the constrained layout engine,
  which keeps labels and legends inside the figure's fixed size.
- Our data decide the axis limits (`padded`, `fit_ylim`): a curve is never squashed into a strip
  by a value that is not ours.
- Log axes carry plain decimals (0.4, 1, 2): "4×10⁻¹" has to be decoded before it is read.
- One legend under the axes, in columns with bold headings (ours, then the paper's).
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.lines import Line2D

from .style import FIGURE_WIDTH, LOG_TICK_SERIES, PALETTE, use_style


def figure(height: float, *, nrows: int = 1, ncols: int = 1, sharex: bool = False,
           height_ratios=None):
    """A new figure `height` inches high in the house style, and its axes as a 2-d array."""
    use_style()
    return plt.subplots(nrows, ncols, figsize=(FIGURE_WIDTH, height), sharex=sharex,
                        squeeze=False, layout="constrained",
                        gridspec_kw={"height_ratios": height_ratios} if height_ratios else None)


def finish(fig, title: str) -> None:
    """The title, and tick labels without offsets, powers of ten or scientific notation."""
    if title:
        fig.suptitle(title)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                _plain_log_ticks(axis)
            elif axis.get_scale() == "linear":
                formatter = ticker.ScalarFormatter(useOffset=False)
                formatter.set_scientific(False)
                axis.set_major_formatter(formatter)


def _plain_log_ticks(axis) -> None:
    """Ticks a log axis can be read from at a glance: plain decimals, the coarsest series that
    puts at least three inside the axis, none of them as powers of ten."""
    lo, hi = sorted(axis.get_view_interval())
    locator = ticker.MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10])  # under a factor of ~1.5
    if lo > 0:
        decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        for subs in LOG_TICK_SERIES:
            inside = [s * 10.0 ** k for k in decades for s in subs if lo <= s * 10.0 ** k <= hi]
            if len(inside) >= 3:
                locator = ticker.LogLocator(base=10, subs=subs, numticks=12)
                break
    axis.set_major_locator(locator)
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: _plain(v)))
    axis.set_minor_locator(ticker.LogLocator(base=10, subs="auto"))
    axis.set_minor_formatter(ticker.NullFormatter())


def _plain(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000 and float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.6g}"


def padded(lo: float, hi: float, *, log: bool = False,
           pad: float | tuple[float, float] = 0.05) -> tuple[float, float]:
    """(lo, hi) widened by `pad` of the span (of the log span on a log axis), or by
    (below, above) where `pad` is a pair."""
    below, above = pad if isinstance(pad, tuple) else (pad, pad)
    if log and lo <= 0:  # nothing positive to anchor the bottom of a log axis: one decade
        lo = hi / 10
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    span = hi - lo or (abs(hi) * 0.1 or 1.0)
    lo, hi = lo - below * span, hi + above * span
    return (10 ** lo, 10 ** hi) if log else (lo, hi)


def fit_ylim(ax, *series, log: bool = False) -> None:
    """ax's y limits from the finite (on a log axis: positive) values of `series`, padded."""
    values = pd.concat([pd.Series(s, dtype=float) for s in series])
    values = values[np.isfinite(values) & ((values > 0) if log else True)]
    if len(values):
        ax.set_ylim(*padded(float(values.min()), float(values.max()), log=log))


def palette_colours(n: int) -> list[str]:
    """The first `n` colours of the palette, repeating it where `n` exceeds its length."""
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


def legend_header() -> Line2D:
    """An empty legend handle: the label beside it heads the entries that follow."""
    handle = Line2D([], [], linestyle="none", marker="none")
    handle.is_header = True
    return handle


def legend_below(fig, *columns: list[tuple]) -> None:
    """One legend under the axes, spanning the figure, one column per group of (handle, label)
    (e.g. ours, then the paper's): beside the axes it would take a third of the width from the
    curves, and inside them it would cover some. A group's first entry is its bold heading."""
    columns = [c for c in columns if c]
    if not columns:
        return
    if len(columns) == 1 and not getattr(columns[0][0][0], "is_header", False):
        # one group without a heading: side by side, up to three a row, to save height
        per_row = min(3, len(columns[0]))
        columns = [columns[0][i::per_row] for i in range(per_row)]
    rows = max(len(c) for c in columns)
    blank = (Line2D([], [], linestyle="none", marker="none"), "")
    # the legend fills column by column: pad each group to the same length
    entries = [entry for c in columns for entry in [*c, *[blank] * (rows - len(c))]]
    handles, labels = zip(*entries)
    legend = fig.legend(handles, labels, loc="outside lower center", ncols=len(columns),
                        handlelength=2.0, labelspacing=0.35, columnspacing=2.5)
    for handle, text in zip(handles, legend.get_texts()):
        if getattr(handle, "is_header", False):
            text.set_fontweight("bold")


def note(ax, text: str) -> None:
    """Grey text in the middle of an axes that has nothing to draw, saying why."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")
