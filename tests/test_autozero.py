"""Auto-zero tracking between vehicles."""

from __future__ import annotations

import numpy as np

from edge.config import ScaleConfig
from edge.lane.buffer import SampleWindow
from edge.lane.crossing import Crossing
from edge.wim.autozero import AutoZeroTracker
from edge.wim.weighing import Weighed, Weighing, ZeroSource, choose_zero

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


def test_a_zero_taken_under_a_load_is_reacquired_from_a_lower_empty_reading() -> None:
    """A daemon restarted with a truck on the scale took the loaded scale as zero: the next quiet empty
    reading is lower (cells only see compression) and replaces it, instead of being refused as a step."""
    rng = np.random.default_rng(3)
    zero = rng.uniform(20_000, 60_000, 8)
    loaded = zero.copy()
    loaded[4:] += 4000 * 50 / 4  # 4 t resting on platform 1 when the zero was taken
    tracker = AutoZeroTracker(SPAN)
    assert tracker.observe(_empty(rng, loaded))
    assert tracker.observe(_empty(rng, zero))
    assert tracker.zero_counts is not None
    np.testing.assert_allclose(tracker.zero_counts, zero, atol=30)
    assert tracker.reacquired == 1 and "taken with a load on the scale" in tracker.last_problem


def test_a_zero_a_truck_away_from_the_calibration_raises_the_alarm_until_it_is_back() -> None:
    rng = np.random.default_rng(4)
    zero = rng.uniform(20_000, 60_000, 8)
    tracker = AutoZeroTracker(SPAN, reference_counts=zero.copy())
    loaded = zero.copy()
    loaded[:4] += 3000 * 50 / 4  # 3 t on platform 0
    tracker.adopt(loaded)  # e.g. a pre-roll accepted with no zero to compare it with
    assert (
        tracker.alarm and "differs by +3000 kg from the calibration's on platform 1" in tracker.last_problem
    )
    assert "a load was on the scale" in tracker.last_problem
    assert tracker.observe(_empty(rng, zero))
    assert not tracker.alarm and tracker.state()["alarm"] is False


def _crossing(preroll_counts: np.ndarray, fallback: np.ndarray | None) -> Crossing:
    n = preroll_counts.shape[0]
    times = np.arange(n) / 1000.0
    return Crossing(
        vehicle_number=1,
        window=SampleWindow(times, preroll_counts, 0),
        sample_rate_hz=1000,
        entry_t_s=np.array([n / 1000.0 + 0.1, n / 1000.0 + 1.0]),
        exit_t_s=np.array([n / 1000.0 + 3.0, n / 1000.0 + 4.0]),
        tyres=("single", "dual"),
        problems=(),
        fallback_zero_counts=fallback,
    )


def test_a_restart_under_a_truck_costs_at_most_the_one_vehicle_whose_preroll_was_loaded() -> None:
    """Restarted with the last truck's rear axles still on platform 3 (no calibration): the next
    vehicle's pre-roll is loaded and quiet.  The vehicle after it must be zeroed on its own empty
    pre-roll again, not on the loaded zero (before, that was refused as a step for the rest of the run)."""
    scale = ScaleConfig(platform_lengths_m=(6.0, 6.0, 6.0))
    rng = np.random.default_rng(5)
    empty = rng.uniform(20_000, 60_000, 12)
    loaded = empty.copy()
    loaded[8:] += 9000 / 0.02 / 4  # 9 t on platform 3
    weighing = Weighing(scale, calibration_zero_counts=None)
    first = weighing.prepare(_crossing(_empty(rng, loaded, 500, 100), None))
    zero, source, _ = choose_zero(first, scale)
    assert source == ZeroSource.PREROLL  # nothing to compare it with: this vehicle is weighed short
    weighing.learn(Weighed(None, zero, source, ()))
    second = weighing.prepare(_crossing(_empty(rng, empty, 500, 100), None))
    zero, source, _ = choose_zero(second, scale)
    assert source == ZeroSource.PREROLL
    assert zero is not None
    np.testing.assert_allclose(zero, empty, atol=40)
    weighing.learn(Weighed(None, zero, source, ()))
    assert weighing.zero_counts is not None
    np.testing.assert_allclose(weighing.zero_counts, empty, atol=40)


def test_with_a_calibration_a_loaded_preroll_is_refused_and_the_calibration_zero_used() -> None:
    scale = ScaleConfig(platform_lengths_m=(6.0, 6.0, 6.0))
    rng = np.random.default_rng(6)
    empty = rng.uniform(20_000, 60_000, 12)
    loaded = empty.copy()
    loaded[8:] += 9000 / 0.02 / 4
    weighing = Weighing(scale, calibration_zero_counts=empty)
    crossing = weighing.prepare(_crossing(_empty(rng, loaded, 500, 100), None))
    zero, source, _ = choose_zero(crossing, scale)
    assert source == ZeroSource.TRACKED
    assert zero is not None
    np.testing.assert_allclose(zero, empty)


def test_the_weighing_stage_follows_a_harsh_site_ramp_cell_by_cell() -> None:
    """Every cell's zero moving at 0.2 kg/s, each its own way, for an hour; the empty lane offered for a
    second every 20 s: the tracked zero stays within 5 kg of each cell's zero (4 s of ramp), and the
    alarm says when the platform's zero has moved a truck's worth from the calibration."""
    rng = np.random.default_rng(7)
    scale = ScaleConfig(platform_lengths_m=(3.6, 3.6), kg_per_count=0.02)
    zero = rng.uniform(20_000, 60_000, 8)
    rate_kg_s = 0.2 * np.array([1, 1, 1, 1, 1, -1, 1, -1])  # platform 1 all up, platform 2 cancelling
    weighing = Weighing(scale, zero.copy())
    for t0 in np.arange(0.0, 3600.0, 20.0):
        t = t0 + np.arange(1000) / 1000
        counts = zero + (t[:, None] * rate_kg_s) / 0.02 + rng.normal(0, 100, (t.size, 8))
        weighing.between_vehicles(SampleWindow(t, counts.astype(np.int32), 0))
        assert weighing.zero_counts is not None
        expected = zero + (t0 + 0.5) * rate_kg_s / 0.02
        assert np.all(np.abs(weighing.zero_counts - expected) * 0.02 < 5.0), t0
    # Platform 1 has drifted 4 x 720 kg from the calibration: its zero alarm is up; platform 2 netted 0.
    assert weighing.zero.alarm
    drift = weighing.state()["zero_drift_from_calibration_kg"]
    assert drift[0] > 2800 and abs(drift[1]) < 10
    # It got there in small steps that weighing followed: the message says drift, not a load.
    message = weighing.state()["last_problem"]
    assert "has drifted +" in message and "on platform 1" in message, message
    assert "calibration's zero is stale" in message and "a load was on the scale" not in message
