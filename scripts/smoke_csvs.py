"""Every figure of a profile trained through run_figure, its rows and run summaries written as CSV:
what a refactor must leave byte for byte as it was.

    python scripts/smoke_csvs.py OUT [--profile smoke] [--figures fig1a,fig8a] [--fuse off]
    cmp -s before/fig8a.csv after/fig8a.csv   # or: diff -r before after

Each figure writes OUT/<figure>.csv (the tidy rows, as the notebooks save them) and
OUT/<figure>_runs.csv (one summary row per run, without its wall time, which no two runs share).
Runs keep no folders, so nothing is reloaded: every run trains. CIFAR-10 comes from
$PAPERLIB_DATA (the smoke profile's 1,000 training and 500 test images); `--dataset synthetic`
needs no files.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    from paperlib import io
    from paperlib.paper.notebook import make_splits
    from paperlib.paper.profiles import FIGURES
    from paperlib.paper.replicate import Execution, run_figure

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--figures", default=",".join(FIGURES))
    parser.add_argument("--fuse", default="auto")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args(argv)
    for figure in args.figures.split(","):
        started = time.perf_counter()
        dataset = args.dataset
        splits = make_splits(dataset, figure, profile=args.profile, device="cpu")
        result = run_figure(figure, splits, profile=args.profile, log=lambda line: None,
                            execution=Execution(fuse=args.fuse, precision=args.precision))
        io.write_csv(args.out / f"{figure}.csv", result.metrics)
        io.write_csv(args.out / f"{figure}_runs.csv", result.runs.drop(columns=["wall_s"]))
        print(f"{figure}: {len(result.metrics)} rows, {len(result.runs)} runs, "
              f"{time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
