"""Where a result came from: code version, packages, device, time. Goes into every JSON sidecar.

The environment is recorded as the hash of requirements.lock (every package's exact version, made
by `make lock`) and whether the installed packages are the locked ones: a figure made a year from
now in another environment says so, package by package.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

import torch

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCK = PROJECT_ROOT / "requirements.lock"
_PACKAGES = ("paperlib", "torch", "torchvision", "numpy", "pandas", "matplotlib", "seaborn")


def provenance(device: str | torch.device | None = None) -> dict:
    """A JSON-able record of the code, packages and machine a result was produced with."""
    return {
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "packages": package_versions(),
        "environment_lock": environment_lock(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device_name(device),
        "torch_threads": torch.get_num_threads(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


@functools.cache
def git_commit() -> str | None:
    return _git("rev-parse", "HEAD")


# What the project's own runs write: a figure made while an earlier figure of the same `make
# figures` replaced its committed CSV is not made from edited code
RESULTS = ("figures", "reports", "benchmarks/results")


def git_dirty() -> bool | None:
    """Whether a tracked file other than the results (RESULTS) differs from the commit."""
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".",
                  *(f":(exclude){folder}" for folder in RESULTS))
    return None if status is None else bool(status)


@functools.cache
def package_versions() -> dict:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def locked_versions(path: Path = LOCK) -> dict[str, str]:
    """{package: version} as requirements.lock pins them (names normalised as pip does)."""
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", path.read_text(), re.M)
    return {_normalised(name): version for name, version in pins}


@functools.cache
def environment_lock() -> dict | None:
    """The lock's sha256 and how the installed packages compare with it: "as locked", or the
    packages whose installed version differs (None where the checkout has no lock)."""
    if not LOCK.exists():
        return None
    differ = []
    for name, version in locked_versions().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or installed.split("+")[0] != version.split("+")[0]:
            differ.append(f"{name} {installed or 'absent'} (lock {version})")
    return {"file": LOCK.name, "sha256": hashlib.sha256(LOCK.read_bytes()).hexdigest(),
            "installed": "as locked" if not differ else "differs: " + ", ".join(differ)}


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def device_name(device: str | torch.device | None = None) -> str:
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU: {cpu_model()} ({torch.get_num_threads()} threads)"


@functools.cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None
