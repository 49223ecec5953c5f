"""CIFAR-10/100 images: finding them, decoding them once, and serving batches from the device.

Sources, tried in this order under a data root (argument, else $PAPERLIB_DATA, else ./data):

1. torchvision's pickle folders: ``cifar-10-batches-py/`` or ``cifar-100-python/``;
2. an image-folder tree ``<split>/<class>/*.jpg|png`` in ``cifar10-jpeg/`` or ``cifar10/``;
3. an archive of such a tree, ``cifar10-jpeg.tar.gz`` (or .tgz, .tar, .zip), read in place;
4. a torchvision download into the cache folder, where the network allows it.

The first source that exists is used; if it is broken that is an error, not a reason to try the
next one, so a result never silently comes from somewhere else. Decoded arrays are cached under a
key built from the source's identity, and a cache is only consulted after its source was found.

Batches come from :class:`DeviceLoader`, which keeps the whole split on the device as uint8 and
does augmentation and normalisation there. ``batch(step)`` depends on nothing but (seed, step),
so a resumed run sees exactly the batches it would have seen.
"""
from __future__ import annotations

import functools
import hashlib
import io
import math
import os
import pickle
import shutil
import socket
import tarfile
import tempfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ConfigError, DataError, DatasetNotFoundError
from .io import atomic_path

DATASETS = ("cifar10", "cifar100")
SPLITS = ("train", "test")
AUGMENTATIONS = ("none", "flip", "crop-flip")
NORMALIZATIONS = ("channel", "mean-image")

IMAGE_SHAPE = (32, 32, 3)
CROP_PADDING = 4

_PRETTY_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
_NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
_PICKLE_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
_PICKLE_FILES = {
    ("cifar10", "train"): tuple(f"data_batch_{i}" for i in range(1, 6)),
    ("cifar10", "test"): ("test_batch",),
    ("cifar100", "train"): ("train",),
    ("cifar100", "test"): ("test",),
}
_PICKLE_META = {"cifar10": ("batches.meta", "label_names", "labels"),
                "cifar100": ("meta", "fine_label_names", "fine_labels")}
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

# Bump when the decoded content for an unchanged source would differ, so old caches are ignored.
_CACHE_FORMAT = 1
_DOWNLOAD_TIMEOUT_S = 10.0

# JPEG Annex K luminance table; libjpeg scales it by quality, which lets us name the quality.
_JPEG_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])


# --------------------------------------------------------------------------------------------
# Splits


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

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices) -> ImageSplit:
        indices = np.asarray(indices, dtype=np.int64)
        return ImageSplit(images=self.images[indices], labels=self.labels[indices],
                          classes=self.classes, source=f"{self.source}; subset of {len(indices)}",
                          label=self.label, dataset=self.dataset, split=self.split)


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
# Finding a source


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder searched for datasets: `root`, else $PAPERLIB_DATA, else ./data."""
    return Path(root or os.environ.get("PAPERLIB_DATA") or "data").expanduser().absolute()


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where decoded arrays and downloads go: `cache_dir`, else $PAPERLIB_CACHE, else
    <project>/.cache/paperlib in a source checkout, else ~/.cache/paperlib."""
    if cache_dir or os.environ.get("PAPERLIB_CACHE"):
        return Path(cache_dir or os.environ["PAPERLIB_CACHE"]).expanduser().absolute()
    project = Path(__file__).resolve().parent.parent
    if (project / "pyproject.toml").is_file():
        return project / ".cache" / "paperlib"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paperlib"


@dataclass(frozen=True)
class _Source:
    kind: str  # "pickle", "tree" or "archive"
    path: Path
    downloaded: bool = False


def _candidates(dataset: str, root: Path, cache: Path) -> list[_Source]:
    stem = f"{dataset}-jpeg"
    return [
        _Source("pickle", root / _PICKLE_FOLDERS[dataset]),
        _Source("tree", root / stem),
        _Source("tree", root / dataset),
        *(_Source("archive", root / (stem + suffix)) for suffix in _ARCHIVE_SUFFIXES),
        _Source("pickle", cache / "torchvision" / _PICKLE_FOLDERS[dataset], downloaded=True),
    ]


def _exists(source: _Source) -> bool:
    return source.path.is_file() if source.kind == "archive" else source.path.is_dir()


def _download_torchvision(dataset: str, dest: Path) -> None:
    """Download torchvision's pickles into dest/<pickle folder>, appearing there only when complete."""
    from torchvision import datasets

    dataset_class = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[dataset]
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=dest))
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)  # fail fast where there is no network
    try:
        dataset_class(root=str(staging), train=True, download=True)
        os.replace(staging / _PICKLE_FOLDERS[dataset], dest / _PICKLE_FOLDERS[dataset])
    finally:
        socket.setdefaulttimeout(previous_timeout)
        shutil.rmtree(staging, ignore_errors=True)


def _locate(dataset: str, root: Path, cache: Path, download: bool) -> _Source:
    candidates = _candidates(dataset, root, cache)
    for source in candidates:
        if _exists(source):
            return source
    if download:
        try:
            _download_torchvision(dataset, cache / "torchvision")
        except Exception as exc:  # any failure here just means "no download"; say why below
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            download_note = f"a torchvision download into {cache / 'torchvision'} failed ({reason})"
        else:
            return candidates[-1]
    else:
        download_note = "downloading was disabled"
    looked = ", ".join(str(s.path) + ("/" if s.kind != "archive" else "") for s in candidates)
    pickle_folder = _PICKLE_FOLDERS[dataset]
    raise DatasetNotFoundError(
        f"{_PRETTY_NAMES[dataset]} not found: looked for {looked}; {download_note}. "
        f"Set PAPERLIB_DATA (or pass root) to a folder holding {pickle_folder}/ or "
        f"{dataset}-jpeg.tar.gz, or run where the network allows a download.")


# --------------------------------------------------------------------------------------------
# Source identity and descriptions


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _archive_sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def _files_fingerprint(folder: Path, paths: list[Path]) -> str:
    digest = hashlib.sha256(str(folder.resolve()).encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _identity(source: _Source, dataset: str, split: str) -> str:
    """A string that changes whenever the source's content for `split` may have changed."""
    if source.kind == "archive":
        return "sha256:" + _archive_sha256(source.path)
    if source.kind == "pickle":
        names = (*_PICKLE_FILES[dataset, split], _PICKLE_META[dataset][0])
        files = [source.path / name for name in names if (source.path / name).is_file()]
    else:
        split_dir = source.path / split
        files = sorted(p for p in split_dir.rglob("*") if p.is_file()) if split_dir.is_dir() else []
    return "files:" + _files_fingerprint(source.path, files)


def _describe(source: _Source, dataset: str, copy_note: str) -> str:
    if source.kind == "archive":
        sha = _archive_sha256(source.path)
        return f"{source.path.name} (sha256 {sha[:8]}..., {copy_note} copy) under {source.path.parent}"
    if source.kind == "tree":
        return f"image folders {source.path} ({copy_note} copy)"
    where = "torchvision download in" if source.downloaded else "torchvision pickles in"
    return f"{where} {source.path} (original {_PRETTY_NAMES[dataset]})"


def _figure_label(dataset: str, copy_note: str) -> str:
    pretty = _PRETTY_NAMES[dataset]
    return f"{pretty} ({copy_note} copy)" if copy_note else pretty


# --------------------------------------------------------------------------------------------
# Decoding


@dataclass
class _Decoded:
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    copy_note: str  # "" for the original pickles, else e.g. "JPEG q75" or "PNG"


def _decode_images(files: list[tuple[str, bytes]]) -> np.ndarray:
    """(name, JPEG/PNG bytes) pairs -> N x H x W x 3 uint8; a bad file is named in the error."""
    with warnings.catch_warnings():
        # torchvision 0.29 marks its image codecs deprecated; the version is pinned, and they
        # decode CIFAR about 5x faster than Pillow, so the warning would only be noise.
        warnings.simplefilter("ignore", DeprecationWarning)
        decoded = _decode_with_torchvision(files)
    for (name, _), image in zip(files, decoded):
        if tuple(image.shape) != (IMAGE_SHAPE[2], *IMAGE_SHAPE[:2]):
            raise DataError(f"{name}: image is {image.shape[2]}x{image.shape[1]}, expected "
                            f"{IMAGE_SHAPE[1]}x{IMAGE_SHAPE[0]}")
    if not decoded:
        return np.zeros((0, *IMAGE_SHAPE), np.uint8)
    return torch.stack(decoded).permute(0, 2, 3, 1).contiguous().numpy()


def _decode_with_torchvision(files: list[tuple[str, bytes]]) -> list[torch.Tensor]:
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg

    tensors = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for _, data in files]
    is_jpeg = [not name.lower().endswith(".png") for name, _ in files]
    decoded: list[torch.Tensor] = []
    chunk = 4096
    for start in range(0, len(files), chunk):
        batch = tensors[start:start + chunk]
        try:
            # Decoding a list in one call is about 4x faster than one call per image.
            if all(is_jpeg[start:start + chunk]):
                decoded.extend(decode_jpeg(batch, mode=ImageReadMode.RGB))
                continue
        except RuntimeError:
            pass  # decode one by one below, to find and name the bad file
        for offset, tensor in enumerate(batch):
            try:
                decoded.append(decode_image(tensor, mode=ImageReadMode.RGB))
            except (RuntimeError, ValueError) as exc:
                name = files[start + offset][0]
                raise DataError(f"{name}: cannot decode image ({str(exc).splitlines()[0]})") from None
    return decoded


def _jpeg_quality(data: bytes) -> int | None:
    """The libjpeg quality setting that produced this JPEG's luminance table, if it is one."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            table = np.sort(np.asarray(image.quantization[0]))
    except Exception:  # no table to read: the quality simply goes unnamed
        return None
    for quality in range(1, 101):
        scale = 5000 // quality if quality < 50 else 200 - 2 * quality
        expected = np.clip((_JPEG_LUMINANCE * scale + 50) // 100, 1, 255)
        if np.array_equal(np.sort(expected), table):
            return quality
    return None


def _copy_note(name: str, data: bytes) -> str:
    """How an image-file copy differs from the original, judged by its first file:
    "PNG" (lossless), or "JPEG q<N>" with the quality read from the file's quantisation table."""
    if name.lower().endswith(".png"):
        return "PNG"
    quality = _jpeg_quality(data)
    return f"JPEG q{quality}" if quality else "JPEG"


def _check_split(decoded: _Decoded, dataset: str, where: str) -> None:
    """Catch incomplete or mixed-up copies: wrong class count, an empty or unbalanced split."""
    expected = _NUM_CLASSES[dataset]
    if len(decoded.classes) != expected:
        raise DataError(f"{where}: found {len(decoded.classes)} classes, expected {expected} "
                        f"for {_PRETTY_NAMES[dataset]}")
    if len(decoded.labels) == 0:
        raise DataError(f"{where}: no images")
    if decoded.labels.min() < 0 or decoded.labels.max() >= expected:
        raise DataError(f"{where}: labels outside 0..{expected - 1}")
    counts = np.bincount(decoded.labels, minlength=expected)
    if counts.min() != counts.max():
        worst = int(np.argmin(counts))
        raise DataError(f"{where}: classes are unbalanced ({decoded.classes[worst]} has "
                        f"{counts[worst]} images, others up to {counts.max()}); the copy is incomplete")


def _decode_files(files: list[tuple[str, str, bytes]], dataset: str, where: str) -> _Decoded:
    """(class name, file name, bytes) triples -> arrays; labels follow sorted class names.

    Images are stored class by class, in file-name order, so that a tar, a zip and a folder tree
    holding the same files give identical arrays."""
    classes = tuple(sorted({cls for cls, _, _ in files}))
    files = sorted(files, key=lambda f: (f[0], f[1]))
    index = {cls: i for i, cls in enumerate(classes)}
    images = _decode_images([(name, data) for _, name, data in files])
    labels = np.array([index[cls] for cls, _, _ in files], dtype=np.int64)
    decoded = _Decoded(images, labels, classes, _copy_note(*files[0][1:]) if files else "")
    _check_split(decoded, dataset, where)
    return decoded


def _image_member(name: str) -> tuple[str, str] | None:
    """'[prefix/]split/class/file.jpg' -> (split, class); None for anything else."""
    parts = (name[2:] if name.startswith("./") else name).split("/")
    if len(parts) < 3 or parts[-3] not in SPLITS or parts[-1].startswith("."):
        return None
    if not parts[-1].lower().endswith(_IMAGE_SUFFIXES):
        return None
    return parts[-3], parts[-2]


def _read_archive(path: Path, dataset: str) -> dict[str, _Decoded]:
    """Both splits from one pass over the archive (the test split costs little extra)."""
    files: dict[str, list[tuple[str, str, bytes]]] = {split: [] for split in SPLITS}
    try:
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    found = _image_member(info.filename)
                    if found and not info.is_dir():
                        files[found[0]].append((found[1], f"{path}:{info.filename}",
                                                archive.read(info)))
        else:
            # Stream mode reads the compressed file once, front to back, without seeking.
            with tarfile.open(path, "r|*") as archive:
                for member in archive:
                    found = _image_member(member.name)
                    if found and member.isfile():
                        files[found[0]].append((found[1], f"{path}:{member.name}",
                                                archive.extractfile(member).read()))
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{path}: unreadable or corrupt archive ({exc})") from None
    decoded = {}
    for split in SPLITS:
        if not files[split]:
            raise DataError(f"{path}: no {split}/<class>/ images inside; expected the layout "
                            f"train/<class>/*.jpg and test/<class>/*.jpg")
        decoded[split] = _decode_files(files[split], dataset, f"{path} ({split})")
    if decoded["train"].classes != decoded["test"].classes:
        raise DataError(f"{path}: train and test have different class folders")
    return decoded


def _read_tree(folder: Path, dataset: str, split: str) -> _Decoded:
    split_dir = folder / split
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: missing; expected {folder}/{split}/<class>/*.jpg")
    files = []
    for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for image_path in sorted(class_dir.iterdir()):
            if image_path.suffix.lower() in _IMAGE_SUFFIXES and not image_path.name.startswith("."):
                files.append((class_dir.name, str(image_path), image_path.read_bytes()))
    return _decode_files(files, dataset, str(split_dir))


def _load_pickle(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: missing; the {path.parent.name} folder is incomplete")
    try:
        with open(path, "rb") as f:
            content = pickle.load(f, encoding="bytes")
    except Exception as exc:  # truncated or foreign files fail in many ways; all mean "corrupt"
        raise DataError(f"{path}: unreadable or corrupt pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(content, dict):
        raise DataError(f"{path}: not a CIFAR pickle (holds {type(content).__name__})")
    # Files written by Python 2 load with bytes keys; others may have str keys.
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in content.items()}


def _read_pickles(folder: Path, dataset: str, split: str) -> _Decoded:
    meta_name, names_key, labels_key = _PICKLE_META[dataset]
    meta = _load_pickle(folder / meta_name)
    if names_key not in meta:
        raise DataError(f"{folder / meta_name}: no '{names_key}' entry")
    classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in meta[names_key])
    images, labels = [], []
    for name in _PICKLE_FILES[dataset, split]:
        batch = _load_pickle(folder / name)
        if "data" not in batch or labels_key not in batch:
            raise DataError(f"{folder / name}: missing the 'data' or '{labels_key}' entry")
        data = np.asarray(batch["data"])
        h, w, c = IMAGE_SHAPE
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != h * w * c:
            raise DataError(f"{folder / name}: 'data' is {data.dtype} {data.shape}, expected uint8 "
                            f"rows of {h * w * c} values (3 x {h} x {w} images)")
        if len(batch[labels_key]) != len(data):
            raise DataError(f"{folder / name}: {len(batch[labels_key])} labels for {len(data)} images")
        # Rows hold planes: all red, then green, then blue; we store HWC.
        images.append(data.reshape(-1, c, h, w).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[labels_key], dtype=np.int64))
    decoded = _Decoded(np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels),
                       classes, "")
    _check_split(decoded, dataset, f"{folder} ({split})")
    return decoded


def _read(source: _Source, dataset: str, split: str) -> dict[str, _Decoded]:
    if source.kind == "archive":
        return _read_archive(source.path, dataset)
    if source.kind == "tree":
        return {split: _read_tree(source.path, dataset, split)}
    return {split: _read_pickles(source.path, dataset, split)}


# --------------------------------------------------------------------------------------------
# Cache


def _cache_file(cache: Path, source: _Source, dataset: str, split: str) -> Path:
    key = f"{_CACHE_FORMAT}\0{dataset}\0{split}\0{source.kind}\0{_identity(source, dataset, split)}"
    return cache / f"{dataset}-{split}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def _read_cache(path: Path) -> _Decoded | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as content:
            return _Decoded(content["images"], content["labels"].astype(np.int64),
                            tuple(str(c) for c in content["classes"]), str(content["copy_note"]))
    except Exception as exc:  # an unreadable cache is rebuilt, never trusted
        warnings.warn(f"ignoring unreadable cache {path} ({exc}); decoding again", stacklevel=3)
        return None


def _write_cache(path: Path, decoded: _Decoded) -> None:
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, images=decoded.images, labels=decoded.labels,
                     classes=np.array(decoded.classes), copy_note=np.array(decoded.copy_note))
    except OSError as exc:  # a read-only or full cache folder costs time, not correctness
        warnings.warn(f"could not write cache {path} ({exc}); the data will be decoded again "
                      f"next time", stacklevel=3)


# --------------------------------------------------------------------------------------------
# Public loader


def load_split(dataset: str, split: str, root: str | os.PathLike | None = None,
               cache_dir: str | os.PathLike | None = None, download: bool = True) -> ImageSplit:
    """Load one split of CIFAR-10 or CIFAR-100 as uint8 arrays (see the module docstring)."""
    if dataset not in DATASETS:
        raise ConfigError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    cache = cache_root(cache_dir)
    source = _locate(dataset, data_root(root), cache, download)
    cache_path = _cache_file(cache, source, dataset, split)
    decoded = _read_cache(cache_path)
    if decoded is None:
        everything = _read(source, dataset, split)
        for other_split, other in everything.items():
            _write_cache(_cache_file(cache, source, dataset, other_split), other)
        decoded = everything[split]
    return ImageSplit(images=decoded.images, labels=decoded.labels, classes=decoded.classes,
                      source=_describe(source, dataset, decoded.copy_note),
                      label=_figure_label(dataset, decoded.copy_note), dataset=dataset, split=split)


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
        if not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= n:
            raise ConfigError(f"batch_size must be an integer in 1..{n} (the split's size), "
                              f"got {batch_size!r}")
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
