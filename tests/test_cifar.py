"""Tests for paperlib.cifar: finding, decoding and caching CIFAR sources."""
from __future__ import annotations

import io
import os
import pickle
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paperlib import cifar
from paperlib.cifar import ImageSplit, load_split
from paperlib.data import decode, sources
from paperlib.data import NormStats
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

    monkeypatch.setattr(decode, "_decode_images", no_decoding)
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
    project = Path(cifar.__file__).resolve().parent.parent
    if (project / "pyproject.toml").is_file():
        assert cifar.cache_root() == project / ".cache" / "paperlib"
    assert cifar.cache_root("/x/y") == Path("/x/y")


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

    monkeypatch.setattr(sources, "_download_torchvision", offline)
    with pytest.raises(DatasetNotFoundError, match="name resolution"):
        load_split("cifar100", "train", root=tmp_path, cache_dir=cache)


def test_download_goes_to_the_cache_and_is_reused(tmp_path, cache, monkeypatch):
    calls = []

    def fake_download(dataset, dest):
        calls.append((dataset, dest))
        write_cifar10_pickles(dest)

    monkeypatch.setattr(sources, "_download_torchvision", fake_download)
    split = load_split("cifar10", "train", root=tmp_path / "empty", cache_dir=cache)
    assert len(split) == 100 and split.label == "CIFAR-10"
    assert "torchvision download" in split.source
    assert calls == [("cifar10", cache / "torchvision")]
    load_split("cifar10", "test", root=tmp_path / "empty", cache_dir=cache)
    assert len(calls) == 1


# ---------------------------------------------------------------------------------------------
# The real archive


def test_real_archive(cifar10):
    """The real CIFAR-10, as decoded once per session into the shared cache (conftest.py); the
    decoder itself is checked on small archives above."""
    train, test = cifar10
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
