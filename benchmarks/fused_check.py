"""Fused runs against the same runs apart: does a fused member train as it would alone?

Four members (gresnet56 with its Caffe multipliers and projection shortcuts, BN shards 4,
Caffe Nesterov, each with its own seed, data order, 1cycle lr range, cyclical momentum and weight
decay) train for --steps steps twice, one step per call, each member with its own optimizer
object kept from call to call: fused (paperlib.engine.fit_many with fuse on: the stacked
stepper) and apart (paperlib.engine.fit: a run's own eager step).

Why the comparison is made step by step: these runs amplify any difference in rounding. Scaling
every initial weight by (1 + 1e-7 * noise), a change at the level of fp32 rounding, moved the
training loss of a resnet8 1cycle run by 1e-3 after 16 steps and 1e-2 after 30, in fp32 and in
fp64 alike (measured on CIFAR-10, batch 64). A grouped convolution sums in another order than a
plain one, so two free-running fp32 runs drift apart as two seeds of rounding would. So after
every step the fused members are compared with the apart ones (loss, and every parameter and BN
buffer), and then set to the apart members' state (weights, buffers, velocities), so the next
step starts from the same point: every one of the --steps steps tests the fused step in fp32,
with the schedules, momentum and weight decay of that step. With --free-running the drift of
runs left to themselves is printed too, beside the drift that a 1e-7 perturbation of the apart
runs' initial weights causes (the runs' own sensitivity), for scale.

Last line: JSON {"members", "steps", "max_rel_diff_loss", "max_rel_diff_params", ...}; the exit
status is 1 if either step-by-step maximum is above --tolerance (1e-4). Relative differences are
|a - b| / |a| for losses, and ||a - b|| / ||a|| over all of a member's parameters for parameters:
per tensor, a BN shift's gradient is a sum that nearly cancels, and its fp32 relative error after
one step reached 7e-4 with no fault in either path (in fp64 the two agree to 1e-8 per tensor;
tests/test_fused.py checks every tensor that way).

    python benchmarks/fused_check.py                 # CPU, fp32, 50 steps: about 2 min on 2 cores
    python benchmarks/fused_check.py --steps 8       # what `make test` runs: every step still compared
    python benchmarks/fused_check.py --free-running  # and the drift of runs left to themselves
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time

import torch

from paperlib.data import DeviceLoader, NormStats, synthetic_split
from paperlib.experiment import make_model
from paperlib.engine import Compute, Every, Execution, Job, fit, fit_many
from paperlib.models import param_groups
from paperlib.optim import make_optimizer
from paperlib.schedules import one_cycle


def _jobs(args, split, stats, perturb: float = 0.0) -> list[Job]:
    jobs = []
    for i in range(args.members):
        model = make_model(args.model, seed=i, bn_shards=args.bn_shards)
        if perturb:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(1000 + i)
                for p in model.parameters():
                    p.mul_(1 + perturb * torch.randn_like(p))
        lr_max = args.lr_max * (1 + i) / args.members
        lr, mom = one_cycle("smith", lr_max / 10, lr_max, args.steps // 2, args.steps,
                            mom_max=0.95, mom_min=0.85)
        train = DeviceLoader(split, args.batch_size, stats=stats, augment="crop-flip", seed=i)
        jobs.append(Job(model=model, train=train, steps=args.steps, lr=lr, momentum=mom,
                        weight_decay=1e-4 * (1 + i), optimizer="caffe-nesterov",
                        every=Every(log=args.steps), compute=Compute("fp32")))
    return jobs


FUSED = Execution(precision="fp32", fuse="on", capture="off")


class _Shifted:
    """A loader whose step 0 is the inner loader's step `shift`."""

    def __init__(self, loader, shift):
        self.loader, self.shift, self.batch_size = loader, shift, loader.batch_size

    def batch(self, step):
        return self.loader.batch(step + self.shift)


def _one_step(job: Job, optimizer, step: int) -> Job:
    """Step `step` of `job` as a run of its own (its schedules shifted), with `optimizer`."""
    return Job(model=job.model, train=_Shifted(job.train, step), steps=1,
               lr=lambda s, f=job.lr: f(s + step),
               momentum=lambda s, f=job.momentum: f(s + step), weight_decay=job.weight_decay,
               optimizer=optimizer, every=Every(log=1), compute=job.compute)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / a.norm().clamp_min(1e-30))


def step_by_step(args, split, stats) -> tuple[float, float]:
    """Max relative differences over every step, each step started from the apart state."""
    apart, fused = _jobs(args, split, stats), _jobs(args, split, stats)

    def optimizers(jobs):
        return [make_optimizer(job.optimizer, param_groups(job.model), lr=job.lr(0),
                               momentum=job.momentum(0)) for job in jobs]
    apart_optimizers, fused_optimizers = optimizers(apart), optimizers(fused)
    worst_loss = worst_params = 0.0
    for step in range(args.steps):
        # fit itself, one step per call, continuing with the same optimizer object
        losses = [float(fit(job.model, _Shifted(job.train, step), steps=1,
                            lr=lambda s, f=job.lr: f(s + step),
                            momentum=lambda s, f=job.momentum: f(s + step),
                            weight_decay=job.weight_decay, every=Every(log=1),
                            compute=Compute("fp32"), optimizer=optimizer,
                            progress=False).train["loss"].iloc[0])
                  for job, optimizer in zip(apart, apart_optimizers)]
        # the same step fused: one stacked group, each member's state handed back to its own
        # model and optimizer when the call ends
        results = fit_many([_one_step(job, optimizer, step)
                            for job, optimizer in zip(fused, fused_optimizers)], FUSED)
        if {r.info["stepper"] for r in results} != {"stacked"}:
            raise SystemExit(f"step {step}: the members did not train fused "
                             f"({sorted({r.info['stepper'] for r in results})})")
        for i, job in enumerate(apart):
            fused_loss = float(results[i].train["loss"].iloc[0])
            worst_loss = max(worst_loss, abs(losses[i] - fused_loss) / abs(losses[i]))
            names = [name for name, _ in job.model.named_parameters()]
            state, fused_state = job.model.state_dict(), fused[i].model.state_dict()
            worst_params = max(worst_params, _rel(torch.cat([state[n].flatten() for n in names]),
                                                  torch.cat([fused_state[n].flatten()
                                                             for n in names])))
        _resync(fused, fused_optimizers, apart, apart_optimizers)
    return worst_loss, worst_params


@torch.no_grad()
def _resync(fused, fused_optimizers, apart, apart_optimizers) -> None:
    """Set the fused members to the apart members' state (weights, buffers, velocities)."""
    for job, optimizer, source, source_optimizer in zip(fused, fused_optimizers, apart,
                                                        apart_optimizers):
        job.model.load_state_dict(source.model.state_dict())
        # a copy: load_state_dict would share the velocity tensors, which the apart run's next
        # step updates in place
        optimizer.load_state_dict(copy.deepcopy(source_optimizer.state_dict()))


def free_running(args, split, stats) -> dict:
    """Final-step loss drift of fused against apart, and of apart against perturbed apart."""
    def final_losses(results):
        return [float(r.train["loss"].iloc[-1]) for r in results]

    alone = Execution(precision="fp32", fuse="off")
    apart = final_losses(fit_many(_jobs(args, split, stats), alone))
    fused = final_losses(fit_many(_jobs(args, split, stats), FUSED))
    nudged = final_losses(fit_many(_jobs(args, split, stats, perturb=1e-7), alone))
    drift = max(abs(a - b) / abs(a) for a, b in zip(apart, fused))
    reference = max(abs(a - b) / abs(a) for a, b in zip(apart, nudged))
    return {"free_running_rel_diff_final_loss": drift,
            "perturbed_1e-7_rel_diff_final_loss": reference}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="gresnet56")
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--bn-shards", type=int, default=4)
    ap.add_argument("--lr-max", type=float, default=0.1)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--free-running", action="store_true",
                    help="also train both ways without resyncing, and apart runs nudged by 1e-7")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    # a learnable synthetic CIFAR-shaped task: the check needs no data files, so it runs anywhere
    split = synthetic_split(2000, seed=0)
    stats = NormStats.from_split(split)
    loss_diff, param_diff = step_by_step(args, split, stats)
    print(f"step by step over {args.steps} steps: max rel diff loss {loss_diff:.2e}, "
          f"params {param_diff:.2e}", flush=True)
    drift = free_running(args, split, stats) if args.free_running else {}
    if drift:
        print(f"free running, final step: fused vs apart "
              f"{drift['free_running_rel_diff_final_loss']:.2e}; apart vs apart with weights "
              f"nudged by 1e-7 "
              f"{drift['perturbed_1e-7_rel_diff_final_loss']:.2e}", flush=True)
    ok = loss_diff <= args.tolerance and param_diff <= args.tolerance
    print(json.dumps({"members": args.members, "steps": args.steps,
                      "max_rel_diff_loss": loss_diff, "max_rel_diff_params": param_diff,
                      **drift, "model": args.model, "batch_size": args.batch_size,
                      "bn_shards": args.bn_shards, "precision": "fp32",
                      "tolerance": args.tolerance, "passed": ok,
                      "wall_s": round(time.perf_counter() - started, 1)}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
