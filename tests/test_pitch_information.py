"""bench/pitch_information.py: the oracle that reads a 2-axle truck's exact axle forces on one 4.2 m platform.

On a level road the forces hold nothing but the truck's static loads and its pitch's answer to the blip, so
the oracle must find the truck's centre of gravity's height and its static gross; on the independent model's
own road at 30-40 km/h it must not (the bench's finding: the crossing does not measure the height there)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import pitch_information as bench

from edge.wim.estimate import CG_HEIGHT_SPREAD_M


def test_level_road_slow_blip_measures_the_height_and_the_gross() -> None:
    results = bench.independent_crossings(3, 12, "throttle-blip", speed_kmh=(4.0, 8.0), road_gd_max=1e-14)
    measured = [r for r in results if math.isfinite(r.h_fit_m)]
    assert len(measured) >= 10
    misses = np.array([abs(r.h_fit_m - r.h_true_m) for r in measured])
    # Well within the prior's spread (the body's ringing after the blip's steps and the unsprung masses'
    # own inertia are what is left; a blip that barely overlaps the axles' time shows little).
    assert float(np.median(misses)) < 0.5 * CG_HEIGHT_SPREAD_M, misses
    known = np.array([abs(r.error_pct["h known"]) for r in measured])
    uncorrected = np.array([abs(r.error_pct["uncorrected"]) for r in measured])
    assert float(known.max()) < 0.1, known
    # With the height it measured, the gross too (in the median).
    with_measured = np.array([abs(r.error_pct["h measured"]) for r in measured])
    assert float(np.median(with_measured)) < 0.1, with_measured
    # The blip's transfer is there to correct: uncorrected, the gross is off by far more.
    assert float(np.median(uncorrected)) > 3 * float(np.median(known)), (uncorrected, known)


def test_fast_trucks_on_the_road_do_not_show_their_height() -> None:
    results = bench.independent_crossings(4, 24, "throttle-blip", speed_kmh=(30.0, 40.0))
    measured = [r for r in results if math.isfinite(r.h_fit_m)]
    assert len(measured) >= 20
    within = np.mean([abs(r.h_fit_m - r.h_true_m) <= CG_HEIGHT_SPREAD_M for r in measured])
    assert within < 0.5, within
    # Correcting with the height it measured leaves the gross worse than the typical height does.
    rms = {
        how: math.sqrt(float(np.mean([r.error_pct[how] ** 2 for r in measured])))
        for how in ("h measured", "h typical")
    }
    assert rms["h measured"] > 1.5 * rms["h typical"], rms


def test_simulator_blips_carry_a_transfer_the_true_height_corrects() -> None:
    results = bench.simulator_crossings(2026, 160, "throttle-blip", speed_kmh=(10.0, 30.0))
    assert len(results) >= 15
    # The simulator draws each truck's height (1.0 m empty, 1.6-2.3 m laden).
    heights = np.array([r.h_true_m for r in results])
    assert heights.min() >= 1.0 and heights.max() <= 2.3 and float(np.ptp(heights)) > 0.4
    rows = bench.summarise(results)
    assert sum(row["crossings"] for row in rows) == len(results)
    known = math.sqrt(float(np.mean([r.error_pct["h known"] ** 2 for r in results])))
    uncorrected = math.sqrt(float(np.mean([r.error_pct["uncorrected"] ** 2 for r in results])))
    typical = math.sqrt(float(np.mean([r.error_pct["h typical"] ** 2 for r in results])))
    assert uncorrected > 1.3 * known, (uncorrected, known)
    assert typical >= known, (typical, known)


def _synthetic(accel: np.ndarray, h_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A 2-axle truck whose forces are exactly its static loads plus the transfer at height ``h_m``."""
    static = np.array([6000.0, 12000.0])
    wheelbase = 5.0
    per_h = np.array([-1.0, 1.0]) * static.sum() / (9.81 * wheelbase)
    forces = static[None, :] + h_m * per_h[None, :] * accel[:, None]
    on = np.zeros((accel.size, 2), dtype=bool)
    on[:400, 0] = True  # the front axle alone, then the rear alone
    on[600:, 1] = True
    return forces, on, static, wheelbase


def test_oracle_recovers_an_exact_transfer() -> None:
    accel = np.where(np.arange(1000) < 250, 0.0, 0.8)  # a step while the front axle is on
    forces, on, static, wheelbase = _synthetic(accel, 1.9)
    fit = bench.oracle_fit(forces, on, accel, static, wheelbase, 1.9, 30.0)
    assert fit.h_fit_m == pytest.approx(1.9, abs=1e-9)
    assert abs(fit.error_pct["h known"]) < 1e-9 and abs(fit.error_pct["h measured"]) < 1e-9
    # The typical height under-corrects a 1.9 m truck; no correction at all is worse still.
    assert 0.0 < abs(fit.error_pct["h typical"]) < abs(fit.error_pct["uncorrected"])


def test_oracle_does_not_read_a_height_no_axle_saw_change() -> None:
    # Constant within each axle's time (0 under the front, 0.8 m/s² under the rear): the height's column
    # is a sum of the intercepts' and cannot be told from them.
    accel = np.where(np.arange(1000) < 500, 0.0, 0.8)
    forces, on, static, wheelbase = _synthetic(accel, 1.9)
    fit = bench.oracle_fit(forces, on, accel, static, wheelbase, 1.9, 30.0)
    assert math.isnan(fit.h_fit_m) and math.isnan(fit.error_pct["h measured"])
    assert abs(fit.error_pct["h known"]) < 1e-9
