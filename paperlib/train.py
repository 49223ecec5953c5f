"""The training loop: `fit` runs SGD under schedules that are pure functions of the step.

Design (why it looks like this):
- Batches come from `loader.batch(step)`, a pure function of the step, so the data position of
  a run is its step number and a resumed run sees exactly the batches it would have seen.
- Losses and accuracies stay on the device and are read every `log_every` steps: one host
  synchronisation per block of steps, not one per step.
- The metrics log is tidy: one row per (step, split). Train rows carry the lr, momentum and weight
  decay used by that step's update and the loss of its forward pass; test rows, written after
  `step` updates, carry the test loss and accuracy.
- SIGINT and SIGTERM stop the run at the next step boundary, never inside an optimizer update,
  so the final checkpoint is exactly resumable; then `RunInterrupted` is raised.
- A NaN/inf loss ends the run with status "diverged", recorded in the log, not raised.
- `should_stop` is consulted only at multiples of `log_every` or `eval_every` counted from step
  0, and at the last step (a checkpoint or an interrupt reads the losses but does not consult
  it), and a resumed run hands it every train loss logged before the resume. So a resumed run
  stops at the very step an uninterrupted one would: a resumed range test is bit-identical.
- Resuming a run that already ended ("completed", "diverged" or "stopped") trains nothing: it
  returns the stored log.
"""
from __future__ import annotations

import contextlib
import math
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from . import io
from .errors import CheckpointError, ConfigError
from .optim import make_optimizer
from .runs import METRIC_COLUMNS, RunDir, load_checkpoint
from .schedules import constant, set_hparams

PRECISIONS = ("auto", "fp32", "bf16")
FINISHED = ("completed", "diverged", "stopped")  # run.json statuses a resume has nothing to add to


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by SIGINT/SIGTERM after saving its state; `step` updates were done."""

    def __init__(self, signum: int, step: int, checkpoint: Path | None):
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        name = signal.Signals(signum).name
        where = f"; checkpoint {checkpoint}, continue with --resume" if checkpoint else ""
        super().__init__(f"interrupted by {name} after {step} steps{where}")


@dataclass
class RunResult:
    """What `fit` returns: the tidy metrics and how the run ended."""

    metrics: pd.DataFrame
    status: str  # "completed", "diverged", "stopped" (by should_stop) or "interrupted"
    steps_done: int
    diverged_at: int | None = None
    last_finite: dict | None = None
    wall_s: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def train(self) -> pd.DataFrame:
        return self.metrics[self.metrics["split"] == "train"].reset_index(drop=True)

    @property
    def test(self) -> pd.DataFrame:
        return self.metrics[self.metrics["split"] == "test"].reset_index(drop=True)

    def final_test_accuracy(self) -> float:
        test = self.test
        return float(test["accuracy"].iloc[-1]) if len(test) else float("nan")


class LoaderBatches:
    """Adapts any iterable of (inputs, targets) batches, e.g. a torch DataLoader, to the
    `batch(step)` interface of `fit` and `lr_range_test`.

    Batches are drawn in order and the iterable is restarted when it runs out. Unlike
    `data.DeviceLoader`, the batch at a step depends on how many were drawn before, so a run fed
    this way is not bit-identical after a resume.
    """

    def __init__(self, batches, device: str | torch.device | None = None):
        self.batches, self.device = batches, device
        self._iterator = None

    def batch(self, step: int):
        for _ in range(2):
            if self._iterator is None:
                self._iterator = iter(self.batches)
            try:
                x, y = next(self._iterator)
                break
            except StopIteration:
                self._iterator = None
        else:
            raise ConfigError("the batch iterable is empty; give it at least one batch")
        if self.device is not None:
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        return x, y

    def __iter__(self):
        return iter(self.batches)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError(f"device {device!r} is unknown; use cpu, cuda or auto")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no CUDA GPU is available; use --device cpu")
    return torch.device(device)


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bf16 in hardware (AVX512-BF16 or AMX tiles), as torch itself
    detects it. Without it bf16 is emulated: ResNet-20 trained about 10x slower than in fp32 on
    an AVX2-only CPU, against 1.39x faster than fp32 on a CPU with AVX512-BF16 (README)."""
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether a run computes in bf16: "auto" is bf16 on CUDA and on CPUs with native bf16."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} is unknown; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader, *, precision: str = "auto") -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` over one ordered pass of `loader`."""
    device = next(model.parameters()).device
    bf16 = use_bf16(precision, device)
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    count = 0
    try:
        for x, y in loader:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(x)
            loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
            correct += (logits.argmax(1) == y).sum()
            count += len(y)
    finally:
        model.train(was_training)
    if count == 0:
        raise ConfigError("the evaluation loader yielded no batches; give it at least one image")
    return loss_sum.item() / count, correct.item() / count


def fit(model: torch.nn.Module, train, *, steps: int, lr, momentum=0.9, weight_decay=None,
        optimizer: str | torch.optim.Optimizer = "sgd", test=None, eval_every: int = 0,
        log_every: int = 50, out_dir: str | Path | None = None, checkpoint_every: int = 0,
        resume: bool = False, overwrite: bool = False, precision: str = "auto",
        channels_last: bool | None = None, compile: bool = False, progress: bool | None = None,
        should_stop: Callable[[list[float]], bool] | None = None,
        config: dict | None = None) -> RunResult:
    """Train `model` for `steps` updates on batches `train.batch(step)`.

    lr, momentum, weight_decay: schedules (callables of the 0-based step) or constants; None
    leaves the optimizer's own value (a string optimizer starts with weight decay 0).
    optimizer: one of optim.OPTIMIZERS (built over models.param_groups(model)) or an optimizer.
    test/eval_every: evaluate on `test` after every `eval_every` updates and at the end.
    out_dir: if given, metrics.csv and run.json are written there as the run goes, checkpoints
    every `checkpoint_every` updates and at the end; `resume` continues from the newest
    checkpoint (the schedules must then be paperlib schedules, whose describe() identifies them).
    should_stop: called with all train losses so far (a resumed run's too) every `log_every`
    steps and after each evaluation; True ends the run with status "stopped".
    compile: train through torch.compile(model); torch caches the compiled code with the module,
    so later calls on the same model do not compile again.
    """
    started = time.perf_counter()
    _check_positive_int("steps", steps)
    _check_positive_int("log_every", log_every)
    for name, value in (("eval_every", eval_every), ("checkpoint_every", checkpoint_every)):
        if not isinstance(value, int) or value < 0:
            raise ConfigError(f"{name} ({value!r}) must be an integer >= 0 (0 turns it off)")
    if (checkpoint_every or resume) and out_dir is None:
        raise ConfigError("checkpoint_every/resume need out_dir: give a folder for the checkpoints")
    lr_s, mom_s, wd_s = (s if callable(s) else constant(s) if s is not None else None
                         for s in (lr, momentum, weight_decay))
    if lr_s is None:
        raise ConfigError("lr must be a number or a schedule, not None")
    if checkpoint_every or resume:
        for name, sched in (("lr", lr_s), ("momentum", mom_s), ("weight_decay", wd_s)):
            if sched is not None and not hasattr(sched, "describe"):
                raise ConfigError(f"{name}: checkpointing needs a paperlib schedule (its describe() "
                                  "tells a resumed run it is the same run), not a plain function")
    device = next(model.parameters()).device
    bf16 = use_bf16(precision, device)
    if channels_last is None:
        # channels_last is faster for these convnets on both devices (CPU here: +18% for
        # resnet20, see benchmarks/throughput.py), so it is the default everywhere.
        channels_last = True
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if isinstance(optimizer, str):
        from .models import param_groups
        optimizer = make_optimizer(optimizer, param_groups(model), lr=lr_s(0),
                                   momentum=mom_s(0) if mom_s else 0.0)
    settings = run_settings(steps, lr_s, mom_s, wd_s, optimizer, bf16, channels_last, compile,
                            config)

    run = RunDir(out_dir, resume=resume, overwrite=overwrite) if out_dir is not None else None
    with run or contextlib.nullcontext():
        start = 0
        if run is not None and resume and run.status() in FINISHED:
            return _finished(run, model, optimizer, settings, steps)
        if run is not None:
            start = _restore(run, model, optimizer, settings) if resume else 0
            _write_run_json(run, settings, "running", start, started)
        loop = _Loop(model, optimizer, train, test, lr_s, mom_s, wd_s, bf16, channels_last,
                     run, log_every, eval_every, checkpoint_every, steps, settings, should_stop)
        if start and should_stop is not None:
            loop.train_losses = _logged_train_losses(run)  # should_stop sees the whole run
        loop.forward = _compiled(model) if compile else model
        with _graceful_signals() as stop_signal:
            result = loop.run(start, stop_signal, progress)
        result.wall_s = time.perf_counter() - started
        if run is not None:
            _write_run_json(run, settings, result.status, result.steps_done, started, result)
            result.metrics = pd.read_csv(run.metrics) if run.metrics.exists() else result.metrics
        if result.status == "interrupted":
            raise RunInterrupted(stop_signal.signum, result.steps_done, result.info.get("checkpoint"))
    return result


def run_settings(steps, lr_s, mom_s, wd_s, optimizer, bf16, channels_last, compile, config):
    """What run.json records as a run's settings, and what its checkpoints' key is built from.
    Fused runs (paperlib.fused) write the same, so a checkpoint resumes under either loop."""
    return {"steps": steps, "lr": describe_schedule(lr_s),
            "momentum": describe_schedule(mom_s), "weight_decay": describe_schedule(wd_s),
            "optimizer": type(optimizer).__name__,
            "precision": "bf16" if bf16 else "fp32", "channels_last": bool(channels_last),
            "compile": compile, **(config or {})}


class _Loop:
    """The step loop of `fit`, split out so each part reads at once."""

    def __init__(self, model, optimizer, train, test, lr_s, mom_s, wd_s, bf16, channels_last,
                 rundir, log_every, eval_every, checkpoint_every, steps, settings, should_stop):
        self.model, self.optimizer, self.train, self.test = model, optimizer, train, test
        self.lr_s, self.mom_s, self.wd_s = lr_s, mom_s, wd_s
        self.bf16, self.channels_last, self.rundir = bf16, channels_last, rundir
        self.log_every, self.eval_every = log_every, eval_every
        self.checkpoint_every, self.steps = checkpoint_every, steps
        self.settings, self.should_stop = settings, should_stop
        self.forward = model
        self.device = next(model.parameters()).device
        self.losses = torch.zeros(log_every, device=self.device)
        self.correct = torch.zeros(log_every, device=self.device, dtype=torch.int64)
        self.pending: list[dict] = []  # train rows whose loss is still on the device
        self.rows: list[dict] = []  # every row of this call, for the in-memory result
        self.train_losses: list[float] = []

    def hparams(self, step: int) -> dict:
        return {"lr": self.lr_s(step), "momentum": self.mom_s(step) if self.mom_s else None,
                "weight_decay": self.wd_s(step) if self.wd_s else None}

    def logged(self, hp: dict) -> dict:
        """The values to log: the schedules', or what the optimizer holds where there is none."""
        group = self.optimizer.param_groups[0]
        if hp["momentum"] is None:
            hp = {**hp, "momentum": group.get("momentum", group.get("betas", (None,))[0])}
        if hp["weight_decay"] is None:
            hp = {**hp, "weight_decay": group.get("weight_decay")}
        return {k: float(v) if v is not None else None for k, v in hp.items()}

    def run(self, start: int, stop_signal, progress) -> RunResult:
        model, step = self.model, start
        model.train()
        bar = _progress_bar(progress, self.steps, start)
        status, diverged_at, last_finite = "completed", None, None
        try:
            while step < self.steps:
                if stop_signal.signum is not None:
                    status = "interrupted"
                    break
                self.train_step(step)
                step += 1
                # Blocks end at multiples of log_every from step 0, not every log_every steps
                # since the last flush: a resumed run must consult should_stop where an
                # uninterrupted one did. A checkpoint flushes but does not consult it.
                evaluating = step == self.steps or (self.eval_every and step % self.eval_every == 0)
                consult = evaluating or step % self.log_every == 0
                if not (consult or (self.checkpoint_every and step % self.checkpoint_every == 0)):
                    continue
                diverged_at, last_finite = self.flush()
                if bar is not None:
                    bar.update(step - bar.n)
                if diverged_at is not None:
                    status, step = "diverged", diverged_at + 1
                    break
                if evaluating:
                    self.evaluate(step)
                if self.checkpoint_every and (step % self.checkpoint_every == 0 or step == self.steps):
                    self.checkpoint(step)
                if consult and self.should_stop is not None and self.should_stop(self.train_losses):
                    status = "stopped"
                    break
        finally:
            if bar is not None:
                bar.close()
        info = {}
        if status == "interrupted":
            diverged_at, last_finite = self.flush()
            if diverged_at is not None:  # the block just read ended in a NaN: that wins
                status, step = "diverged", diverged_at + 1
            elif self.rundir is not None:
                info["checkpoint"] = self.checkpoint(step)
        elif (status == "completed" and self.rundir is not None
              and not self.rundir.checkpoint_path(step).exists()):
            info["checkpoint"] = self.checkpoint(step)  # the trained model, for --resume or use
        frame = pd.DataFrame(self.rows, columns=METRIC_COLUMNS)
        return RunResult(frame, status, step, diverged_at, last_finite, info=info)

    def train_step(self, step: int) -> None:
        hp = self.hparams(step)
        set_hparams(self.optimizer, **hp)
        x, y = self.train.batch(step)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.forward(x)
        loss = F.cross_entropy(logits.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        i = len(self.pending)
        self.losses[i] = loss.detach()
        self.correct[i] = (logits.argmax(1) == y).sum()
        self.pending.append({"step": step, "split": "train", **self.logged(hp), "batch": len(y)})

    def flush(self) -> tuple[int | None, dict | None]:
        """Read the pending losses (one host sync), write their rows; report a NaN/inf loss."""
        n = len(self.pending)
        if n == 0:
            return None, None
        losses = self.losses[:n].tolist()
        correct = self.correct[:n].tolist()
        rows, diverged_at, last_finite = [], None, None
        for row, loss, c in zip(self.pending, losses, correct):
            row.update(loss=loss, accuracy=c / row.pop("batch"))
            rows.append(row)
            if not math.isfinite(loss):
                diverged_at = row["step"]
                break
            self.train_losses.append(loss)
        if diverged_at is not None:
            finite = [r for r in self.rows + rows if r["split"] == "train" and math.isfinite(r["loss"])]
            last_finite = dict(finite[-1]) if finite else None
        self.pending.clear()
        self.emit(rows)
        return diverged_at, last_finite

    def evaluate(self, step: int) -> None:
        if self.test is None:
            return
        loss, acc = evaluate(self.model, self.test, precision="bf16" if self.bf16 else "fp32")
        self.emit([{"step": step, "split": "test", **self.logged(self.hparams(step - 1)),
                    "loss": loss, "accuracy": acc}])

    def emit(self, rows: list[dict]) -> None:
        self.rows.extend(rows)
        if self.rundir is not None:
            self.rundir.append_metrics(rows)

    def checkpoint(self, step: int) -> Path | None:
        if self.rundir is None:
            return None
        state = {"step": step, "model": self.model.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "rng": rng_state(),
                 "settings_key": _settings_key(self.settings)}
        return self.rundir.save_checkpoint(step, state)


def _compiled(model: torch.nn.Module):
    compiled = model.__dict__.get("_paperlib_compiled")
    if compiled is None:
        compiled = torch.compile(model)
        # object.__setattr__: as a registered submodule it would appear in state_dict()
        object.__setattr__(model, "_paperlib_compiled", compiled)
    return compiled


def _restore(run: RunDir, model, optimizer, settings: dict) -> int:
    path = run.latest_checkpoint()
    if path is None:
        run.clear()  # nothing to resume from: rows without a checkpoint cannot be trusted
        return 0
    state = load_checkpoint(path)
    if state.get("settings_key") != _settings_key(settings):
        raise CheckpointError(f"checkpoint {path} was written by a run with other settings; "
                              "rerun with the same settings, or pass --overwrite to start again")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    set_rng_state(state["rng"])
    run.truncate_metrics(state["step"])
    return int(state["step"])


def _finished(run: RunDir, model, optimizer, settings: dict, steps: int) -> RunResult:
    """The stored result of a run that already ended; nothing is trained again."""
    import json
    doc = json.loads(run.run_json.read_text())
    status, done = doc["status"], int(doc.get("steps_done", steps))
    if status == "completed" and run.latest_checkpoint():
        # load the final checkpoint so the model is the trained one
        done = _restore(run, model, optimizer, settings)
    else:
        # diverged (NaN weights) or stopped: no checkpoint holds its end, so the model stays as
        # it is and run.json's settings stand in for the checkpoint's key
        from .io import _json_default
        same = json.loads(json.dumps(settings, default=_json_default))
        if _settings_key(doc.get("settings")) != _settings_key(same):
            raise CheckpointError(f"{run.run_json} was written by a run with other settings; "
                                  "rerun with the same settings, or pass --overwrite to start again")
    return RunResult(pd.read_csv(run.metrics), status, done, doc.get("diverged_at"),
                     doc.get("last_finite"))


def _logged_train_losses(run: RunDir) -> list[float]:
    """The finite train losses in the metrics log, exactly as logged (repr round-trips)."""
    import csv
    if not run.metrics.exists():
        return []
    with open(run.metrics, newline="") as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f) if r["split"] == "train"]
    return [loss for loss in losses if math.isfinite(loss)]


def _settings_key(settings: dict) -> str:
    import json
    return json.dumps(settings, sort_keys=True, default=str)


def _write_run_json(run: RunDir, settings: dict, status: str, steps_done: int, started: float,
                    result: RunResult | None = None, extra: dict | None = None) -> None:
    from .provenance import provenance
    doc = {"status": status, "steps_done": steps_done, "settings": settings,
           "provenance": provenance(), "wall_s": round(time.perf_counter() - started, 3),
           **(extra or {})}
    if result is not None:
        doc["diverged_at"] = result.diverged_at
        doc["last_finite"] = result.last_finite
        test = result.test
        if len(test):
            doc["final_test"] = {k: test[k].iloc[-1] for k in ("step", "loss", "accuracy")}
    io.write_json(run.run_json, doc)


def rng_state() -> dict:
    """Every global RNG a run may draw from (torch, CUDA, Python, NumPy), in types that a
    weights_only checkpoint can hold."""
    version, internal, gauss_next = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": [version, list(internal), gauss_next],
             "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Put back what rng_state() captured."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def describe_schedule(schedule):
    if schedule is None:
        return None
    return schedule.describe() if hasattr(schedule, "describe") else repr(schedule)


def _check_positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} ({value!r}) must be an integer >= 1")


def _progress_bar(progress: bool | None, total: int, start: int):
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=start, unit="step", leave=False)


class _StopSignal:
    signum: int | None = None


@contextlib.contextmanager
def _graceful_signals():
    """Turn the first SIGINT/SIGTERM into a request to stop at the next step boundary."""
    stop = _StopSignal()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request_stop(signum, frame):
        if stop.signum is not None:  # a second signal: the user insists
            raise KeyboardInterrupt
        stop.signum = signum

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
