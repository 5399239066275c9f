"""The pitch transfer of an acceleration pulse the speed profile does not follow
(:func:`edge.wim.motion.pulse_transfer_kg`), checked against the test's own kinematics: a truck path with
a throttle blip, its strip times read off the path, and the load the pulse moved onto each axle found by
integrating the quasi-static pitch of the path's own acceleration over the axle's time on the platform."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from edge.wim.motion import SpeedProfile, fit_speed_profile, pulse_transfer_kg

ENTRY_X, EXIT_X = -0.5, 4.2  # one 4.2 m platform, the entry strip 0.5 m before it
PLATFORM = (0.0, 4.2)
# A 5-axle tractor and tandem semi-trailer: offsets behind the front axle (m), static loads (kg).
OFFSETS = np.array([0.0, 3.6, 4.9, 11.8, 13.1])
LOADS = np.array([7000.0, 10500.0, 10500.0, 9000.0, 9000.0])
CG_HEIGHT_M = 1.5
TIMING_SD_S = 0.001


def _per_mps2() -> np.ndarray:
    """Load moved onto each axle per m/s² of acceleration: the moment M a h of the rigid body, shared in
    proportion to load x distance ahead of the load centroid (accelerating unloads the front)."""
    ahead = -(OFFSETS - np.dot(LOADS, OFFSETS) / LOADS.sum())
    return -LOADS.sum() * CG_HEIGHT_M / 9.81 * LOADS * ahead / np.dot(LOADS, ahead**2)


def _blip(
    speed_kmh: float, rise: float, blip_s: float, at_s: float
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """The front axle's path and acceleration: 1 s before the entry strip at speed_kmh, then ``at_s``
    later the speed rises by ``rise`` (a fraction) at constant acceleration over ``blip_s``."""
    v = speed_kmh / 3.6
    accel = v * rise / blip_s if blip_s > 0 else 0.0

    def path(t: np.ndarray) -> np.ndarray:
        tau = np.asarray(t, dtype=np.float64) - 1.0
        ramp = np.clip(tau - at_s, 0.0, blip_s)
        after = np.clip(tau - at_s - blip_s, 0.0, None)
        return ENTRY_X - v + v * tau + 0.5 * accel * ramp * ramp + accel * blip_s * after

    def acceleration(t: np.ndarray) -> np.ndarray:
        tau = np.asarray(t, dtype=np.float64) - 1.0
        return np.where((tau >= at_s) & (tau < at_s + blip_s), accel, 0.0)

    return path, acceleration


def _crossing(
    path: Callable[[np.ndarray], np.ndarray],
    acceleration: Callable[[np.ndarray], np.ndarray],
    speed_kmh: float,
    seed: int = 1,
    offsets: np.ndarray = OFFSETS,
) -> tuple[np.ndarray, np.ndarray, SpeedProfile, np.ndarray]:
    """(entry times, exit times, fitted profile, the load the departure from the profile's acceleration
    moved onto each axle while it was on the platform, kg)."""
    v = speed_kmh / 3.6
    fine = np.linspace(0.0, 1.0 + 40.0 / v, 400_001)
    x = path(fine)
    rng = np.random.default_rng(seed)
    entry = np.interp(ENTRY_X + offsets, x, fine) + rng.normal(0.0, TIMING_SD_S, offsets.size)
    exit_ = np.interp(EXIT_X + offsets, x, fine) + rng.normal(0.0, TIMING_SD_S, offsets.size)
    profile = fit_speed_profile(entry, exit_, ENTRY_X, EXIT_X)
    assert profile is not None
    on = np.interp(PLATFORM[0] + offsets, x, fine)
    off = np.interp(PLATFORM[1] + offsets, x, fine)
    moved = np.zeros(offsets.size)
    if offsets.size == OFFSETS.size:
        for i in range(offsets.size):
            t = np.linspace(on[i], off[i], 4001)
            departure = float(np.mean(acceleration(t))) - profile.accel_mps2
            moved[i] = _per_mps2()[i] * departure
    return entry, exit_, profile, moved


@pytest.mark.parametrize(("speed_kmh", "at_s"), [(25.0, 1.15), (25.0, 1.62), (35.0, 1.18), (15.0, 1.83)])
def test_a_blip_on_some_axles_time_is_estimated_with_its_sign_and_covered(
    speed_kmh: float, at_s: float
) -> None:
    """A blip that lands on the tractor's time on the platform and not the trailer's moves 0.3-1.4 % of
    the gross (the test's own integral); the estimate has its sign and at least half its size (less twice
    its standard uncertainty), and the estimate with twice its standard uncertainty covers it."""
    path, acceleration = _blip(speed_kmh, 0.08, 0.6, at_s)
    entry, exit_, profile, moved = _crossing(path, acceleration, speed_kmh)
    assert abs(moved.sum()) > 100.0  # a pulse that matters
    result = pulse_transfer_kg(entry, exit_, ENTRY_X, EXIT_X, PLATFORM, profile, _per_mps2(), TIMING_SD_S)
    assert result is not None
    estimate, covariance = result
    gross, sd = float(estimate.sum()), math.sqrt(max(float(covariance.sum()), 0.0))
    assert np.sign(gross) == np.sign(moved.sum())
    assert abs(gross) >= 0.5 * abs(moved.sum()) - 2 * sd
    assert abs(moved.sum()) <= 2 * math.sqrt(sd**2 + gross**2)
    assert np.all(np.diag(covariance) >= -1e-6)


def test_a_slow_blip_misfits_widely_and_moves_little_load() -> None:
    """At 6 km/h a 10 % blip misfits the constant acceleration by centimetres, but lasts a fraction of
    each axle's 3 s on the platform: the term is a small fraction of the old misfit term's
    ``load x misfit x sqrt(2) / length`` (in quadrature over the axles), and still covers what moved."""
    path, acceleration = _blip(6.0, 0.10, 0.5, 4.0)
    entry, exit_, profile, moved = _crossing(path, acceleration, 6.0)
    assert profile.misfit_rms_m > 0.04
    result = pulse_transfer_kg(entry, exit_, ENTRY_X, EXIT_X, PLATFORM, profile, _per_mps2(), TIMING_SD_S)
    assert result is not None
    estimate, covariance = result
    term = 2 * math.sqrt(max(float(covariance.sum()), 0.0) + float(estimate.sum()) ** 2)
    old = 2 * math.sqrt(float(np.sum((LOADS * profile.misfit_rms_m * math.sqrt(2.0) / 4.2) ** 2)))
    assert term < 0.2 * old
    assert abs(moved.sum()) <= term + 10.0


def test_a_constant_acceleration_leaves_nothing_to_transfer() -> None:
    """Strips that fit the profile within their timing noise show no pulse: no estimate, no covariance."""
    v = 20.0 / 3.6

    def path(t: np.ndarray) -> np.ndarray:
        tau = np.asarray(t, dtype=np.float64) - 1.0
        return ENTRY_X - v + v * tau + 0.5 * 0.3 * np.clip(tau, 0.0, None) ** 2

    def acceleration(t: np.ndarray) -> np.ndarray:
        return np.where(np.asarray(t) >= 1.0, 0.3, 0.0)

    entry, exit_, profile, _ = _crossing(path, acceleration, 20.0, seed=5)
    result = pulse_transfer_kg(entry, exit_, ENTRY_X, EXIT_X, PLATFORM, profile, _per_mps2(), TIMING_SD_S)
    assert result is not None
    estimate, covariance = result
    assert np.all(estimate == 0.0) and np.all(covariance == 0.0)


def test_two_axles_without_intermediate_strips_cannot_show_a_pulse() -> None:
    """Four events, two offsets, a position and a speed, an acceleration: no degree of freedom left."""
    offsets = np.array([0.0, 4.5])
    path, acceleration = _blip(25.0, 0.08, 0.6, 1.0)
    entry, exit_, profile, _ = _crossing(path, acceleration, 25.0, offsets=offsets)
    transfer = np.array([-400.0, 400.0])
    assert pulse_transfer_kg(entry, exit_, ENTRY_X, EXIT_X, PLATFORM, profile, transfer, TIMING_SD_S) is None


def test_no_timing_noise_or_no_travel_between_the_strips_gives_no_term_rather_than_an_error() -> None:
    """The daemon's config forbids both; the function still answers None, not a singular matrix."""
    path, acceleration = _blip(25.0, 0.08, 0.6, 1.15)
    entry, exit_, profile, _ = _crossing(path, acceleration, 25.0)
    per = _per_mps2()
    assert pulse_transfer_kg(entry, exit_, ENTRY_X, EXIT_X, PLATFORM, profile, per, 0.0) is None
    assert pulse_transfer_kg(entry, exit_, EXIT_X, EXIT_X, PLATFORM, profile, per, TIMING_SD_S) is None
    assert (
        pulse_transfer_kg(entry, exit_ * np.nan, ENTRY_X, EXIT_X, PLATFORM, profile, per, TIMING_SD_S) is None
    )


def test_the_pulse_term_takes_the_misfit_terms_place_only_on_one_platform_beyond_the_noise() -> None:
    """:func:`edge.wim.estimate._pulse_resolved`: a misfit of more than 6 times the strips' noise (their
    timing uncertainty at the mean speed) on a scale of one platform; never on several platforms, where
    the misfit also misplaces the joints, nor without a speed or a profile."""
    from edge.config import ScaleConfig
    from edge.wim.estimate import PULSE_RESOLVED_NOISE_FACTOR, _pulse_resolved

    speed_mps = 5.0
    noise_m = 0.002 * speed_mps  # 1 cm
    single = ScaleConfig(platform_lengths_m=[4.2], strip_timing_sd_s=0.002)
    double = ScaleConfig(platform_lengths_m=[2.1, 2.1], strip_timing_sd_s=0.002)

    def profile(misfit_m: float) -> SpeedProfile:
        return SpeedProfile(0.0, 0.0, speed_mps, 0.0, np.zeros(3), -1.0, 1.0, misfit_m)

    above = profile(1.2 * PULSE_RESOLVED_NOISE_FACTOR * noise_m)
    below = profile(0.8 * PULSE_RESOLVED_NOISE_FACTOR * noise_m)
    assert _pulse_resolved(above, single, speed_mps)
    assert not _pulse_resolved(below, single, speed_mps)
    assert not _pulse_resolved(above, double, speed_mps)
    assert not _pulse_resolved(above, single, 0.0)
    assert not _pulse_resolved(None, single, speed_mps)
    # One axle: no pitch to transfer, so nothing would take the misfit term's place.
    one_axle = SpeedProfile(0.0, 0.0, speed_mps, 0.0, np.zeros(1), -1.0, 1.0, above.misfit_rms_m)
    assert not _pulse_resolved(one_axle, single, speed_mps)
