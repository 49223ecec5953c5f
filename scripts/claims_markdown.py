"""The README's tables, from what the code computes (nothing typed in): the results table from
the claims CSVs the notebooks wrote, and the plan's table for a profile.

    python scripts/claims_markdown.py [figures/]                    # one row per claim and verdict
    python scripts/claims_markdown.py --plan paper [HOURS] [RATE]   # runs that decide each claim
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd


def claims(folder: str = "figures") -> int:
    paths = sorted(Path(folder).glob("*_claims.csv"))
    if not paths:
        print(f"no *_claims.csv in {folder}: run the notebooks first (make figures)", file=sys.stderr)
        return 2
    print("| notebook | claim | paper | ours | verdict |\n|---|---|---|---|---|")
    for path in paths:
        for row in pd.read_csv(path).itertuples():
            cells = [path.name[:2], row.claim, row.paper, row.ours, f"**{row.verdict}**"]
            print("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return 0


def plan(profile: str, hours: str | None = None, rate: str | None = None) -> int:
    from paperlib.paper import plan as P
    from paperlib.paper.profiles import PAPER_BUDGET_HOURS, PAPER_RATE
    hours, rate = hours or PAPER_BUDGET_HOURS, rate or PAPER_RATE  # the paper profile's plan
    table = P.plan(profile, budget_hours=float(hours),
                   seconds_per_image=lambda figure: 1 / float(rate))
    print("| claim | Smith's effect | one run's noise (source) | runs per curve now: power | "
          "runs per curve for 80% power | what they cost |\n|---|---|---|---|---|---|")
    for r in table.itertuples():
        noise = r.noise if pd.isna(r.sigma) else f"SD {r.sigma:.4f}: {r.noise}"
        now = f"{r.n_profile}: " + ("-" if pd.isna(r.power_profile) else f"{r.power_profile:.2f}")
        cells = [f"{r.claim}: {r.statement}", r.effect, noise, now,
                 "-" if pd.isna(r.n_80) else f"{int(r.n_80)} (power {r.power_n_80:.2f})",
                 r.decision]
        print("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    raise SystemExit(plan(*args[1:]) if args[:1] == ["--plan"] else claims(*args))
