"""The paper profile against Smith's own log: its TBS-512 run, the first 600 iterations.

Smith's log (../shared/paper/logs/gResnet56_ResTBS512LR.0800.8M.95WD1e-4Epoch95BS128b_1) prints
the test accuracy and loss on 6,400 test images every 200 iterations, and the train loss. The
run it logs is `profiles.smith_log_run()`: Fig 8b's TBS-512 run with the momentum held at 0.95
and xavier fillers, as the log's header prints them (a Fig 6a run). `--run fig8b` trains the
paper profile's Fig 8b replicate of per-GPU batch 128 instead (cyclical momentum 0.95-0.85,
msra), the run this log was first compared with. Training goes through `fit`; at 200/400/600 the
script prints ours beside his, on three views of the test set, to tell an evaluation difference
from a training one: the profile's (6,400 stratified images, no flip), the same images with
random mirroring (Smith's TEST data layer had mirror: true), and all 10,000.

    python scripts/smith_log_check.py [--run log|fig8b] [--device auto] [--steps 600] [--seed 3]
        [--init xavier|msra] [--cyclical-momentum]   # one of the log's settings changed

About 40-60 minutes on 2 CPU cores in fp32; seconds on a GPU. The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paperlib import io  # noqa: E402
from paperlib.data import DeviceLoader, load_split  # noqa: E402
from paperlib.experiment import Splits, make_model, make_schedules  # noqa: E402
from paperlib.paper.notebook import data_root  # noqa: E402
from paperlib.paper.profiles import (eval_subset_for, jittered, runs_for,  # noqa: E402
                                     smith_log_run)
from paperlib.provenance import provenance  # noqa: E402
from paperlib.device import resolve_device  # noqa: E402
from paperlib.engine import Compute, Every, evaluate, fit  # noqa: E402

# Smith's log, iterations 0..1000 (test: 6,400 images; train: the loss line of that iteration).
SMITH = {200: {"accuracy": 0.497969, "loss": 1.342}, 400: {"accuracy": 0.581406, "loss": 1.18249},
         600: {"accuracy": 0.70375, "loss": 0.863439}, 800: {"accuracy": 0.747656, "loss": 0.723737},
         1000: {"accuracy": 0.789531, "loss": 0.607827}}
LOG = "gResnet56_ResTBS512LR.0800.8M.95WD1e-4Epoch95BS128b_1"


def smith_train_losses(log: Path) -> dict[int, float]:
    """'Iteration N (...), loss = X' lines of Smith's log, by iteration."""
    found = {}
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            m = re.search(r"Iteration (\d+) \(.*\), loss = ([0-9.eE+-]+)", line)
            if m:
                found[int(m.group(1))] = float(m.group(2))
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=600, help="iterations to train (multiple of 200)")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--run", default="log", choices=("log", "fig8b"),
                    help="log: the run of Smith's log (constant momentum 0.95, xavier, TBS 512); "
                         "fig8b: the paper profile's Fig 8b replicate of per-GPU batch 128")
    ap.add_argument("--init", choices=("xavier", "msra"), default=None,
                    help="override the run's filler (to tell which setting moves the curve)")
    ap.add_argument("--cyclical-momentum", action="store_true",
                    help="with --run log: Fig 8b's momentum 0.95-0.85 instead of the log's 0.95")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"))
    ap.add_argument("--out", default="runs/smith_log_check")
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    if args.run == "log":
        spec = smith_log_run()
        if args.cyclical_momentum:
            spec = replace(spec, schedule={**spec.schedule, "mom_min": 0.85},
                           label=spec.label.replace("Mom=0.95", "CM=0.95-0.85"))
        batch_size, init = jittered(spec, 0, "paper")
    else:  # x4.sh's replicate 3 is per-GPU batch 128 (TBS 512 + 0), msra
        spec = next(r for r in runs_for("fig8b", "paper") if r.extra.get("tbs") == 512)
        batch_size, init = jittered(spec, 3, "paper")
    init = args.init or init
    splits = Splits("cifar10", test_subset=eval_subset_for("fig8b", "paper"), device=device,
                    root=data_root())
    # The other two views reuse the loaded splits and their training statistics: no second
    # pass over the 50,000 training images.
    def view(split, augment):
        return DeviceLoader(split, 500, stats=splits.stats, device=device,
                            normalize=splits.normalize, augment=augment, shuffle=False,
                            drop_last=False, seed=0, channels_last=splits.channels_last)
    views = {"profile (6,400, no flip)": splits.test,
             "6,400 mirrored": view(splits.test_split, "flip"),
             "all 10,000": view(load_split("cifar10", "test", root=data_root()), "none")}
    model = make_model("gresnet56", init=init, seed=args.seed, device=device,
                       bn_momentum=spec.bn_momentum, bn_shards=spec.bn_shards)
    sched = dict(spec.schedule)
    lr_s, mom_s = make_schedules(sched.pop("kind"), total=spec.steps, **sched)
    print(f"paper profile, {spec.label}: TBS {batch_size}, {init}, seed {args.seed}, "
          f"BN shards {spec.bn_shards}, {spec.optimizer}, WD {spec.weight_decay:g}, "
          f"{args.precision}, device {device}; data {splits.describe()['source']}", flush=True)
    rows, started = [], time.perf_counter()

    def at_block(losses: list[float]) -> bool:
        # fit calls this after every log block (200 updates): the model is Smith's "Iteration N".
        step = len(losses)
        row = {"step": step, "train_loss_last": losses[-1],
               "train_loss_mean20": float(np.mean(losses[-20:])), "wall_s": round(time.perf_counter() - started)}
        for name, loader in views.items():
            row[f"{name} accuracy"], row[f"{name} loss"] = evaluate(model, loader,
                                                                    precision=args.precision)[::-1]
        rows.append(row)
        print(json.dumps(row), flush=True)
        return False

    fit(model, splits.train(batch_size, args.seed), steps=args.steps, lr=lr_s, momentum=mom_s,
        weight_decay=spec.weight_decay, optimizer=spec.optimizer, every=Every(log=200),
        compute=Compute(args.precision), should_stop=at_block, progress=False)
    smith_train = smith_train_losses(Path(__file__).resolve().parents[2] / "shared" / "paper"
                                     / "logs" / LOG)
    print(f"\n{'iter':>5} | {'Smith acc/loss':>15} | " + " | ".join(f"{v:>24}" for v in views)
          + f" | {'train loss ours/Smith':>22}")
    for r in rows:
        s = SMITH.get(r["step"], {})
        ours = " | ".join(f"{r[f'{v} accuracy']:.3f} / {r[f'{v} loss']:.3f}".rjust(24) for v in views)
        smith = f"{s.get('accuracy', float('nan')):.3f} / {s.get('loss', float('nan')):.3f}"
        print(f"{r['step']:>5} | {smith:>15} | {ours} | "
              f"{r['train_loss_last']:.3f} / {smith_train.get(r['step'], float('nan')):.3f}".rjust(22))
    name = args.run + ("-cm" if args.cyclical_momentum else "") + (f"-{args.init}" if args.init else "")
    out = Path(args.out) / name
    record = {"run": name, "label": spec.label, "rows": rows, "smith": SMITH, "smith_train_loss": smith_train, "seed": args.seed,
              "batch_size": batch_size, "init": init, "bn_shards": spec.bn_shards,
              "precision": args.precision, "provenance": provenance(device)}
    io.write_json(out / "smith_log_check.json", record)
    print(json.dumps({"steps": [r["step"] for r in rows],
                      "accuracy": [round(r["profile (6,400, no flip) accuracy"], 4) for r in rows],
                      "loss": [round(r["profile (6,400, no flip) loss"], 4) for r in rows],
                      "smith_accuracy": [SMITH.get(r["step"], {}).get("accuracy") for r in rows]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
