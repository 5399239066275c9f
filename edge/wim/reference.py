"""Plain NumPy reference implementations of the WIM kernels.

They define what the Numba kernels in :mod:`edge.wim.kernels` must compute; tests compare the two on
random input.  They favour clarity over speed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "axle_normal_equations_ref",
    "axle_positions_ref",
    "crossing_kinematics_ref",
    "dynamic_normal_equations_ref",
    "footprint_share_ref",
    "hat_basis_ref",
    "platform_loads_ref",
    "rows_kept_ref",
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
