"""The centre of load along a platform (edge.wim.centre): where an axle alone on a platform is, and how it
accelerates, from the lever rule of the four corner cells; and what that adds to the gross's uncertainty."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.stretch_accel import simulator
from edge.wim.centre import (
    CENTRE_MARGIN_M,
    STRETCH_ACCEL_FLOOR_MPS2,
    Stretch,
    centre_events,
    centre_stretches,
    exit_loads,
    lone_runs,
)
from edge.wim.estimate import centre_accelerations
from edge.wim.motion import SpeedProfile

RATE_HZ = 1000.0
FOOTPRINT_M = 0.25
LENGTH_M = 4.2


def _lever_cells(x_axles: np.ndarray, loads_kg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cell loads (samples x 4) of one platform [0, LENGTH_M] by the documented lever rule: an axle a
    fraction u along it puts 1 - u of its load on the entry cells and u on the exit cells, half each side;
    its contact patch (uniform) shares the load with the ground off the platform."""
    lo = x_axles - FOOTPRINT_M / 2
    hi = x_axles + FOOTPRINT_M / 2
    on_lo, on_hi = np.maximum(lo, 0.0), np.minimum(hi, LENGTH_M)
    share = np.clip(on_hi - on_lo, 0.0, None) / FOOTPRINT_M
    u = np.clip((on_lo + on_hi) / 2 / LENGTH_M, 0.0, 1.0)
    on = loads_kg * share
    entry = (on * (1 - u)).sum(axis=1)
    exit_ = (on * u).sum(axis=1)
    cells = np.column_stack((entry / 2, entry / 2, exit_ / 2, exit_ / 2))
    return cells + rng.normal(0.0, 3.0, cells.shape)


def _profile(v0: float, offsets: list[float], t_end: float) -> SpeedProfile:
    """A constant-speed profile with the front axle at 0 m at t = 0."""
    return SpeedProfile(
        t_c_s=0.0,
        x0_m=0.0,
        v0_mps=v0,
        accel_mps2=0.0,
        offsets_m=np.asarray(offsets, dtype=np.float64),
        t_start_s=0.0,
        t_end_s=t_end,
        misfit_rms_m=0.0,
    )


def _braking_rear(brake_at_s: float, decel: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 2-axle truck (wheelbase 5 m, 6 t and 10 t) at 8 m/s whose brake bites at ``brake_at_s``: the
    sample times, the axle positions, and the cells' loads with the axle loads held (the ratio must not
    care about the loads, so they bounce at 3 Hz by 10 %)."""
    rng = np.random.default_rng(7)
    t = np.arange(-0.5, 2.0, 1.0 / RATE_HZ)
    after = np.clip(t - brake_at_s, 0.0, None)
    front = 8.0 * t - 0.5 * decel * after**2
    x = front[:, None] - np.array([0.0, 5.0])[None, :]
    bounce = 1.0 + 0.1 * np.sin(2 * np.pi * 3.0 * t)[:, None]
    cells = _lever_cells(x, np.array([6000.0, 10000.0])[None, :] * bounce, rng)
    return t, x, cells


def test_exit_loads_take_the_exit_corners_of_each_platform() -> None:
    counts = np.array([[110, 120, 130, 140, 15, 25, 35, 45]], dtype=np.int32)
    zero = np.array([10.0, 20.0, 30.0, 40.0, 5.0, 5.0, 5.0, 5.0])
    assert exit_loads(counts, zero, np.full(8, 2.0)).tolist() == [[400.0, 140.0]]


def _events(t: np.ndarray, cells: np.ndarray, profile: SpeedProfile) -> tuple[np.ndarray, ...]:
    exit_kg = cells[:, 2:].sum(axis=1, keepdims=True)
    total_kg = cells.sum(axis=1, keepdims=True)
    edges = np.array([0.0, LENGTH_M])
    runs = lone_runs(t, total_kg, edges, profile, FOOTPRINT_M)
    run_of, t_ev, x_ev = centre_events(runs, t, exit_kg, total_kg, edges)
    platform = np.array([runs[k].platform for k in run_of])
    axle = np.array([runs[k].axle for k in run_of])
    return platform, axle, t_ev, x_ev


def test_an_axle_alone_on_the_platform_is_placed_by_the_lever_rule() -> None:
    t, _, cells = _braking_rear(brake_at_s=10.0, decel=0.0)  # no brake: steady 8 m/s
    platform, axle, t_ev, x_ev = _events(t, cells, _profile(8.0, [0.0, 5.0], 1.2))
    # Both axles stand alone a while (5 m wheelbase on 4.2 m), four events each.
    assert axle.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert platform.tolist() == [0] * 8
    truth = 8.0 * t_ev - np.where(axle == 1, 5.0, 0.0)
    assert np.abs(x_ev - truth).max() < 0.002
    # Every event is where the axle's whole patch is on the platform and the other axle is off it.
    reach = FOOTPRINT_M / 2 + CENTRE_MARGIN_M
    assert np.all((x_ev > reach - 0.01) & (x_ev < LENGTH_M - reach + 0.01))


def test_an_event_is_where_the_axle_was_at_its_time_under_acceleration_too() -> None:
    """A crawling truck slowing at 0.4 m/s²: an event averaged over a long part of the run would sit
    a var(t) / 2 behind where the axle was at its mean time (12 mm over 0.85 s); over 0.1 s it does not."""
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 3.2, 1.0 / RATE_HZ)
    x = (1.5 * t - 0.2 * t**2 - 0.3)[:, None]
    cells = _lever_cells(x, np.array([[8000.0]]), rng)
    profile = SpeedProfile(1.0, 1.5 - 0.2 - 0.3, 1.5 - 0.4, -0.4, np.array([0.0]), 0.0, 3.2, 0.0)
    _, _, t_ev, x_ev = _events(t, cells, profile)
    assert t_ev.size == 4
    assert np.abs(x_ev - (1.5 * t_ev - 0.2 * t_ev**2 - 0.3)).max() < 0.001


def test_a_brake_between_the_two_weighings_shows_in_the_rear_axles_own_acceleration() -> None:
    # The front axle leaves the platform at 0.525 s; the brake bites at 0.6 s, before the rear arrives.
    t, _, cells = _braking_rear(brake_at_s=0.6, decel=1.5)
    exit_kg = cells[:, 2:].sum(axis=1, keepdims=True)
    total_kg = cells.sum(axis=1, keepdims=True)
    edges = np.array([0.0, LENGTH_M])
    # The strips' profile (a constant speed here) is good enough to say who stands where.
    runs = lone_runs(t, total_kg, edges, _profile(7.8, [0.0, 5.0], 1.2), FOOTPRINT_M)
    by_axle = {s.axle: s for s in centre_stretches(runs, t, exit_kg, total_kg, edges)}
    assert set(by_axle) == {0, 1}
    assert by_axle[0].accel_mps2 == pytest.approx(0.0, abs=0.05)
    assert by_axle[1].accel_mps2 == pytest.approx(-1.5, abs=0.05)
    assert by_axle[1].accel_se_mps2 < 0.2


def test_a_light_platform_gives_no_centre_of_load() -> None:
    """Below 200 kg on the platform the ratio of two small numbers is not taken: an empty trailer axle of
    150 kg (a made-up light load) gives no run."""
    t, x, _ = _braking_rear(brake_at_s=10.0, decel=0.0)
    cells = _lever_cells(x, np.array([[6000.0, 150.0]]), np.random.default_rng(1))
    runs = lone_runs(
        t,
        cells.sum(axis=1, keepdims=True),
        np.array([0.0, LENGTH_M]),
        _profile(8.0, [0.0, 5.0], 1.2),
        FOOTPRINT_M,
    )
    assert {run.axle for run in runs} == {0}


def test_measured_accelerations_replace_the_profiles_only_where_one_departs_beyond_its_noise() -> None:
    profile = _profile(8.0, [0.0, 5.0, 6.3], 1.2)  # its acceleration: 0 everywhere
    from_profile = np.zeros(3)

    def stretch(axle: int, accel: float, se: float = 0.01, platform: int = 0) -> Stretch:
        start = 0.5 * axle + platform
        return Stretch(platform, axle, start, start + 0.4, accel, se)

    # The rear axle braked at 1.2 m/s² where the profile shows none: every axle that stood alone takes its
    # own, with its calibrated uncertainty (0.05 m/s² at least, half the raw standard error beyond it);
    # the third axle, never alone, keeps the profile's.
    accels, se = centre_accelerations([stretch(0, 0.02), stretch(1, -1.2, 0.3)], profile, from_profile, 0.15)
    assert accels == pytest.approx([0.02, -1.2, 0.0])
    assert se == pytest.approx([math.hypot(0.05, 0.005), math.hypot(0.05, 0.15), 0.0])
    # Within the tolerance, or within twice a wide raw standard error: the profile's, exact.
    for case in ([stretch(1, -0.14)], [stretch(1, -1.2, se=0.7)]):
        accels, se = centre_accelerations(case, profile, from_profile, 0.15)
        assert accels.tolist() == [0.0, 0.0, 0.0] and se.tolist() == [0.0, 0.0, 0.0]
    # An axle's stretches on several platforms are averaged by their length (a pulse on one of three: a
    # third of it).
    on_three = [stretch(1, -1.2 if p == 0 else 0.0, 0.01, platform=p) for p in range(3)]
    accels, se = centre_accelerations(on_three, profile, from_profile, 0.15)
    assert accels[1] == pytest.approx(-0.4)
    assert se[1] == pytest.approx(math.hypot(0.05, 0.005) / math.sqrt(3))
    assert accels[0] == 0.0
    # Departures are measured from the profile's own mean over each stretch, not from zero.
    braking = SpeedProfile(0.0, 0.0, 8.0, -1.0, np.array([0.0, 5.0, 6.3]), 0.0, 3.0, 0.0)
    accels, _ = centre_accelerations([stretch(1, -1.1)], braking, np.full(3, -1.0), 0.15)
    assert accels.tolist() == [-1.0, -1.0, -1.0]


def test_a_stretchs_standard_error_covers_what_its_acceleration_misses() -> None:
    """Twice a stretch's calibrated standard uncertainty holds at least 95 % of its acceleration's errors
    against the true mean acceleration over the stretch, on 48 throttle-blipping trucks of firmware_sim's
    physics on one 4.2 m platform (``bench/stretch_accel.py``), where the residuals' spread makes it small
    (under 0.1 m/s², whose errors are the floor's: twice the raw standard error held 89 % of these) and
    where it makes it large, without swelling far past what the errors there need (their RMS is 0.21 of
    the raw one's)."""
    found = simulator(48, 5)
    miss = np.abs(np.array([error for error, _, _ in found]))
    se = np.array([sd for _, _, sd in found])
    assert se.size >= 60
    assert np.all(se >= STRETCH_ACCEL_FLOOR_MPS2)
    small = se < 0.1
    assert small.sum() >= 20 and (~small).sum() >= 20
    # As measured: 91 stretches, 63 under 0.1 m/s² (96.8 % covered; the raw one 88.9 %), the rest all
    # covered; the errors' RMS 0.40 of the large ones' (the raw one 0.21).
    assert np.mean(miss[small] <= 2 * se[small]) >= 0.95
    assert np.mean(miss[~small] <= 2 * se[~small]) >= 0.95
    rms = lambda values: float(np.sqrt(np.mean(values**2)))  # noqa: E731
    assert rms(miss[~small]) >= 0.25 * rms(se[~small])
