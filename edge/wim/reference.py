"""Plain NumPy reference implementations of the WIM kernels.

They define what the Numba kernels in :mod:`edge.wim.kernels` must compute; tests compare the two on
random input.  They favour clarity over speed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = [
    "axle_normal_equations_ref",
    "axle_positions_ref",
    "axle_residuals_ref",
    "body_knot_covariance_ref",
    "body_load_spectrum_ref",
    "centre_events_ref",
    "cross_ratios_ref",
    "crossing_kinematics_ref",
    "dynamic_normal_equations_ref",
    "dynamic_unit_responses_ref",
    "edge_reading_ref",
    "footprint_share_ref",
    "hat_basis_ref",
    "knot_grid_search",
    "lone_runs_ref",
    "platform_loads_ref",
    "ramp_pairs_ref",
    "ramp_search_ref",
    "residual_batch_means_ref",
    "rows_kept_ref",
    "warped_times_ref",
]

F64 = npt.NDArray[np.float64]


def platform_loads_ref(
    counts: npt.NDArray[np.int32], zero_counts: F64, kg_per_count: F64, cells_per_platform: int
) -> F64:
    """Per-platform load (kg) for every sample: zeroed, scaled and summed over each platform's cells."""
    cell_kg = (counts.astype(np.float64) - zero_counts[None, :]) * kg_per_count[None, :]
    n_samples, n_cells = cell_kg.shape
    sums: F64 = cell_kg.reshape(n_samples, n_cells // cells_per_platform, cells_per_platform).sum(axis=2)
    return sums


def axle_positions_ref(times_s: F64, entry_t_s: F64, exit_t_s: F64, entry_x_m: float, exit_x_m: float) -> F64:
    """Axle positions (m), shape (n_samples, n_axles), moving at constant speed between the two strips."""
    speed = (exit_x_m - entry_x_m) / (exit_t_s - entry_t_s)
    return entry_x_m + (times_s[:, None] - entry_t_s[None, :]) * speed[None, :]


def footprint_share_ref(positions_m: F64, start_m: float, end_m: float, footprint_m: float) -> F64:
    """Share of each tyre footprint ``[x - f/2, x + f/2]`` that stands on the platform ``[start, end)``."""
    low = np.maximum(positions_m - footprint_m / 2, start_m)
    high = np.minimum(positions_m + footprint_m / 2, end_m)
    share: F64 = np.clip(high - low, 0.0, None) / footprint_m
    return share


def axle_normal_equations_ref(
    times_s: F64,
    platform_kg: F64,
    edges_m: F64,
    entry_t_s: F64,
    exit_t_s: F64,
    entry_x_m: float,
    exit_x_m: float,
    margin_m: float,
    footprint_m: float,
) -> tuple[F64, F64, float, int]:
    """Normal equations of the axle-load model ``platform_kg[t, p] = sum_i load_i * share(i, p, t)``.

    ``share`` is the part of axle i's tyre footprint (``footprint_m`` long, uniform pressure) standing on
    platform p: 1 inside, 0 outside, a ramp while the footprint crosses an edge.  Returns (A^T A,
    A^T b, b^T b, rows used).  Samples with any axle within ``margin_m`` of a platform edge are skipped
    (the timing uncertainty of the strips makes the ramp's position uncertain there), on the two
    platforms that edge bounds: the other platforms' rows are kept (see :func:`rows_kept_ref`).
    """
    positions = axle_positions_ref(times_s, entry_t_s, exit_t_s, entry_x_m, exit_x_m)
    kept = rows_kept_ref(positions, edges_m, margin_m)
    n_axles = entry_t_s.shape[0]
    n_platforms = edges_m.shape[0] - 1
    ata = np.zeros((n_axles, n_axles))
    atb = np.zeros(n_axles)
    btb = 0.0
    for p in range(n_platforms):
        keep = kept[:, p]
        on = footprint_share_ref(
            positions[keep], float(edges_m[p]), float(edges_m[p + 1]), footprint_m
        )  # (n, axles)
        loads = platform_kg[keep, p]
        ata += on.T @ on
        atb += on.T @ loads
        btb += float(loads @ loads)
    return ata, atb, btb, int(kept.sum())


def axle_residuals_ref(
    times_s: F64,
    platform_kg: F64,
    edges_m: F64,
    entry_t_s: F64,
    exit_t_s: F64,
    entry_x_m: float,
    exit_x_m: float,
    margin_m: float,
    footprint_m: float,
    loads_kg: F64,
) -> F64:
    """(samples, platforms): ``platform_kg`` minus the axle model's platform load for ``loads_kg`` (see
    :func:`axle_normal_equations_ref`); NaN on the rows that model skips."""
    positions = axle_positions_ref(times_s, entry_t_s, exit_t_s, entry_x_m, exit_x_m)
    kept = rows_kept_ref(positions, edges_m, margin_m)
    out = np.full(platform_kg.shape, np.nan)
    for p in range(edges_m.shape[0] - 1):
        on = footprint_share_ref(positions, float(edges_m[p]), float(edges_m[p + 1]), footprint_m)
        residual = platform_kg[:, p] - on @ loads_kg
        out[kept[:, p], p] = residual[kept[:, p]]
    return out


def rows_kept_ref(positions_m: F64, edges_m: F64, margin_m: float) -> npt.NDArray[np.bool_]:
    """(samples, platforms): False where an axle is within ``margin_m`` of either edge of the platform."""
    near_edge: npt.NDArray[np.bool_] = np.any(
        np.abs(positions_m[:, :, None] - edges_m[None, None, :]) < margin_m, axis=1
    )
    kept: npt.NDArray[np.bool_] = ~(near_edge[:, :-1] | near_edge[:, 1:])
    return kept


def crossing_kinematics_ref(
    entry_t_s: F64, exit_t_s: F64, entry_x_m: float, exit_x_m: float
) -> tuple[F64, F64]:
    """Per-axle mean speed over the scale (m/s) and axle spacings (m).

    A spacing is the time between two axles at a strip times their mean speed, averaged over the
    entry and exit strips (which halves the error of a speed change on the scale).
    """
    speeds = (exit_x_m - entry_x_m) / (exit_t_s - entry_t_s)
    pair_speed = 0.5 * (speeds[1:] + speeds[:-1])
    spacings = 0.5 * pair_speed * (np.diff(entry_t_s) + np.diff(exit_t_s))
    return speeds, spacings


def hat_basis_ref(times_s: F64, knot_t0_s: float, knot_step_s: float, n_knots: int) -> F64:
    """Piecewise-linear (hat) basis on knots ``t0 + k * step``, k = 0 .. n_knots - 1: shape (n, n_knots).

    Held constant before the first and after the last knot.  Each row has at most two non-zero values,
    summing to 1.
    """
    u = np.clip((times_s - knot_t0_s) / knot_step_s, 0.0, n_knots - 1.0)
    k = np.minimum(np.floor(u), n_knots - 2).astype(np.int64)
    f = u - k
    basis: F64 = np.zeros((times_s.shape[0], n_knots))
    rows = np.arange(times_s.shape[0])
    basis[rows, k] = 1.0 - f
    basis[rows, k + 1] += f
    return basis


def dynamic_normal_equations_ref(
    times_s: F64,
    platform_kg: F64,
    edges_m: F64,
    entry_t_s: F64,
    exit_t_s: F64,
    entry_x_m: float,
    exit_x_m: float,
    margin_m: float,
    footprint_m: float,
    term_weights_kg: F64,
    knot_t0_s: float,
    knot_step_s: float,
    n_knots: int,
) -> tuple[F64, F64]:
    """Normal equations of the axle model with slowly varying body terms shared across axles.

    ``platform_kg[t, p] = sum_i share(i, p, t) * (load_i + sum_j term_weights_kg[j, i] * c_j(t))``

    where ``c_j(t) = sum_k coef[j, k] * hat_k(t)`` (see :func:`hat_basis_ref`) is the time course of
    term j: e.g. the body's heave (weights: each axle's load) or pitch (weights: load times distance from
    the body's centroid).  Unknowns, in order: the n axle loads, then ``coef`` row by row (term j, knot k
    at column ``n + j * n_knots + k``).  Same samples as :func:`axle_normal_equations_ref` (the first n x n
    block of A^T A and the first n values of A^T b are the same as there).  Returns (A^T A, A^T b).
    """
    positions = axle_positions_ref(times_s, entry_t_s, exit_t_s, entry_x_m, exit_x_m)
    kept = rows_kept_ref(positions, edges_m, margin_m)
    basis = hat_basis_ref(times_s, knot_t0_s, knot_step_s, n_knots)  # (n, knots)
    n_axles = entry_t_s.shape[0]
    n_terms = term_weights_kg.shape[0]
    n_cols = n_axles + n_terms * n_knots
    ata = np.zeros((n_cols, n_cols))
    atb = np.zeros(n_cols)
    for p in range(edges_m.shape[0] - 1):
        keep = kept[:, p]
        on = footprint_share_ref(positions[keep], float(edges_m[p]), float(edges_m[p + 1]), footprint_m)
        term_on = on @ term_weights_kg.T  # (n, terms): each term's weight standing on platform p
        design = np.concatenate(
            [on, (term_on[:, :, None] * basis[keep, None, :]).reshape(on.shape[0], n_terms * n_knots)], axis=1
        )
        ata += design.T @ design
        atb += design.T @ platform_kg[keep, p]
    return ata, atb


def dynamic_unit_responses_ref(
    times_s: F64,
    n_platforms: int,
    edges_m: F64,
    entry_t_s: F64,
    exit_t_s: F64,
    entry_x_m: float,
    exit_x_m: float,
    margin_m: float,
    footprint_m: float,
    term_weights_kg: F64,
    knot_t0_s: float,
    knot_step_s: float,
    n_knots: int,
) -> F64:
    """``A^T u_p`` of :func:`dynamic_normal_equations_ref` for a signal of 1 kg on platform p at every
    sample, one column per platform."""
    columns = []
    for p in range(n_platforms):
        unit = np.zeros((times_s.size, n_platforms))
        unit[:, p] = 1.0
        columns.append(
            dynamic_normal_equations_ref(
                times_s,
                unit,
                edges_m,
                entry_t_s,
                exit_t_s,
                entry_x_m,
                exit_x_m,
                margin_m,
                footprint_m,
                term_weights_kg,
                knot_t0_s,
                knot_step_s,
                n_knots,
            )[1]
        )
    return np.stack(columns, axis=1)


def body_load_spectrum_ref(
    frequencies_hz: F64, min_frequency_hz: float, max_frequency_hz: float, damping_ratio: float
) -> F64:
    """One-sided power spectral density (1/Hz) of a unit-variance body (sprung-mass) load process.

    Each body mode is a second-order band-pass resonance at its natural frequency f0 with damping
    ratio z (a damped sprung mass driven by broadband road input: zero at f = 0, since the body's
    dynamic load has no mean, and falling as 1 / f^2 far from f0), scaled to unit variance::

        S0(f) = (4 z f0 / pi) * f^2 / ((f0^2 - f^2)^2 + (2 z f0 f)^2)

    The truck's f0 is not known, only that it lies in ``[min_frequency_hz, max_frequency_hz]``: the
    spectrum is S0 averaged over f0 uniform in that range, which has a closed form (substitute u = f0^2;
    the denominator is (u - a)^2 + b^2 with a = f^2 (1 - 2 z^2), b = 2 z f^2 sqrt(1 - z^2))::

        S(f) = (atan((f2^2 - a) / b) - atan((f1^2 - a) / b)) / (pi (f2 - f1) sqrt(1 - z^2))

    With ``min_frequency_hz == max_frequency_hz`` it is the single mode S0.
    """
    f = frequencies_hz
    f1, f2, z = min_frequency_hz, max_frequency_hz, damping_ratio
    if f2 - f1 <= 1e-9 * f2:
        detuning = f1 * f1 - f * f
        single: F64 = 4.0 * z * f1 / np.pi * f * f / (detuning**2 + (2.0 * z * f1 * f) ** 2)
        return single
    a = f * f * (1.0 - 2.0 * z * z)
    b = 2.0 * z * f * f * np.sqrt(1.0 - z * z)
    spectrum: F64 = (np.arctan((f2 * f2 - a) / b) - np.arctan((f1 * f1 - a) / b)) / (
        np.pi * (f2 - f1) * np.sqrt(1.0 - z * z)
    )
    return spectrum


def body_knot_covariance_ref(
    step_s: float, n_knots: int, min_frequency_hz: float, max_frequency_hz: float, damping_ratio: float
) -> F64:
    """Covariance of knot coefficients ``step_s`` apart of the body process, at lags 0 .. n_knots - 1.

    A knot's coefficient is taken as the average of the process (:func:`body_load_spectrum_ref`) under
    its hat, a triangle of half-width ``step_s``, whose transfer function is sinc^2(f step).  So the
    covariance of two coefficients m knots apart is

        C(m) = integral over f > 0 of S(f) sinc^4(f step) cos(2 pi f m step) df

    (C(0) is near 1 when the knots are much closer than the body's periods, at speed; it falls as the
    hat averages over several periods, at low speed).  The integral is a midpoint sum over
    f = (j + 1/2) df up to 3 / step (the third zero of sinc, beyond which sinc^4 is about 1e-4 or
    less).  df is small enough for the longest lag, 1 / (2 n_knots step): the sum mirrors lag m, with
    the opposite sign, at lag 1 / (df step) - m >= 2 n_knots - m, beyond the knots.  It is also small
    enough for the narrowest resonance, z * min_frequency_hz / 2.  The sequence is the first row of a
    symmetric Toeplitz matrix: the prior covariance of one body term's knots.
    """
    df = min(1.0 / (2.0 * n_knots * step_s), damping_ratio * min_frequency_hz / 2.0)
    n_freqs = int(np.ceil(3.0 / (step_s * df)))
    f = (np.arange(n_freqs, dtype=np.float64) + 0.5) * df
    weight = body_load_spectrum_ref(f, min_frequency_hz, max_frequency_hz, damping_ratio)
    weight = weight * df * np.sinc(f * step_s) ** 4
    lags_s = np.arange(n_knots) * step_s
    row: F64 = np.cos(2.0 * np.pi * np.outer(lags_s, f)) @ weight
    return row


def warped_times_ref(
    times_s: F64,
    t_c_s: float,
    x0_m: float,
    v0_mps: float,
    accel_mps2: float,
    t_start_s: float,
    t_end_s: float,
    ramp_start_s: float,
    ramp_end_s: float,
    offsets_m: F64,
    entry_x_m: float,
    exit_x_m: float,
) -> tuple[F64, F64, F64, float]:
    """(sample times, entry times, exit times, speed) on the warped clock of the speed profile
    ``X(t) = x0 + v0 tau + a tau^2 / 2`` (``tau = t - t_c``) within the ramp ``[ramp_start, ramp_end]``,
    its tangent lines outside it (see :mod:`edge.wim.motion`; a constant acceleration's ramp is the
    events' span; ``ramp_start <= ramp_end``).  ``speed`` is the profile's mean speed over the events' span ``[t_start, t_end]``
    (``v0`` for an empty span), the warped time of a sample is ``X(t) / speed``, and axle ``i``
    (``offsets_m[i]`` behind the front) is at the entry strip at ``(entry_x + d_i) / speed`` and at the
    exit strip ``(exit_x - entry_x) / speed`` later."""

    def speed_at(t: float) -> float:
        return v0_mps + accel_mps2 * (min(max(t, ramp_start_s), ramp_end_s) - t_c_s)

    def front_x(t: F64) -> F64:
        clipped = np.clip(t, ramp_start_s, ramp_end_s) - t_c_s
        inside = x0_m + clipped * (v0_mps + 0.5 * accel_mps2 * clipped)
        before = np.minimum(t - ramp_start_s, 0.0) * speed_at(ramp_start_s)
        after = np.maximum(t - ramp_end_s, 0.0) * speed_at(ramp_end_s)
        result: F64 = inside + before + after
        return result

    span = t_end_s - t_start_s
    if span <= 0:
        speed = v0_mps
    else:
        ends = front_x(np.array([t_start_s, t_end_s]))
        speed = float(ends[1] - ends[0]) / span
    warped: F64 = front_x(times_s) / speed
    entry: F64 = (entry_x_m + offsets_m) / speed
    exit_: F64 = entry + (exit_x_m - entry_x_m) / speed
    return warped, entry, exit_, speed


def residual_batch_means_ref(residuals_kg: F64, block: int) -> tuple[float, int, float, int]:
    """Batch means of a crossing's residuals, shape (samples, platforms), NaN where the model skipped
    the row: (sum of squares, count) of the residuals that are not NaN, and (sum of squares, count) of
    the means of each platform's consecutive blocks of ``block`` such residuals (a platform's last,
    partial block left out)."""
    means: list[float] = []
    squares = 0.0
    count = 0
    for p in range(residuals_kg.shape[1]):
        kept = residuals_kg[:, p][~np.isnan(residuals_kg[:, p])]
        squares += float(kept @ kept)
        count += kept.size
        whole = kept.size // block * block
        if whole:
            means.extend(kept[:whole].reshape(-1, block).mean(axis=1).tolist())
    return squares, count, float(np.sum(np.square(means))), len(means)


def edge_reading_ref(
    times_s: F64,
    front_m: F64,
    platform_kg: F64,
    lo: int,
    hi: int,
    others_offsets_m: F64,
    others_kg: F64,
    load_kg: float,
    joint_m: float,
    after: int,
    edges_m: F64,
    guard_m: float,
    footprint_m: float,
) -> tuple[int, float]:
    """One reading of when an axle (``load_kg``) was half across ``joint_m``, from samples ``[lo, hi)``
    (:func:`edge.wim.edges.load_edge_times`): ``front_m`` the front axle's place at every sample, the other
    axles ``others_offsets_m`` behind it with ``others_kg``, ``after`` the platform downstream of the joint.
    Returns (-1, NaN) where another axle is within ``guard_m`` plus half a footprint of the joint, else
    (platforms read, their mean time; NaN where none): the downstream platform from its gain, the upstream
    one from its loss, each left out where another axle is that near its far edge."""
    half = footprint_m / 2.0
    t = times_s[lo:hi]
    x_others = front_m[lo:hi, None] - others_offsets_m[None, :]
    if np.any(np.abs(x_others - joint_m) < guard_m + half):
        return -1, float("nan")
    readings = []
    for platform, gains in ((after, True), (after - 1, False)):
        far_edge = edges_m[platform + 1] if gains else edges_m[platform]
        if np.any(np.abs(x_others - far_edge) < guard_m + half):
            continue
        shared = (
            footprint_share_ref(x_others, edges_m[platform], edges_m[platform + 1], footprint_m) @ others_kg
        )
        carried = (platform_kg[lo:hi, platform] - shared) / load_kg
        phi = carried if gains else 1.0 - carried
        rest = 1.0 - phi
        # Trapezoidal integral of (1 - phi) over the samples, from the first.
        readings.append(float(t[0] + np.sum(0.5 * (rest[1:] + rest[:-1]) * np.diff(t))))
    if not readings:
        return 0, float("nan")
    return len(readings), sum(readings) / len(readings)


def centre_events_ref(
    times_s: F64,
    exit_kg: F64,
    total_kg: F64,
    edges_m: F64,
    run_platform: npt.NDArray[np.intp],
    run_start: npt.NDArray[np.intp],
    run_stop: npt.NDArray[np.intp],
    chunks: int,
    min_chunk_samples: int,
    event_s: float,
) -> tuple[npt.NDArray[np.intp], F64, F64]:
    """(run, mean time, mean position) of each centre-of-load event of the runs ``[start, stop)`` in which
    one axle stood alone on a platform (:func:`edge.wim.centre.centre_events`): each run cut into up to
    ``chunks`` equal parts of ``min_chunk_samples`` or more, each part's central ``event_s`` (or, where
    that holds fewer samples, the whole part) averaged, the position by the lever rule."""
    run_of: list[int] = []
    t_out: list[float] = []
    x_out: list[float] = []
    for k in range(run_platform.size):
        platform, start, stop = int(run_platform[k]), int(run_start[k]), int(run_stop[k])
        parts = min(chunks, (stop - start) // min_chunk_samples)
        bounds = np.linspace(start, stop, parts + 1).round().astype(np.intp)
        lo_m, hi_m = float(edges_m[platform]), float(edges_m[platform + 1])
        for a, b in itertools.pairwise(bounds):
            mid = 0.5 * (times_s[a] + times_s[b - 1])
            window = np.abs(times_s[a:b] - mid) <= event_s / 2
            if window.sum() < min_chunk_samples:
                window = np.ones(b - a, dtype=bool)
            lo, hi = a + int(np.argmax(window)), a + int(window.size - np.argmax(window[::-1]))
            run_of.append(k)
            t_out.append(float(times_s[lo:hi].mean()))
            share = exit_kg[lo:hi, platform] / total_kg[lo:hi, platform]
            x_out.append(float((lo_m + (hi_m - lo_m) * share).mean()))
    return (
        np.asarray(run_of, dtype=np.intp),
        np.asarray(t_out, dtype=np.float64),
        np.asarray(x_out, dtype=np.float64),
    )


def lone_runs_ref(
    front_m: F64,
    offsets_m: F64,
    total_kg: F64,
    edges_m: F64,
    reach_m: float,
    min_load_kg: float,
    min_samples: int,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(platform, axle, start, stop) of every run of at least ``min_samples`` samples in which one axle
    stood alone on a platform (:func:`edge.wim.centre.lone_runs`): ``front_m`` the front axle's place at
    each sample, the axles ``offsets_m`` behind it; alone where its place is inside the platform by
    ``reach_m``, no other axle's within ``reach_m`` of it, and the platform carries more than
    ``min_load_kg``.  Platform by platform, axle by axle, in time order."""
    found: list[tuple[int, int, int, int]] = []
    x_axles = front_m[:, None] - offsets_m[None, :]
    for p in range(edges_m.size - 1):
        lo, hi = float(edges_m[p]), float(edges_m[p + 1])
        inside = (x_axles >= lo + reach_m) & (x_axles <= hi - reach_m)
        near = (x_axles > lo - reach_m) & (x_axles < hi + reach_m)
        loaded = total_kg[:, p] > min_load_kg
        lone = inside & (near.sum(axis=1) == 1)[:, None] & loaded[:, None]
        for i in range(offsets_m.size):
            padded = np.concatenate(([False], lone[:, i], [False])).astype(np.int8)
            change = np.flatnonzero(np.diff(padded))
            found.extend(
                (p, i, int(a), int(b))
                for a, b in zip(change[::2], change[1::2], strict=True)
                if b - a >= min_samples
            )
    runs = np.array(found, dtype=np.intp).reshape(-1, 4)
    return runs[:, 0], runs[:, 1], runs[:, 2], runs[:, 3]


def ramp_pairs_ref(
    times_s: F64,
    weights: F64,
    q: F64,
    r: F64,
    y_shared: F64,
    y_rest: F64,
    t0_s: float,
    t_a: F64,
    t_b: F64,
    singular_rtol: float,
) -> tuple[F64, F64]:
    """For each knot pair ``(t_a[k], t_b[k])`` of the speed profile's ramp search
    (:func:`edge.wim.motion._ramp_solutions`): the sum of squared misfits and the coefficients ``(x_a, v_1,
    v_2, d_1 ..)``, NaN where singular.  ``q``, ``r`` the QR of the columns every pair shares (a constant,
    the time less ``t0_s``, the axle offsets; each event's row times its weight), ``y_shared`` the weighted
    targets' coordinates on ``q`` and ``y_rest`` what ``q`` leaves of them.  Each pair adds one column, the
    ramp's weighted travel ``g_2``: with the shared columns projected out, its least squares is a ratio of
    dot products (Frisch-Waugh-Lovell); a column that keeps less than ``singular_rtol`` of its norm is
    singular."""
    width = (t_b - t_a)[:, None]
    u = times_s[None, :] - t_a[:, None]
    g2 = (np.clip(u, 0.0, width) ** 2 / (2.0 * width) + np.maximum(u - width, 0.0)) * weights[None, :]
    g2_shared = g2 @ q  # pairs x shared columns: g_2's coordinates on them
    g2_rest = g2 - g2_shared @ q.T
    g2_norm2 = np.einsum("pe,pe->p", g2, g2)
    rest_norm2 = np.einsum("pe,pe->p", g2_rest, g2_rest)
    ok = rest_norm2 > (singular_rtol**2) * g2_norm2
    n_pairs = t_a.size
    sse = np.full(n_pairs, np.nan)
    coef = np.full((n_pairs, 1 + q.shape[1]), np.nan)
    if np.any(ok):
        step = (g2_rest[ok] @ y_rest) / rest_norm2[ok]  # v_2 - v_1
        residual = y_rest[None, :] - step[:, None] * g2_rest[ok]
        sse[ok] = np.einsum("pe,pe->p", residual, residual)
        # The shared columns' coefficients, once g_2's share of the targets is taken off.
        shared_coef = np.linalg.solve(r, (y_shared[None, :] - step[:, None] * g2_shared[ok]).T).T
        v1 = shared_coef[:, 1]
        coef[ok, 0] = shared_coef[:, 0] + v1 * (t_a[ok] - t0_s)  # x_a: the front at t_a
        coef[ok, 1] = v1
        coef[ok, 2] = v1 + step
        coef[ok, 3:] = shared_coef[:, 2:]
    return sse, coef


def knot_grid_search(
    pairs: Callable[[F64, F64], tuple[F64, F64]], t_start: float, t_end: float, n_grid: int, n_refine: int
) -> tuple[F64, F64, F64, F64, bool]:
    """The speed profile's ramp search over knot pairs (:func:`edge.wim.motion._fit_ramp`): every pair
    ``t_a < t_b`` of an ``n_grid`` grid over ``[t_start, t_end]``, then twice around the best pair so far
    (least misfit, NaN ignored), each knot at ``n_refine`` positions within one step of the last grid,
    clipped to the span; ``pairs(t_a, t_b)`` gives each pair's misfit (NaN where singular) and
    coefficients.  Returns every pair tried, in order: the misfits, the knots ``t_a`` and ``t_b``, the
    coefficients, and False (with the pairs so far) where a pass had no finite misfit."""
    span = t_end - t_start
    step = span / (n_grid - 1)
    grid_a = grid_b = np.linspace(t_start, t_end, n_grid)
    tried: list[tuple[F64, F64, F64, F64]] = []
    found = True
    for _ in range(3):
        ta, tb = np.meshgrid(grid_a, grid_b, indexing="ij")
        keep = tb > ta + 1e-9 * span
        sse, coef = pairs(ta[keep], tb[keep])
        tried.append((sse, ta[keep], tb[keep], coef))
        if not np.any(np.isfinite(sse)):
            found = False
            break
        k = int(np.nanargmin(sse))
        fine = np.linspace(-step, step, n_refine)
        grid_a = np.clip(ta[keep][k] + fine, t_start, t_end)
        grid_b = np.clip(tb[keep][k] + fine, t_start, t_end)
        step *= 2.0 / (n_refine - 1)
    sse_all, a_all, b_all, coef_all = (np.concatenate(parts) for parts in zip(*tried, strict=True))
    return sse_all, a_all, b_all, coef_all, found


def ramp_search_ref(
    times_s: F64,
    weights: F64,
    q: F64,
    r: F64,
    y_shared: F64,
    y_rest: F64,
    t0_s: float,
    n_grid: int,
    n_refine: int,
    singular_rtol: float,
) -> tuple[F64, F64, F64, F64, bool]:
    """:func:`knot_grid_search` over the events' span, each pass's pairs by :func:`ramp_pairs_ref` (the
    other arguments are its)."""
    return knot_grid_search(
        lambda t_a, t_b: ramp_pairs_ref(
            times_s, weights, q, r, y_shared, y_rest, t0_s, t_a, t_b, singular_rtol
        ),
        float(times_s.min()),
        float(times_s.max()),
        n_grid,
        n_refine,
    )


def cross_ratios_ref(
    counts: npt.NDArray[np.int32] | F64,
    zero_counts: F64,
    kg_per_count: F64,
    min_platform_kg: float,
    min_cell_share: float,
) -> F64:
    """Log cross ratio ``log(EL XR / (ER XL))`` of each 4-cell platform over one crossing
    (:mod:`edge.wim.span`), from the counts (samples x 4 platforms' cells, in the documented corner order),
    the zero and each cell's kg per count: the cells' sums over the samples where the platform carries
    more than ``min_platform_kg`` with every cell above ``min_cell_share`` of it; NaN where fewer than 10
    samples do."""
    cell_kg = (counts - zero_counts) * kg_per_count
    out = np.full(cell_kg.shape[1] // 4, np.nan)
    for p in range(out.size):
        el, er, xl, xr = (cell_kg[:, 4 * p + k] for k in range(4))
        total = el + er + xl + xr
        floor = min_cell_share * total
        loaded = (total > min_platform_kg) & (el > floor) & (er > floor) & (xl > floor) & (xr > floor)
        if np.count_nonzero(loaded) >= 10:
            s = cell_kg[loaded, 4 * p : 4 * p + 4].sum(axis=0)
            out[p] = math.log(s[0] * s[3] / (s[1] * s[2]))
    return out
