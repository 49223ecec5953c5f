"""The figures as a report reader gets them: size and formats, titles, readable axes, and the
paper's values marked without taking the axis from our data."""
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon, Rectangle
from PIL import Image

from paperlib import plots

DATASET = "CIFAR-10 (JPEG q75 copy)"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def curves_frame(metric: str, curves: dict, steps=range(25, 501, 25), replicates=2):
    """Tidy rows as the notebooks' CSVs hold them: for each curve, test rows whose `metric`
    goes linearly from start to end (replicates a little apart), plus one train row each."""
    rows = []
    for curve, (start, end) in curves.items():
        for rep in range(replicates):
            for i, step in enumerate(steps):
                value = start + (end - start) * i / (len(steps) - 1)
                value *= 1 + 0.02 * (rep - 0.5)
                for split in ("test", "train"):
                    rows.append({"figure": "figX", "curve": curve, "replicate": rep, "seed": rep,
                                 "step": step, "split": split, "lr": 0.1 + i / len(steps),
                                 "momentum": 0.9, "weight_decay": 1e-4, metric: value,
                                 "loss" if metric == "accuracy" else "accuracy": 0.5})
    return pd.DataFrame(rows)


def range_frame():
    """A Fig 1a sweep, lr 0-0.4: train rows every step, test rows every 25."""
    lr = np.linspace(0, 0.4, 200)
    train = pd.DataFrame({"step": range(200), "split": "train", "lr": lr,
                          "loss": 2.9 - 4 * lr, "accuracy": 0.3, "weight_decay": 1e-4,
                          "momentum": 0.9})
    train["smooth_loss"] = train["loss"]
    test = train.iloc[::25].assign(split="test", loss=lambda f: 2.1 - 2 * f["lr"],
                                   accuracy=lambda f: 0.25 + f["lr"], smooth_loss=np.nan)
    return pd.concat([train, test], ignore_index=True)


def fig8a_like(**kwargs):
    frame = curves_frame("loss", {"Momentum=0.9": (3.5, 0.95), "CM range=0.95-0.85": (3.8, 1.1)})
    return plots.plot_curves(frame, x="step", y="loss", logy=True, title="resnet8 [small]",
                             dataset=DATASET, paper_source="Smith Fig 8a: final test loss",
                             paper_lines={"Momentum=0.9": 0.36, "CM range=0.95-0.85": 0.345},
                             **kwargs)


def schedule_frame():
    steps = np.arange(100)
    return pd.DataFrame({"step": steps, "lr": 0.1 + 0.9 * np.minimum(steps, 99 - steps) / 50,
                         "momentum": 0.95 - 0.1 * np.minimum(steps, 99 - steps) / 50})


ALL_FIGURES = {
    "curves": fig8a_like,
    "range loss (Fig 1a)": lambda: plots.plot_range_loss(range_frame(), title="t",
                                                         dataset=DATASET),
    "range test": lambda: plots.plot_range_test(range_frame(), title="t", dataset=DATASET),
    "schedule": lambda: plots.plot_schedule(schedule_frame(), title="t"),
    "training": lambda: plots.plot_training(
        range_frame().assign(step=lambda f: f.index), title="t", dataset=DATASET),
}


def tick_labels(axis) -> list[str]:
    axis.figure.canvas.draw()
    return [t.get_text() for t in axis.get_ticklabels(which="both") if t.get_text()]


def axes_fraction(ax, values):
    """Where `values` sit on ax's y axis, 0 at the bottom and 1 at the top."""
    points = np.column_stack([np.zeros(len(values)), values])
    return ax.transLimits.transform(ax.transScale.transform(points))[:, 1]


def legend_texts(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


# -- size and files ---------------------------------------------------------------------------


def test_a_saved_png_has_at_least_200_dpi_at_the_report_width(tmp_path):
    png, *_ = plots.save_figure_set(fig8a_like(), tmp_path, "fig8a")
    with Image.open(png) as image:
        width, _ = image.size
        recorded_dpi = image.info["dpi"][0]
    assert plots.FIGURE_WIDTH in (3.5, 6.5)  # a report's column or its full text width
    assert width / plots.FIGURE_WIDTH >= 200
    assert width == round(plots.FIGURE_WIDTH * plots.DPI)
    assert recorded_dpi == pytest.approx(plots.DPI, abs=1)


@pytest.mark.parametrize("name", ALL_FIGURES)
def test_every_figure_has_the_house_width_and_font(name):
    fig = ALL_FIGURES[name]()
    assert fig.get_figwidth() == plots.FIGURE_WIDTH
    fig.canvas.draw()
    families = {t.get_fontname() for t in fig.findobj(plt.Text) if t.get_text()}
    assert families == {"DejaVu Sans"}


def test_save_figure_set_writes_png_pdf_and_svg_and_no_temporary(tmp_path):
    paths = plots.save_figure_set(fig8a_like(), tmp_path, "fig8a")
    assert [p.name for p in paths] == ["fig8a.png", "fig8a.pdf", "fig8a.svg"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    svg = paths[2].read_text()
    assert "<svg" in svg and f'width="{plots.FIGURE_WIDTH * 72:g}pt"' in svg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig8a.pdf", "fig8a.png", "fig8a.svg"]


def test_saving_the_same_figure_twice_gives_the_same_bytes(tmp_path):
    fig = fig8a_like()
    first = plots.save_figure_set(fig, tmp_path / "a", "f")
    second = plots.save_figure_set(fig, tmp_path / "b", "f")
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.suffix


# -- titles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in ALL_FIGURES if n != "schedule"])
def test_the_title_names_the_dataset_as_its_provenance_does(name):
    assert DATASET in ALL_FIGURES[name]().get_suptitle()


def test_a_stand_in_dataset_is_named_as_one_and_a_long_title_keeps_the_label_whole():
    frame = curves_frame("accuracy", {"TBS=256": (0.2, 0.5)})
    detail = "resnet8; WD=1e-4, CM=0.95-0.85, three batch sizes at matched lr ranges [small]"
    title = plots.plot_curves(frame, x="step", y="accuracy", title=detail, dataset=DATASET,
                              stand_in_for="CIFAR-100").get_suptitle()
    first_line = title.splitlines()[0]
    assert f"{DATASET} standing in for CIFAR-100" in first_line
    assert "[small]" in title


# -- axes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("span", [(0.95, 3.8), (1.15, 8.5), (0.02, 3.0), (0.95, 1.2)])
def test_log_axis_ticks_are_plain_decimals(span):
    lo, hi = span
    frame = curves_frame("loss", {"a": (hi, lo)}, replicates=1)
    ax = plots.plot_curves(frame, x="step", y="loss", logy=True, title="t").axes[0]
    labels = tick_labels(ax.yaxis)
    assert len(labels) >= 2, labels
    for label in labels:
        assert "×" not in label and "times" not in label and "^" not in label, label
        float(label.replace(",", ""))  # a plain number


def test_fig1a_loss_axis_reads_in_plain_decimals():
    loss_ax = plots.plot_range_loss(range_frame(), title="t").axes[0]
    assert loss_ax.get_yscale() == "log"
    labels = tick_labels(loss_ax.yaxis)
    assert "1" in labels and "2" in labels
    assert not any("10^" in label or "times" in label for label in labels)


@pytest.mark.parametrize("name", ALL_FIGURES)
def test_every_axis_names_what_it_shows(name):
    fig = ALL_FIGURES[name]()
    for ax in fig.axes:
        assert ax.get_ylabel().strip(), ax
        if ax.get_subplotspec().is_last_row():
            assert ax.get_xlabel().strip(), ax


@pytest.mark.parametrize("name", ALL_FIGURES)
def test_nothing_drawn_is_cut_off_at_the_figure_edge(name):
    fig = ALL_FIGURES[name]()
    fig.canvas.draw()
    drawn = fig.get_tightbbox(fig.canvas.get_renderer())  # inches, every visible artist
    page = fig.bbox_inches
    assert drawn.x0 >= page.x0 - 0.01 and drawn.x1 <= page.x1 + 0.01, (drawn, page)
    assert drawn.y0 >= page.y0 - 0.01 and drawn.y1 <= page.y1 + 0.01, (drawn, page)



@pytest.mark.parametrize("name", ALL_FIGURES)
def test_the_legend_and_title_cover_no_plotting_area(name):
    fig = ALL_FIGURES[name]()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    blocks = [legend.get_window_extent(renderer) for legend in fig.legends]
    blocks += [text.get_window_extent(renderer) for text in fig.texts]  # the title
    assert blocks
    for ax in fig.axes:
        for block in blocks:
            assert not block.overlaps(ax.bbox), (block, ax.bbox)


# -- the paper's values -----------------------------------------------------------------------


def test_a_paper_value_below_our_range_leaves_the_axis_to_our_data():
    fig = fig8a_like()
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert lo > 0.36  # neither paper value stretched the axis down to itself
    ours = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    values = np.concatenate([line.get_ydata() for line in ours])
    where = axes_fraction(ax, [values.min(), values.max()])
    assert 0 <= where[0] and where[1] <= 1  # the data inside the axis
    assert where[1] - where[0] >= 0.5  # and spanning most of it, not squashed into a strip
    texts = legend_texts(fig)
    assert "Smith Fig 8a: final test loss" in texts
    assert "Momentum=0.9: 0.36 (below the axis)" in texts
    assert "CM range=0.95-0.85: 0.345 (below the axis)" in texts
    markers = [line for line in ax.get_lines() if line.get_marker() == "v"]
    assert len(markers) == 2 and all(not m.get_clip_on() for m in markers)


def test_a_paper_value_above_our_range_gets_an_upward_marker_not_a_taller_axis():
    frame = curves_frame("accuracy", {"LR=0.35": (0.1, 0.59), "CLR=0.1-3": (0.07, 0.26)})
    fig = plots.plot_curves(frame, x="step", y="accuracy", title="t",
                            paper_lines={"CLR=0.1-3": 0.924, "LR=0.35": 0.912})
    ax = fig.axes[0]
    assert ax.get_ylim()[1] < 0.8
    assert sum(line.get_marker() == "^" for line in ax.get_lines()) == 2
    assert "CLR=0.1-3: 0.924 (above the axis)" in legend_texts(fig)


def test_a_paper_value_inside_our_range_is_a_dotted_line_at_that_value():
    frame = curves_frame("accuracy", {"Weight decay=0.001": (0.07, 0.29)})
    fig = plots.plot_curves(frame, x="step", y="accuracy", title="t",
                            paper_lines={"Weight decay=0.001": 0.10})
    ax = fig.axes[0]
    dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert len(dotted) == 1 and list(dotted[0].get_ydata()) == [0.10, 0.10]
    assert "Weight decay=0.001: 0.1" in legend_texts(fig)


def test_a_paper_point_inside_our_range_is_a_star_where_the_paper_puts_it():
    frame = curves_frame("loss", {"WD=1e-4": (4.0, 1.5)})
    fig = plots.plot_curves(frame, x="lr", y="loss", title="t",
                            paper_points={"minimum, WD=1e-4": (0.29, 1.80)})
    stars = [line for line in fig.axes[0].get_lines() if line.get_marker() == "*"]
    assert len(stars) == 1
    assert (stars[0].get_xdata()[0], stars[0].get_ydata()[0]) == (0.29, 1.80)
    assert "minimum, WD=1e-4: 1.8 at learning rate 0.29" in legend_texts(fig)


# -- Fig 1a -----------------------------------------------------------------------------------


def test_fig1a_marks_smiths_overfitting_box_over_the_loss_panel():
    fig = plots.plot_range_loss(range_frame(), title="t", dataset=DATASET)
    loss_ax = fig.axes[0]
    boxes = [p for p in loss_ax.patches if "overfitting" in p.get_label()]
    assert len(boxes) == 1
    assert boxes[0].get_label() == "Smith Fig 1a: overfitting, lr 0.01–0.04"
    assert isinstance(boxes[0], (Rectangle, Polygon))
    x_extent = boxes[0].get_path().transformed(boxes[0].get_patch_transform()).vertices[:, 0] \
        if isinstance(boxes[0], Rectangle) else boxes[0].get_xy()[:, 0]
    assert (min(x_extent), max(x_extent)) == pytest.approx((0.01, 0.04))
    assert boxes[0].get_edgecolor()[:3] == (0.0, 0.0, 0.0)
    assert "Smith Fig 1a: overfitting, lr 0.01–0.04" in legend_texts(fig)


def test_fig1a_puts_test_accuracy_on_its_own_linear_axis():
    fig = plots.plot_range_loss(range_frame(), title="t")
    loss_ax, acc_ax = fig.axes
    assert acc_ax.get_yscale() == "linear" and acc_ax.get_ylabel() == "test accuracy"
    assert loss_ax.get_yscale() == "log" and "loss" in loss_ax.get_ylabel()
    accuracy = range_frame().query("split == 'test'")["accuracy"].to_numpy()
    assert [list(line.get_ydata()) for line in acc_ax.get_lines()] == [list(accuracy)]
    assert not any(np.allclose(line.get_ydata(), accuracy) for line in loss_ax.get_lines()
                   if len(line.get_ydata()) == len(accuracy))


# -- the library's and the command line's figures ---------------------------------------------


def test_plot_schedule_draws_the_lr_and_momentum_schedules_alone():
    frame = schedule_frame()
    fig = plots.plot_schedule(frame)
    assert [ax.get_ylabel() for ax in fig.axes] == ["learning rate", "momentum"]
    lr_ax, mom_ax = fig.axes
    assert np.array_equal(lr_ax.get_lines()[0].get_ydata(), frame["lr"])
    assert np.array_equal(mom_ax.get_lines()[0].get_ydata(), frame["momentum"])
    assert mom_ax.get_xlabel() == "iterations"


def test_plot_schedule_says_so_where_there_is_no_momentum_schedule():
    fig = plots.plot_schedule(schedule_frame().assign(momentum=np.nan))
    mom_ax = fig.axes[1]
    assert not mom_ax.get_lines()
    assert "no momentum schedule" in [t.get_text() for t in mom_ax.texts]


def test_plot_training_of_a_schedule_alone_draws_no_empty_loss_panels():
    # what `paperlib schedule --plot` passes today: train rows whose loss is NaN
    frame = schedule_frame().assign(split="train", loss=np.nan)
    fig = plots.plot_training(frame, title="one-cycle schedule")
    assert [ax.get_ylabel() for ax in fig.axes] == ["learning rate", "momentum"]


def test_plot_range_test_keeps_its_callers_signature_and_reads_lr_on_a_plain_log_axis():
    suggestions = {"smith": {"lr_max": 0.3, "lr_min": 0.03, "basis": "test loss"}}
    fig = plots.plot_range_test(range_frame().query("lr > 0"), mode="exp",
                                suggestions=suggestions, title="LR range test, resnet8")
    top, bottom = fig.axes
    assert bottom.get_xscale() == "log"
    assert not any("^" in label or "times" in label for label in tick_labels(bottom.xaxis))
    assert any(label.startswith("lr_max 0.3 ") for label in legend_texts(fig))
    assert top.get_ylabel() == "loss (cross-entropy)" and bottom.get_ylabel() == "test accuracy"
    assert not math.isnan(top.get_ylim()[1])


def test_legend_headings_are_bold_and_entries_are_not():
    fig = fig8a_like()
    weights = {t.get_text(): t.get_fontweight() for t in fig.legends[0].get_texts()}
    assert weights["Smith Fig 8a: final test loss"] == "bold"
    assert weights["ours: mean ± sd of 2 seeds"] == "bold"
    assert weights["Momentum=0.9"] == "normal"


def test_curves_keep_line_colours_from_the_house_palette():
    fig = fig8a_like()
    colours = [line.get_color() for line in fig.axes[0].get_lines()
               if line.get_linestyle() == "-"]
    assert colours == list(plots.PALETTE[:2])
    assert isinstance(fig.legends[0].legend_handles[1], Line2D)
