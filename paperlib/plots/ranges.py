"""Figures of learning-rate range tests: the paper's Fig 1a, and the library's own plot of any
range test (one run with its suggested bounds, or a weight-decay sweep).

Both put loss over accuracy against the learning rate on one shared x axis, and both must keep
the readable part of a test in view: a test that diverges ends in losses orders of magnitude
above its start, so the y limits come from the part where the lr can still be read off.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .layout import figure, finish, fit_ylim, legend_below, palette_colours
from .style import PALETTE, figure_title


def plot_range_loss(frame: pd.DataFrame, *, title: str, dataset: str | None = None,
                    overfit_box: tuple[float, float] | None = (0.01, 0.04),
                    paper_source: str = "Smith Fig 1a"):
    """Fig 1a: test loss and smoothed train loss (log scale, top) and test accuracy (linear,
    its own panel below) against the learning rate.

    overfit_box: the lr range Smith's Fig 1a marks with a black box as overfitting, drawn as a
    boxed band over the loss panel so that our curves can be read against it; None: no box.
    """
    fig, axes = figure(4.4, nrows=2, sharex=True, height_ratios=(3, 2))
    loss_ax, acc_ax = axes[:, 0]
    train, test = frame[frame["split"] == "train"], frame[frame["split"] == "test"]
    train_loss = train["smooth_loss"] if "smooth_loss" in train else train["loss"]
    loss_ax.plot(test["lr"], test["loss"], "o-", color=PALETTE[0], ms=2.5, label="test loss")
    loss_ax.plot(train["lr"], train_loss, "-", color=PALETTE[1],
                 label="train loss (smoothed)" if "smooth_loss" in train else "train loss")
    acc_ax.plot(test["lr"], test["accuracy"], "o-", color=PALETTE[2], ms=2.5)
    loss_ax.set_yscale("log")
    fit_ylim(loss_ax, test["loss"], train_loss, log=True)
    fit_ylim(acc_ax, test["accuracy"])
    if overfit_box is not None:
        lo, hi = overfit_box
        loss_ax.axvspan(lo, hi, facecolor="#e6e6e6", edgecolor="black", lw=1.0, zorder=0.5,
                        label=f"{paper_source}: overfitting, lr {lo:g}–{hi:g}")
        acc_ax.axvspan(lo, hi, facecolor="#e6e6e6", edgecolor="none", zorder=0.5)
    legend_below(fig, list(zip(*loss_ax.get_legend_handles_labels())))
    loss_ax.set_ylabel("loss (cross-entropy)")
    acc_ax.set_ylabel("test accuracy")
    acc_ax.set_xlabel("learning rate")
    finish(fig, figure_title(title, dataset))
    return fig


def plot_range_test(frame: pd.DataFrame, *, mode: str = "linear", suggestions: dict | None = None,
                    title: str | None = None, dataset: str | None = None):
    """An LR range test: losses (top) and test accuracy (bottom) against the learning rate.

    Several runs in `frame` (a weight-decay sweep) are drawn in one colour each; `suggestions`
    (one run's, from range_test.suggest) adds Smith's lr_max and lr_min as vertical lines.
    """
    has_test = (frame["split"] == "test").any()
    fig, axes = figure(4.6 if has_test else 3.0, nrows=2 if has_test else 1, sharex=True,
                       height_ratios=(3, 2) if has_test else None)
    ax = axes[0, 0]
    runs = list(frame.groupby("weight_decay", sort=True))
    for (wd, rows), colour in zip(runs, palette_colours(len(runs))):
        tag = f" (wd {wd:g})" if len(runs) > 1 else ""
        train = rows[rows["split"] == "train"]
        ax.plot(train["lr"], train["loss"], color=colour, alpha=0.25, lw=0.6,
                label="train loss (per batch)" if not tag else None)
        if "smooth_loss" in train:
            ax.plot(train["lr"], train["smooth_loss"], color=colour, lw=1.2,
                    label=f"train loss (smoothed){tag}")
        test = rows[rows["split"] == "test"]
        if len(test):
            ax.plot(test["lr"], test["loss"], "o--", color=colour, ms=2.5, lw=1.0,
                    label=f"test loss{tag}")
            axes[1, 0].plot(test["lr"], test["accuracy"], "o-", color=colour, ms=2.5, lw=1.0)
    train = frame[frame["split"] == "train"]
    if len(train):
        # a diverging test ends in losses orders of magnitude above the start: keep the axis
        # on the part where the lr can be read off, test losses included up to that cap
        first = train["loss"].iloc[: max(1, len(train) // 10)].mean()
        top = np.nanmax(frame["loss"].to_numpy(dtype=float))
        ax.set_ylim(max(0.0, 0.9 * train["loss"].min()), min(top * 1.03, 2.5 * first))
    smith = (suggestions or {}).get("smith", {})
    if smith.get("lr_max") is not None:
        for a in axes[:, 0]:
            a.axvline(smith["lr_max"], color="black", ls="--", lw=0.9)
            a.axvline(smith["lr_min"], color="gray", ls=":", lw=0.9)
        ax.plot([], [], "k--", lw=0.9, label=f"lr_max {smith['lr_max']:.3g} ({smith['basis']})")
        ax.plot([], [], ":", color="gray", lw=0.9, label=f"lr_min {smith['lr_min']:.3g}")
    legend_below(fig, list(zip(*ax.get_legend_handles_labels())))
    if has_test:
        axes[1, 0].set_ylabel("test accuracy")
    ax.set_ylabel("loss (cross-entropy)")
    bottom = axes[-1, 0]
    bottom.set_xlabel("learning rate")
    if mode == "exp":
        bottom.set_xscale("log")
    finish(fig, figure_title(title or "LR range test", dataset))
    return fig
