"""The search itself, steps a-d (and the optional final run) on one working copy of the model,
and the readings each step takes off its runs.

Why separate: this is the only part that trains. It turns data (sources.py) and a budget
(budget.py) into StepRecords (records.py), saving each step's data and figure as it finishes;
what happens before it (checks) and after it (report.md, recipe.json) lives elsewhere.
"""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import io
from ..data import batches
from ..device import model_device
from ..engine import Compute, Every, Folder, Objective, RunResult, fit, preserved_state
from ..errors import ConfigError
from ..range_test import (RangeTestResult, Sweep, diagnose, lr_range_test, suggest_smith,
                          suggest_valley)
from ..schedules import linear_range
from .budget import MIN_STEPS
from .figures import draw
from .records import Recipe, StepRecord, finite_or_none, summary_text, value_text
from .sources import Evaluated, Source

MOMENTUM_SPAN = 0.10  # mom_min = mom_max - this
RANGE_TEST_MOMENTUM = (0.95, 0.85)  # Fig 15a ramps momentum over the lr sweep
SMITH_TOP_LR, SMITH_TOP_BATCH = 3.0, 1000  # resnet-56's "large" lr at its batch (§5, Fig 5)
EVALS_PER_RANGE_TEST = 10


class Search:
    """Steps a-d on one working copy of the model; each step returns its StepRecord."""

    def __init__(self, work, source: Source, val: Evaluated, plan: dict, settings: dict, *,
                 out_dir: Path, compute: Compute, loss, log):
        self.work, self.source, self.val, self.plan = work, source, val, plan
        self.settings, self.out_dir, self.compute, self.log = settings, out_dir, compute, log
        self.loss, self.objective = loss, Objective(loss)
        self.seed = settings["seeds"][0]
        self.records: list[StepRecord] = []
        self.probe_images = 0

    def run(self, steps: int, search_images: int, batch_size, max_batch_size) -> Recipe:
        lr = self._step(self.lr_step)
        mom = self._step(self.momentum_step, lr)
        wd = self._step(self.weight_decay_step, lr, mom)
        batch = self._step(self.batch_step, lr, mom, wd, batch_size, max_batch_size)
        chosen = batch.chosen
        final_steps = max(1, round(steps * self.source.batch_size / chosen["batch_size"]))
        return Recipe(lr_min=chosen["lr_max"] / 10, lr_max=chosen["lr_max"],
                      mom_max=mom.chosen["mom_max"], mom_min=mom.chosen["mom_min"],
                      weight_decay=wd.chosen["weight_decay"], batch_size=chosen["batch_size"],
                      steps=final_steps, search_images=search_images,
                      images_used=self.source.preflight_images
                      + sum(r.images for r in self.records), records=self.records,
                      out_dir=self.out_dir, optimizer=self.settings["optimizer"])

    def _step(self, method, *args) -> StepRecord:
        """Run one step and charge it what it drew from the data and the clock."""
        images, evals, started = self.source.images[0], self.val.images, time.perf_counter()
        self.probe_images = 0
        record = method(*args)
        record.images = self.source.images[0] - images + self.probe_images
        record.eval_images = self.val.images - evals
        record.seconds = time.perf_counter() - started
        io.write_json(self.out_dir / f"{record.name}.json", record.to_dict())
        self.records.append(record)
        self.log(f"recipe {record.name}: {summary_text(record.chosen)} "
                 f"({record.images} images, {record.seconds:.1f} s)")
        return record

    # a. lr ----------------------------------------------------------------------------------
    def lr_step(self) -> StepRecord:
        n = self.plan["lr"]
        low, high = self.settings["lr_range"]
        results, readings = [], []
        for seed in self.settings["seeds"]:
            result = self._range_test(self.source.batch_size, seed, low, high, n,
                                      self.settings["start_weight_decay"],
                                      linear_range(*RANGE_TEST_MOMENTUM, n))
            results.append(result)
            readings.append(_reading(result, seed))
        maxima = np.array([r["lr_max"] for r in readings])
        lr_max = float(np.median(maxima))
        if lr_max <= 0:
            raise ConfigError(f"the median lr_max reading is {lr_max:g}: the model does not "
                              "learn at any lr tested; check the data and labels")
        notes = _lr_notes(readings, lr_max, high)
        measured = {"seeds": readings, "lr_max_median": lr_max,
                    "lr_max_spread": [float(maxima.min()), float(maxima.max())],
                    "sweep": {"lr": [low, high], "steps": n, "batch_size": self.source.batch_size,
                              "momentum": list(RANGE_TEST_MOMENTUM),
                              "weight_decay": self.settings["start_weight_decay"]}}
        chosen = {"lr_max": lr_max, "lr_min": lr_max / 10}
        why = (f"Smith's rule (the lr of the lowest test loss) read per seed, median over "
               f"{len(readings)} seeds; lr_min = lr_max/10 (§5)")
        frame = pd.concat([r.frame().assign(seed=s)
                           for r, s in zip(results, self.settings["seeds"])], ignore_index=True)
        record = StepRecord("lr_range", "a. LR range test", measured, chosen, why, notes=notes)
        self._save(record, frame)
        return record

    # b. momentum ----------------------------------------------------------------------------
    def momentum_step(self, lr: StepRecord) -> StepRecord:
        n = self.plan["momentum"]
        lr_min, lr_max = lr.chosen["lr_min"], lr.chosen["lr_max"]
        runs, scores = [], {}
        for m in self.settings["momenta"]:
            run = self._short_run(self.source.batch_size, n, linear_range(lr_min, lr_max, n), m,
                                  self.settings["start_weight_decay"], eval_every=max(1, n // 2))
            runs.append(run.metrics.assign(run_momentum=m))
            scores[m] = _final_test_loss(run)
        finite = {m: s for m, s in scores.items() if math.isfinite(s)}
        if not finite:
            raise ConfigError(f"every momentum run diverged at lr {lr_min:.3g} -> {lr_max:.3g}: "
                              "the lr reading is too high for this model; lower lr_range's top")
        best = min(finite, key=finite.get)
        chosen = {"mom_max": best, "mom_min": round(best - MOMENTUM_SPAN, 6)}
        measured = {"final_test_loss": {str(m): finite_or_none(s) for m, s in scores.items()},
                    "runs": {"steps": n, "lr": [lr_min, lr_max],
                             "weight_decay": self.settings["start_weight_decay"]}}
        why = (f"lowest final test loss of {len(scores)} constant-momentum runs over the 1cycle's "
               f"rising half (§4.3, §5); mom_min = mom_max - {MOMENTUM_SPAN}")
        frame = pd.concat(runs, ignore_index=True)
        record = StepRecord("momentum", "b. Momentum", measured, chosen, why)
        self._save(record, frame)
        return record

    # c. weight decay ------------------------------------------------------------------------
    def weight_decay_step(self, lr: StepRecord, mom: StepRecord) -> StepRecord:
        lr_min, lr_max = lr.chosen["lr_min"], lr.chosen["lr_max"]
        mom_max, mom_min = mom.chosen["mom_max"], mom.chosen["mom_min"]
        ranges = self._wd_range_tests(lr_min, lr_max, mom_max, mom_min)
        range_scores = {wd: _upper_half_score(r) for wd, r in ranges.items()}
        by_range = min(range_scores, key=range_scores.get)
        snap_frame, snap_scores = self._wd_snapshot(lr_min, lr_max, mom_max, mom_min, by_range)
        finite = {wd: s for wd, s in snap_scores.items() if math.isfinite(s)}
        by_snapshot = min(finite, key=finite.get) if finite else None
        agree = by_snapshot == by_range
        measured = {"range_test": {str(wd): _score_dict(s) for wd, s in range_scores.items()},
                    "snapshot": {str(wd): finite_or_none(s) for wd, s in snap_scores.items()},
                    "range_test_winner": by_range, "snapshot_winner": by_snapshot,
                    "agree": agree}
        why = ("range tests lr_min -> lr_max from one state (Fig 15a): the lowest mean test loss "
               "over the sweep's upper half wins, runs that diverged lose; "
               + ("the snapshot continuations (Fig 12b) agree" if agree else
                  f"the snapshot continuations (Fig 12b) prefer {by_snapshot}; the range test "
                  "decides (it measures the large lrs the 1cycle uses)"))
        frame = pd.concat([pd.concat([r.frame().assign(run_weight_decay=wd)
                                      for wd, r in ranges.items()]).assign(method="range_test"),
                           snap_frame.assign(method="snapshot")], ignore_index=True)
        record = StepRecord("weight_decay", "c. Weight decay", measured,
                            {"weight_decay": by_range}, why)
        self._save(record, frame)
        return record

    def _wd_range_tests(self, lr_min, lr_max, mom_max, mom_min) -> dict:
        n = self.plan["weight_decay_range"]
        return {wd: self._range_test(self.source.batch_size, self.seed, lr_min, lr_max, n, wd,
                                     linear_range(mom_max, mom_min, n))
                for wd in self.settings["weight_decays"]}

    def _wd_snapshot(self, lr_min, lr_max, mom_max, mom_min, start_wd):
        """Fig 12b: one warm-up along the 1cycle's first half-rise at the range test's winner,
        then a continuation per weight decay from that snapshot (optimizer state included, as a
        Caffe .solverstate restart keeps it), each on the same next batches."""
        from ..models import param_groups
        from ..optim import make_optimizer
        n = self.plan["weight_decay_snapshot"]
        lr_mid, mom_mid = (lr_min + lr_max) / 2, (mom_max + mom_min) / 2
        opt = make_optimizer(self.settings["optimizer"], param_groups(self.work), lr=lr_min,
                             momentum=mom_max)
        rows, scores = [], {}
        with preserved_state(self.work):
            warm = self._fit(self.source.loader(self.source.batch_size, self.seed), n,
                             linear_range(lr_min, lr_mid, n), linear_range(mom_max, mom_mid, n),
                             start_wd, opt, eval_every=n)
            rows.append(warm.metrics.assign(phase="warm-up", run_weight_decay=start_wd))
            for wd in self.settings["weight_decays"]:
                with preserved_state(self.work, opt):
                    loader = self.source.loader(self.source.batch_size, self.seed, offset=n)
                    run = self._fit(loader, n, linear_range(lr_mid, lr_max, n),
                                    linear_range(mom_mid, mom_min, n), wd, opt,
                                    eval_every=max(1, n // 2))
                rows.append(run.metrics.assign(step=run.metrics["step"] + n,
                                               phase="continuation", run_weight_decay=wd))
                scores[wd] = _final_test_loss(run)
        return pd.concat(rows, ignore_index=True), scores

    # d. batch size --------------------------------------------------------------------------
    def batch_step(self, lr, mom, wd, batch_size, max_batch_size) -> StepRecord:
        base, lr_max = self.source.batch_size, lr.chosen["lr_max"]
        probe = None
        if batch_size is None and _can_probe(self.source):
            batch_size, probe = self._probe(max_batch_size)
        batch = batch_size or base
        measured = {"search_batch": base, "probe": probe}
        if batch == base:
            record = StepRecord("batch_size", "d. Batch size", measured,
                                {"batch_size": base, "lr_max": lr_max},
                                "the batch of the search: the lr readings hold as they are "
                                "(no rescaling, no check run)")
            frame = pd.DataFrame([{"batch_size": base, "lr_max": lr_max, "source": "step a"}])
            self._save(record, frame)
            return record
        scaled = lr_max * batch / base
        n = (self.plan["batch_size_images"] - self.probe_images) // batch
        check = self._range_test(batch, self.seed, 0.0, 2 * scaled, n, wd.chosen["weight_decay"],
                                 linear_range(mom.chosen["mom_max"], mom.chosen["mom_min"], n))
        reading = _reading(check, self.seed)
        measured_lr = reading["lr_max"]
        final_lr = min(scaled, measured_lr) if measured_lr and measured_lr > 0 else scaled
        measured.update(lr_max_scaled=scaled, check=reading, check_steps=n)
        why = (f"{'the largest batch that fits' if probe else 'the batch given'}; lr_max scaled "
               f"linearly ({lr_max:.3g} x {batch}/{base} = {scaled:.3g}), then checked by a range "
               f"test at batch {batch} that read {value_text(measured_lr)}: the smaller of the two "
               "is kept")
        record = StepRecord("batch_size", "d. Batch size", measured,
                            {"batch_size": batch, "lr_max": final_lr}, why)
        frame = check.frame().assign(batch_size=batch)
        self._save(record, frame)
        return record

    def _probe(self, max_batch_size):
        """Double the batch until CUDA runs out of memory or a cap is reached: the data, the
        user's maximum, and what the budget leaves for the check run at that batch."""
        base = self.source.batch_size
        cap = min(self.source.size or math.inf, max_batch_size or math.inf,
                  self.plan["batch_size_images"] // (MIN_STEPS + 2))
        first = self.source.first_batch()
        tried, fits = [], base
        with preserved_state(self.work):
            self.work.train()
            batch = base * 2
            while batch <= cap:
                ok = _fits(self.work, first, batch, self.objective, self.compute)
                self.probe_images += batch
                tried.append({"batch_size": batch, "fits": ok})
                if not ok:
                    break
                fits, batch = batch, batch * 2
        return fits, {"tried": tried, "cap": None if math.isinf(cap) else int(cap)}

    # final run ------------------------------------------------------------------------------
    def train_final(self, model, recipe: Recipe, overwrite: bool):
        final_model = copy.deepcopy(model).to(self.source.device)
        lr_s, mom_s = recipe.schedules()
        run = fit(final_model, self.source.loader(recipe.batch_size, self.seed),
                  steps=recipe.steps, lr=lr_s, momentum=mom_s, weight_decay=recipe.weight_decay,
                  optimizer=recipe.optimizer, test=self.val,
                  every=Every(log=min(50, recipe.steps), eval=max(1, recipe.steps // 20)),
                  out=Folder(self.out_dir / "final", overwrite=overwrite,
                             config={"recipe": recipe.handoff()}),
                  compute=self.compute, loss=self.loss, progress=False)
        self.log(f"recipe final: {run.status} after {run.steps_done} steps, test accuracy "
                 f"{run.final_test_accuracy():.4f}")
        return final_model, run

    # shared ---------------------------------------------------------------------------------
    def _range_test(self, batch, seed, low, high, n, wd, momentum) -> RangeTestResult:
        return lr_range_test(self.work, self.source.loader(batch, seed), Sweep(low, high, n),
                             momentum=momentum, weight_decay=wd,
                             optimizer=self.settings["optimizer"], test=self.val,
                             every=Every(log=min(10, n), eval=max(1, n // EVALS_PER_RANGE_TEST)),
                             compute=self.compute, loss=self.loss, progress=False)

    def _short_run(self, batch, n, lr, momentum, wd, eval_every) -> RunResult:
        with preserved_state(self.work):
            return self._fit(self.source.loader(batch, self.seed), n, lr, momentum, wd,
                             self.settings["optimizer"], eval_every)

    def _fit(self, loader, n, lr, momentum, wd, optimizer, eval_every) -> RunResult:
        return fit(self.work, loader, steps=n, lr=lr, momentum=momentum, weight_decay=wd,
                   optimizer=optimizer, test=self.val, every=Every(log=min(10, n), eval=eval_every),
                   compute=self.compute, loss=self.loss, progress=False)

    def _save(self, record: StepRecord, frame: pd.DataFrame) -> None:
        """The step's data and figure, each written atomically; its JSON follows in _step,
        once the cost is known, and marks the step as complete. The figure is drawn from what
        the CSV and JSON hold, as `plot_step` draws it again later from the files."""
        io.write_csv(self.out_dir / f"{record.name}.csv", frame)
        fig = draw(record.name, frame, record.to_dict())
        io.save_figure(fig, self.out_dir / f"{record.name}.png", dpi=110, bbox_inches="tight")
        record.files = [f"{record.name}.{ext}" for ext in ("csv", "png", "json")]


def _can_probe(source: Source) -> bool:
    """Only CUDA has a memory limit worth probing for; on the CPU a larger batch only costs
    time, and a plain iterable cannot be re-batched."""
    return source.device.type == "cuda" and source.kind != "iterable"


def _fits(model, first, batch: int, objective: Objective, compute: Compute) -> bool:
    """One forward and backward pass at `batch` (the first batch's samples repeated), through
    the loss the runs take; False on OOM."""
    grown = batches.repeated(first, batch)
    try:
        objective.compute(model, grown, device_type=model_device(model).type,
                          bf16=compute.precision == "bf16").loss.backward()
        return True
    except torch.cuda.OutOfMemoryError:
        return False
    finally:
        model.zero_grad(set_to_none=True)
        del grown
        torch.cuda.empty_cache()



# -- readings ---------------------------------------------------------------------------------

def _reading(result: RangeTestResult, seed: int) -> dict:
    if not np.isfinite(result.train["loss"].to_numpy()).any():
        raise ConfigError("the loss was NaN from the first update of the LR range test: fix the "
                          "model's initialisation or the inputs' scale, then rerun")
    smith = suggest_smith(result)
    return {"seed": seed, "lr_max": smith["lr_max"], "basis": smith["basis"],
            "lr_at_best_test_accuracy": smith.get("lr_at_best_test_accuracy"),
            "valley_lr": suggest_valley(result)["lr"], "status": result.status,
            "steps_done": result.settings.get("steps_done"), "diagnostics": diagnose(result)}


def _lr_notes(readings: list[dict], lr_max: float, top: float) -> list[str]:
    notes = []
    if any(r["lr_max"] >= 0.95 * top for r in readings):
        notes.append(f"a reading sits at the top of the sweep ({top:g}): the true lr_max may lie "
                     "higher; rerun with a larger lr_range")
    valleys = [r["valley_lr"] for r in readings if r["valley_lr"]]
    if valleys and not 1 / 3 <= float(np.median(valleys)) / lr_max <= 3:
        notes.append(f"the valley rule reads {float(np.median(valleys)):.3g}, more than 3x away "
                     "from Smith's: the curve is noisy or flat; a longer sweep would help")
    return notes


def _final_test_loss(run: RunResult) -> float:
    test = run.test
    if run.status != "completed" or test.empty:
        return math.inf
    loss = float(test["loss"].iloc[-1])
    return loss if math.isfinite(loss) else math.inf


def _upper_half_score(result: RangeTestResult) -> tuple:
    """Sort key: completed sweeps first, then further-reaching ones, then the lower mean test
    loss over the sweep's upper half of lrs (the large lrs a 1cycle spends its time at)."""
    test = result.test.dropna(subset=["loss"])
    low, high = result.settings["lr_min"], result.settings["lr_max"]
    upper = test[test["lr"] >= (low + high) / 2]["loss"]
    mean = float(upper.mean()) if len(upper) else math.inf
    return (result.status != "completed", -int(result.settings.get("steps_done") or 0),
            mean if math.isfinite(mean) else math.inf)


def _score_dict(score: tuple) -> dict:
    return {"completed": not score[0], "steps_done": -score[1],
            "upper_half_test_loss": finite_or_none(score[2])}
