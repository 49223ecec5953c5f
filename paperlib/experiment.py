"""Glue shared by the CLI and the notebooks: data, model and schedules from plain settings."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from . import schedules as S
from .data import (DeviceLoader, ImageSplit, NormStats, load_split, stratified_subset,
                   synthetic_split)
from .errors import ConfigError
from .models import build_model
from .device import resolve_device

SCHEDULES = ("one-cycle", "triangular", "multistep", "constant", "linear", "exp")


@dataclass
class Data:
    train: DeviceLoader
    test: DeviceLoader
    train_split: ImageSplit
    test_split: ImageSplit

    def describe(self) -> dict:
        return {"dataset": self.train_split.label, "source": self.train_split.source,
                "train_images": len(self.train_split.labels),
                "test_images": len(self.test_split.labels)}


# Smith's Caffe data layers: mirror only (crop 32 of 32 is a no-op) and the mean image.
CAFFE_AUGMENT, CAFFE_NORMALIZE = "flip", "mean-image"


class Splits:
    """A dataset's train/test splits on `device`, loaded once; a train loader per (batch, seed).

    Subsets are seeded stratified draws: the train subset from `seed`, the test subset from 0, so
    that every run is scored on the same images. Normalisation statistics always come from the
    full training split, as a user would compute them once for the dataset. The defaults are
    Smith's Caffe data layers (the notebooks'); `make_data` passes the CLI's.
    """

    def __init__(self, dataset: str, *, train_subset: int | None = None,
                 test_subset: int | None = None, device: str | torch.device = "cpu", root=None,
                 seed: int = 0, augment: str = CAFFE_AUGMENT, normalize: str = CAFFE_NORMALIZE,
                 test_augment: str = "none", test_batch_size: int = 500,
                 channels_last: bool = True):
        self.dataset = dataset
        self.device = resolve_device(device)
        self.augment, self.normalize, self.channels_last = augment, normalize, channels_last
        # everything but the device: a launcher's worker rebuilds the same splits from it
        self.spec = {"dataset": dataset, "train_subset": train_subset, "test_subset": test_subset,
                     "root": None if root is None else str(root), "seed": seed,
                     "augment": augment, "normalize": normalize, "test_augment": test_augment,
                     "test_batch_size": test_batch_size, "channels_last": channels_last}
        if dataset == "synthetic":  # a learnable stand-in for tests and demos that need no files
            train = synthetic_split(train_subset or 2000, seed=seed)
            test = synthetic_split(test_subset or 500, seed=seed + 1)
        else:
            train, test = load_split(dataset, "train", root=root), load_split(dataset, "test",
                                                                              root=root)
        self.stats = NormStats.from_split(train)
        if dataset != "synthetic":
            if train_subset:
                train = train.subset(stratified_subset(train.labels, train_subset, seed))
            if test_subset:
                test = test.subset(stratified_subset(test.labels, test_subset, 0))
        self.train_split, self.test_split = train, test
        self.test = self._loader(test, min(test_batch_size, len(test.labels)),
                                 augment=test_augment, shuffle=False, drop_last=False, seed=seed)

    def _loader(self, split: ImageSplit, batch_size: int, **kw) -> DeviceLoader:
        return DeviceLoader(split, batch_size, stats=self.stats, device=self.device,
                            normalize=self.normalize, channels_last=self.channels_last, **kw)

    def train(self, batch_size: int, seed: int) -> DeviceLoader:
        return self._loader(self.train_split, batch_size, augment=self.augment, shuffle=True,
                            drop_last=True, seed=seed)

    def describe(self) -> dict:
        return {"dataset": self.train_split.label, "source": self.train_split.source,
                "train_images": len(self.train_split.labels),
                "test_images": len(self.test_split.labels),
                "augment": self.augment, "normalize": self.normalize}


def make_data(dataset: str, *, batch_size: int = 128, device: str | torch.device = "cpu",
              subset: int | None = None, test_subset: int | None = None, seed: int = 0,
              augment: str = "crop-flip", normalize: str = "channel", test_augment: str = "none",
              test_batch_size: int = 500, channels_last: bool = True, root=None) -> Data:
    """Train and test loaders on `device`; `subset`/`test_subset` draw seeded stratified subsets."""
    splits = Splits(dataset, train_subset=subset, test_subset=test_subset, device=device,
                    root=root, seed=seed, augment=augment, normalize=normalize,
                    test_augment=test_augment, test_batch_size=test_batch_size,
                    channels_last=channels_last)
    return Data(splits.train(batch_size, seed), splits.test, splits.train_split,
                splits.test_split)


def make_model(name: str, *, num_classes: int = 10, init: str = "msra", seed: int = 0,
               device: str | torch.device = "cpu",
               bn_momentum: float | None = None, bn_shards: int = 1) -> torch.nn.Module:
    """Build a model with its initial weights drawn from `seed`, placed on `device`.

    `bn_shards` > 1 computes BatchNorm statistics per shard of each batch, as Smith's multi-GPU
    runs did (see paperlib.models.ShardedBatchNorm2d); the initial weights do not depend on it.
    On the meta device (a plan's stand-in: its structure, no weights) every call with the same
    settings returns the same model, built there once.
    """
    device = resolve_device(device)
    if device.type == "meta":
        return _meta_model(name, num_classes, init, bn_momentum, bn_shards)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(name, num_classes=num_classes, init=init, bn_momentum=bn_momentum,
                            bn_shards=bn_shards)
    return model.to(device)


@functools.lru_cache(maxsize=None)
def _meta_model(name, num_classes, init, bn_momentum, bn_shards) -> torch.nn.Module:
    # a plan builds one Job per run (230 under `paper`); building each model on the meta device
    # cost 70 ms of initialisers that write nothing
    with torch.device("meta"):
        return build_model(name, num_classes=num_classes, init=init, bn_momentum=bn_momentum,
                           bn_shards=bn_shards)


def make_schedules(kind: str, *, total: int, lr: float | None = None, lr_min: float | None = None,
                   lr_max: float | None = None, step_size: int | None = None,
                   style: str = "smith", final_lr: float | None = None,
                   milestones: list[int] | None = None, gamma: float = 0.1,
                   momentum: float = 0.9, mom_max: float | None = None,
                   mom_min: float | None = None):
    """(lr schedule, momentum schedule) for one of SCHEDULES, from the CLI's flat settings.

    Momentum: constant `momentum` unless `mom_max`/`mom_min` are given; then it cycles inversely
    to the lr (one-cycle, triangular) or ramps from mom_max to mom_min (linear, exp: Fig 15a).
    """
    def need(**values):
        for name, value in values.items():
            if value is None:
                flag = name.replace("_", "-")
                raise ConfigError(f"schedule {kind!r} needs --{flag}")
        return values.values()

    for name, value in (("momentum", momentum), ("mom_max", mom_max), ("mom_min", mom_min)):
        if value is not None and not 0.0 <= value < 1.0:
            raise ConfigError(f"{name} ({value}) must be in [0, 1)")
    cyclical = mom_max is not None or mom_min is not None
    if cyclical:
        mom_max, mom_min = need(mom_max=mom_max, mom_min=mom_min)
    if kind == "one-cycle":
        lr_min, lr_max, step_size = need(lr_min=lr_min, lr_max=lr_max, step_size=step_size)
        lr_s, mom_s = S.one_cycle(style, lr_min, lr_max, step_size, total, final_lr=final_lr,
                                  mom_max=mom_max if cyclical else momentum,
                                  mom_min=mom_min if cyclical else momentum)
        return lr_s, mom_s
    if kind == "triangular":
        lr_min, lr_max, step_size = need(lr_min=lr_min, lr_max=lr_max, step_size=step_size)
        lr_s = S.triangular(lr_min, lr_max, step_size)
        mom_s = S.cyclical_momentum(mom_max, mom_min, step_size) if cyclical else S.constant(momentum)
        return lr_s, mom_s
    if kind in ("linear", "exp"):
        lr_min, lr_max = need(lr_min=lr_min, lr_max=lr_max)
        lr_s = (S.linear_range if kind == "linear" else S.exp_range)(lr_min, lr_max, total)
        mom_s = S.linear_range(mom_max, mom_min, total) if cyclical else S.constant(momentum)
        return lr_s, mom_s
    if cyclical:
        raise ConfigError(f"--mom-max/--mom-min need a cyclical or range schedule, not {kind!r}")
    if kind == "multistep":
        (lr,) = need(lr=lr)
        return S.multistep(lr, milestones or [], gamma), S.constant(momentum)
    if kind == "constant":
        (lr,) = need(lr=lr)
        return S.constant(lr), S.constant(momentum)
    raise ConfigError(f"schedule {kind!r} is unknown; choose one of {', '.join(SCHEDULES)}")
