"""paperlib's LR range test side by side with torch-lr-finder's and fastai's lr_find.

Why: a practitioner who wants an lr for 1cycle today reaches for torch-lr-finder's
`LRFinder.range_test` or fastai's `Learner.lr_find`. This script runs each of them, and
paperlib's `lr_range_test`, on three of the examples' tasks, times each finder, takes each
one's suggested lr, and then trains the same short 1cycle from every suggestion, so what is
compared in the end is only the lr each tool suggested.

The tasks are the examples' `build(quick) -> Built` (same data and initial weights at every
call): (a) examples/tabular_mlp.py, (c) examples/resnet18_fakedata.py, (d)
examples/tiny_language_model.py. The default is their practitioner's size, --quick their CI size.

1. The finders, each on a fresh build() (the same initial weights, the same first batches: the
   first training input each finder feeds its model is hashed and the hashes compared), each
   timed by wall clock from the tool's object being made to its suggestion in hand and the
   model restored (torch-lr-finder's suggestion comes from its plot, drawn with matplotlib's
   Agg backend: its range_test alone is timed too, as range_test_s):
   - torch-lr-finder 0.2.2: `LRFinder(model, optimizer, criterion)` and `range_test(train_loader)`
     with its defaults (exponential ramp to end_lr 10 over 100 iterations, smoothing 0.05, stop
     at 5x the best loss, no validation loader), the ramp starting at the optimizer's lr, made
     1e-7 here as in torch-lr-finder's own examples (and fastai's start); its default
     suggestion, `plot(suggest_lr=True)`'s steepest gradient; then `reset()`.
   - fastai 2.8.12: a `Learner` wrapping the plain nn.Module with `DataLoaders(train_dl,
     valid_dl)` of the task's torch DataLoaders and the task's loss, and `lr_find()` with its
     defaults (1e-7 to 10, exponential, 100 iterations, stop at 4x) and its `valley` suggestion.
   - paperlib: `lr_range_test` over the task's `Sweep` (linear from 0, the task's length), with
     the validation loader evaluated 20 times over the sweep as the examples do (Smith reads
     the test loss); Smith's rule (`suggest()["smith"]["lr_max"]`), and the valley rule of the
     same sweep (no second sweep: its wall time is the same test's).
   Every finder sweeps the optimizer the 1cycle trains with: SGD with momentum 0.9 and L2
   weight decay 1e-4 for (a) and (c), AdamW (beta1 0.9, beta2 0.999, decoupled weight decay
   0.01) for (d); torch's own optimizers for torch-lr-finder and fastai (fastai through its
   `OptimWrapper`, which leaves weight decay on every parameter, as the other two do), and
   paperlib's "sgd" (torch's update rule) and "adamw" (torch's AdamW).
   torch-lr-finder and fastai run in a virtual environment this script makes on first use
   (build/lr-finders-venv, a few minutes once), with torch and torchvision pinned to this
   environment's versions; paperlib and the examples are imported there from this checkout.
2. From every suggestion, the same 1cycle: paperlib's `one_cycle("smith", lr/10, lr, step_size
   = 45% of the run, total = the task's steps)` with cyclical momentum 0.95 -> 0.85 (beta1 for
   AdamW), the task's optimizer, loss, weight decay and steps, trained by paperlib's `fit`, the
   validation loss read once at the end. Seeds: the 3 seeds are data orders (0, 1, 2: the
   training DataLoader's shuffle generator; seed 0 is build()'s own order), all from build()'s
   one set of initial weights. Why not weight seeds: every finder read its lr off these very
   weights, so training from them keeps the comparison to the lr alone; the data order is the
   run-to-run noise any practitioner's run has.
3. The result: benchmarks/results/vs_lr_finders_<date>.json with paperlib's provenance (git
   commit, dirty flag, and whether the files the result depends on were clean; packages with
   fastai's and torch-lr-finder's; device, threads, time), the settings, and per task per tool
   the finder's wall time, updates, suggestion, the per-seed final validation losses, their
   mean and SD (n - 1). A markdown table is printed at the end.

Not equalised, each because it is what the tool is:
  - the sweep: torch-lr-finder and fastai ramp exponentially from 1e-7 to 10 over 100 updates;
    paperlib linearly from 0 over the task's sweep (0-4 in 400 updates, 0-1 in 100, 0-0.05 in
    300 at the practitioner's sizes), so the finders' wall times cover different numbers of
    updates (recorded) and paperlib's also covers its 20 evaluations of the validation set;
  - what is read: torch-lr-finder and fastai read the training loss; Smith's rule reads the
    validation loss;
  - the divergence stop (5x, 4x, 4x of the smoothed loss's best) and the smoothing;
  - where each runs: torch-lr-finder and fastai in the venv's process, paperlib in this one,
    the same torch, one thread each, fp32; paperlib with its default channels_last for the
    convnet (the others in torch's default layout);
Equalised: initial weights, data and its order, the loss, the optimizer and its settings,
fp32 arithmetic, one torch thread, a warm-up in each process before anything is timed (a
forward and backward pass and an optimizer step on a throwaway copy), and in step 2 everything
but the lr.

    python benchmarks/vs_lr_finders.py          # the examples' practitioner's size, 3 seeds
    python benchmarks/vs_lr_finders.py --quick  # CI sizes, 1 seed: a smoke test (into build/)
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FASTAI_VERSION = "2.8.12"
TORCH_LR_FINDER_VERSION = "0.2.2"
FINDER_START_LR = 1e-7  # fastai's start_lr default; torch-lr-finder starts at the optimizer's lr
MOMENTUM = 0.9          # the finders' momentum (beta1 for AdamW)
MOM_MAX, MOM_MIN = 0.95, 0.85
STEP_FRACTION = 0.45    # Smith's 1cycle: the lr rises over 45% of the run
SEEDS = (0, 1, 2)
# task: (the letter, the example's file, weight decay of the finders and the 1cycle;
# the examples' own 1cycle values: 1e-4 for SGD, torch's AdamW default 0.01)
TASKS = {"tabular_mlp": ("a", 1e-4), "resnet18_fakedata": ("c", 1e-4),
         "tiny_language_model": ("d", 0.01)}
TOOLS = ("torch-lr-finder", "fastai", "paperlib (Smith)", "paperlib (valley)")


# -- shared by both processes -------------------------------------------------------------------

def example(name: str):
    """examples/<name>.py as a module, with paperlib imported from this checkout."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    module = sys.modules.get(f"example_{name}")
    if module is None:
        spec = importlib.util.spec_from_file_location(f"example_{name}",
                                                      ROOT / "examples" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


def one_thread() -> None:
    import torch
    torch.set_num_threads(1)


def criterion(built):
    """The task's loss as a criterion (output, target): its own, or cross-entropy where the
    example leaves paperlib's default (None)."""
    from torch import nn
    return built.loss if built.loss is not None else nn.CrossEntropyLoss()


def torch_optimizer(kind: str, params, weight_decay: float):
    """The torch optimizer paperlib's `kind` is, for the tools that take a torch optimizer."""
    import torch
    if kind == "sgd":
        return torch.optim.SGD(params, lr=FINDER_START_LR, momentum=MOMENTUM,
                               weight_decay=weight_decay)
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=FINDER_START_LR, betas=(MOMENTUM, 0.999),
                                 weight_decay=weight_decay)
    raise SystemExit(f"no torch optimizer for paperlib's {kind!r} in this benchmark")


def warm_up(name: str, quick: bool) -> None:
    """One forward and backward pass and one step of the task's torch optimizer on a throwaway
    build, so that no finder pays for a process's first calls (making the first torch optimizer
    in a process costs about a second of lazy imports)."""
    built = example(name).build(quick)
    optimizer = torch_optimizer(built.optimizer, built.model.parameters(), 0.0)
    x, y = next(iter(built.train_loader))
    criterion(built)(built.model(x), y).backward()
    optimizer.step()
    optimizer.state_dict()


class FirstInput:
    """Hashes the first input the model sees in training mode: the finders must start on the
    same batch."""

    def __init__(self, model):
        self.digest = None
        self.handle = model.register_forward_pre_hook(self)

    def __call__(self, module, args):
        if self.digest is None and module.training:
            h = hashlib.sha256()
            for a in args:
                h.update(a.detach().cpu().contiguous().numpy().tobytes())
            self.digest = h.hexdigest()[:16]

    def close(self) -> str | None:
        self.handle.remove()
        return self.digest


def weights_digest(model) -> str:
    h = hashlib.sha256()
    for t in model.state_dict().values():
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# -- the other tools' side (runs in the venv) ---------------------------------------------------

def worker(job_file: Path) -> None:
    """torch-lr-finder's range_test and fastai's lr_find on one task; writes their results."""
    import contextlib
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from importlib import metadata

    job = json.loads(Path(job_file).read_text())
    one_thread()
    name, quick, wd = job["task"], job["quick"], job["weight_decay"]
    module = example(name)
    warm_up(name, quick)
    out = {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
           "versions": {"fastai": metadata.version("fastai"),
                        "torch-lr-finder": metadata.version("torch-lr-finder")}}

    # torch-lr-finder: its defaults, its default suggestion
    from torch_lr_finder import LRFinder
    built = module.build(quick)
    initial = weights_digest(built.model)
    first = FirstInput(built.model)
    chatter = io.StringIO()  # its progress bar and prints
    started = time.perf_counter()
    with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
        finder = LRFinder(built.model, torch_optimizer(built.optimizer,
                                                        built.model.parameters(), wd),
                          criterion(built))
        finder.range_test(built.train_loader)
        swept = time.perf_counter()
        ax, lr = finder.plot(suggest_lr=True)
        finder.reset()
    seconds = time.perf_counter() - started
    plt.close("all")
    out["torch-lr-finder"] = {
        "lr": None if lr is None else float(lr), "wall_s": seconds,
        "range_test_s": swept - started, "updates": len(finder.history["lr"]),
        "initial_weights": initial, "first_input": first.close(),
        "restored": weights_digest(built.model) == initial,
        "settings": "range_test(train_loader): start_lr None (the optimizer's, "
                    f"{FINDER_START_LR:g}), end_lr 10, num_iter 100, step_mode exp, smooth_f "
                    "0.05, diverge_th 5, val_loader None; plot(suggest_lr=True): skip_start "
                    "10, skip_end 5, steepest gradient"}

    # fastai: a Learner over the plain module and the task's torch DataLoaders
    out["fastai"] = fastai_lr_find(module, quick, wd, Path(job["work"]))
    Path(job["result"]).write_text(json.dumps(out))


def fastai_lr_find(module, quick: bool, wd: float, work: Path) -> dict:
    from functools import partial

    import torch
    import fastai.callback.schedule  # noqa: F401 (adds lr_find to Learner)
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.optimizer import OptimWrapper

    built = module.build(quick)
    initial = weights_digest(built.model)
    first = FirstInput(built.model)
    if built.optimizer == "sgd":
        opt_func = partial(OptimWrapper, opt=torch.optim.SGD, momentum=MOMENTUM,
                           weight_decay=wd)
    else:
        opt_func = partial(OptimWrapper, opt=torch.optim.AdamW, betas=(MOMENTUM, 0.999),
                           weight_decay=wd)
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    dls = DataLoaders(built.train_loader, built.val_loader, path=work)
    learn = Learner(dls, built.model, loss_func=criterion(built), opt_func=opt_func, path=work)
    with learn.no_bar(), learn.no_logging():
        suggestion = learn.lr_find(show_plot=False)
    seconds = time.perf_counter() - started
    hypers = {k: (list(v) if isinstance(v, tuple) else v)
              for k, v in learn.opt.opt.param_groups[0].items()
              if k != "params" and isinstance(v, (int, float, tuple, bool, type(None)))}
    return {"lr": float(suggestion.valley), "wall_s": seconds,
            "updates": len(learn.recorder.lrs), "initial_weights": initial,
            "first_input": first.close(), "restored": weights_digest(built.model) == initial,
            "optimizer": type(learn.opt.opt).__name__, "optimizer_after": hypers,
            "settings": "lr_find(): start_lr 1e-7, end_lr 10, num_it 100, stop_div True "
                        "(4x), suggest_funcs (valley,)"}


def venv_python(venv: Path, log=print) -> Path:
    """The comparison venv's python; made on first use, torch pinned to this environment's."""
    import torch
    import torchvision
    python = venv / "bin" / "python"
    pins = {"fastai": FASTAI_VERSION, "torch-lr-finder": TORCH_LR_FINDER_VERSION,
            "torch": torch.__version__.split("+")[0],
            "torchvision": torchvision.__version__.split("+")[0]}
    stamp = venv / ".installed.json"
    if python.exists() and stamp.exists() and json.loads(stamp.read_text()) == pins:
        return python
    log(f"creating {venv} ({', '.join(f'{k}=={v}' for k, v in pins.items())}); "
        "a few minutes, once")
    started = time.perf_counter()
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip_log = venv / "pip-install.log"
    with open(pip_log, "w") as out:
        done = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                               *(f"{k}=={v}" for k, v in pins.items())],
                              stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"pip could not install the compared tools into {venv} "
                         f"(exit {done.returncode}); see {pip_log}")
    stamp.write_text(json.dumps(pins))
    log(f"venv ready in {time.perf_counter() - started:.0f} s")
    return python


def run_worker(python: Path, work: Path, name: str, quick: bool, wd: float) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    job = {"task": name, "quick": quick, "weight_decay": wd, "work": str(work / "fastai"),
           "result": str(work / "others.json")}
    (work / "job.json").write_text(json.dumps(job))
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    done = subprocess.run([str(python), __file__, "--worker", str(work / "job.json")],
                          capture_output=True, text=True, env=env)
    if done.returncode:
        tail = "\n".join(done.stderr.strip().splitlines()[-20:])
        raise SystemExit(f"{name}: the torch-lr-finder/fastai side failed "
                         f"(exit {done.returncode}):\n{tail}")
    return json.loads(Path(job["result"]).read_text())


# -- paperlib's side and the comparison ---------------------------------------------------------

def paperlib_range_test(name: str, quick: bool, wd: float) -> dict:
    from paperlib.data import LoaderBatches
    from paperlib.engine import Compute
    from paperlib.range_test import lr_range_test
    built = example(name).build(quick)
    initial = weights_digest(built.model)
    first = FirstInput(built.model)
    started = time.perf_counter()
    result = lr_range_test(built.model, LoaderBatches(built.train_loader), built.sweep,
                           test=built.val_loader, loss=built.loss, optimizer=built.optimizer,
                           momentum=MOMENTUM, weight_decay=wd, compute=Compute("fp32"))
    suggestion = result.suggest()
    seconds = time.perf_counter() - started
    s = built.sweep
    common = {"wall_s": seconds, "updates": len(result.train), "status": result.status,
              "initial_weights": initial, "first_input": first.close(),
              "restored": weights_digest(built.model) == initial,
              "diagnostics": suggestion["diagnostics"],
              "settings": f"lr_range_test: Sweep({s.lr_min:g}, {s.lr_max:g}, {s.steps}, "
                          f"{s.mode}), validation evaluated every {max(1, s.steps // 20)} "
                          "updates, divergence stop 4x the smoothed loss's best"}
    smith = suggestion["smith"]
    return {"paperlib (Smith)": {**common, "lr": smith["lr_max"], "basis": smith["basis"]},
            "paperlib (valley)": {**common, "lr": suggestion["valley"]["lr"],
                                  "valley": suggestion["valley"].get("valley"),
                                  "note": "the same range test as Smith's rule; no second sweep"}}


def one_cycle_run(name: str, quick: bool, wd: float, lr_max: float, seed: int) -> dict:
    """The 1cycle every tool's suggestion gets: only lr_max differs."""
    import torch
    from torch.utils.data import DataLoader

    from paperlib.data import LoaderBatches
    from paperlib.engine import Compute, Every, fit
    from paperlib.schedules import one_cycle
    built = example(name).build(quick)
    loader = built.train_loader
    ordered = DataLoader(loader.dataset, batch_size=loader.batch_size, shuffle=True,
                         drop_last=loader.drop_last,
                         generator=torch.Generator().manual_seed(seed))
    lr, momentum = one_cycle("smith", lr_max / 10, lr_max,
                             step_size=int(STEP_FRACTION * built.steps), total=built.steps,
                             mom_max=MOM_MAX, mom_min=MOM_MIN)
    torch.manual_seed(seed)
    started = time.perf_counter()
    run = fit(built.model, LoaderBatches(ordered), steps=built.steps, lr=lr, momentum=momentum,
              weight_decay=wd, optimizer=built.optimizer, test=built.val_loader,
              loss=built.loss, every=Every(log=50), compute=Compute("fp32"), progress=False)
    seconds = time.perf_counter() - started
    last = run.test.iloc[-1] if not run.test.empty else None
    loss = None if last is None or not math.isfinite(last["loss"]) else float(last["loss"])
    acc = None if last is None or last["accuracy"] is None or \
        not math.isfinite(float(last["accuracy"])) else float(last["accuracy"])
    return {"seed": seed, "status": run.status, "val_loss": loss, "val_accuracy": acc,
            "steps_done": run.steps_done, "wall_s": round(seconds, 1)}


def untrained_val_loss(name: str, quick: bool) -> float:
    from paperlib.engine import evaluate
    built = example(name).build(quick)
    return float(evaluate(built.model, built.val_loader, precision="fp32", loss=built.loss)[0])


def depends_on_clean() -> dict:
    """Whether the files this result depends on (this script, the examples, and every paperlib
    module this process imported) match the recorded commit; other files may be in edit."""
    loaded = sorted({str(Path(m.__file__).resolve().relative_to(ROOT))
                     for m in list(sys.modules.values())
                     if (getattr(m, "__file__", None) or "").startswith(str(ROOT / "paperlib"))})
    paths = ["benchmarks/vs_lr_finders.py", *(f"examples/{n}.py" for n in TASKS), *loaded]
    out = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=ROOT,
                         capture_output=True, text=True)
    changed = out.stdout.strip().splitlines() if out.returncode == 0 else None
    return {"paths": paths, "clean": None if changed is None else not changed,
            "changed": changed or []}


def fmt_lr(lr) -> str:
    return "none" if lr is None else f"{lr:.3g}"


def table(doc: dict) -> str:
    lines = ["| task | tool | finder wall time | updates | suggested lr | final val loss "
             "(mean ± SD, 3 seeds) | per seed |", "|---|---|---|---|---|---|---|"]
    for name, task in doc["tasks"].items():
        label = f"({task['letter']}) {name}"
        lines.append(f"| {label} | untrained model (reference) | - | - | - | "
                     f"{task['untrained_val_loss']:.4f} | |")
        for tool in TOOLS:
            r = task["tools"][tool]
            if r.get("skipped"):
                lines.append(f"| {label} | {tool} | - | - | - | {r['skipped']} | |")
                continue
            wall = (f"{r['wall_s']:.{2 if r['wall_s'] < 10 else 1}f} s"
                    if tool != "paperlib (valley)" else "(the same test)")
            if r.get("mean") is not None:
                spread = f"{r['mean']:.4f} ± {r['sd']:.4f}" if r.get("sd") is not None \
                    else f"{r['mean']:.4f}"
            else:
                spread = r.get("note_runs", "no runs")
            seeds = ", ".join("diverged" if x is None else f"{x:.4f}" for x in r["val_losses"])
            lines.append(f"| {label} | {tool} | {wall} | {r['updates']} | {fmt_lr(r['lr'])} | "
                         f"{spread} | {seeds} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    if argv is None and len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="the examples' CI sizes and 1 seed: a smoke test, its result in build/")
    p.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    p.add_argument("--out", type=Path, default=None,
                   help="the result file (default benchmarks/results/vs_lr_finders_<date>.json; "
                        "--quick: build/vs_lr_finders/quick.json)")
    p.add_argument("--venv", type=Path, default=ROOT / "build" / "lr-finders-venv")
    p.add_argument("--work", type=Path, default=ROOT / "build" / "vs_lr_finders")
    args = p.parse_args(argv)
    seeds = SEEDS[:1] if args.quick else SEEDS
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    out = args.out or (args.work / "quick.json" if args.quick else
                       ROOT / "benchmarks" / "results" / f"vs_lr_finders_{today}.json")
    started = time.perf_counter()
    one_thread()
    import torch
    example("tabular_mlp")  # paperlib from this checkout
    from paperlib.provenance import provenance
    python = venv_python(args.venv)

    tasks = {}
    for name in args.tasks:
        letter, wd = TASKS[name]
        quick = args.quick
        print(f"({letter}) {name}: finders", flush=True)
        others = run_worker(python, args.work / name, name, quick, wd)
        warm_up(name, quick)
        ours = paperlib_range_test(name, quick, wd)
        results = {"torch-lr-finder": others["torch-lr-finder"], "fastai": others["fastai"],
                   **ours}
        starts = {(r["initial_weights"], r["first_input"]) for r in results.values()}
        if len(starts) != 1:
            raise SystemExit(f"{name}: the finders did not start from the same weights and "
                             f"batch: {starts}; the comparison would not be like for like")
        for tool in TOOLS:
            r = results[tool]
            print(f"  {tool}: lr {fmt_lr(r['lr'])} in {r['wall_s']:.1f} s "
                  f"({r['updates']} updates)", flush=True)
        runs_by_lr: dict[tuple[float, int], dict] = {}
        for tool in TOOLS:
            r = results[tool]
            if r["lr"] is None or r["lr"] <= 0:
                r.update(runs=[], val_losses=[], mean=None, sd=None,
                         note_runs=f"no 1cycle: the suggestion is {fmt_lr(r['lr'])}")
                continue
            runs = []
            for seed in seeds:
                key = (r["lr"], seed)
                if key not in runs_by_lr:  # two tools with the very same lr share their runs
                    runs_by_lr[key] = one_cycle_run(name, quick, wd, r["lr"], seed)
                runs.append(runs_by_lr[key])
            losses = [x["val_loss"] for x in runs]
            finite = [x for x in losses if x is not None]
            r.update(runs=runs, val_losses=losses,
                     mean=statistics.mean(finite) if len(finite) == len(losses) else None,
                     sd=statistics.stdev(finite) if len(finite) == len(losses) > 1 else None)
            if len(finite) < len(losses):
                r["note_runs"] = f"diverged in {len(losses) - len(finite)} of {len(losses)}"
            print(f"  {tool}: 1cycle from lr {r['lr']:.3g}: val loss "
                  + ", ".join("diverged" if x is None else f"{x:.4f}" for x in losses),
                  flush=True)
        built = example(name).build(quick)
        tasks[name] = {
            "letter": letter, "example": f"examples/{name}.py", "size":
            "quick (CI)" if quick else "practitioner's (default)",
            "optimizer": built.optimizer, "weight_decay": wd, "steps": built.steps,
            "batch_size": built.train_loader.batch_size,
            "train_samples": len(built.train_loader.dataset),
            "val_samples": len(built.val_loader.dataset),
            "sweep": {"lr_min": built.sweep.lr_min, "lr_max": built.sweep.lr_max,
                      "steps": built.sweep.steps, "mode": built.sweep.mode},
            "loss": "cross-entropy" if built.loss is None else built.loss.__name__,
            "untrained_val_loss": untrained_val_loss(name, quick),
            "venv_process": {k: others[k] for k in ("torch", "torch_threads")},
            "tools": results}

    clean = depends_on_clean()
    if not clean["clean"]:
        print(f"note: files this result depends on differ from the commit: {clean['changed']}")
    prov = provenance("cpu")
    prov["packages"].update(others["versions"])
    prov["compared_tools_env"] = {"path": str(args.venv.relative_to(ROOT))
                                  if args.venv.is_relative_to(ROOT) else str(args.venv),
                                  "torch": others["torch"],
                                  "torch_threads": others["torch_threads"]}
    prov["depends_on"] = clean
    doc = {
        "benchmark": "benchmarks/vs_lr_finders.py", "quick": args.quick,
        "settings": {
            "seeds": list(seeds), "seed_means": "data order (the training DataLoader's shuffle "
            "generator); initial weights are build()'s, the same for every run",
            "one_cycle": {"style": "smith", "lr_min": "lr/10", "lr_max": "the suggestion",
                          "step_size": f"{STEP_FRACTION} x steps", "mom_max": MOM_MAX,
                          "mom_min": MOM_MIN, "trainer": "paperlib.engine.fit",
                          "precision": "fp32", "final val loss": "one evaluation at the end"},
            "finders": {"momentum (beta1)": MOMENTUM, "start_lr (torch-lr-finder, fastai)":
                        FINDER_START_LR, "precision": "fp32", "torch_threads": 1,
                        "warm_up": "per process: one forward and backward pass and one "
                        "optimizer step on a throwaway build"},
            "sd": "sample standard deviation (n - 1)"},
        "tasks": tasks, "wall_s": round(time.perf_counter() - started, 1),
        "provenance": prov}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"\n{table(doc)}\n\nwritten: {out} ({doc['wall_s']:.0f} s, torch threads "
          f"{torch.get_num_threads()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
