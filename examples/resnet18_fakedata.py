"""torchvision's resnet18 on torchvision's FakeData (64x64 images, 10 classes) through the LR
range test, a 1cycle run and Smith's recipe: a model and a dataset as torchvision ships them,
with paperlib's defaults.

Why this example: it is the shape of most image work (a torchvision model, a torchvision
dataset, transforms, a DataLoader), and it needs no download. But read its numbers for what
they are. FakeData's images are random noise and each label is drawn at random, so there is
nothing to learn that carries over to other images: the best a model can do on the validation
images is chance, accuracy 0.1 and cross-entropy ln 10 = 2.303. The range test still runs, and
Smith's rule still returns the lr of the lowest test loss, but here that minimum is noise, and
the diagnostics say so (e.g. "the loss never fell by 5%"). What the example does show: the
calls for an image model, what a step of resnet18 costs on your CPU, and what an uninformative
range test looks like. With real images in place of FakeData, the same script gives a real
reading.

Run it (wall times measured on this project's 2-core CPU, one torch thread, the machine
shared with other jobs):
    python examples/resnet18_fakedata.py           # the practitioner's size: 134 s
    python examples/resnet18_fakedata.py --quick   # the size CI runs: 26 s
    python examples/resnet18_fakedata.py --out DIR # also keep the recipe's record in DIR

It prints the range test's suggestion with the lowest and highest test loss it saw, the 1cycle
run's test loss and accuracy, the recipe's hand-off and the wall time.

For a benchmark: `build(quick: bool) -> Built`, a named tuple (model, train_loader,
val_loader, loss, optimizer, sweep, steps): a fresh resnet18 (the same weights at every call),
torch DataLoaders of (images [batch, 3, 64, 64] float in 0..1, labels) pairs, the `loss=`
paperlib takes (None: cross-entropy), paperlib's optimizer name, the range test's `Sweep` and
the 1cycle run's length in updates.
"""
from __future__ import annotations

import argparse
import copy
import math
import tempfile
import time
from typing import Callable, NamedTuple

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from paperlib.data import LoaderBatches
from paperlib.engine import Every, fit
from paperlib.range_test import Sweep, lr_range_test
from paperlib.recipe import STEP_SIZE_FRACTION, minimum_search_images, run_recipe
from paperlib.schedules import one_cycle

CLASSES, IMAGE = 10, (3, 64, 64)
# (training images, validation images, batch, range-test updates, 1cycle updates) per size
SIZES = {False: (2_048, 128, 16, 100, 150), True: (256, 16, 4, 30, 30)}
# The final training the recipe plans for: its default search budget is 20% of these updates'
# samples. The quick size gives the smallest budget the recipe accepts, on shorter grids.
RECIPE_STEPS = 2_000
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


def build(quick: bool) -> Built:
    """The model, the loaders and the settings of this example at one size (see the module
    docstring); every call gives the same data and the same initial weights."""
    train_images, val_images, batch, sweep_steps, steps = SIZES[quick]
    to_tensor = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    train = torchvision.datasets.FakeData(train_images, IMAGE, CLASSES, transform=to_tensor)
    # FakeData draws image i from seed i + random_offset: the offset keeps the two sets apart
    val = torchvision.datasets.FakeData(val_images, IMAGE, CLASSES, transform=to_tensor,
                                        random_offset=train_images)
    train_loader = DataLoader(train, batch_size=batch, shuffle=True,
                              generator=torch.Generator().manual_seed(0))
    val_loader = DataLoader(val, batch_size=64)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=CLASSES, weights=None)
    return Built(model, train_loader, val_loader, loss=None, optimizer="sgd",
                 sweep=Sweep(0.0, 1.0, sweep_steps), steps=steps)


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
    test_loss = result.test["loss"]
    print(f"  the test loss ranged {test_loss.min():.3f} .. {test_loss.max():.3f} over the sweep "
          f"(chance: ln {CLASSES} = {math.log(CLASSES):.3f}): on noise, the reading is noise")
    for note in result.suggest()["diagnostics"]:
        print(f"  note: {note}")
    lr_max = smith["lr_max"]
    if not lr_max:
        # Smith's rule read the sweep's first lr, 0: the test loss was never lower than before
        # the lr rose. On real data that says the sweep's lrs climb too fast or it is too short;
        # on noise it is the expected answer. The 1cycle then takes the valley rule's reading
        # of the train loss (or a hundredth of the sweep's top), so the rest still runs.
        lr_max = result.suggest()["valley"]["lr"] or sweep.lr_max / 100
        print(f"  Smith's rule read lr 0 (no lr beat none): the 1cycle takes {lr_max:.3g}")
    tested = time.perf_counter()

    # 2. A short 1cycle from that reading, on a copy: the recipe below starts from the same
    # untrained weights. Smith's cycle rises lr_min -> lr_max over 45% of the run, falls to 0
    # by 90%, and ends at lr_min/1000; momentum falls 0.95 -> 0.85 as the lr rises.
    lr, momentum = one_cycle("smith", lr_max / 10, lr_max,
                             step_size=int(STEP_SIZE_FRACTION * steps), total=steps)
    run = fit(copy.deepcopy(model), LoaderBatches(train_loader), steps=steps, lr=lr,
              momentum=momentum, weight_decay=1e-4, optimizer=optimizer, test=val_loader,
              loss=loss, every=Every(eval=max(1, steps // 5)))
    last = run.test.iloc[-1]
    print(f"1cycle: {steps} updates, test loss {last['loss']:.4f}, test accuracy "
          f"{last['accuracy']:.4f} (chance: {1 / CLASSES:.2f})")
    trained = time.perf_counter()

    # 3. Smith's recipe (§5): lr, momentum and weight decay by short runs, handed to 1cycle.
    # On the CPU it keeps the loader's batch (on a GPU it would probe the largest that fits).
    grids = dict(QUICK_GRIDS) if args.quick else {}
    if args.quick:
        grids["search_images"] = minimum_search_images(train_loader.batch_size, **QUICK_GRIDS)
    with tempfile.TemporaryDirectory() as scratch:
        recipe = run_recipe(model, train_loader, val_loader, out_dir=args.out or scratch,
                            steps=RECIPE_STEPS, lr_range=(sweep.lr_min, sweep.lr_max),
                            loss=loss, optimizer=optimizer, overwrite=True, **grids)
    print(f"hand-off: lr {recipe.lr_min:.3g} -> {recipe.lr_max:.3g}, momentum "
          f"{recipe.mom_max:g} -> {recipe.mom_min:g}, weight decay {recipe.weight_decay:g}, "
          f"batch {recipe.batch_size}, {recipe.steps} updates (search: {recipe.images_used} "
          f"of {recipe.search_images} images)")
    if args.out:
        print(f"  record: {args.out}/report.md")
    done = time.perf_counter()
    print(f"wall time: {done - started:.1f} s on this CPU (torch threads: "
          f"{torch.get_num_threads()}; range test {tested - started:.1f} s, 1cycle "
          f"{trained - tested:.1f} s, recipe {done - trained:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
