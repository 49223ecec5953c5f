"""Measure before spending: a pilot's runs give each claim's noise and the device's rate, and the
plan made from them becomes the final lock (`plan_from_pilot`).

Why: every input of the pre-run plan is a guess. Fig 8a's SD came from ResNet-8 replicates with 3
degrees of freedom (its runs for 80% power anywhere from 13 to 475 per curve), Fig 15a's from a
CIFAR-10 stand-in, and every cost from an assumed 55,000 images/s (at half that, the planned
seeds would not fit the day). A pilot of Smith's own 4 runs per curve on the real network and
device measures both, and its runs count in the final n: an internal pilot reads only the
spread, never the gap, so re-planning on it keeps each rule within its error (tests/
test_claims_calibration.py simulates it).

The pilot is a folder of figure outputs as notebook.save_results writes them (<figure>.json with
one row per run, <figure>.csv with the tidy metrics). The rate of a figure is its training images
over its own wall time: a figure JSON's wall_s counts from its notebook's (or command's) start,
so figures saved by one notebook, which share a start (created_utc - wall_s), are told apart by
the times they were saved.
"""
from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path

from ...errors import ConfigError
from ..profiles import FIGURES
from .designs import DESIGNS, committed
from .lock import make_lock
from .table import plan, seeds_within

LEAST_SEEDS = 3  # the final n of any figure: a curve's rule reads its own spread from 3 runs


def read_pilot(directory: Path | str) -> dict:
    """{figure: (metrics, runs, JSON)} for every figure saved in `directory`."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"--from-pilot {directory}: no such folder; give the folder the pilot's "
                          f"notebooks (or `python -m paperlib figure --out`) wrote")
    found = {f: got for f in FIGURES if (got := committed(directory, f)) is not None}
    if not found:
        raise ConfigError(f"--from-pilot {directory}: no <figure>.json with its <figure>.csv "
                          f"there; run the pilot first (make figures PROFILE=paper)")
    return found


def pilot_noise(pilot: dict, directory: Path | str) -> dict:
    """{claim: (sd, source, df)} read off the pilot's runs, for each claim they give one for."""
    out = {}
    for d in DESIGNS:
        if d.figure in pilot:
            metrics, runs, _ = pilot[d.figure]
            got = d.noise_from(metrics, runs, f"the pilot ({Path(directory).name}/{d.figure}.json)")
            if got is not None:
                out[d.key] = got
    return out


def _created(data: dict) -> float:
    stamp = (data.get("provenance") or {}).get("created_utc")
    return _dt.datetime.fromisoformat(stamp).timestamp() if stamp else math.nan


def pilot_rate(pilot: dict) -> dict:
    """{figure: training images per second} over each figure's own wall time."""
    saved = {f: (_created(data), float(data.get("wall_s") or math.nan))
             for f, (_, _, data) in pilot.items()}
    own = {}
    for f, (at, wall) in saved.items():
        start = at - wall
        earlier = [a for g, (a, w) in saved.items()
                   if g != f and abs((a - w) - start) < 2.0 and a < at]
        own[f] = at - max(earlier) if earlier else wall
    rates = {}
    for f, (_, runs, _) in pilot.items():
        images = float((runs["steps_done"].astype(float) * runs["batch_size"].astype(float)).sum())
        if own[f] > 0 and images > 0:
            rates[f] = images / own[f]
    return rates


def plan_from_pilot(directory: Path | str, *, profile: str = "paper",
                    budget_hours: float = 24.0, sims: int | None = None) -> tuple:
    """The plan made from a pilot: each claim's noise from the pilot's runs (the designs' own where
    the pilot has none), each figure's rate from its wall time (the pilot's overall rate for a
    figure it did not run), n by simulating the rules, the seeds per figure within
    `budget_hours` starting from the pilot's (which count) and never below LEAST_SEEDS. Returns
    (plan table, final-stage lock)."""
    pilot = read_pilot(directory)
    noise = pilot_noise(pilot, directory)
    rates = pilot_rate(pilot)
    if not rates:
        raise ConfigError(f"--from-pilot {directory}: no figure there records a wall time and "
                          f"runs to measure a rate from")
    overall = sum(rates.values()) / len(rates)
    per_figure = {f: rates.get(f, overall) for f in FIGURES}
    seeds = {f: int(runs.groupby("curve").size().min()) for f, (_, runs, _) in pilot.items()}
    kwargs = {} if sims is None else {"sims": sims}
    table = plan(profile, budget_hours=budget_hours, seconds_per_image=lambda f: 1 / per_figure[f],
                 noise=noise, seeds=seeds, **kwargs)
    alloc = seeds_within(table, budget_hours, start=seeds, least=LEAST_SEEDS)
    final = {f: alloc.get(f, max(LEAST_SEEDS, seeds.get(f, 0))) for f in FIGURES}
    rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in r.items() if k in _LOCKED_COLUMNS} for r in table.to_dict("records")]
    rate = {"images_per_s": {f: round(v, 1) for f, v in per_figure.items()},
            "source": f"the pilot's wall times ({', '.join(sorted(rates))} measured; the others "
                      f"at their mean)"}
    recorded = {f: {"runs_per_curve": seeds[f], "lock": (data.get("plan_lock") or {}).get("hash"),
                    "rules": (data.get("plan_lock") or {}).get("rules"),
                    "profile": data.get("profile")} for f, (_, _, data) in pilot.items()}
    lock = make_lock(stage="final", seeds=final, rate=rate, budget_hours=budget_hours,
                     plan_rows=rows, pilot={"dir": str(directory), "figures": recorded,
                                            "hours": round(alloc["_hours"], 2),
                                            "decided": alloc["_decided"]})
    return table, lock


_LOCKED_COLUMNS = ("claim", "figure", "noise", "sigma", "sigma_df", "sigma_lo", "sigma_hi",
                   "n_profile", "power_profile", "n_80", "power_n_80", "n_80_lo", "n_80_hi",
                   "alt", "power_alt_profile", "n_80_alt", "hours_per_seed", "decision")


def pre_pilot_lock(*, budget_hours: float, rate: float, sims: int | None = None) -> tuple:
    """The pilot-stage lock, before any run: Smith's own runs per curve for every figure
    (profiles.PILOT_SEEDS), the rules, and the plan at the noise the designs know and an assumed
    rate (`rate` images/s). Returns (plan table, lock)."""
    from ..profiles import PILOT_SEEDS
    seeds = {f: PILOT_SEEDS for f in FIGURES}
    kwargs = {} if sims is None else {"sims": sims}
    table = plan("paper", budget_hours=budget_hours, seconds_per_image=lambda f: 1 / rate,
                 seeds=seeds, **kwargs)
    rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in r.items() if k in _LOCKED_COLUMNS} for r in table.to_dict("records")]
    lock = make_lock(stage="pilot", seeds=seeds,
                     rate={"images_per_s": {f: rate for f in FIGURES},
                           "source": f"assumed {rate:,.0f} images/s: no run has measured it"},
                     budget_hours=budget_hours, plan_rows=rows)
    return table, lock


__all__ = ["LEAST_SEEDS", "read_pilot", "pilot_noise", "pilot_rate", "plan_from_pilot",
           "pre_pilot_lock"]