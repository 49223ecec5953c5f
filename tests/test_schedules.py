"""Schedules: closed-form values, the paper's parameterisations, Smith's own logs, PyTorch parity."""
from __future__ import annotations

import io
import json
import math
import os
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from paperlib.errors import ConfigError
from paperlib.schedules import (
    Schedule,
    ScheduledHParams,
    constant,
    cyclical_momentum,
    exp_range,
    linear_range,
    multistep,
    one_cycle,
    piecewise_linear,
    schedule_frame,
    schedule_from_description,
    set_hparams,
    triangular,
)

approx = pytest.approx


def _params():
    return [torch.nn.Parameter(torch.zeros(2))]


# ----------------------------------------------------------------------------------------------
# Values at knots and endpoints


def test_constant():
    schedule = constant(0.9)
    assert [schedule(s) for s in (0, 1, 10**9)] == [0.9, 0.9, 0.9]


def test_linear_range_endpoints_midpoint_and_hold():
    schedule = linear_range(0.1, 1.0, 11)
    assert schedule(0) == 0.1
    assert schedule(5) == approx(0.55)
    assert schedule(10) == approx(1.0)
    assert schedule(11) == 1.0 and schedule(10**6) == 1.0


def test_linear_range_single_step_gives_start_then_end():
    schedule = linear_range(0.1, 1.0, 1)
    assert schedule(0) == 0.1
    assert schedule(1) == 1.0


def test_exp_range_endpoints_geometric_midpoint_and_hold():
    schedule = exp_range(1e-4, 1.0, 5)
    assert schedule(0) == approx(1e-4)
    assert schedule(2) == approx(1e-2)
    assert schedule(4) == approx(1.0)
    assert schedule(5) == 1.0


def test_triangular_one_period():
    schedule = triangular(0.1, 0.5, 4)
    expected = [0.1, 0.2, 0.3, 0.4, 0.5, 0.4, 0.3, 0.2, 0.1, 0.2]
    assert [schedule(s) for s in range(10)] == approx(expected)


def test_multistep_drops_at_each_milestone():
    schedule = multistep(1.0, [3, 5], 0.5)
    assert [schedule(s) for s in range(7)] == approx([1, 1, 1, 0.5, 0.5, 0.25, 0.25])


def test_piecewise_linear_knots_between_and_outside():
    schedule = piecewise_linear([2, 4, 8], [1.0, 3.0, 1.0])
    assert schedule(0) == 1.0 and schedule(2) == 1.0
    assert schedule(3) == approx(2.0)
    assert schedule(4) == 3.0
    assert schedule(6) == approx(2.0)
    assert schedule(8) == 1.0 and schedule(100) == 1.0


def test_smith_one_cycle_knots():
    lr, momentum = one_cycle("smith", 0.1, 1.0, 10, 25)
    assert lr(0) == 0.1 and lr(5) == approx(0.55) and lr(10) == approx(1.0)
    assert lr(15) == approx(0.5)
    assert lr(20) == 0.0  # falls to zero, not to lr_min
    assert lr(21) == approx(1e-4) and lr(10**6) == approx(1e-4)
    assert momentum(0) == 0.95 and momentum(10) == approx(0.85) and momentum(20) == approx(0.95)
    assert momentum(30) == approx(0.90)  # second triangle has half the amplitude
    assert momentum(40) == approx(0.95)
    assert momentum(50) == approx(0.925)


def test_three_phase_one_cycle_knots():
    lr, momentum = one_cycle("three-phase", 0.1, 1.0, 10, 31, final_lr=0.001)
    assert lr(0) == 0.1 and lr(10) == 1.0 and lr(20) == 0.1 and lr(30) == 0.001
    assert lr(25) == approx(0.0505)
    assert lr(31) == 0.001
    assert momentum(0) == 0.95 and momentum(10) == 0.85 and momentum(20) == 0.95
    assert momentum(30) == 0.95 and momentum(1000) == 0.95


def test_three_phase_final_lr_defaults_to_lr_min_over_1000():
    lr, _ = one_cycle("three-phase", 0.2, 2.0, 5, 20)
    assert lr(19) == approx(0.2 / 1000)


def test_three_phase_with_no_room_for_the_final_phase_ends_at_lr_min():
    lr, _ = one_cycle("three-phase", 0.1, 1.0, 5, 11)
    assert lr(10) == 0.1 and lr(11) == 0.1


def test_cyclical_momentum_knots_in_both_directions():
    falling = cyclical_momentum(0.95, 0.85, 100)
    rising = cyclical_momentum(0.85, 0.95, 100)
    assert [falling(s) for s in (0, 50, 100, 150, 200, 300, 400, 500)] == approx(
        [0.95, 0.90, 0.85, 0.90, 0.95, 0.90, 0.95, 0.925]
    )
    assert [rising(s) for s in (0, 100, 200, 300)] == approx([0.85, 0.95, 0.85, 0.90])


def test_numpy_integer_steps_are_accepted():
    lr, momentum = one_cycle("smith", 0.1, 1.0, 10, 25)
    assert lr(np.int64(5)) == lr(5)
    assert momentum(np.int32(7)) == momentum(7)
    assert isinstance(lr(np.int64(5)), float)


@pytest.mark.parametrize("bad_step", [-1, 2.5, 3.0, "3", True])
def test_bad_steps_raise(bad_step):
    with pytest.raises(ConfigError, match="step"):
        constant(0.1)(bad_step)


# ----------------------------------------------------------------------------------------------
# The paper's parameterisations (SETTINGS.md §2-§4)


def test_fig5a_triangular_clr_0p1_to_3():
    lr = triangular(0.1, 3.0, 5000)
    assert lr(0) == 0.1
    assert lr(2500) == approx(1.55)
    assert lr(5000) == approx(3.0)
    assert lr(7500) == approx(1.55)
    assert lr(9999) == approx(0.1 + 2.9 / 5000)
    assert lr(10000) == approx(0.1)


def test_fig5a_multistep_baseline():
    lr = multistep(0.35, [50000, 70000], 0.1)
    assert lr(0) == 0.35 and lr(49999) == 0.35
    assert lr(50000) == approx(0.035) and lr(69999) == approx(0.035)
    assert lr(70000) == approx(0.0035) and lr(79999) == approx(0.0035)


def test_fig8a_one_cycle_and_prose():
    lr, decreasing = one_cycle("smith", 0.1, 1.0, 9000, 20000)
    # "cycling up from 0.1 to 1.0 in 9,000 iterations, then down to 0.001 at iteration 18,000";
    # the Caffe formula gives 0.001 at 17,991.
    assert lr(9000) == approx(1.0)
    assert lr(17991) == approx(0.001)
    assert lr(18000) == 0.0
    assert lr(18001) == approx(1e-4) and lr(19999) == approx(1e-4)
    assert decreasing == cyclical_momentum(0.95, 0.85, 9000)


def test_fig8a_three_momentum_curves():
    fixed = constant(0.9)
    decreasing = cyclical_momentum(0.95, 0.85, 9000)
    increasing = cyclical_momentum(0.85, 0.95, 9000)
    steps = (0, 4500, 9000, 13500, 18000, 19999)
    assert [fixed(s) for s in steps] == [0.9] * 6
    assert [decreasing(s) for s in steps[:5]] == approx([0.95, 0.90, 0.85, 0.90, 0.95])
    assert [increasing(s) for s in steps[:5]] == approx([0.85, 0.90, 0.95, 0.90, 0.85])
    # After the cycle the second, half-amplitude triangle has started.
    assert decreasing(19999) == approx(0.95 - 0.10 * (1999 / 9000) / 2)
    assert increasing(19999) == approx(0.85 + 0.10 * (1999 / 9000) / 2)


def test_fig15a_range_test_linear_lr_and_momentum_ramp():
    lr = linear_range(0.1, 1.0, 4882)
    momentum = linear_range(0.95, 0.85, 4882)
    assert lr(0) == 0.1 and lr(4881) == approx(1.0)
    assert momentum(0) == 0.95 and momentum(4881) == approx(0.85)
    assert momentum(2000) == approx(0.95 - 0.1 * 2000 / 4881)
    # Smith ran it as 1cycle with stepsize = max_iter: the same ramp, reaching the top one step later.
    smith_lr, smith_momentum = one_cycle("smith", 0.1, 1.0, 4882, 4882)
    assert smith_lr(4882) == approx(1.0) and smith_momentum(4882) == approx(0.85)
    assert smith_lr(2441) == approx(0.55) and smith_momentum(2441) == approx(0.90)


def test_settings_table_cifar100_tbs1024_run():
    lr, momentum = one_cycle("smith", 0.1, 1.2, 3417, 7080)
    assert lr(0) == 0.1 and momentum(0) == 0.95
    assert lr(3500) == approx(1.1709, abs=5e-5)
    assert momentum(3500) == approx(0.8524, abs=5e-5)
    assert lr(6800) == approx(0.0119, abs=5e-5)
    assert momentum(6800) == approx(0.9490, abs=5e-5)
    assert all(lr(s) == approx(1e-4) for s in range(6900, 7081))


# Printed by Smith's Caffe for that run (hyperParam1, Cifar/results/c100Resnet56_C100Res1CycLR.
# 1001.2CM0.95.85WD1e-4Epoch145BS256g_1): iteration -> (lr, momentum). 6900 and 7000 lie in
# the second, half-amplitude momentum triangle.
CIFAR100_TBS1024_LOG = {
    6000: (0.292889, 0.925593),
    6500: (0.117296, 0.940225),
    6800: (0.0119403, 0.949005),
    6900: (0.0001, 0.949034),
    7000: (0.0001, 0.947571),
}


@pytest.mark.parametrize("iteration", sorted(CIFAR100_TBS1024_LOG))
def test_cifar100_tbs1024_printed_values(iteration):
    lr, momentum = one_cycle("smith", 0.1, 1.2, 3417, 7080)
    printed_lr, printed_momentum = CIFAR100_TBS1024_LOG[iteration]
    assert lr(iteration) == approx(printed_lr, rel=1e-5)
    assert momentum(iteration) == approx(printed_momentum, rel=1e-5)


# ----------------------------------------------------------------------------------------------
# Smith's own Caffe log (shared/paper/logs)

SMITH_LOG_NAME = "gResnet56_ResTBS512LR.0800.8M.95WD1e-4Epoch95BS128b_1"
ITERATION_LINE = re.compile(
    r"Iteration (\d+), lr = ([0-9.eE+-]+), momentum = ([0-9.eE+-]+), weight decay = ([0-9.eE+-]+)"
)


def _shared_folder() -> Path:
    if os.environ.get("PAPERLIB_SHARED"):
        return Path(os.environ["PAPERLIB_SHARED"])
    return Path(__file__).resolve().parents[1].parent / "shared"


def _parse_caffe_log(path: Path) -> tuple[dict[str, list[str]], list[tuple[int, float, float]]]:
    """Solver header fields (repeated keys keep every value) and the printed (iteration, lr, momentum)."""
    header: dict[str, list[str]] = {}
    printed = []
    in_header = False
    for line in path.read_text().splitlines():
        if "Initializing solver from parameters" in line:
            in_header = True
            continue
        if in_header:
            field = re.match(r"^(\w+): (.*)$", line)
            if field:
                header.setdefault(field.group(1), []).append(field.group(2).strip('"'))
            elif line.startswith(("I", "W", "E")) and re.match(r"^[IWE]\d{4} ", line):
                in_header = False
        match = ITERATION_LINE.search(line)
        if match:
            printed.append((int(match.group(1)), float(match.group(2)), float(match.group(3))))
    return header, printed


def test_smith_one_cycle_matches_smiths_caffe_log():
    path = _shared_folder() / "paper" / "logs" / SMITH_LOG_NAME
    if not path.exists():
        pytest.skip(f"Smith's Caffe log not found at {path} (set PAPERLIB_SHARED to the shared folder)")
    header, printed = _parse_caffe_log(path)
    assert header["lr_policy"] == ["1cycle"]
    base_lr, max_lr = float(header["base_lr"][0]), float(header["max_lr"][0])
    step_size, max_iter = int(header["stepsize"][0]), int(header["max_iter"][0])
    mom_max = float(header["momentum"][0])
    mom_min, momentum_step = float(header["cyclical_momentum"][0]), int(header["cyclical_momentum"][1])
    assert momentum_step == step_size, "one_cycle ties the momentum half-period to the LR stepsize"
    assert (base_lr, max_lr, step_size, max_iter) == (0.08, 0.8, 4003, 9277)

    lr, momentum = one_cycle("smith", base_lr, max_lr, step_size, max_iter, mom_max=mom_max, mom_min=mom_min)
    assert len(printed) == 47 and printed[0][0] == 0 and printed[-1][0] == 9200
    for iteration, printed_lr, printed_momentum in printed:
        # Caffe prints 6 significant digits of a float32 computation; near the end of the descent
        # (lr ~ 1e-3) float32 cancellation in 2 - it/stepsize costs up to ~4e-5 relative.
        assert lr(iteration) == approx(printed_lr, rel=1e-4), iteration
        assert momentum(iteration) == approx(printed_momentum, rel=1e-5), iteration


# ----------------------------------------------------------------------------------------------
# three-phase == torch.optim.lr_scheduler.OneCycleLR(three_phase=True, anneal_strategy="linear")


@pytest.mark.parametrize(
    "lr_min, lr_max, step_size, total, final_lr, mom_max, mom_min",
    [
        (0.1, 1.0, 9, 30, 1e-4, 0.95, 0.85),
        (0.08, 0.8, 40, 100, 8e-5, 0.95, 0.85),
        (0.05, 0.5, 7, 15, 0.05 / 1000, 0.9, 0.8),  # no room for the final phase
        (0.01, 0.3, 3, 50, 1e-5, 0.85, 0.95),  # momentum rising with the LR
    ],
)
def test_three_phase_equals_torch_one_cycle_lr(lr_min, lr_max, step_size, total, final_lr, mom_max, mom_min):
    lr, momentum = one_cycle(
        "three-phase", lr_min, lr_max, step_size, total, final_lr=final_lr, mom_max=mom_max, mom_min=mom_min
    )
    optimizer = torch.optim.SGD(_params(), lr=lr_max, momentum=mom_max)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=lr_max,
        total_steps=total,
        pct_start=(step_size + 1) / total,
        anneal_strategy="linear",
        three_phase=True,
        div_factor=lr_max / lr_min,
        final_div_factor=lr_min / final_lr,
        base_momentum=mom_min,
        max_momentum=mom_max,
        cycle_momentum=True,
    )
    # torch puts its phase ends at float(pct_start*total) - 1, which is step_size up to one
    # rounding; that and max_lr/div_factor != lr_min by an ulp are all rel 1e-6 has to absorb.
    for step in range(total):
        group = optimizer.param_groups[0]
        assert group["lr"] == approx(lr(step), rel=1e-6, abs=1e-12), step
        assert group["momentum"] == approx(momentum(step), rel=1e-6), step
        optimizer.step()
        if step < total - 1:
            scheduler.step()


# ----------------------------------------------------------------------------------------------
# Parameter validation


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: constant(-0.1), r"value must be >= 0"),
        (lambda: constant(float("nan")), r"value must be finite"),
        (lambda: linear_range(0.1, 1.0, 0), r"total must be >= 1"),
        (lambda: linear_range(0.1, 1.0, 10.5), r"total must be an int"),
        (lambda: linear_range(0.1, float("inf"), 10), r"end must be finite"),
        (lambda: exp_range(0.0, 1.0, 10), r"start must be > 0"),
        (lambda: exp_range(1e-3, -1.0, 10), r"end must be > 0"),
        (lambda: triangular(2.0, 1.0, 10), r"lr_min \(2\.0\) must not exceed lr_max \(1\.0\)"),
        (lambda: triangular(0.1, 1.0, 0), r"step_size must be >= 1"),
        (lambda: triangular(-0.1, 1.0, 10), r"lr_min must be >= 0"),
        (lambda: multistep(0.1, [10, 5], 0.1), r"milestones must be strictly increasing"),
        (lambda: multistep(0.1, [10, 20], 0.0), r"gamma must be > 0"),
        (lambda: multistep(-1.0, [10], 0.1), r"lr must be >= 0"),
        (lambda: piecewise_linear([0, 5, 5], [1, 2, 3]), r"knots must be strictly increasing"),
        (lambda: piecewise_linear([0, 5], [1.0]), r"knots and values must have the same length"),
        (lambda: piecewise_linear([], []), r"knots must hold at least one"),
        (lambda: piecewise_linear([-1, 5], [1, 2]), r"knots\[0\] must be >= 0"),
        (lambda: cyclical_momentum(1.0, 0.85, 10), r"mom_start must be in \[0, 1\)"),
        (lambda: cyclical_momentum(0.95, -0.1, 10), r"mom_turn must be in \[0, 1\)"),
        (lambda: cyclical_momentum(0.95, 0.85, 0), r"step_size must be >= 1"),
        (lambda: one_cycle("fastai", 0.1, 1.0, 10, 30), r"style must be one of"),
        (lambda: one_cycle("smith", 0.1, 1.0, 10, 30, final_lr=1e-4), r"final_lr is fixed at lr_min/1000 in style 'smith'"),
        (lambda: one_cycle("smith", 1.0, 0.1, 10, 30), r"lr_min \(1\.0\) must not exceed lr_max \(0\.1\)"),
        (lambda: one_cycle("smith", 0.1, 1.0, 10, 0), r"total must be >= 1"),
        (lambda: one_cycle("smith", 0.1, 1.0, 10, 30, mom_max=1.2), r"mom_max must be in \[0, 1\)"),
        (lambda: one_cycle("three-phase", 0.1, 1.0, 15, 30), r"2\*step_size <= total-1.*step_size=15.*total=30"),
        (lambda: one_cycle("three-phase", 0.1, 1.0, 10, 30, final_lr=0.2), r"final_lr \(0\.2\) must not exceed lr_min"),
        (lambda: one_cycle("three-phase", 0.1, 1.0, 10, 30, mom_min=1.0), r"mom_min must be in \[0, 1\)"),
        (lambda: one_cycle("three-phase", 0.1, 1.0, 0, 30), r"step_size must be >= 1"),
    ],
)
def test_bad_parameters_raise_config_error_naming_them(build, match):
    with pytest.raises(ConfigError, match=match):
        build()


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        triangular(2.0, 1.0, 10)


# ----------------------------------------------------------------------------------------------
# describe / pickling


def test_describe_is_json_and_round_trips():
    schedules = [
        constant(np.float64(0.9)),
        linear_range(0.1, 1.0, np.int64(100)),
        exp_range(1e-5, 10.0, 100),
        triangular(0.1, 3.0, 5000),
        multistep(0.35, (50000, 70000), 0.1),
        piecewise_linear(np.array([0, 10]), [0.1, 1.0]),
        *one_cycle("smith", 0.08, 0.8, 4003, 9277),
        *one_cycle("three-phase", 0.1, 1.0, 10, 30),
        cyclical_momentum(0.85, 0.95, 9000),
    ]
    for schedule in schedules:
        description = schedule.describe()
        assert json.loads(json.dumps(description)) == description
        assert schedule_from_description(description) == schedule
        assert pickle.loads(pickle.dumps(schedule)) == schedule
    assert triangular(0.1, 3.0, 5000).describe() == {"kind": "triangular", "lr_min": 0.1, "lr_max": 3.0, "step_size": 5000}


def test_schedule_from_description_rejects_unknown_kinds_and_fields():
    with pytest.raises(ConfigError, match="unknown schedule kind"):
        schedule_from_description({"kind": "cosine"})
    with pytest.raises(ConfigError, match="wrong fields"):
        schedule_from_description({"kind": "constant", "value": 0.1, "extra": 1})


def test_schedules_are_frozen():
    schedule = triangular(0.1, 1.0, 10)
    with pytest.raises(AttributeError):
        schedule.lr_max = 2.0


# ----------------------------------------------------------------------------------------------
# set_hparams


def test_set_hparams_sgd():
    optimizer = torch.optim.SGD(_params(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    set_hparams(optimizer, lr=0.5, momentum=0.85, weight_decay=1e-4)
    group = optimizer.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.5, 0.85, 1e-4)


def test_set_hparams_leaves_unspecified_values_alone():
    optimizer = torch.optim.SGD(_params(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    set_hparams(optimizer, lr=0.5)
    group = optimizer.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.5, 0.9, 5e-4)


def test_set_hparams_adam_sets_beta1_and_keeps_beta2():
    optimizer = torch.optim.Adam(_params(), lr=1e-3, betas=(0.9, 0.997))
    set_hparams(optimizer, lr=2e-3, momentum=0.85)
    assert optimizer.param_groups[0]["betas"] == (0.85, 0.997)
    assert optimizer.param_groups[0]["lr"] == 2e-3


def test_set_hparams_warns_once_for_optimizer_without_momentum():
    optimizer = torch.optim.Adagrad([{"params": _params()}, {"params": _params()}], lr=0.1)
    with pytest.warns(UserWarning, match="Adagrad") as record:
        set_hparams(optimizer, lr=0.2, momentum=0.9)
    assert len([w for w in record if "Adagrad" in str(w.message)]) == 1
    assert [g["lr"] for g in optimizer.param_groups] == [0.2, 0.2]
    assert all("momentum" not in g and "betas" not in g for g in optimizer.param_groups)


def test_set_hparams_without_momentum_does_not_warn():
    optimizer = torch.optim.Adagrad(_params(), lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        set_hparams(optimizer, lr=0.2)


def test_set_hparams_honours_lr_mult_and_decay_mult():
    optimizer = torch.optim.SGD(
        [
            {"params": _params()},
            {"params": _params(), "lr_mult": 2.0, "decay_mult": 0.0},  # Caffe's FC bias
        ],
        lr=0.1,
        momentum=0.9,
    )
    set_hparams(optimizer, lr=0.3, momentum=0.8, weight_decay=1e-4)
    first, second = optimizer.param_groups
    assert first["lr"] == 0.3 and second["lr"] == approx(0.6)
    assert first["weight_decay"] == 1e-4 and second["weight_decay"] == 0.0
    assert first["momentum"] == second["momentum"] == 0.8


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr": 0.1, "momentum": 1.0}, r"momentum must be in \[0, 1\)"),
        ({"lr": 0.1, "momentum": -0.5}, r"momentum must be in \[0, 1\)"),
        ({"lr": -0.1}, r"lr must be >= 0"),
        ({"lr": 0.1, "weight_decay": -1e-4}, r"weight_decay must be >= 0"),
    ],
)
def test_set_hparams_rejects_bad_values(kwargs, match):
    optimizer = torch.optim.SGD(_params(), lr=0.01, momentum=0.9)
    with pytest.raises(ConfigError, match=match):
        set_hparams(optimizer, **kwargs)
    assert optimizer.param_groups[0]["lr"] == 0.01  # nothing half-written


# ----------------------------------------------------------------------------------------------
# ScheduledHParams


def _train(optimizer, scheduler, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        loss = sum((p - 1.0).pow(2).sum() for group in optimizer.param_groups for p in group["params"])
        loss.backward()
        optimizer.step()
        scheduler.step()


def test_scheduled_hparams_in_a_plain_loop():
    lr, momentum = one_cycle("smith", 0.1, 1.0, 5, 14)
    optimizer = torch.optim.SGD(
        [{"params": _params()}, {"params": _params(), "lr_mult": 2.0}], lr=123.0, momentum=0.0
    )
    scheduler = ScheduledHParams(optimizer, lr, momentum)
    assert optimizer.param_groups[0]["lr"] == lr(0) and optimizer.param_groups[0]["momentum"] == momentum(0)
    for k in range(1, 14):
        _train(optimizer, scheduler, 1)
        first, second = optimizer.param_groups
        assert first["lr"] == lr(k) and second["lr"] == approx(2 * lr(k))
        assert first["momentum"] == second["momentum"] == momentum(k)
        assert scheduler.get_last_lr() == [first["lr"], second["lr"]]


def test_scheduled_hparams_without_momentum_schedule_leaves_momentum():
    optimizer = torch.optim.SGD(_params(), lr=1.0, momentum=0.9)
    scheduler = ScheduledHParams(optimizer, linear_range(0.1, 0.2, 3))
    _train(optimizer, scheduler, 2)
    assert optimizer.param_groups[0]["lr"] == approx(0.2)
    assert optimizer.param_groups[0]["momentum"] == 0.9


def test_scheduled_hparams_resume_continues_identically():
    lr, momentum = one_cycle("smith", 0.1, 1.0, 4, 12)
    torch.manual_seed(0)
    reference_optimizer = torch.optim.SGD(_params(), lr=0.1, momentum=0.9)
    reference = ScheduledHParams(reference_optimizer, lr, momentum)
    _train(reference_optimizer, reference, 12)

    first_optimizer = torch.optim.SGD(_params(), lr=0.1, momentum=0.9)
    first = ScheduledHParams(first_optimizer, lr, momentum)
    _train(first_optimizer, first, 5)
    buffer = io.BytesIO()
    torch.save({"optimizer": first_optimizer.state_dict(), "scheduler": first.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)  # plain data only

    resumed_optimizer = torch.optim.SGD(_params(), lr=0.1, momentum=0.9)
    resumed = ScheduledHParams(resumed_optimizer, constant(0.5))  # overwritten by the checkpoint
    resumed.load_state_dict(checkpoint["scheduler"])
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    with torch.no_grad():
        for target, source in zip(resumed_optimizer.param_groups[0]["params"], first_optimizer.param_groups[0]["params"]):
            target.copy_(source)
    assert resumed.last_epoch == 5
    assert resumed_optimizer.param_groups[0]["lr"] == lr(5)
    assert resumed_optimizer.param_groups[0]["momentum"] == momentum(5)
    _train(resumed_optimizer, resumed, 7)

    assert resumed.last_epoch == reference.last_epoch == 12
    assert resumed.get_last_lr() == reference.get_last_lr()
    assert resumed_optimizer.param_groups[0]["momentum"] == reference_optimizer.param_groups[0]["momentum"]
    for a, b in zip(resumed_optimizer.param_groups[0]["params"], reference_optimizer.param_groups[0]["params"]):
        assert torch.equal(a, b)


def test_scheduled_hparams_rejects_non_schedules_and_epochs():
    optimizer = torch.optim.SGD(_params(), lr=0.1)
    with pytest.raises(ConfigError, match="lr must be a Schedule"):
        ScheduledHParams(optimizer, lambda step: 0.1)
    scheduler = ScheduledHParams(optimizer, constant(0.1))
    with pytest.raises(ConfigError, match="takes no epoch"):
        scheduler.step(3)


# ----------------------------------------------------------------------------------------------
# schedule_frame


def test_schedule_frame_columns_and_values():
    lr, momentum = one_cycle("smith", 0.1, 1.0, 3, 8)
    frame = schedule_frame(lr, momentum, total=8)
    assert list(frame.columns) == ["step", "lr", "momentum"]
    assert frame["step"].tolist() == list(range(8))
    assert frame["lr"].tolist() == [lr(s) for s in range(8)]
    assert frame["momentum"].tolist() == [momentum(s) for s in range(8)]


def test_schedule_frame_without_momentum_is_nan():
    frame = schedule_frame(constant(0.1), total=3)
    assert frame["momentum"].isna().all()
    with pytest.raises(ConfigError, match="total must be >= 1"):
        schedule_frame(constant(0.1), total=0)


def test_every_factory_returns_a_schedule():
    assert isinstance(constant(0.1), Schedule)
    assert all(isinstance(s, Schedule) for s in one_cycle("three-phase", 0.1, 1.0, 2, 10))
    assert not math.isnan(exp_range(1e-3, 1.0, 3)(1))
