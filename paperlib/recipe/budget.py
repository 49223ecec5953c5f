"""The search budget: how many training images the recipe may spend, and how they are split
between the steps.

Why separate: the budget is pure arithmetic on a few numbers, with no model and no data, so a
caller (the CLI, a benchmark) can size or refuse a budget before loading anything.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError

# Share of the search budget per step. The momentum, weight-decay and range steps run 4-5
# runs each and get about the same images per run; the batch check is a single run.
FRACTIONS = {"lr": 0.25, "momentum": 0.20, "weight_decay_range": 0.20,
             "weight_decay_snapshot": 0.25, "batch_size": 0.10}
MIN_STEPS = 20  # fewer updates than this give a range test too few evaluations to read
DEFAULT_SEARCH_FRACTION = 0.20  # default budget: this share of the final training's images
FINAL_EPOCHS = 30  # default length of the final run, in passes over the training images


def final_run(train_images: int, batch_size: int, steps: int | None = None,
              epochs: int = FINAL_EPOCHS) -> tuple[int, int]:
    """The final run's batch (never more than the data) and steps (`steps`, or `epochs` passes
    over the training images at that batch)."""
    batch = min(batch_size, train_images)
    return batch, steps or max(1, epochs * train_images // batch)


def default_search_images(steps: int, batch_size: int) -> int:
    """The default budget: DEFAULT_SEARCH_FRACTION of the final training's steps * batch_size."""
    return int(DEFAULT_SEARCH_FRACTION * steps * batch_size)


def plan_search(search_images: int, batch_size: int, *, seeds=(0, 1),
                momenta=(0.9, 0.95, 0.97, 0.99), weight_decays=(1e-3, 1e-4, 1e-5, 1e-6),
                final_batch: int | None = None, default: bool = False) -> dict:
    """Updates per run of every step under the budget; ConfigError if any run gets fewer than
    MIN_STEPS. Pure arithmetic, so a caller can size a budget before loading anything."""
    if isinstance(search_images, bool) or not isinstance(search_images, (int, np.integer)) \
            or search_images < 1:
        raise ConfigError(f"search_images ({search_images!r}) must be an integer >= 1, or None "
                          "for the default")
    runs = {"lr": len(seeds), "momentum": len(momenta), "weight_decay_range": len(weight_decays),
            "weight_decay_snapshot": len(weight_decays) + 1}  # + the shared warm-up
    plan = {}
    for name, n in runs.items():
        overhead = batch_size if name == "lr" else 0  # the first-batch NaN check
        plan[name] = int((FRACTIONS[name] * search_images - overhead) // (n * batch_size))
    plan["batch_size_images"] = int(FRACTIONS["batch_size"] * search_images)
    if final_batch is not None and final_batch != batch_size:
        plan["batch_size"] = plan["batch_size_images"] // final_batch
    short = {k: v for k, v in plan.items() if k in runs or k == "batch_size"}
    worst = min(short, key=short.get)
    if short[worst] < MIN_STEPS:
        need = _minimum_budget(runs, batch_size, final_batch)
        origin = f"the default {DEFAULT_SEARCH_FRACTION:.0%} of steps*batch, " if default else ""
        raise ConfigError(
            f"search_images={search_images} ({origin}at batch {batch_size}) is too small: the "
            f"{worst} step gets {short[worst]} updates per run, fewer than {MIN_STEPS}; give "
            f"search_images >= {need}, or more steps, a smaller batch or shorter grids")
    return plan


def minimum_search_images(batch_size: int, *, seeds=(0, 1), momenta=(0.9, 0.95, 0.97, 0.99),
                          weight_decays=(1e-3, 1e-4, 1e-5, 1e-6),
                          final_batch: int | None = None) -> int:
    """The smallest budget `plan_search` accepts with these grids: every run gets MIN_STEPS
    updates. For a caller that must size a budget before it has any data (a CLI, a benchmark)."""
    runs = {"lr": len(seeds), "momentum": len(momenta), "weight_decay_range": len(weight_decays),
            "weight_decay_snapshot": len(weight_decays) + 1}
    return _minimum_budget(runs, batch_size, final_batch)


def _minimum_budget(runs: dict, batch: int, final_batch: int | None) -> int:
    need = [math.ceil((MIN_STEPS * n * batch + (batch if k == "lr" else 0)) / FRACTIONS[k]) + 1
            for k, n in runs.items()]
    if final_batch is not None and final_batch != batch:
        need.append(math.ceil(MIN_STEPS * final_batch / FRACTIONS["batch_size"]) + 1)
    return max(need)
