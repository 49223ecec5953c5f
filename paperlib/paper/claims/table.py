"""The claims rows as a table and as text.

Separate because the notebooks and the tests show the rows that figures.py makes, and how they
are laid out is not a rule: a change to how a table reads stays away from every verdict.
"""
from __future__ import annotations

import pandas as pd


def claims_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["claim", "paper", "ours", "verdict"])


def format_claims(table: pd.DataFrame) -> str:
    """The claims as text blocks, one per claim, with no column padding, so that a check on the
    text does not depend on the widths of the numbers."""
    return "\n".join(f"[{r.verdict}] {r.claim}\n    paper: {r.paper}\n    ours:  {r.ours}"
                     for r in table.itertuples())
