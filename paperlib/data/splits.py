"""A split in memory (`ImageSplit`) and the ways to get a smaller or a synthetic one.

Separate because the disk side of paperlib.data (sources, decode) makes ImageSplits, the device
side (loader) and training consume them, and neither side should be needed to use the other.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import ConfigError, DataError

IMAGE_SHAPE = (32, 32, 3)


@dataclass(frozen=True, eq=False)
class ImageSplit:
    """One split of a dataset, in memory.

    images: uint8, N x H x W x 3 (HWC, as stored on disk); labels: int64, N. Pickle sources keep
    their file order; image files are stored class by class, in file-name order.
    source: where exactly the pixels came from (for provenance records).
    label: the dataset's name as figures must print it, e.g. "CIFAR-10 (JPEG q75 copy)".
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    source: str
    label: str
    dataset: str = ""
    split: str = ""

    def __post_init__(self):
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[3] != 3:
            raise DataError(f"images must be uint8 N x H x W x 3, got {self.images.dtype} "
                            f"{self.images.shape} ({self.source})")
        if self.labels.dtype != np.int64 or self.labels.shape != (len(self.images),):
            raise DataError(f"labels must be int64 of length {len(self.images)}, got "
                            f"{self.labels.dtype} {self.labels.shape} ({self.source})")

    def __len__(self) -> int:
        return len(self.labels)

    @cached_property
    def fingerprint(self) -> str:
        """A digest of the pixels and labels: two splits with the same fingerprint hold the same
        images in the same order, whichever objects they are (computed once per split)."""
        digest = hashlib.blake2b(digest_size=16)
        for array in (self.images, self.labels):
            digest.update(repr(array.shape).encode())
            digest.update(np.ascontiguousarray(array).data)
        return digest.hexdigest()

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices) -> ImageSplit:
        indices = np.asarray(indices, dtype=np.int64)
        return ImageSplit(images=self.images[indices], labels=self.labels[indices],
                          classes=self.classes, source=f"{self.source}; subset of {len(indices)}",
                          label=self.label, dataset=self.dataset, split=self.split)


# --------------------------------------------------------------------------------------------
# Subsets and synthetic data


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of `n` items with n // num_classes from each class.

    The remainder goes one each to the first classes in label order. Which items a class gives
    is drawn with `seed`.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ConfigError(f"labels must be 1-D, got shape {labels.shape}")
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError(f"n must be a non-negative integer, got {n!r}")
    if n > len(labels):
        raise ConfigError(f"n={n} exceeds the {len(labels)} items available")
    classes = np.unique(labels)
    rng = np.random.default_rng(seed)
    per_class, remainder = divmod(n, len(classes)) if len(classes) else (0, 0)
    chosen = []
    for rank, cls in enumerate(classes):
        members = np.flatnonzero(labels == cls)
        want = per_class + (1 if rank < remainder else 0)
        if want > len(members):
            raise ConfigError(f"n={n} needs {want} items of class {cls}, which has {len(members)}")
        chosen.append(rng.choice(members, size=want, replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def synthetic_split(n: int, num_classes: int = 10, seed: int = 0) -> ImageSplit:
    """A small learnable stand-in for CIFAR: each class is a distinct colour and stripe angle.

    The class templates depend only on the class index, so splits made with different seeds
    (e.g. a train and a test split) share their classes; `seed` only draws labels and noise.
    """
    if n < 1 or num_classes < 1:
        raise ConfigError(f"synthetic_split needs n >= 1 and num_classes >= 1, got {n}, {num_classes}")
    h, w, _ = IMAGE_SHAPE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    templates = np.empty((num_classes, h, w, 3))
    for c in range(num_classes):
        hue = 2 * np.pi * c / num_classes
        colour = 0.5 + 0.4 * np.cos(hue + np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3]))
        angle = np.pi * c / num_classes
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / 8)
        templates[c] = 255 * colour * (0.5 + 0.5 * stripes[..., None])
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    noisy = templates[labels] + rng.normal(0, 25, size=(n, h, w, 3))
    images = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return ImageSplit(images=images, labels=labels,
                      classes=tuple(f"class_{c}" for c in range(num_classes)),
                      source="synthetic", label="synthetic", dataset="synthetic", split="")

