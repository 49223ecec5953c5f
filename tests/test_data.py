"""Tests for paperlib.data: finding and caching CIFAR sources, subsets, statistics, device batches."""
from __future__ import annotations

import io
import math
import os
import pickle
import stat
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from paperlib import data
from paperlib.data import (DeviceLoader, ImageSplit, NormStats, crop_and_flip, load_split,
                           stratified_subset, synthetic_split)
from paperlib.errors import ConfigError, DataError, DatasetNotFoundError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
# A distinct, JPEG-friendly solid colour per class, so decoded labels can be checked by colour.
CLASS_COLOURS = [(25 * i + 20, 230 - 20 * i, (97 * i) % 256) for i in range(10)]


# ---------------------------------------------------------------------------------------------
# Fixture writers


def _pickle_to(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=2))


def write_cifar10_pickles(root: Path, per_class_train: int = 2, per_class_test: int = 1,
                          seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A tiny cifar-10-batches-py folder with the real file and key names; returns HWC arrays."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    _pickle_to(folder / "batches.meta", {b"label_names": [c.encode() for c in CIFAR10_CLASSES],
                                         b"num_cases_per_batch": 10, b"num_vis": 3072})
    expected = {}
    for split, per_class, names in (("train", per_class_train, [f"data_batch_{i}" for i in range(1, 6)]),
                                    ("test", per_class_test, ["test_batch"])):
        labels = rng.permutation(np.repeat(np.arange(10), per_class * len(names)))
        rows = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
        for part, name in zip(np.array_split(np.arange(len(labels)), len(names)), names):
            _pickle_to(folder / name, {b"batch_label": name.encode(), b"labels": labels[part].tolist(),
                                       b"data": rows[part],
                                       b"filenames": [f"{i}.png".encode() for i in part]})
        expected[split] = (rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels)
    return expected


def write_cifar100_pickles(root: Path, per_class_train: int = 2, per_class_test: int = 1,
                           seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    fine_names = [f"fine{i:02d}".encode() for i in range(100)]
    _pickle_to(folder / "meta", {b"fine_label_names": fine_names,
                                 b"coarse_label_names": [f"coarse{i:02d}".encode() for i in range(20)]})
    expected = {}
    for split, per_class in (("train", per_class_train), ("test", per_class_test)):
        fine = rng.permutation(np.repeat(np.arange(100), per_class))
        rows = rng.integers(0, 256, size=(len(fine), 3072), dtype=np.uint8)
        _pickle_to(folder / split, {b"filenames": [f"{i}.png".encode() for i in range(len(fine))],
                                    b"batch_label": split.encode(), b"fine_labels": fine.tolist(),
                                    b"coarse_labels": (fine // 5).tolist(), b"data": rows})
        expected[split] = (rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), fine)
    return expected


def encode_image(array: np.ndarray, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt, **({"quality": 75} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def solid(colour, size=32) -> np.ndarray:
    return np.broadcast_to(np.array(colour, np.uint8), (size, size, 3)).copy()


def image_files(per_class=None, classes=CIFAR10_CLASSES, fmt="JPEG", prefix=""):
    """{member name: bytes} for a split/class/NNNN tree; class k is the solid colour CLASS_COLOURS[k]."""
    per_class = per_class or {"train": 3, "test": 2}
    suffix = ".jpg" if fmt == "JPEG" else ".png"
    files = {}
    for split, count in per_class.items():
        for k, cls in enumerate(classes):
            for i in range(count):
                files[f"{prefix}{split}/{cls}/{i:04d}{suffix}"] = encode_image(solid(CLASS_COLOURS[k]), fmt)
    return files


def write_tar(path: Path, files: dict[str, bytes]) -> Path:
    # Reverse order, so that labels must come from sorted folder names, not from member order.
    with tarfile.open(path, "w:gz") as archive:
        for name in sorted(files, reverse=True):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            archive.addfile(info, io.BytesIO(files[name]))
    return path


def write_tree(folder: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


def listing(folder: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in folder.rglob("*"))


def assert_colours_match_labels(split: ImageSplit) -> None:
    mean_colours = split.images.reshape(len(split), -1, 3).mean(axis=1)
    expected = np.array(CLASS_COLOURS, float)[split.labels]
    assert np.abs(mean_colours - expected).max() < 4  # JPEG of a flat colour is nearly exact


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def jpeg_root(tmp_path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    write_tar(root / "cifar10-jpeg.tar.gz", image_files())
    return root


# ---------------------------------------------------------------------------------------------
# Torchvision pickle format


def test_cifar10_pickles(tmp_path, cache):
    expected = write_cifar10_pickles(tmp_path)
    for split in ("train", "test"):
        loaded = load_split("cifar10", split, root=tmp_path, cache_dir=cache, download=False)
        images, labels = expected[split]
        np.testing.assert_array_equal(loaded.images, images)  # planes -> HWC
        np.testing.assert_array_equal(loaded.labels, labels)
        assert loaded.images.dtype == np.uint8 and loaded.labels.dtype == np.int64
        assert loaded.classes == CIFAR10_CLASSES
        assert loaded.label == "CIFAR-10"
        assert "torchvision pickles" in loaded.source and str(tmp_path) in loaded.source
    assert len(load_split("cifar10", "train", root=tmp_path, cache_dir=cache)) == 100


def test_cifar100_pickles_use_fine_labels(tmp_path, cache):
    expected = write_cifar100_pickles(tmp_path)
    for split, n in (("train", 200), ("test", 100)):
        loaded = load_split("cifar100", split, root=tmp_path, cache_dir=cache, download=False)
        images, fine = expected[split]
        assert loaded.images.shape == (n, 32, 32, 3)
        np.testing.assert_array_equal(loaded.images, images)
        np.testing.assert_array_equal(loaded.labels, fine)
        assert loaded.classes == tuple(f"fine{i:02d}" for i in range(100))
        assert loaded.label == "CIFAR-100" and loaded.num_classes == 100


def test_truncated_pickle_is_named(tmp_path, cache):
    write_cifar10_pickles(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:500])
    with pytest.raises(DataError, match="data_batch_3"):
        load_split("cifar10", "train", root=tmp_path, cache_dir=cache, download=False)


def test_incomplete_pickle_folder_is_an_error_not_a_fallback(tmp_path, cache):
    write_cifar10_pickles(tmp_path)
    write_tar(tmp_path / "cifar10-jpeg.tar.gz", image_files())
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DataError, match="test_batch"):
        load_split("cifar10", "test", root=tmp_path, cache_dir=cache, download=False)


def test_pickle_with_wrong_image_size(tmp_path, cache):
    write_cifar10_pickles(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    content = pickle.loads(path.read_bytes())
    content[b"data"] = content[b"data"][:, :1024]
    path.write_bytes(pickle.dumps(content))
    with pytest.raises(DataError, match="test_batch"):
        load_split("cifar10", "test", root=tmp_path, cache_dir=cache, download=False)


# ---------------------------------------------------------------------------------------------
# JPEG archive and image-folder trees


def test_archive_labels_come_from_sorted_class_folders(jpeg_root, cache):
    train = load_split("cifar10", "train", root=jpeg_root, cache_dir=cache, download=False)
    test = load_split("cifar10", "test", root=jpeg_root, cache_dir=cache, download=False)
    assert train.images.shape == (30, 32, 32, 3) and test.images.shape == (20, 32, 32, 3)
    assert train.classes == CIFAR10_CLASSES
    assert np.all(np.diff(train.labels) >= 0)  # stored class by class, whatever the member order
    np.testing.assert_array_equal(np.bincount(train.labels), [3] * 10)
    np.testing.assert_array_equal(np.bincount(test.labels), [2] * 10)
    assert_colours_match_labels(train)
    assert_colours_match_labels(test)
    assert train.label == "CIFAR-10 (JPEG q75 copy)"
    assert train.source.startswith("cifar10-jpeg.tar.gz (sha256 ")
    assert "JPEG q75 copy" in train.source and str(jpeg_root) in train.source


def test_archive_is_decoded_once_and_cached(jpeg_root, cache, monkeypatch):
    first = load_split("cifar10", "train", root=jpeg_root, cache_dir=cache)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although a cache exists")

    monkeypatch.setattr(data, "_decode_images", no_decoding)
    again = load_split("cifar10", "train", root=jpeg_root, cache_dir=cache)
    np.testing.assert_array_equal(again.images, first.images)
    np.testing.assert_array_equal(again.labels, first.labels)
    assert again.source == first.source and again.label == first.label
    # One pass over the archive caches both splits.
    assert len(load_split("cifar10", "test", root=jpeg_root, cache_dir=cache)) == 20
    assert len(list(cache.glob("cifar10-*.npz"))) == 2


def test_cache_never_stands_in_for_a_missing_source(jpeg_root, cache):
    load_split("cifar10", "train", root=jpeg_root, cache_dir=cache, download=False)
    (jpeg_root / "cifar10-jpeg.tar.gz").unlink()
    with pytest.raises(DatasetNotFoundError):
        load_split("cifar10", "train", root=jpeg_root, cache_dir=cache, download=False)


def test_changed_archive_is_decoded_again(jpeg_root, cache):
    load_split("cifar10", "train", root=jpeg_root, cache_dir=cache, download=False)
    write_tar(jpeg_root / "cifar10-jpeg.tar.gz", image_files({"train": 4, "test": 1}))
    assert len(load_split("cifar10", "train", root=jpeg_root, cache_dir=cache, download=False)) == 40


def test_nothing_is_written_into_the_data_folder(jpeg_root, cache):
    before = listing(jpeg_root)
    jpeg_root.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        load_split("cifar10", "train", root=jpeg_root, cache_dir=cache, download=False)
        load_split("cifar10", "test", root=jpeg_root, cache_dir=cache, download=False)
    finally:
        jpeg_root.chmod(stat.S_IRWXU)
    assert listing(jpeg_root) == before
    assert list(cache.glob("*.npz"))


def test_truncated_archive_names_the_file(jpeg_root, cache):
    archive = jpeg_root / "cifar10-jpeg.tar.gz"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError, match="cifar10-jpeg.tar.gz") as caught:
        load_split("cifar10", "train", root=jpeg_root, cache_dir=cache, download=False)
    assert "\n" not in str(caught.value)
    assert not list(cache.glob("*.npz"))


@pytest.mark.parametrize("damage, message", [
    ("bad-jpeg", "train/cat/0001.jpg"),
    ("wrong-size", "train/cat/0001.jpg: image is 16x16"),
    ("missing-class", "found 9 classes"),
    ("unbalanced", "unbalanced"),
    ("no-test-split", "no test/"),
])
def test_damaged_archive_contents(tmp_path, cache, damage, message):
    files = image_files()
    if damage == "bad-jpeg":
        files["train/cat/0001.jpg"] = b"\xff\xd8 not really a jpeg"
    elif damage == "wrong-size":
        files["train/cat/0001.jpg"] = encode_image(solid((1, 2, 3), size=16))
    elif damage == "missing-class":
        files = {k: v for k, v in files.items() if "/truck/" not in k}
    elif damage == "unbalanced":
        del files["train/dog/0002.jpg"]
    else:
        files = {k: v for k, v in files.items() if k.startswith("train/")}
    write_tar(tmp_path / "cifar10-jpeg.tar.gz", files)
    with pytest.raises(DataError, match=message) as caught:
        load_split("cifar10", "train", root=tmp_path, cache_dir=cache, download=False)
    assert "cifar10-jpeg.tar.gz" in str(caught.value)


def test_archive_with_a_top_level_folder_and_zip(tmp_path, cache):
    write_tar(tmp_path / "cifar10-jpeg.tgz", image_files(prefix="./cifar10-jpeg/"))
    assert_colours_match_labels(load_split("cifar10", "train", root=tmp_path, cache_dir=cache))
    other = tmp_path / "zipped"
    other.mkdir()
    with zipfile.ZipFile(other / "cifar10-jpeg.zip", "w") as archive:
        for name, content in image_files().items():
            archive.writestr(name, content)
    split = load_split("cifar10", "test", root=other, cache_dir=cache)
    assert len(split) == 20 and split.source.startswith("cifar10-jpeg.zip")
    assert_colours_match_labels(split)


@pytest.mark.parametrize("folder, fmt, label", [("cifar10-jpeg", "JPEG", "CIFAR-10 (JPEG q75 copy)"),
                                                ("cifar10", "PNG", "CIFAR-10 (PNG copy)")])
def test_image_folder_tree(tmp_path, cache, folder, fmt, label):
    write_tree(tmp_path / folder, image_files(fmt=fmt))
    split = load_split("cifar10", "train", root=tmp_path, cache_dir=cache, download=False)
    assert len(split) == 30 and split.label == label
    assert split.source.startswith(f"image folders {tmp_path / folder}")
    assert_colours_match_labels(split)
    if fmt == "PNG":
        np.testing.assert_array_equal(split.images[0], solid(CLASS_COLOURS[0]))


def test_pickles_are_preferred_over_an_archive(tmp_path, cache):
    write_cifar10_pickles(tmp_path)
    write_tar(tmp_path / "cifar10-jpeg.tar.gz", image_files())
    assert load_split("cifar10", "test", root=tmp_path, cache_dir=cache).label == "CIFAR-10"


def test_environment_variables_choose_root_and_cache(tmp_path, monkeypatch):
    write_cifar100_pickles(tmp_path / "somewhere")
    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path / "somewhere"))
    monkeypatch.setenv("PAPERLIB_CACHE", str(tmp_path / "env-cache"))
    assert len(load_split("cifar100", "test", download=False)) == 100
    assert list((tmp_path / "env-cache").glob("cifar100-test-*.npz"))


def test_default_cache_is_the_project_folder(monkeypatch):
    monkeypatch.delenv("PAPERLIB_CACHE", raising=False)
    project = Path(data.__file__).resolve().parent.parent
    if (project / "pyproject.toml").is_file():
        assert data.cache_root() == project / ".cache" / "paperlib"
    assert data.cache_root("/x/y") == Path("/x/y")


# ---------------------------------------------------------------------------------------------
# Missing data, downloads, bad names


def test_unknown_dataset_and_split(tmp_path):
    with pytest.raises(ConfigError, match="cifar10, cifar100"):
        load_split("mnist", "train", root=tmp_path, cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="train, test"):
        load_split("cifar10", "validation", root=tmp_path, cache_dir=tmp_path)


def test_missing_dataset_says_where_it_looked(tmp_path, cache):
    with pytest.raises(DatasetNotFoundError) as caught:
        load_split("cifar10", "train", root=tmp_path, cache_dir=cache, download=False)
    message = str(caught.value)
    assert "\n" not in message
    for place in ("cifar-10-batches-py", "cifar10-jpeg/", "cifar10/", "cifar10-jpeg.tar.gz",
                  "cifar10-jpeg.zip", str(cache / "torchvision")):
        assert place in message
    assert str(tmp_path) in message and "PAPERLIB_DATA" in message and "download" in message


def test_failed_download_is_reported(tmp_path, cache, monkeypatch):
    def offline(dataset, dest):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data, "_download_torchvision", offline)
    with pytest.raises(DatasetNotFoundError, match="name resolution"):
        load_split("cifar100", "train", root=tmp_path, cache_dir=cache)


def test_download_goes_to_the_cache_and_is_reused(tmp_path, cache, monkeypatch):
    calls = []

    def fake_download(dataset, dest):
        calls.append((dataset, dest))
        write_cifar10_pickles(dest)

    monkeypatch.setattr(data, "_download_torchvision", fake_download)
    split = load_split("cifar10", "train", root=tmp_path / "empty", cache_dir=cache)
    assert len(split) == 100 and split.label == "CIFAR-10"
    assert "torchvision download" in split.source
    assert calls == [("cifar10", cache / "torchvision")]
    load_split("cifar10", "test", root=tmp_path / "empty", cache_dir=cache)
    assert len(calls) == 1


# ---------------------------------------------------------------------------------------------
# The real archive


def _real_data_root() -> Path | None:
    for candidate in (os.environ.get("PAPERLIB_DATA"), "/work/shared/data"):
        if candidate and (Path(candidate) / "cifar10-jpeg.tar.gz").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="module")
def real_cifar10(tmp_path_factory):
    root = _real_data_root()
    if root is None:
        pytest.skip("real data absent: no cifar10-jpeg.tar.gz in $PAPERLIB_DATA or /work/shared/data")
    cache = tmp_path_factory.mktemp("real-cache")
    started = time.perf_counter()
    train = load_split("cifar10", "train", root=root, cache_dir=cache, download=False)
    decode_s = time.perf_counter() - started
    started = time.perf_counter()
    test = load_split("cifar10", "test", root=root, cache_dir=cache, download=False)
    cached_s = time.perf_counter() - started
    print(f"real CIFAR-10: first load {decode_s:.1f} s, cached test load {cached_s:.2f} s")
    return train, test


def test_real_archive(real_cifar10):
    train, test = real_cifar10
    for split, n in ((train, 50_000), (test, 10_000)):
        assert split.images.shape == (n, 32, 32, 3) and split.images.dtype == np.uint8
        assert split.labels.shape == (n,) and split.labels.dtype == np.int64
        np.testing.assert_array_equal(np.bincount(split.labels, minlength=10), [n // 10] * 10)
        assert split.classes == CIFAR10_CLASSES
    if "cifar10-jpeg" in train.source:
        assert train.label == "CIFAR-10 (JPEG q75 copy)"
        assert "45b041e8" in train.source
    stats = NormStats.from_split(train)
    # The well-known CIFAR-10 statistics; the JPEG copy is within a fraction of a percent.
    np.testing.assert_allclose(stats.mean, (0.4914, 0.4822, 0.4465), atol=0.005)
    np.testing.assert_allclose(stats.std, (0.2470, 0.2435, 0.2616), atol=0.01)


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
