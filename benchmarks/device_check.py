"""The device check: how fast can this device run the paper profile, and does one paper run match
Smith's log? Run by scripts/device_check.sh; everything it measures goes to --out as a log and
one JSON file (device_check.json). Under 9 minutes on one H200; on a CPU it runs every part it
can at a token size and skips the GPU parts, each with a one-line reason.

Parts, in the order they run (most informative first, the slowest last, each within a deadline):
  1. eager    `fit` on gresnet56 (the paper's model, BN shards 4) at batch 128, 512 and 1024;
  2. captured the same steps through fit_many with capture on (one member: the whole step one
              CUDA graph replay);
  3. fused    groups of 1, 2, 4, 8 and 16 members at batch 128 and 512 through fit_many, fused
              and (on CUDA) captured, as the plan runs paper's groups;
  4. paper    one complete paper run, Fig 8b TBS 512 (9,277 iterations, 4.75 M images, test
              every 200 iterations on 6,400 images), final and best test accuracy beside
              Smith's log (0.919 final on 6,400 images, shared/paper/logs);
  5. compiled `fit(compile=True)` at the three batch sizes, while time is left;
  6. the projected wall time of all of `paper`: every run's images at the best measured rate
     for its batch size and fused-group size (log-batch interpolation between measured sizes).
Images/s are training images per second, all members together, after a warm-up, bf16 autocast
where precision "auto" picks it.

    python benchmarks/device_check.py --out build/device_check [--budget-s 520]
"""
from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from paperlib import io
from paperlib.device import resolve_device, resolve_precision
from paperlib.engine import Compute, Every, Execution, fit, fit_many
from paperlib.experiment import Splits, make_model, make_schedules
from paperlib.models import param_groups
from paperlib.optim import make_optimizer
from paperlib.paper import estimate as E
from paperlib.paper.profiles import FIGURES, eval_subset_for, figure_runs
from paperlib.paper.replicate import job_for, run_rows
from paperlib.provenance import device_name, provenance

SMITH_LOG_FINAL_ACCURACY = 0.919  # shared/paper/logs: the last test line of the TBS-512 log
EVAL_SPEEDUP = 3.0  # test images per second relative to training images (assumed: a forward pass)
MODEL, BN_SHARDS = "gresnet56", 4


class Check:
    def __init__(self, out: Path, budget_s: float, device: torch.device):
        self.out, self.device = out, device
        self.deadline = time.perf_counter() + budget_s
        self.results: dict = {"device": device_name(device), "model": MODEL,
                              "bn_shards": BN_SHARDS, "skipped": {}}
        out.mkdir(parents=True, exist_ok=True)
        self.log_path = out / "device_check.log"

    def log(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {text}"
        print(line, flush=True)
        with open(self.log_path, "a") as f:
            f.write(line + "\n")

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def skip(self, part: str, reason: str) -> None:
        self.results["skipped"][part] = reason
        self.log(f"skipped {part}: {reason}")

    def save(self) -> None:
        io.write_json(self.out / "device_check.json", self.results)




def stepper_rate(batch: int, members: int, steps: int, device, captured: bool) -> float:
    """Images/s of `members` gresnet56 runs at `batch` as fit_many trains them, fused (and
    captured where `captured`), timed over `steps` steps in one block after two untimed ones
    (warm-up and capture): the step a paper run takes, with the loop around it."""
    execution = Execution(fuse="on", capture="auto" if captured else "off")
    (seconds,) = E.step_times(MODEL, batch, bn_shards=BN_SHARDS, device=device,
                              execution=execution, members=members, steps=1, block=steps)
    return members * batch / seconds


def fit_rate(splits: Splits, batch: int, steps: int, device, compile: bool = False) -> float:
    """Images/s of fit: a warm-up call (compiles, if asked), then a timed call on the same model
    and optimizer, as a run would continue."""
    model = make_model(MODEL, device=device, bn_shards=BN_SHARDS)
    train = splits.train(batch, 0)
    optimizer = make_optimizer("caffe-nesterov", param_groups(model), lr=0.05, momentum=0.9)
    lr, momentum = make_schedules("constant", total=steps, lr=0.05, momentum=0.9)
    kwargs = dict(lr=lr, momentum=momentum, weight_decay=1e-4, optimizer=optimizer,
                  compute=Compute(compile=compile), progress=False)
    fit(model, train, steps=3, every=Every(log=3), **kwargs)
    _sync(device)
    started = time.perf_counter()
    fit(model, train, steps=steps, every=Every(log=steps), **kwargs)
    _sync(device)
    return steps * batch / (time.perf_counter() - started)


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def paper_run(check: Check, root: Path) -> None:
    """Fig 8b TBS 512, the unjittered replicate (replicate 3: TBS 512, msra), all of it."""
    spec = next(r for r in figure_runs("fig8b", "paper") if r.batch_size == 512)
    splits = Splits("cifar10", test_subset=eval_subset_for("fig8b", "paper"), device=check.device,
                    root=root)
    # the run folder (checkpoints too) stays out of --out; its metrics and run.json are copied
    root = Path(tempfile.mkdtemp())
    job = job_for(spec, splits, root=root, rerun=True)
    started = time.perf_counter()
    result = fit_many([job])[0]
    wall = time.perf_counter() - started
    for name in ("metrics.csv", "run.json"):
        shutil.copyfile(job.out.path / name, check.out / f"fig8b_tbs512_{name}")
    rows, status = run_rows(spec, result), result.status
    test = rows[rows["split"] == "test"]
    record = {"status": status, "iterations": int(result.steps_done),
              "images": int(result.steps_done) * 512, "wall_s": round(wall, 1),
              "img_s": round(result.steps_done * 512 / wall, 1),
              "final_test_accuracy": float(test["accuracy"].iloc[-1]),
              "best_test_accuracy": float(test["accuracy"].max()),
              "final_test_loss": float(test["loss"].iloc[-1]),
              "test_images": len(splits.test_split.labels),
              "smith_log_final_accuracy": SMITH_LOG_FINAL_ACCURACY}
    check.results["paper_run"] = record
    check.log(f"paper run Fig 8b TBS 512: {status}, {wall:.0f} s, final accuracy "
              f"{record['final_test_accuracy']:.3f} (best {record['best_test_accuracy']:.3f}; "
              f"Smith's log {SMITH_LOG_FINAL_ACCURACY})")


def projection(rates: dict[tuple[int, int], float]) -> dict:
    """Seconds for all of `paper`: each figure's runs in the groups fusion forms, each run's
    images at the best rate measured for its group size (the nearest measured size at or below
    it) and batch (log-batch interpolation)."""
    plan = E.work(list(FIGURES), "paper")
    per_figure = {}
    for figure, runs in plan.groupby("figure", sort=False):
        seconds = 0.0
        for r in runs.itertuples():
            sizes = sorted({g for g, _ in rates if g <= r.group_size}) or [1]
            at = {b: v for (g, b), v in rates.items() if g == sizes[-1]}
            rate = _rate_at(r.batch_size, _clamped(at, r.batch_size))
            seconds += r.train_images / rate + r.test_images / (EVAL_SPEEDUP * rate)
        per_figure[figure] = round(seconds, 1)
    return {"per_figure_s": per_figure, "total_s": round(sum(per_figure.values()), 1),
            "train_images": int(plan["train_images"].sum()),
            "test_images": int(plan["test_images"].sum())}


def _rate_at(batch: int, rates: dict[int, float]) -> float:
    """Images/s at `batch` between two measured batches, interpolated in log(batch)."""
    (b0, r0), (b1, r1) = sorted(rates.items())[0], sorted(rates.items())[-1]
    if b0 == b1:
        return r0
    w = (math.log(batch) - math.log(b0)) / (math.log(b1) - math.log(b0))
    return r0 + w * (r1 - r0)


def _clamped(rates: dict[int, float], batch: int) -> dict[int, float]:
    """The two measured batches around `batch` (or the nearest one outside the range)."""
    sizes = sorted(rates)
    below = [b for b in sizes if b <= batch] or sizes[:1]
    above = [b for b in sizes if b >= batch] or sizes[-1:]
    return {below[-1]: rates[below[-1]], above[0]: rates[above[0]]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("build/device_check"))
    ap.add_argument("--budget-s", type=float, default=520.0, help="stop starting parts after this")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data", type=Path, default=None, help="folder with cifar10-jpeg.tar.gz")
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    check = Check(args.out, args.budget_s, device)
    gpu = device.type == "cuda"
    check.results["precision"] = resolve_precision("auto", device)
    check.log(f"device check on {check.results['device']}, {check.results['precision']}")
    splits = Splits("cifar10", device=device, root=args.data, test_subset=500)
    check.log(f"CIFAR-10 on the device: {splits.describe()['source']}")
    # on a CPU a gresnet56 step at batch 512 takes seconds: token sizes exercise every path
    batches = (128, 512, 1024) if gpu else (32,)
    steps = {128: 40, 512: 20, 1024: 10, 32: 2}
    rates: dict[tuple[int, int], float] = {}
    check.results["fit"] = {}
    for batch in batches:
        rate = fit_rate(splits, batch, steps[batch], device)
        check.results["fit"][f"eager_b{batch}"] = round(rate, 1)
        rates[(1, batch)] = max(rates.get((1, batch), 0.0), rate)
        check.log(f"fit eager, batch {batch}: {rate:,.0f} img/s")
    if gpu:
        for batch in batches:
            rate = stepper_rate(batch, 1, steps[batch], device, captured=True)
            check.results["fit"][f"captured_b{batch}"] = round(rate, 1)
            rates[(1, batch)] = max(rates[(1, batch)], rate)
            check.log(f"captured step, batch {batch}: {rate:,.0f} img/s")
    else:
        check.skip("captured", "CUDA graphs need a CUDA device")
    check.save()
    check.results["fused"] = {}
    for batch in ((128, 512) if gpu else (32,)):
        for members in ((1, 2, 4, 8, 16) if gpu else (1, 2)):
            if check.left() < 240:
                check.skip(f"fused_b{batch}_n{members}", "time budget: keeping 4 minutes for "
                           "the paper run")
                continue
            n_steps = max(3, steps[batch] // 2) if gpu else 2
            rate = stepper_rate(batch, members, n_steps, device, captured=gpu)
            check.results["fused"][f"b{batch}_n{members}"] = round(rate, 1)
            if gpu:
                rates[(members, batch)] = max(rates.get((members, batch), 0.0), rate)
            check.log(f"fused, batch {batch}, {members} members: {rate:,.0f} img/s in all")
    check.save()
    if gpu:
        paper_run(check, args.data)
    else:
        hours = 9_277 * 512 / rates[(1, 32)] / 3600
        check.skip("paper_run", f"4.75 M images at this CPU's {rates[(1, 32)]:,.0f} img/s "
                   f"(gresnet56, batch 32) would take about {hours:.0f} h")
    check.save()
    if not gpu:
        check.skip("compiled", "torch.compile of gresnet56 takes minutes on a CPU; GPU only here")
    for batch in (batches if gpu else ()):
        if check.left() < 90:
            check.skip(f"compiled_b{batch}", "time budget: a compilation takes about a minute")
            continue
        rate = fit_rate(splits, batch, steps[batch], device, compile=True)
        check.results["fit"][f"compiled_b{batch}"] = round(rate, 1)
        rates[(1, batch)] = max(rates[(1, batch)], rate)
        check.log(f"fit compiled, batch {batch}: {rate:,.0f} img/s")
    check.results["projection"] = projection(rates)
    total = check.results["projection"]["total_s"]
    check.log(f"projected wall time of all of paper with the best measured mechanism: "
              f"{total / 3600:.2f} h ({check.results['projection']['train_images'] / 1e6:.0f} M "
              "train images)")
    check.results["provenance"] = provenance(device)
    check.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
