"""Numba kernels of the outline measurement.

Plain functions over arrays, no I/O.  Each has a NumPy reference in :mod:`edge.outline.reference` that
defines its result; tests compare them.  ``cache=True`` keeps compiled code on disk; :func:`warm_up`
compiles or loads everything before the first vehicle.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

__all__ = [
    "beam_support",
    "extents",
    "extents_from_rows",
    "neighbour_counts",
    "profile_shift",
    "range_noise_sigma",
    "scan_points",
    "scan_rows",
    "travel",
    "warm_up",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@numba.njit(cache=True, nogil=True)
def travel(times_s: F64, profile_t_s: F64, profile_v_m_s: F64) -> F64:
    n = profile_t_s.size
    knots = np.empty(n)
    knots[0] = 0.0
    for k in range(1, n):
        knots[k] = knots[k - 1] + 0.5 * (profile_v_m_s[k] + profile_v_m_s[k - 1]) * (
            profile_t_s[k] - profile_t_s[k - 1]
        )
    out = np.empty(times_s.size)
    for i in range(times_s.size):
        t = times_s[i]
        k = np.searchsorted(profile_t_s, t, side="right") - 1
        k = min(max(k, 0), n - 1)
        tau = t - profile_t_s[k]
        slope = 0.0
        if t >= profile_t_s[0] and k < n - 1:
            slope = (profile_v_m_s[k + 1] - profile_v_m_s[k]) / (profile_t_s[k + 1] - profile_t_s[k])
        out[i] = knots[k] + profile_v_m_s[k] * tau + 0.5 * slope * tau * tau
    return out


@numba.njit(cache=True, nogil=True)
def scan_points(
    ranges_mm: npt.NDArray[np.uint16],
    times_s: F64,
    angles_rad: F64,
    mount_y_m: float,
    mount_z_m: float,
    scanner_x_m: float,
    profile_t_s: F64,
    profile_v_m_s: F64,
    y_half_m: float,
    z_min_m: float,
) -> tuple[F64, I64]:
    n_scans, n_beams = ranges_mm.shape
    x_scan = travel(times_s, profile_t_s, profile_v_m_s)
    cos_a = np.cos(angles_rad)
    sin_a = np.sin(angles_rad)
    points = np.empty((n_scans * n_beams, 6))
    scan = np.empty(n_scans * n_beams, dtype=np.int64)
    n = 0
    for s in range(n_scans):
        x = x_scan[s] - scanner_x_m
        for b in range(n_beams):
            raw = ranges_mm[s, b]
            if raw == 0:
                continue
            r = raw / 1000.0
            y = mount_y_m + r * cos_a[b]
            z = mount_z_m + r * sin_a[b]
            if z < z_min_m or abs(y) > y_half_m:
                continue
            points[n, 0] = x
            points[n, 1] = y
            points[n, 2] = z
            points[n, 3] = r
            points[n, 4] = times_s[s]
            points[n, 5] = b
            scan[n] = s
            n += 1
    return points[:n].copy(), scan[:n].copy()


@numba.njit(cache=True, nogil=True)
def beam_support(
    ranges_mm: npt.NDArray[np.uint16], angles_rad: F64, reach: int, max_gap_m: float
) -> npt.NDArray[np.bool_]:
    n_scans, n_beams = ranges_mm.shape
    cos_a = np.cos(angles_rad)
    sin_a = np.sin(angles_rad)
    gap2 = max_gap_m * max_gap_m
    support = np.zeros((n_scans, n_beams), dtype=np.bool_)
    for s in range(n_scans):
        for b in range(n_beams):
            if ranges_mm[s, b] == 0:
                continue
            r = ranges_mm[s, b] / 1000.0
            y, z = r * cos_a[b], r * sin_a[b]
            for d in range(1, reach + 1):
                c = b + d
                if c >= n_beams:
                    break
                if ranges_mm[s, c] == 0:
                    continue
                rc = ranges_mm[s, c] / 1000.0
                dy = rc * cos_a[c] - y
                dz = rc * sin_a[c] - z
                if dy * dy + dz * dz <= gap2:
                    support[s, b] = True
                    support[s, c] = True
    return support


@numba.njit(cache=True, nogil=True)
def neighbour_counts(xyz: F64, radius_m: float, cap: int) -> I64:
    """Grid of cubes of side ``radius_m``; each point looks at the 27 cubes around its own and stops
    counting at ``cap`` (the outlier test only asks whether a point has that many)."""
    n = xyz.shape[0]
    counts = np.zeros(n, dtype=np.int64)
    if n == 0:
        return counts
    inv = 1.0 / radius_m
    lo = np.empty(3)
    for a in range(3):
        lo[a] = xyz[:, a].min()
    cells = np.empty((n, 3), dtype=np.int64)
    dims = np.zeros(3, dtype=np.int64)
    for i in range(n):
        for a in range(3):
            c = math.floor((xyz[i, a] - lo[a]) * inv)
            cells[i, a] = c
            dims[a] = max(dims[a], c + 3)
    keys = (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]
    order = np.argsort(keys)
    sorted_keys = keys[order]
    # coordinates in key order: the inner loop then reads memory in sequence
    sx = xyz[order, 0].copy()
    sy = xyz[order, 1].copy()
    sz = xyz[order, 2].copy()
    r2 = radius_m * radius_m
    # the point's own column first: most neighbours are there, so the cap is reached sooner
    offsets = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))
    for ii in range(n):
        i = order[ii]
        cx, cy, cz = cells[i, 0], cells[i, 1], cells[i, 2]
        px, py, pz = sx[ii], sy[ii], sz[ii]
        total = 0  # counts the point itself too
        for dx, dy in offsets:
            if cx + dx < 0 or cy + dy < 0 or total > cap:
                continue
            # the three z cells of one (x, y) column are consecutive keys
            base = ((cx + dx) * dims[1] + (cy + dy)) * dims[2]
            k0 = base + max(cz - 1, 0)
            k1 = base + cz + 1
            start = np.searchsorted(sorted_keys, k0, side="left")
            stop = np.searchsorted(sorted_keys, k1, side="right")
            for j in range(start, stop):
                ddx = sx[j] - px
                ddy = sy[j] - py
                ddz = sz[j] - pz
                if ddx * ddx + ddy * ddy + ddz * ddz <= r2:
                    total += 1
                    if total > cap:
                        break
        counts[i] = min(total - 1, cap)
    return counts


@numba.njit(cache=True, nogil=True)
def range_noise_sigma(ranges_mm: npt.NDArray[np.uint16]) -> float:
    n_scans, n_beams = ranges_mm.shape
    d2 = np.empty(n_scans * max(n_beams - 2, 0))
    n = 0
    for s in range(n_scans):
        for b in range(1, n_beams - 1):
            a, m, c = ranges_mm[s, b - 1], ranges_mm[s, b], ranges_mm[s, b + 1]
            if a == 0 or m == 0 or c == 0:
                continue
            d2[n] = abs((a / 1000.0 - 2.0 * (m / 1000.0)) + c / 1000.0)
            n += 1
    if n == 0:
        return 0.0
    return float(np.median(d2[:n]) / 0.6745 / math.sqrt(6.0))


@numba.njit(cache=True, nogil=True)
def _kth_index(values: F64, mask: npt.NDArray[np.bool_], k: int, largest: bool) -> int:
    """Index of the k-th (0 = extreme) largest or smallest masked value; ties go to the lower index,
    as a stable argsort orders them."""
    best_idx = np.full(k + 1, -1, dtype=np.int64)
    best_val = np.empty(k + 1)
    held = 0
    sign = 1.0 if largest else -1.0
    # walk in index order for the smallest, reverse order for the largest, so that ties resolve as a
    # stable ascending argsort does (its last entries are the highest index among equals)
    n = values.size
    for step in range(n):
        i = n - 1 - step if largest else step
        if not mask[i]:
            continue
        v = sign * values[i]
        if held <= k:
            pos = held
            held += 1
        elif v > best_val[k]:
            pos = k
        else:
            continue
        while pos > 0 and v > best_val[pos - 1]:
            best_val[pos] = best_val[pos - 1]
            best_idx[pos] = best_idx[pos - 1]
            pos -= 1
        best_val[pos] = v
        best_idx[pos] = i
    return int(best_idx[k]) if held > k else -1


@numba.njit(cache=True, nogil=True)
def _band_median(values: F64, ranges: F64, band_m: float, upper: bool, scan_trim: int) -> tuple[float, float]:
    ordered = np.sort(values)
    k = min(scan_trim, values.size - 1)
    edge = ordered[-1 - k] if upper else ordered[k]
    near = values >= edge - band_m if upper else values <= edge + band_m
    return float(np.median(values[near])), float(np.median(ranges[near]))


@numba.njit(cache=True, nogil=True)
def scan_rows(
    points: F64,
    scan_key: I64,
    keep: npt.NDArray[np.bool_],
    min_points_per_scan: int,
    band_m: float,
    scan_trim: int,
    scanner: I64,
    median_half: int,
    x_col: int,
) -> F64:
    """The per-scan rows of :func:`extents` (column 0: the scan's ``points[:, x_col]``; 1-3: y_lo, y_hi,
    z_hi after the running median; 4-6: their ranges; 7: the scanner).  Nothing here depends on x but
    column 0, so the lane computes the rows with x_col = 4 (time) before the speed profile is known."""
    n = points.shape[0]
    per_scan = np.empty((n, 8))
    n_rows = 0
    start = 0
    buf_y = np.empty(n)
    buf_z = np.empty(n)
    buf_r = np.empty(n)
    while start < n:
        stop = start
        while stop < n and scan_key[stop] == scan_key[start]:
            stop += 1
        m = 0
        for i in range(start, stop):
            if keep[i]:
                buf_y[m] = points[i, 1]
                buf_z[m] = points[i, 2]
                buf_r[m] = points[i, 3]
                m += 1
        if m >= min_points_per_scan and m > 0:
            y_lo, r_lo = _band_median(buf_y[:m], buf_r[:m], band_m, False, scan_trim)
            y_hi, r_hi = _band_median(buf_y[:m], buf_r[:m], band_m, True, scan_trim)
            z_hi, r_top = _band_median(buf_z[:m], buf_r[:m], band_m, True, scan_trim)
            row = per_scan[n_rows]
            row[0] = points[start, x_col]
            row[1], row[2], row[3] = y_lo, y_hi, z_hi
            row[4], row[5], row[6] = r_lo, r_hi, r_top
            row[7] = scanner[start]
            n_rows += 1
        start = stop
    raw = per_scan[:n_rows].copy()
    window = np.empty(2 * median_half + 1)
    for i in range(n_rows):
        lo = max(0, i - median_half)
        hi = min(n_rows, i + median_half + 1)
        for col in range(1, 4):
            m = 0
            for j in range(lo, hi):
                if raw[j, 7] == raw[i, 7]:
                    window[m] = raw[j, col]
                    m += 1
            per_scan[i, col] = np.median(window[:m])
    return per_scan[:n_rows].copy()


@numba.njit(cache=True, nogil=True)
def extents_from_rows(rows: F64, x: F64, trim: int) -> F64:
    """:func:`extents` from its per-scan rows (:func:`scan_rows`) and each row's x."""
    out = np.full(10, np.nan)
    n_rows = rows.shape[0]
    if n_rows <= trim:
        return out
    per_scan = rows
    xs = np.unique(x)
    out[0] = xs[0]
    out[1] = xs[-1]
    m = min(4, xs.size)
    if m >= 2:
        out[5] = (xs[m - 1] - xs[0]) / (m - 1)
        out[6] = (xs[-1] - xs[-m]) / (m - 1)
    every = np.ones(n_rows, dtype=np.bool_)
    i_lo = _kth_index(per_scan[:, 1].copy(), every, trim, False)
    i_hi = _kth_index(per_scan[:, 2].copy(), every, trim, True)
    i_top = _kth_index(per_scan[:, 3].copy(), every, trim, True)
    out[2] = per_scan[i_lo, 1]
    out[3] = per_scan[i_hi, 2]
    out[4] = per_scan[i_top, 3]
    out[7] = per_scan[i_lo, 4]
    out[8] = per_scan[i_hi, 5]
    out[9] = per_scan[i_top, 6]
    return out


@numba.njit(cache=True, nogil=True)
def extents(
    points: F64,
    scan_key: I64,
    keep: npt.NDArray[np.bool_],
    min_points_per_scan: int,
    trim: int,
    band_m: float,
    scan_trim: int,
    scanner: I64,
    median_half: int,
) -> F64:
    rows = scan_rows(points, scan_key, keep, min_points_per_scan, band_m, scan_trim, scanner, median_half, 0)
    return extents_from_rows(rows, rows[:, 0].copy(), trim)


@numba.njit(cache=True, nogil=True)
def _sq_misfit(xq: F64, shift: float, zq: F64, xs: F64, zs: F64) -> float:
    """Sum over i of (zq[i] - np.interp(xq[i] + shift, xs, zs, left=0, right=0))^2, both x increasing:
    one walk along xs (no search per point)."""
    n = xs.size
    total = 0.0
    j = 0
    for i in range(xq.size):
        x = xq[i] + shift
        if x < xs[0] or x > xs[n - 1]:
            v = 0.0
        else:
            while j < n - 1 and xs[j + 1] <= x:
                j += 1
            if j == n - 1:
                v = zs[n - 1]
            else:
                slope = (zs[j + 1] - zs[j]) / (xs[j + 1] - xs[j])
                v = slope * (x - xs[j]) + zs[j]
        d = zq[i] - v
        total += d * d
    return total


@numba.njit(cache=True, nogil=True)
def _shift_cost(xa: F64, za: F64, xb: F64, zb: F64, shift: float) -> float:
    return (_sq_misfit(xa, shift, za, xb, zb) + _sq_misfit(xb, -shift, zb, xa, za)) / (xa.size + xb.size)


@numba.njit(cache=True, nogil=True)
def profile_shift(
    xa: F64, za: F64, xb: F64, zb: F64, max_shift_m: float, coarse_m: float, fine_m: float, edge_m: float
) -> F64:
    """The shift of height profile B behind profile A and its uncertainty
    (:func:`edge.outline.reference.profile_shift_ref` defines it)."""
    out = np.full(4, np.nan)
    out[3] = 0.0
    if xa.size < 8 or xb.size < 8:
        return out
    for i in range(1, xa.size):
        if xa[i] < xa[i - 1]:
            return out
    for i in range(1, xb.size):
        if xb[i] < xb[i - 1]:
            return out
    coarse = np.arange(-max_shift_m, max_shift_m + 0.5 * coarse_m, coarse_m)
    best, best_cost = 0, np.inf
    for i in range(coarse.size):
        c = _shift_cost(xa, za, xb, zb, coarse[i])
        if c < best_cost:
            best, best_cost = i, c
    if best == 0 or best == coarse.size - 1:
        return out
    fine = coarse[best] + np.arange(-coarse_m, coarse_m + 0.5 * fine_m, fine_m)
    cost_f = np.empty(fine.size)
    k, k_cost = 0, np.inf
    for i in range(fine.size):
        cost_f[i] = _shift_cost(xa, za, xb, zb, fine[i])
        if cost_f[i] < k_cost:
            k, k_cost = i, cost_f[i]
    shift = fine[k]
    if 0 < k < fine.size - 1:
        c0, c1, c2 = cost_f[k - 1], cost_f[k], cost_f[k + 1]
        curve = c0 - 2.0 * c1 + c2
        if curve > 0:
            shift += 0.5 * fine_m * (c0 - c2) / curve
    step_a = np.median(np.diff(xa))
    step_b = np.median(np.diff(xb))
    s2 = 0.0
    s4 = 0.0
    prev = 0.0
    for i in range(za.size + 1):
        cur = za[i] if i < za.size else 0.0
        j = abs(cur - prev)
        if j > edge_m:
            s2 += j * j
            s4 += j * j * j * j
        prev = cur
    n_eff = s2 * s2 / s4 if s4 > 0 else 1.0
    out[0] = shift
    out[1] = math.sqrt((step_a * step_a + step_b * step_b) / 6.0 / n_eff)
    out[2] = math.sqrt(cost_f[k])
    out[3] = 1.0
    return out


def warm_up() -> None:
    """Compile (or load from the cache) every kernel on a tiny input."""
    ranges = np.array([[1000, 1200, 0, 1100]], dtype=np.uint16)
    t = np.array([0.0, 1.0])
    v = np.array([2.0, 2.0])
    beam_support(ranges, np.linspace(0, 1, 4), 2, 0.08)
    pts, scan = scan_points(ranges, np.array([0.5]), np.linspace(0, 1, 4), 0.0, 2.0, 0.0, t, v, 3.0, 0.0)
    keep = neighbour_counts(pts[:, :3], 0.15, 10) >= 0
    extents(pts, scan, keep, 1, 0, 0.01, 0, np.zeros(scan.size, dtype=np.int64), 2)
    rows = scan_rows(pts, scan, keep, 1, 0.01, 0, np.zeros(scan.size, dtype=np.int64), 2, 4)
    extents_from_rows(rows, travel(np.ascontiguousarray(rows[:, 0]), t, v), 0)
    range_noise_sigma(ranges)
    xs = np.linspace(0.0, 1.0, 9)
    profile_shift(xs, xs, xs, xs, 0.1, 0.01, 0.001, 0.1)
