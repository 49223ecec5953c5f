"""One progress bar per figure, moving with every block of training steps: the run being
trained, its images/s, and the time left.

Why its own rules for when to show: notebooks are read in JupyterLab, where a live bar is what a
researcher wants, and also executed by papermill and checked by nbval, where a bar would be
noise in the stored outputs. A bar shows only when someone is watching:
- PAPERLIB_PROGRESS=1 or 0 decides outright (the Makefile sets 0 for `make figures` and
  `make test`);
- otherwise none under CI (CI=true); in an IPython kernel, a widget bar only when the cell was
  run from a frontend a person can answer (its execute request allows stdin: JupyterLab's do;
  papermill's, nbclient's and nbval's do not), so no executed notebook ever holds one, whoever
  ran it; in a terminal, a single-line bar on stderr, with the log lines written above it.
The bar counts training images, so long runs weigh as much as they take. The time left is the
images still to train over the rate of the images trained since the bar began; runs reloaded
from their folders count as done and add neither images nor time.

`FigureBar` also polls the runs' folders while Ray tasks train them elsewhere (runs queued,
running and done, images/s), since the driver sees nothing of a task until it ends.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

REFRESH_S = 0.5  # at most two redraws a second: a widget message per block would flood the page


def show_progress(progress: bool | None = None) -> bool:
    """Whether to draw progress bars: `progress` if given, else the rules above."""
    if progress is not None:
        return bool(progress)
    setting = os.environ.get("PAPERLIB_PROGRESS", "").strip().lower()
    if setting in ("0", "1", "true", "false"):
        return setting in ("1", "true")
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        return False
    kernel = _kernel()
    if kernel is not None:
        return _frontend_answers(kernel)
    return sys.stderr.isatty()


def _kernel():
    """The running IPython kernel, or None outside one (a terminal IPython has no kernel)."""
    shell = sys.modules.get("IPython")
    ip = shell.get_ipython() if shell is not None else None
    return getattr(ip, "kernel", None) if type(ip).__name__ == "ZMQInteractiveShell" else None


def _frontend_answers(kernel) -> bool:
    """True when the cell now running came from a frontend that can answer input(): a person
    at JupyterLab, not a program executing the notebook."""
    try:
        parent = kernel.get_parent() if hasattr(kernel, "get_parent") else kernel._parent_header
    except Exception:  # noqa: BLE001 - an unknown kernel: show nothing rather than fail
        return False
    return bool((parent or {}).get("content", {}).get("allow_stdin"))


def format_duration(seconds: float) -> str:
    """'42 s', '7.5 min', '3.2 h', '2.1 days'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class FigureBar:
    """A bar over a figure's runs, in training images. The engine calls `group(jobs, start)`
    for each group it trains and the handle's `update(step)` after every block of steps;
    `advance(i)` says run i ended; `write(line)` prints a log line without breaking the bar."""

    def __init__(self, figure: str, jobs: list, labels: list[str], *, show: bool | None = None,
                 folders: list | None = None, poll: bool = False):
        self.figure = figure
        self.index = {id(job): i for i, job in enumerate(jobs)}
        self.labels = list(labels)
        self.batches = [int(job.batch_size or 0) for job in jobs]
        self.images = [job.steps * b for job, b in zip(jobs, self.batches)]
        self.done = [0] * len(jobs)  # images trained (or reloaded) per run
        self.trained = 0  # images trained while the bar was up, for the rate
        self.ended = 0
        self.current = ""
        self.started = time.perf_counter()
        self.drawn = 0.0
        self.folders = [None if f is None else Path(f) for f in (folders or [None] * len(jobs))]
        self.view = _view(figure, sum(self.images)) if show_progress(show) else None
        self.polling = poll and self.view is not None

    # -- what the engine and run_figure call --------------------------------------------------
    def group(self, jobs: list, start: int) -> "_Group":
        members = [self.index.get(id(job)) for job in jobs]
        for i in members:
            if i is not None:
                self.done[i] = max(self.done[i], start * self.batches[i])
        self.current = " + ".join(self.labels[i] for i in members if i is not None)
        return _Group(self, members, start)

    def advance(self, i: int, trained: bool = True) -> None:
        """Run i ended; `trained` False for a run reloaded from its folder."""
        self.ended += 1
        if trained:
            self.trained += max(0, self.images[i] - self.done[i])
        self.done[i] = self.images[i]
        self.draw(force=True)

    def write(self, line: str) -> None:
        if self.view is not None:
            self.view.write(line)
        else:
            print(line)

    def poll(self) -> None:
        """Read the runs' folders (Ray tasks write them elsewhere) and redraw."""
        if not self.polling:
            return
        states = [folder_state(f) for f in self.folders]
        for i, (_, step) in enumerate(states):
            seen = min(step * self.batches[i], self.images[i])
            self.trained += max(0, seen - self.done[i])
            self.done[i] = max(self.done[i], seen)
        running = sum(1 for s, _ in states if s == "running")
        queued = sum(1 for s, _ in states if s == "queued")
        self.current = f"{running} running, {queued} queued"
        self.draw(force=True)

    def close(self) -> None:
        if self.view is not None:
            self.view.close()

    # -- drawing --------------------------------------------------------------------------------
    def rate(self) -> float:
        return self.trained / max(time.perf_counter() - self.started, 1e-9)

    def time_left(self) -> str:
        rate = self.rate()
        if not self.trained or rate <= 0:
            return "?"
        return format_duration((sum(self.images) - sum(self.done)) / rate)

    def status(self) -> str:
        return (f"{self.ended}/{len(self.images)} runs · {self.current} · "
                f"{self.rate():,.0f} img/s · about {self.time_left()} left")

    def draw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self.view is None or (not force and now - self.drawn < REFRESH_S):
            return
        self.drawn = now
        self.view.show(sum(self.done), self.status())


class _Group:
    """The engine's handle on one group of a figure's runs: images follow the group's step."""

    def __init__(self, bar: FigureBar, members: list[int | None], start: int):
        self.bar, self.members, self.last = bar, members, start

    def update(self, step: int) -> None:
        bar = self.bar
        for i in self.members:
            if i is not None and bar.done[i] < bar.images[i]:
                new = min(step * bar.batches[i], bar.images[i]) - bar.done[i]
                bar.done[i] += max(0, new)
                bar.trained += max(0, new)
        bar.draw()

    def close(self) -> None:
        self.bar.draw(force=True)


def _view(figure: str, total: int):
    """A widget in a Jupyter frontend (where ipywidgets is installed), else a terminal line."""
    if _kernel() is not None:
        try:
            return _WidgetView(figure, total)
        except ImportError:  # without ipywidgets a kernel shows no bar rather than a text one
            return None
    return _TerminalView(figure, total)


class _WidgetView:
    """An ipywidgets progress bar and a status line, updated in place and removed at the end."""

    def __init__(self, figure: str, total: int):
        import ipywidgets as widgets
        from IPython.display import display
        self.bar = widgets.IntProgress(value=0, min=0, max=max(total, 1), description=figure,
                                       bar_style="info",
                                       layout=widgets.Layout(width="40%"))
        self.text = widgets.HTML(value="starting")
        self.box = widgets.HBox([self.bar, self.text])
        display(self.box)

    def show(self, done: int, status: str) -> None:
        self.bar.value = min(done, self.bar.max)
        self.text.value = status

    def write(self, line: str) -> None:
        print(line)

    def close(self) -> None:
        self.box.close()


class _TerminalView:
    """One line on stderr, redrawn in place; log lines are written above it."""

    def __init__(self, figure: str, total: int):
        from tqdm import tqdm
        self.tqdm = tqdm
        self.bar = tqdm(total=total, desc=figure, unit="img", unit_scale=True, leave=False,
                        dynamic_ncols=True, bar_format="{desc}: {percentage:3.0f}%|{bar:20}| "
                                                       "{postfix}")

    def show(self, done: int, status: str) -> None:
        self.bar.n = done
        self.bar.set_postfix_str(status, refresh=True)

    def write(self, line: str) -> None:
        self.tqdm.write(line)

    def close(self) -> None:
        self.bar.close()


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
