"""The LR range test (Smith 2015 §3.3; Smith 2018 §4.1): the training loop with a range schedule.

`lr_range_test` is `fit` with a linear (Smith) or exponential (fastai-style) lr ramp, a divergence
stop, and the model, optimizer, BatchNorm statistics and RNG restored exactly afterwards, also
when the sweep ends in an exception. The raw per-step losses are kept; smoothing and the lr
suggestions are pure functions of the stored result, so a saved test can be re-read with another
rule without retraining.

A sweep can have a run folder, like a training run: the paper's range tests run up to 20,000
iterations, too long to lose to an interruption. `out_dir` holds the same metrics.csv, run.json
and checkpoints/ as `fit` writes, and run.json's settings carry the sweep's own (the
"range_test" entry), so a resume continues only the same sweep. A resumed sweep is bit-identical
to an uninterrupted one: fit hands the divergence rule every loss logged before the resume and
consults it at the same steps, so the sweep stops where it would have. Resuming a sweep that
already ended returns its stored rows without training.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import io
from .errors import ConfigError
from .fused import Job
from .schedules import exp_range, linear_range
from .train import describe_schedule, rng_state, set_rng_state

MODES = ("linear", "exp")


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
        return train.assign(smooth_loss=smooth_losses(train["loss"].to_numpy(),
                                                      self.settings.get("smoothing", 0.98)))

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
                     title: str | None = None) -> dict:
    """Write `<name>.csv` (all runs, tidy), `<name>.json` (settings, suggestions per run,
    provenance) and `<name>.png`; runs are told apart by their weight decay."""
    import matplotlib.pyplot as plt

    from .plots import plot_range_test
    from .provenance import provenance
    out_dir = Path(out_dir)
    frame = pd.concat([r.frame().assign(run=i) for i, r in enumerate(results)], ignore_index=True)
    runs = [{"run": i, "weight_decay": r.settings.get("weight_decay"), "status": r.status,
             "steps_done": r.settings.get("steps_done"), "suggestions": r.suggest()}
            for i, r in enumerate(results)]
    # "status" marks the folder as holding a finished test (see runs.RunDir)
    doc = {"status": "completed", "mode": results[0].mode, "settings": results[0].settings,
           "runs": runs, "provenance": provenance(results[0].settings.get("device"))}
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


def smooth_losses(losses: np.ndarray, beta: float = 0.98) -> np.ndarray:
    """Exponential moving average with bias correction, so early values are not pulled to 0."""
    losses = np.asarray(losses, dtype=float)
    out = np.empty_like(losses)
    avg = 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        out[i] = avg / (1 - beta ** (i + 1))
    return out


@contextlib.contextmanager
def preserved_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None):
    """Snapshot model (parameters and BatchNorm statistics), optimizer and RNG; restore on exit.

    The snapshot lives on the CPU so the test does not double GPU memory, and it is restored in
    `finally`, so an exception, a KeyboardInterrupt or a NaN leaves everything as it was.
    """
    model_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    grads = [None if p.grad is None else p.grad.detach().to("cpu", copy=True)
             for p in model.parameters()]
    optim_state = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None
    training = model.training
    rng = rng_state()
    try:
        yield
    finally:
        model.load_state_dict(model_state)
        model.train(training)
        for p, g in zip(model.parameters(), grads):
            p.grad = None if g is None else g.to(p.device)
        if optimizer is not None:
            optimizer.load_state_dict(optim_state)
        set_rng_state(rng)


def lr_range_test(model: torch.nn.Module, train, *, lr_min: float, lr_max: float, steps: int,
                  mode: str = "linear", momentum=0.9, weight_decay=None,
                  optimizer: str | torch.optim.Optimizer = "sgd", test=None,
                  eval_every: int | None = None,
                  log_every: int = 10, divergence_factor: float | None = 4.0,
                  smoothing: float = 0.98, precision: str = "auto",
                  channels_last: bool | None = None, progress: bool | None = None,
                  config: dict | None = None, out_dir: str | Path | None = None,
                  checkpoint_every: int = 0, resume: bool = False,
                  overwrite: bool = False, max_steps: int | None = None) -> RangeTestResult:
    """Sweep the lr from lr_min to lr_max over `steps` updates; the model is left as it was.

    mode: "linear" (Smith's range test) or "exp" (geometric ramp, as fastai's lr_find).
    momentum: a constant or a schedule (Fig 15a ramps 0.95 -> 0.85 over the sweep).
    weight_decay: a constant or schedule; None keeps the optimizer's own.
    test: evaluated every `eval_every` updates (default: 20 points over the sweep); Smith reads
    the range test off the test loss.
    divergence_factor: stop once the smoothed train loss exceeds this factor times its best so far
    (None: never; a NaN/inf loss always stops). It is checked every `log_every` updates and at
    each evaluation.
    out_dir, checkpoint_every, resume, overwrite: as for `fit`. The folder's settings include the
    sweep's (lr_min, lr_max, mode, divergence_factor, smoothing, eval_every, log_every), so
    resuming with any of them changed is refused. The model is left as it was in every case,
    also after a resume (which loads the checkpoint into it) and after a RunInterrupted.
    max_steps: stop after this many updates of the `steps`-long sweep, whose lrs stay as they are
    (a quick pass over a long sweep's first steps, not a shorter sweep).
    """
    job, settings = range_test_job(
        model, train, lr_min=lr_min, lr_max=lr_max, steps=steps, mode=mode, momentum=momentum,
        weight_decay=weight_decay, optimizer=optimizer, test=test, eval_every=eval_every,
        log_every=log_every, divergence_factor=divergence_factor, smoothing=smoothing,
        precision=precision, config=config, out_dir=out_dir, checkpoint_every=checkpoint_every,
        resume=resume, overwrite=overwrite, max_steps=max_steps)
    user_optimizer = optimizer if isinstance(optimizer, torch.optim.Optimizer) else None
    with preserved_state(model, user_optimizer):
        run = job.fit(channels_last=channels_last, progress=progress)
    return range_test_result(run, settings)


def range_test_job(model: torch.nn.Module, train, *, lr_min: float, lr_max: float, steps: int,
                   mode: str = "linear", momentum=0.9, weight_decay=None, optimizer="sgd",
                   test=None, eval_every: int | None = None, log_every: int = 10,
                   divergence_factor: float | None = 4.0, smoothing: float = 0.98,
                   precision: str = "auto", config: dict | None = None,
                   out_dir: str | Path | None = None, checkpoint_every: int = 0,
                   resume: bool = False, overwrite: bool = False,
                   max_steps: int | None = None) -> tuple[Job, dict]:
    """The training run a range test is (the same loop with another schedule), as a fused.Job,
    and the sweep's settings; `range_test_result` reads the run back. lr_range_test's arguments;
    the job trains `model` itself (lr_range_test restores it afterwards, a Job does not)."""
    if mode not in MODES:
        raise ConfigError(f"mode {mode!r} is unknown; use 'linear' or 'exp'")
    if not (isinstance(lr_min, (int, float)) and isinstance(lr_max, (int, float))) or lr_min < 0:
        raise ConfigError(f"lr_min ({lr_min!r}) must be a number >= 0")
    if lr_min >= lr_max:
        raise ConfigError(f"lr_min ({lr_min}) must be below lr_max ({lr_max})")
    if mode == "exp" and lr_min <= 0:
        raise ConfigError("lr_min must be > 0 for mode 'exp' (a geometric ramp cannot start at 0)")
    if divergence_factor is not None and divergence_factor <= 1:
        raise ConfigError(f"divergence_factor ({divergence_factor}) must be > 1, or None to disable")
    if not 0 <= smoothing < 1:
        raise ConfigError(f"smoothing ({smoothing}) must be in [0, 1)")
    schedule = (linear_range if mode == "linear" else exp_range)(lr_min, lr_max, steps)
    if eval_every is None:
        eval_every = max(1, steps // 20) if test is not None else 0
    should_stop = _diverging(divergence_factor, smoothing) if divergence_factor else None
    if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 1):
        raise ConfigError(f"max_steps ({max_steps!r}) must be a positive integer, or None")
    run_steps = min(steps, max_steps or steps)
    log_every = min(log_every, run_steps)
    sweep = {"lr_min": lr_min, "lr_max": lr_max, "steps": steps, "mode": mode,
             "divergence_factor": divergence_factor, "smoothing": smoothing,
             "eval_every": eval_every, "log_every": log_every,
             **({"max_steps": run_steps} if run_steps < steps else {})}
    settings = {**sweep, "weight_decay": (describe_schedule(weight_decay) if callable(weight_decay)
                                          else weight_decay), **(config or {})}
    # the sweep's settings go into fit's settings key: a resume must be the same sweep
    # (log_every too: the divergence rule is consulted every log_every steps)
    job = Job(model, train, run_steps, schedule, momentum, weight_decay, optimizer, test,
              eval_every, log_every, out_dir, checkpoint_every, resume, overwrite, precision,
              should_stop, {**(config or {}), "range_test": sweep})
    return job, settings


def range_test_result(run, settings: dict) -> RangeTestResult:
    """The RangeTestResult of a range test's finished run (a fit RunResult)."""
    return RangeTestResult(run.metrics, settings["mode"], run.status,
                           {**settings, "steps_done": run.steps_done})


def _diverging(factor: float, beta: float):
    def should_stop(losses: list[float]) -> bool:
        smooth = smooth_losses(np.asarray(losses), beta)
        return bool(smooth[-1] > factor * smooth.min())
    return should_stop


def weight_decay_sweep(model: torch.nn.Module, train, *, weight_decays, **range_test_kwargs
                       ) -> list[RangeTestResult]:
    """One range test per weight decay, each from the same initial state and data order
    (Smith 2018 Figs 5b, 11b, 15a). With `out_dir`, each run has its own folder in it,
    `weight_decay=<value>`."""
    out_dir = range_test_kwargs.pop("out_dir", None)
    results = []
    for wd in weight_decays:
        folder = None if out_dir is None else Path(out_dir) / f"weight_decay={float(wd)!r}"
        results.append(lr_range_test(model, train, weight_decay=float(wd), out_dir=folder,
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
        acc = test["accuracy"].rolling(3, center=True, min_periods=1).mean().to_numpy()
        lr_best_acc = float(test["lr"].iloc[int(np.nanargmax(acc))])
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
    return notes
