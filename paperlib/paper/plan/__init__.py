"""A design before the runs: how many runs per curve would decide each claim, and what they cost.

The verdict rules (paperlib.paper.claims) are calibrated: with no effect they say "reproduced" or
"contradicted" in at most 5% of sets of runs. That guards against false claims and says nothing
about the opposite failure, runs too few to see an effect that is there: at `small`'s two seeds
no rule can call Smith's Fig 8a gaps (0.015-0.025 in test loss) out of noise several times that
size. So before spending device time, this package asks of each claim: how large is Smith's effect
(from his figures, tables and log, cited), how noisy is one run (Smith's tables where they give
it, our committed replicates in figures/*.json where nothing else does, read when called), and
how many runs per curve make the rule, as implemented, say "reproduced" in 80% of sets of runs
(power 0.8 at the rules' 5% error). Where the profile's runs end before Smith's effect appears
(claims.EFFECT_AT) no number of seeds helps, and the plan says "not testable at this scale".

Power comes from simulation, drawing each curve's mean and spread through their sufficient
statistics (for n normal runs the mean and the variance are independent, N(mu, sigma^2 / n) and
sigma^2 chi^2(n - 1) / (n - 1): exact, and as fast at n = 10,000 as at n = 2), then deciding with
the same functions the claims tables call (claims.decide_gap, decide_best, decide_order,
decide_equal, turns_up's rule). tests/test_claims_calibration.py checks that these draws and the tables' own path agree.

Costs come from the profile (profiles.runs_for: each curve's steps and batch size; a figure's seeds
apply to all its curves): training images = seeds x sum(steps x batch). Hours need a rate, a
callable figure -> seconds per training image, which the caller measures (estimate.py probes one).

The package, from the bottom up; each module imports only those above it in this list:
- simulate: sets of runs drawn under a given effect and decided by the claims' rules;
- designs: each claim's effect, noise reader and draw (Design, DESIGNS, design);
- table: power, the runs for 80% power, their cost and a budget's seeds (power, runs_for_power,
  plan, seeds_within, describe_plan).
Every public name is importable from the package itself, as `plan.<name>`.
"""
from __future__ import annotations

from .designs import (DESIGNS, FIG5A, FIG5B, FIG8A, FIG8B, FIG8B_SD, SEED10, SEED100,
                      SMITH_FIG1A_LOSS, SMITH_FIG1A_LR, SMITH_FIG15A_MIN, Design, design,
                      pooled_sd)
from .simulate import (draw_means, simulate_below, simulate_best, simulate_gap,
                       simulate_order, simulate_slope, simulate_tost, simulate_turn,
                       slope_from_groups, stated_error)
from .table import (FIGURES_DIR, N_MAX, POWER, SEED, SIMS, describe_plan, images_per_seed, plan,
                    power, runs_for_power, seeds_within)

__all__ = [
    "draw_means", "stated_error", "simulate_gap", "simulate_below",
    "simulate_best", "simulate_order", "simulate_tost", "slope_from_groups", "simulate_slope",
    "simulate_turn",
    "SMITH_FIG1A_LR", "SMITH_FIG1A_LOSS", "SMITH_FIG15A_MIN", "FIG8B_SD", "FIG5A", "FIG5B",
    "FIG8A", "FIG8B", "SEED10", "SEED100", "Design", "pooled_sd", "DESIGNS", "design",
    "FIGURES_DIR", "POWER", "SIMS", "SEED", "N_MAX", "power", "runs_for_power",
    "images_per_seed", "plan", "seeds_within", "describe_plan",
]
