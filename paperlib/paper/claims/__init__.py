"""The paper's claims per figure, its numbers, and verdicts computed from our runs.

A replication's claims table is read as a list of yes and no, so each verdict has to be one a
statistician would sign: on runs with no effect, a verdict either way comes out in at most 5% of
sets of runs (tests/test_claims_calibration.py draws such sets and counts), and a claim the runs
cannot reach says so rather than guessing. paperlib.paper.plan turns the same rules round: how many
runs per curve would decide each claim, before any run.

Each `claims_<figure>` takes the runs' summary rows (replicate.FigureResult.runs, or the JSON
written beside the CSV), and the tidy metrics where a rule reads evaluations, and returns rows of
(claim, paper, ours, verdict). There are four verdicts:

- "reproduced": the claimed direction holds beyond the noise;
- "contradicted": the opposite holds beyond the noise;
- "inconclusive": neither (`ours` gives the numbers and the noise);
- "not testable at this scale": the runs end before the point where the effect appears in Smith's
  own runs (EFFECT_AT), the runs were truncated (`max_steps`), or the data are a stand-in.

The noise of a curve's mean:
- n >= 2 runs: s / sqrt(n) with n - 1 degrees of freedom. Every run is scored on the same test
  images (experiment.Splits draws the test subset with seed 0), so the test-set sampling error the
  curves share moves them alike and cancels in a difference; what a difference carries is in the
  replicates' spread.
- One run of an accuracy: no spread to read, so a stated one: the test-set sampling floor
  sqrt(p (1 - p) / n_test) (REPLICATIONS.md §5) together with a run-to-run SD from Smith's own
  tables (SEED_SD). One run of a test loss: no source gives its run-to-run spread (REPLICATIONS.md
  §5), so a claim on it is "inconclusive".
A difference of two means takes Welch's standard error, hypot(se_a, se_b), and Welch-Satterthwaite
degrees of freedom, since the curves' spreads need not be equal. Every comparison is one-sided at
ALPHA = 2.5% in each direction, with Student t computed exactly here (t_sf, t_ppf: no scipy), so
that "reproduced" and "contradicted" together stay within 5%. Claims made of several comparisons
say how they are combined: all of them (an intersection-union test: each at ALPHA, no correction
needed) or any of them (Bonferroni: ALPHA / m each).

A run that diverged (or was stopped) makes its curve the worst (infinite loss, no accuracy): it
loses every comparison, whatever the noise. Nothing here is typed in from our results; the rule of
each verdict is in its function's docstring.

The package, from the bottom up; each module imports only those above it in this list:
- student: Student's t, exactly (t_sf, t_ppf);
- rules: the rules on arrays of gaps, which the tables and paperlib.paper.plan's simulations both
  decide through (decide_gap, decide_best, decide_order, decide_equal, below, turns_up_code, ...);
- smith: Smith's numbers with their sources (PAPER, SEED_SD, FIG15B_MARGIN, LAST_K, EFFECT_AT);
- noise: a curve's mean with its noise (Mean, mean_of, curve_means), gaps (Gap, gap) and the
  generic tests that give a row's text and verdict (best_of, ordering, equivalence, ...);
- figures: each figure's claims (claims_fig1a, claims_fig5, claims_fig8, claims_fig15);
- table: the rows as a table and as text (claims_table, format_claims).
Every public name is importable from the package itself, as `claims.<name>`.
"""
from __future__ import annotations

from .figures import (claims_fig1a, claims_fig5, claims_fig8, claims_fig15, last_k_readings,
                      range_minima, untestable)
from .noise import (Gap, Mean, best_of, collapse_gap, curve_means, equivalence, gap, mean_of,
                    ordering, tbs_slope, turns_up)
from .rules import (ALPHA, CODES, CONTRADICTED, INCONCLUSIVE, MIN_TURN_EVALUATIONS, NOISE_Z,
                    NOT_TESTABLE, REPRODUCED, VERDICTS, accuracy_floor, below, decide_all,
                    decide_best, decide_equal, decide_gap, decide_order, decide_tost, ols_slope,
                    p_noise,
                    pair_gaps, sweep_scatter, t975, turns_up_code, welch_df)
from .smith import EFFECT_AT, FIG15B_MARGIN, LAST_K, PAPER, SEED_SD, TABLE1_RESNET56_SD
from .student import t_ppf, t_sf
from .table import claims_table, format_claims

__all__ = [
    "REPRODUCED", "CONTRADICTED", "INCONCLUSIVE", "NOT_TESTABLE", "VERDICTS", "CODES", "ALPHA",
    "NOISE_Z", "MIN_TURN_EVALUATIONS",
    "PAPER", "TABLE1_RESNET56_SD", "SEED_SD", "FIG15B_MARGIN", "LAST_K", "EFFECT_AT",
    "t_sf", "t_ppf", "t975",
    "welch_df", "p_noise", "decide_gap", "decide_all", "decide_tost", "decide_best", "decide_order",
    "decide_equal", "pair_gaps", "ols_slope",
    "below", "accuracy_floor", "sweep_scatter", "turns_up_code",
    "Mean", "Gap", "mean_of", "gap", "collapse_gap", "curve_means", "best_of", "ordering",
    "equivalence", "tbs_slope", "turns_up",
    "untestable", "claims_fig1a", "claims_fig5", "last_k_readings", "claims_fig8", "range_minima",
    "claims_fig15",
    "claims_table", "format_claims",
]
