"""Property tests: bounds, continuity, monotone phases, momentum against LR, purity."""
from __future__ import annotations

import json
import math
import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from paperlib.schedules import (
    constant,
    cyclical_momentum,
    exp_range,
    linear_range,
    multistep,
    one_cycle,
    piecewise_linear,
    schedule_from_description,
    triangular,
)

PROPERTY_SETTINGS = settings(max_examples=50, deadline=None)

lrs = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)
positive_lrs = st.floats(min_value=1e-6, max_value=10.0)
momenta = st.floats(min_value=0.0, max_value=0.99)
step_sizes = st.integers(min_value=1, max_value=5000)
totals = st.integers(min_value=1, max_value=20000)
lr_pairs = st.tuples(lrs, lrs).map(sorted)


def _tol(*values: float) -> float:
    """Room for a few roundings in values of this size."""
    return 1e-12 * (1.0 + max(abs(v) for v in values))


def _within(value, low, high) -> bool:
    return low - _tol(low, high) <= value <= high + _tol(low, high)


# ----------------------------------------------------------------------------------------------
# Ramps


@PROPERTY_SETTINGS
@given(start=lrs, end=lrs, total=totals, data=st.data())
def test_linear_range_bounds_monotone_continuous_end_held(start, end, total, data):
    schedule = linear_range(start, end, total)
    s = data.draw(st.integers(0, total + 10))
    low, high = min(start, end), max(start, end)
    assert _within(schedule(s), low, high)
    if s + 1 <= total - 1:
        step = schedule(s + 1) - schedule(s)
        assert abs(step) <= (high - low) / (total - 1) + _tol(high)
        assert step * (end - start) >= -_tol(high)  # moves towards `end`
    if s >= total - 1 and total > 1:
        assert schedule(s) == end or abs(schedule(s) - end) <= _tol(end)


@PROPERTY_SETTINGS
@given(start=positive_lrs, end=positive_lrs, total=totals, data=st.data())
def test_exp_range_bounds_monotone_continuous(start, end, total, data):
    schedule = exp_range(start, end, total)
    s = data.draw(st.integers(0, total + 10))
    low, high = min(start, end), max(start, end)
    assert low * (1 - 1e-12) <= schedule(s) <= high * (1 + 1e-12)
    if s + 1 <= total - 1:
        # Mean value theorem: one step changes the value by at most max(f) * |ln(end/start)| / (total-1).
        bound = high * abs(math.log(end / start)) / (total - 1)
        step = schedule(s + 1) - schedule(s)
        assert abs(step) <= bound * (1 + 1e-9) + _tol(high)
        assert step * (end - start) >= -_tol(high)


# ----------------------------------------------------------------------------------------------
# Cyclical


@PROPERTY_SETTINGS
@given(bounds=lr_pairs, step_size=step_sizes, data=st.data())
def test_triangular_bounds_continuity_period(bounds, step_size, data):
    lr_min, lr_max = bounds
    schedule = triangular(lr_min, lr_max, step_size)
    s = data.draw(st.integers(0, 6 * step_size))
    assert _within(schedule(s), lr_min, lr_max)
    assert abs(schedule(s + 1) - schedule(s)) <= (lr_max - lr_min) / step_size * (1 + 1e-9) + _tol(lr_max)
    assert abs(schedule(s + 2 * step_size) - schedule(s)) <= 1e-9 * (1 + lr_max)
    within_cycle = s % (2 * step_size)
    rising = schedule(s + 1) - schedule(s)
    if within_cycle < step_size:
        assert rising >= -_tol(lr_max)
    else:
        assert rising <= _tol(lr_max)


@PROPERTY_SETTINGS
@given(mom_start=momenta, mom_turn=momenta, step_size=step_sizes, data=st.data())
def test_cyclical_momentum_bounds_continuity_halving(mom_start, mom_turn, step_size, data):
    schedule = cyclical_momentum(mom_start, mom_turn, step_size)
    s = data.draw(st.integers(0, 8 * step_size))
    amplitude = abs(mom_turn - mom_start)
    assert _within(schedule(s), min(mom_start, mom_turn), max(mom_start, mom_turn))
    assert abs(schedule(s + 1) - schedule(s)) <= amplitude / step_size * (1 + 1e-9) + _tol(1.0)
    cycle = s // (2 * step_size)
    assert abs(schedule(s) - mom_start) <= amplitude / 2**cycle + _tol(1.0)


# ----------------------------------------------------------------------------------------------
# Piecewise


@PROPERTY_SETTINGS
@given(lr=lrs, gaps=st.lists(st.integers(1, 1000), max_size=5), gamma=st.floats(0.01, 1.0), data=st.data())
def test_multistep_never_rises_and_takes_only_decayed_values(lr, gaps, gamma, data):
    milestones = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    schedule = multistep(lr, milestones, gamma)
    s = data.draw(st.integers(0, (milestones[-1] if milestones else 0) + 10))
    assert schedule(s + 1) <= schedule(s)
    assert any(schedule(s) == lr * gamma**k for k in range(len(milestones) + 1))


@PROPERTY_SETTINGS
@given(
    points=st.lists(st.tuples(st.integers(1, 500), lrs), min_size=1, max_size=6),
    first=st.integers(0, 100),
    data=st.data(),
)
def test_piecewise_linear_bounds_knots_continuity(points, first, data):
    knots = [first + sum(gap for gap, _ in points[:i]) for i in range(len(points))]
    values = [value for _, value in points]
    schedule = piecewise_linear(knots, values)
    assert [schedule(k) for k in knots] == values
    s = data.draw(st.integers(0, knots[-1] + 10))
    assert _within(schedule(s), min(values), max(values))
    slopes = [abs(v1 - v0) / (k1 - k0) for k0, k1, v0, v1 in zip(knots, knots[1:], values, values[1:])]
    assert abs(schedule(s + 1) - schedule(s)) <= max(slopes, default=0.0) * (1 + 1e-9) + _tol(*values)


# ----------------------------------------------------------------------------------------------
# 1cycle


@st.composite
def one_cycle_parameters(draw, style):
    lr_min, lr_max = draw(lr_pairs)
    mom_min, mom_max = sorted(draw(st.tuples(momenta, momenta)))
    step_size = draw(st.integers(1, 2000))
    if style == "smith":
        total = draw(st.integers(1, 5000))
        final_lr = None
    else:
        total = draw(st.integers(2 * step_size + 1, 2 * step_size + 3000))
        final_lr = draw(st.floats(0.0, lr_min)) if lr_min > 0 else 0.0
    return dict(
        style=style, lr_min=lr_min, lr_max=lr_max, step_size=step_size, total=total,
        final_lr=final_lr, mom_max=mom_max, mom_min=mom_min,
    )


def _check_one_cycle_shape(params, s, lr_bounds):
    lr, momentum = one_cycle(**params)
    step_size = params["step_size"]
    lr_max, mom_max, mom_min = params["lr_max"], params["mom_max"], params["mom_min"]
    assert _within(lr(s), *lr_bounds)
    assert _within(momentum(s), mom_min, mom_max)
    lr_change = lr(s + 1) - lr(s)
    momentum_change = momentum(s + 1) - momentum(s)
    if s < step_size:  # warm-up: LR up, momentum down
        assert lr_change >= -_tol(lr_max)
        assert momentum_change <= _tol(1.0)
    elif s < 2 * step_size:  # descent: LR down, momentum back up
        assert lr_change <= _tol(lr_max)
        assert momentum_change >= -_tol(1.0)
    return lr, momentum, lr_change, momentum_change


@PROPERTY_SETTINGS
@given(params=one_cycle_parameters("smith"), data=st.data())
def test_smith_one_cycle_shape(params, data):
    step_size, lr_min, lr_max = params["step_size"], params["lr_min"], params["lr_max"]
    s = data.draw(st.integers(0, 3 * step_size))
    lr, momentum, lr_change, momentum_change = _check_one_cycle_shape(params, s, (0.0, lr_max))
    if s <= step_size:
        assert lr(s) >= lr_min - _tol(lr_max)
    # Continuous except for the step from 0 (at 2*step_size) up to the lr_min/1000 floor.
    assert abs(lr_change) <= lr_max / step_size * (1 + 1e-9) + lr_min / 1000 + _tol(lr_max)
    assert abs(momentum_change) <= (params["mom_max"] - params["mom_min"]) / step_size * (1 + 1e-9) + _tol(1.0)
    if s > 2 * step_size:
        assert lr(s) == lr_min / 1000


@PROPERTY_SETTINGS
@given(params=one_cycle_parameters("three-phase"), data=st.data())
def test_three_phase_one_cycle_shape(params, data):
    step_size, total = params["step_size"], params["total"]
    lr_min, lr_max, final_lr = params["lr_min"], params["lr_max"], params["final_lr"]
    s = data.draw(st.integers(0, total + 10))
    lr, momentum, lr_change, momentum_change = _check_one_cycle_shape(params, s, (final_lr, lr_max))
    if s >= step_size:  # after the peak the LR never rises again
        assert lr_change <= _tol(lr_max)
    if s >= 2 * step_size:
        assert momentum(s) == params["mom_max"]
    annihilation = total - 1 - 2 * step_size  # may be 0 steps long
    slope = (lr_max - lr_min) / step_size
    if annihilation > 0:
        slope = max(slope, (lr_min - final_lr) / annihilation)
    assert abs(lr_change) <= slope * (1 + 1e-9) + _tol(lr_max)
    assert abs(momentum_change) <= (params["mom_max"] - params["mom_min"]) / step_size * (1 + 1e-9) + _tol(1.0)
    assert abs(lr(total - 1) - (final_lr if annihilation > 0 else lr_min)) <= _tol(lr_max)


# ----------------------------------------------------------------------------------------------
# Purity


@st.composite
def any_schedule(draw):
    lr_min, lr_max = draw(lr_pairs)
    step_size = draw(step_sizes)
    total = draw(totals)
    mom_start, mom_turn = draw(momenta), draw(momenta)
    choices = [
        lambda: constant(lr_max),
        lambda: linear_range(lr_max, lr_min, total),
        lambda: exp_range(lr_min + 1e-3, lr_max + 1e-3, total),
        lambda: triangular(lr_min, lr_max, step_size),
        lambda: multistep(lr_max, [step_size, 2 * step_size], 0.1),
        lambda: piecewise_linear([0, step_size], [lr_min, lr_max]),
        lambda: one_cycle("smith", lr_min, lr_max, step_size, total)[0],
        lambda: one_cycle("smith", lr_min, lr_max, step_size, total)[1],
        lambda: one_cycle("three-phase", lr_min, lr_max, step_size, 2 * step_size + total)[0],
        lambda: cyclical_momentum(mom_start, mom_turn, step_size),
    ]
    return draw(st.sampled_from(choices))()


@PROPERTY_SETTINGS
@given(schedule=any_schedule(), steps=st.lists(st.integers(0, 10**7), min_size=1, max_size=5))
def test_schedules_are_pure_and_survive_pickling_and_description(schedule, steps):
    values = [schedule(s) for s in steps]
    assert [schedule(s) for s in reversed(steps)] == list(reversed(values))  # order does not matter
    copy = pickle.loads(pickle.dumps(schedule))
    assert copy == schedule and [copy(s) for s in steps] == values
    description = json.loads(json.dumps(schedule.describe()))
    rebuilt = schedule_from_description(description)
    assert rebuilt == schedule and [rebuilt(s) for s in steps] == values
