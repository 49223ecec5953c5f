"""Command line: `python -m paperlib {schedule,lr-find,train,figure,estimate,recipe} ...`.

Bad input of any kind exits with status 2 and one line on stderr that names the problem.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from . import recipe_cli
from .errors import ConfigError, PaperlibError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage block
        raise ConfigError(f"{message} (see '{self.prog} --help')")


def _int_in(low: int, high: int | None = None):
    """An argparse type: an integer in [low, high)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value >= high):
            bound = f">= {low}" if high is None else f"in [{low}, {high})"
            raise argparse.ArgumentTypeError(f"{value} must be {bound}")
        return value
    return parse


_positive_int = _int_in(1)
_nonneg_int = _int_in(0)
_seed = _int_in(0, 2**32)


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _nonneg_float(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value


def _schedule_flags(p: argparse.ArgumentParser, *, with_total: bool) -> None:
    g = p.add_argument_group("schedule")
    g.add_argument("--style", choices=("smith", "three-phase"), default="smith",
                   help="1cycle style: Smith's Caffe code, or min->max->min then annihilation")
    g.add_argument("--lr", type=_nonneg_float, help="lr of constant/multistep schedules")
    g.add_argument("--lr-min", type=_nonneg_float)
    g.add_argument("--lr-max", type=_nonneg_float)
    g.add_argument("--step-size", type=_positive_int, help="half a cycle, in steps")
    if with_total:
        g.add_argument("--total", type=_positive_int, required=True, help="number of steps")
    g.add_argument("--final-lr", type=_nonneg_float, help="three-phase: lr at the last step")
    g.add_argument("--milestones", type=_positive_int, nargs="*", default=[])
    g.add_argument("--gamma", type=_float, default=0.1)
    g.add_argument("--momentum", type=_float, default=0.9, help="constant momentum")
    g.add_argument("--mom-max", type=_float, help="cyclical momentum: start/end value")
    g.add_argument("--mom-min", type=_float, help="cyclical momentum: value at the lr peak")


def _data_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data and model")
    g.add_argument("--dataset", default="cifar10", help="cifar10 or cifar100")
    g.add_argument("--model", default="resnet20", help="see paperlib.models.MODEL_NAMES")
    g.add_argument("--init", default="msra", help="msra, xavier or torch")
    g.add_argument("--batch-size", type=_positive_int, default=128)
    g.add_argument("--bn-shards", type=_positive_int, default=1, metavar="S",
                   help="BatchNorm statistics per S equal shards of each batch, as in Smith's "
                   "S-GPU runs (4, or 8 for Fig 5); --batch-size must be a multiple of S")
    g.add_argument("--subset", type=_positive_int, help="train on a stratified subset of N images")
    g.add_argument("--test-subset", type=_positive_int,
                   help="evaluate on a fixed stratified subset of N test images")
    g.add_argument("--augment", default="crop-flip", help="crop-flip, flip (Caffe) or none")
    g.add_argument("--normalize", default="channel", help="channel or mean-image (Caffe)")
    g.add_argument("--optimizer", default="sgd",
                   help="sgd, nesterov, caffe-sgd or caffe-nesterov")
    g.add_argument("--device", default="auto", help="cpu, cuda or auto")
    g.add_argument("--precision", default="auto",
                   help="auto (bf16 on CUDA and on CPUs with native bf16), fp32 or bf16")
    g.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="keep the default NCHW memory format instead of channels_last")
    g.add_argument("--seed", type=_seed, default=0)
    g.add_argument("--eval-every", type=_nonneg_int, default=None,
                   help="evaluate on the test set every N steps (0: only at the end; default: "
                   "20 times over lr-find, only at the end of train)")
    g.add_argument("--progress", action="store_true", help="show a progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m paperlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sched = sub.add_parser("schedule", help="print a schedule as CSV (step,lr,momentum)")
    sched.add_argument("kind", help="one-cycle, triangular, multistep, constant, linear or exp")
    _schedule_flags(sched, with_total=True)
    sched.add_argument("--plot", type=Path, help="also draw the schedule into this image file")

    find = sub.add_parser("lr-find", help="run an LR range test")
    _data_flags(find)
    find.add_argument("--lr-min", type=_nonneg_float, required=True)
    find.add_argument("--lr-max", type=_nonneg_float, required=True)
    find.add_argument("--steps", type=_positive_int, required=True)
    find.add_argument("--mode", choices=("linear", "exp"), default="linear")
    find.add_argument("--weight-decay", type=_nonneg_float, nargs="+", default=[5e-4],
                      help="one or more values: several run a weight-decay sweep")
    find.add_argument("--momentum", type=_float, default=0.9)
    find.add_argument("--mom-max", type=_float, help="ramp momentum from this ...")
    find.add_argument("--mom-min", type=_float, help="... to this over the sweep (Fig 15a)")
    find.add_argument("--divergence-factor", type=_float, default=4.0)
    find.add_argument("--out", type=Path, required=True)
    find.add_argument("--overwrite", action="store_true")

    train = sub.add_parser("train", help="train with a schedule; metrics, run.json, checkpoints")
    _data_flags(train)
    train.add_argument("--schedule", default="one-cycle")
    _schedule_flags(train, with_total=False)
    train.add_argument("--weight-decay", type=_nonneg_float, default=5e-4)
    train.add_argument("--steps", type=_positive_int, required=True)
    train.add_argument("--checkpoint-every", type=_nonneg_int, default=0)
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--resume", action="store_true")
    train.add_argument("--overwrite", action="store_true")

    fig = sub.add_parser("figure", help="train every run of one of the paper's figures under a "
                                        "profile; tidy CSV, runs CSV and provenance JSON")
    fig.add_argument("figure", help="fig1a, fig5a, fig5b, fig8a, fig8b, fig15a or fig15b")
    fig.add_argument("--profile", required=True, help="smoke, small or paper")
    fig.add_argument("--dataset", default="cifar10", help="cifar10, cifar100 or synthetic")
    fig.add_argument("--device", default="auto", help="auto (cuda if present), cpu, cuda")
    fig.add_argument("--seeds", type=_seed, nargs="+", help="default: the profile's")
    fig.add_argument("--run-dir", type=Path, default=Path("runs"),
                     help="a folder per run, so a rerun resumes (shared storage for a cluster)")
    fig.add_argument("--out", type=Path, required=True)
    fig.add_argument("--rerun", action="store_true", help="retrain runs that already finished")
    fig.add_argument("--max-steps", type=_nonneg_int, default=0)
    fig.add_argument("--test-images", type=_nonneg_int, default=0)
    fig.add_argument("--launcher", choices=("sequential", "ray"), default="sequential",
                     help="ray: Ray tasks on every GPU here, or on the cluster at --ray-address")
    fig.add_argument("--ray-address", default="", help="default: $RAY_ADDRESS, else a local Ray")
    fig.add_argument("--gpus-per-run", type=_nonneg_float, default=1.0,
                     help="GPUs per Ray task; 0.25 packs four runs on a GPU")

    est = sub.add_parser("estimate", help="the work ahead of a profile and its wall time on "
                                          "this device, from a short probe")
    est.add_argument("--profile", required=True, help="smoke, small or paper")
    est.add_argument("--figures", default="all",
                     help="comma-separated figures (fig1a,fig5a,...), or all")
    est.add_argument("--device", default="auto", help="auto (cuda if present), cpu, cuda")
    est.add_argument("--precision", default="auto",
                     help="auto (bf16 on CUDA and on CPUs with native bf16), fp32 or bf16")
    est.add_argument("--probe-steps", type=_positive_int, default=3)
    est.add_argument("--csv", type=Path, help="also write the table here")

    recipe_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return {"schedule": cmd_schedule, "lr-find": cmd_lr_find, "train": cmd_train,
                "figure": cmd_figure, "estimate": cmd_estimate,
                "recipe": recipe_cli.run}[args.command](args)
    except PaperlibError as e:
        print(f"paperlib: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:
        from .train import RunInterrupted
        if isinstance(e, RunInterrupted):
            print(f"paperlib: {e}", file=sys.stderr)
            return 128 + e.signum
        print("paperlib: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


def _schedules(args, total: int, kind: str):
    from .experiment import make_schedules
    return make_schedules(kind, total=total, lr=args.lr, lr_min=args.lr_min, lr_max=args.lr_max,
                          step_size=args.step_size, style=args.style, final_lr=args.final_lr,
                          milestones=args.milestones, gamma=args.gamma, momentum=args.momentum,
                          mom_max=args.mom_max, mom_min=args.mom_min)


def cmd_schedule(args) -> int:
    from .schedules import schedule_frame
    lr_s, mom_s = _schedules(args, args.total, args.kind)
    frame = schedule_frame(lr_s, mom_s, total=args.total)
    if args.plot is not None:
        from . import io
        from .plots import plot_training
        fig = plot_training(frame.assign(split="train", loss=float("nan")),
                            title=f"{args.kind} schedule")
        io.save_figure(fig, args.plot, dpi=110, bbox_inches="tight")
    frame.to_csv(sys.stdout, index=False, columns=["step", "lr", "momentum"])
    return 0


def _check_shared_flags(args) -> None:
    """Refuse flag combinations that argparse cannot see, before an output folder is touched."""
    if args.batch_size % args.bn_shards:
        raise ConfigError(f"--batch-size {args.batch_size} is not divisible by --bn-shards "
                          f"{args.bn_shards}: BatchNorm shards must be equal; use a multiple of "
                          f"{args.bn_shards}")


def _setup(args):
    """Data and model from the shared flags; errors surface before any training starts."""
    from .experiment import make_data, make_model
    from .train import resolve_device, use_bf16
    device = resolve_device(args.device)
    use_bf16(args.precision, device)  # validates the flag now, not after the data is loaded
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
    from .range_test import lr_range_test, save_range_tests
    from .runs import RunDir
    from .schedules import linear_range
    _check_shared_flags(args)
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
    with RunDir(args.out, **folder):  # an --overwrite clears the old test only now
        results = [lr_range_test(model, data.train, lr_min=args.lr_min, lr_max=args.lr_max,
                                 steps=args.steps, mode=args.mode, momentum=momentum,
                                 weight_decay=wd, optimizer=args.optimizer, test=data.test,
                                 eval_every=args.eval_every, precision=args.precision,
                                 channels_last=config["channels_last"],
                                 divergence_factor=args.divergence_factor,
                                 progress=args.progress or None, config=config)
                   for wd in args.weight_decay]
        doc = save_range_tests(results, args.out, "lr_find",
                               title=f"LR range test, {config['model']}, {data.train_split.label}")
    for entry in doc["runs"]:
        smith = entry["suggestions"]["smith"]
        print(f"weight_decay={entry['weight_decay']:g}: status={entry['status']}, "
              f"suggested lr_max={_fmt(smith['lr_max'])} lr_min={_fmt(smith['lr_min'])} "
              f"({smith['basis']}); valley={_fmt(entry['suggestions']['valley']['lr'])}")
    print(f"wrote {args.out}/lr_find.csv, lr_find.json, lr_find.png")
    return 0


def cmd_train(args) -> int:
    from . import io
    from .plots import plot_training
    from .runs import RunDir
    from .train import fit
    _check_shared_flags(args)
    with RunDir(args.out, resume=args.resume, overwrite=args.overwrite, check_only=True):
        pass  # refuse a locked, finished or unwritable folder before the data is loaded
    lr_s, mom_s = _schedules(args, args.steps, args.schedule)
    data, model, config = _setup(args)
    result = fit(model, data.train, steps=args.steps, lr=lr_s, momentum=mom_s,
                 weight_decay=args.weight_decay, optimizer=args.optimizer, test=data.test,
                 eval_every=args.eval_every or 0, out_dir=args.out,
                 checkpoint_every=args.checkpoint_every, resume=args.resume,
                 overwrite=args.overwrite, precision=args.precision,
                 channels_last=config["channels_last"], progress=args.progress or None,
                 config=config)
    fig = plot_training(result.metrics, title=f"{config['model']}, {data.train_split.label}")
    io.save_figure(fig, args.out / "training.png", dpi=110, bbox_inches="tight")
    line = f"status={result.status} steps={result.steps_done}"
    if result.diverged_at is not None:
        line += f" diverged at step {result.diverged_at}"
    if len(result.test):
        line += (f" test_loss={result.test['loss'].iloc[-1]:.4f}"
                 f" test_accuracy={result.test['accuracy'].iloc[-1]:.4f}")
    print(line)
    print(f"wrote {args.out}/metrics.csv, run.json, training.png")
    return 0


def cmd_figure(args) -> int:
    from .paper import notebook as nb
    from .paper.profiles import FIGURES, get_profile
    from .paper.replicate import run_figure
    from .train import resolve_device
    get_profile(args.profile)
    if args.figure not in FIGURES:
        raise ConfigError(f"figure {args.figure!r} is unknown; choose one of {', '.join(FIGURES)}")
    started = time.perf_counter()
    device = resolve_device(args.device)
    splits = nb.make_splits(args.dataset, args.figure, profile=args.profile, device=device,
                            test_images=args.test_images)
    result = run_figure(args.figure, splits, profile=args.profile, seeds=args.seeds,
                        run_dir=args.run_dir, rerun=args.rerun, max_steps=args.max_steps,
                        launcher=args.launcher, ray_address=args.ray_address or None,
                        gpus_per_run=args.gpus_per_run)
    params = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    csv = nb.save_results(args.out, args.figure, result.metrics, params=params, device=device,
                          settings=result.settings, runs=result.runs, started=started)
    from . import io
    io.write_csv(args.out / f"{args.figure}_runs.csv", result.runs)
    print(f"{args.figure}: {len(result.runs)} runs -> {csv}")
    return 0


def cmd_estimate(args) -> int:
    from . import io
    from .paper import estimate as E
    from .paper.profiles import FIGURES, get_profile
    from .train import resolve_device, use_bf16
    get_profile(args.profile)
    figures = list(FIGURES) if args.figures == "all" else args.figures.split(",")
    unknown = [f for f in figures if f not in FIGURES]
    if unknown:
        raise ConfigError(f"--figures: unknown {', '.join(unknown)}; choose from "
                          f"{', '.join(FIGURES)} or all")
    device = resolve_device(args.device)
    use_bf16(args.precision, device)
    table = E.estimate(E.work(figures, args.profile), device=device, precision=args.precision,
                       probe_steps=args.probe_steps)
    print(E.describe(table, args.profile, device=device, precision=args.precision))
    if args.csv:
        io.write_csv(args.csv, table)
    return 0


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"
