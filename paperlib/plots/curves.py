"""The paper's test-curve figures (Figs 5, 8 and 15): several runs, mean and spread over seeds,
with the paper's own numbers marked beside ours.

These are the figures read against Smith's, so they carry the paper's values, and carry them
without letting them take the axis: our data decide the limits, and a paper value is a dotted
line where it falls inside them and a triangle at the edge it lies beyond where it does not,
listed with its value in the legend. A paper value far from ours thus never squashes our curves
into a strip. The markers live here because no other figure draws the paper's values.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import transforms
from matplotlib.lines import Line2D

from .layout import figure, finish, legend_below, legend_header, padded, palette_colours
from .style import AXIS_LABELS, PAPER_COLOUR, figure_title


def plot_curves(frame: pd.DataFrame, *, x: str, y: str, title: str, xlabel: str | None = None,
                ylabel: str | None = None, hue: str = "curve", logy: bool = False,
                paper_lines: dict | None = None, paper_points: dict | None = None,
                ylim: tuple | None = None, dataset: str | None = None,
                stand_in_for: str | None = None, paper_source: str = "paper"):
    """Test-set curves of several runs (mean over replicates, band = sd), in the paper's layout.

    paper_lines: {hue value: the paper's value for that curve}, drawn in the curve's colour;
    paper_points: {label: (x, y)}, points the paper marks (e.g. Fig 15a's minimum);
    paper_source: heads the paper's entries in the legend, e.g. "Smith Fig 8a: final test loss".
    xlabel/ylabel default to the metric's name with its unit (AXIS_LABELS).
    ylim: fixed limits; without it our curves alone decide them, and a paper value beyond them
    is drawn as a triangle at that edge.
    """
    fig, axes = figure(3.4)
    ax = axes[0, 0]
    test = frame[frame["split"] == "test"]
    order = list(dict.fromkeys(test[hue]))
    colours = dict(zip(order, palette_colours(len(order))))
    lows, highs = [], []
    ours = [(legend_header(), _ours_header(test))]
    for key in order:
        stats = _mean_sd(test[test[hue] == key], x, y)
        lower, upper = stats["mean"] - stats["sd"], stats["mean"] + stats["sd"]
        if logy:
            lower = lower.where(lower > 0, stats["mean"][stats["mean"] > 0].min())
        (line,) = ax.plot(stats[x], stats["mean"], "o-", color=colours[key], ms=2.5, lw=1.2)
        if stats["sd"].notna().any():
            ax.fill_between(stats[x], lower, upper, color=colours[key], alpha=0.18, lw=0)
        lows.append(np.nanmin(lower.fillna(stats["mean"])))
        highs.append(np.nanmax(upper.fillna(stats["mean"])))
        ours.append((line, str(key)))
    if logy:
        ax.set_yscale("log")
    if ylim:
        ax.set_ylim(*ylim)
    elif lows:
        lo, hi = padded(min(lows), max(highs), log=logy)
        beyond = [v for v in (paper_lines or {}).values()] + \
            [py for _px, py in (paper_points or {}).values()]
        # a strip at an edge that a paper value lies beyond, for its triangle to sit in without
        # covering our curves: a few per cent of the axis, never the paper value itself
        ax.set_ylim(*padded(min(lows), max(highs), log=logy,
                            pad=(0.14 if any(v < lo for v in beyond) else 0.05,
                                 0.14 if any(v > hi for v in beyond) else 0.05)))
    xlo, xhi = ax.get_xlim()  # fixed now, so that markers beyond it cannot widen it
    ax.set_xlim(xlo, xhi)

    marks = _PaperMarks(ax)
    paper = []
    for key, value in (paper_lines or {}).items():
        handle, where = marks.value(value, colours.get(key, PAPER_COLOUR))
        paper.append((handle, f"{key}: {value:g}{_where(where)}"))
    for label, (px, py) in (paper_points or {}).items():
        handle, where = marks.point(px, py)
        paper.append((handle, f"{label}: {py:g} at {AXIS_LABELS.get(x, x)} {px:g}{_where(where)}"))
    legend_below(fig, ours, [(legend_header(), paper_source), *paper] if paper else [])
    ax.set_xlabel(xlabel or AXIS_LABELS.get(x, x))
    ax.set_ylabel(ylabel or AXIS_LABELS.get(y, y))
    finish(fig, figure_title(title, dataset, stand_in_for))
    return fig


def _mean_sd(rows: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Mean and sd of `y` over the replicates at each `x` (sd NaN with one replicate)."""
    stats = rows.groupby(x, sort=True)[y].agg(mean="mean", sd="std").reset_index()
    return stats[np.isfinite(stats["mean"])]


def _ours_header(test: pd.DataFrame) -> str:
    seeds = test["replicate"].nunique() if "replicate" in test else 1
    return f"ours: mean ± sd of {seeds} seeds" if seeds > 1 else "ours (1 seed)"


def _where(where: str | None) -> str:
    return f" ({where} the axis)" if where else ""


class _PaperMarks:
    """The paper's values on an axes whose limits our data have fixed: inside them, a dotted
    line (a value) or a star (a point); beyond them, a triangle just inside the edge the value
    lies beyond, pointing at it, side by side from the right when several lie beyond one edge."""

    SPACING = 9  # points between neighbouring triangles

    def __init__(self, ax):
        self.ax = ax
        self.slots = {"below": 0, "above": 0}

    def _side(self, value: float) -> str | None:
        lo, hi = sorted(self.ax.get_ylim())
        return "below" if value < lo else "above" if value > hi else None

    def _edge_marker(self, where: str, colour: str, x_frac: float | None = None) -> Line2D:
        slot = self.slots[where]
        self.slots[where] += 1
        fig = self.ax.figure
        # x in axes fraction, y at the edge; moved inwards by half a marker so the tip touches it
        inward = 4.5 if where == "below" else -4.5
        base = transforms.offset_copy(self.ax.transAxes, fig=fig, x=-self.SPACING * slot,
                                      y=inward, units="points")
        marker = "v" if where == "below" else "^"
        (handle,) = self.ax.plot([0.985 if x_frac is None else x_frac],
                                 [0.0 if where == "below" else 1.0], marker=marker, ms=7,
                                 color=colour, mec="white", mew=0.6, linestyle="none",
                                 transform=base, clip_on=False, zorder=5)
        return handle

    def value(self, value: float, colour: str):
        where = self._side(value)
        if where is None:
            self.ax.axhline(value, color=colour, ls=":", lw=1.2, zorder=1.5)
            return Line2D([], [], color=colour, ls=":", lw=1.2), None
        return self._edge_marker(where, colour), where

    def point(self, px: float, py: float):
        where = self._side(py)
        xlo, xhi = self.ax.get_xlim()
        if where is None and xlo <= px <= xhi:
            (handle,) = self.ax.plot([px], [py], "*", color=PAPER_COLOUR, ms=9, mec="white",
                                     mew=0.5, zorder=5, linestyle="none")
            return handle, None
        if where is None:  # beyond the x range only: the legend says so, nothing is drawn
            return Line2D([], [], marker="*", color=PAPER_COLOUR, ms=9, linestyle="none"), \
                "outside"
        x_frac = self.ax.transAxes.inverted().transform(
            self.ax.transData.transform((min(max(px, xlo), xhi), self.ax.get_ylim()[0])))[0]
        return self._edge_marker(where, PAPER_COLOUR, x_frac=float(np.clip(x_frac, 0.0, 1.0))), \
            where
