"""The training and validation data of a search: fresh, counted batches at any batch size and
data order.

Why separate: the recipe takes whatever data its caller has (a DeviceLoader, a torch DataLoader,
a plain iterable, or a factory) and every run needs its own fresh stream with its images
counted against the budget; hiding those four kinds here keeps the search free of them.
"""
from __future__ import annotations

import torch

from ..data import LoaderBatches, batches
from ..errors import ConfigError


class _Counted:
    """`batch(step)` of a loader, counting the training images drawn through it."""

    def __init__(self, inner, counter: list[int], offset: int = 0):
        self.inner, self.counter, self.offset = inner, counter, offset

    def batch(self, step: int):
        batch = self.inner.batch(step + self.offset)
        self.counter[0] += batches.size(batch)
        return batch


class Source:
    """The user's training data, re-drawn per run so that every run sees its own fresh stream
    (a LoaderBatches remembers how far it got) at the batch size and data order asked for."""

    def __init__(self, train, make_loader, device: torch.device):
        from torch.utils.data import DataLoader

        from ..data import DeviceLoader
        self.train, self.make_loader, self.device = train, make_loader, device
        self.images = [0]  # a list: the _Counted loaders add to it
        self.preflight_images = 0
        self._first = None
        if isinstance(train, DeviceLoader):
            self.kind, self.batch_size, self.size = "device", train.batch_size, len(train.labels)
        elif isinstance(train, DataLoader) and train.batch_size is not None:
            self.kind, self.batch_size = "dataloader", train.batch_size
            self.size = len(train.dataset) if hasattr(train.dataset, "__len__") else None
        else:
            self.kind, self.size = "iterable", None
            self.batch_size = getattr(train, "batch_size", None)
        if make_loader is not None:
            self.kind = "factory"

    def check_not_empty(self) -> None:
        batch = self.first_batch()
        if self.batch_size is None:
            self.batch_size = batches.size(batch)

    def first_batch(self):
        """The first training batch, charged to the budget (the NaN check trains on nothing,
        but it is the cost of one forward pass)."""
        if self._first is not None:
            return self._first
        source = self.train if hasattr(self.train, "batch") else LoaderBatches(self.train)
        try:
            batch = source.batch(0)
        except ConfigError:
            raise ConfigError("the train loader yielded no batches: give it at least one "
                              "(inputs, targets) batch") from None
        n = batches.size(batch)
        if n == 0:
            raise ConfigError("the train loader's first batch is empty: give batches of >= 1 "
                              "sample")
        self.preflight_images += n
        self._first = batches.to_device(batch, self.device)
        return self._first

    def check_rebatchable(self, batch_size: int) -> None:
        if self.kind == "iterable":
            raise ConfigError(f"batch_size={batch_size} needs a DeviceLoader, a DataLoader or "
                              "make_loader: a plain iterable of batches cannot be re-batched")
        if self.size is not None and batch_size > self.size:
            raise ConfigError(f"batch_size={batch_size} exceeds the {self.size} training images; "
                              f"give batch_size <= {self.size}")

    def loader(self, batch_size: int, seed: int, offset: int = 0) -> _Counted:
        return _Counted(self._fresh(batch_size, seed), self.images, offset)

    def _fresh(self, batch_size: int | None, seed: int):
        if self.kind == "factory":
            made = self.make_loader(batch_size or self.batch_size, seed)
            return made if hasattr(made, "batch") else LoaderBatches(made, self.device)
        if self.kind == "device":
            return self.train.reordered(batch_size or self.batch_size, seed)
        if self.kind == "dataloader":
            return LoaderBatches(_rebuilt_dataloader(self.train, batch_size, seed), self.device)
        batches = LoaderBatches(self.train, self.device)
        for _ in range(seed):  # a plain iterable's only other order: start it later
            batches.batch(0)
        return batches


def _rebuilt_dataloader(loader, batch_size: int | None, seed: int):
    from torch.utils.data import DataLoader, RandomSampler
    return DataLoader(loader.dataset, batch_size=batch_size or loader.batch_size,
                      shuffle=isinstance(loader.sampler, RandomSampler),
                      generator=torch.Generator().manual_seed(seed),
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn,
                      drop_last=loader.drop_last, pin_memory=loader.pin_memory)


class Evaluated:
    """The validation batches on the model's device, counting the images evaluated."""

    def __init__(self, val, device: torch.device):
        self.val, self.device, self.images = val, device, 0

    def __iter__(self):
        for batch in self.val:
            self.images += batches.size(batch)
            yield batches.to_device(batch, self.device, non_blocking=True)

    def check_not_empty(self) -> None:
        for batch in self.val:
            if batches.size(batch):
                return
        raise ConfigError("the val loader yielded no images: give it at least one (inputs, "
                          "targets) batch to read the test loss from")
