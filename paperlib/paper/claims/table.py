"""The claims rows as a table and as text, and what a table of several verdicts says about chance:
the family-wise error at its size and Holm's adjustment (`holm`, `multiplicity`).

Separate because the notebooks and the tests show the rows that figures.py makes, and how they
are laid out is not a rule: a change to how a table reads stays away from every verdict. The
multiplicity statement is here because it belongs to a table, not to a claim: nine claims each
held to 5% give, with no effect anywhere, a decisive word somewhere in up to 1 - 0.95^9 = 37% of
tables.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .figures import ROW_COLUMNS
from .rules import ALPHA, NOT_TESTABLE

EXPLORATORY = "exploratory"  # what plan.review writes of runs the plan lock did not fix

FAMILY_ALPHA = 2 * ALPHA  # a claim's two directions together
REVIEW_COLUMNS = ("power", "runs", "holm")


def claims_table(rows: list[dict]) -> pd.DataFrame:
    """The rows as a DataFrame: the row columns, then any review columns (plan.review) they hold,
    with Holm's adjustment over the table's testable claims (`holm`): over the locked ones and,
    apart, over the exploratory ones (a `runs` column saying "exploratory"), so that an
    exploratory verdict never enters the confirmatory family."""
    columns = list(ROW_COLUMNS) + [c for c in REVIEW_COLUMNS if any(c in r for r in rows)]
    table = pd.DataFrame(rows, columns=columns)
    if "p" in table and len(table):
        apart = exploratory(table)
        p = table["p"].astype(float).to_numpy()
        adjusted = np.full(len(table), math.nan)
        for family in (apart, ~apart):
            if family.any():
                adjusted[family] = holm(p[family])
        table["p_holm"] = adjusted
        table["holm"] = [_after_holm(v, q, e) for v, q, e in
                         zip(table["verdict"], table["p_holm"], apart)]
    return table


def exploratory(table: pd.DataFrame) -> np.ndarray:
    """Which rows are exploratory: their `runs` column (plan.review) says so."""
    if "runs" not in table:
        return np.zeros(len(table), bool)
    return table["runs"].astype(str).str.startswith(EXPLORATORY).to_numpy()


def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values of the claims with a p (NaN: not testable, left NaN):
    sorted ascending, the j-th smallest of m times (m - j + 1), kept non-decreasing, capped at 1.
    A claim is decisive after Holm where its adjusted p is below 5%; the chance of any wrong
    decisive word in the table, with no effect anywhere, is then at most 5% whatever the
    dependence between claims (claims that share runs included)."""
    p = np.asarray(p, float)
    out = np.full(p.shape, math.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    running = 0.0
    for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def _after_holm(verdict: str, p_holm: float, apart: bool = False) -> str:
    base = verdict.split(" (")[0]
    if base == NOT_TESTABLE or math.isnan(p_holm):
        return "-"
    family = f"{EXPLORATORY}, " if apart else ""
    if base in ("reproduced", "contradicted") and p_holm < FAMILY_ALPHA:
        return f"{base} ({family}adjusted p {p_holm:.3g})"
    return f"inconclusive ({family}adjusted p {p_holm:.3g})"


def multiplicity(table: pd.DataFrame) -> str:
    """What this table's size does to chance: each claim's error, the family-wise chance with no
    effect anywhere, and what Holm's column does about it; exploratory claims counted apart."""
    testable = (table["verdict"] != NOT_TESTABLE).to_numpy() if len(table) else np.zeros(0, bool)
    apart = exploratory(table) & testable
    family = int((testable & ~apart).sum())
    if not testable.any():
        return ("multiplicity: no claim in this table is testable, so there is no chance of a "
                "wrong decisive word to state")
    shared = sorted({k for k, s in zip(table["key"], table.get("shares_runs_with", []))
                     if isinstance(s, str) and s})
    size = family or int(apart.sum())
    kind = "" if "runs" not in table else " locked" if family else f" {EXPLORATORY}"
    text = (f"multiplicity: {size} testable{kind} claim(s), each with at most "
            f"{FAMILY_ALPHA:.0%} chance of a decisive word when it has no effect ({ALPHA:.1%} "
            f"each way); with no effect anywhere, the chance of at least one is up to "
            f"{1 - (1 - FAMILY_ALPHA) ** size:.0%} for independent claims (at most "
            f"{min(1.0, size * FAMILY_ALPHA):.0%} in any case); Holm's adjusted column keeps "
            f"it at {FAMILY_ALPHA:.0%}")
    if family and apart.any():
        text += (f"; {int(apart.sum())} exploratory claim(s) are adjusted among themselves, "
                 f"outside that family")
    elif not family and "runs" in table:
        text += "; none of them is as locked, so none is confirmatory"
    if shared:
        text += (f"; {', '.join(shared)} read the same runs, so their verdicts are not "
                 f"independent (Holm holds whatever the dependence)")
    return text


def format_claims(table: pd.DataFrame) -> str:
    """The claims as text blocks, one per claim, with no column padding, so that a check on the
    text does not depend on the widths of the numbers; the multiplicity statement last."""
    blocks = []
    for r in table.itertuples():
        lines = [f"[{r.verdict}] {r.claim}", f"    paper: {r.paper}", f"    ours:  {r.ours}"]
        if getattr(r, "effect", ""):
            inside = {"yes": "", "no": " (Smith's value outside)"}.get(r.smith_inside, "")
            lines.append(f"    effect: {r.effect}{inside}")
        for name in ("power", "runs", "holm"):
            value = getattr(r, name, None)
            if isinstance(value, str) and value:
                lines.append(f"    {name}: {value}")
        if isinstance(getattr(r, "shares_runs_with", None), str) and r.shares_runs_with:
            lines.append(f"    shares runs with: {r.shares_runs_with}")
        blocks.append("\n".join(lines))
    if "p" in table and len(table):
        blocks.append(multiplicity(table))
    return "\n".join(blocks)
