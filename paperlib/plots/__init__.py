"""Report figures drawn from the tidy CSVs, in the paper's layouts and in one house style.

A figure from this project is read beside Smith's, in a report, often printed, so every figure
shares one size, font, palette and set of saved files, and the paper's values are marked without
taking the axis from our data. The package is split by what a reader of the code looks for:

- `style`: the house style (size, font, palette, axis labels), titles and `save_figure_set`;
- `layout`: the frame, axis finish (plain log ticks, padded limits) and legend every figure uses;
- `curves`: the paper's test-curve figures (Figs 5, 8, 15) and the marks for the paper's values;
- `ranges`: learning-rate range tests, the paper's Fig 1a and the library's own;
- `runs`: one run's schedules and training curves, for the command line.

Each module imports only those above it in this list; callers import from `paperlib.plots`.
"""
# style first: it picks the headless backend before any other module imports pyplot
from .style import (AXIS_LABELS, DPI, FIGURE_WIDTH, FORMATS, LOG_TICK_SERIES, PALETTE,
                    PAPER_COLOUR, STYLE, TITLE_CHARS, figure_title, save_figure_set, use_style)
from .curves import plot_curves
from .ranges import plot_range_loss, plot_range_test
from .runs import plot_schedule, plot_training

__all__ = [
    "AXIS_LABELS", "DPI", "FIGURE_WIDTH", "FORMATS", "LOG_TICK_SERIES", "PALETTE", "PAPER_COLOUR",
    "STYLE", "TITLE_CHARS", "figure_title", "save_figure_set", "use_style",
    "plot_curves", "plot_range_loss", "plot_range_test", "plot_schedule", "plot_training",
]
