"""Plots drawn from tidy frames (as read back from the CSVs), in the paper's layouts."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless by default; notebooks switch to inline themselves
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402


def plot_range_test(frame: pd.DataFrame, *, mode: str = "linear", suggestions: dict | None = None,
                    title: str | None = None):
    """Fig 1a style: losses (top) and test accuracy (bottom) against the learning rate.

    Several runs in `frame` (a weight-decay sweep) are drawn in one colour each.
    """
    sns.set_theme(style="whitegrid", context="notebook")
    has_test = (frame["split"] == "test").any()
    fig, axes = plt.subplots(2 if has_test else 1, 1, figsize=(7, 6.5 if has_test else 4),
                             sharex=True, squeeze=False)
    ax = axes[0, 0]
    runs = list(frame.groupby("weight_decay", sort=True))
    palette = sns.color_palette("tab10", len(runs))
    for (wd, rows), colour in zip(runs, palette):
        tag = f" (wd {wd:g})" if len(runs) > 1 else ""
        train = rows[rows["split"] == "train"]
        ax.plot(train["lr"], train["loss"], color=colour, alpha=0.2, lw=0.8,
                label="train loss (raw)" if not tag else None)
        if "smooth_loss" in train:
            ax.plot(train["lr"], train["smooth_loss"], color=colour, lw=1.4,
                    label=f"train loss (smoothed){tag}")
        test = rows[rows["split"] == "test"]
        if len(test):
            ax.plot(test["lr"], test["loss"], "o--", color=colour, ms=3, lw=1.2,
                    label=f"test loss{tag}")
            axes[1, 0].plot(test["lr"], test["accuracy"], "o-", color=colour, ms=3, lw=1.2,
                            label=f"wd {wd:g}" if tag else None)
    if has_test:
        axes[1, 0].set_ylabel("test accuracy")
        if len(runs) > 1:
            axes[1, 0].legend(fontsize=8)
    train = frame[frame["split"] == "train"]
    ax.set_ylabel("loss")
    if len(train):
        first = train["loss"].iloc[: max(1, len(train) // 10)].mean()
        ax.set_ylim(max(0.0, 0.9 * train["loss"].min()), min(train["loss"].max(), 2.5 * first))
    smith = (suggestions or {}).get("smith", {})
    if smith.get("lr_max") is not None:
        for a in axes[:, 0]:
            a.axvline(smith["lr_max"], color="black", ls="--", lw=1)
            a.axvline(smith["lr_min"], color="gray", ls=":", lw=1)
        ax.plot([], [], "k--", label=f"lr_max {smith['lr_max']:.3g} ({smith['basis']})")
        ax.plot([], [], ":", color="gray", label=f"lr_min {smith['lr_min']:.3g}")
    bottom = axes[-1, 0]
    bottom.set_xlabel("learning rate")
    if mode == "exp":
        bottom.set_xscale("log")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title or "LR range test")
    fig.tight_layout()
    return fig


def plot_training(frame: pd.DataFrame, *, title: str | None = None):
    """Schedules and test metrics of one run against the step."""
    sns.set_theme(style="whitegrid", context="notebook")
    train = frame[frame["split"] == "train"]
    test = frame[frame["split"] == "test"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(train["step"], train["lr"], color="tab:blue")
    axes[0].set_ylabel("learning rate")
    if train["momentum"].notna().any():
        twin = axes[0].twinx()
        twin.plot(train["step"], train["momentum"], color="tab:orange")
        twin.set_ylabel("momentum", color="tab:orange")
        twin.grid(False)
    axes[1].plot(train["step"], train["loss"], color="tab:blue", alpha=0.4, lw=0.8, label="train")
    if len(test):
        axes[1].plot(test["step"], test["loss"], "o-", color="tab:red", ms=3, label="test")
        axes[2].plot(test["step"], test["accuracy"], "o-", color="tab:green", ms=3)
    axes[1].set_ylabel("loss")
    axes[1].legend(fontsize=8)
    axes[2].set_ylabel("test accuracy")
    for a in axes:
        a.set_xlabel("iteration")
    fig.suptitle(title or "training run")
    fig.tight_layout()
    return fig


def plot_range_loss(frame: pd.DataFrame, *, title: str):
    """Fig 1a's layout: test loss, smoothed train loss and test accuracy against the lr on one
    log-scaled axis, as the paper draws them."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(8, 4.4))
    train, test = frame[frame["split"] == "train"], frame[frame["split"] == "test"]
    ax.plot(test["lr"], test["loss"], color="tab:blue", label="Test loss")
    ax.plot(train["lr"], train["smooth_loss"], color="tab:red", label="Train loss (smoothed)")
    ax.plot(test["lr"], test["accuracy"], color="goldenrod", label="Test Accuracy")
    ax.set_yscale("log")
    ax.set_xlabel("Learning Rate")
    ax.set_ylabel("Loss")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_curves(frame: pd.DataFrame, *, x: str, y: str, title: str, xlabel: str, ylabel: str,
                hue: str = "curve", logy: bool = False, paper_lines: dict | None = None,
                paper_points: dict | None = None, ylim: tuple | None = None):
    """Test-set curves of several runs (mean over replicates, band = std) in the paper's layout.

    paper_lines: {hue value: the paper's final value}, drawn as dotted lines in the curve's colour;
    paper_points: {label: (x, y)}, the paper's marked points (e.g. Fig 15a's minimum).
    """
    sns.set_theme(style="whitegrid", context="notebook")
    test = frame[frame["split"] == "test"]
    order = list(dict.fromkeys(test[hue]))
    palette = dict(zip(order, sns.color_palette("tab10", len(order))))
    fig, ax = plt.subplots(figsize=(8, 4.6))
    sns.lineplot(test, x=x, y=y, hue=hue, hue_order=order, palette=palette, errorbar="sd",
                 ax=ax, marker="o", markersize=3, lw=1.4)
    for key, value in (paper_lines or {}).items():
        if key in palette:
            ax.axhline(value, color=palette[key], ls=":", lw=1.2)
    if paper_lines:
        ax.plot([], [], "k:", label="paper's value (dotted)")
    for label, (px, py) in (paper_points or {}).items():
        ax.plot(px, py, "k*", ms=11, label=label)
    if logy:
        ax.set_yscale("log")
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, title=None)
    fig.tight_layout()
    return fig
