"""CIFAR's file formats, and decoding each of them into uint8 arrays.

Separate from finding a source (`sources`) because this part only turns bytes into checked
arrays: torchvision pickles, image-folder trees and archives of such trees. It knows nothing of
roots, downloads or caches.
"""
from __future__ import annotations

import io
import pickle
import tarfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .splits import IMAGE_SHAPE

DATASETS = ("cifar10", "cifar100")
SPLITS = ("train", "test")

_PRETTY_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
_NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
_PICKLE_FILES = {
    ("cifar10", "train"): tuple(f"data_batch_{i}" for i in range(1, 6)),
    ("cifar10", "test"): ("test_batch",),
    ("cifar100", "train"): ("train",),
    ("cifar100", "test"): ("test",),
}
_PICKLE_META = {"cifar10": ("batches.meta", "label_names", "labels"),
                "cifar100": ("meta", "fine_label_names", "fine_labels")}
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

# JPEG Annex K luminance table; libjpeg scales it by quality, which lets us name the quality.
_JPEG_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])


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

