"""Smith's recipe on your own model (Smith 2018, arXiv 1803.09820, §5): lr, momentum, weight
decay and batch size found by short, cheap experiments, then handed to a 1cycle run.

Why a module: §5 is a procedure, not a formula. Each step is a handful of `lr_range_test` and
`fit` runs whose readings feed the next step, and a reader must be able to check every reading
afterwards. So each step records what it measured, what it chose and why, and what it cost, and
saves its data (CSV, JSON) and a figure as soon as it is done; `report.md` (a lab notebook) and
`recipe.json` (the hand-off) are written last, so their presence means the search finished.

The steps, in the paper's order:
  a. lr: linear LR range tests (Smith's, §4.1) from 0 to a "large" lr, one per seed, momentum
     ramped 0.95 -> 0.85 as in Fig 15a. Each is read with Smith's rule (lowest test loss,
     `suggest_smith`) and, as a cross check, the valley rule. lr_max is the median over seeds,
     its spread the min..max.
  b. momentum: short runs at constant momenta (§4.3: the momentum range test is uninformative)
     over the 1cycle's rising half, lr_min -> lr_max; the best becomes mom_max.
  c. weight decay, two ways: range tests over lr_min -> lr_max per value from one state (Fig 15a:
     the lowest test loss over the sweep's upper half, where the 1cycle spends its large lrs,
     wins) and continuations from one shared early snapshot (Fig 12b). The range test decides.
  d. batch size: the one given, or the largest that fits (a doubling probe, on CUDA only), with
     lr_max scaled linearly in the batch and checked by one more range test at that batch.
  e. hand-off: lr_min, lr_max, mom_max, mom_min, weight_decay, batch_size, steps (recipe.json);
     optionally the final 1cycle run (`one_cycle(style="smith")`).

Reading a folder back: `load_step`, `step_table`, `describe_step`, `plot_step` and `cost_table`
give a finished step's record, table and figure again from its files alone (a notebook's cells
do no more than call them), so what is shown is what was saved.

Decisions where the paper is silent (report.md restates those behind each choice):
  - Every run trains a deep copy of the model, each from the same starting weights, and the
    global RNGs are restored at the end: the given model, its gradients and the RNG are exactly as
    they were. (A copy, not `preserved_state` on the model itself, because `fit` also changes the
    model's memory format.) The final run, too, trains a copy, returned as `Recipe.final_model`.
  - "Seed" means data order (the shuffle of a DeviceLoader or DataLoader, or a plain iterable
    started that many batches later), never re-drawn weights: the recipe is for *your* weights.
  - lr_min = lr_max / 10 (§5, and Smith's runs); mom_min = mom_max - 0.1 (Smith's 0.95 -> 0.85,
    and 0.9 -> 0.8 at the low end, the two minima he names).
  - The range test's default top is 3 x batch / 1000: Smith's "large" 3.0 for resnet-56 at batch
    1000, scaled as step d scales. Steps a and b run at weight decay 1e-4 (his resnet default).
  - When the two weight-decay searches disagree, the range test wins: it measures stability at
    the large lrs a 1cycle will use, while a continuation of a few dozen updates is too short for
    regularisation to show. The disagreement is reported.
  - The final 1cycle's half-cycle is 45% of the run (Smith's 41/95 .. 51/116 epochs), so the
    last 10% sit at his lr_min/1000 floor.
  - Linear scaling of the lr with the batch (Goyal et al. 2017) is taken as an upper bound: the
    check range test may lower lr_max, never raise it. The final run keeps the images of the
    planned training: steps = steps * loader batch / chosen batch.
  - The budget counts training images (forward + backward), as the final cost steps * batch
    does; evaluations are reported beside it, not charged. FRACTIONS splits it between the
    steps; every run gets at least MIN_STEPS updates or the recipe refuses to start. The default,
    DEFAULT_SEARCH_FRACTION of the final training, keeps the search under a fifth of its cost.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from . import io
from .errors import ConfigError
from .range_test import (RangeTestResult, diagnose, lr_range_test, preserved_state,
                         smooth_losses, suggest_smith, suggest_valley)
from .schedules import linear_range, one_cycle
from .train import (LoaderBatches, RunResult, fit, resolve_device, rng_state, set_rng_state,
                    use_bf16)

# Share of the search budget per step. The momentum, weight-decay and range steps run 4-5
# runs each and get about the same images per run; the batch check is a single run.
FRACTIONS = {"lr": 0.25, "momentum": 0.20, "weight_decay_range": 0.20,
             "weight_decay_snapshot": 0.25, "batch_size": 0.10}
MIN_STEPS = 20  # fewer updates than this give a range test too few evaluations to read
DEFAULT_SEARCH_FRACTION = 0.20  # default budget: this share of the final training's images
STEP_SIZE_FRACTION = 0.45  # 1cycle half-cycle as a share of the run (Smith: 41/95 .. 51/116)
MOMENTUM_SPAN = 0.10  # mom_min = mom_max - this
RANGE_TEST_MOMENTUM = (0.95, 0.85)  # Fig 15a ramps momentum over the lr sweep
SMITH_TOP_LR, SMITH_TOP_BATCH = 3.0, 1000  # resnet-56's "large" lr at its batch (§5, Fig 5)
EVALS_PER_RANGE_TEST = 10
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


def run_recipe(model: torch.nn.Module, train, val, *, out_dir: str | Path, steps: int,
               search_images: int | None = None, batch_size: int | None = None,
               device: str | torch.device | None = None, seeds=(0, 1),
               weight_decays=(1e-3, 1e-4, 1e-5, 1e-6), momenta=(0.9, 0.95, 0.97, 0.99),
               lr_range: tuple[float, float] | None = None, start_weight_decay: float = 1e-4,
               optimizer: str = "sgd", make_loader: Callable | None = None,
               max_batch_size: int | None = None, precision: str = "auto",
               train_final: bool = False, overwrite: bool = False,
               log: Callable[[str], None] | None = print) -> Recipe:
    """Run Smith's §5 search on `model` and write its record into `out_dir` (see the module doc).

    train: a DeviceLoader, a torch DataLoader, or a re-iterable of (inputs, targets) batches;
    val: an iterable of (inputs, targets) batches, the test set Smith reads the curves off.
    steps: the length of the final training, in updates at train's batch size; the default
    budget is DEFAULT_SEARCH_FRACTION of its images.
    batch_size: the final batch; None keeps train's on the CPU and probes the largest that fits
    (up to the data, `max_batch_size` and the budget) on CUDA.
    make_loader(batch_size, seed) -> loader: how to draw the training data at another batch or
    order, where train alone cannot say (a plain iterable is neither re-batched nor re-shuffled).
    lr_range: the (linear) sweep of step a; its top should be a "large" lr. None: (0, 3 x batch /
    1000), Smith's 3.0 for resnet-56 at batch 1000 (§5, Fig 5) scaled linearly, as step d scales.
    start_weight_decay: the weight decay of steps a and b, before step c has chosen one.
    train_final: also train a copy of the model with the recipe (folder `final`).
    """
    device = _model_device(model) if device is None else resolve_device(device)
    use_bf16(precision, device)
    source = _Source(train, make_loader, device)
    val = _Evaluated(val, device)
    source.check_not_empty()
    val.check_not_empty()
    if lr_range is None:
        lr_range = (0.0, SMITH_TOP_LR * source.batch_size / SMITH_TOP_BATCH)
    settings = _check_settings(steps, seeds, momenta, weight_decays, lr_range,
                               start_weight_decay, optimizer, batch_size, max_batch_size)
    if batch_size is not None and batch_size != source.batch_size:
        source.check_rebatchable(batch_size)
    default = search_images is None
    if default:
        search_images = default_search_images(steps, source.batch_size)
    plan = plan_search(search_images, source.batch_size, seeds=seeds, momenta=momenta,
                       weight_decays=weight_decays, final_batch=batch_size, default=default)
    work = copy.deepcopy(model).to(device)
    _check_first_loss(work, source, precision)
    search = _Search(work, source, val, plan, settings, out_dir=Path(out_dir),
                     precision=precision, log=log or (lambda line: None))
    from .runs import RunDir
    rng = rng_state()
    try:
        torch.manual_seed(seeds[0])  # dropout and the like: a rerun gives the same recipe
        with RunDir(out_dir, marker="recipe.json", artifacts=ARTIFACTS, overwrite=overwrite):
            recipe = search.run(steps, search_images, batch_size, max_batch_size)
            if train_final:
                recipe.final_model, recipe.final = search.train_final(model, recipe, overwrite)
            _write_report(search, recipe)
            io.write_json(Path(out_dir) / "recipe.json", _recipe_json(search, recipe))
    finally:
        set_rng_state(rng)
    return recipe


def recipe_from_names(dataset: str = "synthetic", model: str = "resnet8", *,
                      subset: int | None = None, test_subset: int | None = 2000,
                      search_images: int | None = None, out_dir: str | Path,
                      device: str | torch.device = "cpu", seed: int = 0,
                      steps: int | None = None, batch_size: int = 128, epochs: int = 30,
                      train_final: bool = False, **recipe_kwargs) -> Recipe:
    """The recipe on one of the library's datasets and models (for a CLI): Smith's Caffe data
    layers (flip, mean image), the model's weights drawn from `seed`, and steps defaulting to
    `epochs` passes over the training subset. Unknown names fail before anything is written."""
    from .experiment import Splits, make_model
    from .models import MODEL_NAMES
    if not isinstance(model, str) or model.lower() not in MODEL_NAMES:
        # checked before the data is loaded, which can take minutes
        raise ConfigError(f"unknown model {model!r}; choose one of {', '.join(MODEL_NAMES)}")
    splits = Splits(dataset, train_subset=subset, test_subset=test_subset, device=device,
                    seed=seed)
    net = make_model(model, num_classes=len(splits.train_split.classes), seed=seed,
                     device=splits.device)
    n = len(splits.train_split.labels)
    batch = min(batch_size, n)
    steps = steps or max(1, epochs * n // batch)
    return run_recipe(net, splits.train(batch, seed), splits.test,
                      out_dir=out_dir, steps=steps, search_images=search_images,
                      device=splits.device, make_loader=splits.train, train_final=train_final,
                      **recipe_kwargs)


# -- reading a recipe folder back (a notebook's tables and figures) -------------------------

def load_step(out_dir: str | Path, name: str) -> dict:
    """A finished step's record (`<name>.json`): measured, chosen, why, cost, files."""
    if name not in RECIPE_FILES:
        raise ConfigError(f"step {name!r} is unknown; the steps are {', '.join(RECIPE_FILES)}")
    path = Path(out_dir) / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: run the recipe into {out_dir} first")
    return _read_json(path)


def plot_step(out_dir: str | Path, name: str):
    """A step's figure, drawn again from the CSV and JSON the recipe saved (the same figure as
    `<name>.png`); "final" draws the final run from final/metrics.csv."""
    out_dir = Path(out_dir)
    if name == "final":
        path = out_dir / "final" / "metrics.csv"
        if not path.is_file():
            raise ConfigError(f"{path} does not exist: run the recipe with train_final=True")
        return _plot_final(pd.read_csv(path))
    step = load_step(out_dir, name)
    return _draw(name, pd.read_csv(out_dir / f"{name}.csv"), step)


def step_table(out_dir: str | Path, name: str) -> pd.DataFrame:
    """A step's readings as a table, one row per run compared (seed, momentum, weight decay),
    with the value the step chose marked."""
    step = load_step(out_dir, name)
    m, chosen = step["measured"], step["chosen"]
    if name == "lr_range":
        return pd.DataFrame([{"seed": r["seed"], "lr_max (lowest test loss)": r["lr_max"],
                              "valley lr": r["valley_lr"], "status": r["status"],
                              "steps": r["steps_done"]} for r in m["seeds"]])
    if name == "momentum":
        return pd.DataFrame([{"momentum": float(k), "final test loss": v,
                              "chosen": float(k) == chosen["mom_max"]}
                             for k, v in m["final_test_loss"].items()])
    if name == "weight_decay":
        return pd.DataFrame([{"weight decay": float(k),
                              "range test: upper-half test loss": v["upper_half_test_loss"],
                              "range test completed": v["completed"],
                              "snapshot: final test loss": m["snapshot"].get(k),
                              "chosen": float(k) == chosen["weight_decay"]}
                             for k, v in m["range_test"].items()])
    check = m.get("check") or {}
    return pd.DataFrame([{"search batch": m["search_batch"], "batch size": chosen["batch_size"],
                          "lr_max scaled": m.get("lr_max_scaled"),
                          "check range test lr_max": check.get("lr_max"),
                          "lr_max kept": chosen["lr_max"],
                          "probe": "not run" if m["probe"] is None else m["probe"]}])


def describe_step(out_dir: str | Path, name: str) -> str:
    """What a step chose and why, and its notes, as lines of text."""
    step = load_step(out_dir, name)
    lines = [f"chosen: {_summary(step['chosen'])}", f"why: {step['why']}"]
    return "\n".join(lines + [f"note: {note}" for note in step["notes"]])


def cost_table(out_dir: str | Path) -> pd.DataFrame:
    """What each finished step chose and cost: training images, evaluated images, seconds."""
    rows = []
    for name in RECIPE_FILES:
        if (Path(out_dir) / f"{name}.json").is_file():
            step = load_step(out_dir, name)
            cost = step["cost"]
            rows.append({"step": step["title"], "chosen": _summary(step["chosen"]),
                         "training images": cost["images"],
                         "evaluated images": cost["eval_images"], "seconds": cost["seconds"]})
    return pd.DataFrame(rows)


def _read_json(path: Path) -> dict:
    import json
    return json.loads(path.read_text())


# -- checks made before anything runs or is written -----------------------------------------

def _check_settings(steps, seeds, momenta, weight_decays, lr_range, start_wd, optimizer,
                    batch_size, max_batch_size) -> dict:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"steps ({steps!r}) must be an integer >= 1: the final training's length")
    if len(set(seeds)) < 2:
        raise ConfigError(f"seeds {tuple(seeds)!r}: give at least 2 distinct seeds, so lr_max "
                          "comes with its spread")
    if not momenta or not all(MOMENTUM_SPAN <= m < 1 for m in momenta):
        raise ConfigError(f"momenta {tuple(momenta)!r} must be values in [{MOMENTUM_SPAN}, 1)")
    if len(weight_decays) < 2 or any(wd < 0 for wd in weight_decays):
        raise ConfigError(f"weight_decays {tuple(weight_decays)!r}: give at least 2 values >= 0")
    low, high = lr_range
    if not 0 <= low < high:
        raise ConfigError(f"lr_range {tuple(lr_range)!r} must be (low, high) with 0 <= low < high")
    if start_wd < 0:
        raise ConfigError(f"start_weight_decay ({start_wd}) must be >= 0")
    if not isinstance(optimizer, str):
        raise ConfigError("optimizer must be a name (e.g. 'sgd'): the recipe builds one per run "
                          "over its copies of the model")
    for name, value in (("batch_size", batch_size), ("max_batch_size", max_batch_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ConfigError(f"{name} ({value!r}) must be an integer >= 1, or None")
    return {"seeds": list(seeds), "momenta": [float(m) for m in momenta],
            "weight_decays": [float(w) for w in weight_decays],
            "lr_range": [float(low), float(high)], "start_weight_decay": float(start_wd),
            "optimizer": optimizer}


def _model_device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        raise ConfigError("the model has no parameters: give it trainable weights") from None


def _check_first_loss(work: torch.nn.Module, source: "_Source", precision: str) -> None:
    """One forward pass on the first batch: a model that is NaN before any update would make
    every reading below meaningless, so it is refused at once."""
    x, y = source.first_batch()
    bf16 = use_bf16(precision, x.device)
    with preserved_state(work), torch.no_grad():
        work.train()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(work(x).float(), y)
    if not torch.isfinite(loss):
        raise ConfigError(f"the model's loss is {loss.item()} on the first batch, before any "
                          "update: fix its initialisation or the inputs' scale, then rerun")


# -- data: fresh, counted batches at any batch size and data order --------------------------

class _Counted:
    """`batch(step)` of a loader, counting the training images drawn through it."""

    def __init__(self, inner, counter: list[int], offset: int = 0):
        self.inner, self.counter, self.offset = inner, counter, offset

    def batch(self, step: int):
        x, y = self.inner.batch(step + self.offset)
        self.counter[0] += len(y)
        return x, y


class _Source:
    """The user's training data, re-drawn per run so that every run sees its own fresh stream
    (a LoaderBatches remembers how far it got) at the batch size and data order asked for."""

    def __init__(self, train, make_loader, device: torch.device):
        from torch.utils.data import DataLoader

        from .data import DeviceLoader
        self.train, self.make_loader, self.device = train, make_loader, device
        self.images = [0]  # a list: the _Counted loaders add to it
        self.preflight_images = 0
        self._first = None
        if isinstance(train, DeviceLoader):
            self.kind, self.batch_size, self.size = "device", train.batch_size, len(train.labels)
        elif isinstance(train, DataLoader) and train.batch_size is not None:
            self.kind, self.batch_size = "dataloader", train.batch_size
            self.size = len(train.dataset) if hasattr(train.dataset, "__len__") else None
        else:
            self.kind, self.size = "iterable", None
            self.batch_size = getattr(train, "batch_size", None)
        if make_loader is not None:
            self.kind = "factory"

    def check_not_empty(self) -> None:
        x, y = self.first_batch()
        if self.batch_size is None:
            self.batch_size = len(y)

    def first_batch(self):
        """The first training batch, charged to the budget (the NaN check trains on nothing,
        but it is the cost of one forward pass)."""
        if self._first is not None:
            return self._first
        source = self.train if hasattr(self.train, "batch") else LoaderBatches(self.train)
        try:
            x, y = source.batch(0)
        except ConfigError:
            raise ConfigError("the train loader yielded no batches: give it at least one "
                              "(inputs, targets) batch") from None
        if len(y) == 0:
            raise ConfigError("the train loader's first batch is empty: give batches of >= 1 image")
        self.preflight_images += len(y)
        self._first = x.to(self.device), y.to(self.device)
        return self._first

    def check_rebatchable(self, batch_size: int) -> None:
        if self.kind == "iterable":
            raise ConfigError(f"batch_size={batch_size} needs a DeviceLoader, a DataLoader or "
                              "make_loader: a plain iterable of batches cannot be re-batched")
        if self.size is not None and batch_size > self.size:
            raise ConfigError(f"batch_size={batch_size} exceeds the {self.size} training images; "
                              f"give batch_size <= {self.size}")

    def loader(self, batch_size: int, seed: int, offset: int = 0) -> _Counted:
        return _Counted(self._fresh(batch_size, seed), self.images, offset)

    def _fresh(self, batch_size: int | None, seed: int):
        if self.kind == "factory":
            made = self.make_loader(batch_size or self.batch_size, seed)
            return made if hasattr(made, "batch") else LoaderBatches(made, self.device)
        if self.kind == "device":
            return _reseeded_device_loader(self.train, batch_size or self.batch_size, seed)
        if self.kind == "dataloader":
            return LoaderBatches(_rebuilt_dataloader(self.train, batch_size, seed), self.device)
        batches = LoaderBatches(self.train, self.device)
        for _ in range(seed):  # a plain iterable's only other order: start it later
            batches.batch(0)
        return batches


def _reseeded_device_loader(loader, batch_size: int, seed: int):
    """The same split at another batch size and shuffle; shares the device tensor (a copy of
    the split would double device memory)."""
    new = copy.copy(loader)
    new.batch_size, new.seed = int(batch_size), seed
    new._epoch = new._order = None  # the cached epoch order belongs to the old seed
    new._augment_generator = torch.Generator(device=loader.device)
    return new


def _rebuilt_dataloader(loader, batch_size: int | None, seed: int):
    from torch.utils.data import DataLoader, RandomSampler
    return DataLoader(loader.dataset, batch_size=batch_size or loader.batch_size,
                      shuffle=isinstance(loader.sampler, RandomSampler),
                      generator=torch.Generator().manual_seed(seed),
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn,
                      drop_last=loader.drop_last, pin_memory=loader.pin_memory)


class _Evaluated:
    """The validation batches on the model's device, counting the images evaluated."""

    def __init__(self, val, device: torch.device):
        self.val, self.device, self.images = val, device, 0

    def __iter__(self):
        for x, y in self.val:
            self.images += len(y)
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def check_not_empty(self) -> None:
        for _, y in self.val:
            if len(y):
                return
        raise ConfigError("the val loader yielded no images: give it at least one (inputs, "
                          "targets) batch to read the test loss from")


# -- the search -------------------------------------------------------------------------------

class _Search:
    """Steps a-d on one working copy of the model; each step returns its StepRecord."""

    def __init__(self, work, source: _Source, val: _Evaluated, plan: dict, settings: dict, *,
                 out_dir: Path, precision: str, log):
        self.work, self.source, self.val, self.plan = work, source, val, plan
        self.settings, self.out_dir, self.precision, self.log = settings, out_dir, precision, log
        self.seed = settings["seeds"][0]
        self.records: list[StepRecord] = []
        self.probe_images = 0

    def run(self, steps: int, search_images: int, batch_size, max_batch_size) -> Recipe:
        lr = self._step(self.lr_step)
        mom = self._step(self.momentum_step, lr)
        wd = self._step(self.weight_decay_step, lr, mom)
        batch = self._step(self.batch_step, lr, mom, wd, batch_size, max_batch_size)
        chosen = batch.chosen
        final_steps = max(1, round(steps * self.source.batch_size / chosen["batch_size"]))
        return Recipe(lr_min=chosen["lr_max"] / 10, lr_max=chosen["lr_max"],
                      mom_max=mom.chosen["mom_max"], mom_min=mom.chosen["mom_min"],
                      weight_decay=wd.chosen["weight_decay"], batch_size=chosen["batch_size"],
                      steps=final_steps, search_images=search_images,
                      images_used=self.source.preflight_images
                      + sum(r.images for r in self.records), records=self.records,
                      out_dir=self.out_dir, optimizer=self.settings["optimizer"])

    def _step(self, method, *args) -> StepRecord:
        """Run one step and charge it what it drew from the data and the clock."""
        images, evals, started = self.source.images[0], self.val.images, time.perf_counter()
        self.probe_images = 0
        record = method(*args)
        record.images = self.source.images[0] - images + self.probe_images
        record.eval_images = self.val.images - evals
        record.seconds = time.perf_counter() - started
        io.write_json(self.out_dir / f"{record.name}.json", record.to_dict())
        self.records.append(record)
        self.log(f"recipe {record.name}: {_summary(record.chosen)} "
                 f"({record.images} images, {record.seconds:.1f} s)")
        return record

    # a. lr ----------------------------------------------------------------------------------
    def lr_step(self) -> StepRecord:
        n = self.plan["lr"]
        low, high = self.settings["lr_range"]
        results, readings = [], []
        for seed in self.settings["seeds"]:
            result = self._range_test(self.source.batch_size, seed, low, high, n,
                                      self.settings["start_weight_decay"],
                                      linear_range(*RANGE_TEST_MOMENTUM, n))
            results.append(result)
            readings.append(_reading(result, seed))
        maxima = np.array([r["lr_max"] for r in readings])
        lr_max = float(np.median(maxima))
        if lr_max <= 0:
            raise ConfigError(f"the median lr_max reading is {lr_max:g}: the model does not "
                              "learn at any lr tested; check the data and labels")
        notes = _lr_notes(readings, lr_max, high)
        measured = {"seeds": readings, "lr_max_median": lr_max,
                    "lr_max_spread": [float(maxima.min()), float(maxima.max())],
                    "sweep": {"lr": [low, high], "steps": n, "batch_size": self.source.batch_size,
                              "momentum": list(RANGE_TEST_MOMENTUM),
                              "weight_decay": self.settings["start_weight_decay"]}}
        chosen = {"lr_max": lr_max, "lr_min": lr_max / 10}
        why = (f"Smith's rule (the lr of the lowest test loss) read per seed, median over "
               f"{len(readings)} seeds; lr_min = lr_max/10 (§5)")
        frame = pd.concat([r.frame().assign(seed=s)
                           for r, s in zip(results, self.settings["seeds"])], ignore_index=True)
        record = StepRecord("lr_range", "a. LR range test", measured, chosen, why, notes=notes)
        self._save(record, frame)
        return record

    # b. momentum ----------------------------------------------------------------------------
    def momentum_step(self, lr: StepRecord) -> StepRecord:
        n = self.plan["momentum"]
        lr_min, lr_max = lr.chosen["lr_min"], lr.chosen["lr_max"]
        runs, scores = [], {}
        for m in self.settings["momenta"]:
            run = self._short_run(self.source.batch_size, n, linear_range(lr_min, lr_max, n), m,
                                  self.settings["start_weight_decay"], eval_every=max(1, n // 2))
            runs.append(run.metrics.assign(run_momentum=m))
            scores[m] = _final_test_loss(run)
        finite = {m: s for m, s in scores.items() if math.isfinite(s)}
        if not finite:
            raise ConfigError(f"every momentum run diverged at lr {lr_min:.3g} -> {lr_max:.3g}: "
                              "the lr reading is too high for this model; lower lr_range's top")
        best = min(finite, key=finite.get)
        chosen = {"mom_max": best, "mom_min": round(best - MOMENTUM_SPAN, 6)}
        measured = {"final_test_loss": {str(m): _finite(s) for m, s in scores.items()},
                    "runs": {"steps": n, "lr": [lr_min, lr_max],
                             "weight_decay": self.settings["start_weight_decay"]}}
        why = (f"lowest final test loss of {len(scores)} constant-momentum runs over the 1cycle's "
               f"rising half (§4.3, §5); mom_min = mom_max - {MOMENTUM_SPAN}")
        frame = pd.concat(runs, ignore_index=True)
        record = StepRecord("momentum", "b. Momentum", measured, chosen, why)
        self._save(record, frame)
        return record

    # c. weight decay ------------------------------------------------------------------------
    def weight_decay_step(self, lr: StepRecord, mom: StepRecord) -> StepRecord:
        lr_min, lr_max = lr.chosen["lr_min"], lr.chosen["lr_max"]
        mom_max, mom_min = mom.chosen["mom_max"], mom.chosen["mom_min"]
        ranges = self._wd_range_tests(lr_min, lr_max, mom_max, mom_min)
        range_scores = {wd: _upper_half_score(r) for wd, r in ranges.items()}
        by_range = min(range_scores, key=range_scores.get)
        snap_frame, snap_scores = self._wd_snapshot(lr_min, lr_max, mom_max, mom_min, by_range)
        finite = {wd: s for wd, s in snap_scores.items() if math.isfinite(s)}
        by_snapshot = min(finite, key=finite.get) if finite else None
        agree = by_snapshot == by_range
        measured = {"range_test": {str(wd): _score_dict(s) for wd, s in range_scores.items()},
                    "snapshot": {str(wd): _finite(s) for wd, s in snap_scores.items()},
                    "range_test_winner": by_range, "snapshot_winner": by_snapshot,
                    "agree": agree}
        why = ("range tests lr_min -> lr_max from one state (Fig 15a): the lowest mean test loss "
               "over the sweep's upper half wins, runs that diverged lose; "
               + ("the snapshot continuations (Fig 12b) agree" if agree else
                  f"the snapshot continuations (Fig 12b) prefer {by_snapshot}; the range test "
                  "decides (it measures the large lrs the 1cycle uses)"))
        frame = pd.concat([pd.concat([r.frame().assign(run_weight_decay=wd)
                                      for wd, r in ranges.items()]).assign(method="range_test"),
                           snap_frame.assign(method="snapshot")], ignore_index=True)
        record = StepRecord("weight_decay", "c. Weight decay", measured,
                            {"weight_decay": by_range}, why)
        self._save(record, frame)
        return record

    def _wd_range_tests(self, lr_min, lr_max, mom_max, mom_min) -> dict:
        n = self.plan["weight_decay_range"]
        return {wd: self._range_test(self.source.batch_size, self.seed, lr_min, lr_max, n, wd,
                                     linear_range(mom_max, mom_min, n))
                for wd in self.settings["weight_decays"]}

    def _wd_snapshot(self, lr_min, lr_max, mom_max, mom_min, start_wd):
        """Fig 12b: one warm-up along the 1cycle's first half-rise at the range test's winner,
        then a continuation per weight decay from that snapshot (optimizer state included, as a
        Caffe .solverstate restart keeps it), each on the same next batches."""
        from .models import param_groups
        from .optim import make_optimizer
        n = self.plan["weight_decay_snapshot"]
        lr_mid, mom_mid = (lr_min + lr_max) / 2, (mom_max + mom_min) / 2
        opt = make_optimizer(self.settings["optimizer"], param_groups(self.work), lr=lr_min,
                             momentum=mom_max)
        rows, scores = [], {}
        with preserved_state(self.work):
            warm = self._fit(self.source.loader(self.source.batch_size, self.seed), n,
                             linear_range(lr_min, lr_mid, n), linear_range(mom_max, mom_mid, n),
                             start_wd, opt, eval_every=n)
            rows.append(warm.metrics.assign(phase="warm-up", run_weight_decay=start_wd))
            for wd in self.settings["weight_decays"]:
                with preserved_state(self.work, opt):
                    loader = self.source.loader(self.source.batch_size, self.seed, offset=n)
                    run = self._fit(loader, n, linear_range(lr_mid, lr_max, n),
                                    linear_range(mom_mid, mom_min, n), wd, opt,
                                    eval_every=max(1, n // 2))
                rows.append(run.metrics.assign(step=run.metrics["step"] + n,
                                               phase="continuation", run_weight_decay=wd))
                scores[wd] = _final_test_loss(run)
        return pd.concat(rows, ignore_index=True), scores

    # d. batch size --------------------------------------------------------------------------
    def batch_step(self, lr, mom, wd, batch_size, max_batch_size) -> StepRecord:
        base, lr_max = self.source.batch_size, lr.chosen["lr_max"]
        probe = None
        if batch_size is None and _can_probe(self.source):
            batch_size, probe = self._probe(max_batch_size)
        batch = batch_size or base
        measured = {"search_batch": base, "probe": probe}
        if batch == base:
            record = StepRecord("batch_size", "d. Batch size", measured,
                                {"batch_size": base, "lr_max": lr_max},
                                "the batch of the search: the lr readings hold as they are "
                                "(no rescaling, no check run)")
            frame = pd.DataFrame([{"batch_size": base, "lr_max": lr_max, "source": "step a"}])
            self._save(record, frame)
            return record
        scaled = lr_max * batch / base
        n = (self.plan["batch_size_images"] - self.probe_images) // batch
        check = self._range_test(batch, self.seed, 0.0, 2 * scaled, n, wd.chosen["weight_decay"],
                                 linear_range(mom.chosen["mom_max"], mom.chosen["mom_min"], n))
        reading = _reading(check, self.seed)
        measured_lr = reading["lr_max"]
        final_lr = min(scaled, measured_lr) if measured_lr and measured_lr > 0 else scaled
        measured.update(lr_max_scaled=scaled, check=reading, check_steps=n)
        why = (f"{'the largest batch that fits' if probe else 'the batch given'}; lr_max scaled "
               f"linearly ({lr_max:.3g} x {batch}/{base} = {scaled:.3g}), then checked by a range "
               f"test at batch {batch} that read {_fmt(measured_lr)}: the smaller of the two "
               "is kept")
        record = StepRecord("batch_size", "d. Batch size", measured,
                            {"batch_size": batch, "lr_max": final_lr}, why)
        frame = check.frame().assign(batch_size=batch)
        self._save(record, frame)
        return record

    def _probe(self, max_batch_size):
        """Double the batch until CUDA runs out of memory or a cap is reached: the data, the
        user's maximum, and what the budget leaves for the check run at that batch."""
        base = self.source.batch_size
        cap = min(self.source.size or math.inf, max_batch_size or math.inf,
                  self.plan["batch_size_images"] // (MIN_STEPS + 2))
        x, y = self.source.first_batch()
        tried, fits = [], base
        bf16 = use_bf16(self.precision, x.device)
        with preserved_state(self.work):
            self.work.train()
            batch = base * 2
            while batch <= cap:
                ok = _fits(self.work, x, y, batch, bf16)
                self.probe_images += batch
                tried.append({"batch_size": batch, "fits": ok})
                if not ok:
                    break
                fits, batch = batch, batch * 2
        return fits, {"tried": tried, "cap": None if math.isinf(cap) else int(cap)}

    # final run ------------------------------------------------------------------------------
    def train_final(self, model, recipe: Recipe, overwrite: bool):
        final_model = copy.deepcopy(model).to(self.source.device)
        lr_s, mom_s = recipe.schedules()
        run = fit(final_model, self.source.loader(recipe.batch_size, self.seed),
                  steps=recipe.steps, lr=lr_s, momentum=mom_s, weight_decay=recipe.weight_decay,
                  optimizer=recipe.optimizer, test=self.val,
                  eval_every=max(1, recipe.steps // 20), log_every=min(50, recipe.steps),
                  out_dir=self.out_dir / "final", overwrite=overwrite, precision=self.precision,
                  progress=False, config={"recipe": recipe.handoff()})
        self.log(f"recipe final: {run.status} after {run.steps_done} steps, test accuracy "
                 f"{run.final_test_accuracy():.4f}")
        return final_model, run

    # shared ---------------------------------------------------------------------------------
    def _range_test(self, batch, seed, low, high, n, wd, momentum) -> RangeTestResult:
        return lr_range_test(self.work, self.source.loader(batch, seed), lr_min=low, lr_max=high,
                             steps=n, mode="linear", momentum=momentum, weight_decay=wd,
                             optimizer=self.settings["optimizer"], test=self.val,
                             eval_every=max(1, n // EVALS_PER_RANGE_TEST),
                             log_every=min(10, n), precision=self.precision, progress=False)

    def _short_run(self, batch, n, lr, momentum, wd, eval_every) -> RunResult:
        with preserved_state(self.work):
            return self._fit(self.source.loader(batch, self.seed), n, lr, momentum, wd,
                             self.settings["optimizer"], eval_every)

    def _fit(self, loader, n, lr, momentum, wd, optimizer, eval_every) -> RunResult:
        return fit(self.work, loader, steps=n, lr=lr, momentum=momentum, weight_decay=wd,
                   optimizer=optimizer, test=self.val, eval_every=eval_every,
                   log_every=min(10, n), precision=self.precision, progress=False)

    def _save(self, record: StepRecord, frame: pd.DataFrame) -> None:
        """The step's data and figure, each written atomically; its JSON follows in _step,
        once the cost is known, and marks the step as complete. The figure is drawn from what
        the CSV and JSON hold, as `plot_step` draws it again later from the files."""
        io.write_csv(self.out_dir / f"{record.name}.csv", frame)
        fig = _draw(record.name, frame, record.to_dict())
        io.save_figure(fig, self.out_dir / f"{record.name}.png", dpi=110, bbox_inches="tight")
        record.files = [f"{record.name}.{ext}" for ext in ("csv", "png", "json")]


def _can_probe(source: _Source) -> bool:
    """Only CUDA has a memory limit worth probing for; on the CPU a larger batch only costs
    time, and a plain iterable cannot be re-batched."""
    return source.device.type == "cuda" and source.kind != "iterable"


def _fits(model, x, y, batch: int, bf16: bool) -> bool:
    """One forward and backward pass at `batch` (the first batch repeated); False on OOM."""
    reps = math.ceil(batch / len(y))
    xb = x.repeat(reps, *([1] * (x.dim() - 1)))[:batch]
    yb = y.repeat(reps)[:batch]
    try:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(xb).float(), yb)
        loss.backward()
        return True
    except torch.cuda.OutOfMemoryError:
        return False
    finally:
        model.zero_grad(set_to_none=True)
        del xb, yb
        torch.cuda.empty_cache()


# -- readings ---------------------------------------------------------------------------------

def _reading(result: RangeTestResult, seed: int) -> dict:
    if not np.isfinite(result.train["loss"].to_numpy()).any():
        raise ConfigError("the loss was NaN from the first update of the LR range test: fix the "
                          "model's initialisation or the inputs' scale, then rerun")
    smith = suggest_smith(result)
    return {"seed": seed, "lr_max": smith["lr_max"], "basis": smith["basis"],
            "lr_at_best_test_accuracy": smith.get("lr_at_best_test_accuracy"),
            "valley_lr": suggest_valley(result)["lr"], "status": result.status,
            "steps_done": result.settings.get("steps_done"), "diagnostics": diagnose(result)}


def _lr_notes(readings: list[dict], lr_max: float, top: float) -> list[str]:
    notes = []
    if any(r["lr_max"] >= 0.95 * top for r in readings):
        notes.append(f"a reading sits at the top of the sweep ({top:g}): the true lr_max may lie "
                     "higher; rerun with a larger lr_range")
    valleys = [r["valley_lr"] for r in readings if r["valley_lr"]]
    if valleys and not 1 / 3 <= float(np.median(valleys)) / lr_max <= 3:
        notes.append(f"the valley rule reads {float(np.median(valleys)):.3g}, more than 3x away "
                     "from Smith's: the curve is noisy or flat; a longer sweep would help")
    return notes


def _final_test_loss(run: RunResult) -> float:
    test = run.test
    if run.status != "completed" or test.empty:
        return math.inf
    loss = float(test["loss"].iloc[-1])
    return loss if math.isfinite(loss) else math.inf


def _upper_half_score(result: RangeTestResult) -> tuple:
    """Sort key: completed sweeps first, then further-reaching ones, then the lower mean test
    loss over the sweep's upper half of lrs (the large lrs a 1cycle spends its time at)."""
    test = result.test.dropna(subset=["loss"])
    low, high = result.settings["lr_min"], result.settings["lr_max"]
    upper = test[test["lr"] >= (low + high) / 2]["loss"]
    mean = float(upper.mean()) if len(upper) else math.inf
    return (result.status != "completed", -int(result.settings.get("steps_done") or 0),
            mean if math.isfinite(mean) else math.inf)


def _score_dict(score: tuple) -> dict:
    return {"completed": not score[0], "steps_done": -score[1],
            "upper_half_test_loss": _finite(score[2])}


def _finite(value: float) -> float | None:
    """None for a run that diverged: JSON has no infinity."""
    return value if math.isfinite(value) else None


# -- figures (plain matplotlib Figures: no pyplot state, no global style) --------------------

def _figure(rows: int = 1, cols: int = 1, size=(7, 4)):
    from matplotlib.figure import Figure
    fig = Figure(figsize=size)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _draw(name: str, frame: pd.DataFrame, step: dict):
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
                label=f"momentum {m:g}: final test loss {_loss(_finite(scores[m]))}")
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
    axes[0, 1].set_title(f"Snapshot restarts (Fig 12b): best wd {_fmt(by_snapshot)}")
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


def _plot_final(frame: pd.DataFrame):
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


# -- the report -------------------------------------------------------------------------------

def _recipe_json(search: _Search, recipe: Recipe) -> dict:
    from .provenance import provenance
    return {**recipe.to_dict(), "settings": search.settings,
            "provenance": provenance(search.source.device)}


def _write_report(search: _Search, recipe: Recipe) -> None:
    out = search.out_dir
    lines = ["# Smith's recipe: lab notebook", "",
             f"Search budget {recipe.search_images} training images, used "
             f"{recipe.images_used} ({recipe.images_used / recipe.search_images:.0%}); "
             f"{sum(r.seconds for r in recipe.records):.1f} s. Every run trains a copy of the "
             "model from the same starting weights; a seed is a data order.", ""]
    for record in recipe.records:
        lines += _report_section(record)
    lines += ["## e. Hand-off", "", "```json",
              _json_text(recipe.handoff()), "```", "",
              f"Train with `one_cycle(\"smith\", {recipe.lr_min:.4g}, {recipe.lr_max:.4g}, "
              f"{recipe.step_size}, {recipe.steps}, mom_max={recipe.mom_max}, "
              f"mom_min={recipe.mom_min})`, weight decay {recipe.weight_decay:g}, batch "
              f"{recipe.batch_size}, {recipe.steps} steps.", ""]
    if recipe.final is not None:
        io.save_figure(_plot_final(recipe.final.metrics), out / "final.png", dpi=110,
                       bbox_inches="tight")
        lines += [f"Final run (`final/`): {recipe.final.status} after {recipe.final.steps_done} "
                  f"steps, test accuracy {recipe.final.final_test_accuracy():.4f}.", "",
                  "![final run](final.png)", ""]
    io.write_text(out / "report.md", "\n".join(lines))


def _report_section(record: StepRecord) -> list[str]:
    name = record.name
    lines = [f"## {record.title}", "",
             f"- **Measured:** {_measured_text(record)}",
             f"- **Chosen:** {_summary(record.chosen)}",
             f"- **Why:** {record.why}",
             f"- **Cost:** {record.images} training images, {record.eval_images} evaluated, "
             f"{record.seconds:.1f} s"]
    lines += [f"- **Note:** {note}" for note in record.notes]
    lines += ["", f"![{name}]({name}.png)", "",
              f"Data: [{name}.csv]({name}.csv), [{name}.json]({name}.json)", ""]
    return lines


def _measured_text(record: StepRecord) -> str:
    m = record.measured
    if record.name == "lr_range":
        per_seed = ", ".join(f"seed {r['seed']}: {_fmt(r['lr_max'])} (valley "
                             f"{_fmt(r['valley_lr'])}, {r['status']})" for r in m["seeds"])
        return (f"lr_max per seed {per_seed}; median {m['lr_max_median']:.3g}, spread "
                f"{m['lr_max_spread'][0]:.3g}-{m['lr_max_spread'][1]:.3g}")
    if record.name == "momentum":
        return "final test loss " + ", ".join(f"{k}: {_loss(v)}"
                                              for k, v in m["final_test_loss"].items())
    if record.name == "weight_decay":
        ranges = ", ".join(
            f"{k}: {_fmt(v['upper_half_test_loss']) if v['completed'] else 'diverged'}"
            for k, v in m["range_test"].items())
        snaps = ", ".join(f"{k}: {_loss(v)}" for k, v in m["snapshot"].items())
        return (f"range tests, mean upper-half test loss {ranges}; snapshot continuations, "
                f"final test loss {snaps}; the two {'agree' if m['agree'] else 'disagree'}")
    check = m.get("check")
    if check is None:
        return f"search batch {m['search_batch']}; probe {m['probe'] or 'not run'}"
    return (f"lr_max scaled to {m['lr_max_scaled']:.3g}; the check range test read "
            f"{_fmt(check['lr_max'])}; probe {m['probe'] or 'not run'}")


def _loss(value) -> str:
    return "diverged" if value is None else _fmt(value)


def _summary(chosen: dict) -> str:
    return ", ".join(f"{k} {_fmt(v)}" for k, v in chosen.items())


def _fmt(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def _json_text(obj) -> str:
    import json
    return json.dumps(obj, indent=2, sort_keys=True, default=io._json_default)
