"""A tabular MLP through Smith's three tools: the LR range test, a 1cycle run from its reading,
and the §5 recipe, with paperlib's defaults (SGD, cross-entropy, the batches a plain DataLoader
of a TensorDataset yields).

Why this example: most models practitioners train are not image networks, and most data arrive
as a table of numbers and a label column. Here the table is made up on the spot: 20 features,
of which 8 carry the class (the rest are noise, as many columns of a real table are); the 3
classes are the argmax of a small random "teacher" network, so a linear model cannot separate
them; 5% of the labels are redrawn at random, so no model can score above about 0.967.

Run it (wall times measured on this project's 2-core CPU, one torch thread, the machine
shared with other jobs):
    python examples/tabular_mlp.py           # the practitioner's size: 14 s
    python examples/tabular_mlp.py --quick   # the size CI runs: 8 s
    python examples/tabular_mlp.py --out DIR # also keep the recipe's record in DIR

It prints the range test's suggestion, the 1cycle run's final test loss and accuracy, the
recipe's hand-off and the wall time.

For a benchmark: `build(quick: bool) -> Built`, a named tuple (model, train_loader,
val_loader, loss, optimizer, sweep, steps): a fresh model (the same weights at every call),
torch DataLoaders of (features, label) pairs, the `loss=` paperlib takes (None: cross-entropy),
paperlib's optimizer name, the range test's `Sweep` and the 1cycle run's length in updates.
"""
from __future__ import annotations

import argparse
import copy
import tempfile
import time
from typing import Callable, NamedTuple

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from paperlib.data import LoaderBatches
from paperlib.engine import Every, fit
from paperlib.range_test import Sweep, lr_range_test
from paperlib.recipe import STEP_SIZE_FRACTION, minimum_search_images, run_recipe
from paperlib.schedules import one_cycle

FEATURES, INFORMATIVE, HIDDEN, CLASSES = 20, 8, 64, 3
LABEL_NOISE = 0.05
BATCH = 128
# (training rows, validation rows, range-test updates, 1cycle updates) per size
SIZES = {False: (20_000, 2_000, 400, 1_500), True: (2_048, 256, 60, 120)}
# The final training the recipe plans for: its default search budget is 20% of these updates'
# samples. The quick size gives the smallest budget the recipe accepts, on shorter grids.
RECIPE_STEPS = 3_000
QUICK_GRIDS = {"momenta": (0.9, 0.95), "weight_decays": (1e-4, 1e-5)}


class Built(NamedTuple):
    """What build() returns; the module docstring says what each field holds."""

    model: nn.Module
    train_loader: DataLoader
    val_loader: DataLoader
    loss: Callable | None
    optimizer: str
    sweep: Sweep
    steps: int


def make_table(rows: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and labels of a 3-class problem a linear model cannot solve: the classes are
    the argmax of a random teacher (INFORMATIVE features -> 6 tanh units -> 3), and
    LABEL_NOISE of the labels are redrawn uniformly."""
    # the teacher's weights come from fixed seeds: every split shares one problem
    teacher_in = torch.randn(INFORMATIVE, 6, generator=torch.Generator().manual_seed(1))
    teacher_out = torch.randn(6, CLASSES, generator=torch.Generator().manual_seed(2))
    x = torch.randn(rows, FEATURES, generator=generator)
    y = (torch.tanh(x[:, :INFORMATIVE] @ teacher_in) @ teacher_out).argmax(1)
    noisy = torch.rand(rows, generator=generator) < LABEL_NOISE
    y[noisy] = torch.randint(0, CLASSES, (int(noisy.sum()),), generator=generator)
    return x, y


def build(quick: bool) -> Built:
    """The model, the loaders and the settings of this example at one size (see the module
    docstring); every call gives the same data and the same initial weights."""
    train_rows, val_rows, sweep_steps, steps = SIZES[quick]
    generator = torch.Generator().manual_seed(0)
    x_train, y_train = make_table(train_rows, generator)
    x_val, y_val = make_table(val_rows, generator)
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=BATCH, shuffle=True,
                              generator=torch.Generator().manual_seed(0))
    val_loader = DataLoader(TensorDataset(x_val, y_val), batch_size=512)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.BatchNorm1d(HIDDEN), nn.ReLU(),
                          nn.Linear(HIDDEN, CLASSES))
    # Smith's range tests go from 0 to a "large" lr. BatchNorm keeps this MLP from diverging
    # up to about lr 14, but its test loss turns up near 1: a sweep to 4 puts more of its
    # evaluations around that minimum (so its note "the loss never diverged" is expected).
    return Built(model, train_loader, val_loader, loss=None, optimizer="sgd",
                 sweep=Sweep(0.0, 4.0, sweep_steps), steps=steps)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small size CI runs")
    parser.add_argument("--out", help="keep the recipe's record (report.md, CSV, "
                        "figures) in this folder, replacing an earlier one there")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model, train_loader, val_loader, loss, optimizer, sweep, steps = build(args.quick)

    # 1. The LR range test. The model comes back exactly as it was.
    result = lr_range_test(model, LoaderBatches(train_loader), sweep, test=val_loader,
                           loss=loss, optimizer=optimizer)
    smith = result.suggest()["smith"]
    print(f"suggestion: lr_max {smith['lr_max']:.3g}, lr_min {smith['lr_min']:.3g} "
          f"(Smith's rule, read off the {smith['basis']}; the sweep {result.status} after "
          f"{len(result.train)} of {sweep.steps} updates)")
    for note in result.suggest()["diagnostics"]:
        print(f"  note: {note}")
    tested = time.perf_counter()

    # 2. A short 1cycle from that reading, on a copy: the recipe below starts from the same
    # untrained weights. Smith's cycle rises lr_min -> lr_max over 45% of the run, falls to 0
    # by 90%, and ends at lr_min/1000; momentum falls 0.95 -> 0.85 as the lr rises.
    lr, momentum = one_cycle("smith", smith["lr_min"], smith["lr_max"],
                             step_size=int(STEP_SIZE_FRACTION * steps), total=steps)
    run = fit(copy.deepcopy(model), LoaderBatches(train_loader), steps=steps, lr=lr,
              momentum=momentum, weight_decay=1e-4, optimizer=optimizer, test=val_loader,
              loss=loss, every=Every(eval=steps // 5))
    last = run.test.iloc[-1]
    print(f"1cycle: {steps} updates, test loss {last['loss']:.4f}, test accuracy "
          f"{last['accuracy']:.4f}")
    trained = time.perf_counter()

    # 3. Smith's recipe (§5): lr, momentum and weight decay by short runs, handed to 1cycle.
    # The library's grids (4 momenta, 4 weight decays) at the practitioner's size.
    grids = dict(QUICK_GRIDS) if args.quick else {}
    if args.quick:
        grids["search_images"] = minimum_search_images(BATCH, **QUICK_GRIDS)
    with tempfile.TemporaryDirectory() as scratch:
        recipe = run_recipe(model, train_loader, val_loader, out_dir=args.out or scratch,
                            steps=RECIPE_STEPS, lr_range=(sweep.lr_min, sweep.lr_max),
                            loss=loss, optimizer=optimizer, overwrite=True, **grids)
    print(f"hand-off: lr {recipe.lr_min:.3g} -> {recipe.lr_max:.3g}, momentum "
          f"{recipe.mom_max:g} -> {recipe.mom_min:g}, weight decay {recipe.weight_decay:g}, "
          f"batch {recipe.batch_size}, {recipe.steps} updates (search: {recipe.images_used} "
          f"of {recipe.search_images} samples)")
    if args.out:
        print(f"  record: {args.out}/report.md")
    done = time.perf_counter()
    print(f"wall time: {done - started:.1f} s on this CPU (torch threads: "
          f"{torch.get_num_threads()}; range test {tested - started:.1f} s, 1cycle "
          f"{trained - tested:.1f} s, recipe {done - trained:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
