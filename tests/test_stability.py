"""Stable-weight detection (edge.static.stability): window and band, motion, zero tracking, refusals."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from drivers.indicator.driver import IndicatorReading, ToledoContinuous, Xk3190
from drivers.link import LinkConfig, LinkState
from edge.static.stability import (
    StabilityMonitor,
    StabilityParams,
    ZeroState,
    judge,
    motion_mask,
    returned_to_zero,
    stable_mask,
    track_zero,
    trailing_spread,
)
from firmware_sim.indicator import DeckLoad, SimulatedIndicator
from firmware_sim.pty import PtyPort

P = StabilityParams(division_kg=20.0, max_kg=100_000.0, window_s=2.0, motion_window_s=0.5)


def _readings(
    t: np.ndarray, w: np.ndarray, stable: bool | None = None, motion: bool | None = None
) -> list[IndicatorReading]:
    return [IndicatorReading(float(wi), float(ti), stable, motion) for ti, wi in zip(t, w, strict=True)]


def _deck_series(seed: int = 3, noise_kg: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """10 readings a second of a 40 t truck driving on at 2 s over 3 s, ringing, rounded to 20 kg."""
    deck = DeckLoad(ring_hz=1.5, ring_fraction=0.04, ring_tau_s=0.8)
    deck.add_step(2.0, 40_000.0, ramp_s=3.0)
    t = np.arange(0.0, 15.0, 0.1)
    raw = deck.load_kg(t) + np.random.default_rng(seed).normal(0.0, noise_kg, t.size)
    return t, np.round(raw / 20.0) * 20.0


def test_trailing_spread_matches_a_plain_loop_on_irregular_times() -> None:
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.01, 0.3, 400))
    w = rng.normal(0, 50, 400)
    spread, reach = trailing_spread(t, w, 1.0)
    for i in range(len(t)):
        inside = (t > t[i] - 1.0) & (t <= t[i])
        assert spread[i] == pytest.approx(np.ptp(w[inside]))
        assert reach[i] == pytest.approx(t[i] - t[inside][0])


def test_a_truck_is_stable_only_after_the_ramp_and_the_ringing_settle() -> None:
    t, w = _deck_series()
    stable = stable_mask(t, w, P)
    moving = motion_mask(t, w, P)
    assert stable[(t >= 1.9) & (t <= 2.05)].all(), "the empty deck before the truck is stable"
    assert not stable[(t > 2.5) & (t < 5.0 + 2.0)].any(), "not stable on the ramp or one window after"
    first_motion = t[moving][0]
    assert 2.0 < first_motion <= 2.6, "motion is seen within the short motion window"
    # Ringing of 1600 kg decaying with 0.8 s falls under 10 kg after 0.8 * ln(160) = 4.1 s, then one window.
    first_stable_after = t[stable & (t > 5.0)][0]
    assert 5.0 + 2.0 < first_stable_after <= 5.0 + 4.1 + 2.0 + 0.2
    assert stable[t > 12.0].all()
    verdict = judge(_readings(t[t <= 14.0], w[t <= 14.0]), 14.0, P)
    assert verdict.accepted and verdict.weight_kg == 40_000.0


def test_a_gap_in_the_readings_is_not_stability() -> None:
    t = np.concatenate([np.arange(0.0, 1.35, 0.1), np.arange(1.9, 3.0, 0.1)])  # 0.6 s without readings
    w = np.full(t.size, 5_000.0)
    assert not stable_mask(t, w, P)[t < 3.3].any()
    assert judge(_readings(t, w), 2.95, P).reason == "gap"
    t2 = np.arange(0.0, 3.0, 0.1)
    assert judge(_readings(t2, np.full(t2.size, 5_000.0)), 2.95, P).accepted


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"over_range": True}, "over_range"),
        ({"under_range": True}, "under_range"),
        ({"weight_kg": None}, "no_weight"),
        ({"weight_kg": 100_000.0 + 10 * 20.0}, "over_range"),  # above Max + 9 e
        ({"weight_kg": -21 * 20.0}, "under_range"),
        ({"motion": True}, "indicator_motion"),
        ({"stable": False}, "indicator_motion"),
    ],
)
def test_one_bad_reading_in_the_window_refuses_the_weighing(change: dict[str, object], reason: str) -> None:
    t = np.arange(0.0, 3.0, 0.1)
    readings = _readings(t, np.full(t.size, 30_000.0), stable=True, motion=False)
    assert judge(readings, 2.95, P).accepted
    readings[-5] = replace(readings[-5], **change)  # type: ignore[arg-type]
    verdict = judge(readings, 2.95, P)
    assert not verdict.accepted and verdict.weight_kg is None
    assert verdict.reason == reason


def test_stale_short_and_empty_windows_are_refused() -> None:
    t = np.arange(0.0, 3.0, 0.1)
    readings = _readings(t, np.full(t.size, 30_000.0))
    assert judge([], 1.0, P).reason == "no_readings"
    assert judge(readings, 3.6, P).reason == "stale", "the indicator went silent 0.7 s ago"
    assert judge(readings, 1.0, P).reason == "window_short"
    assert judge(readings[-3:], 2.95, P).reason == "window_short"


def test_the_stable_flag_does_not_hide_a_jump() -> None:
    """The remote-control cheat: the weight jumps while the indicator keeps claiming stable."""
    t = np.arange(0.0, 3.0, 0.1)
    w = np.full(t.size, 30_000.0)
    w[(t > 2.0) & (t < 2.5)] = 26_000.0
    verdict = judge(_readings(t, w, stable=True, motion=False), 2.95, P)
    assert not verdict.accepted and verdict.reason == "motion"
    assert verdict.claimed_stable_while_moving
    # An honest indicator flags the motion itself: refused, and no cheat flagged.
    honest = _readings(t, w, stable=False, motion=True)
    assert not judge(honest, 2.95, P).claimed_stable_while_moving
    # Noise within one e is stable.
    w_ok = 30_000.0 + 20.0 * (np.arange(t.size) % 2)
    assert judge(_readings(t, w_ok, stable=True), 2.95, P).accepted


def test_zero_tracking_follows_slow_drift_at_half_a_division_per_second() -> None:
    state = ZeroState()
    # Drift of 4 kg/s (0.2 e/s) for 20 s: tracked, never more than 0.5 e behind.
    for k in range(200):
        t = k * 0.1
        state = track_zero(state, t, 4.0 * t, stable=True, params=P)
        assert abs(4.0 * t - state.offset_kg) <= 0.5 * 20.0
    assert state.offset_kg == pytest.approx(80.0, abs=1.0)
    assert not state.out_of_range
    # A 5 kg jump is tracked at most 10 kg/s (0.5 e/s): half a second later it is not yet absorbed.
    s1 = track_zero(ZeroState(0.0, 0.0), 0.5, 9.0, True, P)
    assert s1.offset_kg == pytest.approx(5.0)
    # Not stable, or more than half a division away: untouched.
    assert track_zero(ZeroState(0.0, 0.0), 1.0, 9.0, False, P).offset_kg == 0.0
    assert track_zero(ZeroState(0.0, 0.0), 1.0, 11.0, True, P).offset_kg == 0.0
    assert track_zero(ZeroState(0.0, 0.0), 1.0, 11.0, True, P).corrected(11.0) == 11.0


def test_zero_tracking_stops_at_four_percent_of_max_and_says_so() -> None:
    params = StabilityParams(division_kg=20.0, max_kg=1_000.0)  # 4 % of Max is 40 kg
    state = ZeroState()
    for k in range(400):
        state = track_zero(state, k * 0.1, 0.2 * k, True, params)  # 2 kg/s of drift for 40 s
    assert state.offset_kg == pytest.approx(40.0)
    assert state.out_of_range


def test_returned_to_zero_between_trucks() -> None:
    t = np.arange(0.0, 3.0, 0.1)
    empty = _readings(t, np.full(t.size, 0.0))
    assert returned_to_zero(empty, ZeroState(), 2.95, P)
    left_behind = _readings(t, np.full(t.size, 60.0))  # mud, a person or a remote-control weight: 3 e
    assert not returned_to_zero(left_behind, ZeroState(), 2.95, P)
    assert not returned_to_zero(empty, ZeroState(out_of_range=True), 2.95, P)


def test_monitor_keeps_one_window_and_applies_tracked_zero() -> None:
    monitor = StabilityMonitor(P)
    t = np.arange(0.0, 30.0, 0.1)
    monitor.extend(_readings(t, np.full(t.size, 8.0)))  # the empty deck reads 8 kg
    assert len(monitor._recent) <= (P.window_s + P.max_gap_s) / 0.1 + 2
    for k in range(20):
        monitor.track_zero(29.95 + k * 0.1)  # no new readings: the window stays the same
        monitor.extend(_readings(np.array([30.0 + k * 0.1]), np.array([8.0])))
    assert monitor.zero.offset_kg == pytest.approx(8.0)
    verdict = monitor.judge(31.95)
    assert verdict.accepted and verdict.weight_kg == 0.0 and verdict.median_kg == pytest.approx(0.0)


def test_params_are_checked() -> None:
    with pytest.raises(ValueError):
        StabilityParams(division_kg=0.0)
    with pytest.raises(ValueError):
        StabilityParams(min_readings=1)


# -- against the simulated indicator on a pty ----------------------------------------------------------------


async def _until(predicate, timeout_s: float = 8.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def _link(port: PtyPort) -> LinkConfig:
    return LinkConfig(url=port.path, read_timeout_s=0.3, backoff_initial_s=0.05, backoff_max_s=0.2)


async def test_toledo_truck_weighed_once_stable_and_the_cheat_refused(tmp_path: Path) -> None:
    params = StabilityParams(division_kg=20.0, window_s=1.0, motion_window_s=0.3, max_gap_s=0.3)
    port = PtyPort("toledo", tmp_path)
    sim = SimulatedIndicator("toledo", port, rate_hz=20, noise_kg=2.0)
    sim.deck.ring_tau_s = 0.3
    monitor = StabilityMonitor(params)
    driver = ToledoContinuous("scale", _link(port), monitor.add)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    sim.start()
    task = asyncio.create_task(driver.run(stop))
    try:
        await _until(lambda: monitor.judge(_now()).accepted)
        assert monitor.judge(_now()).weight_kg == 0.0
        sim.drive_on(36_000.0, ramp_s=1.0)
        await _until(lambda: monitor.judge(_now()).reason in ("motion", "indicator_motion"))
        started = loop.time()
        await _until(lambda: monitor.judge(_now()).accepted)
        assert loop.time() - started > params.window_s, "one full window after the motion"
        assert monitor.judge(_now()).weight_kg == pytest.approx(36_000.0, abs=20.0)

        sim.cheat_jump(-3_000.0, duration_s=0.4)
        await _until(lambda: monitor.judge(_now()).claimed_stable_while_moving, timeout_s=3)
        assert not monitor.judge(_now()).accepted

        sim.unplug()  # the indicator drops off mid-weighing: no weight is taken
        await _until(lambda: driver.link.state == LinkState.DOWN)
        await _until(lambda: monitor.judge(_now()).reason == "stale", timeout_s=params.max_gap_s + 0.2)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        sim.stop()


async def test_xk3190_without_a_stable_flag_is_judged_by_the_host(tmp_path: Path) -> None:
    params = StabilityParams(division_kg=20.0, window_s=1.0, motion_window_s=0.3, max_gap_s=0.3)
    port = PtyPort("xk", tmp_path)
    sim = SimulatedIndicator("xk3190", port, rate_hz=20, noise_kg=2.0)
    sim.deck.ring_tau_s = 0.3
    monitor = StabilityMonitor(params)
    driver = Xk3190("scale", _link(port), monitor.add)
    stop = asyncio.Event()
    sim.start()
    task = asyncio.create_task(driver.run(stop))
    try:
        sim.drive_on(25_000.0, ramp_s=1.0)
        await _until(lambda: monitor.judge(_now()).reason == "motion")
        await _until(lambda: monitor.judge(_now()).accepted)
        assert monitor.judge(_now()).weight_kg == pytest.approx(25_000.0, abs=20.0)
        sim.drive_on(80_000.0, ramp_s=0.0)  # 105 t on a 100 t deck
        await _until(lambda: monitor.judge(_now()).reason == "over_range")
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        sim.stop()


def _now() -> float:
    return time.monotonic()
