"""CIFAR-10/100 on disk: ``load_split`` and its companions under the path ``paperlib.cifar``.

The code lives in :mod:`paperlib.data.sources` (finding, caching) and :mod:`paperlib.data.decode`
(file formats); this module only keeps ``paperlib.cifar`` imports working.
"""
from .data import (DATASETS, IMAGE_SHAPE, SPLITS, ImageSplit, cache_root,  # noqa: F401
                   data_root, load_split)
