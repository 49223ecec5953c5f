"""The README's tables, from what the code computes (nothing typed in): the results table from
the claims CSVs the notebooks wrote, with Holm's adjustment over all of them and the family-wise
chance at the table's size, and the plan's table for a profile.

    python scripts/claims_markdown.py [figures/]                    # one row per claim and verdict
    python scripts/claims_markdown.py --plan paper [HOURS] [RATE]   # runs that decide each claim,
                                                                    # and the budget's fresh seeds
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd


def _cell(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(
        value).replace("|", "/")


def claims(folder: str = "figures") -> int:
    from paperlib.paper.claims import claims_table, multiplicity
    paths = sorted(Path(folder).glob("*_claims.csv"))
    if not paths:
        print(f"no *_claims.csv in {folder}: run the notebooks first (make figures)", file=sys.stderr)
        return 2
    frames = [pd.read_csv(p, keep_default_na=False, na_values=[""]).assign(notebook=p.name[:2])
              for p in paths]
    rows = pd.concat(frames, ignore_index=True)
    # Holm over every claim of every notebook: the family is the whole table
    keep = [c for c in rows.columns if c not in ("p_holm", "holm")]
    table = claims_table(rows[keep].to_dict("records"))
    table["notebook"] = rows["notebook"].to_numpy()
    print("| notebook | claim | paper | ours | effect (95% interval; Smith's value) | "
          "power at these runs | runs against the plan lock | verdict | after Holm (all claims) "
          "|\n|---|---|---|---|---|---|---|---|---|")
    for r in table.itertuples():
        cells = [r.notebook, r.claim, r.paper, r.ours, getattr(r, "effect", ""),
                 getattr(r, "power", ""), getattr(r, "runs", ""), f"**{r.verdict}**",
                 getattr(r, "holm", "")]
        print("| " + " | ".join(_cell(c) for c in cells) + " |")
    print()
    print(multiplicity(table))
    return 0


def plan(profile: str, hours: str | None = None, rate: str | None = None) -> int:
    from paperlib.paper import plan as P
    from paperlib.paper.profiles import PAPER_BUDGET_HOURS, PAPER_RATE
    hours, rate = hours or PAPER_BUDGET_HOURS, rate or PAPER_RATE  # the paper profile's plan
    table = P.plan(profile, budget_hours=float(hours),
                   seconds_per_image=lambda figure: 1 / float(rate))
    print("| claim | Smith's effect | one run's noise (source; 95% interval, and the runs per "
          "curve at its ends) | drawn with | runs per curve now: power under Smith's numbers | "
          "runs per curve for 80% power | what they cost |\n|---|---|---|---|---|---|---|")
    for r in table.itertuples():
        now = f"{r.n_profile}: " + ("-" if pd.isna(r.power_profile) else f"{r.power_profile:.2f}")
        if r.alt and not pd.isna(r.power_alt_profile):
            now += f" ({r.power_alt_profile:.2f} under {r.alt})"
        n80 = "-" if pd.isna(r.n_80) else f"{int(r.n_80)} (power {r.power_n_80:.2f})"
        if r.alt and not pd.isna(r.n_80_alt):
            n80 += f"; under {r.alt}: {int(r.n_80_alt)}"
        cells = [f"{r.claim}: {r.statement}", r.effect, P.noise_text(r), r.conditions or "-",
                 now, n80, r.decision]
        print("| " + " | ".join(_cell(c) for c in cells) + " |")
    from paperlib.paper.profiles import PILOT_SEEDS
    print()
    print(P.describe_plan(table, start={f: PILOT_SEEDS for f in table["figure"]},
                          least=P.LEAST_SEEDS).splitlines()[-1])
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    raise SystemExit(plan(*args[1:]) if args[:1] == ["--plan"] else claims(*args))
