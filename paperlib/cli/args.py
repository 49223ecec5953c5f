"""What every command's flags share: a parser that fails in one line, value types that name the
flag, and the flag groups several commands take (data and model, schedule, execution).

Why here: a bad value must be refused at parse time, before a dataset is loaded or a folder
touched, with one line that names the flag and what it accepts; every group lists its choices
in its help, so `--help` is the reference.
"""
from __future__ import annotations

import argparse

from ..errors import ConfigError
from . import choices as C


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage block
        raise ConfigError(f"{message} (see '{self.prog} --help')")


def int_in(low: int, high: int | None = None):
    """An argparse type: an integer in [low, high)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value >= high):
            bound = f">= {low}" if high is None else f"in [{low}, {high})"
            raise argparse.ArgumentTypeError(f"{value} must be {bound}")
        return value
    return parse


positive_int = int_in(1)
nonneg_int = int_in(0)
seed = int_in(0, 2**32)


def number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def nonneg_number(text: str) -> float:
    value = number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value


def one_of(names) -> str:
    return ", ".join(names)


def schedule_flags(p: argparse.ArgumentParser, *, with_total: bool) -> None:
    g = p.add_argument_group("schedule")
    g.add_argument("--style", choices=C.ONE_CYCLE_STYLES, default="smith",
                   help="1cycle style: smith (Smith's Caffe code: lr to 0, then lr_min/1000) or "
                        "three-phase (min -> max -> min, then annihilation; default: smith)")
    g.add_argument("--lr", type=nonneg_number, help="lr of the constant and multistep schedules")
    g.add_argument("--lr-min", type=nonneg_number,
                   help="lowest lr of one-cycle, triangular, linear and exp")
    g.add_argument("--lr-max", type=nonneg_number,
                   help="highest lr of one-cycle, triangular, linear and exp")
    g.add_argument("--step-size", type=positive_int,
                   help="half a cycle, in steps (one-cycle, triangular)")
    if with_total:
        g.add_argument("--total", type=positive_int, required=True,
                       help="number of steps the schedule covers")
    g.add_argument("--final-lr", type=nonneg_number,
                   help="three-phase only: lr at the last step (default: lr_min/1000)")
    g.add_argument("--milestones", type=positive_int, nargs="*", default=[],
                   help="multistep: steps at which the lr is multiplied by --gamma")
    g.add_argument("--gamma", type=number, default=0.1,
                   help="multistep: factor at each milestone (default: 0.1)")
    g.add_argument("--momentum", type=number, default=0.9,
                   help="constant momentum, unless --mom-max/--mom-min are given (default: 0.9)")
    g.add_argument("--mom-max", type=number,
                   help="cyclical momentum: its value at the start and end of a cycle")
    g.add_argument("--mom-min", type=number,
                   help="cyclical momentum: its value at the lr's peak")


def data_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data and model")
    g.add_argument("--dataset", choices=C.DATASETS, default="cifar10",
                   help=f"one of {one_of(C.DATASETS)} (synthetic needs no files; default: "
                        "cifar10, found under $PAPERLIB_DATA)")
    g.add_argument("--model", choices=C.MODELS, default="resnet20", metavar="MODEL",
                   help=f"one of {one_of(C.MODELS)} (default: resnet20)")
    g.add_argument("--init", choices=C.INITS, default="msra",
                   help="weight initialisation (default: msra)")
    g.add_argument("--batch-size", type=positive_int, default=128,
                   help="images per step (default: 128)")
    g.add_argument("--bn-shards", type=positive_int, default=1, metavar="S",
                   help="BatchNorm statistics per S equal shards of each batch, as in Smith's "
                   "S-GPU runs (4, or 8 for Fig 5); --batch-size must be a multiple of S")
    g.add_argument("--subset", type=positive_int,
                   help="train on a stratified subset of N images (default: all)")
    g.add_argument("--test-subset", type=positive_int,
                   help="evaluate on a fixed stratified subset of N test images (default: all)")
    g.add_argument("--augment", choices=C.AUGMENTATIONS, default="crop-flip",
                   help="crop-flip (torchvision's), flip (Smith's Caffe layer) or none "
                        "(default: crop-flip)")
    g.add_argument("--normalize", choices=C.NORMALIZATIONS, default="channel",
                   help="channel (mean/std) or mean-image (Caffe) (default: channel)")
    g.add_argument("--optimizer", choices=C.OPTIMIZERS, default="sgd",
                   help="sgd and nesterov (PyTorch's rule) or caffe-sgd and caffe-nesterov "
                        "(Smith's: lr inside the velocity) (default: sgd)")
    g.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="keep the default NCHW memory format instead of channels_last")
    g.add_argument("--seed", type=seed, default=0,
                   help="initial weights, data order and augmentation (default: 0)")
    g.add_argument("--eval-every", type=nonneg_int, default=None,
                   help="evaluate on the test set every N steps (0: only at the end; default: "
                   "20 times over lr-find, only at the end of train)")
    g.add_argument("--progress", action="store_true", help="show a progress bar")
    device_flags(p)


def device_flags(p: argparse.ArgumentParser, *, fuse: bool = False) -> None:
    g = p.add_argument_group("device and execution")
    g.add_argument("--device", default="auto",
                   help="auto (cuda if present), cpu, cuda or cuda:N (default: auto)")
    g.add_argument("--precision", choices=C.PRECISIONS, default="auto",
                   help="auto (bf16 on CUDA and on CPUs with native bf16, else fp32), fp32 "
                        "(Smith's arithmetic) or bf16 (default: auto)")
    if fuse:
        g.add_argument("--fuse", choices=C.FUSE, default="auto",
                       help="train runs that can share a model as one stacked model: auto (on "
                            "CUDA only), on or off (default: auto)")
        g.add_argument("--capture", choices=C.CAPTURE, default="auto",
                       help="record each step as one CUDA graph: auto (on CUDA) or off "
                            "(default: auto)")


def profile_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", required=True, choices=C.PROFILES,
                   help="smoke (CI, minutes), small (a CPU, under 30 min per notebook) or paper "
                        "(SETTINGS.md, a GPU)")
