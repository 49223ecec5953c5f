"""The step figures (plain matplotlib Figures: no pyplot state, no global style).

Why separate: a step's figure is drawn twice, from the same data: once as the search saves it,
and again when a notebook reads the folder back. Both call `draw` here with what the CSV and the
JSON hold, so the two cannot differ.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..range_test import smooth_losses
from .records import RECIPE_FILES, finite_or_none, loss_text, value_text


def _figure(rows: int = 1, cols: int = 1, size=(7, 4)):
    from matplotlib.figure import Figure
    fig = Figure(figsize=size)
    return fig, fig.subplots(rows, cols, squeeze=False)


def draw(name: str, frame: pd.DataFrame, step: dict):
    """A step's figure from its data (the CSV's frame) and its record (the JSON's dict)."""
    measured, chosen = step["measured"], step["chosen"]
    if name == "lr_range":
        return _plot_lr(frame, chosen["lr_max"], measured["lr_max_spread"])
    if name == "momentum":
        scores = {float(m): math.inf if loss is None else loss
                  for m, loss in measured["final_test_loss"].items()}
        return _plot_momentum(frame, scores, chosen["mom_max"])
    if name == "weight_decay":
        return _plot_weight_decay(frame, measured["range_test_winner"],
                                  measured["snapshot_winner"])
    if name == "batch_size":
        return _plot_batch(frame, measured, chosen)
    raise ConfigError(f"no figure for step {name!r}; the steps are {', '.join(RECIPE_FILES)}")


def _plot_lr(frame: pd.DataFrame, lr_max: float, spread: list[float]):
    fig, axes = _figure(2, 1, (7, 6))
    for i, (seed, rows) in enumerate(frame.groupby("seed")):
        train, test = rows[rows["split"] == "train"], rows[rows["split"] == "test"]
        colour = f"C{i}"
        axes[0, 0].plot(train["lr"], train["smooth_loss"], color=colour, lw=1, alpha=0.5,
                        label=f"train (smoothed), seed {seed}")
        axes[0, 0].plot(test["lr"], test["loss"], "o-", color=colour, ms=3,
                        label=f"test, seed {seed}")
        axes[1, 0].plot(test["lr"], test["accuracy"], "o-", color=colour, ms=3)
    for ax in axes[:, 0]:
        ax.axvspan(spread[0], spread[1], color="grey", alpha=0.2)
        ax.axvline(lr_max, color="black", ls="--", lw=1)
    _clip_blowup(axes[0, 0], frame["loss"])
    axes[0, 0].set_title(f"a. LR range test: lr_max {lr_max:.3g} (seeds {spread[0]:.3g}-"
                         f"{spread[1]:.3g}), lr_min {lr_max / 10:.3g}")
    axes[0, 0].set_ylabel("loss")
    axes[1, 0].set_ylabel("test accuracy")
    axes[1, 0].set_xlabel("learning rate")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _clip_blowup(ax, losses: pd.Series) -> None:
    """Keep the interesting range visible when a diverging run reaches losses of 1e5."""
    finite = losses[np.isfinite(losses)]
    if len(finite):
        ax.set_ylim(max(0.0, 0.9 * finite.min()), min(finite.max() * 1.05, 3 * finite.iloc[0]))


def _plot_momentum(frame: pd.DataFrame, scores: dict, best: float):
    fig, axes = _figure(1, 1)
    ax = axes[0, 0]
    for m, rows in frame.groupby("run_momentum"):
        train, test = rows[rows["split"] == "train"], rows[rows["split"] == "test"]
        # light smoothing: these runs are a few dozen steps, 0.98 would only show the start
        line, = ax.plot(train["step"], smooth_losses(train["loss"].to_numpy(), 0.8), lw=1,
                        alpha=0.6)
        ax.plot(test["step"], test["loss"], "o-", ms=4, color=line.get_color(),
                label=f"momentum {m:g}: final test loss {loss_text(finite_or_none(scores[m]))}")
    _clip_blowup(ax, frame["loss"])
    ax.set_title(f"b. Constant-momentum runs: best {best:g}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (lines: train, smoothed; dots: test)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _plot_weight_decay(frame: pd.DataFrame, by_range: float, by_snapshot):
    fig, axes = _figure(1, 2, (12, 4))
    ranges = frame[(frame["method"] == "range_test") & (frame["split"] == "test")]
    for wd, rows in ranges.groupby("run_weight_decay"):
        axes[0, 0].plot(rows["lr"], rows["loss"], "o-", ms=3, label=f"wd {wd:g}")
    axes[0, 0].set_title(f"c. Range tests (Fig 15a): best wd {by_range:g}")
    axes[0, 0].set_xlabel("learning rate")
    axes[0, 0].set_ylabel("test loss")
    snap = frame[(frame["method"] == "snapshot") & (frame["split"] == "test")]
    for (phase, wd), rows in snap.groupby(["phase", "run_weight_decay"]):
        style = "k*-" if phase == "warm-up" else "o-"
        axes[0, 1].plot(rows["step"], rows["loss"], style, ms=5, label=f"{phase}, wd {wd:g}")
    axes[0, 1].set_title(f"Snapshot restarts (Fig 12b): best wd {value_text(by_snapshot)}")
    axes[0, 1].set_xlabel("iteration")
    axes[0, 1].set_ylabel("test loss")
    for ax in axes[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _plot_batch(frame: pd.DataFrame, measured: dict, chosen: dict):
    check = measured.get("check") is not None
    base, batch, final_lr = measured["search_batch"], chosen["batch_size"], chosen["lr_max"]
    scaled = measured.get("lr_max_scaled")
    lr_max = scaled * base / batch if check else final_lr  # step a's reading, at the base batch
    fig, axes = _figure(1, 2 if check else 1, (12 if check else 6, 4))
    ax = axes[0, 0]
    xs = np.array([base, max(base, batch)])
    ax.plot(xs, lr_max * xs / base, "--", color="grey", label="linear scaling")
    ax.plot([base], [lr_max], "o", label=f"measured at batch {base}")
    ax.plot([batch], [final_lr], "k*", ms=10,
            label=f"chosen: batch {batch}, lr_max {final_lr:.3g}")
    ax.set_xlabel("batch size")
    ax.set_ylabel("lr_max")
    ax.set_title("d. Batch size and lr_max")
    ax.legend(fontsize=7)
    if check:
        test = frame[frame["split"] == "test"]
        axes[0, 1].plot(test["lr"], test["loss"], "o-", ms=3, label="test loss")
        axes[0, 1].axvline(scaled, color="grey", ls="--", label=f"scaled {scaled:.3g}")
        axes[0, 1].axvline(final_lr, color="black", ls="-", lw=1, label=f"kept {final_lr:.3g}")
        axes[0, 1].set_title(f"Check range test at batch {batch}")
        axes[0, 1].set_xlabel("learning rate")
        axes[0, 1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_final(frame: pd.DataFrame):
    fig, axes = _figure(1, 2, (12, 4))
    train, test = frame[frame["split"] == "train"], frame[frame["split"] == "test"]
    axes[0, 0].plot(train["step"], train["lr"])
    axes[0, 0].set_ylabel("learning rate")
    axes[0, 0].set_xlabel("iteration")
    axes[0, 1].plot(train["step"], smooth_losses(train["loss"].to_numpy()), label="train")
    axes[0, 1].plot(test["step"], test["loss"], "o-", ms=3, label="test")
    axes[0, 1].set_xlabel("iteration")
    axes[0, 1].legend(fontsize=7)
    fig.suptitle("e. Final 1cycle run")
    fig.tight_layout()
    return fig
