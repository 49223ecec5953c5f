"""`python -m paperlib recipe`: Smith's §5 recipe (paperlib.recipe) on one of the library's
datasets and models, from the shell.

Why a module of its own: the command is a single call, `recipe_from_names`, but its flags speak
the recipe's language (a search budget in training images, the final run's length, the batch of
the search), and they read best next to the code that turns them into that call.

Bad input exits with status 2 and one line, like every other command (cli.main prints the
ConfigError). The checks that need no data run first: model, device, precision, the budget's
arithmetic and the output folder; the checks that need data (an empty split, a loss that is NaN
on the first batch) run after loading, before any result is written.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from . import choices as C
from .args import one_of, positive_int, seed

DEFAULT_SEARCH_FRACTION = 0.20  # recipe.DEFAULT_SEARCH_FRACTION, without importing torch
# Training images when --subset is not given: the full CIFAR training splits, and the synthetic
# split's default size (Splits draws 2,000 when no subset is asked for).
TRAIN_IMAGES = {"cifar10": 50_000, "cifar100": 50_000, "synthetic": 2_000}
EPOCHS = 30  # recipe.FINAL_EPOCHS, without importing torch


def add_parsers(subparsers) -> argparse.ArgumentParser:
    """Add the `recipe` subcommand."""
    p = subparsers.add_parser(
        "recipe", help="Smith's recipe (§5): lr, momentum, weight decay and batch size for a "
                       "1cycle run, from short searches on your model; writes recipe.json and "
                       "report.md",
        description="Runs Smith's §5 search (LR range tests, constant-momentum runs, weight-decay "
                    "range tests and snapshot restarts, batch size) and writes OUT/recipe.json "
                    "(the 1cycle settings) and OUT/report.md (what each step measured, chose "
                    "and cost).")
    g = p.add_argument_group("data and model")
    g.add_argument("--dataset", choices=C.DATASETS, default="cifar10",
                   help=f"one of {one_of(C.DATASETS)}; cifar100 needs its files under "
                        "$PAPERLIB_DATA (default: cifar10)")
    g.add_argument("--model", choices=C.MODELS, default="resnet20", metavar="MODEL",
                   help=f"one of {one_of(C.MODELS)} (default: resnet20)")
    g.add_argument("--subset", type=positive_int,
                   help="train on a stratified subset of N images (default: the whole split)")
    g.add_argument("--test-subset", type=positive_int, default=2000,
                   help="read the test loss off a fixed stratified subset of N test images "
                        "(default: 2000)")
    g.add_argument("--batch-size", type=positive_int, default=128,
                   help="batch of the search (default: 128); the final run keeps it on the CPU, "
                        "and on CUDA takes the largest batch that fits, its lr scaled and checked")
    g.add_argument("--device", default="auto", help="auto (cuda if present), cpu, cuda or cuda:N")
    g.add_argument("--precision", choices=C.PRECISIONS, default="auto",
                   help="auto (bf16 on CUDA and on CPUs with native bf16), fp32 or bf16")
    g.add_argument("--seed", type=seed, default=0,
                   help="the model's initial weights, the training subset and the data orders "
                        "(the LR range tests use SEED and SEED+1)")
    r = p.add_argument_group("search and hand-off")
    r.add_argument("--steps", type=positive_int,
                   help=f"length of the final 1cycle run in updates at --batch-size (default: "
                        f"{EPOCHS} passes over the training images)")
    r.add_argument("--search-images", type=positive_int,
                   help=f"the search's budget in training images (default: "
                        f"{DEFAULT_SEARCH_FRACTION * 100:.0f}%% of steps x batch size)")
    r.add_argument("--train", action="store_true",
                   help="also run the final 1cycle training with the recipe (into OUT/final)")
    r.add_argument("--out", type=Path, required=True, help="folder for recipe.json, report.md, "
                                                           "and each step's CSV, JSON and PNG")
    r.add_argument("--overwrite", action="store_true",
                   help="replace a finished recipe in --out")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    """Check the flags, run the recipe, print the hand-off; 0 on success."""
    from ..device import resolve_device
    from ..recipe import HANDOFF_KEYS, recipe_from_names
    from ..recipe.records import value_text
    model = args.model
    device = resolve_device(args.device)
    seeds = (args.seed, args.seed + 1)
    batch, steps = _check_budget(args, seeds)
    _check_out(args.out, args.overwrite)
    recipe = recipe_from_names(
        args.dataset, model, subset=args.subset, test_subset=args.test_subset,
        search_images=args.search_images, out_dir=args.out, device=device, seed=args.seed,
        steps=steps, batch_size=batch, train_final=args.train, overwrite=args.overwrite,
        seeds=seeds, precision=args.precision)
    handoff = recipe.handoff()
    print("recipe: " + ", ".join(f"{k}={value_text(handoff[k])}" for k in HANDOFF_KEYS))
    seconds = sum(r.seconds for r in recipe.records)
    print(f"search: {recipe.images_used:,} of {recipe.search_images:,} training images, "
          f"{seconds:.1f} s")
    if recipe.final is not None:
        print(f"final run: {recipe.final.status} after {recipe.final.steps_done} steps, "
              f"test accuracy {recipe.final.final_test_accuracy():.4f}")
    print(f"wrote {args.out}/recipe.json, report.md")
    return 0


def _check_budget(args, seeds) -> tuple[int, int]:
    """The search batch and the final run's steps, after checking that the budget gives every
    run of the search its minimum of updates: arithmetic only, so it needs no data."""
    from ..recipe import (MIN_STEPS, default_search_images, final_run, minimum_search_images,
                          plan_search)
    batch, steps = final_run(args.subset or TRAIN_IMAGES[args.dataset], args.batch_size,
                             args.steps)  # as recipe_from_names will
    budget = args.search_images or default_search_images(steps, batch)
    try:
        plan_search(budget, batch, seeds=seeds)
    except ConfigError:
        need = minimum_search_images(batch, seeds=seeds)
        if args.search_images is None:
            raise ConfigError(
                f"the default search budget ({DEFAULT_SEARCH_FRACTION:.0%} of {steps} steps x "
                f"batch {batch} = {budget} images) is below the {need} the recipe needs at "
                f"batch {batch} ({MIN_STEPS} updates per run): give --search-images {need} or "
                f"more, more --steps, or a smaller --batch-size") from None
        raise ConfigError(
            f"--search-images {budget} is below the {need} images the recipe needs at batch "
            f"{batch} ({MIN_STEPS} updates per run): give --search-images {need} or more, or a "
            f"smaller --batch-size") from None
    return batch, steps


def _check_out(out: Path, overwrite: bool) -> None:
    """Refuse a locked, finished or unwritable folder before the data is loaded."""
    from ..recipe import ARTIFACTS
    from ..runs import RunDir
    with RunDir(out, marker="recipe.json", artifacts=ARTIFACTS, overwrite=overwrite,
                check_only=True):
        pass

