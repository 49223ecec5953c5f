"""The test images' part of a gap's noise: where two curves' models disagree image by image.

Every run of a figure is scored on the same test images, so a gap between two curves' means is
free of the part of test-set sampling the curves share, and its replicates' spread holds the
seed-to-seed part. What neither holds is the part the curves do not share: this test set's images
are one draw of the images the claim is about, and where the models get different images right,
another draw would give another gap. With two curves equal over all images but disagreeing image
by image, the Welch gap at 16 runs per curve on 2,000 images was called in 28.7% of null sets
(scripts/claims_stress.py at 8208dd2).

That part is Var_i(delta_i) / N, delta_i the difference of the curves' expected scores on image
i, for a contrast sum_c w_c (mean of curve c) in general. From per-image records (each run's
per-image correctness or loss, runs aligned image by image) it is estimated by the method of
moments: the variance over images of d_i = sum_c w_c ybar_ci, less what the runs' own scatter
puts into each d_i (sum_c w_c^2 v_ci / n_c, v_ci the variance over curve c's runs on image i),
plus back what centring over images took out of the seed part (sum_c w_c^2 s_c^2 / n_c, s_c the
SD of the runs' means). It needs two runs per curve; one run per curve gives no verdict anyway.
"""
from __future__ import annotations

import numpy as np


def image_variance(scores, weights) -> float | None:
    """The disagreement term of a contrast: Var_i(sum_c w_c mu_ci) / N estimated from `scores`,
    one (runs, images) array per curve of each run's per-image score, and `weights` (w_c; [1, -1]
    for a gap). None where a curve has fewer than 2 runs or the arrays do not align."""
    arrays = [np.asarray(a, float) for a in scores]
    if any(a.ndim != 2 or a.shape[0] < 2 for a in arrays):
        return None
    if len({a.shape[1] for a in arrays}) != 1:
        return None
    images = arrays[0].shape[1]
    if images < 2:
        return None
    d = sum(w * a.mean(0) for w, a in zip(weights, arrays))
    within = sum(w * w * a.var(0, ddof=1) / a.shape[0] for w, a in zip(weights, arrays))
    seed = sum(w * w * a.mean(1).var(ddof=1) / a.shape[0] for w, a in zip(weights, arrays))
    return max(0.0, float(d.var(ddof=1) - within.mean() + seed)) / images


def run_scores(per_image: dict | None, runs, *, what: str, last_k: int = 1) -> dict | None:
    """Each completed run's per-image score from a figure's per-image records (replicate.
    FigureResult.per_image: {(curve, replicate): {"steps", "correct", "loss"}}): the mean over its
    last `last_k` evaluations of `what` ("correct" or "loss"), as {(curve, replicate): (images,)}.
    None where there are no records or a completed run has none."""
    if not per_image:
        return None
    out = {}
    for _, r in runs.iterrows():
        if r["status"] != "completed":
            continue
        record = per_image.get((str(r["curve"]), int(r["replicate"])))
        if record is None:
            return None
        values = np.asarray(record[what], float)
        if values.ndim != 2 or len(values) < last_k:
            return None
        out[(str(r["curve"]), int(r["replicate"]))] = values[-last_k:].mean(0)
    return out


def curve_scores(scores: dict | None, runs, key: str) -> dict | None:
    """`run_scores` grouped by curve key (runs[key]): {key: (runs, images)}."""
    if scores is None:
        return None
    grouped: dict = {}
    for _, r in runs.iterrows():
        got = scores.get((str(r["curve"]), int(r["replicate"])))
        if got is not None:
            grouped.setdefault(r[key], []).append(got)
    return {k: np.stack(v) for k, v in grouped.items()}


def pair_terms(grouped: dict | None, keys: list, pairs) -> np.ndarray | None:
    """The disagreement term of each pair (i, j) of `keys` (a gap: weights 1, -1), or None where
    one cannot be estimated."""
    if grouped is None or any(k not in grouped for k in keys):
        return None
    out = []
    for i, j in pairs:
        v = image_variance([grouped[keys[i]], grouped[keys[j]]], [1.0, -1.0])
        if v is None:
            return None
        out.append(v)
    return np.array(out)


def per_curve(terms, weight: float) -> float | None:
    """The disagreement as the variance it adds to one curve's mean, V / N, from a contrast's
    terms (one per pair or one for a trend), each sum_c w_c^2 V / N under curves that disagree
    alike (`weight`: sum_c w_c^2, 2 for a gap): their mean over `weight`. What the plan draws a
    pilot's disagreement with (paperlib.paper.plan); None where there are no terms."""
    if terms is None:
        return None
    terms = np.asarray(terms, float)
    return float(np.mean(terms)) / weight if terms.size and np.isfinite(terms).all() else None
