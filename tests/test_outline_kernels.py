"""Outline kernels against their NumPy references, on random input and on simulated scans."""

from __future__ import annotations

import numpy as np
import pytest

from edge.outline import kernels, reference
from firmware_sim.lidar_scene import SHAPES, Faults, Passage, default_gantry, simulate_passage


@pytest.mark.parametrize("seed", range(5))
def test_travel_matches_reference_and_integrates_the_profile(seed: int) -> None:
    rng = np.random.default_rng(seed)
    knots_t = np.sort(rng.uniform(0, 10, int(rng.integers(2, 12))))
    knots_v = rng.uniform(0.5, 6.0, knots_t.size)
    times = np.sort(rng.uniform(-1, 11, 300))
    got = kernels.travel(times, knots_t, knots_v)
    want = reference.travel_ref(times, knots_t, knots_v)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # constant acceleration from 2 m/s at 0.5 m/s^2: s = 2 t + t^2 / 4
    t = np.linspace(0, 4, 9)
    np.testing.assert_allclose(
        kernels.travel(t, np.array([0.0, 4.0]), np.array([2.0, 4.0])), 2 * t + t**2 / 4
    )


def _scans(seed: int, faults: str) -> tuple:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    name = list(SHAPES)[seed % len(SHAPES)]
    passage = Passage(SHAPES[name](rng), speed_m_s=float(rng.uniform(1.5, 5.5)))
    gantry = default_gantry()
    return passage, gantry, simulate_passage(passage, gantry, Faults.named(faults), rng)


@pytest.mark.parametrize("seed", range(3))
def test_scan_points_and_noise_match_reference(seed: int) -> None:
    passage, gantry, sim = _scans(seed, "all")
    profile_t = np.array([0.0, 100.0])
    profile_v = passage.speed_at(profile_t)
    for mount in gantry:
        args = (
            sim.ranges_mm[mount.name],
            sim.times_s[mount.name],
            mount.beam_angles_rad(),
            mount.y_m,
            mount.z_m,
            0.0,
            profile_t,
            profile_v,
            3.0,
            0.15,
        )
        got_p, got_s = kernels.scan_points(*args)
        want_p, want_s = reference.scan_points_ref(*args)
        np.testing.assert_allclose(got_p, want_p, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(got_s, want_s)
        assert got_p.shape[0] > 1000
        support_args = (sim.ranges_mm[mount.name], mount.beam_angles_rad(), 2, 0.08)
        np.testing.assert_array_equal(
            kernels.beam_support(*support_args), reference.beam_support_ref(*support_args)
        )
        assert kernels.range_noise_sigma(sim.ranges_mm[mount.name]) == pytest.approx(
            reference.range_noise_sigma_ref(sim.ranges_mm[mount.name]), rel=1e-12
        )


@pytest.mark.parametrize("seed", range(4))
def test_neighbour_counts_match_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    xyz = rng.uniform(-1, 1, (n, 3)) * rng.uniform(0.2, 3.0, 3)
    xyz[: n // 3] = np.round(xyz[: n // 3], 1)  # points on exact grid lines and duplicates
    radius = float(rng.uniform(0.05, 0.4))
    cap = int(rng.integers(1, 40))
    got = kernels.neighbour_counts(xyz, radius, cap)
    want = reference.neighbour_counts_ref(xyz, radius, cap)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(
        kernels.neighbour_counts(xyz, radius, n), reference.neighbour_counts_ref(xyz, radius, n)
    )
    assert got.max() <= cap


@pytest.mark.parametrize("seed", range(6))
def test_extents_match_reference(seed: int) -> None:
    rng = np.random.default_rng(50 + seed)
    n = int(rng.integers(5, 4000))
    points = rng.normal(0, 1, (n, 6))
    points[:, 1] = np.round(points[:, 1], 2)  # ties
    scan_key = np.sort(rng.integers(0, max(n // 20, 1), n)).astype(np.int64)
    points[:, 0] = scan_key * 0.05  # one x per scan, as from a scanner
    keep = rng.random(n) < 0.8
    trim = int(rng.integers(0, 4))
    mpp = int(rng.integers(1, 5))
    band = float(rng.uniform(0.0, 0.5))
    scan_trim = int(rng.integers(0, 3))
    # scans of up to three scanners, each scanner's scans contiguous as measure_outline builds them
    scanner = np.searchsorted(np.sort(rng.integers(0, scan_key.max() + 1, 2)), scan_key, side="right")
    half = int(rng.integers(0, 4))
    args = (points, scan_key, keep, mpp, trim, band, scan_trim, scanner.astype(np.int64), half)
    got = kernels.extents(*args)
    want = reference.extents_ref(*args)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert np.isfinite(got[:5]).all()


def test_extents_band_median_does_not_overshoot_a_noisy_roof() -> None:
    rng = np.random.default_rng(7)
    n_scans, per_scan = 200, 100
    roof = 3.8 + rng.normal(0, 0.01, (n_scans, per_scan))
    points = np.zeros((n_scans * per_scan, 6))
    points[:, 0] = np.repeat(np.arange(n_scans) * 0.04, per_scan)
    points[:, 1] = np.tile(np.linspace(-1.25, 1.25, per_scan), n_scans)
    points[:, 2] = roof.ravel()
    points[:, 3] = 6.5 - points[:, 2]
    key = np.repeat(np.arange(n_scans), per_scan).astype(np.int64)
    keep = np.ones(key.size, dtype=bool)
    top = kernels.extents(points, key, keep, 3, 2, 0.04, 2, np.zeros(key.size, dtype=np.int64), 2)[
        4
    ]  # band 4 sigma
    assert abs(top - 3.8) < 0.01  # the plain maximum is 3.8 + about 4 sigma
    assert points[:, 2].max() - 3.8 > 0.03


def _steps_profile(x: np.ndarray, shift: float = 0.0) -> np.ndarray:
    """A vehicle's top seen from above: bumper, cab, gap, box (a step profile), moved back by ``shift``."""
    u = x - shift
    z = np.where((u >= 0.0) & (u < 0.5), 1.2, 0.0)
    z = np.where((u >= 0.5) & (u < 2.2), 3.1, z)
    z = np.where((u >= 2.2) & (u < 2.4), 1.3, z)
    return np.where((u >= 2.4) & (u < 9.7), 3.9, z)


@pytest.mark.parametrize("seed", range(6))
def test_profile_shift_matches_reference_and_finds_the_shift(seed: int) -> None:
    rng = np.random.default_rng(seed)
    step = float(rng.uniform(0.014, 0.056))  # 1.4-5.6 m/s at 100 Hz
    shift = float(rng.uniform(-0.08, 0.08))
    xa = np.arange(-1.0 + rng.uniform(0, step), 11.0, step)
    xb = np.arange(-1.0 + rng.uniform(0, step), 11.0, step)
    za, zb = _steps_profile(xa), _steps_profile(xb, shift)
    # rows exist only for scans that saw the vehicle, each top a little noisy
    a, b = za > 0, zb > 0
    za = za + rng.normal(0, 0.01, za.size)
    zb = zb + rng.normal(0, 0.01, zb.size)
    args = (xa[a], za[a], xb[b], zb[b], 0.12, 0.005, 0.0005, 0.3)
    got = kernels.profile_shift(*args)
    want = reference.profile_shift_ref(*args)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert got[3] == 1.0
    # five edges (front, cab, gap, box, tail), each within a step: the shift to well under a step
    assert got[0] == pytest.approx(shift, abs=max(3 * got[1], 0.004))
    assert 0.1 * step < got[1] < step


def test_profile_shift_refuses_a_shift_beyond_its_search() -> None:
    x = np.arange(0.0, 10.0, 0.03)
    z = _steps_profile(x)
    far = _steps_profile(x, 0.3)
    for impl in (kernels.profile_shift, reference.profile_shift_ref):
        r = impl(x[z > 0], z[z > 0], x[far > 0], far[far > 0], 0.1, 0.005, 0.0005, 0.3)
        assert r[3] == 0.0 and np.isnan(r[0])  # the best lies on the end of the search: no answer
        short = impl(x[:5], z[:5], x[:5], z[:5], 0.1, 0.005, 0.0005, 0.3)
        assert short[3] == 0.0  # too few scans


@pytest.mark.parametrize("seed", range(3))
def test_scan_rows_match_reference(seed: int) -> None:
    passage, gantry, sim = _scans(seed, "all")
    mount = gantry[0]
    args = (
        sim.ranges_mm[mount.name],
        sim.times_s[mount.name],
        mount.beam_angles_rad(),
        mount.y_m,
        mount.z_m,
        0.0,
        np.array([0.0, 100.0]),
        passage.speed_at(np.array([0.0, 100.0])),
        3.0,
        0.15,
    )
    pts, scan = kernels.scan_points(*args)
    space = np.column_stack([pts[:, 4] * 4.0, pts[:, 1], pts[:, 2]])
    keep = kernels.neighbour_counts(space, 0.15, 10) >= 10
    row_args = (pts, scan, keep, 3, 0.04, 2, np.zeros(scan.size, dtype=np.int64), 2, 4)
    got = kernels.scan_rows(*row_args)
    want = reference.scan_rows_ref(*row_args)
    assert got.shape[0] > 100
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_profile_shift_wants_increasing_x() -> None:
    x = np.arange(0.0, 10.0, 0.03)
    z = _steps_profile(x)
    backwards = x[::-1].copy()
    for impl in (kernels.profile_shift, reference.profile_shift_ref):
        assert impl(x, z, x, z, 0.1, 0.005, 0.0005, 0.3)[3] == 1.0
        assert impl(backwards, z, x, z, 0.1, 0.005, 0.0005, 0.3)[3] == 0.0
        assert impl(x, z, backwards, z, 0.1, 0.005, 0.0005, 0.3)[3] == 0.0
