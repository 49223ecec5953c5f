"""Smith's recipe on your own model (Smith 2018, arXiv 1803.09820, §5): lr, momentum, weight
decay and batch size found by short, cheap experiments, then handed to a 1cycle run.

Why a module: §5 is a procedure, not a formula. Each step is a handful of `lr_range_test` and
`fit` runs whose readings feed the next step, and a reader must be able to check every reading
afterwards. So each step records what it measured, what it chose and why, and what it cost, and
saves its data (CSV, JSON) and a figure as soon as it is done; `report.md` (a lab notebook) and
`recipe.json` (the hand-off) are written last, so their presence means the search finished.

The steps, in the paper's order:
  a. lr: linear LR range tests (Smith's, §4.1) from 0 to a "large" lr, one per seed, momentum
     ramped 0.95 -> 0.85 as in Fig 15a. Each is read with Smith's rule (lowest test loss,
     `suggest_smith`) and, as a cross check, the valley rule. lr_max is the median over seeds,
     its spread the min..max.
  b. momentum: short runs at constant momenta (§4.3: the momentum range test is uninformative)
     over the 1cycle's rising half, lr_min -> lr_max; the best becomes mom_max.
  c. weight decay, two ways: range tests over lr_min -> lr_max per value from one state (Fig 15a:
     the lowest test loss over the sweep's upper half, where the 1cycle spends its large lrs,
     wins) and continuations from one shared early snapshot (Fig 12b). The range test decides.
  d. batch size: the one given, or the largest that fits (a doubling probe, on CUDA only), with
     lr_max scaled linearly in the batch and checked by one more range test at that batch.
  e. hand-off: lr_min, lr_max, mom_max, mom_min, weight_decay, batch_size, steps (recipe.json);
     optionally the final 1cycle run (`one_cycle(style="smith")`).

Reading a folder back: `load_step`, `step_table`, `describe_step`, `plot_step` and `cost_table`
give a finished step's record, table and figure again from its files alone (a notebook's cells
do no more than call them), so what is shown is what was saved.

Layout, each module importing only those above it in this list:
  * ``budget``: FRACTIONS, MIN_STEPS and the budget's arithmetic (``plan_search``,
    ``default_search_images``, ``minimum_search_images``);
  * ``records``: StepRecord, Recipe, the folder's file names and how their values read as text;
  * ``sources``: the training and validation data, re-drawn and counted for every run;
  * ``figures``: a step's figure, from its CSV and JSON;
  * ``search``: steps a-d and the final run;
  * ``report``: report.md and recipe.json;
  * ``readback``: ``load_step``, ``step_table``, ``describe_step``, ``plot_step``, ``cost_table``;
  * this file: ``run_recipe``, ``recipe_from_names`` and the checks made before anything runs.
Import from ``paperlib.recipe`` itself; the module split is not part of the interface.

Decisions where the paper is silent (report.md restates those behind each choice):
  - Every run trains a deep copy of the model, each from the same starting weights, and the
    global RNGs are restored at the end: the given model, its gradients and the RNG are exactly as
    they were. (A copy, not `preserved_state` on the model itself, because `fit` also changes the
    model's memory format.) The final run, too, trains a copy, returned as `Recipe.final_model`.
  - "Seed" means data order (the shuffle of a DeviceLoader or DataLoader, or a plain iterable
    started that many batches later), never re-drawn weights: the recipe is for *your* weights.
  - lr_min = lr_max / 10 (§5, and Smith's runs); mom_min = mom_max - 0.1 (Smith's 0.95 -> 0.85,
    and 0.9 -> 0.8 at the low end, the two minima he names).
  - The range test's default top is 3 x batch / 1000: Smith's "large" 3.0 for resnet-56 at batch
    1000, scaled as step d scales. Steps a and b run at weight decay 1e-4 (his resnet default).
  - When the two weight-decay searches disagree, the range test wins: it measures stability at
    the large lrs a 1cycle will use, while a continuation of a few dozen updates is too short for
    regularisation to show. The disagreement is reported.
  - The final 1cycle's half-cycle is 45% of the run (Smith's 41/95 .. 51/116 epochs), so the
    last 10% sit at his lr_min/1000 floor.
  - Linear scaling of the lr with the batch (Goyal et al. 2017) is taken as an upper bound: the
    check range test may lower lr_max, never raise it. The final run keeps the images of the
    planned training: steps = steps * loader batch / chosen batch.
  - The budget counts training images (forward + backward), as the final cost steps * batch
    does; evaluations are reported beside it, not charged. FRACTIONS splits it between the
    steps; every run gets at least MIN_STEPS updates or the recipe refuses to start. The default,
    DEFAULT_SEARCH_FRACTION of the final training, keeps the search under a fifth of its cost.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

import torch

from .. import io
from ..device import model_device, resolve_device, resolve_precision
from ..engine import Compute, Objective, preserved_state, rng_state, set_rng_state
from ..errors import ConfigError
from .budget import (DEFAULT_SEARCH_FRACTION, FINAL_EPOCHS, FRACTIONS, MIN_STEPS,
                     default_search_images, final_run, minimum_search_images, plan_search)
from .readback import cost_table, describe_step, load_step, plot_step, step_table
from .records import (ARTIFACTS, HANDOFF_KEYS, RECIPE_FILES, STEP_SIZE_FRACTION, Recipe,
                      StepRecord)
from .report import recipe_json, write_report
from .search import (EVALS_PER_RANGE_TEST, MOMENTUM_SPAN, RANGE_TEST_MOMENTUM, SMITH_TOP_BATCH,
                     SMITH_TOP_LR, Search)
from .sources import Evaluated, Source

__all__ = ["ARTIFACTS", "DEFAULT_SEARCH_FRACTION", "EVALS_PER_RANGE_TEST", "FINAL_EPOCHS",
           "FRACTIONS",
           "HANDOFF_KEYS", "MIN_STEPS", "MOMENTUM_SPAN", "RANGE_TEST_MOMENTUM", "RECIPE_FILES",
           "Recipe", "SMITH_TOP_BATCH", "SMITH_TOP_LR", "STEP_SIZE_FRACTION", "StepRecord",
           "cost_table", "default_search_images", "describe_step", "final_run", "load_step",
           "minimum_search_images", "plan_search", "plot_step", "recipe_from_names",
           "run_recipe", "step_table"]

def run_recipe(model: torch.nn.Module, train, val, *, out_dir: str | Path, steps: int,
               search_images: int | None = None, batch_size: int | None = None,
               device: str | torch.device | None = None, seeds=(0, 1),
               weight_decays=(1e-3, 1e-4, 1e-5, 1e-6), momenta=(0.9, 0.95, 0.97, 0.99),
               lr_range: tuple[float, float] | None = None, start_weight_decay: float = 1e-4,
               optimizer: str = "sgd", make_loader: Callable | None = None,
               max_batch_size: int | None = None, precision: str = "auto", loss=None,
               compute: Compute | None = None, train_final: bool = False,
               overwrite: bool = False, log: Callable[[str], None] | None = print) -> Recipe:
    """Run Smith's §5 search on `model` and write its record into `out_dir` (see the module doc).

    train: a DeviceLoader, a torch DataLoader, or a re-iterable of batches, in any form the
    engine takes (pairs, several inputs and a target, dicts: paperlib.data.batches);
    val: an iterable of such batches, the test set Smith reads the curves off.
    loss: as for fit (None: cross-entropy, or the model's own loss where its output carries
    one; a criterion (output, target) -> loss; a StepLoss (model, batch) -> loss); every run,
    the first-batch check and the batch probe use it. compute: as for fit (precision "auto"
    unless `precision` says otherwise; channels_last only for a model with convolutions).
    optimizer: one of paperlib.optim.OPTIMIZERS (SGD by default, as Smith; "adamw" drives
    beta1 as the momentum).
    steps: the length of the final training, in updates at train's batch size; the default
    budget is DEFAULT_SEARCH_FRACTION of its images.
    batch_size: the final batch; None keeps train's on the CPU and probes the largest that fits
    (up to the data, `max_batch_size` and the budget) on CUDA.
    make_loader(batch_size, seed) -> loader: how to draw the training data at another batch or
    order, where train alone cannot say (a plain iterable is neither re-batched nor re-shuffled).
    lr_range: the (linear) sweep of step a; its top should be a "large" lr. None: (0, 3 x batch /
    1000), Smith's 3.0 for resnet-56 at batch 1000 (§5, Fig 5) scaled linearly, as step d scales.
    start_weight_decay: the weight decay of steps a and b, before step c has chosen one.
    train_final: also train a copy of the model with the recipe (folder `final`).
    """
    device = model_device(model) if device is None else resolve_device(device)
    compute = compute or Compute(precision=precision)
    # once: "fp32" or "bf16" from here on, for every run and probe
    compute = Compute(precision=resolve_precision(compute.precision, device, model),
                      channels_last=compute.channels_last, compile=compute.compile)
    objective = Objective(loss)
    source = Source(train, make_loader, device)
    val = Evaluated(val, device)
    source.check_not_empty()
    val.check_not_empty()
    if lr_range is None:
        lr_range = (0.0, SMITH_TOP_LR * source.batch_size / SMITH_TOP_BATCH)
    settings = _check_settings(steps, seeds, momenta, weight_decays, lr_range,
                               start_weight_decay, optimizer, batch_size, max_batch_size)
    settings["loss"] = objective.describe() or "cross-entropy"
    if batch_size is not None and batch_size != source.batch_size:
        source.check_rebatchable(batch_size)
    default = search_images is None
    if default:
        search_images = default_search_images(steps, source.batch_size)
    plan = plan_search(search_images, source.batch_size, seeds=seeds, momenta=momenta,
                       weight_decays=weight_decays, final_batch=batch_size, default=default)
    work = copy.deepcopy(model).to(device)
    _check_first_loss(work, source, objective, compute)
    search = Search(work, source, val, plan, settings, out_dir=Path(out_dir),
                    compute=compute, loss=loss, log=log or (lambda line: None))
    from ..runs import RunDir
    rng = rng_state()
    try:
        torch.manual_seed(seeds[0])  # dropout and the like: a rerun gives the same recipe
        with RunDir(out_dir, marker="recipe.json", artifacts=ARTIFACTS, overwrite=overwrite):
            recipe = search.run(steps, search_images, batch_size, max_batch_size)
            if train_final:
                recipe.final_model, recipe.final = search.train_final(model, recipe, overwrite)
            write_report(search.out_dir, recipe)
            io.write_json(Path(out_dir) / "recipe.json",
                          recipe_json(recipe, search.settings, search.source.device))
    finally:
        set_rng_state(rng)
    return recipe


def recipe_from_names(dataset: str = "synthetic", model: str = "resnet8", *,
                      subset: int | None = None, test_subset: int | None = 2000,
                      search_images: int | None = None, out_dir: str | Path,
                      device: str | torch.device = "cpu", seed: int = 0,
                      steps: int | None = None, batch_size: int = 128,
                      epochs: int = FINAL_EPOCHS,
                      train_final: bool = False, **recipe_kwargs) -> Recipe:
    """The recipe on one of the library's datasets and models (for a CLI): Smith's Caffe data
    layers (flip, mean image), the model's weights drawn from `seed`, and steps defaulting to
    `epochs` passes over the training subset. Unknown names fail before anything is written."""
    from ..experiment import Splits, make_model
    from ..models import MODEL_NAMES
    if not isinstance(model, str) or model.lower() not in MODEL_NAMES:
        # checked before the data is loaded, which can take minutes
        raise ConfigError(f"unknown model {model!r}; choose one of {', '.join(MODEL_NAMES)}")
    splits = Splits(dataset, train_subset=subset, test_subset=test_subset, device=device,
                    seed=seed)
    net = make_model(model, num_classes=len(splits.train_split.classes), seed=seed,
                     device=splits.device)
    batch, steps = final_run(len(splits.train_split.labels), batch_size, steps, epochs)
    return run_recipe(net, splits.train(batch, seed), splits.test,
                      out_dir=out_dir, steps=steps, search_images=search_images,
                      device=splits.device, make_loader=splits.train, train_final=train_final,
                      **recipe_kwargs)


# -- checks made before anything runs or is written -----------------------------------------

def _check_settings(steps, seeds, momenta, weight_decays, lr_range, start_wd, optimizer,
                    batch_size, max_batch_size) -> dict:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"steps ({steps!r}) must be an integer >= 1: the final training's length")
    if len(set(seeds)) < 2:
        raise ConfigError(f"seeds {tuple(seeds)!r}: give at least 2 distinct seeds, so lr_max "
                          "comes with its spread")
    if not momenta or not all(MOMENTUM_SPAN <= m < 1 for m in momenta):
        raise ConfigError(f"momenta {tuple(momenta)!r} must be values in [{MOMENTUM_SPAN}, 1)")
    if len(weight_decays) < 2 or any(wd < 0 for wd in weight_decays):
        raise ConfigError(f"weight_decays {tuple(weight_decays)!r}: give at least 2 values >= 0")
    low, high = lr_range
    if not 0 <= low < high:
        raise ConfigError(f"lr_range {tuple(lr_range)!r} must be (low, high) with 0 <= low < high")
    if start_wd < 0:
        raise ConfigError(f"start_weight_decay ({start_wd}) must be >= 0")
    if not isinstance(optimizer, str):
        raise ConfigError("optimizer must be a name (e.g. 'sgd'): the recipe builds one per run "
                          "over its copies of the model")
    for name, value in (("batch_size", batch_size), ("max_batch_size", max_batch_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ConfigError(f"{name} ({value!r}) must be an integer >= 1, or None")
    return {"seeds": list(seeds), "momenta": [float(m) for m in momenta],
            "weight_decays": [float(w) for w in weight_decays],
            "lr_range": [float(low), float(high)], "start_weight_decay": float(start_wd),
            "optimizer": optimizer}


def _check_first_loss(work: torch.nn.Module, source: Source, objective: Objective,
                      compute: Compute) -> None:
    """One forward pass on the first batch, through the loss every run will take: a model that
    is NaN before any update would make every reading below meaningless, so it is refused at
    once."""
    batch = source.first_batch()
    with preserved_state(work), torch.no_grad():
        work.train()
        loss = objective.compute(work, batch, device_type=source.device.type,
                                 bf16=compute.precision == "bf16").loss
    if not torch.isfinite(loss):
        raise ConfigError(f"the model's loss is {loss.item()} on the first batch, before any "
                          "update: fix its initialisation or the inputs' scale, then rerun")
