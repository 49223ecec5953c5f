"""One progress bar per figure: runs done of runs planned, and the time left.

`FolderProgress` also reads the runs' folders while Ray tasks train them elsewhere (runs queued,
running and done, images/s), since the driver sees nothing of a task until it ends.

Why its own rules for when to show: notebooks are read in JupyterLab, where a bar is what a
researcher wants, and also executed by papermill and checked by nbval, where a bar would be
noise in the stored outputs. A bar shows only when someone is watching:
- PAPERLIB_PROGRESS=1 or 0 decides outright (the Makefile sets 0 for `make figures` and
  `make test`);
- otherwise none under CI (CI=true), and one in an interactive session: an IPython kernel
  (JupyterLab, the console) or a terminal on stderr.
The time left is the elapsed time over the images trained so far times the images still to
train, so long runs weigh as much as they take; runs reloaded from their folders count as done
without making the estimate optimistic (they add no images and no time).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def show_progress(progress: bool | None = None) -> bool:
    """Whether to draw progress bars: `progress` if given, else the rules above."""
    if progress is not None:
        return bool(progress)
    setting = os.environ.get("PAPERLIB_PROGRESS", "").strip().lower()
    if setting in ("0", "1", "true", "false"):
        return setting in ("1", "true")
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        return False
    return _in_ipython_kernel() or sys.stderr.isatty()


def _in_ipython_kernel() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and type(ip).__name__ in ("ZMQInteractiveShell", "TerminalInteractiveShell")


class FigureProgress:
    """A bar over a figure's runs; `advance(i)` when run i ends. Draws nothing when hidden."""

    def __init__(self, figure: str, images_per_run: list[int], *, show: bool | None = None):
        self.images = list(images_per_run)
        self.left = sum(self.images)
        self.trained = 0
        self.started = time.perf_counter()
        self.bar = None
        if show_progress(show):
            self.bar = _tqdm()(total=len(self.images), desc=figure, unit="run", leave=True)

    def advance(self, i: int, trained: bool = True) -> None:
        """Run i ended; `trained` False for a run reloaded from its folder."""
        self.left -= self.images[i]
        if trained:
            self.trained += self.images[i]
        if self.bar is None:
            return
        self.bar.update(1)
        self.bar.set_postfix_str(f"about {self.time_left()} left")

    def time_left(self) -> str:
        if not self.trained:
            return "?"
        seconds = (time.perf_counter() - self.started) / self.trained * self.left
        return format_duration(seconds)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _tqdm():
    """A widget bar in Jupyter where ipywidgets is installed, else the text bar (tqdm.auto would
    fall back to it too, with a warning in the cell's output)."""
    import importlib.util
    if _in_ipython_kernel() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm
        return tqdm
    from tqdm import tqdm
    return tqdm


def format_duration(seconds: float) -> str:
    """'42 s', '7.5 min', '3.2 h', '2.1 days'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class FolderProgress(FigureProgress):
    """FigureProgress that can also `poll()` the run folders: a run with a run.json that says
    "running" is running, one that says how it ended is done, the rest are queued; the last step
    in each metrics.csv gives the images trained so far and the rate since the bar began."""

    def __init__(self, figure: str, folders: list, images_per_run: list[int],
                 steps_per_run: list[int], *, show: bool | None = None, poll: bool = False):
        super().__init__(figure, images_per_run, show=show)
        self.folders = [None if f is None else Path(f) for f in folders]
        self.batches = [i // max(1, s) for i, s in zip(images_per_run, steps_per_run)]
        self.polling = poll and self.bar is not None
        self.first: tuple[float, int] | None = None

    def poll(self) -> None:
        if not self.polling:
            return
        states = [folder_state(f) for f in self.folders]
        trained = sum(step * b for (_, step), b in zip(states, self.batches))
        now = time.perf_counter()
        if self.first is None:
            self.first = (now, trained)
        rate = (trained - self.first[1]) / max(now - self.first[0], 1e-9)
        left = sum(self.images) - trained
        counts = {k: sum(1 for s, _ in states if s == k) for k in ("queued", "running", "done")}
        eta = format_duration(left / rate) if rate > 0 else "?"
        self.bar.set_postfix_str(f"{counts['running']} running, {counts['queued']} queued, "
                                 f"{rate:,.0f} img/s, about {eta} left")


def folder_state(folder: Path | None) -> tuple[str, int]:
    """("queued" | "running" | "done", steps trained) of one run folder, as its files say."""
    if folder is None or not (folder / "run.json").exists():
        return "queued", 0
    try:
        status = json.loads((folder / "run.json").read_text()).get("status")
    except (OSError, ValueError):  # being replaced right now: ask again at the next poll
        return "running", 0
    return ("running" if status in ("running", "interrupted") else "done"), _last_step(folder)


def _last_step(folder: Path) -> int:
    """1 + the last step in metrics.csv, read from its tail (the file grows to MBs)."""
    path = folder / "metrics.csv"
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return 0
    for line in reversed(lines[1:] if len(lines) > 1 else []):
        head = line.split(",", 1)[0]
        if head.isdigit():
            return int(head) + 1
    return 0
