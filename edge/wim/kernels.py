"""Numba kernels of the weigh-in-motion computation.

Plain functions over arrays, no I/O.  Each has a NumPy reference in :mod:`edge.wim.reference` that
defines its result; tests compare them on random input.  ``cache=True`` keeps compiled code on disk
(NUMBA_CACHE_DIR, default __pycache__ beside this file), so a restarted daemon is ready quickly;
:func:`warm_up` compiles or loads everything before the first vehicle.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

__all__ = [
    "axle_normal_equations",
    "axle_residuals",
    "body_knot_covariance",
    "centre_events",
    "cross_ratios",
    "crossing_kinematics",
    "dynamic_normal_equations",
    "dynamic_unit_responses",
    "edge_reading",
    "lone_runs",
    "platform_loads",
    "ramp_search",
    "residual_batch_means",
    "warm_up",
    "warped_times",
]

F64 = npt.NDArray[np.float64]


@numba.njit(cache=True, nogil=True)
def platform_loads(
    counts: npt.NDArray[np.int32], zero_counts: F64, kg_per_count: F64, cells_per_platform: int
) -> F64:
    n_samples, n_cells = counts.shape
    n_platforms = n_cells // cells_per_platform
    out = np.empty((n_samples, n_platforms))
    if cells_per_platform == 4:
        # The lane's case, unrolled: one row view, the four corner cells summed left to right.
        for s in range(n_samples):
            row = counts[s]
            for p in range(n_platforms):
                c = 4 * p
                a0 = (row[c] - zero_counts[c]) * kg_per_count[c]
                a1 = (row[c + 1] - zero_counts[c + 1]) * kg_per_count[c + 1]
                a2 = (row[c + 2] - zero_counts[c + 2]) * kg_per_count[c + 2]
                a3 = (row[c + 3] - zero_counts[c + 3]) * kg_per_count[c + 3]
                out[s, p] = ((a0 + a1) + a2) + a3
        return out
    for s in range(n_samples):
        for p in range(n_platforms):
            acc = 0.0
            for k in range(cells_per_platform):
                c = p * cells_per_platform + k
                acc += (counts[s, c] - zero_counts[c]) * kg_per_count[c]
            out[s, p] = acc
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _strip_speeds(entry_t_s: F64, exit_t_s: F64, entry_x_m: float, exit_x_m: float) -> F64:
    """Each axle's mean speed between the entry and exit strips (m/s)."""
    speed = np.empty(entry_t_s.shape[0])
    for i in range(entry_t_s.shape[0]):
        speed[i] = (exit_x_m - entry_x_m) / (exit_t_s[i] - entry_t_s[i])
    return speed


@numba.njit(cache=True, nogil=True, inline="always")
def _near_edges(
    t: float,
    entry_x_m: float,
    entry_t_s: F64,
    speed: F64,
    edges_m: F64,
    margin_m: float,
    position: F64,
    near: npt.NDArray[np.bool_],
) -> None:
    """The per-sample skip test: ``near[e]`` when some axle is within the margin of edge e; fills
    ``position``.  A platform's row is skipped when either of its two edges is near an axle."""
    for e in range(edges_m.shape[0]):
        near[e] = False
    for i in range(entry_t_s.shape[0]):
        x = entry_x_m + (t - entry_t_s[i]) * speed[i]
        position[i] = x
        for e in range(edges_m.shape[0]):
            if abs(x - edges_m[e]) < margin_m:
                near[e] = True


@numba.njit(cache=True, nogil=True)
def _first_at_or_above(times_s: F64, t0: float, speed: float, entry_x_m: float, threshold: float) -> int:
    """First sample index where x(t) >= threshold (x computed as in the kernel, monotone in t)."""
    lo, hi = 0, times_s.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if entry_x_m + (times_s[mid] - t0) * speed >= threshold:
            hi = mid
        else:
            lo = mid + 1
    return lo


@numba.njit(cache=True, nogil=True)
def _axle_state(x: float, edges_m: F64, half: float) -> int:
    """-1: footprint off the scale; p: footprint wholly on platform p; -2: footprint on an edge (ramp)."""
    n_edges = edges_m.shape[0]
    if x + half <= edges_m[0] or x - half >= edges_m[n_edges - 1]:
        return -1
    for p in range(n_edges - 1):
        if x - half >= edges_m[p] and x + half <= edges_m[p + 1]:
            return p
    return -2


@numba.njit(cache=True, nogil=True, inline="always")
def _segment_constant(
    times_s: F64,
    a: int,
    b: int,
    entry_t_s: F64,
    speed: F64,
    entry_x_m: float,
    edges_m: F64,
    half: float,
    margin_m: float,
    pos_a: F64,
    pos_b: F64,
    state: npt.NDArray[np.int64],
    zone: npt.NDArray[np.bool_],
) -> bool:
    """Whether samples a..b-1 share one design row: every axle stays on the same platform (``state``)
    and on one side of each edge's margin zone.  Fills ``pos_a``/``pos_b`` (axle positions at the
    segment's ends), ``state`` and ``zone`` (edges whose margin zone holds an axle throughout)."""
    n_axles = entry_t_s.shape[0]
    n_edges = edges_m.shape[0]
    constant = True
    for e in range(n_edges):
        zone[e] = False
    for i in range(n_axles):
        pos_a[i] = entry_x_m + (times_s[a] - entry_t_s[i]) * speed[i]
        pos_b[i] = entry_x_m + (times_s[b - 1] - entry_t_s[i]) * speed[i]
    for i in range(n_axles):
        sa = _axle_state(pos_a[i], edges_m, half)
        if sa == -2 or sa != _axle_state(pos_b[i], edges_m, half):
            constant = False
        state[i] = sa
        for e in range(n_edges):
            da = pos_a[i] - edges_m[e]
            db = pos_b[i] - edges_m[e]
            if abs(da) < margin_m and abs(db) < margin_m:
                zone[e] = True  # both ends in one margin zone: the zone is an interval
            elif not ((da >= margin_m and db >= margin_m) or (da <= -margin_m and db <= -margin_m)):
                constant = False
    return constant


@numba.njit(cache=True, nogil=True)
def _segment_cuts(
    times_s: F64, entry_t_s: F64, speed: F64, entry_x_m: float, edges_m: F64, margin_m: float, half: float
) -> tuple[bool, npt.NDArray[np.int64]]:
    """(monotone, cuts): whether the samples are in time order and every axle moves forward, and the
    sorted sample indices where some axle passes an edge +/- margin or +/- half a footprint (with 0 and
    the sample count; only those two when not monotone, where the bisection would not hold)."""
    n_samples = times_s.shape[0]
    n_axles = entry_t_s.shape[0]
    n_edges = edges_m.shape[0]
    monotone = True
    for i in range(n_axles):
        if not speed[i] > 0.0:
            monotone = False
    for s in range(1, n_samples):
        if times_s[s] < times_s[s - 1]:
            monotone = False
            break
    cuts = np.empty(2 + 4 * n_axles * n_edges, dtype=np.int64)
    k = 0
    cuts[k] = 0
    k += 1
    cuts[k] = n_samples
    k += 1
    if monotone:
        for i in range(n_axles):
            for e in range(n_edges):
                for th in (
                    edges_m[e] - margin_m,
                    edges_m[e] + margin_m,
                    edges_m[e] - half,
                    edges_m[e] + half,
                ):
                    cuts[k] = _first_at_or_above(times_s, entry_t_s[i], speed[i], entry_x_m, th)
                    k += 1
    return monotone, np.unique(cuts[:k])


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
    """Normal equations of the footprint-share axle model (see edge.wim.reference), summed by segments.

    An axle's footprint share and the skip test only change where some axle passes an edge +/- margin
    or +/- half a footprint: bisect for those samples (same float expression as the per-sample code,
    monotone in t).  A segment where at both ends every axle's footprint is wholly on the
    same platform (or off the scale) and every axle is on the same side of every margin zone is the
    same at every sample by monotonicity: its rows are sums of platform loads over the segment, a tight
    loop (leaving out the platforms bounded by an edge some axle is within the margin of).  Anything
    else (footprint on an edge, the segment's ends disagree) runs the kernel's per-sample body."""
    n_axles = entry_t_s.shape[0]
    n_edges = edges_m.shape[0]
    n_platforms = n_edges - 1
    half = footprint_m / 2
    speed = _strip_speeds(entry_t_s, exit_t_s, entry_x_m, exit_x_m)
    ata = np.zeros((n_axles, n_axles))
    atb = np.zeros(n_axles)
    btb = 0.0
    used = 0
    monotone, cuts = _segment_cuts(times_s, entry_t_s, speed, entry_x_m, edges_m, margin_m, half)
    pos_a = np.empty(n_axles)
    pos_b = np.empty(n_axles)
    position = np.empty(n_axles)
    state = np.empty(n_axles, dtype=np.int64)
    zone = np.zeros(n_edges, dtype=np.bool_)
    near = np.zeros(n_edges, dtype=np.bool_)
    share = np.zeros((n_platforms, n_axles))
    seg_sum = np.zeros(n_platforms)
    for c in range(cuts.shape[0] - 1):
        a, b = cuts[c], cuts[c + 1]
        if a >= b:
            continue
        constant = monotone and _segment_constant(
            times_s, a, b, entry_t_s, speed, entry_x_m, edges_m, half, margin_m, pos_a, pos_b, state, zone
        )
        if not monotone:
            zone[:] = False
        if constant:
            for p in range(n_platforms):
                seg_sum[p] = 0.0
                if not (zone[p] or zone[p + 1]):
                    used += b - a
            for s in range(a, b):
                for p in range(n_platforms):
                    if zone[p] or zone[p + 1]:
                        continue
                    w = platform_kg[s, p]
                    seg_sum[p] += w
                    btb += w * w
            for i in range(n_axles):
                p = state[i]
                if p < 0 or zone[p] or zone[p + 1]:
                    continue
                atb[i] += seg_sum[p]
                for j in range(n_axles):
                    if state[j] == p:
                        ata[i, j] += b - a
            continue
        for s in range(a, b):  # per sample: a footprint is on an edge somewhere in this segment
            _near_edges(times_s[s], entry_x_m, entry_t_s, speed, edges_m, margin_m, position, near)
            for p in range(n_platforms):
                if near[p] or near[p + 1]:
                    continue
                used += 1
                start = edges_m[p]
                end = edges_m[p + 1]
                w = platform_kg[s, p]
                btb += w * w
                for i in range(n_axles):
                    low = max(position[i] - half, start)
                    high = min(position[i] + half, end)
                    share[p, i] = (high - low) / footprint_m if high > low else 0.0
                for i in range(n_axles):
                    aa = share[p, i]
                    if aa == 0.0:
                        continue
                    atb[i] += aa * w
                    for j in range(n_axles):
                        ata[i, j] += aa * share[p, j]
    return ata, atb, btb, used


@numba.njit(cache=True, nogil=True)
def axle_residuals(
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
    """Residuals of the footprint-share axle model for ``loads_kg`` per sample and platform (see
    edge.wim.reference.axle_residuals_ref); NaN on the rows the model skips.  By segments, as
    :func:`axle_normal_equations`: where every axle's footprint stays wholly on one platform (or off
    the scale) and on one side of every margin zone, a platform's model load is the sum of the loads of
    the axles on it, the same at every sample; elsewhere the per-sample body."""
    n_samples = times_s.shape[0]
    n_axles = entry_t_s.shape[0]
    n_edges = edges_m.shape[0]
    n_platforms = n_edges - 1
    half = footprint_m / 2
    speed = _strip_speeds(entry_t_s, exit_t_s, entry_x_m, exit_x_m)
    out = np.empty((n_samples, n_platforms))
    position = np.empty(n_axles)
    near = np.zeros(n_edges, dtype=np.bool_)
    monotone, cuts = _segment_cuts(times_s, entry_t_s, speed, entry_x_m, edges_m, margin_m, half)
    pos_a = np.empty(n_axles)
    pos_b = np.empty(n_axles)
    state = np.empty(n_axles, dtype=np.int64)
    zone = np.zeros(n_edges, dtype=np.bool_)
    model_kg = np.zeros(n_platforms)
    for c in range(cuts.shape[0] - 1):
        a, b = cuts[c], cuts[c + 1]
        if a >= b:
            continue
        if monotone and _segment_constant(
            times_s, a, b, entry_t_s, speed, entry_x_m, edges_m, half, margin_m, pos_a, pos_b, state, zone
        ):
            for p in range(n_platforms):
                model_kg[p] = 0.0
            for i in range(n_axles):  # in axle order, as the per-sample sum
                if state[i] >= 0:
                    model_kg[state[i]] += loads_kg[i]
            for s in range(a, b):
                for p in range(n_platforms):
                    out[s, p] = np.nan if zone[p] or zone[p + 1] else platform_kg[s, p] - model_kg[p]
            continue
        _residual_rows(
            times_s,
            platform_kg,
            edges_m,
            entry_t_s,
            entry_x_m,
            margin_m,
            footprint_m,
            loads_kg,
            speed,
            a,
            b,
            position,
            near,
            out,
        )
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _residual_rows(
    times_s: F64,
    platform_kg: F64,
    edges_m: F64,
    entry_t_s: F64,
    entry_x_m: float,
    margin_m: float,
    footprint_m: float,
    loads_kg: F64,
    speed: F64,
    a: int,
    b: int,
    position: F64,
    near: npt.NDArray[np.bool_],
    out: F64,
) -> None:
    """:func:`axle_residuals` per sample, for samples a..b-1."""
    n_axles = entry_t_s.shape[0]
    n_platforms = edges_m.shape[0] - 1
    half = footprint_m / 2
    for s in range(a, b):
        _near_edges(times_s[s], entry_x_m, entry_t_s, speed, edges_m, margin_m, position, near)
        for p in range(n_platforms):
            if near[p] or near[p + 1]:
                out[s, p] = np.nan
                continue
            start = edges_m[p]
            end = edges_m[p + 1]
            model = 0.0
            for i in range(n_axles):
                low = max(position[i] - half, start)
                high = min(position[i] + half, end)
                if high > low:
                    model += loads_kg[i] * (high - low) / footprint_m
            out[s, p] = platform_kg[s, p] - model


@numba.njit(cache=True, nogil=True, inline="always")
def _knot_position(t: float, knot_t0_s: float, knot_step_s: float, n_knots: int) -> float:
    """Position of time t on the knot grid, held at the first and the last knot (as the reference)."""
    u = (t - knot_t0_s) / knot_step_s
    if u < 0.0:
        return 0.0
    if u > n_knots - 1.0:
        return n_knots - 1.0
    return u


@numba.njit(cache=True, nogil=True, inline="always")
def _knot_index(u: float, n_knots: int) -> int:
    k = int(np.floor(u))
    return n_knots - 2 if k > n_knots - 2 else k


@numba.njit(cache=True, nogil=True)
def _first_knot_at_or_above(times_s: F64, knot_t0_s: float, knot_step_s: float, threshold: float) -> int:
    """First sample index whose knot position (same float expression as the kernel) is >= threshold."""
    lo, hi = 0, times_s.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if (times_s[mid] - knot_t0_s) / knot_step_s >= threshold:
            hi = mid
        else:
            lo = mid + 1
    return lo


@numba.njit(cache=True, nogil=True, inline="always")
def _add_outer(ata: F64, atb: F64, idx: npt.NDArray[np.int64], val: F64, n: int, y: float) -> None:
    """Add one row to the normal equations (``atb``: a column vector, columns x 1)."""
    for a in range(n):
        va = val[a]
        ia = idx[a]
        atb[ia, 0] += va * y
        for b in range(n):
            ata[ia, idx[b]] += va * val[b]


@numba.njit(cache=True, nogil=True)
def dynamic_normal_equations(
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
    """Normal equations of the axle model with shared body terms (see edge.wim.reference), by segments.

    As :func:`axle_normal_equations`, the samples are cut where an axle passes an edge +/- margin or
    +/- half a footprint, and also where the time passes a knot.  In a segment where every axle's
    footprint stays wholly on one platform (or off the scale) only the hat basis changes, linearly in
    the knot position f: the rows are summed through the sums of 1, f, f^2, y and y f over the segment.
    Anything else runs the per-sample body."""
    ata, atb = _dynamic_equations(
        times_s,
        platform_kg,
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
        False,
    )
    return ata, atb[:, 0].copy()


@numba.njit(cache=True, nogil=True)
def dynamic_unit_responses(
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
    """``A^T u_p`` of :func:`dynamic_normal_equations` for a signal ``u_p`` of 1 kg on platform p at every
    sample, for every platform at once (columns x platforms): the body fit's response to an offset of
    each platform's zero.  One pass, as the normal equations' (``A^T A`` is not summed)."""
    return _dynamic_equations(
        times_s,
        np.ones((times_s.shape[0], n_platforms)),
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
        True,
    )[1]


@numba.njit(cache=True, nogil=True)
def _dynamic_equations(
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
    per_platform: bool,
) -> tuple[F64, F64]:
    """:func:`dynamic_normal_equations` (``A^T b`` in column 0), or with ``per_platform`` each platform's
    rows' ``A^T b`` in its own column and no ``A^T A``."""
    n_axles = entry_t_s.shape[0]
    n_edges = edges_m.shape[0]
    n_platforms = n_edges - 1
    n_terms = term_weights_kg.shape[0]
    n_cols = n_axles + n_terms * n_knots
    half = footprint_m / 2
    speed = _strip_speeds(entry_t_s, exit_t_s, entry_x_m, exit_x_m)
    ata = np.zeros((n_cols, n_cols) if not per_platform else (0, 0))
    atb = np.zeros((n_cols, n_platforms if per_platform else 1))
    monotone, axle_cuts = _segment_cuts(times_s, entry_t_s, speed, entry_x_m, edges_m, margin_m, half)
    if monotone and n_knots > 2:
        knot_cuts = np.empty(n_knots - 2, dtype=np.int64)
        for knot in range(1, n_knots - 1):
            knot_cuts[knot - 1] = _first_knot_at_or_above(times_s, knot_t0_s, knot_step_s, float(knot))
        cuts = np.unique(np.concatenate((axle_cuts, knot_cuts)))
    else:
        cuts = axle_cuts
    pos_a = np.empty(n_axles)
    pos_b = np.empty(n_axles)
    position = np.empty(n_axles)
    state = np.empty(n_axles, dtype=np.int64)
    zone = np.zeros(n_edges, dtype=np.bool_)
    near = np.zeros(n_edges, dtype=np.bool_)
    share = np.zeros(n_axles)
    max_nnz = n_axles + 2 * n_terms
    idx = np.empty(max_nnz, dtype=np.int64)
    val = np.empty(max_nnz)
    kind = np.empty(max_nnz, dtype=np.int64)  # 0: axle load, 1: knot k, 2: knot k + 1
    y0 = np.zeros(n_platforms)
    y1 = np.zeros(n_platforms)
    moments = np.empty((3, 3))
    for c in range(cuts.shape[0] - 1):
        a, b = cuts[c], cuts[c + 1]
        if a >= b:
            continue
        constant = monotone and _segment_constant(
            times_s, a, b, entry_t_s, speed, entry_x_m, edges_m, half, margin_m, pos_a, pos_b, state, zone
        )
        if not monotone:
            zone[:] = False
        if constant:
            knot_seg = _knot_index(_knot_position(times_s[a], knot_t0_s, knot_step_s, n_knots), n_knots)
            n_seg = float(b - a)
            s1 = 0.0
            s2 = 0.0
            for p in range(n_platforms):
                y0[p] = 0.0
                y1[p] = 0.0
            for s in range(a, b):
                f = _knot_position(times_s[s], knot_t0_s, knot_step_s, n_knots) - knot_seg
                s1 += f
                s2 += f * f
                for p in range(n_platforms):
                    w = platform_kg[s, p]
                    y0[p] += w
                    y1[p] += w * f
            # sums over the segment of g_a * g_b, g = (1, 1 - f, f) for (axle, knot k, knot k + 1)
            moments[0, 0] = n_seg
            moments[0, 1] = n_seg - s1
            moments[0, 2] = s1
            moments[1, 1] = n_seg - 2.0 * s1 + s2
            moments[1, 2] = s1 - s2
            moments[2, 2] = s2
            for r in range(3):
                for q in range(r):
                    moments[r, q] = moments[q, r]
            for p in range(n_platforms):
                if zone[p] or zone[p + 1]:
                    continue
                nnz = 0
                for i in range(n_axles):
                    if state[i] == p:
                        idx[nnz] = i
                        val[nnz] = 1.0
                        kind[nnz] = 0
                        nnz += 1
                for j in range(n_terms):
                    v = 0.0
                    for i in range(n_axles):
                        if state[i] == p:
                            v += term_weights_kg[j, i]
                    if v == 0.0:
                        continue
                    column = n_axles + j * n_knots + knot_seg
                    idx[nnz] = column
                    val[nnz] = v
                    kind[nnz] = 1
                    idx[nnz + 1] = column + 1
                    val[nnz + 1] = v
                    kind[nnz + 1] = 2
                    nnz += 2
                out = p if per_platform else 0  # atb's column
                for r in range(nnz):
                    gy = y0[p] if kind[r] == 0 else (y0[p] - y1[p] if kind[r] == 1 else y1[p])
                    atb[idx[r], out] += val[r] * gy
                    if per_platform:
                        continue
                    for q in range(nnz):
                        ata[idx[r], idx[q]] += val[r] * val[q] * moments[kind[r], kind[q]]
            continue
        for s in range(a, b):  # per sample: a footprint is on an edge somewhere in this segment
            _near_edges(times_s[s], entry_x_m, entry_t_s, speed, edges_m, margin_m, position, near)
            u = _knot_position(times_s[s], knot_t0_s, knot_step_s, n_knots)
            knot = _knot_index(u, n_knots)
            f = u - knot
            for p in range(n_platforms):
                if near[p] or near[p + 1]:
                    continue
                start = edges_m[p]
                end = edges_m[p + 1]
                nnz = 0
                for i in range(n_axles):
                    low = max(position[i] - half, start)
                    high = min(position[i] + half, end)
                    share[i] = (high - low) / footprint_m if high > low else 0.0
                    if share[i] != 0.0:
                        idx[nnz] = i
                        val[nnz] = share[i]
                        nnz += 1
                for j in range(n_terms):
                    v = 0.0
                    for i in range(n_axles):
                        v += share[i] * term_weights_kg[j, i]
                    if v == 0.0:
                        continue
                    column = n_axles + j * n_knots + knot
                    idx[nnz] = column
                    val[nnz] = v * (1.0 - f)
                    idx[nnz + 1] = column + 1
                    val[nnz + 1] = v * f
                    nnz += 2
                if per_platform:
                    for r in range(nnz):
                        atb[idx[r], p] += val[r] * platform_kg[s, p]
                else:
                    _add_outer(ata, atb, idx, val, nnz, platform_kg[s, p])
    return ata, atb


@numba.njit(cache=True, nogil=True)
def body_knot_covariance(
    step_s: float, n_knots: int, min_frequency_hz: float, max_frequency_hz: float, damping_ratio: float
) -> F64:
    """Covariance of the body terms' knot coefficients at lags 0 .. n_knots - 1 (see edge.wim.reference).

    The same midpoint sum over frequency as the reference.  The cosines of the lags come from the
    Chebyshev recurrence cos((m + 1) x) = 2 cos(x) cos(m x) - cos((m - 1) x), each already multiplied by
    its frequency's weight, run for four frequencies at a time (four independent chains pipeline; the
    frequencies are padded to a multiple of four with zero weights); the sines of the frequencies come
    by rotation from one to the next, and the two arctangents of the spectrum as one atan2."""
    f1 = min_frequency_hz
    f2 = max_frequency_hz
    z = damping_ratio
    root = np.sqrt(1.0 - z * z)
    single = f2 - f1 <= 1e-9 * f2
    df = min(1.0 / (2.0 * n_knots * step_s), z * f1 / 2.0)
    n_freqs = int(np.ceil(3.0 / (step_s * df)))
    n_padded = (n_freqs + 3) // 4 * 4
    weights = np.zeros(n_padded)
    twice_cos = np.zeros(n_padded)
    # sin(x) at x = pi f step for f = (j + 1/2) df, by rotation from one j to the next
    half_angle = 0.5 * np.pi * df * step_s
    rotate_cos = np.cos(2.0 * half_angle)
    rotate_sin = np.sin(2.0 * half_angle)
    sin_x = np.sin(half_angle)
    cos_x = np.cos(half_angle)
    for j in range(n_freqs):
        if j > 0:
            sin_x, cos_x = sin_x * rotate_cos + cos_x * rotate_sin, cos_x * rotate_cos - sin_x * rotate_sin
        f = (j + 0.5) * df
        ff = f * f
        if single:
            detuning = f1 * f1 - ff
            width = 2.0 * z * f1 * f
            density = 4.0 * z * f1 / np.pi * ff / (detuning * detuning + width * width)
        else:
            # atan(p / b) - atan(q / b) as one atan2 (exact in every quadrant, b > 0)
            a = ff * (1.0 - 2.0 * z * z)
            b = 2.0 * z * ff * root
            p = f2 * f2 - a
            q = f1 * f1 - a
            density = np.arctan2((p - q) * b, b * b + p * q) / (np.pi * (f2 - f1) * root)
        x = np.pi * f * step_s
        sinc = sin_x / x
        sinc2 = sinc * sinc
        weights[j] = density * df * sinc2 * sinc2
        twice_cos[j] = 2.0 - 4.0 * sin_x * sin_x  # 2 cos(2x)
    row = np.zeros(n_knots)
    for j in range(0, n_padded, 4):
        t0 = twice_cos[j]
        t1 = twice_cos[j + 1]
        t2 = twice_cos[j + 2]
        t3 = twice_cos[j + 3]
        p0 = weights[j]  # weight * cos((m - 1) x), starting at m = 1
        p1 = weights[j + 1]
        p2 = weights[j + 2]
        p3 = weights[j + 3]
        c0 = 0.5 * t0 * p0  # weight * cos(m x)
        c1 = 0.5 * t1 * p1
        c2 = 0.5 * t2 * p2
        c3 = 0.5 * t3 * p3
        row[0] += (p0 + p1) + (p2 + p3)
        if n_knots > 1:
            row[1] += (c0 + c1) + (c2 + c3)
        for lag in range(2, n_knots):
            d0 = t0 * c0 - p0
            d1 = t1 * c1 - p1
            d2 = t2 * c2 - p2
            d3 = t3 * c3 - p3
            p0, p1, p2, p3 = c0, c1, c2, c3
            c0, c1, c2, c3 = d0, d1, d2, d3
            row[lag] += (d0 + d1) + (d2 + d3)
    return row


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


@numba.njit(cache=True, nogil=True)
def warped_times(
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
    """(sample times, entry times, exit times, speed) on a speed profile's warped clock (see
    edge.wim.reference.warped_times_ref and edge.wim.motion).  One pass over the samples."""
    # The speeds at the ramp's ends, as the clipped quadratic gives them (ramp_start_s <= ramp_end_s).
    start_speed = v0_mps + accel_mps2 * (min(ramp_start_s, ramp_end_s) - t_c_s)
    end_speed = v0_mps + accel_mps2 * (ramp_end_s - t_c_s)
    span = t_end_s - t_start_s
    if span <= 0:
        speed = v0_mps
    else:
        # The front's travel between the first and the last event, as front_x gives it.
        x_start = _front_x(
            t_start_s, t_c_s, x0_m, v0_mps, accel_mps2, ramp_start_s, ramp_end_s, start_speed, end_speed
        )
        x_end = _front_x(
            t_end_s, t_c_s, x0_m, v0_mps, accel_mps2, ramp_start_s, ramp_end_s, start_speed, end_speed
        )
        speed = (x_end - x_start) / span
    n_samples = times_s.shape[0]
    warped = np.empty(n_samples)
    for s in range(n_samples):
        x = _front_x(
            times_s[s], t_c_s, x0_m, v0_mps, accel_mps2, ramp_start_s, ramp_end_s, start_speed, end_speed
        )
        warped[s] = x / speed
    n_axles = offsets_m.shape[0]
    entry = np.empty(n_axles)
    exit_ = np.empty(n_axles)
    for i in range(n_axles):
        entry[i] = (entry_x_m + offsets_m[i]) / speed
        exit_[i] = entry[i] + (exit_x_m - entry_x_m) / speed
    return warped, entry, exit_, speed


@numba.njit(cache=True, nogil=True, inline="always")
def _front_x(
    t: float,
    t_c_s: float,
    x0_m: float,
    v0_mps: float,
    accel_mps2: float,
    ramp_start_s: float,
    ramp_end_s: float,
    start_speed: float,
    end_speed: float,
) -> float:
    """The front axle's position at ``t``: the quadratic within the ramp, its tangent lines outside."""
    clipped = min(max(t, ramp_start_s), ramp_end_s) - t_c_s
    inside = x0_m + clipped * (v0_mps + 0.5 * accel_mps2 * clipped)
    before = min(t - ramp_start_s, 0.0) * start_speed
    after = max(t - ramp_end_s, 0.0) * end_speed
    return inside + before + after


@numba.njit(cache=True, nogil=True)
def residual_batch_means(residuals_kg: F64, block: int) -> tuple[float, int, float, int]:
    """(sum of squares, count) of the residuals that are not NaN, and (sum of squares, count) of the means
    of each platform's consecutive blocks of ``block`` of them (see
    edge.wim.reference.residual_batch_means_ref).  One pass, per platform."""
    n_samples, n_platforms = residuals_kg.shape
    squares = 0.0
    count = 0
    mean_squares = 0.0
    n_blocks = 0
    for p in range(n_platforms):
        block_sum = 0.0
        in_block = 0
        for s in range(n_samples):
            r = residuals_kg[s, p]
            if np.isnan(r):
                continue
            squares += r * r
            count += 1
            block_sum += r
            in_block += 1
            if in_block == block:
                mean = block_sum / block
                mean_squares += mean * mean
                n_blocks += 1
                block_sum = 0.0
                in_block = 0
    return squares, count, mean_squares, n_blocks


@numba.njit(cache=True, nogil=True)
def edge_reading(
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
    """One reading of when an axle was half across a joint (see edge.wim.reference.edge_reading_ref)."""
    half = footprint_m / 2.0
    reach = guard_m + half
    n_others = others_offsets_m.size
    for s in range(lo, hi):
        for o in range(n_others):
            if abs(front_m[s] - others_offsets_m[o] - joint_m) < reach:
                return -1, np.nan
    total = 0.0
    count = 0
    for side in range(2):
        gains = side == 0
        platform = after if gains else after - 1
        far_edge = edges_m[platform + 1] if gains else edges_m[platform]
        blocked = False
        for s in range(lo, hi):
            for o in range(n_others):
                if abs(front_m[s] - others_offsets_m[o] - far_edge) < reach:
                    blocked = True
                    break
            if blocked:
                break
        if blocked:
            continue
        start, end = edges_m[platform], edges_m[platform + 1]
        integral = 0.0
        previous = 0.0
        for s in range(lo, hi):
            shared = 0.0
            for o in range(n_others):
                x = front_m[s] - others_offsets_m[o]
                if np.isnan(x):  # as np.clip would: an unknown place gives an unknown share
                    shared = np.nan
                    continue
                share = (min(x + half, end) - max(x - half, start)) / footprint_m
                if share > 0.0:
                    shared += share * others_kg[o]
            carried = (platform_kg[s, platform] - shared) / load_kg
            rest = carried if not gains else 1.0 - carried
            if s > lo:
                integral += 0.5 * (rest + previous) * (times_s[s] - times_s[s - 1])
            previous = rest
        total += times_s[lo] + integral
        count += 1
    if count == 0:
        return 0, np.nan
    return count, total / count


@numba.njit(cache=True, nogil=True)
def centre_events(
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
    """The centre of load's events of each run (see edge.wim.reference.centre_events_ref)."""
    n_runs = run_platform.size
    capacity = 0
    for k in range(n_runs):
        capacity += min(chunks, (run_stop[k] - run_start[k]) // min_chunk_samples)
    run_of = np.empty(capacity, dtype=np.intp)
    t_out = np.empty(capacity)
    x_out = np.empty(capacity)
    m = 0
    for k in range(n_runs):
        platform, start, stop = run_platform[k], run_start[k], run_stop[k]
        parts = min(chunks, (stop - start) // min_chunk_samples)
        if parts < 1:
            continue
        lo_m, hi_m = edges_m[platform], edges_m[platform + 1]
        step = (stop - start) / parts  # as np.linspace: k * step + start, the last exactly stop
        b = start
        for c in range(parts):
            a = b
            b = stop if c == parts - 1 else int(np.rint((c + 1) * step + start))
            mid = 0.5 * (times_s[a] + times_s[b - 1])
            lo, hi, inside = b, a, 0
            for s in range(a, b):
                if abs(times_s[s] - mid) <= event_s / 2:
                    inside += 1
                    lo = min(lo, s)
                    hi = max(hi, s + 1)
            if inside < min_chunk_samples:
                lo, hi = a, b
            t_sum = 0.0
            x_sum = 0.0
            for s in range(lo, hi):
                t_sum += times_s[s]
                x_sum += lo_m + (hi_m - lo_m) * (exit_kg[s, platform] / total_kg[s, platform])
            run_of[m] = k
            t_out[m] = t_sum / (hi - lo)
            x_out[m] = x_sum / (hi - lo)
            m += 1
    return run_of[:m], t_out[:m], x_out[:m]


@numba.njit(cache=True, nogil=True)
def lone_runs(
    front_m: F64,
    offsets_m: F64,
    total_kg: F64,
    edges_m: F64,
    reach_m: float,
    min_load_kg: float,
    min_samples: int,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Every run in which one axle stood alone on a platform (see edge.wim.reference.lone_runs_ref)."""
    n_samples = front_m.size
    n_axles = offsets_m.size
    n_platforms = edges_m.size - 1
    # A truck that only moves forward has an axle near a platform only between the front reaching it
    # and the last axle leaving it: the samples outside that span hold no run, and are not looked at.
    forward = True
    for s in range(1, n_samples):
        if front_m[s] < front_m[s - 1]:
            forward = False
            break
    least, most = np.inf, -np.inf
    for i in range(n_axles):
        least = min(least, offsets_m[i])
        most = max(most, offsets_m[i])
    found = [(0, 0, 0, 0) for _ in range(0)]  # a typed, empty list of (platform, axle, start, stop)
    for p in range(n_platforms):
        lo, hi = edges_m[p], edges_m[p + 1]
        first, last = 0, n_samples
        if forward and n_axles > 0:
            first = int(np.searchsorted(front_m, lo - reach_m + least, side="right"))
            last = int(np.searchsorted(front_m, hi + reach_m + most, side="left"))
        for i in range(n_axles):
            start = -1
            for s in range(first, last + 1):
                lone = False
                if s < last and total_kg[s, p] > min_load_kg:
                    x = front_m[s] - offsets_m[i]
                    if x >= lo + reach_m and x <= hi - reach_m:
                        near = 0
                        for o in range(n_axles):
                            xo = front_m[s] - offsets_m[o]
                            if xo > lo - reach_m and xo < hi + reach_m:
                                near += 1
                        lone = near == 1
                if lone and start < 0:
                    start = s
                elif not lone and start >= 0:
                    if s - start >= min_samples:
                        found.append((p, i, start, s))
                    start = -1
    out = np.empty((len(found), 4), dtype=np.intp)
    for k in range(len(found)):
        out[k, 0], out[k, 1], out[k, 2], out[k, 3] = found[k]
    return out[:, 0].copy(), out[:, 1].copy(), out[:, 2].copy(), out[:, 3].copy()


@numba.njit(cache=True, nogil=True)
def ramp_pairs(
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
    """Each knot pair's ramp fit by one column's least squares (see edge.wim.reference.ramp_pairs_ref).
    Called by :func:`ramp_search`, which the estimator calls, and by edge.wim.motion._ramp_solutions."""
    n_events, n_shared = q.shape
    n_pairs = t_a.size
    sse = np.full(n_pairs, np.nan)
    coef = np.full((n_pairs, 1 + n_shared), np.nan)
    g2 = np.empty(n_events)
    rest = np.empty(n_events)
    on_shared = np.empty(n_shared)
    x = np.empty(n_shared)
    for k in range(n_pairs):
        width = t_b[k] - t_a[k]
        for e in range(n_events):
            u = times_s[e] - t_a[k]
            clipped = min(max(u, 0.0), width)
            g2[e] = (clipped**2 / (2.0 * width) + max(u - width, 0.0)) * weights[e]
        for c in range(n_shared):
            acc = 0.0
            for e in range(n_events):
                acc += g2[e] * q[e, c]
            on_shared[c] = acc
        g2_norm2 = 0.0
        rest_norm2 = 0.0
        for e in range(n_events):
            acc = 0.0
            for c in range(n_shared):
                acc += on_shared[c] * q[e, c]
            rest[e] = g2[e] - acc
            g2_norm2 += g2[e] * g2[e]
            rest_norm2 += rest[e] * rest[e]
        if not rest_norm2 > singular_rtol**2 * g2_norm2:
            continue
        along = 0.0
        for e in range(n_events):
            along += rest[e] * y_rest[e]
        step = along / rest_norm2  # v_2 - v_1
        total = 0.0
        for e in range(n_events):
            residual = y_rest[e] - step * rest[e]
            total += residual * residual
        sse[k] = total
        # The shared columns' coefficients, once g_2's share of the targets is taken off: r is upper
        # triangular, so back-substitution.
        for c in range(n_shared - 1, -1, -1):
            acc = y_shared[c] - step * on_shared[c]
            for d in range(c + 1, n_shared):
                acc -= r[c, d] * x[d]
            x[c] = acc / r[c, c]
        v1 = x[1]
        coef[k, 0] = x[0] + v1 * (t_a[k] - t0_s)  # x_a: the front at t_a
        coef[k, 1] = v1
        coef[k, 2] = v1 + step
        for c in range(2, n_shared):
            coef[k, 1 + c] = x[c]
    return sse, coef


@numba.njit(cache=True, nogil=True)
def cross_ratios(
    counts: npt.NDArray[np.int32] | F64,
    zero_counts: F64,
    kg_per_count: F64,
    min_platform_kg: float,
    min_cell_share: float,
) -> F64:
    """Each 4-cell platform's log cross ratio over a crossing, from the raw counts in one pass (see
    edge.wim.reference.cross_ratios_ref)."""
    n_samples, n_cells = counts.shape
    n_platforms = n_cells // 4
    sums = np.zeros((n_platforms, 4))
    loaded = np.zeros(n_platforms, dtype=np.int64)
    for s in range(n_samples):
        row = counts[s]
        for p in range(n_platforms):
            c = 4 * p
            el = (row[c] - zero_counts[c]) * kg_per_count[c]
            er = (row[c + 1] - zero_counts[c + 1]) * kg_per_count[c + 1]
            xl = (row[c + 2] - zero_counts[c + 2]) * kg_per_count[c + 2]
            xr = (row[c + 3] - zero_counts[c + 3]) * kg_per_count[c + 3]
            total = el + er + xl + xr
            floor = min_cell_share * total
            if total > min_platform_kg and el > floor and er > floor and xl > floor and xr > floor:
                sums[p, 0] += el
                sums[p, 1] += er
                sums[p, 2] += xl
                sums[p, 3] += xr
                loaded[p] += 1
    out = np.full(n_platforms, np.nan)
    for p in range(n_platforms):
        if loaded[p] >= 10:
            out[p] = math.log(sums[p, 0] * sums[p, 3] / (sums[p, 1] * sums[p, 2]))
    return out


@numba.njit(cache=True, nogil=True)
def _linspace(start: float, stop: float, num: int) -> F64:
    """``np.linspace(start, stop, num)`` as NumPy computes it: ``i * step + start``, the last ``stop``."""
    out = np.empty(num)
    div = num - 1
    delta = stop - start
    step = delta / div if div > 0 else delta
    for i in range(num):
        out[i] = i / div * delta + start if div > 0 and step == 0 else i * step + start
    if num > 1:
        out[num - 1] = stop
    return out


@numba.njit(cache=True, nogil=True)
def ramp_search(
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
    """The ramp search's knot grid and its two refinements, each pair by :func:`ramp_pairs` (see
    edge.wim.reference.ramp_search_ref)."""
    t_start = times_s.min()
    t_end = times_s.max()
    span = t_end - t_start
    n_shared = q.shape[1]
    capacity = n_grid * n_grid + 2 * n_refine * n_refine
    all_a = np.empty(capacity)
    all_b = np.empty(capacity)
    all_sse = np.empty(capacity)
    all_coef = np.empty((capacity, 1 + n_shared))
    grid_a = _linspace(t_start, t_end, n_grid)
    grid_b = grid_a.copy()
    step = span / (n_grid - 1)
    count = 0
    for _ in range(3):
        start = count
        for i in range(grid_a.size):
            for j in range(grid_b.size):
                if grid_b[j] > grid_a[i] + 1e-9 * span:
                    all_a[count] = grid_a[i]
                    all_b[count] = grid_b[j]
                    count += 1
        sse, coef = ramp_pairs(
            times_s,
            weights,
            q,
            r,
            y_shared,
            y_rest,
            t0_s,
            all_a[start:count],
            all_b[start:count],
            singular_rtol,
        )
        all_sse[start:count] = sse
        all_coef[start:count] = coef
        best = -1
        finite = False
        for k in range(sse.size):
            if np.isfinite(sse[k]):
                finite = True
            if not np.isnan(sse[k]) and (best < 0 or sse[k] < sse[best]):
                best = k
        if not finite:
            return all_sse[:count], all_a[:count], all_b[:count], all_coef[:count], False
        # Refine around the best pair: each knot within one step of the last grid, on a grid 4 x finer.
        fine = _linspace(-step, step, n_refine)
        grid_a = np.minimum(np.maximum(all_a[start + best] + fine, t_start), t_end)
        grid_b = np.minimum(np.maximum(all_b[start + best] + fine, t_start), t_end)
        step *= 2.0 / (n_refine - 1)
    return all_sse[:count], all_a[:count], all_b[:count], all_coef[:count], True


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
    axle_residuals(
        times,
        np.zeros((4, 1)),
        np.array([0.0, 6.0]),
        np.array([0.0, 0.1]),
        np.array([1.0, 1.1]),
        -0.5,
        6.0,
        0.3,
        0.25,
        np.ones(2),
    )
    dynamic_normal_equations(
        times,
        np.zeros((4, 1)),
        np.array([0.0, 6.0]),
        np.array([0.0, 0.1]),
        np.array([1.0, 1.1]),
        -0.5,
        6.0,
        0.3,
        0.25,
        np.ones((1, 2)),
        0.0,
        0.5,
        3,
    )
    dynamic_unit_responses(
        times,
        1,
        np.array([0.0, 6.0]),
        np.array([0.0, 0.1]),
        np.array([1.0, 1.1]),
        -0.5,
        6.0,
        0.3,
        0.25,
        np.ones((1, 2)),
        0.0,
        0.5,
        3,
    )
    body_knot_covariance(0.05, 3, 1.5, 4.0, 0.15)
    crossing_kinematics(np.array([0.0, 0.1]), np.array([1.0, 1.1]), -0.5, 6.0)
    warped_times(times, 0.5, 1.0, 2.0, 0.1, 0.0, 1.0, 0.0, 1.0, np.array([0.0, 3.0]), -0.5, 6.0)
    residual_batch_means(np.zeros((4, 2)), 2)
    edge_reading(
        times,
        times,
        np.zeros((4, 2)),
        0,
        4,
        np.array([3.0]),
        np.array([1.0]),
        1.0,
        1.0,
        1,
        np.array([0.0, 1.0, 2.0]),
        0.1,
        0.25,
    )
    lone_runs(times, np.zeros(1), np.ones((4, 1)), np.array([0.0, 1.0]), 0.1, 200.0, 10)
    no_runs = np.zeros(0, dtype=np.intp)
    centre_events(
        times, np.zeros((4, 1)), np.ones((4, 1)), np.array([0.0, 1.0]), no_runs, no_runs, no_runs, 4, 10, 0.1
    )
    q, r = np.linalg.qr(np.column_stack((np.ones(4), times)))
    ramp_pairs(times, np.ones(4), q, r, np.zeros(2), np.zeros(4), 0.5, np.array([0.2]), np.array([0.6]), 1e-9)
    ramp_search(times, np.ones(4), q, r, np.zeros(2), np.zeros(4), 0.5, 13, 9, 1e-9)
    cross_ratios(counts, np.zeros(4), np.ones(4), 2000.0, 0.05)
