"""What every notebook does besides its figure: check its parameters, find folders, save results.

The parameters cell holds annotated literals (`profile: str = "smoke"  # ...`); papermill injects
a cell of plain assignments after it, headed "# Parameters". `check_parameters(globals())` then
compares that cell (found in the kernel's input history) with the parameters cell's own
annotations: a name that is not annotated is a parameter the notebook does not have (papermill
only warns about those), and a value of the wrong type is refused, both with one line naming the
parameter and the fix.
"""
from __future__ import annotations

import ast
import time
import types
import typing
from pathlib import Path

import pandas as pd

from .. import io
from ..cifar import data_root
from ..errors import ConfigError, DatasetNotFoundError, PaperlibError
from ..experiment import Splits
from ..provenance import provenance
from .folders import figures_dir, project_root, resolve_dir  # noqa: F401 (the notebooks' API)
from .profiles import eval_subset_for, get_profile


def check_parameters(namespace: dict) -> dict:
    """The notebook's parameters as a dict, after checking names, types and the profile. From
    here on in this kernel, an error a user can act on shows as its one line, not a traceback."""
    one_line_errors()
    declared = namespace.get("__annotations__", {})
    if not declared:
        raise ConfigError("the parameters cell declares nothing: annotate each parameter "
                          "(name: type = value)")
    unknown = [name for name in injected_names(namespace) if name not in declared]
    if unknown:
        raise ConfigError(f"unknown parameter {unknown[0]!r}; this notebook's parameters are: "
                          f"{', '.join(declared)}")
    params = {}
    for name, kind in declared.items():
        if name not in namespace:
            raise ConfigError(f"parameter {name!r} has no value; give it one in the parameters cell")
        value = namespace[name]
        if not _is_instance(value, kind):
            raise ConfigError(f"parameter {name!r} must be {_type_name(kind)}, got {value!r} "
                              f"({type(value).__name__}); e.g. papermill -p {name} ... or -y")
        params[name] = value
    if "profile" in params:
        get_profile(params["profile"])
    return params


def one_line_errors() -> None:
    """Show paperlib's own errors (a bad parameter, missing data, a locked folder) in this
    IPython kernel as the one line that names the problem and the fix: under papermill the
    traceback of library frames buried that line in ~55 others. Other errors keep theirs."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def show(shell, etype, value, tb, tb_offset=None):
        shell._showtraceback(etype, value, [f"paperlib: error: {value}"])
    shell.set_custom_exc((PaperlibError,), show)


def injected_names(namespace: dict) -> list[str]:
    """Names assigned by the newest papermill-injected cell in the kernel's history (In)."""
    for source in reversed(list(namespace.get("In") or [])):
        if source.lstrip().startswith("# Parameters"):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return []
            return [target.id for node in tree.body if isinstance(node, ast.Assign)
                    for target in node.targets if isinstance(target, ast.Name)]
    return []


def _is_instance(value, kind) -> bool:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_is_instance(value, arg) for arg in typing.get_args(kind))
    if origin in (list, tuple):
        (item,) = typing.get_args(kind)[:1] or (typing.Any,)
        return isinstance(value, (list, tuple)) and all(_is_instance(v, item) for v in value)
    if kind is typing.Any:
        return True
    if kind is type(None) or kind is None:
        return value is None
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _type_name(kind) -> str:
    return getattr(kind, "__name__", None) if typing.get_origin(kind) is None else str(kind)


def make_splits(dataset: str, figure: str, *, profile: str, device, test_images: int = 0):
    """The notebook's data: the profile's train and test subsets of `dataset` (`test_images` > 0
    scores on that many test images instead, for a quick pass). CIFAR-100 where it is absent
    stops here with one line naming the two ways on; nothing ever stands in for it silently."""
    if not isinstance(test_images, int) or test_images < 0:
        raise ConfigError(f"test_images ({test_images!r}) must be an integer >= 0 (0: the profile's)")
    root = data_root()
    try:
        return Splits(dataset, train_subset=get_profile(profile).train_subset,
                      test_subset=test_images or eval_subset_for(figure, profile),
                      device=device, root=root)
    except DatasetNotFoundError:
        if dataset != "cifar100":
            raise
        raise ConfigError(f"CIFAR-100 is not in {root}: put cifar-100-python/ (torchvision "
                          f"format) there, or run with -p dataset cifar10 for a labelled "
                          f"stand-in") from None


def save_results(out_dir: Path, name: str, frame: pd.DataFrame, *, params: dict, settings: dict,
                 runs: pd.DataFrame | None = None, device=None, started: float | None = None,
                 extra: dict | None = None) -> Path:
    """Tidy CSV `<name>.csv` and its provenance `<name>.json` (with the hash of the plan lock its
    profile ran under, plan.lock.lock_record); returns the CSV's path."""
    csv = io.write_csv(out_dir / f"{name}.csv", frame)
    if runs is not None:
        runs = runs.astype(object).where(runs.notna(), None)  # NaN is not JSON: write null
    from .plan.lock import lock_record  # the lock these runs were made under (None: none)
    record = {"figure": name, "profile": params.get("profile"), "parameters": params,
              "settings": settings, "plan_lock": lock_record(params.get("profile")),
              **(extra or {}),
              "runs": runs.to_dict(orient="records") if runs is not None else [],
              "wall_s": round(time.perf_counter() - started, 1) if started else None,
              "provenance": provenance(device)}
    io.write_json(out_dir / f"{name}.json", record)
    return csv


def save_plot(fig, out_dir: Path, name: str) -> list[Path]:
    """The figure as PNG (300 dpi), PDF and SVG, each written atomically."""
    from ..plots import save_figure_set
    return save_figure_set(fig, out_dir, name)


def write_claims(out_dir: Path, notebook: str, table: pd.DataFrame) -> Path:
    """The notebook's claims table as `<notebook>_claims.csv` beside its figures."""
    return io.write_csv(out_dir / f"{notebook}_claims.csv", table)


def confirmatory(profile: str, **results) -> list:
    """The figures' results (FigureResult by figure name, in order) cut to the runs the plan
    lock's verdicts read (plan.confirmatory: the fresh seeds after the pilot's, under a final
    lock; everything otherwise)."""
    from .plan import confirmatory as cut
    return [cut(result, figure, profile) for figure, result in results.items()]


def judge(rows: list[dict], *, profile: str, out_dir: Path, notebook: str,
          **results) -> pd.DataFrame:
    """The notebook's claims table: the claims' rows with each one's power at its runs, the plan
    lock's word on those runs (the figure JSONs in `out_dir` say which lock they ran under) and
    the Holm column (plan.review), written to `<notebook>_claims.csv`; returns it."""
    from .plan import review
    table = review(rows, profile=profile, runs={f: r.runs for f, r in results.items()},
                   saved=out_dir)
    write_claims(out_dir, notebook, table)
    return table


def execution(params: dict):
    """The notebook's execution parameters (precision, fuse, capture, launcher, ...) as the
    Execution that run_figure takes."""
    from .replicate import Execution
    names = ("precision", "fuse", "capture", "launcher", "gpus_per_run", "ray_address")
    return Execution(**{k: params[k] for k in names if k in params})


def print_estimate(figures: list[str], params: dict, splits: Splits) -> pd.DataFrame:
    """Print the work ahead of this notebook and its wall time on this device (a short probe,
    paperlib.paper.estimate), before anything trains, as the probes end; returns the table.
    More than a day of it is said in a line of its own."""
    from . import estimate as E
    run = execution(params)
    plan = E.work(figures, params["profile"], seeds=params.get("seeds") or None,
                  max_steps=params.get("max_steps", 0), test_images=params.get("test_images", 0),
                  dataset=splits.dataset, execution=run, device_type=splits.device.type,
                  folders=bool(params.get("run_dir", "runs")))
    table = E.estimate(plan, log=print, device=splits.device, execution=run)
    print(E.describe(table, params["profile"], device=splits.device, execution=run))
    return table


def print_plan(figures: list[str], params: dict, work_ahead: pd.DataFrame) -> pd.DataFrame:
    """Print how many runs per curve decide each of these figures' claims under this profile,
    and what they cost at the rate the work-ahead estimate just measured, then the plan lock in
    force (plan.lock); returns the rows."""
    from . import plan as P
    rate = {r.figure: r.estimate_s / max(r.train_images, 1) for r in work_ahead.itertuples()}
    table = P.plan(params["profile"], seconds_per_image=lambda figure: rate.get(figure, 0.0),
                   figures=figures)
    print(P.describe_plan(table))
    print(P.describe_lock(params["profile"]))
    return table
