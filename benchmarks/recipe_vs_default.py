"""Smith's recipe against fastai's default workflow: same data, same model, same number of steps.

Why: the recipe (paperlib.recipe) spends a search budget on range tests and short runs before it
trains. What a user would do instead is fastai's default workflow: `lr_find` with its valley
suggestion, then `fit_one_cycle` with fastai's defaults. This script runs both and scores them on
the same test images, so the recipe's extra cost can be weighed against what it buys.

Like for like, and how each is checked:
  - fastai runs itself, in a virtual environment this script creates on first use
    (build/fastai-venv, a few minutes once): fastai is no dependency of paperlib. torch and
    torchvision are pinned to this environment's versions, so both sides compute with one torch.
  - Data: CIFAR-10, a stratified training subset (the same for every seed), random 32x32 crops
    from 4-pixel zero padding plus horizontal flips, per-channel normalisation with the full
    training split's statistics. Both sides draw from the same DeviceLoader with the same seed,
    so the final runs see the same batches in the same order; the first batch's hash is compared.
  - Model: paperlib's resnet20, its weights drawn from the seed; the fastai side imports paperlib
    from this checkout to build it, and the initial weights' hashes are compared.
  - Steps: the recipe's final 1cycle run and fastai's `fit_one_cycle` both take --steps updates
    (fastai's one epoch is exactly --steps batches). Searches are on top: the recipe's budget
    (--search-images) and lr_find's 100 iterations, each timed.
  - Held out: the recipe reads its curves off a validation split carved from the training images
    and never trained on. Smith read the test set, but here that would grade the recipe on the
    images it chose its settings by. lr_find reads only the training loss; fastai's fit reports
    the same validation split and selects nothing by it.
  - Score: both trained models are evaluated here, by paperlib.engine.evaluate, on the same test
    images (all 10,000 by default), in fp32.
  - Precision: fp32 on both sides, fastai's default.
  - Evaluation during training is on top of the steps and in the wall times: the recipe's final
    run reads the validation split 20 times, fastai's fit once.

Not equalised, because each is part of the workflow being compared: the optimizer (the recipe's
SGD with momentum, as Smith; fastai's default Adam with decoupled weight decay) and the schedule
(Smith's linear 1cycle with its lr_min/1000 tail; fastai's cosine one with pct_start 0.25).

    python benchmarks/recipe_vs_default.py          # 3 seeds; prints its expected duration first
    python benchmarks/recipe_vs_default.py --quick  # 1 seed, 30 steps, small subsets: smoke test
    python benchmarks/recipe_vs_default.py --estimate  # the expected duration only

Needs CIFAR-10 under $PAPERLIB_DATA (or ./data). The last line printed is one JSON object:
recipe_acc and default_acc (means over seeds), seeds, steps, search_images, and per-seed lists and
wall times.
"""
from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FASTAI_VERSION = "2.8.12"
LR_FIND_ITERS = 100  # fastai's lr_find default num_it
QUICK = dict(seeds=[0], steps=30, subset=1000, val_images=500, test_images=1000, batch_size=32)


# -- shared by both sides (the fastai side runs this file in its own venv) ------------------

def _paperlib():
    """paperlib from this checkout, whichever environment runs the file."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import paperlib  # noqa: F401


def _loaders(data_file: Path, batch_size: int, seed: int):
    """The training and validation DeviceLoaders both sides train from."""
    _paperlib()
    import numpy as np
    from paperlib.data import DeviceLoader, ImageSplit, NormStats
    d = np.load(data_file)
    stats = NormStats(mean=tuple(d["mean"].tolist()), std=tuple(d["std"].tolist()),
                      mean_image=d["mean_image"])

    def split(name):
        return ImageSplit(images=d[f"{name}_images"], labels=d[f"{name}_labels"],
                          classes=tuple(str(c) for c in d["classes"]), source=str(d["source"]),
                          label=str(d["label"]), dataset="cifar10", split=name)

    train = DeviceLoader(split("train"), batch_size, stats=stats, augment="crop-flip",
                         normalize="channel", shuffle=True, drop_last=True, seed=seed)
    val = DeviceLoader(split("val"), min(500, len(d["val_labels"])), stats=stats,
                       augment="none", normalize="channel", shuffle=False, drop_last=False)
    return train, val


def _model(name: str, seed: int):
    _paperlib()
    from paperlib.experiment import make_model
    return make_model(name, num_classes=10, seed=seed, device="cpu")


def _digest(tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# -- the fastai side ---------------------------------------------------------------------------

def fastai_worker(job_file: Path) -> None:
    """lr_find (valley) then fit_one_cycle with fastai's defaults; runs in the fastai venv."""
    import torch
    from torch.utils.data import DataLoader, IterableDataset

    import fastai
    import fastai.callback.schedule  # noqa: F401 (adds lr_find and fit_one_cycle to Learner)
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.losses import CrossEntropyLossFlat
    from fastai.metrics import accuracy

    job = json.loads(Path(job_file).read_text())
    train, val = _loaders(Path(job["data"]), job["batch_size"], job["seed"])

    class Steps(IterableDataset):
        """`steps` batches of the DeviceLoader, from step 0 on every pass: one fastai epoch is
        the whole run, so fit_one_cycle(1) spans exactly `steps` updates."""

        def __init__(self, loader, steps):
            self.loader, self.steps = loader, steps

        def __iter__(self):
            return (self.loader.batch(step) for step in range(self.steps))

        def __len__(self):
            return self.steps

    class Ordered(IterableDataset):
        def __init__(self, loader):
            self.loader = loader

        def __iter__(self):
            return iter(self.loader)

        def __len__(self):
            return len(self.loader)

    work = Path(job["work"])
    dls = DataLoaders(DataLoader(Steps(train, job["steps"]), batch_size=None),
                      DataLoader(Ordered(val), batch_size=None), path=work,
                      device=torch.device("cpu"))
    model = _model(job["model"], job["seed"])
    initial = _digest(model.state_dict().values())
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), metrics=accuracy, path=work)
    started = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        suggestion = learn.lr_find(show_plot=False)
    lr_find_s = time.perf_counter() - started
    started = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, suggestion.valley)
    fit_s = time.perf_counter() - started
    torch.save(learn.model.state_dict(), job["state"])
    defaults = {name: p.default for name, p in
                inspect.signature(Learner.fit_one_cycle).parameters.items()
                if p.default is not inspect.Parameter.empty}
    Path(job["result"]).write_text(json.dumps({
        "valley_lr": float(suggestion.valley), "lr_find_s": lr_find_s, "fit_s": fit_s,
        "steps_done": int(learn.train_iter),
        "initial_weights": initial, "first_batch": _digest(train.batch(0)),
        "fastai": fastai.__version__, "torch": torch.__version__,
        "optimizer": learn.opt_func.__name__, "moms": list(learn.moms),
        "opt_hypers": {k: float(v) for k, v in learn.opt.hypers[0].items()},
        "fit_one_cycle_defaults": {k: v for k, v in defaults.items()
                                   if isinstance(v, (int, float, str, type(None)))}}))


def fastai_python(venv: Path, log=print) -> Path:
    """The fastai venv's python; the venv is made on first use, with torch pinned to ours."""
    import torch
    import torchvision
    python = venv / "bin" / "python"
    pins = {"fastai": FASTAI_VERSION, "torch": torch.__version__.split("+")[0],
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
        raise SystemExit(f"pip could not install fastai into {venv} (exit {done.returncode}); "
                         f"see {pip_log}")
    stamp.write_text(json.dumps(pins))
    log(f"fastai venv ready in {time.perf_counter() - started:.0f} s")
    return python


def run_fastai(python: Path, work: Path, data: Path, model: str, seed: int, steps: int,
               batch_size: int) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    job = {"data": str(data), "model": model, "seed": seed, "steps": steps,
           "batch_size": batch_size, "work": str(work), "state": str(work / "model.pt"),
           "result": str(work / "result.json")}
    (work / "job.json").write_text(json.dumps(job))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([str(python), __file__, "--fastai-worker", str(work / "job.json")],
                          capture_output=True, text=True, env=env)
    if done.returncode:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"the fastai side failed (exit {done.returncode}):\n{tail}")
    return {**json.loads(Path(job["result"]).read_text()), "state": job["state"]}


# -- the paperlib side and the comparison -----------------------------------------------------

def prepare_data(work: Path, subset: int | None, val_images: int, test_images: int | None):
    """Stratified, seed-independent splits: validation from the training images, the training
    subset from the rest, the test subset from the test images; written for the fastai side."""
    _paperlib()
    import numpy as np
    from paperlib.data import NormStats, load_split, stratified_subset
    full, test = load_split("cifar10", "train"), load_split("cifar10", "test")
    stats = NormStats.from_split(full)
    val_idx = stratified_subset(full.labels, val_images, seed=0)
    rest = np.setdiff1d(np.arange(len(full)), val_idx)
    if subset:
        rest = rest[stratified_subset(full.labels[rest], subset, seed=0)]
    train, val = full.subset(np.sort(rest)), full.subset(val_idx)
    if test_images and test_images < len(test):
        test = test.subset(stratified_subset(test.labels, test_images, seed=0))
    path = work / "data.npz"
    work.mkdir(parents=True, exist_ok=True)
    np.savez(path, train_images=train.images, train_labels=train.labels,
             val_images=val.images, val_labels=val.labels, mean=np.array(stats.mean),
             std=np.array(stats.std), mean_image=stats.mean_image,
             classes=np.array(full.classes), source=np.array(full.source),
             label=np.array(full.label))
    return path, train, test, stats


def probe_rates(data: Path, model: str, batch_size: int) -> tuple[float, float]:
    """Training and evaluation images/s of this model in fp32 here, from a few steps."""
    from paperlib.engine import Compute, evaluate, fit
    train, val = _loaders(data, batch_size, 0)
    net = _model(model, 0)
    fit(net, train, steps=2, lr=0.01, compute=Compute("fp32"), progress=False)
    started = time.perf_counter()
    fit(net, train, steps=6, lr=0.01, compute=Compute("fp32"), progress=False)
    train_rate = 6 * batch_size / (time.perf_counter() - started)
    started = time.perf_counter()
    evaluate(net, val, precision="fp32")
    eval_rate = len(val.labels) / (time.perf_counter() - started)
    return train_rate, eval_rate


def expected_seconds(args, budget: int, val_n: int, test_n: int, rates) -> float:
    """Train images over the training rate plus evaluated images over the evaluation rate.
    The search evaluates the validation split about 10 times per range test (6 of them) and
    2-3 times per short run (9), the final run 20 times; fastai is assumed as fast as paperlib."""
    train_rate, eval_rate = rates
    per_seed_train = budget + 2 * args.steps * args.batch_size + LR_FIND_ITERS * args.batch_size
    per_seed_eval = (6 * 11 + 9 * 3 + 21 + 1) * val_n + 2 * test_n
    return len(args.seeds) * (per_seed_train / train_rate + per_seed_eval / eval_rate)


def main(argv=None) -> int:
    if argv is None and len(sys.argv) == 3 and sys.argv[1] == "--fastai-worker":
        fastai_worker(Path(sys.argv[2]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="one comparison per seed: initial weights and data order (default 0 1 2)")
    p.add_argument("--steps", type=int, default=2500, help="updates of each final run")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--subset", type=int, default=None,
                   help="training images (default: all but the validation split)")
    p.add_argument("--val-images", type=int, default=2000,
                   help="validation split held out of the training images (the recipe's readings)")
    p.add_argument("--test-images", type=int, default=None, help="test images (default: all)")
    p.add_argument("--search-images", type=int, default=None,
                   help="the recipe's budget (default: the recipe's own, 20%% of steps x batch, "
                        "raised to its minimum if below)")
    p.add_argument("--model", default="resnet20")
    p.add_argument("--work", type=Path, default=ROOT / "build" / "recipe_vs_default")
    p.add_argument("--venv", type=Path, default=ROOT / "build" / "fastai-venv")
    p.add_argument("--quick", action="store_true",
                   help="a smoke test of the whole path, into WORK/quick: 1 seed, 30 steps at "
                        "batch 32, 1,000 training, 500 validation and 1,000 test images")
    p.add_argument("--estimate", action="store_true",
                   help="print the expected duration and exit, without training")
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
        args.work = args.work / "quick"
    _paperlib()
    from paperlib.errors import PaperlibError
    try:
        return compare(args)
    except PaperlibError as e:  # missing data, a bad setting: one line, as the CLI does
        print(f"recipe_vs_default: error: {e}", file=sys.stderr)
        return 2


def compare(args) -> int:
    started = time.perf_counter()
    import torch
    from paperlib.data import DeviceLoader
    from paperlib.recipe import default_search_images, minimum_search_images, run_recipe
    from paperlib.engine import evaluate

    need = max(minimum_search_images(args.batch_size, seeds=(s, s + 1)) for s in args.seeds)
    budget = args.search_images or default_search_images(args.steps, args.batch_size)
    if budget < need:
        print(f"search budget raised from {budget} to {need} images: the least the recipe's "
              f"grids accept at batch {args.batch_size}")
        budget = need
    data, train_split, test_split, stats = prepare_data(args.work, args.subset, args.val_images,
                                                        args.test_images)
    val_n = args.val_images
    rates = probe_rates(data, args.model, args.batch_size)
    venv_note = "" if (args.venv / ".installed.json").exists() else \
        ", plus a few minutes to create the fastai venv"
    expected = expected_seconds(args, budget, val_n, len(test_split), rates)
    print(f"{train_split.label}: {len(train_split)} training, {val_n} validation, "
          f"{len(test_split)} test images; {args.model}, batch {args.batch_size}, "
          f"{args.steps} steps, search budget {budget} images, seeds {args.seeds}")
    print(f"expected duration: about {expected / 60:.0f} min ({rates[0]:.0f} training and "
          f"{rates[1]:.0f} evaluation images/s in fp32 here{venv_note})", flush=True)
    if args.estimate:
        return 0
    python = fastai_python(args.venv)
    test = DeviceLoader(test_split, 500, stats=stats, augment="none", normalize="channel",
                        shuffle=False, drop_last=False)

    rows = []
    for seed in args.seeds:
        train, val = _loaders(data, args.batch_size, seed)
        model = _model(args.model, seed)
        initial, first_batch = _digest(model.state_dict().values()), _digest(train.batch(0))
        t0 = time.perf_counter()
        recipe = run_recipe(model, train, val, out_dir=args.work / f"seed{seed}" / "recipe",
                            steps=args.steps, search_images=budget, device="cpu",
                            seeds=(seed, seed + 1), precision="fp32", train_final=True,
                            overwrite=True, log=lambda line: print(f"  seed {seed}: {line}"))
        recipe_wall = time.perf_counter() - t0
        search_s = sum(r.seconds for r in recipe.records)
        recipe_acc = evaluate(recipe.final_model, test, precision="fp32")[1]
        fa = run_fastai(python, args.work / f"seed{seed}" / "fastai", data, args.model, seed,
                        args.steps, args.batch_size)
        if (fa["initial_weights"], fa["first_batch"], fa["steps_done"]) != \
                (initial, first_batch, args.steps):
            raise SystemExit(f"seed {seed}: the two sides did not start from the same weights "
                             "and batches or did not take the same steps; the comparison would "
                             "not be like for like")
        trained = _model(args.model, seed)
        trained.load_state_dict(torch.load(fa["state"], map_location="cpu"))
        default_acc = evaluate(trained, test, precision="fp32")[1]
        rows.append({"seed": seed, "recipe_acc": recipe_acc, "default_acc": default_acc,
                     "recipe": recipe.handoff(), "recipe_search_s": search_s,
                     "recipe_train_s": recipe_wall - search_s, "recipe_wall_s": recipe_wall,
                     "search_images_used": recipe.images_used, "default_lr": fa["valley_lr"],
                     "default_lr_find_s": fa["lr_find_s"], "default_fit_s": fa["fit_s"],
                     "default_wall_s": fa["lr_find_s"] + fa["fit_s"], "fastai": fa})
        print(f"seed {seed}: recipe {recipe_acc:.4f} (lr {recipe.lr_min:.3g}-{recipe.lr_max:.3g}, "
              f"mom {recipe.mom_max}-{recipe.mom_min}, wd {recipe.weight_decay:g}; search "
              f"{search_s:.0f} s + train {recipe_wall - search_s:.0f} s) | fastai default "
              f"{default_acc:.4f} (valley lr {fa['valley_lr']:.3g}; lr_find {fa['lr_find_s']:.0f}"
              f" s + fit {fa['fit_s']:.0f} s)", flush=True)

    fa = rows[0]["fastai"]
    summary = {
        "recipe_acc": statistics.mean(r["recipe_acc"] for r in rows),
        "default_acc": statistics.mean(r["default_acc"] for r in rows),
        "seeds": args.seeds, "steps": args.steps, "search_images": budget,
        "recipe_acc_per_seed": [r["recipe_acc"] for r in rows],
        "default_acc_per_seed": [r["default_acc"] for r in rows],
        "recipe_wall_s": [round(r["recipe_wall_s"], 1) for r in rows],
        "recipe_search_s": [round(r["recipe_search_s"], 1) for r in rows],
        "default_wall_s": [round(r["default_wall_s"], 1) for r in rows],
        "default_lr_find_s": [round(r["default_lr_find_s"], 1) for r in rows],
        "recipe": [r["recipe"] for r in rows], "default_lr": [r["default_lr"] for r in rows],
        "search_images_used": [r["search_images_used"] for r in rows],
        "model": args.model, "batch_size": args.batch_size, "dataset": train_split.label,
        "train_images": len(train_split), "val_images": val_n, "test_images": len(test_split),
        "fastai": fa["fastai"], "fastai_optimizer": fa["optimizer"],
        "fastai_opt_hypers": fa["opt_hypers"],
        "fastai_fit_one_cycle_defaults": fa["fit_one_cycle_defaults"], "torch": torch.__version__,
        "precision": "fp32", "expected_s": round(expected), "wall_s":
        round(time.perf_counter() - started), "quick": args.quick}
    (args.work / "result.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
