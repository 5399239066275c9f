"""Numba kernels against their NumPy references on random input."""

from __future__ import annotations

import numpy as np
import pytest

from edge.wim import kernels, reference


@pytest.mark.parametrize("seed", range(5))
def test_platform_loads_matches_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_platforms = int(rng.integers(1, 5))
    counts = rng.integers(
        -(2**31), 2**31 - 1, size=(int(rng.integers(1, 500)), 4 * n_platforms), dtype=np.int64
    )
    counts = counts.astype(np.int32)
    zero = rng.normal(0, 1e4, 4 * n_platforms)
    span = rng.uniform(0.001, 0.1, 4 * n_platforms)
    got = kernels.platform_loads(counts, zero, span, 4)
    want = reference.platform_loads_ref(counts, zero, span, 4)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-6)


@pytest.mark.parametrize("seed", range(40))
def test_axle_normal_equations_match_reference(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n_platforms = int(rng.integers(1, 4))
    lengths = rng.uniform(2.5, 7.0, n_platforms)
    edges = np.concatenate(([0.0], np.cumsum(lengths)))
    n_axles = int(rng.integers(2, 8))
    speed = rng.uniform(1.0, 8.0)
    offsets = np.concatenate(([0.0], np.cumsum(rng.uniform(1.2, 5.0, n_axles - 1))))
    entry_x, exit_x = -0.5, float(edges[-1])
    entry_t = 1.0 + offsets / speed + rng.normal(0, 0.01, n_axles)
    exit_t = entry_t + (exit_x - entry_x) / (speed * rng.uniform(0.9, 1.1, n_axles))
    times = np.arange(0.0, float(exit_t.max()) + 1.0, 1e-3)
    loads = rng.normal(0, 5000, (times.size, n_platforms))
    margin = float(rng.uniform(0.0, 0.5))
    footprint = float(rng.uniform(0.1, 0.4))
    args = (times, loads, edges, entry_t, exit_t, entry_x, exit_x, margin, footprint)
    got = kernels.axle_normal_equations(*args)
    want = reference.axle_normal_equations_ref(*args)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-6)
    assert got[2] == pytest.approx(want[2], rel=1e-12)
    assert got[3] == want[3]


@pytest.mark.parametrize("seed", range(20))
def test_axle_residuals_match_reference_and_the_normal_equations(seed: int) -> None:
    rng = np.random.default_rng(300 + seed)
    n_platforms = int(rng.integers(1, 4))
    edges = np.concatenate(([0.0], np.cumsum(rng.uniform(2.5, 7.0, n_platforms))))
    n_axles = int(rng.integers(2, 7))
    speed = rng.uniform(1.0, 8.0)
    offsets = np.concatenate(([0.0], np.cumsum(rng.uniform(1.2, 5.0, n_axles - 1))))
    entry_x, exit_x = -0.5, float(edges[-1])
    entry_t = 1.0 + offsets / speed + rng.normal(0, 0.01, n_axles)
    exit_t = entry_t + (exit_x - entry_x) / (speed * rng.uniform(0.9, 1.1, n_axles))
    times = np.arange(0.0, float(exit_t.max()) + 1.0, 1e-3)
    platform_kg = rng.normal(0, 5000, (times.size, n_platforms))
    margin = float(rng.uniform(0.0, 0.5))
    footprint = float(rng.uniform(0.1, 0.4))
    loads = rng.uniform(3000, 12000, n_axles)
    args = (times, platform_kg, edges, entry_t, exit_t, entry_x, exit_x, margin, footprint)
    got = kernels.axle_residuals(*args, loads)
    want = reference.axle_residuals_ref(*args, loads)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-9, atol=1e-6)
    # The squared residuals are the normal equations' sum of squares at these loads.
    ata, atb, btb, used = kernels.axle_normal_equations(*args)
    assert int((~np.isnan(got)).sum()) == used
    sse = btb - 2 * loads @ atb + loads @ ata @ loads
    assert float(np.nansum(got * got)) == pytest.approx(sse, rel=1e-8)


def test_normal_equations_recover_exact_loads() -> None:
    """A noise-free signal built from the model (footprints ramping over edges) gives back the loads exactly."""
    edges = np.array([0.0, 6.0, 12.0, 18.0])
    axle_loads = np.array([7000.0, 11000.0, 11000.0, 9000.0, 9000.0, 9000.0])
    offsets = np.array([0.0, 3.4, 4.75, 11.0, 12.31, 13.62])
    speed = 3.0
    entry_x, exit_x = -0.5, 18.0
    entry_t = 2.0 + offsets / speed
    exit_t = entry_t + (exit_x - entry_x) / speed
    times = np.arange(0.0, exit_t.max() + 0.5, 1e-3)
    positions = reference.axle_positions_ref(times, entry_t, exit_t, entry_x, exit_x)
    loads = np.zeros((times.size, 3))
    for p in range(3):
        loads[:, p] = reference.footprint_share_ref(positions, edges[p], edges[p + 1], 0.25) @ axle_loads
    ata, atb, _, used = kernels.axle_normal_equations(
        times, loads, edges, entry_t, exit_t, entry_x, exit_x, 0.0, 0.25
    )
    assert used > 0
    np.testing.assert_allclose(np.linalg.solve(ata, atb), axle_loads, rtol=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_crossing_kinematics_matches_reference(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    n_axles = int(rng.integers(2, 9))
    entry_t = np.sort(rng.uniform(0, 10, n_axles))
    exit_t = entry_t + rng.uniform(2, 8, n_axles)
    got = kernels.crossing_kinematics(entry_t, exit_t, -0.5, 18.0)
    want = reference.crossing_kinematics_ref(entry_t, exit_t, -0.5, 18.0)
    np.testing.assert_allclose(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1])


def test_spacings_at_constant_speed_are_exact() -> None:
    offsets = np.array([0.0, 3.8, 5.15])
    speed = 4.0
    entry_t = offsets / speed
    exit_t = entry_t + 18.5 / speed
    speeds, spacings = kernels.crossing_kinematics(entry_t, exit_t, -0.5, 18.0)
    np.testing.assert_allclose(speeds, speed)
    np.testing.assert_allclose(spacings, np.diff(offsets))


def test_footprint_share_ramps_across_an_edge() -> None:
    positions = np.array([[-0.2, -0.125, 0.0, 0.0625, 0.125, 3.0, 5.95, 6.2]])
    share = reference.footprint_share_ref(positions, 0.0, 6.0, 0.25)
    np.testing.assert_allclose(share[0], [0.0, 0.0, 0.5, 0.75, 1.0, 1.0, 0.7, 0.0])


def test_normal_equations_fall_back_on_unsorted_times_and_reversing_axles() -> None:
    """The segment shortcut needs sorted times and forward motion; otherwise every sample is visited."""
    rng = np.random.default_rng(7)
    edges = np.array([0.0, 3.6, 7.2])
    times = rng.permutation(np.arange(0.0, 6.0, 1e-3))
    loads = rng.normal(0, 3000, (times.size, 2))
    entry_t = np.array([1.0, 1.5])
    for exit_t in (
        np.array([3.0, 3.5]),
        np.array([0.5, 3.5]),
    ):  # the second: an axle "exits" before it enters
        args = (times, loads, edges, entry_t, exit_t, -0.5, 7.2, 0.1, 0.25)
        got = kernels.axle_normal_equations(*args)
        want = reference.axle_normal_equations_ref(*args)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-6)
        assert got[3] == want[3]


def _dynamic_args(seed: int, shuffle: bool = False) -> tuple:  # type: ignore[type-arg]
    rng = np.random.default_rng(300 + seed)
    n_platforms = int(rng.integers(1, 4))
    lengths = rng.uniform(2.5, 7.0, n_platforms)
    edges = np.concatenate(([0.0], np.cumsum(lengths)))
    n_axles = int(rng.integers(2, 8))
    speed = rng.uniform(1.0, 8.0)
    offsets = np.concatenate(([0.0], np.cumsum(rng.uniform(1.2, 5.0, n_axles - 1))))
    entry_x, exit_x = -0.5, float(edges[-1])
    entry_t = 1.0 + offsets / speed + rng.normal(0, 0.01, n_axles)
    exit_t = entry_t + (exit_x - entry_x) / (speed * rng.uniform(0.9, 1.1, n_axles))
    times = np.arange(0.0, float(exit_t.max()) + 1.0, 1e-3)
    if shuffle:
        times = rng.permutation(times)
    loads = rng.normal(0, 5000, (times.size, n_platforms))
    margin = float(rng.uniform(0.0, 0.5))
    footprint = float(rng.uniform(0.1, 0.4))
    weights = rng.normal(0, 5000, (int(rng.integers(0, 5)), n_axles))
    n_knots = int(rng.integers(2, 60))
    t0 = float(rng.uniform(0.0, 2.0))
    step = float(rng.uniform(0.02, 0.5))
    return (
        times,
        loads,
        edges,
        entry_t,
        exit_t,
        entry_x,
        exit_x,
        margin,
        footprint,
        weights,
        t0,
        step,
        n_knots,
    )


@pytest.mark.parametrize("seed", range(30))
def test_dynamic_normal_equations_match_reference(seed: int) -> None:
    args = _dynamic_args(seed, shuffle=seed % 10 == 9)
    got = kernels.dynamic_normal_equations(*args)
    want = reference.dynamic_normal_equations_ref(*args)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-9, atol=1e-9 * float(np.abs(want[0]).max()))
    np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-9 * float(np.abs(want[1]).max()))
    n_axles = args[3].shape[0]
    steady = kernels.axle_normal_equations(*args[:9])
    np.testing.assert_allclose(got[0][:n_axles, :n_axles], steady[0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got[1][:n_axles], steady[1], rtol=1e-9, atol=1e-6)


def test_hat_basis_interpolates_between_knots() -> None:
    basis = reference.hat_basis_ref(np.array([-1.0, 0.0, 0.25, 1.0, 1.9, 2.0, 5.0]), 0.0, 1.0, 3)
    np.testing.assert_allclose(basis.sum(axis=1), 1.0)
    np.testing.assert_allclose(basis[2], [0.75, 0.25, 0.0])
    np.testing.assert_allclose(basis[0], [1.0, 0.0, 0.0])  # held before the first knot ...
    np.testing.assert_allclose(basis[-1], [0.0, 0.0, 1.0])  # ... and after the last


def test_dynamic_normal_equations_recover_a_bouncing_body_exactly() -> None:
    """A noise-free signal built from the model (a heave time course on the knots) gives back the split.

    The heave's mean level and the static loads are one and the same to the data (the estimator's prior
    settles it), so the loads come back up to a common factor: the shares of the gross exactly."""
    edges = np.array([0.0, 6.0, 12.0, 18.0])
    axle_loads = np.array([7000.0, 11000.0, 11000.0])
    offsets = np.array([0.0, 3.4, 4.75])
    speed = 8.0
    entry_x, exit_x = -0.5, 18.0
    entry_t = 1.0 + offsets / speed
    exit_t = entry_t + (exit_x - entry_x) / speed
    times = np.arange(0.0, exit_t.max() + 0.5, 1e-3)
    t0, step, n_knots = 1.0, 0.0625, 50
    heave = 0.05 * np.sin(np.arange(n_knots) * 0.9)  # the body's heave at each knot, fraction of static
    weights = axle_loads[None, :]
    factor = 1.0 + reference.hat_basis_ref(times, t0, step, n_knots) @ heave
    positions = reference.axle_positions_ref(times, entry_t, exit_t, entry_x, exit_x)
    loads = np.zeros((times.size, 3))
    for p in range(3):
        share = reference.footprint_share_ref(positions, edges[p], edges[p + 1], 0.25)
        loads[:, p] = share @ axle_loads * factor
    ata, atb = kernels.dynamic_normal_equations(
        times, loads, edges, entry_t, exit_t, entry_x, exit_x, 0.0, 0.25, weights, t0, step, n_knots
    )
    keep = np.diag(ata) > 0
    prior = 1e-10 * np.diag(np.where(np.arange(ata.shape[0]) < 3, 0.0, float(np.diag(ata).max())))
    solution = np.linalg.solve((ata + prior)[np.ix_(keep, keep)], atb[keep])
    np.testing.assert_allclose(solution[:3] / solution[:3].sum(), axle_loads / axle_loads.sum(), rtol=1e-6)


@pytest.mark.parametrize("seed", range(20))
def test_body_knot_covariance_matches_reference(seed: int) -> None:
    rng = np.random.default_rng(400 + seed)
    step = float(rng.uniform(0.01, 2.0))
    n_knots = int(rng.integers(1, 150))
    low = float(rng.uniform(0.5, 5.0))
    high = low if seed % 5 == 4 else low + float(rng.uniform(0.0, 6.0))  # a single mode too
    damping = float(rng.uniform(0.02, 0.9))
    args = (step, n_knots, low, high, damping)
    got = kernels.body_knot_covariance(*args)
    want = reference.body_knot_covariance_ref(*args)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10 * float(want[0]))


def test_body_load_spectrum_is_a_unit_variance_mix_of_band_pass_modes() -> None:
    """The closed form equals the average of single modes over the band, and integrates to 1."""
    f = np.linspace(1e-3, 50.0, 50_000)
    spectrum = reference.body_load_spectrum_ref(f, 1.5, 4.0, 0.15)
    modes = np.linspace(1.5, 4.0, 2001)
    mixed = np.mean([reference.body_load_spectrum_ref(f[::50], f0, f0, 0.15) for f0 in modes], axis=0)
    np.testing.assert_allclose(spectrum[::50], mixed, atol=2e-3 * spectrum.max())
    fine = np.linspace(1e-4, 400.0, 4_000_001)  # the 1 / f^2 tail beyond 400 Hz holds ~0.2 %
    assert np.trapezoid(reference.body_load_spectrum_ref(fine, 1.5, 4.0, 0.15), fine) == pytest.approx(
        1.0, abs=3e-3
    )
    assert reference.body_load_spectrum_ref(np.array([1e-3]), 1.5, 4.0, 0.15)[0] < 1e-6  # no steady part


def test_body_knot_covariance_is_a_covariance_that_averages_down_with_the_knot_interval() -> None:
    close = kernels.body_knot_covariance(0.002, 400, 1.5, 4.0, 0.15)
    assert close[0] == pytest.approx(1.0, abs=0.02)  # knots much closer than a period: the process itself
    wide = kernels.body_knot_covariance(1.0, 40, 1.5, 4.0, 0.15)
    assert wide[0] < 0.01  # a knot interval of several periods averages the motion down
    for row in (close, wide, kernels.body_knot_covariance(0.05, 80, 1.5, 4.0, 0.15)):
        n = row.size
        toeplitz = row[np.abs(np.subtract.outer(np.arange(n), np.arange(n)))]
        assert np.linalg.eigvalsh(toeplitz).min() > -1e-9 * row[0]
    # About 1 / (2 pi z f) s after a swing the body no longer remembers it: over 2 s the lags fall.
    mid = kernels.body_knot_covariance(0.05, 80, 1.5, 4.0, 0.15)
    assert np.abs(mid[40:]).max() < 0.05 * mid[0]


def _profile_args(rng: np.random.Generator, n_axles: int, span_s: float) -> tuple:  # type: ignore[type-arg]
    """A speed profile as fit_speed_profile gives it: events over ``span_s`` s, a gentle acceleration."""
    t_start = float(rng.uniform(0.0, 5.0))
    t_end = t_start + span_s
    offsets = np.concatenate(([0.0], np.cumsum(rng.uniform(1.2, 7.0, n_axles - 1))))
    # Every other profile is a ramp between two cruises, somewhere within the events' span.
    ramp = np.sort(rng.uniform(t_start, t_end, 2)) if rng.random() < 0.5 else np.array([t_start, t_end])
    return (
        float(ramp.mean()),
        float(rng.uniform(-2.0, 8.0)),
        float(rng.uniform(1.0, 11.0)),
        float(rng.uniform(-0.5, 0.5)),
        t_start,
        t_end,
        float(ramp[0]),
        float(ramp[1]),
        offsets,
    )


@pytest.mark.parametrize("seed", range(20))
def test_warped_times_match_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_axles = 1 if seed % 5 == 0 else int(rng.integers(2, 7))
    span_s = 0.0 if seed % 7 == 3 else float(rng.uniform(0.5, 6.0))  # one event time: no span
    t_c, x0, v0, accel, t_start, t_end, ramp_start, ramp_end, offsets = _profile_args(rng, n_axles, span_s)
    # Samples before, within and after the events' span; unsorted samples too.
    times = np.sort(rng.uniform(t_start - 2.0, t_end + 2.0, int(rng.integers(0, 3000))))
    if seed % 3 == 0:
        rng.shuffle(times)
    args = (times, t_c, x0, v0, accel, t_start, t_end, ramp_start, ramp_end, offsets, -0.5, 18.0)
    got = kernels.warped_times(*args)
    want = reference.warped_times_ref(*args)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    assert got[0].shape == times.shape and got[1].shape == got[2].shape == offsets.shape


def test_warped_clock_puts_every_axle_at_the_strips_at_its_events() -> None:
    """Events generated from a constant-acceleration path: on the warped clock, axle i reaches the entry
    strip at entry[i] and the exit strip at exit[i], and the clock runs on at constant speed outside."""
    from edge.wim.motion import fit_speed_profile

    v0, accel, entry_x, exit_x = 6.0, -0.3, -0.5, 18.0
    offsets = np.array([0.0, 3.6, 4.95, 12.0])

    def time_at(x: float) -> float:  # front at x on X(t) = v0 t + a t^2 / 2
        return float((-v0 + np.sqrt(v0 * v0 + 2 * accel * x)) / accel)

    entry_t = np.array([time_at(entry_x + 10.0 + d) for d in offsets])
    exit_t = np.array([time_at(exit_x + 10.0 + d) for d in offsets])
    profile = fit_speed_profile(entry_t, exit_t, entry_x, exit_x)
    assert profile is not None
    args = profile.clock_args
    for fn in (kernels.warped_times, reference.warped_times_ref):
        warped_entry, entry, exit_, speed = fn(entry_t, *args, entry_x, exit_x)
        warped_exit = fn(exit_t, *args, entry_x, exit_x)[0]
        np.testing.assert_allclose(warped_entry, entry, atol=1e-9)
        np.testing.assert_allclose(warped_exit, exit_, atol=1e-9)
        outside = fn(np.array([entry_t[0] - 2.0, entry_t[0] - 1.0]), *args, entry_x, exit_x)[0]
        assert outside[1] - outside[0] == pytest.approx(profile.start_speed_mps / speed, rel=1e-9)


def _residuals(rng: np.random.Generator, n_samples: int, n_platforms: int) -> np.ndarray:
    residuals = rng.normal(0.0, 30.0, (n_samples, n_platforms)) + rng.normal(0.0, 50.0, n_platforms)
    residuals[rng.random((n_samples, n_platforms)) < 0.2] = np.nan  # rows the model skipped
    return residuals


@pytest.mark.parametrize("seed", range(20))
def test_residual_batch_means_match_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_platforms = int(rng.integers(1, 4))
    residuals = _residuals(rng, int(rng.integers(0, 2000)), n_platforms)
    if seed % 4 == 1:
        residuals[:, int(rng.integers(n_platforms))] = np.nan  # a platform no row was kept on
    block = 1 if seed % 5 == 2 else int(rng.integers(2, 400))  # often longer than a platform's data
    got = kernels.residual_batch_means(residuals, block)
    want = reference.residual_batch_means_ref(residuals, block)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    assert got[1] == want[1] == int(np.count_nonzero(~np.isnan(residuals)))
    assert got[3] == want[3]


@pytest.mark.parametrize(
    ("residuals", "block", "expected"),
    [
        # 10 kept samples of 2.0 in blocks of 4: two whole blocks, the last two samples left out.
        (np.array([[2.0]] * 10 + [[np.nan]] * 3), 4, (40.0, 10, 8.0, 2)),
        # Blocks run over the kept samples: the NaN rows between them do not break a block.
        (np.array([[1.0, np.nan], [np.nan, 3.0], [3.0, np.nan], [np.nan, np.nan]]), 2, (19.0, 3, 4.0, 1)),
        # A block longer than the data: no block means, the squares still counted.
        (np.array([[1.0, -1.0], [2.0, -2.0]]), 5, (10.0, 4, 0.0, 0)),
        # Every row skipped, and no platform at all.
        (np.full((5, 2), np.nan), 2, (0.0, 0, 0.0, 0)),
        (np.zeros((7, 0)), 2, (0.0, 0, 0.0, 0)),
    ],
)
def test_residual_batch_means_edge_cases(residuals: np.ndarray, block: int, expected: tuple) -> None:  # type: ignore[type-arg]
    for fn in (kernels.residual_batch_means, reference.residual_batch_means_ref):
        got = fn(residuals, block)
        assert got == pytest.approx(expected), fn


@pytest.mark.parametrize(
    "case", ["unsorted", "reversing", "nan_rows", "one_axle", "no_samples", "axle_on_an_edge_throughout"]
)
def test_axle_residuals_by_segments_match_reference_on_edge_cases(case: str) -> None:
    """The segment shortcut needs sorted times and forward motion; otherwise (and on lost samples, one
    axle, no samples, a footprint straddling an edge all window long) it agrees with the per-sample model."""
    rng = np.random.default_rng(11)
    edges = np.array([0.0, 3.6, 7.2])
    times = np.arange(0.0, 6.0, 1e-3)
    entry_t, exit_t = np.array([1.0, 1.5]), np.array([3.0, 3.5])
    if case == "unsorted":
        times = rng.permutation(times)
    elif case == "reversing":
        exit_t = np.array([0.5, 3.5])  # an axle "exits" before it enters
    elif case == "one_axle":
        entry_t, exit_t = entry_t[:1], exit_t[:1]
    elif case == "no_samples":
        times = times[:0]
    elif case == "axle_on_an_edge_throughout":
        # The second axle crawls (a micrometre a second) with its footprint on the edge x = -0.5.
        entry_t, exit_t = np.array([1.0, 3.0]), np.array([3.0, 3.0 + 7.7e6])
        edges = np.array([-0.5, 3.6, 7.2])
    platform_kg = rng.normal(0, 3000, (times.size, 2))
    if case == "nan_rows":
        platform_kg[rng.random(times.size) < 0.1] = np.nan
    loads = rng.uniform(3000, 12000, entry_t.size)
    args = (times, platform_kg, edges, entry_t, exit_t, -0.5, 7.2, 0.1, 0.25, loads)
    got = kernels.axle_residuals(*args)
    want = reference.axle_residuals_ref(*args)
    assert got.shape == want.shape == (times.size, 2)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-9, atol=1e-6)
    if case != "no_samples":
        assert np.isnan(got).any() and (~np.isnan(got)).any()  # both kinds of row were there to compare


def test_warped_clock_of_a_ramp_profile_puts_every_axle_at_the_strips_at_its_events() -> None:
    """Events from a path that cruises, steps its speed up 8 % over 0.6 s, and cruises on: the profile
    fitted is a ramp, and on its warped clock each axle reaches the strips at its events (within the
    grid's placement of the knots), and the clock runs on at the ramp's end speeds outside the events."""
    from edge.wim.motion import fit_speed_profile

    v, rise, t_a, width, entry_x, exit_x = 3.0, 0.08, 6.0, 0.6, -0.5, 18.0
    offsets = np.array([0.0, 3.6, 4.95, 12.0, 13.31])
    accel = v * rise / width

    def front(t: np.ndarray) -> np.ndarray:
        ramp = np.clip(t - t_a, 0.0, width)
        return v * t + 0.5 * accel * ramp * ramp + accel * width * np.clip(t - t_a - width, 0.0, None)

    fine = np.linspace(0.0, 40.0, 400_001)
    positions = front(fine)
    entry_t = np.interp(entry_x + 10.0 + offsets, positions, fine)
    exit_t = np.interp(exit_x + 10.0 + offsets, positions, fine)
    profile = fit_speed_profile(entry_t, exit_t, entry_x, exit_x, ramp_timing_sd_s=0.0023)
    assert profile is not None and not np.isnan(profile.ramp_start_s)
    assert profile.end_speed_mps / profile.start_speed_mps == pytest.approx(1 + rise, abs=0.005)
    args = profile.clock_args
    for fn in (kernels.warped_times, reference.warped_times_ref):
        warped_entry, entry, exit_, speed = fn(entry_t, *args, entry_x, exit_x)
        warped_exit = fn(exit_t, *args, entry_x, exit_x)[0]
        # Within 5 mm of travel: the knots are placed on a grid, and of the pairs that fit as well within
        # the strips' noise (7 mm here) the one with the least change of speed is taken.
        np.testing.assert_allclose(warped_entry * speed, entry * speed, atol=0.005)
        np.testing.assert_allclose(warped_exit * speed, exit_ * speed, atol=0.005)
        before = fn(np.array([entry_t[0] - 2.0, entry_t[0] - 1.0]), *args, entry_x, exit_x)[0]
        after = fn(np.array([exit_t[-1] + 1.0, exit_t[-1] + 2.0]), *args, entry_x, exit_x)[0]
        assert before[1] - before[0] == pytest.approx(profile.start_speed_mps / speed, rel=1e-9)
        assert after[1] - after[0] == pytest.approx(profile.end_speed_mps / speed, rel=1e-9)


def _truck_on_platforms(seed: int) -> dict[str, object]:
    """A random truck crossing random platforms: every axle's place at every sample, and the platforms'
    loads (each axle's footprint share of its load, plus noise), for the centre-of-load and edge kernels."""
    rng = np.random.default_rng(900 + seed)
    n_platforms = int(rng.integers(1, 4))
    edges = np.concatenate(([0.0], np.cumsum(rng.uniform(2.5, 7.0, n_platforms))))
    n_axles = int(rng.integers(1, 7))
    offsets = np.concatenate(([0.0], np.cumsum(rng.uniform(1.2, 5.0, n_axles - 1))))
    loads = rng.uniform(2_000.0, 12_000.0, n_axles)
    rate = float(rng.choice([500.0, 1000.0, 2000.0]))
    speed = rng.uniform(1.0, 11.0)
    span_s = (edges[-1] + offsets[-1] + 2.0) / speed
    times = 100.0 + np.arange(int(span_s * rate)) / rate
    accel = rng.uniform(-0.3, 0.3) if seed % 3 else 0.0
    front = -1.0 + speed * (times - times[0]) + 0.5 * accel * (times - times[0]) ** 2
    if seed % 7 == 6:  # a truck that rolls back a little: every sample looked at
        front = front - 0.3 * np.sin(times - times[0])
    footprint = 0.25
    x = front[:, None] - offsets[None, :]
    platform_kg = np.stack(
        [
            reference.footprint_share_ref(x, edges[p], edges[p + 1], footprint) @ loads
            for p in range(n_platforms)
        ],
        axis=1,
    ) + rng.normal(0.0, 30.0, (times.size, n_platforms))
    exit_kg = platform_kg * rng.uniform(0.0, 1.0, platform_kg.shape)
    return {
        "rng": rng,
        "edges": edges,
        "offsets": offsets,
        "loads": loads,
        "times": times,
        "front": front,
        "platform_kg": platform_kg,
        "exit_kg": exit_kg,
        "footprint": footprint,
    }


@pytest.mark.parametrize("seed", range(30))
def test_lone_runs_and_centre_events_match_reference(seed: int) -> None:
    truck = _truck_on_platforms(seed)
    args = (truck["front"], truck["offsets"], truck["platform_kg"], truck["edges"], 0.275, 200.0, 10)
    got = kernels.lone_runs(*args)  # type: ignore[arg-type]
    want = reference.lone_runs_ref(*args)  # type: ignore[arg-type]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    platform, _, start, stop = want
    n_axles = truck["offsets"].size  # type: ignore[attr-defined]
    if n_axles == 1 and seed % 7 != 6:  # one axle moving forward: alone on each platform once
        assert platform.size == truck["edges"].size - 1  # type: ignore[attr-defined]
    events = (
        truck["times"],
        truck["exit_kg"],
        truck["platform_kg"],
        truck["edges"],
        platform,
        start,
        stop,
        4,
        10,
        0.1,
    )
    got_e = kernels.centre_events(*events)  # type: ignore[arg-type]
    want_e = reference.centre_events_ref(*events)  # type: ignore[arg-type]
    np.testing.assert_array_equal(got_e[0], want_e[0])
    np.testing.assert_allclose(got_e[1], want_e[1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_e[2], want_e[2], rtol=0, atol=1e-9)
    assert got_e[0].size >= platform.size  # every run gives at least one event


@pytest.mark.parametrize("seed", range(40))
def test_edge_reading_matches_reference(seed: int) -> None:
    truck = _truck_on_platforms(seed)
    edges = truck["edges"]
    rng = truck["rng"]
    times = truck["times"]
    if edges.size < 3:  # type: ignore[attr-defined]
        edges = np.concatenate((edges, [edges[-1] + 4.0]))  # type: ignore[index]
        truck["platform_kg"] = np.column_stack((truck["platform_kg"], rng.normal(0, 30, times.size)))  # type: ignore[union-attr,attr-defined]
    n_axles = truck["offsets"].size  # type: ignore[attr-defined]
    after = int(rng.integers(1, edges.size - 1))  # type: ignore[attr-defined]
    read_any = False
    for _ in range(20):
        i = int(rng.integers(0, n_axles))
        others = np.delete(np.arange(n_axles), i)
        lo = int(rng.integers(1, times.size - 20))  # type: ignore[attr-defined]
        hi = lo + int(rng.integers(5, 400))
        args = (
            times,
            truck["front"],
            truck["platform_kg"],
            lo,
            min(hi, times.size - 1),  # type: ignore[attr-defined]
            truck["offsets"][others],  # type: ignore[index]
            truck["loads"][others],  # type: ignore[index]
            float(truck["loads"][i]),  # type: ignore[index]
            float(edges[after]),  # type: ignore[index]
            after,
            edges,
            float(rng.uniform(0.0, 1.0)),
            0.25,
        )
        got = kernels.edge_reading(*args)  # type: ignore[arg-type]
        want = reference.edge_reading_ref(*args)  # type: ignore[arg-type]
        assert got[0] == want[0]
        if want[0] > 0:
            read_any = True
            assert got[1] == pytest.approx(want[1], abs=1e-9)
        else:
            assert np.isnan(got[1]) and np.isnan(want[1])
    assert read_any or n_axles > 1  # one axle: nothing blocks its reading


@pytest.mark.parametrize("seed", range(12))
def test_dynamic_unit_responses_match_reference(seed: int) -> None:
    # The body fit's response to each platform's zero: A^T u_p for 1 kg on platform p, every p at once,
    # as the reference's (and the full kernel's for each unit signal, bit for bit).
    args = _dynamic_args(seed, shuffle=seed % 6 == 5)
    signal = args[1]
    n_platforms = signal.shape[1]
    got = kernels.dynamic_unit_responses(args[0], n_platforms, *args[2:])
    want = reference.dynamic_unit_responses_ref(args[0], n_platforms, *args[2:])
    assert got.shape == want.shape == (kernels.dynamic_normal_equations(*args)[1].size, n_platforms)
    assert np.abs(want).max() > 0  # the unit signals reach the equations
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * max(float(np.abs(want).max()), 1.0))
    for p in range(n_platforms):
        unit = np.zeros_like(signal)
        unit[:, p] = 1.0
        np.testing.assert_array_equal(
            got[:, p], kernels.dynamic_normal_equations(args[0], unit, *args[2:])[1]
        )


def test_edge_reading_of_an_unknown_place_is_unknown() -> None:
    # Another axle's place NaN at one sample: its share is unknown, so is the reading (as np.clip gives it).
    truck = _truck_on_platforms(4)
    front = truck["front"].copy()  # type: ignore[union-attr]
    edges = truck["edges"]
    offsets, loads = truck["offsets"], truck["loads"]
    lo = int(np.searchsorted(front, edges[1] - 1.0))  # type: ignore[index]
    hi = int(np.searchsorted(front, edges[1] + 1.0))  # type: ignore[index]
    args = [truck["times"], front, truck["platform_kg"], lo, hi, offsets[1:], loads[1:], float(loads[0])]  # type: ignore[index]
    args += [float(edges[1]), 1, edges, 0.0, 0.25]  # type: ignore[index]
    assert kernels.edge_reading(*args)[0] > 0  # type: ignore[arg-type]
    front[(lo + hi) // 2] = np.nan
    for got in (kernels.edge_reading(*args), reference.edge_reading_ref(*args)):  # type: ignore[arg-type]
        assert got[0] > 0 and np.isnan(got[1])


def test_warm_up_compiles_what_the_lane_calls() -> None:
    """After warm_up, judging trucks of every scale (the independent model's normal driving, a throttle
    blip with its ramp search included) compiles nothing more: the first truck pays no compilation.  In a
    fresh process, so other tests' calls do not hide a missing signature."""
    script = """
import numpy as np
from edge.wim import kernels
kernels.warm_up()
names = [n for n in kernels.__all__ if n != "warm_up"]
before = {n: set(getattr(kernels, n).signatures) for n in names}
assert all(before.values()), [n for n in names if not before[n]]
from bench.independent_wim_model import SCALES, simulate_crossing, write_capture
from edge.judge import judge
from edge.rules import LimitTable
from edge.wim.capture import read_capture
import tempfile, pathlib
limits = LimitTable.load(None)
folder = pathlib.Path(tempfile.mkdtemp())
for s, scale in enumerate(SCALES):
    for p, population in enumerate(("steady", "throttle-blip")):
        rng = np.random.default_rng([5, s, p])
        for k in range(2):
            path = write_capture(simulate_crossing(scale, population, rng, vehicle_number=k + 1), folder / f"{s}{p}{k}.wlcap")
            capture = read_capture(path)
            judge(capture.crossing, capture.config, limits)
new = {n: set(getattr(kernels, n).signatures) - before[n] for n in names}
print({n: sorted(map(str, v)) for n, v in new.items() if v})
"""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "{}", done.stdout
