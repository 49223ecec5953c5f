"""Fig 8a under `small`: is the 0.95-0.85 curve's late rise the velocity coasting on?

Under `small`, the 0.95-0.85 curve's test loss is level with the others where its cycle ends
(step 450 of 500) and rises in the last 50 steps, where lr is ~1e-4 and momentum is back at 0.95;
the other two curves stay flat there. One explanation: Caffe's rule keeps the lr inside the
velocity (v = m v + lr g; w -= v), so the velocity built at lr ~0.04 keeps moving the weights
for ~1/(1 - m) = 20 steps after the lr has fallen, twice as far at m = 0.95 as at 0.9. At 1/40 of
Smith's 20k iterations that coast is 40 times larger a share of the run.

The test of it: each run of Fig 8a under `small` (fp32, the committed results' arithmetic) is
trained to its end with checkpoints at the cycle's end and at 500. Its folder is then copied
twice, cut back to the cycle's end as if interrupted there, and resumed: once as it was (a
control, which must give the same bytes as the uninterrupted run), and once with every
velocity set to zero (the coast removed, all else equal). If the coast makes the rise, the
zeroed runs stay flat after the cycle's end.

    python scripts/fig8a_tail_check.py [--seeds 0 1] [--out reports/fig8a_tail_check]

About 5 minutes on 2 CPU cores. Writes OUT.csv (test rows of every variant) and OUT.json
(the summary, with provenance); the last line printed is the JSON.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paperlib import io  # noqa: E402
from paperlib.engine import Execution, fit_many  # noqa: E402
from paperlib.paper.notebook import make_splits  # noqa: E402
from paperlib.paper.profiles import figure_runs  # noqa: E402
from paperlib.paper.replicate import job_for  # noqa: E402
from paperlib.provenance import provenance  # noqa: E402
from paperlib.runs import load_checkpoint, save_checkpoint  # noqa: E402

FIGURE = "fig8a"


def train(spec, splits, root: Path, *, rerun: bool, checkpoint_every: int):
    alone = Execution(precision="fp32", fuse="off", capture="off")
    job = job_for(spec, splits, root=root, rerun=rerun, execution=alone)
    job = replace(job, every=replace(job.every, checkpoint=checkpoint_every))
    return fit_many([job], alone)[0], Path(job.out.path)


def cut_back(src: Path, dst: Path, step: int, *, zero_velocity: bool) -> None:
    """`src`'s run folder as it would be after an interrupt at `step`, optionally without its
    velocity."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))
    for path in (dst / "checkpoints").glob("step_*.pt"):
        if int(path.stem.split("_")[1]) > step:
            path.unlink()
    if zero_velocity:
        path = dst / "checkpoints" / f"step_{step:07d}.pt"
        state = load_checkpoint(path)
        for slot in state["optimizer"]["state"].values():
            for value in slot.values():
                if torch.is_tensor(value):
                    value.zero_()
        save_checkpoint(path, state)
    doc = json.loads((dst / "run.json").read_text())
    doc["status"] = "interrupted"
    (dst / "run.json").write_text(json.dumps(doc))


def displacement(folder: Path, a: int, b: int) -> float:
    """||w_b - w_a|| over the trainable weights (BN running statistics left out)."""
    wa = load_checkpoint(folder / "checkpoints" / f"step_{a:07d}.pt")["model"]
    wb = load_checkpoint(folder / "checkpoints" / f"step_{b:07d}.pt")["model"]
    keys = [k for k, v in wa.items() if v.is_floating_point() and "running" not in k]
    return float(torch.sqrt(sum(((wb[k] - wa[k]).double() ** 2).sum() for k in keys)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", default="reports/fig8a_tail_check")
    parser.add_argument("--profile", default="small", help="small (the committed runs) or smoke "
                        "(seconds: a check of this script, no evidence)")
    args = parser.parse_args()
    started = time.perf_counter()
    specs = figure_runs(FIGURE, args.profile, seeds=args.seeds)
    splits = make_splits("cifar10", FIGURE, profile=args.profile, device="cpu")
    rows, summary = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for spec in specs:
            cycle_end = 2 * dict(spec.schedule)["step_size"]
            end = spec.run_steps
            every = end - cycle_end  # the last two checkpoints (the folder keeps two) are these
            folders = {v: tmp / v for v in ("uninterrupted", "resumed", "velocity zeroed")}
            base, base_run = train(spec, splits, folders["uninterrupted"], rerun=True,
                                   checkpoint_every=every)
            run = base_run.relative_to(folders["uninterrupted"])
            results = {"uninterrupted": base}
            for variant, zero in (("resumed", False), ("velocity zeroed", True)):
                cut_back(base_run, folders[variant] / run, cycle_end, zero_velocity=zero)
                results[variant], _ = train(spec, splits, folders[variant], rerun=False,
                                            checkpoint_every=every)
            same = results["resumed"].metrics.equals(base.metrics)
            for variant, result in results.items():
                m = result.metrics
                test = m[m["split"] == "test"].assign(curve=spec.label, seed=spec.seed,
                                                      variant=variant)
                rows.append(test[["curve", "seed", "variant", "step", "lr", "momentum", "loss",
                                  "accuracy"]])
                loss = test.set_index("step")["loss"]
                before = loss[loss.index <= cycle_end].index[-1]  # the cycle's end under small
                summary.append({
                    "curve": spec.label, "seed": spec.seed, "variant": variant,
                    "cycle_end": cycle_end, "evaluated_at": int(before),
                    "test_loss_there": float(loss[before]),
                    "test_loss_at_end": float(loss[end]),
                    "rise_after_cycle": float(loss[end] - loss[before]),
                    "weights_moved_after_cycle": displacement(folders[variant] / run, cycle_end,
                                                              end),
                    "resumed_equals_uninterrupted": same})
            print(f"{spec.label}, seed {spec.seed}: done ({time.perf_counter() - started:.0f} s)",
                  file=sys.stderr)
    table = pd.DataFrame(summary)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    out = Path(args.out)
    io.write_csv(out.with_suffix(".csv"), pd.concat(rows))
    doc = {"figure": FIGURE, "profile": args.profile, "dataset": "CIFAR-10 (JPEG q75 copy)",
           "precision": "fp32", "seeds": args.seeds, "summary": summary,
           "wall_s": round(time.perf_counter() - started, 1), "provenance": provenance()}
    io.write_text(out.with_suffix(".json"), json.dumps(doc, indent=1, default=str))
    print(json.dumps({k: doc[k] for k in ("figure", "profile", "seeds", "wall_s")}))


if __name__ == "__main__":
    main()
