"""bench/pitch_information.py: the oracle that reads a 2-axle truck's exact axle forces on one 4.2 m platform.

On a level road the forces hold nothing but the truck's static loads and its pitch's answer to the blip, so
the oracle must find the truck's centre of gravity's height and its static gross; on the independent model's
own road at 30-40 km/h it must not (the bench's finding: the crossing does not measure the height there)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

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
