"""Batches served from the device: normalisation statistics, augmentation and the loaders.

Separate from the splits and the files on disk because this is the training-time side: it takes
an ImageSplit and its NormStats and never touches a file.

Batches come from :class:`DeviceLoader`, which keeps the whole split on the device as uint8 and
does augmentation and normalisation there. ``batch(step)`` depends on nothing but (seed, step),
so a resumed run sees exactly the batches it would have seen.
"""
from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .batches import to_device
from .splits import ImageSplit

AUGMENTATIONS = ("none", "flip", "crop-flip")
NORMALIZATIONS = ("channel", "mean-image")

CROP_PADDING = 4


# --------------------------------------------------------------------------------------------
# Normalisation statistics


@dataclass(frozen=True, eq=False)
class NormStats:
    """Per-channel mean/std on the 0-1 scale, and Caffe's per-pixel mean image (H x W x 3, 0-255).

    Compute them from the TRAIN split and use them for every split.
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    mean_image: np.ndarray = field(repr=False)

    @classmethod
    def from_split(cls, split: ImageSplit) -> NormStats:
        images = split.images
        if len(images) == 0:
            raise ConfigError("cannot compute normalisation statistics of an empty split")
        # Exact integer statistics, in chunks so that no float copy of all 50k images is made:
        # a per-channel histogram of pixel values gives mean and std, a running sum the mean image.
        histogram = np.zeros((3, 256), dtype=np.int64)
        image_sum = np.zeros(images.shape[1:], dtype=np.int64)
        for start in range(0, len(images), 2048):
            chunk = images[start:start + 2048]
            image_sum += chunk.sum(axis=0, dtype=np.int64)
            for channel in range(3):
                histogram[channel] += np.bincount(chunk[..., channel].ravel(), minlength=256)
        values = np.arange(256, dtype=np.float64)
        count = histogram[0].sum()
        mean = histogram @ values / count
        std = np.sqrt((histogram * (values - mean[:, None]) ** 2).sum(axis=1) / count)
        return cls(mean=tuple(float(v) for v in mean / 255), std=tuple(float(v) for v in std / 255),
                   mean_image=(image_sum / len(images)).astype(np.float32))


# --------------------------------------------------------------------------------------------
# Device-side batches


def crop_and_flip(images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor,
                  padding: int = CROP_PADDING) -> torch.Tensor:
    """Per-image crop from a zero-padded batch, then an optional horizontal mirror.

    images: B x C x H x W (any dtype); top, left: int tensors (B,) in [0, 2 * padding], the crop's
    corner in the padded image (padding, padding is the uncropped image); flip: bool (B,).
    All in one gather, so it costs the same for every image and never leaves the device.
    """
    b, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    device = images.device
    rows = top.view(b, 1) + torch.arange(h, device=device)
    columns = torch.arange(w, device=device)
    columns = left.view(b, 1) + torch.where(flip.view(b, 1), w - 1 - columns, columns)
    batch_index = torch.arange(b, device=device).view(b, 1, 1, 1)
    channel_index = torch.arange(c, device=device).view(1, c, 1, 1)
    return padded[batch_index, channel_index, rows.view(b, 1, h, 1), columns.view(b, 1, 1, w)]


def _seed(*parts) -> int:
    """A 63-bit generator seed from a tuple, so that (seed, step) streams do not overlap."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2 ** 63 - 1)


def _check_batch_size(batch_size, n: int) -> None:
    if not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= n:
        raise ConfigError(f"batch_size must be an integer in 1..{n} (the split's size), "
                          f"got {batch_size!r}")


class DeviceLoader:
    """Batches of one split, held on `device` as a single uint8 tensor.

    augment: "crop-flip" (random 32 crop from 4-pixel zero padding + horizontal flip, the
    torchvision recipe), "flip" (mirror only: Smith's Caffe crop_size 32 on 32x32 images is a
    no-op), or "none". normalize: "channel" ((x/255 - mean)/std) or "mean-image" (Caffe:
    x - mean image, 0-255 units).

    In "channel" mode the raw pixels are augmented and then normalised, so crop padding is black,
    as in torchvision. In "mean-image" mode the mean is subtracted first and the result mirrored,
    as Caffe's DataTransformer does (it reads the mean at the source pixel); padding, if asked
    for, is then 0 in mean-subtracted units.
    """

    def __init__(self, split: ImageSplit, batch_size: int, *, stats: NormStats,
                 device: str | torch.device = "cpu", augment: str = "none",
                 normalize: str = "channel", shuffle: bool = True, drop_last: bool = True,
                 seed: int = 0, dtype: torch.dtype = torch.float32, channels_last: bool = False):
        n = len(split)
        _check_batch_size(batch_size, n)
        if augment not in AUGMENTATIONS:
            raise ConfigError(f"augment must be one of {', '.join(AUGMENTATIONS)}; got {augment!r}")
        if normalize not in NORMALIZATIONS:
            raise ConfigError(f"normalize must be one of {', '.join(NORMALIZATIONS)}; "
                              f"got {normalize!r}")
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ConfigError(f"dtype must be a floating torch dtype, got {dtype!r}")
        if stats.mean_image.shape != split.images.shape[1:]:
            raise ConfigError(f"stats.mean_image is {stats.mean_image.shape}, but the images are "
                              f"{split.images.shape[1:]}")
        self.split = split
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.augment = augment
        self.normalize = normalize
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.dtype = dtype
        self.channels_last = channels_last

        # torch.tensor copies, so the (possibly read-only or cached) numpy array is never shared.
        self.images = torch.tensor(split.images).to(self.device).permute(0, 3, 1, 2).contiguous()
        self.labels = torch.tensor(split.labels, dtype=torch.int64).to(self.device)
        mean = torch.tensor(stats.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(stats.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        # (x/255 - mean)/std as one multiply-add.
        self._scale = 1.0 / (255.0 * std)
        self._shift = -mean / std
        self._mean_image = torch.tensor(stats.mean_image, dtype=torch.float32).to(self.device) \
            .permute(2, 0, 1).unsqueeze(0)
        self._augment_generator = torch.Generator(device=self.device)
        self._epoch = None
        self._order = None

    def reordered(self, batch_size: int, seed: int) -> "DeviceLoader":
        """The same split at another batch size and data order. It shares the images on the
        device: a copy of the split would double device memory."""
        _check_batch_size(batch_size, len(self.labels))
        new = copy.copy(self)
        new.batch_size, new.seed = int(batch_size), seed
        new._epoch = new._order = None  # the cached epoch order belongs to the old seed
        new._augment_generator = torch.Generator(device=self.device)
        return new

    @property
    def fingerprint(self) -> tuple:
        """What this loader yields, as plain values: the split's content, the statistics and
        every setting that shapes a batch. Two loaders with one fingerprint give the same
        batches, so runs scored on either can be scored together (Job.fusion_key)."""
        stats = (tuple(self._scale.flatten().tolist()), tuple(self._shift.flatten().tolist()),
                 hashlib.blake2b(self._mean_image.cpu().numpy().tobytes(),
                                 digest_size=8).hexdigest())
        return (self.split.fingerprint, stats, self.batch_size, self.augment, self.normalize,
                self.shuffle, self.drop_last, self.seed, str(self.dtype), self.channels_last,
                str(self.device))

    @property
    def steps_per_epoch(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __len__(self) -> int:
        return self.steps_per_epoch

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            n = len(self.labels)
            if self.shuffle:
                # A CPU generator gives the same order on every device type.
                order = torch.randperm(n, generator=torch.Generator().manual_seed(
                    _seed("epoch", self.seed, epoch)))
            else:
                order = torch.arange(n)
            if self.device.type == "cuda":
                order = order.pin_memory()  # lets the copy below run without blocking the host
            self._order = order.to(self.device, non_blocking=True)
            self._epoch = epoch
        return self._order

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch for training step `step`: a function of (seed, step) only."""
        if step < 0:
            raise ConfigError(f"step must be >= 0, got {step}")
        epoch, position = divmod(step, self.steps_per_epoch)
        start = position * self.batch_size
        indices = self._epoch_order(epoch)[start:start + self.batch_size]
        return self._transform(self.images[indices], _seed("augment", self.seed, step)), \
            self.labels[indices]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass in stored order (for evaluation); augmentation, if any, is seeded per batch."""
        for i in range(self.steps_per_epoch):
            start = i * self.batch_size
            images = self.images[start:start + self.batch_size]
            yield self._transform(images, _seed("ordered", self.seed, i)), \
                self.labels[start:start + self.batch_size]

    def _transform(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        if self.normalize == "mean-image":
            x = self._augmented(images.float() - self._mean_image, seed)
        else:
            x = self._augmented(images, seed).float() * self._scale + self._shift
        x = x.to(self.dtype)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _augmented(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        if self.augment == "none":
            return images
        b = images.shape[0]
        generator = self._augment_generator.manual_seed(seed)
        flip = torch.randint(0, 2, (b,), generator=generator, device=self.device).bool()
        if self.augment == "flip":
            return torch.where(flip.view(b, 1, 1, 1), images.flip(3), images)
        corner = torch.randint(0, 2 * CROP_PADDING + 1, (2, b), generator=generator,
                               device=self.device)
        return crop_and_flip(images, corner[0], corner[1], flip)


class LoaderBatches:
    """Adapts any iterable of batches (a torch DataLoader; any form paperlib.data.batches
    takes: pairs, several inputs and a target, dicts) to the `batch(step)` interface of `fit`
    and `lr_range_test`.

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
                batch = next(self._iterator)
                break
            except StopIteration:
                self._iterator = None
        else:
            raise ConfigError("the batch iterable is empty; give it at least one batch")
        if self.device is not None:
            batch = to_device(batch, self.device, non_blocking=True)
        return batch

    def __iter__(self):
        return iter(self.batches)
