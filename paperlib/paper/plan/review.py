"""A claims table read against the plan and the lock (`review`): each claim's power at the runs
it used, and whether those runs are the lock's or exploratory.

Separate because the claims package decides verdicts and knows nothing of plans: an
"inconclusive" reads differently at power 0.81 than at power 0.01, and a verdict from runs the
lock did not fix (more seeds after a look, fewer, another rule) is not the planned one. Both come
from here, so a notebook's table shows them beside every verdict (claims.format_claims).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import claims as C
from .designs import design
from .lock import LOCK_PATH, lock_for, lock_status
from .table import FIGURES_DIR, SIMS, power


def _planned_noise(key: str, profile: str, lock: dict | None, figures_dir: Path) -> tuple:
    """The SD the plan assumed for a claim: the lock's (a pilot's) where it has one, else the
    design's."""
    for r in (lock or {}).get("plan") or []:
        if r.get("claim") == key and r.get("sigma") is not None:
            return r["sigma"], f"the lock's: {r.get('noise')}"
    sigma, source, _ = design(key).noise(profile, figures_dir)
    return sigma, source


def power_text(row: dict, profile: str, *, lock: dict | None = None,
               figures_dir: Path | str = FIGURES_DIR, sims: int = SIMS) -> str:
    """'<power> at n = <runs> per curve (SD <sd>: <source>)' under Smith's effect, or why none."""
    if row["verdict"] == C.NOT_TESTABLE:
        return "- (not testable at this scale)"
    d = design(row["key"])
    if d.draw is None:
        return "- (Smith gives no effect to aim at)"
    n = int(row.get("n") or 0)
    if n < 1:
        return "- (no completed run)"
    sigma, source = _planned_noise(row["key"], profile, lock, Path(figures_dir))
    if sigma is None:
        return f"- (no noise estimate: {source})"
    p = power(row["key"], n, profile, sigma=sigma, figures_dir=figures_dir, sims=sims)
    text = f"{p:.2f} at n = {n} per curve under Smith's effect (SD {sigma:.4f}: {source})"
    if d.alt_draw is not None:
        alt = power(row["key"], n, profile, sigma=sigma, sims=sims, alt=True)
        text += f"; {alt:.2f} under {d.alt_effect}"
    return text


def review(rows: list[dict], *, profile: str, runs: dict, lock_path: Path | str = LOCK_PATH,
           figures_dir: Path | str = FIGURES_DIR, sims: int = SIMS) -> pd.DataFrame:
    """The claims table of `rows` with each claim's power at its runs per curve (`power_text`)
    and the lock's word on its runs (lock.lock_status: `runs` is {figure: run rows}), then Holm's
    column over the table (claims.claims_table)."""
    lock = lock_for(profile, lock_path)
    out = []
    for r in rows:
        figure = design(r["key"]).figure
        frame = runs.get(figure)
        status = (lock_status(profile, figure, frame, lock=lock, path=lock_path)
                  if frame is not None else f"exploratory: no runs of {figure} given")
        out.append({**r, "power": power_text(r, profile, lock=lock, figures_dir=figures_dir,
                                             sims=sims), "runs": status})
    return C.claims_table(out)

