"""What a run leaves in its folder and takes back from it: run.json, checkpoints, RNG state.

Why apart from the loop: a checkpoint is the contract between a run and its resume, between a
fused run and the same run alone, and between two machines. Everything that writes or reads one
is here, once, so that contract cannot drift between callers:

- run.json holds the run's settings (Job.settings), status, provenance and final test values;
- a checkpoint holds the step, the model's and the optimizer's own state_dicts, every global RNG,
  and a key built from the settings; a resume with other settings is refused;
- resuming a run that already ended ("completed", "diverged" or "stopped") trains nothing: it
  returns the stored log (and, for a completed run, loads the final checkpoint into the model);
- per_image.npz holds which test images each of the run's last evaluations got right (packed
  bits: 1,250 bytes for 10,000 images) and each image's loss (float16); a resume keeps only the
  evaluations its checkpoint accounts for, as it does with the metrics.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import io as _io
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import io
from ..errors import CheckpointError
from ..runs import RunDir, load_checkpoint
from .job import RunResult

PER_IMAGE = "per_image.npz"


def settings_key(settings: dict | None) -> str:
    return json.dumps(settings, sort_keys=True, default=str)


def save_checkpoint(run: RunDir, step: int, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, settings: dict) -> Path:
    state = {"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "rng": rng_state(), "settings_key": settings_key(settings)}
    return run.save_checkpoint(step, state)


def restore(run: RunDir, model, optimizer, settings: dict) -> int:
    """Load the newest checkpoint into model and optimizer; the step to continue from (0 with
    no checkpoint: rows without one cannot be trusted, so the folder is cleared)."""
    path = run.latest_checkpoint()
    if path is None:
        run.clear()
        return 0
    state = load_checkpoint(path)
    if state.get("settings_key") != settings_key(settings):
        raise CheckpointError(f"checkpoint {path} was written by a run with other settings; "
                              "rerun with the same settings, or pass --overwrite to start again")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    set_rng_state(state["rng"])
    run.truncate_metrics(state["step"])
    kept = load_per_image(run)
    if kept is not None and (kept["steps"] > state["step"]).any():
        save_per_image(run, _select(kept, kept["steps"] <= state["step"]))
    return int(state["step"])


def finished(run: RunDir, model, optimizer, settings: dict, steps: int) -> RunResult:
    """The stored result of a run that already ended; nothing is trained again."""
    doc = json.loads(run.run_json.read_text())
    status, done = doc["status"], int(doc.get("steps_done", steps))
    if status == "completed" and run.latest_checkpoint():
        done = restore(run, model, optimizer, settings)  # the model becomes the trained one
    else:
        # diverged (NaN weights) or stopped: no checkpoint holds its end, so the model stays as
        # it is and run.json's settings stand in for the checkpoint's key
        same = json.loads(json.dumps(settings, default=io._json_default))
        if settings_key(doc.get("settings")) != settings_key(same):
            raise CheckpointError(f"{run.run_json} was written by a run with other settings; "
                                  "rerun with the same settings, or pass --overwrite to start again")
    return RunResult(pd.read_csv(run.metrics), status, done, doc.get("diverged_at"),
                     doc.get("last_finite"))


def kept_per_image(kept: dict | None, step: int, correct, loss, keep: int) -> dict:
    """The per-image results of the last `keep` evaluations, with the one after `step` updates
    added: steps [k], correct bool [k, images], loss [k, images]. Losses are held at float16's
    precision, as the folder stores them, so that a run read back equals the run as trained
    (three significant digits; a loss above float16's largest, 65,504, is kept as inf)."""
    correct = np.asarray(correct, dtype=bool)[None]
    with np.errstate(over="ignore"):
        loss = np.asarray(loss, dtype=np.float16).astype(np.float32)[None]
    if kept is not None:
        correct = np.concatenate([kept["correct"], correct])
        loss = np.concatenate([kept["loss"], loss])
    steps = np.append([] if kept is None else kept["steps"], step).astype(np.int64)
    return {"steps": steps[-keep:], "correct": correct[-keep:], "loss": loss[-keep:]}


def save_per_image(run: RunDir, kept: dict) -> None:
    images = kept["correct"].shape[1]
    buffer = _io.BytesIO()
    np.savez(buffer, steps=kept["steps"], images=np.int64(images),
             correct=np.packbits(kept["correct"], axis=1),
             loss=kept["loss"].astype(np.float16))
    io.write_bytes(run.path / PER_IMAGE, buffer.getvalue())


def load_per_image(run: RunDir) -> dict | None:
    """What save_per_image wrote, or None where the run kept nothing."""
    path = run.path / PER_IMAGE
    if not path.exists():
        return None
    with np.load(path) as f:
        images = int(f["images"])
        return {"steps": f["steps"].astype(np.int64),
                "correct": np.unpackbits(f["correct"], axis=1, count=images).astype(bool),
                "loss": f["loss"].astype(np.float32)}


def _select(kept: dict, rows) -> dict:
    return {k: v[rows] for k, v in kept.items()}


def logged_train_losses(run: RunDir) -> list[float]:
    """The finite train losses in the metrics log, exactly as logged (repr round-trips): what a
    resumed run hands should_stop, so that it stops where an uninterrupted run would."""
    if not run.metrics.exists():
        return []
    with open(run.metrics, newline="") as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f) if r["split"] == "train"]
    return [loss for loss in losses if math.isfinite(loss)]


def write_run_json(run: RunDir, settings: dict, status: str, steps_done: int, started: float,
                   result: RunResult | None = None, extra: dict | None = None) -> None:
    from ..provenance import provenance
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


@contextlib.contextmanager
def preserved_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None):
    """Snapshot model (parameters and BatchNorm statistics), optimizer and RNG; restore on exit.

    The snapshot lives on the CPU so that it does not double GPU memory, and it is restored in
    `finally`, so an exception, a KeyboardInterrupt or a NaN leaves everything as it was (the
    range test and the recipe train on a model they must hand back unchanged).
    """
    model_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    grads = [None if p.grad is None else p.grad.detach().to("cpu", copy=True)
             for p in model.parameters()]
    optim_state = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None
    training = model.training
    rng = rng_state()
    try:
        yield
    finally:
        model.load_state_dict(model_state)
        model.train(training)
        for p, g in zip(model.parameters(), grads):
            p.grad = None if g is None else g.to(p.device)
        if optimizer is not None:
            optimizer.load_state_dict(optim_state)
        set_rng_state(rng)
