"""A design before the runs: how many runs per curve would decide each claim, measured on a pilot
and locked before the runs that decide it.

The verdict rules (paperlib.paper.claims) are calibrated: with no effect they say "reproduced" or
"contradicted" in at most 2.5% of sets of runs each. That guards against false claims and says
nothing about the opposite failure, runs too few to see an effect that is there. So before
spending device time, this package asks of each claim: how large is Smith's effect (from his
figures, tables and log, read as the rules read ours, cited), how noisy is one run (Smith's
tables where they give it, our runs where nothing else does), what else the rule will meet (the
test images' disagreement, diverged runs, correlated evaluations: designs.Conditions), and how
many runs per curve make the rule, as implemented, say "reproduced" in 80% of sets of runs drawn
under all of it (power 0.8 at the rules' 5% error). Where the profile's runs end before Smith's
effect appears, or train another network (claims.EFFECT_AT, claims.CLAIM_MODEL), no number of
seeds helps, and the plan says "not testable at this scale".

An SD read off a few runs is itself uncertain (chisq.sd_interval): the plan shows each SD's 95%
interval and the n at both its ends. So `paper` measures before it spends: a pilot of Smith's own
4 runs per curve under a pilot lock that fixes the day's budget, then `python -m paperlib plan
--profile paper --from-pilot DIR` re-reads each claim's noise, conditions and the device's rate
from the pilot's runs, recomputes n by simulating the rules within the budget, and writes the
final plan.lock.json, once (lock.py): the rules' version, the seeds per curve, LAST_K, the
margin, the windows, EFFECT_AT and the rate. The pilot's runs are not counted: the final verdict
reads only the fresh runs after them (pilot.py says why; review.confirmatory cuts a figure's
runs to them), and a verdict from runs that depart from the lock reads "exploratory" (review.py).

Power comes from simulation, drawing each curve's mean and spread through their sufficient
statistics, then deciding with the same functions the claims tables call. Costs come from the
profile (profiles.runs_for): training images = seeds x sum(steps x batch); hours need a rate.

The package, from the bottom up; each module imports only those above it in this list:
- chisq: chi-square quantiles and an SD's interval;
- simulate: sets of runs drawn under a given effect and conditions, decided by the claims' rules;
- readers: what a set of saved runs gives (an SD, divergence, correlation, the images' term);
- designs: each claim's effect, noise, conditions and draw (Design, Conditions, DESIGNS, design);
- table: power, the runs for 80% power, their cost and a budget's seeds (power, runs_for_power,
  plan, seeds_within, describe_plan);
- lock: the plan locked before the runs (rules_hash, read_lock, write_lock, lock_status);
- pilot: a pilot's noise, conditions and rate, and the lock made from them (read_pilot,
  plan_from_pilot, final_seeds);
- review: a claims table read against the lock and the plan (power at the runs used,
  exploratory or as locked), and the runs a locked verdict reads (confirmatory).
Every public name is importable from the package itself, as `plan.<name>`.
"""
from __future__ import annotations

from .chisq import chi2_ppf, sd_interval
from .readers import committed, pooled_sd
from .designs import (DESIGNS, FIG5A, FIG5B, FIG8A, FIG8B, FIG8B_TREND, FIG15A, FIG15B, RHO,
                      Conditions, Design, design)
from .simulate import (draw_means, simulate_below, simulate_best, simulate_gap, simulate_order,
                       simulate_tost, simulate_trend, simulate_turn, window_cov)
from .table import (FIGURES_DIR, N_MAX, POWER, SEED, SIMS, describe_plan, images_per_seed,
                    noise_text, not_testable, plan, power, runs_for_power, seeds_within)
from .lock import (EXPLORATORY, LOCK_PATH, confirmatory_seeds, describe_lock, frozen, lock_for,
                   lock_hash, lock_record, lock_status, locked_seeds, make_lock, read_lock,
                   rules_hash, write_lock)
from .pilot import (LEAST_SEEDS, check_pilot, final_seeds, pilot_conditions, pilot_noise,
                    pilot_rate, plan_from_pilot, pre_pilot_lock, read_pilot)
from .review import confirmatory, power_text, review

__all__ = [
    "chi2_ppf", "sd_interval",
    "draw_means", "simulate_gap", "simulate_below", "simulate_best", "simulate_order",
    "simulate_tost", "simulate_trend", "simulate_turn", "window_cov",
    "FIG5A", "FIG5B", "FIG8A", "FIG8B", "FIG8B_TREND", "FIG15A", "FIG15B", "RHO", "Design",
    "Conditions", "pooled_sd", "committed", "DESIGNS", "design",
    "FIGURES_DIR", "POWER", "SIMS", "SEED", "N_MAX", "power", "runs_for_power", "not_testable",
    "images_per_seed", "plan", "seeds_within", "describe_plan", "noise_text",
    "EXPLORATORY", "LOCK_PATH", "describe_lock", "rules_hash", "frozen", "make_lock",
    "lock_hash", "write_lock",
    "read_lock", "lock_for", "locked_seeds", "confirmatory_seeds", "lock_record", "lock_status",
    "LEAST_SEEDS", "read_pilot", "pilot_noise", "pilot_conditions", "pilot_rate", "check_pilot",
    "final_seeds", "plan_from_pilot", "pre_pilot_lock", "review", "power_text", "confirmatory",
]
