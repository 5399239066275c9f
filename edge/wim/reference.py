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
    "footprint_share_ref",
    "platform_loads_ref",
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
    (the timing uncertainty of the strips makes the ramp's position uncertain there).
    """
    positions = axle_positions_ref(times_s, entry_t_s, exit_t_s, entry_x_m, exit_x_m)
    near_edge = (np.abs(positions[:, :, None] - edges_m[None, None, :]) < margin_m).any(axis=(1, 2))
    keep = ~near_edge
    positions, loads = positions[keep], platform_kg[keep]
    n_axles = entry_t_s.shape[0]
    n_platforms = edges_m.shape[0] - 1
    ata = np.zeros((n_axles, n_axles))
    atb = np.zeros(n_axles)
    btb = 0.0
    for p in range(n_platforms):
        on = footprint_share_ref(
            positions, float(edges_m[p]), float(edges_m[p + 1]), footprint_m
        )  # (n, axles)
        ata += on.T @ on
        atb += on.T @ loads[:, p]
        btb += float(loads[:, p] @ loads[:, p])
    return ata, atb, btb, int(keep.sum()) * n_platforms


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
