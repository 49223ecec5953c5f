"""Every verdict rule, run on sets of runs drawn with no effect, under the noise the rule assumes
and under the noise a real GPU day has: spreads 10x apart between curves, heavy tails (t with 3
df), diverged runs (1% to 90% of them), AR(1) correlation between a range test's evaluations,
models that disagree image by image. Each direction is counted apart: "reproduced" and
"contradicted" each come out in at most 2.5% of sets, give or take Monte-Carlo error (`one_way`:
2.5% plus 3 binomial standard errors at the sets drawn). The rules' degrees of freedom are
checked on 100,000-200,000 sets drawn through their sufficient statistics, enough to tell 2.5%
from the 2.6-2.9% that Welch-Satterthwaite's df gives, which the same sets show."""
import math

import numpy as np
import pytest

from paperlib.paper import claims as C

SIMS = 10_000
MARGIN = C.FIG15B_MARGIN
NOISES = ["normal", "sd 10x", "t3", "diverge 1%"]
X = np.log2([128, 256, 512, 1024])


def one_way(sims: int) -> float:
    return C.ALPHA + 3 * math.sqrt(C.ALPHA * (1 - C.ALPHA) / sims)


def rng(seed=0):
    return np.random.default_rng(seed)


def each_way(codes) -> tuple[float, float]:
    """The shares of sets called reproduced and contradicted."""
    codes = np.asarray(codes)
    return float(np.mean(codes == 1)), float(np.mean(codes == -1))


def within(codes, sims=None) -> bool:
    r, c = each_way(codes)
    bound = one_way(sims or np.size(codes))
    return r <= bound and c <= bound


def draw(r, sims, n, k, noise, *, mu=None, sd=1.0, diverge=None):
    """(runs (sims, k, n), diverged) under a named noise: unit normal; the last curve's SD 10x
    the others'; t with 3 df scaled to unit variance; or a 1% chance per run to diverge."""
    shape = (sims, k, n)
    z = r.standard_t(3, shape) / math.sqrt(3) if noise == "t3" else r.standard_normal(shape)
    sds = np.full(k, sd)
    if noise == "sd 10x":
        sds[-1] *= 10
    runs = (np.zeros(k) if mu is None else np.asarray(mu, float))[None, :, None] + z * sds[
        None, :, None]
    chance = diverge if diverge is not None else 0.01 if noise == "diverge 1%" else 0.0
    return runs, r.random(shape) < chance


def stats(runs, bad) -> dict:
    """The rules' arguments from raw runs, as claims.curve_means makes them: each curve's mean,
    SE and df over its completed runs, and its divergence counts."""
    ok = ~bad
    k = ok.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, runs, 0).sum(-1) / k
        var = np.where(ok, (runs - mean[..., None]) ** 2, 0).sum(-1) / (k - 1)
        se = np.where(k >= 2, np.sqrt(var / k), np.nan)
    return {"value": mean, "se": se, "df": np.where(k >= 2, k - 1.0, 0.0),
            "diverged": bad.sum(-1), "runs": np.full(k.shape, runs.shape[-1])}


def trend_codes(runs, bad):
    s = stats(runs, bad)
    k = (~bad).sum(-1).astype(float)
    p_r, p_c, *_ = C.trend_p(s["value"], s["se"] ** 2 * k, k, X, diverged=s["diverged"],
                             runs=s["runs"])
    return C.decide(p_r, p_c)


def ar1(r, shape, rho):
    e = r.standard_normal(shape)
    out = np.empty(shape)
    out[..., 0] = e[..., 0]
    for t in range(1, shape[-1]):
        out[..., t] = rho * out[..., t - 1] + math.sqrt(1 - rho * rho) * e[..., t]
    return out


# --- comparisons of curves, with no effect ------------------------------------------------------

@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("n", [3, 8])
def test_a_gap_between_two_curves_errs_in_at_most_2_5pct_each_way(noise, n):
    s = stats(*draw(rng(n), SIMS, n, 2, noise))
    assert within(C.decide(*C.best_p(**s, higher=True)))


@pytest.mark.parametrize("noise", NOISES)
def test_best_of_four_errs_in_at_most_2_5pct_each_way_with_every_curve_equal(noise):
    s = stats(*draw(rng(3), SIMS, 4, 4, noise))
    assert within(C.decide(*C.best_p(**s, higher=True)))


@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("mu", [[1.0, 1.0, 1.0],      # no effect at all
                                [0.0, 1.0, 1.0],      # the first gap huge, the second nil
                                [1.0, 1.0, 2.0]])     # and the other way round
def test_the_ordering_of_three_errs_in_at_most_2_5pct_each_way_where_the_order_does_not_hold(
        mu, noise):
    s = stats(*draw(rng(4), SIMS, 8, 3, noise, mu=mu, sd=0.05))
    assert within(C.decide(*C.order_p(**s, higher=False)))


def test_a_diverged_run_no_longer_decides_fig8as_order_at_36_runs_per_curve():
    # before: a diverged run lost every comparison, and at 1% per run 44.1% of null sets were
    # decided (scripts/claims_stress.py at 8208dd2)
    s = stats(*draw(rng(9), SIMS, 36, 3, "diverge 1%", sd=0.02))
    assert within(C.decide(*C.order_p(**s, higher=False)))


@pytest.mark.parametrize("chance", [0.1, 0.3, 0.5, 0.9])
@pytest.mark.parametrize("rule, n, k", [("best", 3, 2), ("best", 4, 2), ("best", 8, 2),
                                        ("best", 4, 4), ("order", 8, 3), ("trend", 4, 4)])
def test_the_counts_deciding_alone_where_a_curve_has_no_spread_err_in_at_most_2_5pct_each_way(
        chance, rule, n, k):
    # where a curve has fewer than 2 completed runs the divergence counts decide at the full
    # level (rules.with_counts); with every curve as likely to diverge, they seldom do
    runs, bad = draw(rng(17), SIMS, n, k, "normal", diverge=chance)
    if rule == "trend":
        codes = trend_codes(runs, bad)
    else:
        s = stats(runs, bad)
        codes = C.decide(*(C.best_p(**s, higher=True) if rule == "best"
                           else C.order_p(**s, higher=False)))
    assert within(codes)


@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("n", [4, 24, 60])
def test_tost_calls_equivalent_in_at_most_2_5pct_when_a_true_gap_sits_at_the_margin(noise, n):
    # before, with p_r half the largest TOST p (a 90% interval): 2.2%, 3.9% and 4.9% at 12, 24
    # and 60 runs per curve
    sims = 20_000
    s = stats(*draw(rng(6), sims, n, 3, noise, mu=[0.690, 0.690 + MARGIN / 2, 0.690 + MARGIN],
                    sd=0.004))
    p_r, _ = C.equal_p(s["value"], s["se"], s["df"], MARGIN, diverged=s["diverged"],
                       runs=s["runs"])
    assert float(np.mean(p_r < C.ALPHA)) <= one_way(sims)


@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("n", [4, 24])
def test_tost_calls_a_difference_in_at_most_2_5pct_with_equal_means(noise, n):
    s = stats(*draw(rng(8), SIMS, n, 3, noise, mu=[0.690] * 3, sd=0.004))
    _, p_c = C.equal_p(s["value"], s["se"], s["df"], MARGIN, diverged=s["diverged"],
                       runs=s["runs"])
    assert float(np.mean(p_c < C.ALPHA)) <= one_way(SIMS)


@pytest.mark.parametrize("noise", ["normal", "t3", "diverge 1%"])
@pytest.mark.parametrize("n", [2, 4])
def test_the_collapse_rule_errs_in_at_most_2_5pct_each_way_with_the_mean_at_its_threshold(
        noise, n):
    runs, bad = draw(rng(2), SIMS, n, 1, noise, mu=[0.2], sd=0.01)
    s = stats(runs, bad)
    p_r, p_c, *_ = C.below_p(s["value"], s["se"], s["df"], C.accuracy_floor(s["value"], 10_000),
                             n, 0.2)
    every = bad.all(-1)  # claims.collapse: none trained, reproduced
    assert within(np.where(every, 1, C.decide(p_r, p_c))[..., 0])


@pytest.mark.parametrize("noise", ["t3", "diverge 1%"])
def test_the_tbs_trend_errs_in_at_most_2_5pct_each_way_under_heavy_tails_and_divergence(noise):
    assert within(trend_codes(*draw(rng(5), SIMS, 5, 4, noise)))


def test_one_run_per_curve_never_decides_however_far_apart_the_curves_are():
    value = rng(1).normal(0.9, 0.05, (SIMS, 2))
    g = C.pair_p(value, np.full(value.shape, np.nan), np.zeros(value.shape), [(0, 1)],
                 higher=True)
    assert each_way(C.decide(g.better[..., 0], g.worse[..., 0])) == (0.0, 0.0)


# --- the degrees of freedom, on many sets drawn through their sufficient statistics ---------------

def contrast_sets(r, sims, w, sds, ns):
    """The contrast sum w_c mean_c of curves with SDs `sds` and `ns` runs, no effect: (its value,
    its variance terms w_c^2 s_c^2 / n_c, their df)."""
    sds, ns = np.asarray(sds, float), np.asarray(ns, float)
    means = sds / np.sqrt(ns) * r.standard_normal((sims, len(sds)))
    terms = w * w * sds ** 2 * r.chisquare(ns - 1, (sims, len(sds))) / (ns - 1) / ns
    return means @ w, terms, np.broadcast_to(ns - 1, terms.shape)


def rates_at(value, terms, dfs, dof) -> tuple[float, float]:
    se = np.sqrt(terms.sum(-1))
    return (float(np.mean(C.p_noise(value, se, dof) < C.ALPHA)),
            float(np.mean(C.p_noise(-value, se, dof) < C.ALPHA)))


@pytest.mark.parametrize("ns, ratio", [((3, 3), 1), ((3, 3), 4.6), ((3, 3), 10), ((4, 4), 1),
                                       ((4, 4), 4.6), ((4, 4), 10), ((6, 6), 3.8),
                                       ((8, 8), 3.8), ((4, 20), 1), ((6, 3), 3.8),
                                       ((8, 4), 3.8), ((20, 4), 1.8)])
def test_a_gaps_df_keeps_each_direction_within_2_5pct_whatever_the_two_spreads_and_runs(ns,
                                                                                      ratio):
    sims = 200_000
    value, terms, dfs = contrast_sets(rng(sum(ns)), sims, np.array([1.0, -1.0]), [1, ratio], ns)
    assert max(rates_at(value, terms, dfs, C.contrast_dof(terms, dfs))) <= one_way(sims)
    if (ns, ratio) in (((4, 4), 4.6), ((4, 20), 1)):
        # the same sets read at Welch-Satterthwaite's df: 2.77% and 3.08% at the 'before' commit
        assert max(rates_at(value, terms, dfs, C.satterthwaite(terms, dfs))) > one_way(sims)


@pytest.mark.parametrize("sds", [[1, 1, 1, 1], [1, 2.15, 4.64, 10], [10, 4.64, 2.15, 1],
                                 [1, 1, 1, 10], [10, 1, 1, 1], [1, 1.5, 2.2, 3.3]])
@pytest.mark.parametrize("n", [3, 4, 5, 6, 8])
def test_the_tbs_trends_df_keeps_each_direction_within_2_5pct_whatever_each_tbs_spread(sds, n):
    sims = 100_000
    value, terms, dfs = contrast_sets(rng(n), sims, C.trend_weights(X), sds, [n] * 4)
    assert max(rates_at(value, terms, dfs, C.contrast_dof(terms, dfs))) <= one_way(sims)
    if n == 4 and sds == [1, 2.15, 4.64, 10]:
        assert max(rates_at(value, terms, dfs, C.satterthwaite(terms, dfs))) > one_way(sims)


# --- range tests: a turn read at fixed windows ----------------------------------------------------

LRS = np.linspace(0.0, 0.1, 25)
WINDOWS = C.WINDOWS["fig1a_dip"]


def window_matrix(lrs, windows) -> np.ndarray:
    masks = np.stack([(lrs >= lo) & (lrs < hi) for _, lo, hi in windows]).astype(float)
    return masks / masks.sum(-1, keepdims=True)


def sweeps(r, sims, n, noise, rho=0.0):
    """(sims, n, evaluations) flat sweeps: noise unit normal, t3, AR(1), or 10x in the windows
    above the box."""
    shape = (sims, n, len(LRS))
    if rho:
        return ar1(r, shape, rho)
    z = r.standard_t(3, shape) / math.sqrt(3) if noise == "t3" else r.standard_normal(shape)
    return z * np.where(LRS >= 0.04, 10.0, 1.0) if noise == "sd 10x" else z


@pytest.mark.parametrize("noise, rho", [("normal", 0.0), ("t3", 0.0), ("sd 10x", 0.0),
                                        ("ar1", 0.6), ("ar1", 0.9)])
@pytest.mark.parametrize("n", [2, 4])
def test_a_turn_across_sweeps_errs_in_at_most_2_5pct_each_way_on_flat_sweeps(noise, rho, n):
    means = sweeps(rng(n), SIMS, n, noise, rho) @ window_matrix(LRS, WINDOWS).T
    assert within(C.decide(*C.turn_p(means)[:2]))


@pytest.mark.parametrize("noise, rho", [("normal", 0.0), ("ar1", 0.6), ("t3", 0.0),
                                        ("sd 10x", 0.0)])
def test_fig15as_window_means_compared_across_sweeps_err_in_at_most_2_5pct_each_way(noise, rho):
    lrs = np.round(0.1 + 0.0375 * np.arange(25), 4)
    r = rng(12)
    shape = (SIMS, 3, 4, len(lrs))  # sets, weight decays, sweeps, evaluations
    loss = (ar1(r, shape, rho) if rho else r.standard_t(3, shape) / math.sqrt(3)
            if noise == "t3" else r.standard_normal(shape))
    if noise == "sd 10x":
        loss[:, 2] *= 10
    window = loss @ window_matrix(lrs, C.WINDOWS["fig15a"])[0]
    s = stats(window, np.zeros(window.shape, bool))
    assert within(C.decide(*C.best_p(**s, higher=False)))


# --- the test images: models that disagree image by image ----------------------------------------

def disagreeing(r, sims, n, images, tau, curves=2):
    """Curves equal over all images but disagreeing image by image (per-image logit offsets of
    SD tau), each set on its own draw of test images; a run adds a logit shift of SD 0.02."""
    out = []
    for _ in range(sims):
        mu = r.normal(1.5, 1.5, images)[None, :] + r.normal(0, tau, (curves, images))
        p = 1 / (1 + np.exp(-(mu[:, None, :] + r.normal(0, 0.02, (curves, n, 1)))))
        out.append((r.random(p.shape) < p).astype(float))
    return out


@pytest.mark.parametrize("tau", [0.0, 1.0])
def test_a_gap_with_the_disagreement_term_errs_in_at_most_2_5pct_each_way_when_models_disagree(
        tau):
    # before, without it: 28.7% at tau 1 with 16 runs per curve (scripts/claims_stress.py)
    codes, bare = [], []
    for y in disagreeing(rng(13), 700, 12, 2000, tau):
        acc = y.mean(-1)
        value, se, df = acc.mean(-1), acc.std(-1, ddof=1) / math.sqrt(12), np.full(2, 11.0)
        extra = np.array([C.image_variance([y[0], y[1]], [1, -1])])
        for out, term in ((codes, extra), (bare, None)):
            g = C.pair_p(value, se, df, [(0, 1)], higher=True, extra=term)
            out.append(int(C.decide(g.better, g.worse)[0]))
    assert within(codes)
    if tau:
        assert not within(bare)  # the term is what holds it


def test_the_trend_with_the_disagreement_term_errs_in_at_most_2_5pct_each_way():
    codes, bare = [], []
    weights = C.trend_weights(X)
    for y in disagreeing(rng(19), 500, 12, 2000, 1.0, curves=4):
        acc = y.mean(-1)
        term = C.image_variance(list(y), weights)
        for out, extra in ((codes, term), (bare, None)):
            p_r, p_c, *_ = C.trend_p(acc.mean(-1), acc.var(-1, ddof=1), np.full(4, 12.0), X,
                                     extra=extra)
            out.append(int(C.decide(p_r, p_c)))
    assert within(codes)
    assert not within(bare)


# --- the effect's interval where the data pick the pair -----------------------------------------

def test_the_largest_gaps_interval_is_simultaneous_and_covers_it_in_95pct_of_sets():
    sims, n = 20_000, 24
    s = stats(rng(21).standard_normal((sims, 3, n)), np.zeros((sims, 3, n), bool))
    g = C.pair_p(s["value"], s["se"], s["df"], C.all_pairs(3), higher=True)
    w = np.argmax(np.abs(g.diff), -1)
    pick = np.arange(sims)
    diff, se, df = g.diff[pick, w], g.se[pick, w], g.df[pick, w]
    # the true gap, 0, lies inside an interval at t(1 - ALPHA / among) exactly where the
    # estimate's one-sided p is above ALPHA / among
    covered = {among: float(np.mean(C.p_noise(np.abs(diff), se, df) >= C.ALPHA / among))
               for among in (1, 3)}
    sd = math.sqrt(0.95 * 0.05 / sims)
    assert covered[3] >= 0.95 - 3 * sd and covered[1] < 0.95 - 3 * sd  # 88% for the plain one
