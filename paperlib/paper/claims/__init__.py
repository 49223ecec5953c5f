"""The paper's claims per figure, its numbers, and verdicts computed from our runs.

A replication's claims table is read as a list of yes and no, so each verdict has to be one a
statistician would sign: on runs with no effect, each of the two verdicts comes out in at most
2.5% of sets of runs, under the noise each rule assumes and under the noise a real GPU day has
(unequal spreads, heavy tails, diverged runs, correlated evaluations, models that disagree image
by image: tests/test_claims_calibration.py draws such sets and counts, per direction); a claim
the runs cannot reach says so rather than guessing. paperlib.paper.plan turns the same rules
round: how many runs per curve would decide each claim, measured on a pilot and locked before the
runs.

Each `claims_<figure>` takes the runs' summary rows (replicate.FigureResult.runs, or the JSON
written beside the CSV), the tidy metrics where a rule reads evaluations, the network the runs
trained (`model`), and optionally the per-image test records (`per_image`), and returns rows of
(claim, paper, ours, verdict) with the claim's key, the runs per curve it read, its effect as a
95% interval beside Smith's value, and its p-value. There are four verdicts:

- "reproduced": the claimed direction holds beyond the noise;
- "contradicted": the opposite holds beyond the noise;
- "inconclusive": neither (`ours` gives the numbers and the noise);
- "not testable at this scale": the runs end before the point where the effect appears in Smith's
  own runs (EFFECT_AT), trained another network than the claim is about (CLAIM_MODEL), were
  truncated (`max_steps`), or the data are a stand-in.

The noise model:
- A curve's mean is over its completed runs: s / sqrt(n), n - 1 df. One run of a curve has no
  spread of its own, and no verdict is drawn from it: a run-to-run SD borrowed from other runs
  made one-run verdicts wrong in 21.9% of null sets when the true SD was twice the stated one.
- A gap between curves takes Welch's error, read at a df between Hsu's bound and
  Welch-Satterthwaite's (rules.contrast_dof), plus, where per-image records are given, the test
  images' disagreement between the two curves (images.py): the part of test-set sampling the
  curves do not share.
- A diverged (or stopped) run is its own outcome: the divergence counts are compared by Fisher's
  exact test beside the completed runs' numbers, or alone where a curve has too few completed
  runs to give a number (rules.py).
- A trend across batch sizes is a contrast of the per-TBS means, each with its own spread.
- A range test is read at lr windows fixed before any run, with the noise from the spread
  between sweeps; one sweep, like one run, gives no verdict (sweeps.py).
Every comparison is one-sided at ALPHA = 2.5% in each direction, with Student t computed exactly
here (t_sf, t_ppf: no scipy). Claims made of several comparisons say how they are combined: all
of them (an intersection-union test: each at ALPHA) or any of them (Bonferroni: ALPHA / m each).
A table of several claims adds Holm's adjustment and its family-wise chance (table.py).

The package, from the bottom up; each module imports only those above it in this list:
- student: Student's t, exactly (t_sf, t_ppf); fisher: Fisher's exact test of two counts;
- rules: the rules on arrays, which the tables and paperlib.paper.plan's simulations both
  decide through (pair_p, best_p, order_p, equal_p, below_p, trend_p, decide, two_sided, ...);
- sweeps: range tests at fixed lr windows (window_means, turn_p, turn_from);
- images: the test images' disagreement term (image_variance);
- smith: Smith's numbers with their sources (PAPER, SMITH_FIG8B_LAST3, SMITH_FIG15B_LAST3,
  SEED_SD, FIG15B_MARGIN, LAST_K, WINDOWS, CLAIM_MODEL, SHARED_RUNS, EFFECT_AT);
- noise: a curve's mean with its noise (Mean, mean_of, curve_means) and the generic tests that
  give a row's text, p-values and effect (best_of, gap, ordering, equivalence, collapse, trend);
- figures: the training runs' claims (claims_fig5, claims_fig8, claims_fig15b, untestable, row);
- ranges: the range tests' claims (claims_fig1a, claims_fig15);
- table: the rows as a table and as text, with Holm's column (claims_table, format_claims).
Every public name is importable from the package itself, as `claims.<name>`.
"""
from __future__ import annotations

from .figures import (ROW_COLUMNS, claims_fig5, claims_fig8, claims_fig15b, last_k_readings, row,
                      untestable)
from .fisher import fisher_more
from .images import image_variance
from .noise import (Finding, Mean, best_of, collapse, curve_means, equivalence, gap, interval,
                    mean_of, ordering, trend)
from .ranges import claims_fig1a, claims_fig15
from .rules import (ALPHA, CODES, CONTRADICTED, INCONCLUSIVE, NOT_TESTABLE, REPRODUCED, VERDICTS,
                    TOWARDS_WELCH, PairP, accuracy_floor, all_of, all_pairs, below_p, best_p,
                    contrast_dof, decide, equal_p, order_p, p_noise, pair_p, satterthwaite, t975,
                    trend_p, trend_weights, two_sided, welch_df, with_counts)
from .smith import (CLAIM_MODEL, EFFECT_AT, FIG8B_SD, FIG15B_MARGIN, FIG15B_MARGIN_WHY, LAST_K,
                    PAPER, SEED_SD, SEED_SD_DF, SHARED_RUNS, SMITH_FIG1A_LOSS, SMITH_FIG1A_LR,
                    SMITH_FIG8B_LAST3, SMITH_FIG15A_WINDOW, SMITH_FIG15B_LAST3,
                    TABLE1_RESNET56_SD, WINDOWS)
from .student import t_ppf, t_sf
from .sweeps import turn_from, turn_p, window_means
from .table import claims_table, format_claims, holm, multiplicity

__all__ = [
    "REPRODUCED", "CONTRADICTED", "INCONCLUSIVE", "NOT_TESTABLE", "VERDICTS", "CODES", "ALPHA",
    "PAPER", "TABLE1_RESNET56_SD", "SEED_SD", "SEED_SD_DF", "FIG8B_SD", "FIG15B_MARGIN",
    "FIG15B_MARGIN_WHY", "LAST_K", "WINDOWS", "CLAIM_MODEL", "SHARED_RUNS", "EFFECT_AT",
    "SMITH_FIG1A_LR", "SMITH_FIG1A_LOSS", "SMITH_FIG15A_WINDOW", "SMITH_FIG8B_LAST3",
    "SMITH_FIG15B_LAST3",
    "t_sf", "t_ppf", "t975", "fisher_more",
    "TOWARDS_WELCH", "satterthwaite", "contrast_dof", "welch_df", "p_noise", "decide",
    "two_sided", "with_counts", "PairP",
    "pair_p", "all_of", "all_pairs", "best_p", "order_p", "equal_p", "below_p", "trend_p",
    "trend_weights", "accuracy_floor",
    "window_means", "turn_p", "turn_from", "image_variance",
    "Mean", "Finding", "mean_of", "curve_means", "interval", "best_of", "gap", "ordering",
    "equivalence", "collapse", "trend",
    "row", "untestable", "last_k_readings", "claims_fig5", "claims_fig8", "claims_fig15b",
    "claims_fig1a", "claims_fig15", "ROW_COLUMNS",
    "claims_table", "format_claims", "holm", "multiplicity",
]
