"""Run folders: a lock, a metrics log appended as it grows, and checksummed checkpoints.

A run folder holds `metrics.csv` (tidy: one row per step and split), `run.json` (settings,
provenance, status) and `checkpoints/step_NNNNNNN.pt`. Two runs never share a folder (the owner
holds an exclusive flock on `.lock`, which the kernel releases when the process dies, however it
dies), a finished run is not overwritten unless asked, and a checkpoint that was truncated or
altered is refused with a clear error instead of being loaded.
"""
from __future__ import annotations

import csv
import errno
import fcntl
import hashlib
import io as _io
import json
import os
import shutil
import struct
from pathlib import Path

import torch

from . import io
from .errors import CheckpointError, OutputDirError

METRIC_COLUMNS = ("step", "split", "lr", "momentum", "weight_decay", "loss", "accuracy")
MIN_FREE_BYTES = 64 * 2**20  # refuse to start a run on a disk with less than this free
_MAGIC = b"PAPERLIB-CKPT-1\n"
_HEADER = struct.Struct(">32sQ")  # sha256 of the payload, payload length


class RunDir:
    """An output folder owned by one run at a time. Use as a context manager."""

    def __init__(self, path: str | os.PathLike, *, resume: bool = False, overwrite: bool = False,
                 marker: str = "run.json",
                 artifacts: tuple[str, ...] = ("metrics.csv", "training.png", "per_image.npz"),
                 check_only: bool = False):
        """`marker` is the JSON whose "status" says whether the folder holds a run and how it
        ended; `artifacts` are the other files an --overwrite removes. `check_only` makes every
        check (writable, free space, lock, previous run) but deletes nothing: a command calls it
        before it loads data, so a bad argument found later cannot cost an old run."""
        self.path = Path(path)
        self.resume = resume
        self.overwrite = overwrite
        self.check_only = check_only
        self.metrics = self.path / "metrics.csv"
        self.run_json = self.path / marker
        self.artifacts = [self.path / name for name in artifacts]
        self.checkpoints = self.path / "checkpoints"
        self._lock = self.path / ".lock"
        self._lock_file = None

    def __enter__(self) -> "RunDir":
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputDirError(f"cannot create output folder {self.path}: {e.strerror}; "
                                 "choose a writable --out") from None
        self._check_writable()
        self._acquire_lock()
        try:
            self._check_previous_run()
        except BaseException:
            self._release_lock()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._release_lock()

    # -- checks before any training starts ---------------------------------------------------
    def _check_writable(self) -> None:
        probe = self.path / f".write-probe-{os.getpid()}"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as e:
            raise OutputDirError(f"output folder {self.path} is not writable ({e.strerror}); "
                                 "choose another --out or fix its permissions") from None
        free = shutil.disk_usage(self.path).free
        if free < MIN_FREE_BYTES:
            raise OutputDirError(f"output folder {self.path} has only {free / 2**20:.0f} MiB free; "
                                 f"free at least {MIN_FREE_BYTES // 2**20} MiB or choose another --out")

    def _acquire_lock(self) -> None:
        # The lock file is never removed: removing it would let a waiter lock an unlinked inode
        # while a newcomer locks a fresh file. Its content is only the last owner's pid.
        f = open(self._lock, "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            owner = f.read().strip() or "another process"
            f.close()
            raise OutputDirError(f"output folder {self.path} is in use by process {owner}; "
                                 "wait for it to finish or choose another --out") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._lock_file = f

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _check_previous_run(self) -> None:
        status = self.status()
        has_run = (status is not None or self.checkpoints.exists()
                   or any(p.exists() for p in self.artifacts))
        if not has_run:
            return
        if self.overwrite:
            if not self.check_only:
                self.clear()
        elif self.resume:
            return
        elif status not in (None, "running", "interrupted", "unreadable"):
            raise OutputDirError(f"output folder {self.path} holds a finished run; pass --overwrite "
                                 "to replace it or choose another --out")
        else:
            raise OutputDirError(f"output folder {self.path} holds an unfinished run; pass --resume "
                                 "to continue it or --overwrite to start again")

    def status(self) -> str | None:
        if not self.run_json.exists():
            return None
        try:
            return json.loads(self.run_json.read_text()).get("status")
        except (OSError, ValueError):
            return "unreadable"

    def clear(self) -> None:
        for path in (*self.artifacts, self.run_json):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.checkpoints, ignore_errors=True)

    # -- metrics -------------------------------------------------------------------------------
    def append_metrics(self, rows: list[dict]) -> None:
        """Append rows and push them to disk, so a crash keeps every row written so far."""
        if not rows:
            return
        new = not self.metrics.exists()
        try:
            with open(self.metrics, "a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=METRIC_COLUMNS, extrasaction="ignore",
                                        lineterminator="\n")
                if new:
                    writer.writeheader()
                writer.writerows(rows)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise _disk_error(self.metrics, e) from None

    def truncate_metrics(self, step: int) -> None:
        """Keep only rows a checkpoint at `step` accounts for: train rows before it, evals up to it."""
        if not self.metrics.exists():
            return
        with open(self.metrics, newline="") as f:
            text = f.read()
        if text and not text.endswith("\n"):  # a row torn by a crash mid-write
            text = text[: text.rfind("\n") + 1]
        reader = csv.DictReader(_io.StringIO(text))
        kept = [r for r in reader if _row_before(r, step)]
        buf = _io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        io.write_text(self.metrics, buf.getvalue())

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints / f"step_{step:07d}.pt"

    def latest_checkpoint(self) -> Path | None:
        found = sorted(self.checkpoints.glob("step_*.pt")) if self.checkpoints.exists() else []
        return found[-1] if found else None

    def save_checkpoint(self, step: int, state: dict, keep: int = 2) -> Path:
        path = self.checkpoint_path(step)
        try:
            save_checkpoint(path, state)
        except OSError as e:
            raise _disk_error(path, e) from None
        for old in sorted(self.checkpoints.glob("step_*.pt"))[:-keep]:
            old.unlink(missing_ok=True)
        return path


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write `state` with a header holding the payload's length and sha256, atomically."""
    buf = _io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    header = _MAGIC + _HEADER.pack(hashlib.sha256(payload).digest(), len(payload))
    io.write_bytes(path, header + payload)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by save_checkpoint; refuse one that is truncated or altered."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror}") from None
    start = len(_MAGIC) + _HEADER.size
    if not data.startswith(_MAGIC) or len(data) < start:
        raise CheckpointError(f"{path} is not a paperlib checkpoint (bad header); delete it to resume "
                              "from an earlier one")
    digest, length = _HEADER.unpack(data[len(_MAGIC):start])
    payload = data[start:]
    if len(payload) != length or hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({len(payload)} of {length} "
                              "bytes, checksum mismatch); delete it to resume from an earlier one")
    return torch.load(_io.BytesIO(payload), map_location="cpu", weights_only=True)


def _row_before(row: dict, step: int) -> bool:
    try:
        s = int(row["step"])
    except (TypeError, ValueError):
        return False
    return s < step if row["split"] == "train" else s <= step


def _disk_error(path: Path, e: OSError) -> OutputDirError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputDirError(f"disk full while writing {path}; free space and rerun with --resume")
    return OutputDirError(f"cannot write {path}: {e.strerror}; check the output folder and rerun "
                          "with --resume")
