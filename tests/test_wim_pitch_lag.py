"""The pitch lag's bound (``edge.wim.estimate.pitch_lag_share``) against the exact step response of a damped
pitch mode, integrated numerically here: a blip's two steps, anywhere around an axle's weighing time, never
leave the weighed transfer further from the quasi-static correction than the bound says."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.wim.estimate import pitch_lag_share


def _window_departure(
    window_s: float, steps: list[tuple[float, float]], frequency_hz: float, damping: float
) -> float:
    """Mean over [0, window_s] of the dynamic transfer less the quasi-static one (per unit transfer of
    1 m/s^2), for steps (time, size) of acceleration through a mode of this frequency and damping."""
    t = np.linspace(0.0, window_s, 4001)
    omega = 2.0 * math.pi * frequency_hz
    root = math.sqrt(1.0 - damping * damping)
    total = np.zeros_like(t)
    for when, size in steps:
        after = np.maximum(t - when, 0.0)
        response = 1.0 - np.exp(-damping * omega * after) * (
            np.cos(omega * root * after) + damping / root * np.sin(omega * root * after)
        )
        total += size * (np.where(t >= when, response, 0.0) - (t >= when))
    return float(np.trapezoid(total, t) / window_s)


@pytest.mark.parametrize("seed", range(6))
def test_a_blips_two_steps_stay_within_the_bound(seed: int) -> None:
    rng = np.random.default_rng(seed)
    min_hz = 1.5
    worst = 0.0
    for _ in range(60):
        window_s = float(rng.uniform(0.25, 3.0))
        start = float(rng.uniform(-window_s, window_s))
        steps = [(start, 1.0), (start + float(rng.uniform(0.1, 1.5)), -1.0)]
        frequency = float(rng.uniform(min_hz, 4.0))
        damping = float(rng.uniform(0.05, 0.5))
        departure = abs(_window_departure(window_s, steps, frequency, damping))
        # On a 4.2 m platform the window is 4.2 m / v.
        share = pitch_lag_share(4.2, 4.2 / window_s, min_hz)
        assert departure <= share + 1e-9, (window_s, steps, frequency, damping)
        worst = max(worst, departure / share)
    # The bound is not vacuous: some draws come within a factor of 4 of it.
    assert worst > 0.25


def test_a_single_step_reaches_a_quarter_period_at_light_damping() -> None:
    """The bound's constant: one step's departure over a window reaches about a quarter of the mode's
    period (over T) at a light damping, and stays below it."""
    window_s = 0.6
    period_s = 1.0 / 1.5
    best = max(
        abs(_window_departure(window_s, [(when, 1.0)], 1.5, 0.05))
        for when in np.linspace(-window_s, window_s, 241)
    )
    assert 0.5 * period_s / (4.0 * window_s) < best <= period_s / (4.0 * window_s) * 1.1


def test_share_is_one_at_most_and_falls_with_the_time_on_the_scale() -> None:
    assert pitch_lag_share(4.2, 100.0, 1.5) == 1.0
    slow = pitch_lag_share(18.0, 2.0, 1.5)
    fast = pitch_lag_share(18.0, 10.0, 1.5)
    assert 0.0 < slow < fast < 1.0
    assert pitch_lag_share(18.0, 10.0, 3.0) == pytest.approx(fast / 2.0)
    # Nothing to bound it with: the whole shift.
    assert pitch_lag_share(0.0, 10.0, 1.5) == 1.0
    assert pitch_lag_share(4.2, 0.0, 1.5) == 1.0
    assert pitch_lag_share(4.2, 5.0, 0.0) == 1.0
