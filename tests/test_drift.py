"""Drift self-monitoring on the steer axle of loaded six-axle trucks."""

from __future__ import annotations

import numpy as np

from edge.wim.drift import DriftMonitor


def _feed(monitor: DriftMonitor, rng: np.random.Generator, n: int, mean_kg: float) -> None:
    for _ in range(n):
        monitor.observe("6-combination", 45_000.0, float(rng.normal(mean_kg, 180.0)))


def test_no_alarm_while_the_scale_is_stable() -> None:
    rng = np.random.default_rng(1)
    monitor = DriftMonitor()
    _feed(monitor, rng, 400, 7000.0)
    assert monitor.baseline_mean_kg is not None
    assert not monitor.alarm


def test_a_three_percent_span_drift_raises_the_alarm() -> None:
    rng = np.random.default_rng(2)
    monitor = DriftMonitor()
    _feed(monitor, rng, 120, 7000.0)
    _feed(monitor, rng, 60, 7000.0 * 1.03)
    assert monitor.alarm
    assert "drifted" in monitor.message and "+2.9%" in monitor.message


def test_other_vehicles_and_empty_trucks_are_ignored() -> None:
    monitor = DriftMonitor()
    monitor.observe("2-rigid", 15_000.0, 6000.0)
    monitor.observe("6-combination", 15_000.0, 6000.0)  # empty trailer
    assert monitor.observations == 0
    monitor.observe("6-combination-single-drive", 44_000.0, 6900.0)
    assert monitor.observations == 1
