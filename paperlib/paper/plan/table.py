"""The plan as a table: per claim, the power of its rule at the profile's seeds, the fewest runs
per curve for 80% power with the range the noise's own uncertainty leaves it in, their cost, and
what a budget affords (`plan`, `seeds_within`, `describe_plan`).

Separate because this is the bookkeeping of one profile and one budget: it searches n through
`power` and prices it from the profile's runs, and leaves what a claim is (designs.py) and how a
set of runs is drawn (simulate.py) to the modules below it.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ...errors import ConfigError
from .. import claims as C
from ..profiles import get_profile, model_for, runs_for, seeds_for
from .chisq import sd_interval
from .designs import DESIGNS, Conditions, Design, design

FIGURES_DIR = Path(__file__).resolve().parents[3] / "figures"
POWER, SIMS, SEED = 0.8, 2000, 0
N_MAX = 100_000  # runs per curve beyond which the plan stops looking


def power(key: str, n: int, profile: str, *, sigma: float | None = None,
          figures_dir: Path | str = FIGURES_DIR, sims: int = SIMS, seed: int = SEED,
          alt: bool = False, conditions: Conditions | None = None) -> float:
    """The share of `sims` simulated sets of n runs per curve in which the claim's rule says
    "reproduced" under Smith's effect (`alt`: the design's second effect), with one run's noise
    `sigma` (default: the design's) and the conditions the rule will meet (default: the
    design's stated ones; designs.Conditions)."""
    d = design(key)
    draw = d.alt_draw if alt else d.draw
    if draw is None:
        return math.nan
    if sigma is None:
        sigma = d.noise(profile, Path(figures_dir))[0]
        if sigma is None:
            return math.nan
    codes = draw(np.random.default_rng(seed), sigma, n, sims, profile,
                 d.conditions if conditions is None else conditions)
    return float(np.mean(codes == 1))


def runs_for_power(key: str, profile: str, *, sigma: float, target: float = POWER,
                   sims: int = SIMS, seed: int = SEED, alt: bool = False,
                   conditions: Conditions | None = None) -> tuple[int | None, float]:
    """The fewest runs per curve whose power reaches `target` (None beyond N_MAX), and that power:
    up a ladder of n, then bisection between its last two rungs."""
    def p(n):
        return power(key, n, profile, sigma=sigma, sims=sims, seed=seed, alt=alt,
                     conditions=conditions)

    most = p(N_MAX)
    if most < target:
        return None, most
    ladder, n = [1, 2, 3, 4, 5, 6, 8], 8
    while n < N_MAX:
        n = min(N_MAX, int(math.ceil(n * 1.5)))
        ladder.append(n)
    lo = 0
    for hi in ladder:
        got = p(hi)
        if got >= target:
            while hi - lo > 1:
                mid = (lo + hi) // 2
                at = p(mid)
                if at >= target:
                    hi, got = mid, at
                else:
                    lo = mid
            return hi, got
        lo = hi
    return N_MAX, most


def images_per_seed(figure: str, profile: str) -> int:
    """Training images of one seed of every curve of `figure` under `profile`."""
    return sum(spec.steps * spec.batch_size for spec in runs_for(figure, profile))


def not_testable(d: Design, profile: str) -> str | None:
    """Why this profile's runs cannot test the claim whatever their seeds, or None: another
    network than the claim is about (claims.CLAIM_MODEL), the rule's own cut (no evaluation in a
    window), or runs that end before Smith's effect appears (claims.EFFECT_AT)."""
    need_model, ran = C.CLAIM_MODEL.get(d.key), model_for(d.figure, profile)
    if need_model is not None and ran != need_model:
        return (f"{C.NOT_TESTABLE}: this profile trains {ran}, and the claim is about Smith's "
                f"{need_model}")
    cut = d.cut(profile) if d.cut is not None else None
    if cut:
        return cut
    if d.effect_at is None:
        return None
    need, why, share = C.EFFECT_AT[d.effect_at]
    specs = [s for s in runs_for(d.figure, profile) if d.effect_curve is None or d.effect_curve(s)]
    images = max(spec.steps * spec.batch_size for spec in specs) * share
    if images >= need * (1 - 1e-9):
        return None
    return (f"{C.NOT_TESTABLE}: runs reach {images / 1e6:.2g} M images where the effect appears "
            f"at ~{need / 1e6:.3g} M ({why})")


def plan(profile: str, *, budget_hours: float | None = None,
         seconds_per_image: Callable[[str], float] | None = None,
         figures_dir: Path | str = FIGURES_DIR, sims: int = SIMS, seed: int = SEED,
         figures: list[str] | None = None, noise: dict | None = None,
         seeds: dict | None = None, intervals: bool = True,
         conditions: dict | None = None) -> pd.DataFrame:
    """One row per claim: Smith's effect, one run's noise with its source, df and 95% interval,
    the conditions its rule will meet (designs.Conditions: the test images' disagreement,
    divergence, correlated evaluations), the power of the rule at this profile's seeds (`seeds`:
    {figure: n} instead), the runs per curve for 80% power at the rules' 5% error and
    (`intervals`) at the two ends of the noise's interval, and their cost in runs, training
    images and (with `seconds_per_image`: figure -> seconds per training image) GPU-hours. With
    `budget_hours` (which needs the rate), whether that n fits, alone, and the largest n the
    budget affords with its power; `seeds_within` spreads one budget over figures. `noise`:
    {claim: (sd, source, df)} and `conditions`: {claim: Conditions} in place of the designs'
    (a pilot's). A design with a second effect (Fig 15b: equal means) adds its power and n.
    Claims the profile's runs cannot reach say "not testable at this scale". `figures` keeps
    only those figures' claims (a notebook's), simulating no others."""
    get_profile(profile)
    if budget_hours is not None and seconds_per_image is None:
        raise ConfigError("budget_hours needs seconds_per_image (a rate per figure) to turn "
                          "runs into hours")
    figures_dir = Path(figures_dir)
    rows = []
    for d in DESIGNS:
        if figures is not None and d.figure not in figures:
            continue
        sigma, source, df = (noise or {}).get(d.key) or d.noise(profile, figures_dir)
        cond = (conditions or {}).get(d.key) or d.conditions
        curves = len(runs_for(d.figure, profile))
        n_now = (seeds or {}).get(d.figure) or len(seeds_for(d.figure, profile))
        per_seed = images_per_seed(d.figure, profile)
        hours_per_seed = (per_seed * seconds_per_image(d.figure) / 3600
                          if seconds_per_image is not None else math.nan)
        lo, hi = (sd_interval(sigma, df) if sigma is not None and df and math.isfinite(df)
                  else (math.nan, math.nan))
        row = {"claim": d.key, "figure": d.figure, "statement": d.statement, "effect": d.effect,
               "noise": source, "sigma": math.nan if sigma is None else sigma,
               "sigma_df": df, "sigma_lo": lo, "sigma_hi": hi, **cond.record(),
               "n_profile": n_now, "power_profile": math.nan, "n_80": math.nan,
               "power_n_80": math.nan, "n_80_lo": math.nan, "n_80_hi": math.nan,
               "alt": d.alt_effect, "power_alt_profile": math.nan, "n_80_alt": math.nan,
               "runs_80": math.nan, "images_80": math.nan,
               "hours_80": math.nan, "images_per_seed": per_seed,
               "hours_per_seed": hours_per_seed, "fits": None, "n_budget": math.nan,
               "power_budget": math.nan, "note": d.note}
        kw = {"sims": sims, "seed": seed, "conditions": cond}
        if d.draw is not None and sigma is not None:
            # shown even where the runs end too early: what these seeds could see if they didn't
            row["power_profile"] = power(d.key, n_now, profile, sigma=sigma, **kw)
            if d.alt_draw is not None:
                row["power_alt_profile"] = power(d.key, n_now, profile, sigma=sigma, alt=True,
                                                 **kw)
        cut = not_testable(d, profile)
        if cut:
            row["decision"] = cut
        elif d.draw is None:
            row["decision"] = f"no power to compute: Smith's effect is unknown ({d.effect})"
        elif sigma is None:
            row["decision"] = f"no power to compute: no noise estimate ({source})"
        else:
            n80, p80 = runs_for_power(d.key, profile, sigma=sigma, **kw)
            if intervals and math.isfinite(lo):
                row["n_80_lo"] = runs_for_power(d.key, profile, sigma=lo, **kw)[0]
                row["n_80_hi"] = runs_for_power(d.key, profile, sigma=hi, **kw)[0]
            if d.alt_draw is not None:
                row["n_80_alt"] = runs_for_power(d.key, profile, sigma=sigma, alt=True, **kw)[0]
            if n80 is None:
                row["power_n_80"] = p80
                row["decision"] = (f"no n up to {N_MAX:,} per curve reaches power {POWER} "
                                   f"(power {p80:.2f} there): no run count decides it")
            else:
                row.update(n_80=n80, power_n_80=p80, runs_80=n80 * curves,
                           images_80=n80 * per_seed, hours_80=n80 * hours_per_seed)
                if budget_hours is not None:
                    afford = int(budget_hours // hours_per_seed) if hours_per_seed > 0 else 0
                    row.update(fits=n80 <= afford, n_budget=afford)
                    if afford >= 1:
                        row["power_budget"] = power(d.key, min(afford, N_MAX), profile,
                                                    sigma=sigma, **kw)
                row["decision"] = _decision(row, budget_hours)
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs.update(profile=profile, budget_hours=budget_hours, sims=sims)
    return table


def _decision(row: dict, budget_hours: float | None) -> str:
    cost = f"{row['runs_80']:,} runs, {row['images_80'] / 1e6:,.0f} M training images"
    if not math.isnan(row["hours_80"]):
        cost += f", {row['hours_80']:,.1f} GPU-hours"
    text = f"n = {row['n_80']} per curve (power {row['power_n_80']:.2f}): {cost}"
    if budget_hours is None or row["fits"] is None:
        return text
    if row["fits"]:
        return text + f"; fits {budget_hours:g} GPU-hours"
    afford = row["n_budget"]
    tail = (f"; {budget_hours:g} GPU-hours afford n = {afford} (power {row['power_budget']:.2f})"
            if afford >= 1 else f"; {budget_hours:g} GPU-hours afford no seed of this figure")
    return (f"needs n = {row['n_80']} per curve, {row['hours_80']:,.1f} GPU-hours ({cost})"
            + tail)


def seeds_within(table: pd.DataFrame, budget_hours: float, *, start: dict | None = None,
                 least: int = 1) -> dict:
    """Fresh seeds per figure within one budget for all figures together. `start`: the runs per
    curve a pilot spends first (its hours come off the budget, and its runs are not counted in
    any figure's n: pilot.py says why); then every figure gets `least` fresh seeds, and the
    claims that 80% power decides, cheapest extra first, each raise their figure's fresh seeds
    to their n while the total fits. Returns {figure: fresh seeds} with the total hours (the
    pilot's included), the pilot's hours and the claims funded under "_hours", "_pilot_hours"
    and "_decided"."""
    per_seed = table.groupby("figure")["hours_per_seed"].first()
    if per_seed.isna().any():
        raise ConfigError("seeds_within needs a plan made with seconds_per_image")
    pilot = float(sum((start or {}).get(f, 0) * per_seed[f] for f in per_seed.index))
    seeds = {f: least for f in per_seed.index}
    spent = pilot + float(sum(seeds[f] * per_seed[f] for f in seeds))
    decided = []
    open_rows = table[table["n_80"].notna() & ~table["decision"].str.startswith(C.NOT_TESTABLE)]
    while True:
        extra = {r.claim: (max(0, int(r.n_80) - seeds[r.figure]) * per_seed[r.figure], r)
                 for r in open_rows.itertuples() if r.claim not in decided}
        if not extra:
            break
        claim, (cost, r) = min(extra.items(), key=lambda kv: kv[1][0])
        if spent + cost > budget_hours:
            break
        seeds[r.figure] = max(seeds[r.figure], int(r.n_80))
        spent += cost
        decided.append(claim)
    return {**seeds, "_hours": float(spent), "_pilot_hours": pilot, "_decided": decided}


def _n(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else (
        f"{int(value):,}")


def noise_text(r) -> str:
    """One run's SD, its source, and its 95% interval with the runs per curve at each end."""
    if math.isnan(r.sigma):
        return r.noise
    text = f"SD {r.sigma:.4f}: {r.noise}"
    if not math.isfinite(r.sigma_lo):
        return text
    text += f"; 95% interval {r.sigma_lo:.4f}-{r.sigma_hi:.4f}"
    lo, hi = (None if v is None or (isinstance(v, float) and math.isnan(v)) else v
              for v in (r.n_80_lo, r.n_80_hi))
    if r.decision.startswith(C.NOT_TESTABLE):
        return text
    if lo is None and hi is None:
        return text + f", where no run count up to {N_MAX:,} gives 80% power at either end"
    return text + (f", where 80% power needs n = {_n(lo)} to "
                   + (f"{_n(hi)}" if hi is not None else f"more than {N_MAX:,}") + " per curve")


def describe_plan(table: pd.DataFrame, *, start: dict | None = None, least: int = 1) -> str:
    """The plan as text, one block per claim, and the fresh seeds per figure within the budget
    where the plan has one (after `start` seeds, a pilot's, spent and not counted; never below
    `least`)."""
    profile, budget = table.attrs.get("profile", "?"), table.attrs.get("budget_hours")
    lines = [f"Plan for profile {profile!r}: runs per curve for power {POWER} at the rules' 5% "
             f"error ({table.attrs.get('sims', SIMS):,} simulated sets per n)"]
    for r in table.itertuples():
        lines.append(f"[{r.claim}] {r.statement}")
        lines.append(f"    effect: {r.effect}")
        lines.append(f"    noise of one run: {noise_text(r)}")
        if r.conditions:
            lines.append(f"    drawn with: {r.conditions}")
        now = ("power -" if math.isnan(r.power_profile) else
               f"power {r.power_profile:.2f}" + (" if the effect were there" if
                                                 r.decision.startswith(C.NOT_TESTABLE) else ""))
        if r.alt and not math.isnan(r.power_alt_profile):
            now += f" (under {r.alt}: {r.power_alt_profile:.2f})"
        lines.append(f"    this profile: n = {r.n_profile} per curve, {now}")
        lines.append(f"    decides it: {r.decision}")
        if r.alt and not math.isnan(r.n_80_alt):
            lines.append(f"    under {r.alt} instead: n = {int(r.n_80_alt)} per curve for power "
                         f"{POWER}")
        if r.note:
            lines.append(f"    note: {r.note}")
    if budget is not None and not table["hours_per_seed"].isna().any():
        alloc = seeds_within(table, budget, start=start, least=least)
        seeds = ", ".join(f"{f} {n}" for f, n in alloc.items() if not f.startswith("_"))
        pilot = (f"after a pilot of {alloc['_pilot_hours']:,.1f} h, whose runs measure and are "
                 f"not counted, " if alloc["_pilot_hours"] else "")
        lines.append(f"Within {budget:g} GPU-hours for all figures, {pilot}fresh seeds per curve "
                     f"{seeds} ({alloc['_hours']:,.1f} h in all); decided at 80% power: "
                     + (", ".join(alloc["_decided"]) or "none"))
    return "\n".join(lines)
