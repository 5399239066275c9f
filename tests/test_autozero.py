"""Auto-zero tracking between vehicles."""

from __future__ import annotations

import numpy as np

from edge.wim.autozero import AutoZeroTracker

SPAN = np.full(8, 0.02)


def _empty(
    rng: np.random.Generator, zero: np.ndarray, n: int = 1000, noise_counts: float = 200.0
) -> np.ndarray:
    return (zero[None, :] + rng.normal(0, noise_counts, (n, zero.size))).astype(np.int32)


def test_follows_slow_drift_and_reports_it() -> None:
    rng = np.random.default_rng(1)
    zero = rng.uniform(20_000, 60_000, 8)
    tracker = AutoZeroTracker(SPAN, reference_counts=zero.copy())
    assert tracker.observe(_empty(rng, zero))
    drifted = zero + 1500  # 30 kg per cell, 120 kg per platform
    assert tracker.observe(_empty(rng, drifted))
    assert tracker.zero_counts is not None
    np.testing.assert_allclose(tracker.zero_counts, drifted, atol=30)
    assert all(abs(v - 120) < 2 for v in tracker.state()["zero_drift_from_calibration_kg"])


def test_refuses_a_jump_and_a_moving_scale() -> None:
    rng = np.random.default_rng(2)
    zero = rng.uniform(20_000, 60_000, 8)
    tracker = AutoZeroTracker(SPAN)
    assert tracker.observe(_empty(rng, zero))
    stone = zero.copy()
    stone[:4] += 5000  # 400 kg left on platform 0
    assert not tracker.observe(_empty(rng, stone))
    assert tracker.refused == 1 and "something lies on the scale" in tracker.last_problem
    moving = _empty(rng, zero)
    moving[500:, :4] += 20_000  # a vehicle arrives
    assert not tracker.observe(moving)
    assert tracker.updates == 1
