"""The library's commands: `schedule` (see or save a schedule), `lr-find` (a range test) and
`train` (one run with a schedule), on the library's datasets and models.

Each checks what it can without data first (flag combinations, the output folder), so a bad
argument never costs a loaded dataset or an old run; heavy modules load only when it runs.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigError
from . import args as A
from . import choices as C


def add_parsers(sub) -> None:
    p = sub.add_parser("schedule", help="see an lr/momentum schedule: a summary, its CSV "
                                        "(step,lr,momentum) with --out, a figure with --plot")
    p.add_argument("kind", choices=C.SCHEDULES, help=f"one of {A.one_of(C.SCHEDULES)}")
    A.schedule_flags(p, with_total=True)
    p.add_argument("--out", metavar="FILE",
                   help="write the CSV (step,lr,momentum) to FILE, or to stdout with --out -")
    p.add_argument("--plot", type=Path, metavar="IMAGE",
                   help="draw the lr and momentum schedules into IMAGE (.png, .pdf or .svg)")
    p.set_defaults(run=cmd_schedule)

    p = sub.add_parser("lr-find", help="an LR range test: lr_find.csv, .json and .png, and "
                                       "Smith's reading of lr_max")
    A.data_flags(p)
    g = p.add_argument_group("range test")
    g.add_argument("--lr-min", type=A.nonneg_number, required=True, help="lr of the first step")
    g.add_argument("--lr-max", type=A.nonneg_number, required=True, help="lr of the last step")
    g.add_argument("--steps", type=A.positive_int, required=True,
                   help="length of the sweep, in steps")
    g.add_argument("--mode", choices=C.RANGE_MODES, default="linear",
                   help="linear (Smith's range test) or exp (a geometric ramp) (default: linear)")
    g.add_argument("--weight-decay", type=A.nonneg_number, nargs="+", default=[5e-4],
                   help="one or more values: several run a weight-decay sweep (default: 5e-4)")
    g.add_argument("--momentum", type=A.number, default=0.9,
                   help="constant momentum (default: 0.9)")
    g.add_argument("--mom-max", type=A.number, help="ramp momentum from this ...")
    g.add_argument("--mom-min", type=A.number, help="... to this over the sweep (Fig 15a)")
    g.add_argument("--divergence-factor", type=A.number, default=4.0,
                   help="stop once the smoothed loss exceeds this factor x its best (default: 4)")
    g.add_argument("--out", type=Path, required=True, help="folder for lr_find.csv, .json, .png")
    g.add_argument("--overwrite", action="store_true", help="replace a finished test in --out")
    p.set_defaults(run=cmd_lr_find)

    p = sub.add_parser("train", help="train with a schedule: metrics.csv, run.json, "
                                     "checkpoints, training.png")
    A.data_flags(p)
    p.add_argument("--schedule", choices=C.SCHEDULES, default="one-cycle",
                   help=f"one of {A.one_of(C.SCHEDULES)} (default: one-cycle)")
    A.schedule_flags(p, with_total=False)
    g = p.add_argument_group("run")
    g.add_argument("--weight-decay", type=A.nonneg_number, default=5e-4,
                   help="L2 weight decay (default: 5e-4)")
    g.add_argument("--steps", type=A.positive_int, required=True, help="number of updates")
    g.add_argument("--checkpoint-every", type=A.nonneg_int, default=0,
                   help="checkpoint every N steps (0: only at the end)")
    g.add_argument("--out", type=Path, required=True,
                   help="the run folder: metrics.csv, run.json, checkpoints/, training.png")
    g.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its newest checkpoint")
    g.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    p.set_defaults(run=cmd_train)


def _schedules(args, total: int, kind: str):
    from ..experiment import make_schedules
    return make_schedules(kind, total=total, lr=args.lr, lr_min=args.lr_min, lr_max=args.lr_max,
                          step_size=args.step_size, style=args.style, final_lr=args.final_lr,
                          milestones=args.milestones, gamma=args.gamma, momentum=args.momentum,
                          mom_max=args.mom_max, mom_min=args.mom_min)


def cmd_schedule(args) -> int:
    from ..schedules import schedule_frame
    lr_s, mom_s = _schedules(args, args.total, args.kind)
    frame = schedule_frame(lr_s, mom_s, total=args.total)[["step", "lr", "momentum"]]
    if args.plot is not None:
        from .. import io, plots
        fig = plots.plot_schedule(frame, title=f"{args.kind} schedule, {args.total} steps")
        io.save_figure(fig, args.plot, dpi=plots.DPI)
    if args.out == "-":
        frame.to_csv(sys.stdout, index=False)
        return 0
    if args.out:
        from .. import io
        io.write_csv(args.out, frame)
    peak = int(frame["lr"].idxmax())
    print(f"{args.kind}: {args.total} steps; lr {frame['lr'].iloc[0]:.4g} at step 0, "
          f"{frame['lr'].max():.4g} at step {peak}, {frame['lr'].iloc[-1]:.4g} at the last; "
          f"momentum {frame['momentum'].min():.4g}..{frame['momentum'].max():.4g}")
    wrote = [str(p) for p in (args.out, args.plot) if p]
    print(f"wrote {', '.join(wrote)}" if wrote else
          "the CSV: --out FILE (or --out - for stdout); a figure: --plot IMAGE")
    return 0


def _check_shared_flags(args) -> None:
    """Refuse flag combinations that argparse cannot see, before an output folder is touched."""
    if args.batch_size % args.bn_shards:
        raise ConfigError(f"--batch-size {args.batch_size} is not divisible by --bn-shards "
                          f"{args.bn_shards}: BatchNorm shards must be equal; use a multiple of "
                          f"{args.bn_shards}")


def _setup(args):
    """Data and model from the shared flags; errors surface before any training starts."""
    from ..device import resolve_device
    from ..experiment import make_data, make_model
    device = resolve_device(args.device)
    data = make_data(args.dataset, batch_size=args.batch_size, device=device, subset=args.subset,
                     test_subset=args.test_subset, seed=args.seed, augment=args.augment,
                     normalize=args.normalize, channels_last=args.channels_last)
    model = make_model(args.model, num_classes=len(data.train_split.classes), init=args.init,
                       seed=args.seed, device=device, bn_shards=args.bn_shards)
    config = {"dataset": args.dataset, "model": args.model, "init": args.init,
              "batch_size": args.batch_size, "subset": args.subset,
              "test_subset": args.test_subset, "augment": args.augment,
              "normalize": args.normalize, "optimizer": args.optimizer, "seed": args.seed,
              "device": str(device), "precision": args.precision,
              "channels_last": args.channels_last, "data": data.describe()}
    if args.bn_shards != 1:  # only then: runs saved before the flag existed stay resumable
        config["bn_shards"] = args.bn_shards
    return data, model, config


def cmd_lr_find(args) -> int:
    from ..engine import Compute, Every
    from ..range_test import Divergence, Sweep, lr_range_test, save_range_tests
    from ..runs import RunDir
    from ..schedules import linear_range
    _check_shared_flags(args)
    sweep = Sweep(args.lr_min, args.lr_max, args.steps, args.mode)
    stop = Divergence(args.divergence_factor)
    folder = dict(overwrite=args.overwrite, marker="lr_find.json",
                  artifacts=("lr_find.csv", "lr_find.png"))
    with RunDir(args.out, check_only=True, **folder):
        pass  # refuse a locked, finished or unwritable folder before the data is loaded
    momentum = args.momentum
    if args.mom_max is not None or args.mom_min is not None:
        if args.mom_max is None or args.mom_min is None:
            raise ConfigError("--mom-max and --mom-min go together")
        momentum = linear_range(args.mom_max, args.mom_min, args.steps)
    data, model, config = _setup(args)
    every = None if args.eval_every is None else Every(log=10, eval=args.eval_every)
    compute = Compute(args.precision, channels_last=config["channels_last"])
    with RunDir(args.out, **folder):  # an --overwrite clears the old test only now
        results = [lr_range_test(model, data.train, sweep, momentum=momentum, weight_decay=wd,
                                 optimizer=args.optimizer, test=data.test, every=every,
                                 stop=stop, compute=compute, progress=args.progress or None)
                   for wd in args.weight_decay]
        doc = save_range_tests(results, args.out, "lr_find", config=config,
                               title=f"LR range test, {config['model']}, "
                                     f"{data.train_split.label}")
    for entry in doc["runs"]:
        smith = entry["suggestions"]["smith"]
        print(f"weight_decay={entry['weight_decay']:g}: status={entry['status']}, "
              f"suggested lr_max={_fmt(smith['lr_max'])} lr_min={_fmt(smith['lr_min'])} "
              f"({smith['basis']}); valley={_fmt(entry['suggestions']['valley']['lr'])}")
    print(f"wrote {args.out}/lr_find.csv, lr_find.json, lr_find.png")
    return 0


def cmd_train(args) -> int:
    from .. import plots
    from ..engine import Compute, Every, Folder, fit
    from ..runs import RunDir
    _check_shared_flags(args)
    with RunDir(args.out, resume=args.resume, overwrite=args.overwrite, check_only=True):
        pass  # refuse a locked, finished or unwritable folder before the data is loaded
    lr_s, mom_s = _schedules(args, args.steps, args.schedule)
    data, model, config = _setup(args)
    result = fit(model, data.train, steps=args.steps, lr=lr_s, momentum=mom_s,
                 weight_decay=args.weight_decay, optimizer=args.optimizer, test=data.test,
                 every=Every(eval=args.eval_every or 0, checkpoint=args.checkpoint_every),
                 out=Folder(args.out, resume=args.resume, overwrite=args.overwrite,
                            config=config),
                 compute=Compute(args.precision, channels_last=config["channels_last"]),
                 progress=args.progress or None)
    fig = plots.plot_training(result.metrics, title=config["model"],
                              dataset=data.train_split.label)
    plots.save_figure_set(fig, args.out, "training", formats=("png",))
    line = f"status={result.status} steps={result.steps_done}"
    if result.diverged_at is not None:
        line += f" diverged at step {result.diverged_at}"
    if len(result.test):
        line += (f" test_loss={result.test['loss'].iloc[-1]:.4f}"
                 f" test_accuracy={result.test['accuracy'].iloc[-1]:.4f}")
    print(line)
    print(f"wrote {args.out}/metrics.csv, run.json, training.png")
    return 0


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"
