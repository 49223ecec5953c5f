"""Small builders shared by the training tests: a learnable synthetic task and a tiny model."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from paperlib.data import DeviceLoader, NormStats, synthetic_split
from paperlib.models import build_model

ROOT = Path(__file__).resolve().parents[1]


def synthetic_loaders(n_train=256, n_test=100, batch_size=32, seed=0):
    train_split = synthetic_split(n_train, seed=seed)
    test_split = synthetic_split(n_test, seed=seed + 1000)
    stats = NormStats.from_split(train_split)
    train = DeviceLoader(train_split, batch_size, stats=stats, augment="crop-flip", seed=seed)
    test = DeviceLoader(test_split, 50, stats=stats, shuffle=False, drop_last=False)
    return train, test


def tiny_model(seed=0, name="resnet8"):
    torch.manual_seed(seed)
    return build_model(name, num_classes=10)


def tiny_cnn(seed=0, num_classes=10):
    """A small convnet of a user's (two convolutions, BatchNorm, a linear head): ~10x cheaper
    per step than resnet8, for tests where the model is not the point."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, num_classes))


def real_data_root() -> Path:
    """The folder holding CIFAR-10 for tests that need the real data, or skip."""
    candidates = [os.environ.get("PAPERLIB_DATA"), ROOT.parent / "shared" / "data"]
    for candidate in filter(None, candidates):
        root = Path(candidate)
        if (root / "cifar10-jpeg.tar.gz").exists() or (root / "cifar-10-batches-py").exists():
            return root
    pytest.skip("CIFAR-10 not found: set PAPERLIB_DATA to a folder holding cifar10-jpeg.tar.gz "
                "or cifar-10-batches-py/")
