"""What training uses: subsets, normalisation statistics, and batches served from the device,
together with the CIFAR-10/100 images they are made from.

Batches come from :class:`DeviceLoader`, which keeps the whole split on the device as uint8 and
does augmentation and normalisation there. ``batch(step)`` depends on nothing but (seed, step),
so a resumed run sees exactly the batches it would have seen.

Layout, each module importing only those above it in this list:
  * ``batches``: the forms a batch may take (pairs, several inputs, dicts) and moving them;
  * ``splits``: ImageSplit, the in-memory split everything passes around, with
    ``stratified_subset`` and ``synthetic_split``;
  * ``decode``: CIFAR's file formats (pickles, image folders, archives) into arrays;
  * ``sources``: where the images come from (data_root, cache_root, download, cache) and
    ``load_split``; ``paperlib.cifar`` serves its public names under their original path;
  * ``loader``: NormStats, crop_and_flip, DeviceLoader and LoaderBatches.
Import from ``paperlib.data`` itself; the module split is not part of the interface.
"""
from __future__ import annotations

from . import batches
from .decode import DATASETS, SPLITS
from .loader import (AUGMENTATIONS, CROP_PADDING, NORMALIZATIONS, DeviceLoader, LoaderBatches,
                     NormStats, crop_and_flip)
from .sources import cache_root, data_root, load_split
from .splits import IMAGE_SHAPE, ImageSplit, stratified_subset, synthetic_split

__all__ = [
    "AUGMENTATIONS", "CROP_PADDING", "DATASETS", "IMAGE_SHAPE", "NORMALIZATIONS", "SPLITS",
    "DeviceLoader", "ImageSplit", "LoaderBatches", "NormStats", "batches", "cache_root",
    "crop_and_flip", "data_root", "load_split", "stratified_subset", "synthetic_split",
]
