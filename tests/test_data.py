"""Tests for paperlib.data: subsets, statistics, device batches, synthetic data."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from paperlib import cifar, data
from paperlib.data import (DeviceLoader, ImageSplit, NormStats, crop_and_flip, stratified_subset,
                           synthetic_split)
from paperlib.errors import ConfigError


# ---------------------------------------------------------------------------------------------
# Names served from paperlib.cifar


def test_cifar_names_are_reexported():
    # Training code imports everything from paperlib.data; these must be the very same objects.
    for name in ("ImageSplit", "load_split", "DATASETS", "SPLITS", "IMAGE_SHAPE", "data_root",
                 "cache_root"):
        assert getattr(data, name) is getattr(cifar, name)
    assert all(hasattr(data, name) for name in data.__all__)


# ---------------------------------------------------------------------------------------------
# Subsets and statistics


def test_stratified_subset():
    labels = np.repeat(np.arange(10), 50)
    np.random.default_rng(0).shuffle(labels)
    chosen = stratified_subset(labels, 64, seed=3)
    assert len(chosen) == 64 and np.all(np.diff(chosen) > 0)
    np.testing.assert_array_equal(np.bincount(labels[chosen], minlength=10), [7] * 4 + [6] * 6)
    np.testing.assert_array_equal(chosen, stratified_subset(labels, 64, seed=3))
    assert not np.array_equal(chosen, stratified_subset(labels, 64, seed=4))
    np.testing.assert_array_equal(np.bincount(labels[stratified_subset(labels, 500, 0)]), [50] * 10)
    with pytest.raises(ConfigError, match="n=501"):
        stratified_subset(labels, 501, seed=0)


def test_split_subset_keeps_provenance():
    split = synthetic_split(40)
    indices = stratified_subset(split.labels, 20, seed=0)
    part = split.subset(indices)
    np.testing.assert_array_equal(part.images, split.images[indices])
    np.testing.assert_array_equal(part.labels, split.labels[indices])
    assert part.classes == split.classes and part.label == split.label
    assert "subset of 20" in part.source


def test_norm_stats_match_direct_computation():
    split = synthetic_split(100, seed=1)
    stats = NormStats.from_split(split)
    pixels = split.images.reshape(-1, 3).astype(np.float64) / 255
    np.testing.assert_allclose(stats.mean, pixels.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.std, pixels.std(axis=0), rtol=1e-10)
    np.testing.assert_allclose(stats.mean_image, split.images.astype(np.float64).mean(axis=0),
                               rtol=1e-6)
    assert stats.mean_image.shape == (32, 32, 3)


# ---------------------------------------------------------------------------------------------
# DeviceLoader


IDENTITY = NormStats(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                     mean_image=np.zeros((32, 32, 3), np.float32))


def indexed_split(n: int) -> ImageSplit:
    """Image i carries i in its first two channels, so a batch reveals which items it holds."""
    images = np.zeros((n, 32, 32, 3), np.uint8)
    images[..., 0] = (np.arange(n) % 256)[:, None, None]
    images[..., 1] = (np.arange(n) // 256)[:, None, None]
    return ImageSplit(images=images, labels=np.arange(n, dtype=np.int64) % 10,
                      classes=tuple(map(str, range(10))), source="test", label="test")


def random_split(n: int, seed: int = 0) -> ImageSplit:
    rng = np.random.default_rng(seed)
    return ImageSplit(images=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                      labels=np.arange(n, dtype=np.int64) % 10,
                      classes=tuple(map(str, range(10))), source="test", label="test")


def item_ids(x: torch.Tensor) -> np.ndarray:
    raw = torch.round(x * 255).to(torch.int64)
    return (raw[:, 0, 0, 0] + 256 * raw[:, 1, 0, 0]).numpy()


def as_raw(x: torch.Tensor) -> torch.Tensor:
    """Identity-normalised output back to 0-255 integers."""
    return torch.round(x * 255).to(torch.int64)


def test_batch_is_a_pure_function_of_seed_and_step():
    split = random_split(100)
    kwargs = dict(stats=IDENTITY, augment="crop-flip", seed=7)
    first, second = DeviceLoader(split, 16, **kwargs), DeviceLoader(split, 16, **kwargs)
    x, y = first.batch(13)
    second.batch(250)  # a different epoch cached first must not matter
    for loader in (first, second):
        x2, y2 = loader.batch(13)
        assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = DeviceLoader(split, 16, stats=IDENTITY, augment="crop-flip", seed=8).batch(13)
    assert not torch.equal(x, x3)
    assert not torch.equal(first.batch(12)[0], x)


def test_each_epoch_is_a_permutation():
    split = indexed_split(300)
    loader = DeviceLoader(split, 64, stats=IDENTITY, drop_last=False, seed=1)
    assert loader.steps_per_epoch == len(loader) == 5
    epochs = []
    for epoch in range(2):
        ids = np.concatenate([item_ids(loader.batch(epoch * 5 + s)[0]) for s in range(5)])
        assert sorted(ids) == list(range(300))
        epochs.append(ids)
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled each epoch
    assert not np.array_equal(epochs[0], np.arange(300))
    x, y = loader.batch(4)
    assert x.shape[0] == 300 - 4 * 64
    np.testing.assert_array_equal(y.numpy(), item_ids(x) % 10)  # labels travel with images
    assert len(DeviceLoader(split, 64, stats=IDENTITY)) == 4  # drop_last


def test_ordered_iteration_covers_the_split():
    split = indexed_split(130)
    batches = list(DeviceLoader(split, 50, stats=IDENTITY, drop_last=False))
    assert [len(y) for _, y in batches] == [50, 50, 30]
    np.testing.assert_array_equal(np.concatenate([item_ids(x) for x, _ in batches]), np.arange(130))
    assert len(list(DeviceLoader(split, 50, stats=IDENTITY, drop_last=True))) == 2


def test_crop_and_flip_with_fixed_offsets():
    images = torch.from_numpy(random_split(4).images).permute(0, 3, 1, 2).contiguous()
    n = len(images)
    centre = torch.full((n,), 4)
    no_flip = torch.zeros(n, dtype=torch.bool)
    assert torch.equal(crop_and_flip(images, centre, centre, no_flip), images)
    assert torch.equal(crop_and_flip(images, centre, centre, ~no_flip), images.flip(3))
    top, left = torch.tensor([0, 8, 2, 5]), torch.tensor([8, 0, 3, 4])
    shifted = crop_and_flip(images, top, left, no_flip)
    assert torch.equal(crop_and_flip(images, top, left, ~no_flip), shifted.flip(3))
    # Corner (0, 8): four zero rows on top and four zero columns on the right.
    assert torch.equal(shifted[0, :, 4:, :28], images[0, :, :28, 4:])
    assert (shifted[0, :, :4, :] == 0).all() and (shifted[0, :, :, 28:] == 0).all()
    assert torch.equal(shifted[1, :, :28, 4:], images[1, :, 4:, :28])
    assert (shifted[1, :, 28:, :] == 0).all() and (shifted[1, :, :, :4] == 0).all()


def all_crops(image: torch.Tensor) -> torch.Tensor:
    """All 9 x 9 x 2 crop-flip results of one C x H x W image, in (top, left, flip) order."""
    grid = torch.cartesian_prod(torch.arange(9), torch.arange(9), torch.arange(2))
    batch = image.unsqueeze(0).expand(len(grid), -1, -1, -1)
    return crop_and_flip(batch, grid[:, 0], grid[:, 1], grid[:, 2].bool()), grid


def test_crop_flip_draws_every_offset_and_both_flips():
    split = random_split(32)
    source = torch.from_numpy(split.images).permute(0, 3, 1, 2).to(torch.int64)
    loader = DeviceLoader(split, 32, stats=IDENTITY, augment="crop-flip", shuffle=False, seed=2)
    seen = []
    for step in range(6):
        raw = as_raw(loader.batch(step)[0])
        for i in range(32):
            crops, grid = all_crops(source[i])
            match = (crops == raw[i]).flatten(1).all(dim=1).nonzero().flatten()
            assert len(match) == 1, "output is not a crop-flip of its source image"
            seen.append(grid[match[0]].tolist())
    seen = np.array(seen)
    assert set(seen[:, 0]) == set(range(9)) and set(seen[:, 1]) == set(range(9))
    assert set(seen[:, 2]) == {0, 1}
    # Shifted crops show the zero padding at the border.
    white = ImageSplit(images=np.full((64, 32, 32, 3), 255, np.uint8), labels=np.zeros(64, np.int64),
                       classes=("white",), source="test", label="test")
    raw = as_raw(DeviceLoader(white, 64, stats=IDENTITY, augment="crop-flip").batch(0)[0])
    black_borders = (raw[:, :, [0, -1], :] == 0).flatten(1).any(1) | \
        (raw[:, :, :, [0, -1]] == 0).flatten(1).any(1)
    assert black_borders.any()
    assert (raw[:, :, 4:28, 4:28] == 255).all()  # a 4-pixel shift never reaches the centre


def test_flip_mode_never_shifts():
    split = random_split(64)
    source = torch.from_numpy(split.images).permute(0, 3, 1, 2).to(torch.int64)
    raw = as_raw(DeviceLoader(split, 64, stats=IDENTITY, augment="flip", shuffle=False).batch(0)[0])
    same = (raw == source).flatten(1).all(1)
    mirrored = (raw == source.flip(3)).flatten(1).all(1)
    assert (same | mirrored).all() and same.any() and mirrored.any()
    none = as_raw(DeviceLoader(split, 64, stats=IDENTITY, shuffle=False).batch(0)[0])
    assert torch.equal(none, source)


def test_channel_normalisation():
    split = random_split(20)
    stats = NormStats.from_split(split)
    x, _ = DeviceLoader(split, 20, stats=stats, shuffle=False).batch(0)
    source = torch.from_numpy(split.images).permute(0, 3, 1, 2).double()
    mean = torch.tensor(stats.mean).view(1, 3, 1, 1)
    std = torch.tensor(stats.std).view(1, 3, 1, 1)
    torch.testing.assert_close(x.double(), (source / 255 - mean) / std, atol=1e-5, rtol=0)
    assert x.dtype == torch.float32


def test_mean_image_normalisation_subtracts_before_mirroring():
    split = random_split(40)
    stats = NormStats.from_split(split)
    source = torch.from_numpy(split.images).permute(0, 3, 1, 2).float()
    centred = source - torch.from_numpy(stats.mean_image).permute(2, 0, 1)
    x, _ = DeviceLoader(split, 40, stats=stats, normalize="mean-image", shuffle=False).batch(0)
    torch.testing.assert_close(x, centred)
    x, _ = DeviceLoader(split, 40, stats=stats, normalize="mean-image", augment="flip",
                        shuffle=False).batch(0)
    same = torch.isclose(x, centred).flatten(1).all(1)
    mirrored = torch.isclose(x, centred.flip(3)).flatten(1).all(1)  # Caffe: mirror (x - mean)
    assert (same | mirrored).all() and mirrored.any()


def test_dtype_and_channels_last():
    split = random_split(16)
    plain, _ = DeviceLoader(split, 8, stats=IDENTITY, augment="crop-flip").batch(3)
    x, y = DeviceLoader(split, 8, stats=IDENTITY, augment="crop-flip", channels_last=True).batch(3)
    assert x.is_contiguous(memory_format=torch.channels_last) and x.shape == (8, 3, 32, 32)
    assert torch.equal(x, plain) and y.dtype == torch.int64
    half, _ = DeviceLoader(split, 8, stats=IDENTITY, dtype=torch.bfloat16).batch(0)
    assert half.dtype == torch.bfloat16


@pytest.mark.parametrize("kwargs, parameter", [
    (dict(batch_size=0), "batch_size"), (dict(batch_size=17), "batch_size"),
    (dict(augment="cutout"), "augment"), (dict(normalize="zca"), "normalize"),
    (dict(dtype=torch.int32), "dtype"),
])
def test_bad_loader_arguments(kwargs, parameter):
    arguments = dict(batch_size=4) | kwargs
    with pytest.raises(ConfigError, match=parameter):
        DeviceLoader(random_split(16), arguments.pop("batch_size"), stats=IDENTITY, **arguments)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_stay_on_device_without_host_syncs():
    split = random_split(256)
    stats = NormStats.from_split(split)
    loader = DeviceLoader(split, 64, stats=stats, device="cuda", augment="crop-flip", seed=3)
    x, y = loader.batch(0)
    assert x.is_cuda and y.is_cuda
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step in range(1, 10):  # crosses two epoch boundaries
            loader.batch(step)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    again = DeviceLoader(split, 64, stats=stats, device="cuda", augment="crop-flip", seed=3)
    assert torch.equal(again.batch(0)[0], x)
    cpu_ids = DeviceLoader(split, 64, stats=stats, seed=3).batch(5)[1]
    assert torch.equal(again.batch(5)[1].cpu(), cpu_ids)  # same order on every device


# ---------------------------------------------------------------------------------------------
# Synthetic data


def test_synthetic_split_is_balanced_and_shares_classes_across_seeds():
    train, test = synthetic_split(200, seed=0), synthetic_split(100, seed=1)
    assert train.images.shape == (200, 32, 32, 3) and train.images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(train.labels), [20] * 10)
    assert train.source == "synthetic" and train.label == "synthetic"
    # Nearest class mean from one seed classifies another seed's images.
    centroids = np.stack([train.images[train.labels == c].mean(axis=0) for c in range(10)])
    distances = ((test.images[:, None].astype(float) - centroids[None]) ** 2).sum(axis=(2, 3, 4))
    assert (distances.argmin(axis=1) == test.labels).mean() > 0.95
    assert not np.array_equal(train.images[:5], synthetic_split(200, seed=2).images[:5])


def test_synthetic_split_is_learnable_in_a_few_dozen_steps():
    torch.manual_seed(0)
    split = synthetic_split(512, seed=0)
    loader = DeviceLoader(split, 64, stats=NormStats.from_split(split), augment="crop-flip")
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(),
                                torch.nn.Linear(128, 10))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for step in range(40):
        x, y = loader.batch(step)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * math.log(10)
