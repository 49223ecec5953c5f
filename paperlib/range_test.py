"""The LR range test (Smith 2015 §3.3; Smith 2018 §4.1): the training loop with a range schedule.

`lr_range_test` is `fit` with a linear (Smith) or exponential (fastai-style) lr ramp, a divergence
stop, and the model, optimizer, BatchNorm statistics and RNG restored exactly afterwards, also
when the sweep ends in an exception. The raw per-step losses are kept; smoothing and the lr
suggestions are pure functions of the stored result, so a saved test can be re-read with another
rule without retraining.

A range test is a `Job` made by `range_test_job`: the engine's one loop with a ramp for the lr
and `Divergence` as its stop rule, so a sweep can be fused with others (the paper's Fig 1a and
15a sweeps are) and can have a run folder, like a training run: the paper's range tests run up
to 20,000 iterations, too long to lose to an interruption. `out` holds the same metrics.csv, run.json
and checkpoints/ as `fit` writes, and run.json's settings carry the sweep's own (the
"range_test" entry), so a resume continues only the same sweep. A resumed sweep is bit-identical
to an uninterrupted one: fit hands the divergence rule every loss logged before the resume and
consults it at the same steps, so the sweep stops where it would have. Resuming a sweep that
already ended returns its stored rows without training.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import io
from .errors import ConfigError
from .engine import (Compute, Every, Execution, Job, RunResult, as_folder, describe_schedule,
                     fit_many, preserved_state)
from .schedules import exp_range, linear_range

MODES = ("linear", "exp")
DEFAULT_SMOOTHING = 0.98  # beta of the moving average a range test smooths its loss with


@dataclass
class RangeTestResult:
    """Tidy rows of one range test (train rows per step, test rows every `eval_every`)."""

    metrics: pd.DataFrame
    mode: str
    status: str  # "completed", "diverged" (NaN/inf), or "stopped" (loss above factor x best)
    settings: dict = field(default_factory=dict)

    @property
    def train(self) -> pd.DataFrame:
        train = self.metrics[self.metrics["split"] == "train"].reset_index(drop=True)
        beta = self.settings.get("smoothing", DEFAULT_SMOOTHING)
        return train.assign(smooth_loss=smooth_losses(train["loss"].to_numpy(), beta))

    @property
    def test(self) -> pd.DataFrame:
        return self.metrics[self.metrics["split"] == "test"].reset_index(drop=True)

    def suggest(self) -> dict:
        return suggest(self)

    def frame(self) -> pd.DataFrame:
        """All rows, with the smoothed train loss as a column (NaN on test rows)."""
        train = self.train
        return pd.concat([train, self.test], ignore_index=True).sort_values(
            ["step", "split"], kind="stable").reset_index(drop=True)


def save_range_tests(results: list[RangeTestResult], out_dir: str | Path, name: str = "lr_find",
                     title: str | None = None, config: dict | None = None) -> dict:
    """Write `<name>.csv` (all runs, tidy), `<name>.json` (settings, suggestions per run,
    provenance) and `<name>.png`; runs are told apart by their weight decay. `config` (the
    caller's data, model and device) joins the sweep's settings in the JSON."""
    import matplotlib.pyplot as plt

    from .plots import plot_range_test
    from .provenance import provenance
    out_dir = Path(out_dir)
    frame = pd.concat([r.frame().assign(run=i) for i, r in enumerate(results)], ignore_index=True)
    runs = [{"run": i, "weight_decay": r.settings.get("weight_decay"), "status": r.status,
             "steps_done": r.settings.get("steps_done"), "suggestions": r.suggest()}
            for i, r in enumerate(results)]
    # "status" marks the folder as holding a finished test (see runs.RunDir)
    settings = {**results[0].settings, **(config or {})}
    doc = {"status": "completed", "mode": results[0].mode, "settings": settings,
           "runs": runs, "provenance": provenance(settings.get("device"))}
    io.write_csv(out_dir / f"{name}.csv", frame)
    fig = plot_range_test(frame, mode=results[0].mode,
                          suggestions=runs[0]["suggestions"] if len(runs) == 1 else None,
                          title=title)
    io.save_figure(fig, out_dir / f"{name}.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    io.write_json(out_dir / f"{name}.json", doc)  # last: its presence marks a finished test
    return doc


def load_range_tests(csv_path: str | Path) -> list[RangeTestResult]:
    """Read back what save_range_tests wrote, one result per weight decay."""
    import json
    csv_path = Path(csv_path)
    doc = json.loads(csv_path.with_suffix(".json").read_text())
    frame = pd.read_csv(csv_path).drop(columns=["smooth_loss"], errors="ignore")
    results = []
    for run in doc["runs"]:
        rows = frame[frame["run"] == run["run"]].drop(columns=["run"])
        settings = {**doc["settings"], "weight_decay": run["weight_decay"],
                    "steps_done": run["steps_done"]}
        results.append(RangeTestResult(rows.reset_index(drop=True), doc["mode"], run["status"],
                                       settings))
    return results


class SmoothedLoss:
    """The exponential moving average of a loss with bias correction (so early values are not
    pulled to 0), one loss at a time: `add(loss)` returns the smoothed value, in O(1).

    Why a scalar recurrence and not a vectorised filter: the smoothed column is stored in every
    range test's CSV, and this is the arithmetic, in this order, that wrote them; a closed form
    would round differently. Both the stored column (smooth_losses) and the divergence rule
    read their values from here, so the two never disagree."""

    def __init__(self, beta: float = DEFAULT_SMOOTHING):
        self.beta, self.avg, self.count = beta, 0.0, 0

    def add(self, loss: float) -> float:
        self.count += 1
        self.avg = self.beta * self.avg + (1 - self.beta) * loss
        return self.avg / (1 - self.beta ** self.count)


def smooth_losses(losses: np.ndarray, beta: float = DEFAULT_SMOOTHING) -> np.ndarray:
    """The bias-corrected exponential moving average of every loss (SmoothedLoss)."""
    smoothed = SmoothedLoss(beta)
    return np.array([smoothed.add(loss) for loss in np.asarray(losses, dtype=float)],
                    dtype=float)


@dataclass(frozen=True)
class Sweep:
    """The lr ramp of a range test: lr_min -> lr_max over `steps` updates, "linear" (Smith's
    range test) or "exp" (a geometric ramp, as fastai's lr_find). max_steps stops after that many
    updates of the `steps`-long sweep, whose lrs stay as they are (a quick pass over a long
    sweep's first steps, not a shorter sweep)."""

    lr_min: float
    lr_max: float
    steps: int
    mode: str = "linear"
    max_steps: int | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigError(f"mode {self.mode!r} is unknown; use 'linear' or 'exp'")
        if (not all(isinstance(v, (int, float)) for v in (self.lr_min, self.lr_max))
                or self.lr_min < 0):
            raise ConfigError(f"lr_min ({self.lr_min!r}) must be a number >= 0")
        if self.lr_min >= self.lr_max:
            raise ConfigError(f"lr_min ({self.lr_min}) must be below lr_max ({self.lr_max})")
        if self.mode == "exp" and self.lr_min <= 0:
            raise ConfigError("lr_min must be > 0 for mode 'exp' (a geometric ramp cannot start "
                              "at 0)")
        if self.max_steps is not None and (not isinstance(self.max_steps, int)
                                           or self.max_steps < 1):
            raise ConfigError(f"max_steps ({self.max_steps!r}) must be a positive integer, or "
                              "None")

    @property
    def run_steps(self) -> int:
        return min(self.steps, self.max_steps or self.steps)

    def schedule(self):
        return (linear_range if self.mode == "linear" else exp_range)(self.lr_min, self.lr_max,
                                                                       self.steps)


@dataclass(frozen=True)
class Divergence:
    """The range test's stop rule: the smoothed train loss (bias-corrected EMA, `smoothing`)
    above `factor` times its best so far. A NaN/inf loss always stops a run (the engine's rule).
    The smoothing is also how the result's smooth_loss column is read."""

    factor: float = 4.0
    smoothing: float = DEFAULT_SMOOTHING

    def __post_init__(self):
        if self.factor <= 1:
            raise ConfigError(f"divergence_factor ({self.factor}) must be > 1, or None to "
                              "disable")
        if not 0 <= self.smoothing < 1:
            raise ConfigError(f"smoothing ({self.smoothing}) must be in [0, 1)")

    def __call__(self, losses: list[float]) -> bool:
        """The rule on a whole history (a fresh watch over it; a run consults its own watch)."""
        return self.watch()(losses)

    def watch(self) -> "DivergenceWatch":
        """A watch for one run: consulted with the run's growing list of losses, it smooths
        only the losses added since it last looked."""
        return DivergenceWatch(self)


class DivergenceWatch:
    """Divergence for one run, in O(1) per loss: the watch keeps the smoothed value and its best
    so far. Handed another list, or a shorter one (a resume rebuilds the list), it starts over."""

    def __init__(self, rule: Divergence):
        self.rule = rule
        self._losses: list | None = None
        self._seen, self._smoothed, self._last, self._best = 0, None, None, None

    def __call__(self, losses: list[float]) -> bool:
        if losses is not self._losses or len(losses) < self._seen:
            self._losses, self._seen = losses, 0
            self._smoothed, self._best = SmoothedLoss(self.rule.smoothing), None
        for loss in losses[self._seen:]:
            self._last = self._smoothed.add(float(loss))
            self._best = self._last if self._best is None else min(self._best, self._last)
        self._seen = len(losses)
        return self._best is not None and bool(self._last > self.rule.factor * self._best)



def lr_range_test(model: torch.nn.Module, train, sweep: Sweep, *, momentum=0.9,
                  weight_decay=None, optimizer="sgd", test=None, every: Every | None = None,
                  stop: Divergence | None = Divergence(), out=None,
                  compute: Compute | None = None, loss=None, progress: bool | None = None
                  ) -> RangeTestResult:
    """Sweep the lr as `sweep` says; the model (and a given optimizer) is left as it was.

    momentum: a constant or a schedule (Fig 15a ramps 0.95 -> 0.85 over the sweep).
    weight_decay: a constant or schedule; None keeps the optimizer's own.
    test: evaluated every `every.eval` updates (default: 20 points over the sweep); Smith reads
    the range test off the test loss. every.log (default 10) is how often `stop` is consulted.
    stop: the divergence rule (None: never stop early; a NaN/inf loss always stops).
    out, compute, loss: as for `fit` (any batch, any loss; the rules read the loss). The
    folder's settings include the sweep's (lr_min, lr_max, mode,
    divergence factor, smoothing, eval_every, log_every), so resuming with any of them changed
    is refused. The model is left as it was in every case, also after a resume (which loads
    the checkpoint into it) and after a RunInterrupted.
    """
    job = range_test_job(model, train, sweep, momentum=momentum, weight_decay=weight_decay,
                         optimizer=optimizer, test=test, every=every, stop=stop, out=out,
                         compute=compute, loss=loss)
    user_optimizer = optimizer if isinstance(optimizer, torch.optim.Optimizer) else None
    with preserved_state(model, user_optimizer):
        # alone and eager: the model and optimizer handed in are the ones the sweep trains
        run = fit_many([job], Execution(fuse="off", capture="off"), progress=progress)[0]
    return range_test_result(job, run)


def range_test_job(model: torch.nn.Module, train, sweep: Sweep, *, momentum=0.9,
                   weight_decay=None, optimizer="sgd", test=None, every: Every | None = None,
                   stop: Divergence | None = Divergence(), out=None,
                   compute: Compute | None = None, loss=None) -> Job:
    """The training run a range test is (the same engine with another schedule) as a Job;
    lr_range_test's arguments. The job trains `model` itself: lr_range_test restores it
    afterwards, a Job does not. `range_test_result(job, result)` reads the run back."""
    if every is None:
        every = Every(log=10, eval=max(1, sweep.steps // 20) if test is not None else 0)
    every = replace(every, log=min(every.log, sweep.run_steps))
    folder = as_folder(out)
    if folder is not None:
        # the sweep's settings go into the run's settings: a resume must be the same sweep
        # (log_every too: the divergence rule is consulted every log_every steps)
        folder = replace(folder, config={**folder.config, "range_test": _sweep_settings(
            sweep, stop, every)})
    return Job(model=model, train=train, steps=sweep.run_steps, lr=sweep.schedule(),
               momentum=momentum, weight_decay=weight_decay, optimizer=optimizer, test=test,
               every=every, out=folder, compute=compute or Compute(),
               should_stop=None if stop is None else stop.watch(), loss=loss)


def _sweep_settings(sweep: Sweep, stop: Divergence | None, every: Every) -> dict:
    return {"lr_min": sweep.lr_min, "lr_max": sweep.lr_max, "steps": sweep.steps,
            "mode": sweep.mode, "divergence_factor": stop.factor if stop else None,
            "smoothing": stop.smoothing if stop else DEFAULT_SMOOTHING,
            "eval_every": every.eval, "log_every": every.log,
            **({"max_steps": sweep.run_steps} if sweep.run_steps < sweep.steps else {})}


def range_test_result(job: Job, run: RunResult) -> RangeTestResult:
    """The RangeTestResult of a range-test job's finished run: the sweep is read off the job
    (its lr schedule, its stop rule, its cadence), so nothing travels beside it."""
    ramp = job.lr
    sweep = Sweep(ramp.start, ramp.end, ramp.total, "linear" if ramp.kind == "linear_range" else "exp",
                  job.steps if job.steps < ramp.total else None)
    stop = job.should_stop.rule if isinstance(job.should_stop, DivergenceWatch) else None
    wd = job.weight_decay
    settings = {**_sweep_settings(sweep, stop, job.every),
                "weight_decay": None if wd is None else (
                    wd.value if getattr(wd, "kind", None) == "constant" else describe_schedule(wd)),
                **(job.out.config if job.out else {}), "steps_done": run.steps_done}
    settings.pop("range_test", None)
    return RangeTestResult(run.metrics, sweep.mode, run.status, settings)


def weight_decay_sweep(model: torch.nn.Module, train, sweep: Sweep, *, weight_decays,
                       out=None, **range_test_kwargs) -> list[RangeTestResult]:
    """One range test per weight decay, each from the same initial state and data order
    (Smith 2018 Figs 5b, 11b, 15a). With `out` (a path or a Folder), each run has its own
    folder in it, `weight_decay=<value>`, resumed or overwritten as the Folder says."""
    out = as_folder(out)
    results = []
    for wd in weight_decays:
        folder = None if out is None else replace(out, path=out.path / f"weight_decay={float(wd)!r}")
        results.append(lr_range_test(model, train, sweep, weight_decay=float(wd), out=folder,
                                     **range_test_kwargs))
    return results


# -- suggestions: pure functions of a result -------------------------------------------------

def suggest(result: RangeTestResult) -> dict:
    """Every rule's suggestion plus a diagnosis of the curve's quality."""
    out = {"smith": suggest_smith(result), "valley": suggest_valley(result),
           "steep": suggest_steep(result), "diagnostics": diagnose(result)}
    return out


def suggest_smith(result: RangeTestResult) -> dict:
    """Smith's reading: the largest lr before the test loss turns up (or accuracy falls).

    lr_max is the lr at the minimum of the test loss (3-point centred mean, to damp single noisy
    evaluations); without test rows the smoothed train loss stands in. lr_min = lr_max/10, the
    1cycle minimum Smith recommends (2018 §5). Also reported: where the test accuracy peaks.
    """
    test = result.test.dropna(subset=["loss"])
    if len(test) >= 3:
        loss = test["loss"].rolling(3, center=True, min_periods=1).mean().to_numpy()
        i = int(np.nanargmin(loss))
        lr_max, basis = float(test["lr"].iloc[i]), "test loss"
        acc = test["accuracy"].astype(float).rolling(3, center=True,
                                                      min_periods=1).mean().to_numpy()
        # no accuracy where the task does not classify (a regression, a step function's loss)
        lr_best_acc = (float(test["lr"].iloc[int(np.nanargmax(acc))])
                       if np.isfinite(acc).any() else None)
    else:
        train = result.train
        if train.empty:
            return {"lr_max": None, "lr_min": None, "basis": "no data"}
        i = int(np.nanargmin(train["smooth_loss"].to_numpy()))
        lr_max, basis, lr_best_acc = float(train["lr"].iloc[i]), "smoothed train loss", None
    return {"lr_max": lr_max, "lr_min": lr_max / 10, "basis": basis,
            "lr_at_best_test_accuracy": lr_best_acc}


def suggest_valley(result: RangeTestResult) -> dict:
    """The longest stretch over which the smoothed train loss keeps falling; the lr two thirds of
    the way along it (in step order, i.e. along the sweep)."""
    loss = result.train["smooth_loss"].to_numpy()
    lrs = result.train["lr"].to_numpy()
    if len(loss) < 3:
        return {"lr": None}
    best_start, best_len, start = 0, 0, 0
    for i in range(1, len(loss)):
        if loss[i] > loss[i - 1]:
            start = i
        elif i - start > best_len:
            best_start, best_len = start, i - start
    if best_len == 0:
        return {"lr": None}
    pick = best_start + (2 * best_len) // 3
    return {"lr": float(lrs[pick]), "valley": [float(lrs[best_start]),
                                               float(lrs[best_start + best_len])]}


def suggest_steep(result: RangeTestResult) -> dict:
    """The lr where the smoothed train loss falls fastest: slope against log10(lr) for an
    exponential sweep, against lr for a linear one. The sweep's last tenth is ignored, where the
    loss usually blows up."""
    train = result.train
    loss, lrs = train["smooth_loss"].to_numpy(), train["lr"].to_numpy()
    if len(loss) < 5:
        return {"lr": None}
    x = np.log10(np.maximum(lrs, 1e-12)) if result.mode == "exp" else lrs
    slope = np.gradient(loss, x)
    stop = max(2, int(len(slope) * 0.9))
    i = int(np.nanargmin(slope[:stop]))
    return {"lr": float(lrs[i])}


def diagnose(result: RangeTestResult) -> list[str]:
    """Warnings about a curve that should not be trusted as it stands."""
    notes = []
    train = result.train
    if len(train) < 20:
        notes.append(f"only {len(train)} steps: too few for a reliable reading")
    if result.status == "completed":
        notes.append("the loss never diverged: lr_max may lie above the range tested")
    if result.status == "diverged":
        notes.append(f"NaN/inf loss at step {int(train['step'].iloc[-1])}")
    if len(train) >= 5:
        smooth = train["smooth_loss"].to_numpy()
        if smooth.min() > 0.95 * smooth[0]:
            notes.append("the loss never fell by 5%: range too high, too short, or a flat curve")
    if result.test.empty:
        notes.append("no test evaluations: Smith's rule fell back to the train loss")
    reading = suggest_smith(result)["lr_max"]
    start = result.settings.get("lr_min", 0.0)
    if reading is not None and reading <= start:
        notes.append(f"Smith's reading is the sweep's first lr ({reading:g}): no lr in the "
                     "range lowered the loss; start the sweep lower, or check the model and "
                     "data (the valley rule's reading is beside it)")
    return notes
