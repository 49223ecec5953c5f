"""The house style every figure shares: its size, font, palette, title and the files it is saved as.

A figure from this project is read beside Smith's, in a report, often printed, so this decides
more than the plotting library would on its own:

- One size and one style. Every figure is FIGURE_WIDTH (6.5 in) wide: the text width of a
  one-column report on A4 or US letter with 1 in margins, so it is printed at 100 % and its 7-9 pt
  text matches a report's footnotes. The narrower 3.5 in column of a two-column layout would leave
  about 2 in for the curves once the legend of three or four runs and the paper's values stand
  beside them. One font (DejaVu Sans, shipped with matplotlib, so every machine draws the same
  glyphs) and one palette (Okabe and Ito's, readable with any colour vision and in greyscale).
- Saved as PNG at DPI (300) and as PDF and SVG, all three from one call (`save_figure_set`), at
  the exact figure size: the layout engine keeps labels and legends inside it, so no "tight"
  cropping makes one PNG a different size from another.
- The title names the data set exactly as the run's provenance does ("CIFAR-10 (JPEG q75 copy)"),
  and says so when one data set stands in for another: a figure copied into a report loses the
  notebook around it.

It is the bottom of the plots package: the modules that draw import it, it imports none of them.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless by default; notebooks switch to inline themselves
import matplotlib.pyplot as plt  # noqa: E402
from cycler import cycler  # noqa: E402

from .. import io  # noqa: E402

FIGURE_WIDTH = 6.5  # inches; see the module docstring
DPI = 300
FORMATS = ("png", "pdf", "svg")
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
PAPER_COLOUR = "black"
TITLE_CHARS = 90  # what fits across FIGURE_WIDTH at the title's 9 pt
LOG_TICK_SERIES = ((1.0,), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 4.0, 6.0))  # coarse to fine

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "figure.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "legend.frameon": False,
    "axes.prop_cycle": cycler(color=PALETTE),
    "axes.grid": True,
    "axes.grid.which": "major",
    "axes.axisbelow": True,
    "axes.edgecolor": "#444444",
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.2,
    "lines.markersize": 3,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    # also the resolution of a PNG written through io.save_figure without an explicit dpi
    "savefig.dpi": DPI,
    "pdf.fonttype": 42,  # TrueType: text in the PDF stays text (searchable, editable)
    "svg.fonttype": "path",  # glyphs as outlines: the SVG looks the same without the font
}

# metric -> axis label; the units are in the label because a report's reader has no notebook
AXIS_LABELS = {
    "step": "iterations",
    "lr": "learning rate",
    "momentum": "momentum",
    "loss": "test loss (cross-entropy)",
    "accuracy": "test accuracy",
}


def use_style() -> None:
    """Apply the house style (fonts, sizes, palette, grid) to the figures drawn from now on."""
    plt.rcParams.update(STYLE)


def figure_title(title: str | None, dataset: str | None = None,
                 stand_in_for: str | None = None) -> str:
    """`dataset` (its provenance's label, kept whole on the first line), then `title`.

    stand_in_for: the data set the paper used where `dataset` replaces it, said in the title so
    that a stand-in run cannot be mistaken for the real one.
    """
    label = dataset or ""
    if label and stand_in_for:
        label += f" standing in for {stand_in_for}"
    if not label:
        return title or ""
    if not title:
        return label
    joined = f"{label}, {title}"
    if len(joined) <= TITLE_CHARS:
        return joined
    rest = textwrap.wrap(title, TITLE_CHARS, break_on_hyphens=False, break_long_words=False)
    return "\n".join([f"{label},", *rest])


def save_figure_set(fig, out_dir: str | Path, name: str, *, formats: tuple[str, ...] = FORMATS,
                    dpi: int = DPI) -> list[Path]:
    """Write `fig` as `<out_dir>/<name>.<fmt>` for each format (PNG, PDF and SVG by default),
    each atomically; returns the paths in the order of `formats`.

    The figure is saved at its own size (no tight cropping), so every PNG of one layout has the
    same pixel size: FIGURE_WIDTH x dpi wide.
    """
    out_dir = Path(out_dir)
    return [io.save_figure(fig, out_dir / f"{name}.{fmt}", dpi=dpi) for fmt in formats]
