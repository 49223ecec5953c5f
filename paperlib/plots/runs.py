"""Figures of one run against the iteration, for the command line: its schedules alone
(`plot_schedule`), or its schedules with its losses and test accuracy (`plot_training`).

They are apart from the paper's figures because they show a single run as it went, not runs
compared: no seeds, no paper values, and panels that say so when a run has nothing to fill them.
"""
from __future__ import annotations

import pandas as pd

from .layout import figure, finish, note
from .style import PALETTE, figure_title


def plot_schedule(frame: pd.DataFrame, *, title: str | None = None):
    """The learning-rate (top) and momentum (bottom) schedules against the iteration, from a
    frame with columns step, lr and momentum (NaN where there is no momentum schedule)."""
    fig, axes = figure(3.6, nrows=2, sharex=True)
    lr_ax, mom_ax = axes[:, 0]
    lr_ax.plot(frame["step"], frame["lr"], color=PALETTE[0])
    lr_ax.set_ylabel("learning rate")
    _draw_momentum(mom_ax, frame)
    mom_ax.set_xlabel("iterations")
    finish(fig, title or "schedule")
    return fig


def plot_training(frame: pd.DataFrame, *, title: str | None = None, dataset: str | None = None):
    """One run against the iteration: lr and momentum (top), train and test loss and test
    accuracy (bottom). A frame without any loss or test row (a schedule alone) is drawn by
    plot_schedule instead of as four panels with two empty."""
    train = frame[frame["split"] == "train"]
    test = frame[frame["split"] == "test"]
    if not len(test) and not train["loss"].notna().any():
        return plot_schedule(train, title=figure_title(title, dataset))
    fig, axes = figure(4.2, nrows=2, ncols=2, sharex=True)
    axes[0, 0].plot(train["step"], train["lr"], color=PALETTE[0])
    axes[0, 0].set_ylabel("learning rate")
    _draw_momentum(axes[0, 1], train)
    loss_ax, acc_ax = axes[1]
    loss_ax.plot(train["step"], train["loss"], color=PALETTE[0], alpha=0.35, lw=0.6,
                 label="train (per batch)")
    if len(test):
        loss_ax.plot(test["step"], test["loss"], "o-", color=PALETTE[1], ms=2.5, label="test")
        acc_ax.plot(test["step"], test["accuracy"], "o-", color=PALETTE[2], ms=2.5)
    else:
        note(acc_ax, "no test evaluations in this run")
    loss_ax.legend(loc="upper right")
    loss_ax.set_ylabel("loss (cross-entropy)")
    acc_ax.set_ylabel("test accuracy")
    for a in axes[1]:
        a.set_xlabel("iterations")
    finish(fig, figure_title(title or "training run", dataset))
    return fig


def _draw_momentum(ax, frame: pd.DataFrame) -> None:
    momentum = frame["momentum"] if "momentum" in frame else pd.Series(dtype=float)
    if momentum.notna().any():
        ax.plot(frame["step"], momentum, color=PALETTE[1])
    else:
        note(ax, "no momentum schedule")
    ax.set_ylabel("momentum")
