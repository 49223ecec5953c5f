"""Run a figure's curves under a profile and keep every row: what the notebooks call.

One call per figure: `run_figure("fig8a", splits, profile="small", ...)` trains every run of the
figure (profiles.figure_runs: each curve for each seed) and returns tidy rows (one per logged
step and split, with the curve, replicate, batch size and init as columns) plus one summary row
per run. A run goes RunSpec -> Job (`job_for`) -> RunResult and nothing in between: the engine
trains the Jobs in the groups `engine.plan` gives them (fused where Job.fusion_key allows and
`Execution.fuse` says so), and under Ray each of those groups is one task, which gets the
RunSpecs of its runs and builds the same Jobs on its worker. Each run keeps the per-image results
of its last LAST_K evaluations (FigureResult.per_image), which the claims read. Training runs write their folder
under `run_dir` (range tests too: under `paper` they run up to 20,000 iterations), so an
interrupted notebook picks up where it stopped when rerun.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import torch

from .. import engine, launch
from ..device import resolve_precision
from ..engine import Every, Folder, Job, RunResult, fit_many
from ..errors import ConfigError
from ..experiment import Splits, make_model, make_schedules
from ..progress import FigureBar
from ..range_test import RangeTestResult, Sweep, range_test_job
from .claims.smith import LAST_K
from .profiles import RunSpec, figure_runs, model_for, runs_for, scale_for, seeds_for

NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "synthetic": 10}
LEAD_COLUMNS = ["figure", "curve", "replicate", "seed", "batch_size", "init"]


@dataclass(frozen=True)
class Execution(engine.Execution):
    """How a figure's runs execute; none of it changes what a run is, only where and how fast.

    precision, fuse, capture (and max_members): the engine's Execution, checked there once.
    launcher: "sequential" here, or "ray": Ray tasks on every GPU of this machine or of the
    cluster at `ray_address` ($RAY_ADDRESS), `gpus_per_run` GPUs per task (fractions share a
    GPU), `max_retries` retries that resume from checkpoints (paperlib.launch).
    """

    launcher: str = "sequential"
    gpus_per_run: float = 1.0
    ray_address: str = ""
    max_retries: int = 2

    @property
    def engine(self) -> engine.Execution:
        """The part of it the engine reads (what a Ray task hands its worker's fit_many)."""
        return engine.Execution(precision=self.precision, fuse=self.fuse, capture=self.capture,
                                max_members=self.max_members)


@dataclass
class FigureResult:
    figure: str
    metrics: pd.DataFrame   # tidy rows of every run
    runs: pd.DataFrame      # one row per run: status, diverged_at, final test loss/accuracy
    settings: dict = field(default_factory=dict)
    # (curve, replicate) -> {"steps", "correct", "loss"} of the run's last LAST_K evaluations
    per_image: dict = field(default_factory=dict)


def run_figure(figure: str, splits: Splits, *, profile: str, seeds: list[int] | None = None,
               run_dir: str | Path | None = None, rerun: bool = False, max_steps: int = 0,
               execution: Execution = Execution(), progress: bool | None = None,
               log=print) -> FigureResult:
    """Train every run of `figure` under `profile` for each seed (default: the profile's).

    max_steps > 0 stops every run after that many steps of its own schedule (the first steps of
    the real run, not a shorter schedule): a quick pass over a profile's real models, optimizers,
    BN shards and batch sizes. Such runs are marked `truncated`, keep their folders apart
    (`<profile>-max<N>`), and every verdict on them is "not testable at this scale".
    progress: one bar for the figure, moving with every block of steps (the run, images/s, time
    left); None shows it only where someone watches (paperlib.progress).
    """
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 0:
        raise ConfigError(f"max_steps ({max_steps!r}) must be an integer >= 0 (0: the full runs)")
    if execution.launcher == "ray" and not run_dir:
        raise ConfigError("launcher 'ray' needs run_dir: a folder every node can read, where "
                          "each run keeps its state")
    runner = launch.launcher(execution.launcher, address=execution.ray_address or None,
                             gpus_per_run=execution.gpus_per_run,
                             max_retries=execution.max_retries)
    seeds = list(seeds) if seeds else list(seeds_for(figure, profile))
    specs = figure_runs(figure, profile, seeds, max_steps=max_steps)
    folder = profile if not max_steps else f"{profile}-max{max_steps}"
    root = Path(run_dir).resolve() / folder / figure / splits.dataset if run_dir else None
    jobs = [job_for(s, splits, root=root, rerun=rerun, execution=execution) for s in specs]
    bar = FigureBar(figure, jobs, [f"{s.label}, seed {s.seed}" for s in specs], show=progress,
                    folders=[j.out.path if j.out else None for j in jobs],
                    poll=runner.name != "sequential")
    results: list[RunResult | None] = [None] * len(specs)

    def done(i: int, result: RunResult) -> None:
        results[i] = result
        bar.advance(i, trained=result.wall_s > 0)
        stopped = _stopped_at(specs[i], result)
        ended = result.status if stopped is None else f"{result.status} at step {stopped}"
        line = (f"{figure} | {specs[i].label} | seed {specs[i].seed} | TBS {specs[i].batch_size} "
                f"| {ended} | {result.wall_s:.0f} s")
        bar.write(line) if log is print else log(line)

    try:
        if runner.name == "sequential":
            fit_many(jobs, execution.engine, on_done=done, progress=bar)
        else:
            if rerun:  # a retried task must resume, not start over: clear the folders once, here
                for job in jobs:
                    shutil.rmtree(job.out.path, ignore_errors=True)
            groups = [g.members for g in task_groups(jobs, execution, runner)]
            del jobs  # built here only to be grouped; each worker builds its own
            tasks = [{"splits": splits.spec, "runs": [specs[i] for i in group],
                      "root": root, "execution": execution.engine,
                      "threads": torch.get_num_threads()} for group in groups]
            runner.map(train_runs, tasks, poll=bar.poll,
                       on_result=lambda t, out: [done(i, r) for i, r in zip(groups[t], out)])
    finally:
        bar.close()
    frames = [run_rows(s, r) for s, r in zip(specs, results)]
    per_image = {(s.label, s.replicate): r.per_image for s, r in zip(specs, results)
                 if r.per_image is not None}
    metrics = pd.concat(frames, ignore_index=True)
    metrics = metrics[LEAD_COLUMNS + [c for c in metrics.columns if c not in LEAD_COLUMNS]]
    summary = pd.DataFrame([run_summary(s, r, len(splits.test_split.labels))
                            for s, r in zip(specs, results)])
    return FigureResult(figure, metrics, summary.astype({"diverged_at": "Int64"}),
                        {"model": model_for(figure, profile),
                         "eval_every": scale_for(figure, profile).eval_every,
                         "seeds": seeds, **splits.describe(),
                         "execution": {"precision": resolve_precision(execution.precision,
                                                                      splits.device),
                                       "fuse": execution.fuse, "capture": execution.capture,
                                       "launcher": execution.launcher}},
                        per_image)


def task_groups(jobs: list[Job], execution: Execution, runner) -> list[engine.Group]:
    """The Ray tasks of a figure: the engine's plan of its jobs on the device the tasks get (a
    GPU where each task has one, whatever the driver runs on), so that each task is one group
    its worker's fit_many trains as planned here."""
    device_type = "cuda" if runner.gpus_per_task > 0 else "cpu"
    return engine.plan(jobs, execution.engine, device_type=device_type)


def job_for(spec: RunSpec, splits: Splits, *, root: Path | None = None, rerun: bool = False,
            execution: engine.Execution = engine.Execution()) -> Job:
    """One run of a figure as the engine's Job: its model (seeded, on the data's device), its
    loader, schedules, cadence, stop rule, precision (the execution's), per-image records of its
    last LAST_K evaluations, and folder (`root`/<curve>/seed<N>, checkpointed four times,
    resumed unless `rerun`). The estimate calls it too, with stand-in splits: one RunSpec -> Job."""
    model = make_model(spec.model, num_classes=NUM_CLASSES[splits.dataset], init=spec.init,
                       seed=spec.seed, device=splits.device, bn_momentum=spec.bn_momentum,
                       bn_shards=spec.bn_shards)
    steps = spec.run_steps
    train = splits.train(spec.batch_size, spec.seed)
    sched = dict(spec.schedule)
    kind = sched.pop("kind")
    lr_s, mom_s = make_schedules(kind, total=spec.steps, **sched)
    out = None
    if root is not None:
        out = Folder(root / _slug(spec.label) / f"seed{spec.seed}", resume=not rerun,
                     overwrite=rerun, config=run_config(spec, splits))
    checkpoint = max(1, steps // 4) if out else 0
    every = Every(log=spec.log_every, eval=spec.eval_every, checkpoint=checkpoint)
    compute = execution.compute()
    if spec.range_test:
        job = range_test_job(
            model, train, Sweep(sched["lr_min"], sched["lr_max"], spec.steps, "linear",
                                steps if spec.truncated else None),
            momentum=mom_s, weight_decay=spec.weight_decay, optimizer=spec.optimizer,
            test=splits.test, every=every, out=out, compute=compute)
        return replace(job, per_image=LAST_K)
    return Job(model=model, train=train, steps=steps, lr=lr_s, momentum=mom_s,
               weight_decay=spec.weight_decay, optimizer=spec.optimizer, test=splits.test,
               every=every, out=out, compute=compute, per_image=LAST_K)


def run_config(spec: RunSpec, splits: Splits) -> dict:
    """What a run's folder records about it (and what a resume must match)."""
    return {"figure": spec.figure, "curve": spec.label, "profile": spec.profile,
            "dataset": splits.dataset,
            "model": spec.model, "batch_size": spec.batch_size, "init": spec.init,
            "seed": spec.seed, "bn_shards": spec.bn_shards}


def run_rows(spec: RunSpec, result: RunResult) -> pd.DataFrame:
    """A run's tidy rows with its identity as columns; a range test's with the smoothed loss."""
    rows = result.metrics
    if spec.range_test:
        rows = RangeTestResult(rows, "linear", result.status).frame()
    return rows.assign(figure=spec.figure, curve=spec.label, replicate=spec.replicate,
                       seed=spec.seed, batch_size=spec.batch_size, init=spec.init, **spec.extra)


def run_summary(spec: RunSpec, result: RunResult, test_images: int) -> dict:
    """One row per run: how it ended, where it stopped, its final and best test values."""
    rows = result.metrics
    test = rows[rows["split"] == "test"]
    last = test.iloc[-1] if len(test) else None
    train_steps = rows.loc[rows["split"] == "train", "step"]
    return {"figure": spec.figure, "curve": spec.label, "replicate": spec.replicate,
            "seed": spec.seed, "batch_size": spec.batch_size, "init": spec.init, **spec.extra,
            "status": result.status,
            "diverged_at": _stopped_at(spec, result),
            "steps": spec.steps, "steps_done": int(train_steps.max()) + 1 if len(rows) else 0,
            "truncated": spec.truncated, "bn_shards": spec.bn_shards,
            "test_images": test_images,
            "final_test_loss": None if last is None else last["loss"],
            "final_test_accuracy": None if last is None else last["accuracy"],
            "best_test_accuracy": test["accuracy"].max() if len(test) else None,
            "wall_s": round(result.wall_s, 1)}


def _stopped_at(spec: RunSpec, result: RunResult) -> int | None:
    """The step a run ended early at: a training run's NaN, or a range test's last step (it
    diverged, or its loss went above 4x its best); None for a run that completed."""
    if result.status == "completed":
        return None
    if spec.range_test:
        rows = result.metrics
        return int(rows.loc[rows["split"] == "train", "step"].max())
    return result.diverged_at


_WORKER_SPLITS: dict[str, Splits] = {}


def train_runs(task: dict) -> list[RunResult]:
    """Train a Ray task's runs on a worker and return their RunResults. The data are rebuilt
    from the splits' settings once per process, on the worker's GPU if it was given one."""
    launch.worker_threads(task.get("threads", 0))
    key = json.dumps(task["splits"], sort_keys=True)
    if key not in _WORKER_SPLITS:
        _WORKER_SPLITS[key] = Splits(**task["splits"], device="auto")
    splits, execution = _WORKER_SPLITS[key], task["execution"]
    jobs = [job_for(s, splits, root=task["root"], execution=execution) for s in task["runs"]]
    return fit_many(jobs, execution)


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in label).strip("_")


def settings_table(figure: str, profile: str) -> pd.DataFrame:
    """The runs of `figure` in the paper and under `profile`, side by side, one row per curve."""
    model_name, paper_model = model_for(figure, profile), model_for(figure, "paper")
    rows = []
    for paper, ours in zip(runs_for(figure, "paper"), runs_for(figure, profile)):
        rows.append({"curve": ours.label, "model": f"{model_name} ({paper_model})",
                     "TBS": f"{ours.batch_size} ({paper.batch_size})",
                     "iterations": f"{ours.steps} ({paper.steps})",
                     "schedule": _describe(ours.schedule),
                     "weight decay": f"{ours.weight_decay:g}", "optimizer": ours.optimizer,
                     "BN momentum": f"{ours.bn_momentum:g} ({paper.bn_momentum:g})",
                     "BN shards": f"{ours.bn_shards} ({paper.bn_shards})"})
    return pd.DataFrame(rows)


def _describe(schedule: dict) -> str:
    s = dict(schedule)
    kind = s.pop("kind")
    s.pop("style", None)
    return kind + " " + " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                 for k, v in s.items())
