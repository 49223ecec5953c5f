"""What a recipe folder holds: a step's record, the hand-off, the folder's file names, and how
their values read as text.

Why separate: every other part of the recipe writes or reads these records (the search fills
them, the figures and report.md draw on them, a notebook reads them back), so they sit below
all of them, with only the budget's numbers beneath.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..engine import RunResult
from ..schedules import one_cycle
from .budget import FRACTIONS, MIN_STEPS

STEP_SIZE_FRACTION = 0.45  # 1cycle half-cycle as a share of the run (Smith: 41/95 .. 51/116)
RECIPE_FILES = ("lr_range", "momentum", "weight_decay", "batch_size")
# What a recipe folder holds besides recipe.json (its marker): an --overwrite removes these.
ARTIFACTS = (*(f"{n}.{ext}" for n in RECIPE_FILES for ext in ("csv", "json", "png")),
             "final.png", "report.md")
HANDOFF_KEYS = ("lr_min", "lr_max", "mom_max", "mom_min", "weight_decay", "batch_size", "steps")


@dataclass
class StepRecord:
    """One step of the search: its readings, its choice and the reason, its cost."""

    name: str
    title: str
    measured: dict
    chosen: dict
    why: str
    images: int = 0  # training images consumed (forward + backward)
    eval_images: int = 0
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "measured": self.measured,
                "chosen": self.chosen, "why": self.why, "notes": self.notes,
                "cost": {"images": self.images, "eval_images": self.eval_images,
                         "seconds": round(self.seconds, 3)}, "files": self.files}


@dataclass
class Recipe:
    """The hand-off: 1cycle settings for the final run, and how the search found them."""

    lr_min: float
    lr_max: float
    mom_max: float
    mom_min: float
    weight_decay: float
    batch_size: int
    steps: int
    search_images: int  # the budget
    images_used: int
    records: list[StepRecord]
    out_dir: Path | None = None
    optimizer: str = "sgd"
    final: RunResult | None = None
    final_model: torch.nn.Module | None = None

    @property
    def step_size(self) -> int:
        return max(1, int(STEP_SIZE_FRACTION * self.steps))

    def schedules(self):
        """(lr, momentum) schedules of the final run: Smith's 1cycle."""
        return one_cycle("smith", self.lr_min, self.lr_max, self.step_size, self.steps,
                         mom_max=self.mom_max, mom_min=self.mom_min)

    def handoff(self) -> dict:
        return {"lr_min": self.lr_min, "lr_max": self.lr_max, "mom_max": self.mom_max,
                "mom_min": self.mom_min, "weight_decay": self.weight_decay,
                "batch_size": self.batch_size, "steps": self.steps, "step_size": self.step_size,
                "optimizer": self.optimizer}

    def to_dict(self) -> dict:
        lr_s, mom_s = self.schedules()
        final = None
        if self.final is not None:
            final = {"status": self.final.status, "steps_done": self.final.steps_done,
                     "final_test_accuracy": self.final.final_test_accuracy(),
                     "folder": "final"}
        return {**self.handoff(), "status": "completed",
                "schedule": {"style": "smith", "lr": lr_s.describe(),
                             "momentum": mom_s.describe()},
                "search": {"budget_images": self.search_images, "images_used": self.images_used,
                           "fractions": FRACTIONS, "min_steps_per_run": MIN_STEPS,
                           "steps": [r.to_dict() for r in self.records]},
                "final": final}


# -- a record's values as text (the log, report.md, a notebook's tables) ------------------------

def loss_text(value) -> str:
    return "diverged" if value is None else value_text(value)


def summary_text(chosen: dict) -> str:
    return ", ".join(f"{k} {value_text(v)}" for k, v in chosen.items())


def value_text(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def finite_or_none(value: float) -> float | None:
    """None for a run that diverged: JSON has no infinity."""
    return value if math.isfinite(value) else None
