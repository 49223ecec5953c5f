"""A regression through the LR range test and a 1cycle run: a criterion of your own (here
nn.MSELoss) passed as `loss=`, float targets, and no accuracy anywhere.

Why this example: the range test and 1cycle are not about classification. Smith reads the range
test off the test loss, and for a regression that loss is the criterion's: pass `loss=` once
and the range test, `fit` and the evaluations all take it (without it, float targets stop the
run with a one-line error naming `loss=torch.nn.MSELoss()`).

The data are made up on the spot: 8 features, a target that mixes a sine, a product and a
square of some of them, plus Gaussian noise of standard deviation 0.1, so no model can reach a
test MSE below about 0.01; the script also prints the MSE of always predicting the mean, the
number a useful model must beat.

Run it (wall times measured on this project's 2-core CPU, one torch thread, the machine
shared with other jobs):
    python examples/regression_mse.py           # the practitioner's size: 10 s
    python examples/regression_mse.py --quick   # the size CI runs: 6 s

It prints the range test's suggestion, the 1cycle run's test MSE beside those two references,
and the wall time.

For a benchmark: `build(quick: bool) -> Built`, a named tuple (model, train_loader,
val_loader, loss, optimizer, sweep, steps): a fresh model (the same weights at every call),
torch DataLoaders of (features, target) pairs with targets of shape [batch, 1] like the
model's output, the criterion (nn.MSELoss()), paperlib's optimizer name, the range test's
`Sweep` and the 1cycle run's length in updates.
"""
from __future__ import annotations

import argparse
import time
from typing import Callable, NamedTuple

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from paperlib.data import LoaderBatches
from paperlib.engine import Every, fit
from paperlib.range_test import Sweep, lr_range_test
from paperlib.recipe import STEP_SIZE_FRACTION
from paperlib.schedules import one_cycle

FEATURES, HIDDEN = 8, 64
NOISE_STD = 0.1
BATCH = 64
# (training rows, validation rows, range-test updates, 1cycle updates) per size
SIZES = {False: (20_000, 2_000, 400, 2_000), True: (2_048, 256, 60, 120)}


class Built(NamedTuple):
    """What build() returns; the module docstring says what each field holds."""

    model: nn.Module
    train_loader: DataLoader
    val_loader: DataLoader
    loss: Callable | None
    optimizer: str
    sweep: Sweep
    steps: int


def make_rows(rows: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and a noisy nonlinear target of shape [rows, 1] (the model's output shape:
    nn.MSELoss would otherwise broadcast [B] against [B, 1] and return a wrong number)."""
    x = torch.randn(rows, FEATURES, generator=generator)
    clean = torch.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * x[:, 3] ** 2 - 0.3 * x[:, 4]
    noise = NOISE_STD * torch.randn(rows, generator=generator)
    return x, (clean + noise).unsqueeze(1)


def build(quick: bool) -> Built:
    """The model, the loaders and the settings of this example at one size (see the module
    docstring); every call gives the same data and the same initial weights."""
    train_rows, val_rows, sweep_steps, steps = SIZES[quick]
    generator = torch.Generator().manual_seed(0)
    x_train, y_train = make_rows(train_rows, generator)
    x_val, y_val = make_rows(val_rows, generator)
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=BATCH, shuffle=True,
                              generator=torch.Generator().manual_seed(0))
    val_loader = DataLoader(TensorDataset(x_val, y_val), batch_size=512)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN),
                          nn.ReLU(), nn.Linear(HIDDEN, 1))
    return Built(model, train_loader, val_loader, loss=nn.MSELoss(), optimizer="sgd",
                 sweep=Sweep(0.0, 1.0, sweep_steps), steps=steps)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small size CI runs")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model, train_loader, val_loader, loss, optimizer, sweep, steps = build(args.quick)

    # 1. The LR range test, read off the test MSE. The model comes back exactly as it was.
    result = lr_range_test(model, LoaderBatches(train_loader), sweep, test=val_loader,
                           loss=loss, optimizer=optimizer)
    smith = result.suggest()["smith"]
    print(f"suggestion: lr_max {smith['lr_max']:.3g}, lr_min {smith['lr_min']:.3g} "
          f"(Smith's rule, read off the {smith['basis']}; the sweep {result.status} after "
          f"{len(result.train)} of {sweep.steps} updates)")
    for note in result.suggest()["diagnostics"]:
        print(f"  note: {note}")
    tested = time.perf_counter()

    # 2. A short 1cycle from that reading (Smith's shape: up over 45% of the run, down to 0 by
    # 90%, then lr_min/1000; momentum 0.95 -> 0.85 -> 0.95 against the lr).
    lr, momentum = one_cycle("smith", smith["lr_min"], smith["lr_max"],
                             step_size=int(STEP_SIZE_FRACTION * steps), total=steps)
    run = fit(model, LoaderBatches(train_loader), steps=steps, lr=lr, momentum=momentum,
              weight_decay=1e-4, optimizer=optimizer, test=val_loader, loss=loss,
              every=Every(eval=steps // 5))
    targets = torch.cat([y for _, y in val_loader])
    print(f"1cycle: {steps} updates, test MSE {run.test['loss'].iloc[-1]:.4f} (predicting "
          f"the mean: {float(targets.var(correction=0)):.4f}; the noise alone: "
          f"{NOISE_STD ** 2:.4f})")
    done = time.perf_counter()
    print(f"wall time: {done - started:.1f} s on this CPU (torch threads: "
          f"{torch.get_num_threads()}; range test {tested - started:.1f} s, 1cycle "
          f"{done - tested:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
