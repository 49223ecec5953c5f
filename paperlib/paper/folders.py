"""Where the replication's files go: the checkout, figures/ (figures/smoke/ for CI's smoke runs)
and the folders a notebook parameter names.

Why a module of its own: the notebooks, the command line and the HTML report all ask these
questions, and the report must answer them without importing pandas or torch (its `--help`
answers at once); paths work from JupyterLab (cwd notebooks/), papermill and pytest alike.
"""
from __future__ import annotations

from pathlib import Path


def project_root() -> Path:
    """The checkout: the nearest folder at or above the working folder that holds notebooks/
    and paperlib/, else the one this package sits in, else the working folder."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "notebooks").is_dir() and (folder / "paperlib").is_dir():
            return folder
    package = Path(__file__).resolve().parents[2]
    return package if (package / "paperlib").is_dir() else Path.cwd()


def resolve_dir(path: str, default: str) -> Path:
    """`path` if given (relative to the project), else the project's `default` folder."""
    chosen = Path(path or default).expanduser()
    return chosen if chosen.is_absolute() else project_root() / chosen


def figures_dir(path: str, profile: str) -> Path:
    """Where figure files go: `path`, else figures/ for small and paper runs and figures/smoke/
    for smoke runs, so that CI's smoke runs never overwrite the replication's figures."""
    return resolve_dir(path, "figures/smoke" if profile == "smoke" else "figures")
