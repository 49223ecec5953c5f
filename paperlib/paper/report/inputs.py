"""What the report page is built from, and where it lies: the figure JSONs and claims CSVs the
notebooks saved, the folders a profile's files are in, and which notebook drew which figure.

Reading is apart from rendering so that the rules for finding and trusting saved files (a broken
JSON or CSV is named with the command that remakes it) sit in one place, and so that the page's
HTML can be read without them. Nothing here imports pandas until a CSV is actually read.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ...errors import DataError
from ..folders import figures_dir, project_root

# Each notebook's title (its first heading) and the figures it draws, in the notebooks' order.
NOTEBOOKS = {
    "01_lr_range_test": ("The learning-rate range test (Fig 1a) and the hand-off to 1cycle",
                         ("fig1a",)),
    "02_fig5_super_convergence": ("Super-convergence (Fig 5a) and the effect of weight decay "
                                  "on it (Fig 5b)", ("fig5a", "fig5b")),
    "03_fig8_cyclical_momentum": ("Cyclical momentum (Fig 8a) and batch size under a fixed "
                                  "budget (Fig 8b)", ("fig8a", "fig8b")),
    "04_fig15_cifar100": ("CIFAR-100: weight-decay search (Fig 15a) and batch-size search "
                          "(Fig 15b)", ("fig15a", "fig15b")),
}


def default_figures_dir(profile: str) -> Path:
    """figures/smoke/ for smoke, figures/ for small and paper (as the notebooks write them)."""
    return figures_dir("", profile)


def default_out(profile: str) -> Path:
    return project_root() / "reports" / profile / "index.html"


def shown(path: Path) -> str:
    """A path as the user would type it: relative to the project where it is inside it."""
    try:
        return str(path.resolve().relative_to(project_root().resolve())) + ("/" if path.is_dir()
                                                                           else "")
    except ValueError:
        return str(path)


def load_figures(figures_dir: Path) -> dict[str, dict]:
    """Every figure JSON in `figures_dir`, by figure name (the file's stem)."""
    records = {}
    for path in sorted(figures_dir.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{shown(path)} is not valid JSON ({e}): rerun the notebook that "
                            f"writes it, or delete it") from None
        if isinstance(record, dict) and "figure" in record:
            records[path.stem] = record
    return records


def load_claims(figures_dir: Path) -> dict:
    """Every `<notebook>_claims.csv` in `figures_dir` as a DataFrame of strings, by notebook."""
    import pandas as pd
    tables = {}
    for path in sorted(figures_dir.glob("*_claims.csv")):
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise DataError(f"{shown(path)} is not a readable CSV ({str(e).strip()}): rerun "
                            f"its notebook, or delete it") from None
        tables[path.name[:-len("_claims.csv")]] = table
    return tables


def notebook_figures(notebook: str, known: set[str]) -> tuple[str, ...]:
    """The figures a notebook draws: NOTEBOOKS' list, else the figures named in its file name
    ("06_fig12_x" -> fig12a, fig12b, ...)."""
    if notebook in NOTEBOOKS:
        return NOTEBOOKS[notebook][1]
    tokens = re.findall(r"fig\d+", notebook)
    return tuple(sorted(f for f in known if any(re.fullmatch(t + r"[a-z]?", f) for t in tokens)))
