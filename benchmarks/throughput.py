"""Training throughput: paperlib's `fit` against a bare loop and the textbook pipeline.

Three ways to train the same model with the same optimizer, batch size and device, timed
side by side so their ratios hold on a noisy machine:

  fit       paperlib.engine.fit with its defaults: schedules written each step, batches sliced and
            augmented on the device (random crop with 4-pixel zero padding + flip), channels_last,
            losses read every 50 steps.
  bare      the same model, optimizer and memory format over batches already on the device, no
            augmentation, no schedule, no logging: the ceiling for this model on this device.
  textbook  what one would otherwise write: a CIFAR dataset with PIL transforms (RandomCrop(32,
            padding=4), RandomHorizontalFlip, ToTensor, Normalize), a DataLoader with workers and
            pinned memory, OneCycleLR, the running loss read with .item() every step, and the
            default memory format.

Each method runs `--steps` steps per repeat after its own warm-up; the repeats are interleaved
(fit, bare, textbook, fit, ...) and the median images/s is reported. The last line printed is one
JSON object (fit_img_s, bare_img_s, textbook_img_s, fit_over_bare, fit_over_textbook, ...).

    python benchmarks/throughput.py                      # CPU, resnet20, batch 128 (~2-3 min)
    python benchmarks/throughput.py --device cuda --model resnet56 --batch-size 512 [--compile]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from paperlib.data import DeviceLoader, NormStats, load_split, synthetic_split
from paperlib.errors import PaperlibError
from paperlib.experiment import make_model
from paperlib.provenance import device_name
from paperlib.schedules import one_cycle
from paperlib.device import resolve_device, resolve_precision
from paperlib.engine import Compute, Every, fit


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                           weight_decay=1e-4)


class FitMethod:
    """paperlib's loop: one `fit` call per timed block."""

    def __init__(self, args, split, stats, device):
        self.args, self.device = args, device
        self.model = make_model(args.model, seed=0, device=device)
        self.loader = DeviceLoader(split, args.batch_size, stats=stats, device=device,
                                   augment="crop-flip", channels_last=True, seed=0)
        self.optimizer = _optimizer(self.model)
        self.lr, self.momentum = one_cycle("smith", 0.08, 0.8, 1000, 2500, mom_max=0.95,
                                           mom_min=0.85)
        self.offset = 0

    def run(self, steps: int) -> None:
        # Each block continues where the last stopped, as one long run would.
        shift = self.offset
        fit(self.model, _Shifted(self.loader, shift), steps=steps,
            lr=lambda s: self.lr(s + shift), momentum=lambda s: self.momentum(s + shift),
            weight_decay=1e-4, optimizer=self.optimizer, every=Every(log=min(50, steps)),
            compute=Compute(self.args.precision, compile=self.args.compile), progress=False)
        self.offset += steps


class _Shifted:
    def __init__(self, loader, shift):
        self.loader, self.shift = loader, shift

    def batch(self, step):
        return self.loader.batch(step + self.shift)


class BareMethod:
    """Forward, backward, step over pre-built device batches: nothing else."""

    def __init__(self, args, split, stats, device):
        self.device = device
        self.model = make_model(args.model, seed=0, device=device)
        self.model.to(memory_format=torch.channels_last)
        self.step_model = torch.compile(self.model) if args.compile else self.model
        self.optimizer = _optimizer(self.model)
        loader = DeviceLoader(split, args.batch_size, stats=stats, device=device,
                              augment="none", channels_last=True, seed=0)
        self.batches = [loader.batch(i) for i in range(min(8, loader.steps_per_epoch))]
        self.bf16 = args.precision == "bf16"
        self.i = 0

    def run(self, steps: int) -> None:
        for _ in range(steps):
            x, y = self.batches[self.i % len(self.batches)]
            self.i += 1
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                loss = F.cross_entropy(self.step_model(x).float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()


class TextbookMethod:
    """torchvision-style dataset + PIL transforms + DataLoader workers + OneCycleLR."""

    def __init__(self, args, split, stats, device):
        from PIL import Image
        from torchvision import transforms

        self.device = device
        self.model = make_model(args.model, seed=0, device=device)
        self.step_model = torch.compile(self.model) if args.compile else self.model
        self.optimizer = _optimizer(self.model)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(self.optimizer, max_lr=0.8,
                                                             total_steps=10**6)
        transform = transforms.Compose([
            transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
            transforms.ToTensor(), transforms.Normalize(stats.mean, stats.std)])

        class CifarDataset(torch.utils.data.Dataset):
            def __len__(self):
                return len(split.labels)

            def __getitem__(self, i):
                return transform(Image.fromarray(split.images[i])), int(split.labels[i])

        self.loader = torch.utils.data.DataLoader(
            CifarDataset(), batch_size=args.batch_size, shuffle=True, drop_last=True,
            num_workers=args.workers, pin_memory=device.type == "cuda",
            persistent_workers=args.workers > 0)
        self.iterator = iter(self.loader)
        self.bf16 = args.precision == "bf16"
        self.running_loss = 0.0

    def run(self, steps: int) -> None:
        for _ in range(steps):
            try:
                x, y = next(self.iterator)
            except StopIteration:
                self.iterator = iter(self.loader)
                x, y = next(self.iterator)
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                loss = F.cross_entropy(self.step_model(x).float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            self.running_loss += loss.item()


METHODS = {"fit": FitMethod, "bare": BareMethod, "textbook": TextbookMethod}


def _data(args):
    try:
        split = load_split(args.dataset, "train")
        return split, split.label
    except PaperlibError as e:
        print(f"note: {e}; using synthetic images", file=sys.stderr)
        split = synthetic_split(10_000)
        return split, "synthetic"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per repeat")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps per method")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="textbook DataLoader workers")
    parser.add_argument("--precision", default="auto", help="auto (bf16 on CUDA), fp32, bf16")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--methods", default="fit,bare,textbook")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    args.precision = resolve_precision(args.precision, device)  # once: "fp32" or "bf16"
    cuda = device.type == "cuda"
    args.steps = args.steps or (100 if cuda else 20)
    args.warmup = args.warmup if args.warmup is not None else (20 if cuda else 3)
    if cuda:
        torch.backends.cudnn.benchmark = True

    split, data_label = _data(args)
    stats = NormStats.from_split(split)
    names = args.methods.split(",")
    methods = {}
    for name in names:
        methods[name] = METHODS[name](args, split, stats, device)
        methods[name].run(args.warmup)
        _sync(device)

    times = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:  # interleaved, so drifts in machine load hit every method alike
            _sync(device)
            start = time.perf_counter()
            methods[name].run(args.steps)
            _sync(device)
            times[name].append(time.perf_counter() - start)

    img_s = {n: args.steps * args.batch_size / statistics.median(t) for n, t in times.items()}
    print(f"{'method':<10} {'images/s':>10} {'median s':>9}   all repeats (s)")
    for n in names:
        print(f"{n:<10} {img_s[n]:>10.1f} {statistics.median(times[n]):>9.3f}   "
              + " ".join(f"{t:.3f}" for t in times[n]))
    result = {
        "fit_img_s": round(img_s.get("fit", float("nan")), 1),
        "bare_img_s": round(img_s.get("bare", float("nan")), 1),
        "textbook_img_s": round(img_s.get("textbook", float("nan")), 1),
        "fit_over_bare": round(img_s.get("fit", np.nan) / img_s.get("bare", np.nan), 3),
        "fit_over_textbook": round(img_s.get("fit", np.nan) / img_s.get("textbook", np.nan), 3),
        "device": device_name(device), "model": args.model, "batch_size": args.batch_size,
        "precision": args.precision,
        "compile": args.compile,
        "steps_per_repeat": args.steps, "repeats": args.repeats, "workers": args.workers,
        "data": data_label, "torch": torch.__version__,
    }
    if cuda:
        result["fit_epoch_s"] = round(50_000 / result["fit_img_s"], 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
