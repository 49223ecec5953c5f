"""Measure before spending: a pilot's runs give each claim's noise, the conditions its rule will
meet and the device's rate, and the plan made from them becomes the final lock
(`plan_from_pilot`).

Why a pilot: every input of the pre-run plan is a guess. Fig 8a's SD came from ResNet-8
replicates with 3 degrees of freedom (its runs for 80% power anywhere from 13 to 475 per curve),
Fig 15a's from a CIFAR-10 stand-in, and every cost from an assumed 55,000 images/s (at half that,
the planned seeds would not fit the day). A pilot of Smith's own 4 runs per curve on the real
network and device measures them.

Why its runs are not counted: the final n is chosen from the pilot's spread, and a verdict that
counted the pilot's runs would read a spread that chose its own n: a small spread by chance gives
few runs, most of them the pilot's, read with that small spread. With no effect, n picked from
the pilot's pooled SD and the test read once on all n runs, the pilot's counted, Fig 5a's gap at
an SD of 0.008 with SDs 4.6x apart erred in 3.52% and 3.60% of 40,000 sets per direction, where
the same rule at any fixed n holds 2.5% (scripts/claims_stress.py --pilot 40000). So the pilot's
runs measure the noise and the rate and give exploratory verdicts, and the final verdict reads
only fresh runs (seeds from the pilot's n on), whose number the pilot fixed before they existed:
one look at runs that did not choose it, each direction within 2.5% as at any fixed n (2.26% and
2.27% in the same case; tests/test_plan_pilot.py draws both flows through `final_seeds`). The
pilot must be the pilot lock's (its runs recorded under that lock, its seeds per curve), and the
budget is the pilot lock's, fixed before any pilot verdict is seen.

The pilot is a folder of figure outputs as notebook.save_results writes them (<figure>.json with
one row per run, <figure>.csv with the tidy metrics, the notebooks' <notebook>_claims.csv). The
rate of a figure is its training images over its own wall time: a figure JSON's wall_s counts
from its notebook's (or command's) start, so figures saved by one notebook, which share a start
(created_utc - wall_s), are told apart by the times they were saved.
"""
from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path

from ...errors import ConfigError
from ..profiles import FIGURES
from .designs import DESIGNS
from .lock import LOCK_PATH, lock_hash, make_lock, read_lock
from .readers import claims_images, committed
from .table import plan, seeds_within

LEAST_SEEDS = 3  # the fresh runs of any figure: a curve's rule reads its own spread from 3 runs


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


def pilot_conditions(pilot: dict, directory: Path | str) -> dict:
    """{claim: designs.Conditions} the pilot measures: each curve's share of diverged runs, the
    dip's correlation between evaluations, the test images' disagreement its claims tables
    read."""
    images = claims_images(Path(directory))
    label = f"the pilot, {Path(directory).name}"
    return {d.key: d.conditions_from(*pilot[d.figure][:2], images, label)
            for d in DESIGNS if d.figure in pilot}


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


def check_pilot(pilot: dict, pilot_lock: dict) -> None:
    """The pilot is the pilot lock's: every figure's runs recorded under that lock (its hash in
    the figure JSON), with its seeds 0..n-1 on every curve, nothing grown after a look."""
    want = lock_hash(pilot_lock)
    for f, (_, runs, data) in pilot.items():
        got = (data.get("plan_lock") or {}).get("hash")
        if got != want:
            raise ConfigError(f"--from-pilot: {f}.json records lock {got}, not the pilot lock "
                              f"{want} in force: a pilot is the pilot lock's runs")
        n = pilot_lock["seeds"].get(f)
        per_curve = set(runs.groupby("curve").size())
        seeds = set(runs["seed"].astype(int)) if "seed" in runs else set(range(n or 0))
        if per_curve != {n} or seeds != set(range(n or 0)):
            raise ConfigError(f"--from-pilot: {f} has {sorted(per_curve)} run(s) per curve (seeds "
                              f"{sorted(seeds)}); the pilot lock says seeds 0..{(n or 0) - 1}")


def final_seeds(table, budget_hours: float, pilot_seeds: dict) -> dict:
    """The final lock's seeds from a plan made on the pilot: each figure's fresh seeds within
    what the budget leaves after the pilot (table.seeds_within, at least LEAST_SEEDS), as
    {figure: (pilot's n, fresh n)}, with "_hours" and "_decided"."""
    alloc = seeds_within(table, budget_hours, start=pilot_seeds, least=LEAST_SEEDS)
    out = {f: (int(pilot_seeds.get(f, 0)), int(alloc.get(f, LEAST_SEEDS))) for f in FIGURES}
    return {**out, "_hours": alloc["_hours"], "_decided": alloc["_decided"]}


def plan_from_pilot(directory: Path | str, *, profile: str = "paper",
                    budget_hours: float | None = None, sims: int | None = None,
                    pilot_lock: dict | None = None) -> tuple:
    """The plan made from a pilot: each claim's noise and conditions from the pilot's runs (the
    designs' own where the pilot has none), each figure's rate from its wall time (the pilot's
    overall rate for a figure it did not run), n by simulating the rules, and each figure's fresh
    seeds within the pilot lock's budget (`final_seeds`). `pilot_lock`: the lock the pilot ran
    under (default: plan.lock.json, which must be it); `budget_hours`, if given, must be its
    budget. Returns (plan table, final-stage lock)."""
    pilot_lock = pilot_lock if pilot_lock is not None else read_lock(LOCK_PATH)
    if pilot_lock is None or pilot_lock.get("stage") != "pilot":
        stage = "none" if pilot_lock is None else pilot_lock.get("stage")
        raise ConfigError(f"--from-pilot needs the pilot lock the pilot ran under in "
                          f"plan.lock.json (stage found: {stage})")
    budget = float(pilot_lock["budget_hours"])
    if budget_hours is not None and float(budget_hours) != budget:
        raise ConfigError(f"--budget-hours {budget_hours:g}: the budget is the pilot lock's, "
                          f"{budget:g} GPU-hours, fixed before the pilot's verdicts were seen")
    pilot = read_pilot(directory)
    check_pilot(pilot, pilot_lock)
    rates = pilot_rate(pilot)
    if not rates:
        raise ConfigError(f"--from-pilot {directory}: no figure there records a wall time and "
                          f"runs to measure a rate from")
    overall = sum(rates.values()) / len(rates)
    per_figure = {f: rates.get(f, overall) for f in FIGURES}
    pilot_seeds = {f: int(pilot_lock["seeds"][f]) for f in pilot}
    kwargs = {} if sims is None else {"sims": sims}
    table = plan(profile, budget_hours=budget, seconds_per_image=lambda f: 1 / per_figure[f],
                 noise=pilot_noise(pilot, directory),
                 conditions=pilot_conditions(pilot, directory), seeds=pilot_seeds, **kwargs)
    seeds = final_seeds(table, budget, pilot_seeds)
    rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in r.items() if k in _LOCKED_COLUMNS} for r in table.to_dict("records")]
    rate = {"images_per_s": {f: round(v, 1) for f, v in per_figure.items()},
            "source": f"the pilot's wall times ({', '.join(sorted(rates))} measured; the others "
                      f"at their mean)"}
    recorded = {f: {"runs_per_curve": pilot_seeds[f], "profile": data.get("profile")}
                for f, (_, _, data) in pilot.items()}
    lock = make_lock(stage="final", seeds={f: a + b for f, (a, b) in _figures(seeds).items()},
                     confirmatory={f: [a, a + b] for f, (a, b) in _figures(seeds).items()},
                     rate=rate, budget_hours=budget, plan_rows=rows,
                     pilot={"dir": str(directory), "lock": lock_hash(pilot_lock),
                            "figures": recorded, "hours": round(seeds["_hours"], 2),
                            "decided": seeds["_decided"]})
    return table, lock


def _figures(seeds: dict) -> dict:
    return {f: v for f, v in seeds.items() if not f.startswith("_")}


_LOCKED_COLUMNS = ("claim", "figure", "noise", "sigma", "sigma_df", "sigma_lo", "sigma_hi",
                   "images", "diverge", "rho", "conditions",
                   "n_profile", "power_profile", "n_80", "power_n_80", "n_80_lo", "n_80_hi",
                   "alt", "power_alt_profile", "n_80_alt", "hours_per_seed", "decision")


def pre_pilot_lock(*, budget_hours: float, rate: float, sims: int | None = None) -> tuple:
    """The pilot-stage lock, before any run: Smith's own runs per curve for every figure
    (profiles.PILOT_SEEDS), the rules, the day's budget, and the plan at the noise and
    conditions the designs state and an assumed rate (`rate` images/s). Returns (plan table,
    lock)."""
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


__all__ = ["LEAST_SEEDS", "read_pilot", "pilot_noise", "pilot_conditions", "pilot_rate",
           "check_pilot", "final_seeds", "plan_from_pilot", "pre_pilot_lock"]
