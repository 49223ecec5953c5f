"""Run a figure's curves under a profile and keep every row: what the notebooks call.

One call per figure: `run_figure("fig8a", profile="small", ...)` trains every curve of the figure
for every replicate (seed) and returns tidy rows (one per logged step and split, with the curve,
replicate, batch size and init as columns) plus one summary row per run. Training runs write
their folder under `run_dir` (range tests too: under `paper` they run up to 20,000 iterations),
so an interrupted notebook picks up where it stopped when rerun.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from .. import launch
from ..errors import ConfigError
from ..experiment import Splits, make_model, make_schedules
from ..fused import Job, fit_many
from ..progress import FolderProgress
from ..range_test import range_test_job, range_test_result
from .profiles import RunSpec, jittered, model_for, runs_for, scale_for, seeds_for

NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "synthetic": 10}


@dataclass
class FigureResult:
    figure: str
    metrics: pd.DataFrame   # tidy rows of every run
    runs: pd.DataFrame      # one row per run: status, diverged_at, final test loss/accuracy
    settings: dict = field(default_factory=dict)


def run_figure(figure: str, splits: Splits, *, profile: str, seeds: list[int] | None = None,
               run_dir: str | Path | None = None, rerun: bool = False, max_steps: int = 0,
               fuse="auto", launcher: str = "sequential", gpus_per_run: float = 1.0,
               ray_address: str | None = None, max_retries: int = 2,
               progress: bool | None = None, log=print) -> FigureResult:
    """Train every run of `figure` under `profile` for each seed (default: the profile's).

    max_steps > 0 stops every run after that many steps of its own schedule (the first steps of
    the real run, not a shorter schedule): a quick pass over a profile's real models, optimizers,
    BN shards and batch sizes. Such runs are marked `truncated`, keep their folders apart
    (`<profile>-max<N>`), and every verdict on them is "not testable at this scale".
    fuse: "auto" trains runs that can share a model as one fused model on CUDA, and one after
    another on the CPU, where that measured faster (paperlib.fused); True or False forces it.
    launcher: "sequential" trains here; "ray" fans the runs out as Ray tasks (paperlib.launch):
    every GPU of this machine, or the cluster at `ray_address` / $RAY_ADDRESS, `gpus_per_run`
    GPUs per task (fractions share a GPU), `max_retries` retries that resume from checkpoints.
    It needs `run_dir` on storage every node can read.
    progress: one bar for the figure (runs done, time left); None shows it in interactive
    sessions only (paperlib.progress).
    """
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 0:
        raise ConfigError(f"max_steps ({max_steps!r}) must be an integer >= 0 (0: the full runs)")
    if launcher == "ray" and not run_dir:
        raise ConfigError("launcher 'ray' needs run_dir: a folder every node can read, where "
                          "each run keeps its state")
    runner = launch.launcher(launcher, address=ray_address or None, gpus_per_run=gpus_per_run,
                             max_retries=max_retries)
    seeds = list(seeds) if seeds else list(seeds_for(figure, profile))
    folder = profile if not max_steps else f"{profile}-max{max_steps}"
    model_name = model_for(figure, profile)
    eval_every = scale_for(figure, profile).eval_every
    plan, runs = [], []
    for spec in runs_for(figure, profile):
        for replicate, seed in enumerate(seeds):
            batch_size, init = jittered(spec, replicate, profile)
            out_dir = (Path(run_dir).resolve() / folder / figure / splits.dataset
                       / _slug(spec.label) / f"seed{seed}" if run_dir else None)
            plan.append({"figure": figure, "curve": spec.label, "replicate": replicate,
                         "seed": seed, "batch_size": batch_size, "init": init, **spec.extra})
            runs.append({"spec": spec, "model_name": model_name, "batch_size": batch_size,
                         "init": init, "seed": seed, "eval_every": eval_every,
                         "max_steps": max_steps, "out_dir": out_dir, "rerun": rerun,
                         "config": {"figure": figure, "curve": spec.label, "profile": profile,
                                    "dataset": splits.dataset, "model": model_name,
                                    "batch_size": batch_size, "init": init, "seed": seed,
                                    "bn_shards": spec.bn_shards}})
    steps = [min(r["spec"].steps, max_steps) if max_steps else r["spec"].steps for r in runs]
    images = [n * r["batch_size"] for n, r in zip(steps, runs)]
    if runner.name == "sequential":  # one task holding every run: fit_many forms the groups
        tasks = [{"splits": splits, "runs": runs, "fuse": fuse}]
        members = [list(range(len(runs)))]
    else:
        if rerun:  # a retried task must resume, not start over: clear the folders once, here
            for r in runs:
                shutil.rmtree(r["out_dir"], ignore_errors=True)
        members = _task_groups(runs, fused=runner.gpus_per_task > 0)
        tasks = [{"splits": splits.spec, "runs": [{**runs[i], "rerun": False} for i in group],
                  "fuse": fuse, "threads": torch.get_num_threads()} for group in members]
    frames, summaries = [None] * len(runs), [None] * len(runs)
    bar = FolderProgress(figure, [r["out_dir"] for r in runs], images, steps,
                         show=progress, poll=runner.name != "sequential")

    def done(i: int, outcome) -> None:
        rows, status, diverged_at, wall = outcome
        spec, ids = runs[i]["spec"], plan[i]
        frames[i] = rows.assign(**ids)
        test = rows[rows["split"] == "test"]
        last = test.iloc[-1] if len(test) else None
        steps_done = int(rows.loc[rows["split"] == "train", "step"].max()) + 1 if len(rows) else 0
        summaries[i] = {**ids, "status": status, "diverged_at": diverged_at,
                        "steps": spec.steps, "steps_done": steps_done,
                        "truncated": bool(max_steps) and max_steps < spec.steps,
                        "bn_shards": spec.bn_shards,
                        "test_images": len(splits.test_split.labels),
                        "final_test_loss": None if last is None else last["loss"],
                        "final_test_accuracy": None if last is None else last["accuracy"],
                        "best_test_accuracy": test["accuracy"].max() if len(test) else None,
                        "wall_s": round(wall, 1)}
        bar.advance(i, trained=wall > 0)  # a reloaded run took no time
        ended = status if diverged_at is None else f"{status} at step {diverged_at}"
        log(f"{figure} | {ids['curve']} | seed {ids['seed']} | TBS {ids['batch_size']} | "
            f"{ended} | {wall:.0f} s")

    def task_done(t: int, outcomes) -> None:
        if runner.name != "sequential":  # sequential reports each run as it ends, below
            for i, outcome in zip(members[t], outcomes):
                done(i, outcome)

    if runner.name == "sequential":
        tasks[0]["on_done"] = done
    try:
        runner.map(train_runs, tasks, on_result=task_done, poll=bar.poll)
    finally:
        bar.close()
    metrics = pd.concat(frames, ignore_index=True)
    lead = ["figure", "curve", "replicate", "seed", "batch_size", "init"]
    metrics = metrics[lead + [c for c in metrics.columns if c not in lead]]
    return FigureResult(figure, metrics, pd.DataFrame(summaries).astype({"diverged_at": "Int64"}),
                        {"model": model_name, "eval_every": eval_every, "seeds": seeds,
                         **splits.describe()})


def _task_groups(runs: list[dict], fused: bool) -> list[list[int]]:
    """Indices of the runs each Ray task trains: where tasks get GPUs, the runs that fuse
    (paperlib.fused.fusion_key's fields, for runs not built yet) share one; else one each."""
    if not fused:
        return [[i] for i in range(len(runs))]
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(runs):
        s = r["spec"]
        key = (r["batch_size"], s.bn_shards, s.bn_momentum, s.optimizer, s.steps, s.range_test)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


_WORKER_SPLITS: dict[str, Splits] = {}


def train_runs(task: dict) -> list[tuple]:
    """Train a task's runs (a launcher calls this here or on a Ray worker) and return, per run,
    (tidy rows, status, diverged_at, wall seconds). On a worker, the data are rebuilt from the
    splits' settings once per process and placed on the worker's GPU if it was given one."""
    splits = task["splits"]
    if not isinstance(splits, Splits):
        launch.worker_threads(task.get("threads", 0))
        key = json.dumps(splits, sort_keys=True)
        if key not in _WORKER_SPLITS:
            _WORKER_SPLITS[key] = Splits(**splits, device="auto")
        splits = _WORKER_SPLITS[key]
    jobs, readers = zip(*(_job(r["spec"], splits, model_name=r["model_name"],
                               batch_size=r["batch_size"], init=r["init"], seed=r["seed"],
                               eval_every=r["eval_every"], max_steps=r["max_steps"],
                               out_dir=r["out_dir"], rerun=r["rerun"], config=r["config"])
                          for r in task["runs"]))
    outcomes: list[tuple | None] = [None] * len(jobs)
    on_done = task.get("on_done")

    def finished(i: int, result) -> None:
        outcomes[i] = (*readers[i](result), result.wall_s)
        if on_done is not None:
            on_done(i, outcomes[i])

    fit_many(list(jobs), fuse=task["fuse"], on_done=finished)
    return outcomes


def _job(spec: RunSpec, splits: Splits, *, model_name, batch_size, init, seed, eval_every,
         max_steps, out_dir, rerun, config):
    """One run of a figure as a fused.Job, and the function that reads its result back into
    (tidy rows, status, diverged_at)."""
    model = make_model(model_name, num_classes=NUM_CLASSES[splits.dataset], init=init, seed=seed,
                       device=splits.device, bn_momentum=spec.bn_momentum,
                       bn_shards=spec.bn_shards)
    steps = min(spec.steps, max_steps) if max_steps else spec.steps
    train = splits.train(batch_size, seed)
    sched = dict(spec.schedule)
    kind = sched.pop("kind")
    lr_s, mom_s = make_schedules(kind, total=spec.steps, **sched)
    folder = dict(out_dir=out_dir, checkpoint_every=max(1, steps // 4) if out_dir else 0,
                  resume=bool(out_dir) and not rerun, overwrite=rerun)
    if spec.range_test:
        job, settings = range_test_job(
            model, train, lr_min=sched["lr_min"], lr_max=sched["lr_max"], steps=spec.steps,
            max_steps=steps, mode="linear", momentum=mom_s, weight_decay=spec.weight_decay,
            optimizer=spec.optimizer, test=splits.test, eval_every=eval_every, config=config,
            **folder)

        def read_range_test(run):
            result = range_test_result(run, settings)
            frame = result.frame()
            diverged_at = None
            if result.status != "completed":  # NaN/inf ("diverged") or loss above 4x its best
                diverged_at = int(frame.loc[frame["split"] == "train", "step"].max())
            return frame, result.status, diverged_at
        return job, read_range_test
    job = Job(model, train, steps, lr_s, mom_s, spec.weight_decay, spec.optimizer, splits.test,
              eval_every, min(50, eval_every, steps), config=config, **folder)
    return job, lambda run: (run.metrics, run.status, run.diverged_at)


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
