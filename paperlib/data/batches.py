"""The forms a batch may take, and what every consumer of batches needs from them, written once.

Why in data: a batch is what a loader yields, and the loaders, the engine's steps and its
evaluation, the range test and the recipe's probes all take a user's batches. Practitioners
bring more than (image, label) pairs: several inputs, dict batches (the Hugging Face
convention), regression targets, token sequences. So:
- a pair (inputs, target), or a tuple/list of several inputs and a target, last: the model is
  called as model(*inputs);
- a dict: model(**batch); its target is batch["labels"] (or "label", "target", "y") if present.
Tensors move to a device leaf by leaf (`to_device`); a 4-D input (an image batch) can go
channels_last (`channels_last`); `size` counts samples, `repeated` grows a batch for a probe.
"""
from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError

TARGET_KEYS = ("labels", "label", "target", "y")

def to_device(batch, device, non_blocking: bool = False):
    """`batch` with every tensor in it on `device` (tuples, lists and dicts followed leaf by
    leaf; anything else left as it is)."""
    if isinstance(batch, torch.Tensor):
        # already there: returned as it is, without a call into torch (a small model's step
        # notices every microsecond)
        return batch if batch.device == device else batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, dict):
        return {k: to_device(v, device, non_blocking) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        moved = [to_device(v, device, non_blocking) for v in batch]
        if all(m is v for m, v in zip(moved, batch)):
            return batch  # every leaf was already there
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    return batch


def split(batch) -> tuple[tuple | dict, Any]:
    """(inputs, target) of a batch: inputs a tuple of positional arguments or a dict of keyword
    arguments; target None where a dict batch has none."""
    if isinstance(batch, dict):
        target = next((batch[k] for k in TARGET_KEYS if k in batch), None)
        return batch, target
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return tuple(batch[:-1]), batch[-1]
    raise ConfigError(f"a batch must be (inputs, target), (input, ..., target) or a dict, not "
                      f"{type(batch).__name__}: make the loader yield one of those")


def size(batch) -> int:
    """The number of samples in a batch: the length of its target, else of its first tensor."""
    _, target = split(batch)
    if isinstance(target, torch.Tensor) and target.dim() > 0:
        return len(target)
    leaves = [v for v in (batch.values() if isinstance(batch, dict) else batch)
              if isinstance(v, torch.Tensor) and v.dim() > 0]
    if not leaves:
        raise ConfigError("a batch holds no tensor with a batch dimension")
    return len(leaves[0])


def repeated(batch, n: int):
    """The batch's samples repeated to `n` of them, every tensor alike (a batch-size probe)."""
    reps = -(-n // size(batch))

    def grow(v):
        if isinstance(v, torch.Tensor) and v.dim() > 0:
            return v.repeat(reps, *([1] * (v.dim() - 1)))[:n]
        return v
    if isinstance(batch, dict):
        return {k: grow(v) for k, v in batch.items()}
    return type(batch)(grow(v) for v in batch)


def channels_last(batch):
    """4-D tensors of the inputs in channels_last (images); everything else as it is."""
    def convert(v):
        if isinstance(v, torch.Tensor) and v.dim() == 4:
            return v.contiguous(memory_format=torch.channels_last)
        return v
    if isinstance(batch, dict):
        return {k: convert(v) for k, v in batch.items()}
    inputs, target = split(batch)
    return type(batch)([*(convert(v) for v in inputs), target])
