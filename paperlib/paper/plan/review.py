"""A claims table read against the plan and the lock (`review`): each claim's power at the runs
it used, and whether those runs are the lock's or exploratory; and the runs a locked verdict
reads (`confirmatory`).

Separate because the claims package decides verdicts and knows nothing of plans: an
"inconclusive" reads differently at power 0.81 than at power 0.01, and a verdict from runs the
lock did not fix (the pilot's, more seeds after a look, fewer, another rule) is not the planned
one. Such a verdict says so in its own words, "reproduced (exploratory)", so that no one reads it
as decisive, and it stays out of the confirmatory family Holm's adjustment is taken over
(claims.table).
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd

from .. import claims as C
from .designs import Conditions, design
from .lock import EXPLORATORY, LOCK_PATH, confirmatory_seeds, lock_for, lock_status
from .table import FIGURES_DIR, SIMS, power


def _planned(key: str, profile: str, lock: dict | None, figures_dir: Path) -> tuple:
    """The SD and conditions the plan assumed for a claim: the lock's (a pilot's) where it has
    them, else the design's."""
    for r in (lock or {}).get("plan") or []:
        if r.get("claim") == key and r.get("sigma") is not None:
            return r["sigma"], f"the lock's: {r.get('noise')}", Conditions.from_record(r)
    sigma, source, _ = design(key).noise(profile, figures_dir)
    return sigma, source, None


def power_text(row: dict, profile: str, *, lock: dict | None = None,
               figures_dir: Path | str = FIGURES_DIR, sims: int = SIMS) -> str:
    """'<power> at n = <runs> per curve (SD <sd>: <source>)' under Smith's effect and the
    conditions the plan drew, or why none."""
    if row["verdict"] == C.NOT_TESTABLE:
        return "- (not testable at this scale)"
    d = design(row["key"])
    if d.draw is None:
        return "- (Smith gives no effect to aim at)"
    n = int(row.get("n") or 0)
    if n < 1:
        return "- (no completed run)"
    sigma, source, cond = _planned(row["key"], profile, lock, Path(figures_dir))
    if sigma is None:
        return f"- (no noise estimate: {source})"
    p = power(row["key"], n, profile, sigma=sigma, figures_dir=figures_dir, sims=sims,
              conditions=cond)
    text = f"{p:.2f} at n = {n} per curve under Smith's effect (SD {sigma:.4f}: {source})"
    if d.alt_draw is not None:
        alt = power(row["key"], n, profile, sigma=sigma, sims=sims, alt=True, conditions=cond)
        text += f"; {alt:.2f} under {d.alt_effect}"
    return text


def _recorded(saved: Path | str | None, figure: str) -> dict | None:
    path = None if saved is None else Path(saved) / f"{figure}.json"
    if path is None or not path.exists():
        return None
    return json.loads(path.read_text()).get("plan_lock")


def review(rows: list[dict], *, profile: str, runs: dict, lock_path: Path | str = LOCK_PATH,
           figures_dir: Path | str = FIGURES_DIR, sims: int = SIMS,
           saved: Path | str | None = None) -> pd.DataFrame:
    """The claims table of `rows` with each claim's power at its runs per curve (`power_text`)
    and the lock's word on its runs (lock.lock_status: `runs` is {figure: run rows}; `saved`, the
    folder the figures were saved to, gives each figure JSON's record of the lock its runs ran
    under). A decisive verdict from exploratory runs reads "<verdict> (exploratory)"; Holm's
    column is taken over the locked claims apart from the exploratory ones (claims.claims_table)."""
    lock = lock_for(profile, lock_path)
    out = []
    for r in rows:
        figure = design(r["key"]).figure
        frame = runs.get(figure)
        status = (lock_status(profile, figure, frame, lock=lock, path=lock_path,
                              recorded=_recorded(saved, figure))
                  if frame is not None else f"{EXPLORATORY}: no runs of {figure} given")
        verdict = r["verdict"]
        if status.startswith(EXPLORATORY) and verdict in (C.REPRODUCED, C.CONTRADICTED):
            verdict = f"{verdict} ({EXPLORATORY})"
        out.append({**r, "verdict": verdict, "power": power_text(
            r, profile, lock=lock, figures_dir=figures_dir, sims=sims), "runs": status})
    return C.claims_table(out)


def confirmatory(result, figure: str, profile: str, *, path: Path | str = LOCK_PATH):
    """A figure's result (replicate.FigureResult) cut to the runs a final lock's verdict reads:
    its confirmatory seeds, the pilot's left out (lock.py says why); unchanged where the lock in
    force has none (a pilot lock, no lock)."""
    seeds = confirmatory_seeds(lock_for(profile, path), figure)
    if seeds is None:
        return result
    runs = result.runs
    keep = runs[runs["seed"].astype(int).isin(list(seeds))]
    pairs = set(zip(keep["curve"].astype(str), keep["replicate"].astype(int)))
    metrics = result.metrics
    if len(metrics) and {"curve", "replicate"} <= set(metrics.columns):
        mine = [(str(c), int(r)) in pairs for c, r in zip(metrics["curve"], metrics["replicate"])]
        metrics = metrics[mine]
    per_image = {k: v for k, v in (getattr(result, "per_image", None) or {}).items()
                 if (str(k[0]), int(k[1])) in pairs}
    return replace(result, runs=keep.reset_index(drop=True), metrics=metrics,
                   per_image=per_image)
