"""Numba kernels of the weigh-in-motion computation.

Plain functions over arrays, no I/O.  Each has a NumPy reference in :mod:`edge.wim.reference` that
defines its result; tests compare them on random input.  ``cache=True`` keeps compiled code on disk
(NUMBA_CACHE_DIR, default __pycache__ beside this file), so a restarted daemon is ready quickly;
:func:`warm_up` compiles or loads everything before the first vehicle.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["axle_normal_equations", "crossing_kinematics", "platform_loads", "warm_up"]

F64 = npt.NDArray[np.float64]


@numba.njit(cache=True, nogil=True)
def platform_loads(
    counts: npt.NDArray[np.int32], zero_counts: F64, kg_per_count: F64, cells_per_platform: int
) -> F64:
    n_samples, n_cells = counts.shape
    n_platforms = n_cells // cells_per_platform
    out = np.zeros((n_samples, n_platforms))
    for s in range(n_samples):
        for c in range(n_cells):
            out[s, c // cells_per_platform] += (counts[s, c] - zero_counts[c]) * kg_per_count[c]
    return out


@numba.njit(cache=True, nogil=True)
def axle_normal_equations(
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
    n_samples = times_s.shape[0]
    n_axles = entry_t_s.shape[0]
    n_edges = edges_m.shape[0]
    n_platforms = n_edges - 1
    speed = np.empty(n_axles)
    for i in range(n_axles):
        speed[i] = (exit_x_m - entry_x_m) / (exit_t_s[i] - entry_t_s[i])
    ata = np.zeros((n_axles, n_axles))
    atb = np.zeros(n_axles)
    btb = 0.0
    used = 0
    half = footprint_m / 2
    position = np.empty(n_axles)
    share = np.zeros((n_platforms, n_axles))
    for s in range(n_samples):
        t = times_s[s]
        skip = False
        for i in range(n_axles):
            x = entry_x_m + (t - entry_t_s[i]) * speed[i]
            position[i] = x
            for e in range(n_edges):
                if abs(x - edges_m[e]) < margin_m:
                    skip = True
                    break
            if skip:
                break
        if skip:
            continue
        used += n_platforms
        for p in range(n_platforms):
            start = edges_m[p]
            end = edges_m[p + 1]
            w = platform_kg[s, p]
            btb += w * w
            for i in range(n_axles):
                low = max(position[i] - half, start)
                high = min(position[i] + half, end)
                share[p, i] = (high - low) / footprint_m if high > low else 0.0
            for i in range(n_axles):
                a = share[p, i]
                if a == 0.0:
                    continue
                atb[i] += a * w
                for j in range(n_axles):
                    ata[i, j] += a * share[p, j]
    return ata, atb, btb, used


@numba.njit(cache=True, nogil=True)
def crossing_kinematics(entry_t_s: F64, exit_t_s: F64, entry_x_m: float, exit_x_m: float) -> tuple[F64, F64]:
    n_axles = entry_t_s.shape[0]
    speeds = np.empty(n_axles)
    for i in range(n_axles):
        speeds[i] = (exit_x_m - entry_x_m) / (exit_t_s[i] - entry_t_s[i])
    spacings = np.empty(max(n_axles - 1, 0))
    for i in range(n_axles - 1):
        pair_speed = 0.5 * (speeds[i] + speeds[i + 1])
        dt = 0.5 * ((entry_t_s[i + 1] - entry_t_s[i]) + (exit_t_s[i + 1] - exit_t_s[i]))
        spacings[i] = pair_speed * dt
    return speeds, spacings


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel for the argument types the lane uses."""
    counts = np.zeros((4, 4), dtype=np.int32)
    platform_loads(counts, np.zeros(4), np.ones(4), 4)
    times = np.linspace(0.0, 1.0, 4)
    axle_normal_equations(
        times,
        np.zeros((4, 1)),
        np.array([0.0, 6.0]),
        np.array([0.0, 0.1]),
        np.array([1.0, 1.1]),
        -0.5,
        6.0,
        0.3,
        0.25,
    )
    crossing_kinematics(np.array([0.0, 0.1]), np.array([1.0, 1.1]), -0.5, 6.0)
