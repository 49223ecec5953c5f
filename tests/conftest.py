"""What many tests share, made once per session: CIFAR-10 decoded into the checkout's cache, and
one local Ray with fake GPUs.

Why session scope: in a fresh clone the first test that reads CIFAR-10 decodes its 60,000 JPEGs
(seconds); every later one, nbval's notebooks included, reads the cached arrays. And a Ray start
takes seconds that every launcher test would otherwise pay again.
"""
from __future__ import annotations

import sys

import pytest

from helpers import real_data_root


@pytest.fixture(scope="session")
def cifar10():
    """(train, test) ImageSplits of the real CIFAR-10, decoded once into the shared cache (skips
    where the data are absent)."""
    from paperlib.data import load_split
    root = real_data_root()
    return (load_split("cifar10", "train", root=root, download=False),
            load_split("cifar10", "test", root=root, download=False))


@pytest.fixture(scope="session")
def ray_with_two_fake_gpus():
    """A local Ray with 2 CPUs and 2 fake GPUs: Ray hands out the GPU ids it was told of, which
    is all the launcher tests read."""
    ray = pytest.importorskip("ray")
    # the task functions live in the test modules, which workers cannot import: send them by
    # value
    import test_launch
    ray.cloudpickle.register_pickle_by_value(sys.modules[test_launch.__name__])
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
