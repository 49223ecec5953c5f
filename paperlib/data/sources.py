"""CIFAR-10/100 images on disk: finding them, decoding them once, and caching the arrays.

Sources, tried in this order under a data root (argument, else $PAPERLIB_DATA, else the
source checkout's data/ folder, else ./data):

1. torchvision's pickle folders: ``cifar-10-batches-py/`` or ``cifar-100-python/``;
2. an image-folder tree ``<split>/<class>/*.jpg|png`` in ``cifar10-jpeg/`` or ``cifar10/``;
3. an archive of such a tree, ``cifar10-jpeg.tar.gz`` (or .tgz, .tar, .zip), read in place;
4. a torchvision download into the cache folder, where the network allows it.

The first source that exists is used; if it is broken that is an error, not a reason to try the
next one, so a result never silently comes from somewhere else. Decoded arrays are cached under a
key built from the source's identity, and a cache is only consulted after its source was found.

This module does the finding, the source identity and the cache. Turning files into arrays is
`decode`, kept apart because it never needs to know where the files were found.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import socket
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DatasetNotFoundError
from ..io import atomic_path
from .decode import (DATASETS, SPLITS, _PICKLE_FILES, _PICKLE_META, _PRETTY_NAMES, _Decoded,
                     _read_archive, _read_pickles, _read_tree)
from .splits import ImageSplit

_PICKLE_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")

# Bump when the decoded content for an unchanged source would differ, so old caches are ignored.
_CACHE_FORMAT = 1
_DOWNLOAD_TIMEOUT_S = 10.0


# --------------------------------------------------------------------------------------------
# Finding a source


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder searched for datasets: `root`, else $PAPERLIB_DATA, else the data/ folder of
    the source checkout this package runs from (so a notebook finds it whatever its working
    folder), else ./data."""
    chosen = root or os.environ.get("PAPERLIB_DATA")
    if not chosen:
        project = _source_checkout()
        chosen = project / "data" if project is not None else "data"
    return Path(chosen).expanduser().absolute()


def _source_checkout() -> Path | None:
    """The project folder when this package runs from a source checkout (pyproject.toml beside
    it), else None (an installed package)."""
    project = Path(__file__).resolve().parents[2]  # this file is <project>/paperlib/data/sources.py
    return project if (project / "pyproject.toml").is_file() else None


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where decoded arrays and downloads go: `cache_dir`, else $PAPERLIB_CACHE, else
    <project>/.cache/paperlib in a source checkout, else ~/.cache/paperlib."""
    if cache_dir or os.environ.get("PAPERLIB_CACHE"):
        return Path(cache_dir or os.environ["PAPERLIB_CACHE"]).expanduser().absolute()
    project = _source_checkout()
    if project is not None:
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
# Reading a source (the formats themselves are `decode`'s)


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
