"""CIFAR-10/100 images on disk: finding them, decoding them once, and caching the arrays.

Sources, tried in this order under a data root (argument, else $PAPERLIB_DATA, else ./data):

1. torchvision's pickle folders: ``cifar-10-batches-py/`` or ``cifar-100-python/``;
2. an image-folder tree ``<split>/<class>/*.jpg|png`` in ``cifar10-jpeg/`` or ``cifar10/``;
3. an archive of such a tree, ``cifar10-jpeg.tar.gz`` (or .tgz, .tar, .zip), read in place;
4. a torchvision download into the cache folder, where the network allows it.

The first source that exists is used; if it is broken that is an error, not a reason to try the
next one, so a result never silently comes from somewhere else. Decoded arrays are cached under a
key built from the source's identity, and a cache is only consulted after its source was found.
"""
from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import shutil
import socket
import tarfile
import tempfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError, DataError, DatasetNotFoundError
from .io import atomic_path

DATASETS = ("cifar10", "cifar100")
SPLITS = ("train", "test")

IMAGE_SHAPE = (32, 32, 3)

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
