"""The replication's commands: `figure` (train one of the paper's figures under a profile),
`estimate` (the work ahead and its wall time here), `plan` (how many runs decide each claim)
and `report` (one HTML page of a profile's saved results).
"""
from __future__ import annotations

import time
from pathlib import Path

from ..errors import ConfigError
from . import args as A
from . import choices as C


def add_parsers(sub) -> None:
    p = sub.add_parser("figure", help="train every run of one of the paper's figures under a "
                                      "profile; tidy CSV, runs CSV and provenance JSON")
    p.add_argument("figure", choices=C.FIGURES, help=f"one of {A.one_of(C.FIGURES)}")
    A.profile_flag(p)
    p.add_argument("--dataset", choices=C.DATASETS, default="cifar10",
                   help="cifar10 (default), cifar100 (Fig 15's, needs its files) or synthetic")
    p.add_argument("--seeds", type=A.seed, nargs="+", help="one run per seed and curve "
                                                           "(default: the profile's)")
    p.add_argument("--run-dir", type=Path, default=Path("runs"),
                   help="a folder per run, so a rerun resumes (shared storage for a cluster; "
                        "default: runs)")
    p.add_argument("--out", type=Path, required=True,
                   help="folder for <figure>.csv, <figure>_runs.csv and <figure>.json")
    p.add_argument("--rerun", action="store_true", help="retrain runs that already finished")
    p.add_argument("--max-steps", type=A.nonneg_int, default=0,
                   help="stop every run after N steps (a quick pass; verdicts: not testable)")
    p.add_argument("--test-images", type=A.nonneg_int, default=0,
                   help="score every run on N test images (default: the profile's)")
    A.device_flags(p, fuse=True)
    g = p.add_argument_group("launcher")
    g.add_argument("--launcher", choices=C.LAUNCHERS, default="sequential",
                   help="sequential (here) or ray (Ray tasks on every GPU here, or on the "
                        "cluster at --ray-address)")
    g.add_argument("--ray-address", default="", help="default: $RAY_ADDRESS, else a local Ray")
    g.add_argument("--gpus-per-run", type=A.nonneg_number, default=1.0,
                   help="GPUs per Ray task; 0.25 packs four runs on a GPU (default: 1)")
    p.set_defaults(run=cmd_figure)

    p = sub.add_parser("estimate", help="the work ahead of a profile and its wall time on "
                                        "this device, from a short probe")
    A.profile_flag(p)
    p.add_argument("--figures", default="all",
                   help=f"comma-separated figures ({','.join(C.FIGURES)}), or all (default)")
    A.device_flags(p, fuse=True)
    p.add_argument("--csv", type=Path, help="also write the table to this CSV file")
    p.set_defaults(run=cmd_estimate)

    p = sub.add_parser("plan", help="per claim: Smith's effect, the noise of one run, the runs "
                                    "per curve that decide it, and what they cost")
    A.profile_flag(p)
    p.add_argument("--budget-hours", type=A.nonneg_number,
                   help="say which claims this many device-hours can decide")
    p.add_argument("--rate", type=A.nonneg_number,
                   help="training images per second to cost the runs at (default: measured "
                        "here by the estimate's probe)")
    p.add_argument("--rate-from", type=Path, metavar="JSON",
                   help="cost the runs at the rates a device check measured (its "
                        "device_check.json)")
    p.add_argument("--device", default="auto",
                   help="where the rate is measured: auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--csv", type=Path, help="also write the table to this CSV file")
    g = p.add_argument_group("the lock (paper only)")
    g.add_argument("--from-pilot", type=Path, metavar="DIR",
                   help="re-read each claim's noise and the rate from a pilot's saved figures "
                        "in DIR, re-plan within --budget-hours (default 24) and write the final "
                        "lock")
    g.add_argument("--lock", action="store_true",
                   help="write the pilot-stage lock: Smith's 4 runs per curve, the rules, the "
                        "plan at the assumed rate")
    g.add_argument("--lock-file", type=Path, help="where the lock goes (default: plan.lock.json "
                                                   "at the top of the checkout)")
    p.set_defaults(run=cmd_plan)

    p = sub.add_parser("report", help="one HTML page of a profile's saved figures, settings, "
                                      "provenance and verdicts (nothing is rerun)")
    A.profile_flag(p)
    p.add_argument("--figures-dir", type=Path,
                   help="where the figures are (default: figures/, figures/smoke for smoke)")
    p.add_argument("--out", type=Path, help="the page (default: reports/<profile>/index.html)")
    p.set_defaults(run=cmd_report)


def cmd_figure(args) -> int:
    from .. import io
    from ..device import resolve_device
    from ..paper import notebook as nb
    from ..paper.replicate import Execution, run_figure
    execution = Execution(precision=args.precision, fuse=args.fuse, capture=args.capture,
                          launcher=args.launcher, gpus_per_run=args.gpus_per_run,
                          ray_address=args.ray_address)
    started = time.perf_counter()
    device = resolve_device(args.device)
    splits = nb.make_splits(args.dataset, args.figure, profile=args.profile, device=device,
                            test_images=args.test_images)
    result = run_figure(args.figure, splits, profile=args.profile, seeds=args.seeds,
                        run_dir=args.run_dir, rerun=args.rerun, max_steps=args.max_steps,
                        execution=execution)
    params = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
              if k != "run"}
    csv = nb.save_results(args.out, args.figure, result.metrics, params=params, device=device,
                          settings=result.settings, runs=result.runs, started=started)
    io.write_csv(args.out / f"{args.figure}_runs.csv", result.runs)
    print(f"{args.figure}: {len(result.runs)} runs -> {csv}")
    return 0


def _figures(text: str) -> list[str]:
    figures = list(C.FIGURES) if text == "all" else text.split(",")
    unknown = [f for f in figures if f not in C.FIGURES]
    if unknown:
        raise ConfigError(f"--figures: unknown {', '.join(unknown)}; choose from "
                          f"{', '.join(C.FIGURES)} or all")
    return figures


def cmd_estimate(args) -> int:
    from .. import io
    from ..device import resolve_device
    from ..engine import Execution
    from ..paper import estimate as E
    figures = _figures(args.figures)
    device = resolve_device(args.device)
    execution = Execution(precision=args.precision, fuse=args.fuse, capture=args.capture)
    work = E.work(figures, args.profile, execution=execution, device_type=device.type)
    table = E.estimate(work, device=device, execution=execution, log=print)
    print(E.describe(table, args.profile, device=device, execution=execution))
    if args.csv:
        io.write_csv(args.csv, table)
    return 0


def cmd_plan(args) -> int:
    from .. import io
    from ..paper import plan as P
    if args.budget_hours is not None and args.budget_hours <= 0:
        raise ConfigError(f"--budget-hours {args.budget_hours:g} must be > 0")
    if (args.from_pilot or args.lock) and args.profile != "paper":
        raise ConfigError(f"--from-pilot and --lock plan the paper profile, not "
                          f"{args.profile!r}: add --profile paper")
    if args.from_pilot and args.lock:
        raise ConfigError("--from-pilot writes the final lock and --lock the pilot's: give one")
    path = args.lock_file or P.LOCK_PATH
    if args.from_pilot:
        table, lock = P.plan_from_pilot(args.from_pilot, budget_hours=args.budget_hours)
        print(P.describe_plan(table, start={f: n["runs_per_curve"] for f, n in
                                            lock["pilot"]["figures"].items()},
                              least=P.LEAST_SEEDS))
        return _locked(io, P, table, lock, path, args.csv)
    if args.lock:
        from ..paper.profiles import PAPER_BUDGET_HOURS, PAPER_RATE
        table, lock = P.pre_pilot_lock(budget_hours=args.budget_hours or PAPER_BUDGET_HOURS,
                                       rate=args.rate or PAPER_RATE)
        print(P.describe_plan(table, start=lock["seeds"], least=P.LEAST_SEEDS))
        return _locked(io, P, table, lock, path, args.csv)
    seconds = _rate(args)
    table = P.plan(args.profile, budget_hours=args.budget_hours, seconds_per_image=seconds)
    paper = args.profile == "paper"  # its budget is spread from the lock's runs per curve on
    print(P.describe_plan(table, start=dict(zip(table["figure"], table["n_profile"])) if paper
                          else None, least=P.LEAST_SEEDS if paper else 1))
    if args.csv:
        io.write_csv(args.csv, table)
    return 0


def _locked(io, P, table, lock, path, csv) -> int:
    P.write_lock(lock, path)
    print(f"wrote {path}: stage {lock['stage']}, lock {P.lock_hash(lock)}, rules {lock['rules']}, "
          "runs per curve " + ", ".join(f"{f} {n}" for f, n in lock["seeds"].items()))
    if csv:
        io.write_csv(csv, table)
    return 0


def _rate(args):
    """Seconds per training image per figure: --rate, a device check's rates (--rate-from), or a
    probe here."""
    if args.rate is not None:
        if args.rate <= 0:
            raise ConfigError(f"--rate {args.rate:g} must be > 0 images per second")
        return lambda figure: 1.0 / args.rate
    if args.rate_from is not None:
        return _device_check_rates(args.rate_from, args.profile)
    from ..device import resolve_device
    from ..paper import estimate as E
    rate = E.figure_rates(args.profile, device=resolve_device(args.device), log=print)
    return lambda figure: 1.0 / rate[figure]


def _device_check_rates(path: Path, profile: str):
    """Seconds per training image per figure from a device check's projection: each figure's
    projected seconds over its training images."""
    import json
    from ..paper.profiles import figure_runs
    try:
        projection = json.loads(Path(path).read_text())["projection"]["per_figure_s"]
    except FileNotFoundError:
        raise ConfigError(f"--rate-from {path}: no such file; run scripts/device_check.sh "
                          f"first") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ConfigError(f"--rate-from {path}: no projection in it (the device check did not "
                          f"finish); rerun scripts/device_check.sh or give --rate") from None
    seconds = {}
    for figure, total in projection.items():
        images = sum(s.run_steps * s.batch_size for s in figure_runs(figure, profile))
        seconds[figure] = float(total) / images
    return lambda figure: seconds[figure]


def cmd_report(args) -> int:
    from ..paper.report import write_report
    page = write_report(args.profile, args.figures_dir, args.out)
    print(f"wrote {page}")
    return 0
