"""The README's results table, from the claims CSVs the notebooks wrote (nothing typed in).

    python scripts/claims_markdown.py [figures/]   # prints a markdown table, one row per claim
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd


def main(folder: str = "figures") -> int:
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


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
