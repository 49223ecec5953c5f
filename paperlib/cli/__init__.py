"""Command line: `python -m paperlib <command> ...`.

The only place that knows both the library and the replication: the library's commands
(library.py: schedule, lr-find, train), the paper's (paper.py: figure, estimate, plan, report)
and Smith's recipe on a model of the library's (recipe.py). Nothing heavy is imported until a
command runs, so `--help` answers at once. Bad input of any kind exits with status 2 and one
line on stderr that names the problem and the fix.
"""
from __future__ import annotations

import argparse
import signal
import sys

from ..errors import PaperlibError
from . import library, paper, recipe
from .args import Parser

EXIT_USAGE = 2
DESCRIPTION = """\
paperlib: Smith (2018), "A disciplined approach to neural network hyper-parameters: Part 1"
(arXiv 1803.09820), as a library and a replication.

  library:     schedule, lr-find, train
  replication: figure, estimate, plan, report
  your model:  recipe

`python -m paperlib <command> --help` lists a command's flags and what each accepts."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m paperlib", description=DESCRIPTION,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser,
                                metavar="command")
    library.add_parsers(sub)
    paper.add_parsers(sub)
    recipe.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except PaperlibError as e:
        print(f"paperlib: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", None)
        if signum is not None:  # a run stopped at a step boundary, its checkpoint written
            print(f"paperlib: {e}", file=sys.stderr)
            return 128 + signum
        print("paperlib: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
