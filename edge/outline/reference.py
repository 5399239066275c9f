"""Plain NumPy reference implementations of the outline kernels.

They define what the Numba kernels in :mod:`edge.outline.kernels` must compute; tests compare the two.  They
favour clarity over speed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "EXTENT_FIELDS",
    "beam_support_ref",
    "extents_ref",
    "neighbour_counts_ref",
    "profile_shift_ref",
    "range_noise_sigma_ref",
    "scan_points_ref",
    "scan_rows_ref",
    "travel_ref",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: What :func:`extents_ref` returns, in order (metres).  The extremes are trimmed order statistics of the
#: kept points; the gaps are the mean spacing of the first/last four scan positions (the sampling step at
#: each end); the ranges are the scanner distances of the points that set width and height.
EXTENT_FIELDS = (
    "x_lo",
    "x_hi",
    "y_lo",
    "y_hi",
    "z_hi",
    "gap_front",
    "gap_tail",
    "range_y_lo",
    "range_y_hi",
    "range_z_hi",
)


def travel_ref(times_s: F64, profile_t_s: F64, profile_v_m_s: F64) -> F64:
    """Distance travelled since ``profile_t_s[0]`` at each time, integrating the piecewise-linear speed
    profile exactly; before the first and after the last knot the end speeds hold."""
    dt = np.diff(profile_t_s)
    knots = np.concatenate(([0.0], np.cumsum(0.5 * (profile_v_m_s[1:] + profile_v_m_s[:-1]) * dt)))
    k = np.clip(np.searchsorted(profile_t_s, times_s, side="right") - 1, 0, profile_t_s.size - 1)
    tau = times_s - profile_t_s[k]
    slope = np.zeros_like(times_s)
    inner = (times_s >= profile_t_s[0]) & (k < profile_t_s.size - 1)
    kk = np.minimum(k, profile_t_s.size - 2)
    slope[inner] = ((profile_v_m_s[kk + 1] - profile_v_m_s[kk]) / dt[kk])[inner]
    out: F64 = knots[k] + profile_v_m_s[k] * tau + 0.5 * slope * tau**2
    return out


def beam_support_ref(
    ranges_mm: npt.NDArray[np.uint16], angles_rad: F64, reach: int, max_gap_m: float
) -> npt.NDArray[np.bool_]:
    """Whether each echo has another echo within ``max_gap_m`` among the ``reach`` beams on either side
    in the same scan.  A surface is sampled every few centimetres, so its echoes support each other; a rain
    drop or a late mirror echo is one beam alone."""
    r = ranges_mm.astype(np.float64) / 1000.0
    y, z = r * np.cos(angles_rad)[None, :], r * np.sin(angles_rad)[None, :]
    valid = ranges_mm > 0
    support = np.zeros(ranges_mm.shape, dtype=bool)
    n = ranges_mm.shape[1]
    for d in range(1, reach + 1):
        close = (
            valid[:, d:]
            & valid[:, :-d]
            & ((y[:, d:] - y[:, :-d]) ** 2 + (z[:, d:] - z[:, :-d]) ** 2 <= max_gap_m**2)
        )
        support[:, d:] |= close
        support[:, : n - d] |= close
    return support & valid


def scan_points_ref(
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
    """Points (x, y, z, range, t, beam) in the vehicle's frame and the scan index of each.

    x is the distance the vehicle has travelled at the scan's time minus the scanner's position along the
    lane, so every surface seen keeps its place on the vehicle whatever the speed.  Beams without an echo,
    echoes from the road (z below ``z_min_m``) and from outside the lane (|y| above ``y_half_m``) go.
    """
    r = ranges_mm.astype(np.float64) / 1000.0
    y = mount_y_m + r * np.cos(angles_rad)[None, :]
    z = mount_z_m + r * np.sin(angles_rad)[None, :]
    x = np.broadcast_to((travel_ref(times_s, profile_t_s, profile_v_m_s) - scanner_x_m)[:, None], r.shape)
    t = np.broadcast_to(times_s[:, None], r.shape)
    beam = np.broadcast_to(np.arange(r.shape[1], dtype=np.float64)[None, :], r.shape)
    keep = (ranges_mm > 0) & (z >= z_min_m) & (np.abs(y) <= y_half_m)
    scan = np.broadcast_to(np.arange(r.shape[0])[:, None], r.shape)
    points: F64 = np.stack([x[keep], y[keep], z[keep], r[keep], t[keep], beam[keep]], axis=1)
    return points, scan[keep].astype(np.int64)


def neighbour_counts_ref(xyz: F64, radius_m: float, cap: int) -> I64:
    """How many other points lie within ``radius_m`` (Euclidean) of each point, at most ``cap``."""
    order = np.argsort(xyz[:, 0], kind="stable")
    sx = xyz[order]
    lo = np.searchsorted(sx[:, 0], sx[:, 0] - radius_m, side="left")
    hi = np.searchsorted(sx[:, 0], sx[:, 0] + radius_m, side="right")
    counts = np.empty(xyz.shape[0], dtype=np.int64)
    r2 = radius_m * radius_m
    for i in range(sx.shape[0]):
        d = sx[lo[i] : hi[i]] - sx[i]
        counts[order[i]] = min(int(np.count_nonzero((d * d).sum(axis=1) <= r2)) - 1, cap)
    return counts


def range_noise_sigma_ref(ranges_mm: npt.NDArray[np.uint16]) -> float:
    """Range noise (m, 1 sigma) from the second differences of neighbouring beams that all have an echo.

    On a smooth surface d2 = r[k-1] - 2 r[k] + r[k+1] is noise of variance 6 sigma^2; edges are rare and
    the median ignores them.
    """
    r = ranges_mm.astype(np.float64) / 1000.0
    d2 = r[:, :-2] - 2 * r[:, 1:-1] + r[:, 2:]
    valid = (ranges_mm[:, :-2] > 0) & (ranges_mm[:, 1:-1] > 0) & (ranges_mm[:, 2:] > 0)
    if not valid.any():
        return 0.0
    return float(np.median(np.abs(d2[valid])) / 0.6745 / np.sqrt(6.0))


def _band_median(values: F64, ranges: F64, band_m: float, upper: bool, scan_trim: int) -> tuple[float, float]:
    """Median of the values from ``band_m`` inside the ``scan_trim``-th extreme outwards, and the median range
    of those points (the anchor ``scan_trim`` in keeps one or two stray echoes from being the band)."""
    ordered = np.sort(values)
    k = min(scan_trim, values.size - 1)
    edge = ordered[-1 - k] if upper else ordered[k]
    near = values >= edge - band_m if upper else values <= edge + band_m
    return float(np.median(values[near])), float(np.median(ranges[near]))


def extents_ref(
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
    """The :data:`EXTENT_FIELDS` of the kept points of scans with at least ``min_points_per_scan`` of them.

    ``scan_key`` numbers scans uniquely over all scanners, in non-decreasing order.  Each scan gives its own
    extremes as the median of its points within ``band_m`` of its extreme (the maximum of many noisy points
    overshoots by several sigma; that median does not); across scans the extremes are the ``trim``-th next
    to the extreme (0 = the extreme itself), so a few scans with stray points cannot set them.  Before
    that, each scan's extremes are replaced by their running median over ``median_half`` valid scans either
    side from the same ``scanner`` (one value per point): a real edge lasts several scans, a dust puff
    does not.
    """
    out = np.full(len(EXTENT_FIELDS), np.nan)
    rows = []  # x, y_lo, y_hi, z_hi, range_y_lo, range_y_hi, range_z_hi per valid scan
    for key in np.unique(scan_key):
        p = points[(scan_key == key) & keep]
        if p.shape[0] < min_points_per_scan or p.shape[0] == 0:
            continue
        y_lo, r_lo = _band_median(p[:, 1], p[:, 3], band_m, False, scan_trim)
        y_hi, r_hi = _band_median(p[:, 1], p[:, 3], band_m, True, scan_trim)
        z_hi, r_top = _band_median(p[:, 2], p[:, 3], band_m, True, scan_trim)
        rows.append((p[0, 0], y_lo, y_hi, z_hi, r_lo, r_hi, r_top, scanner[scan_key == key][0]))
    if len(rows) <= trim:
        return out
    per_scan = np.array(rows)
    raw = per_scan.copy()
    groups = per_scan[:, 7]
    for i in range(per_scan.shape[0]):
        lo, hi = max(0, i - median_half), min(per_scan.shape[0], i + median_half + 1)
        same = groups[lo:hi] == groups[i]
        for col in (1, 2, 3):
            per_scan[i, col] = np.median(raw[lo:hi, col][same])
    xs = np.unique(per_scan[:, 0])
    out[0], out[1] = xs[0], xs[-1]
    m = min(4, xs.size)
    if m >= 2:
        out[5] = (xs[m - 1] - xs[0]) / (m - 1)
        out[6] = (xs[-1] - xs[-m]) / (m - 1)
    i_lo = np.argsort(per_scan[:, 1], kind="stable")[trim]
    i_hi = np.argsort(per_scan[:, 2], kind="stable")[-1 - trim]
    i_top = np.argsort(per_scan[:, 3], kind="stable")[-1 - trim]
    out[2], out[3], out[4] = per_scan[i_lo, 1], per_scan[i_hi, 2], per_scan[i_top, 3]
    out[7], out[8], out[9] = per_scan[i_lo, 4], per_scan[i_hi, 5], per_scan[i_top, 6]
    return out


def scan_rows_ref(
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
    """The per-scan rows of :func:`extents_ref` (column 0: the scan's ``points[:, x_col]``; 1-3: y_lo, y_hi,
    z_hi after the running median; 4-6: their ranges; 7: the scanner); what
    :func:`edge.outline.kernels.scan_rows` computes."""
    rows = []
    for key in np.unique(scan_key):
        sel = scan_key == key
        p = points[sel & keep]
        if p.shape[0] < min_points_per_scan or p.shape[0] == 0:
            continue
        y_lo, r_lo = _band_median(p[:, 1], p[:, 3], band_m, False, scan_trim)
        y_hi, r_hi = _band_median(p[:, 1], p[:, 3], band_m, True, scan_trim)
        z_hi, r_top = _band_median(p[:, 2], p[:, 3], band_m, True, scan_trim)
        rows.append((points[sel][0, x_col], y_lo, y_hi, z_hi, r_lo, r_hi, r_top, scanner[sel][0]))
    if not rows:
        return np.zeros((0, 8))
    raw = np.array(rows)
    per_scan = raw.copy()
    for i in range(per_scan.shape[0]):
        lo, hi = max(0, i - median_half), min(per_scan.shape[0], i + median_half + 1)
        same = raw[lo:hi, 7] == raw[i, 7]
        for col in (1, 2, 3):
            per_scan[i, col] = np.median(raw[lo:hi, col][same])
    return per_scan


#: What :func:`profile_shift_ref` returns, in order.
SHIFT_FIELDS = ("shift_m", "u_shift_m", "rms_m", "ok")


def _shift_cost(xa: F64, za: F64, xb: F64, zb: F64, shift: float) -> float:
    """Mean squared difference of the two height profiles with B moved back by ``shift`` (linear
    interpolation between scans, no vehicle beyond a profile's first and last scan), both ways."""
    ab = za - np.interp(xa + shift, xb, zb, left=0.0, right=0.0)
    ba = zb - np.interp(xb - shift, xa, za, left=0.0, right=0.0)
    return float((np.sum(ab * ab) + np.sum(ba * ba)) / (xa.size + xb.size))


def profile_shift_ref(
    xa: F64, za: F64, xb: F64, zb: F64, max_shift_m: float, coarse_m: float, fine_m: float, edge_m: float
) -> F64:
    """How far (m) the height profile B (x along the lane, z its top, one row per scan, x increasing)
    lies behind profile A of the same vehicle: the shift minimising :func:`_shift_cost`.

    A coarse grid (``coarse_m``) over +/-``max_shift_m``, then a fine one (``fine_m``) over the coarse
    step either side of the best, then a parabola through the best fine point and its neighbours.

    Uncertainty: what sets the shift are the profile's edges (the front and tail, a cab before its box,
    gaps between loads); each is seen by each scanner somewhere within one sampling step, uniformly, so
    one edge fixes the shift to sqrt((step_a^2 + step_b^2) / 12).  Least squares weights an edge by its
    height jump J squared, so the edges (jumps above ``edge_m``, the front and tail from the road
    included) count as n_eff = (sum J^2)^2 / sum J^4 independent ones.  On the simulator's vehicles
    that gave a spread 1.5 times the stated uncertainty (the running median and the per-scan tops move
    an edge by more than the sampling alone): the variance per edge is taken as twice that,
    (step_a^2 + step_b^2) / 6.  ``ok`` is 0 when a profile has under 8 scans or its x is not in
    increasing order, or when the best shift lies on the grid's end (the vehicle was not the same one,
    or the speed is off by more than the search allows)."""
    out = np.array([np.nan, np.nan, np.nan, 0.0])
    if xa.size < 8 or xb.size < 8 or np.any(np.diff(xa) < 0) or np.any(np.diff(xb) < 0):
        return out
    coarse = np.arange(-max_shift_m, max_shift_m + 0.5 * coarse_m, coarse_m)
    cost = np.array([_shift_cost(xa, za, xb, zb, float(s)) for s in coarse])
    best = int(np.argmin(cost))
    if best == 0 or best == coarse.size - 1:
        return out
    fine = coarse[best] + np.arange(-coarse_m, coarse_m + 0.5 * fine_m, fine_m)
    cost_f = np.array([_shift_cost(xa, za, xb, zb, float(s)) for s in fine])
    k = int(np.argmin(cost_f))
    shift = float(fine[k])
    if 0 < k < fine.size - 1:
        c0, c1, c2 = cost_f[k - 1], cost_f[k], cost_f[k + 1]
        curve = c0 - 2.0 * c1 + c2
        if curve > 0:
            shift += 0.5 * fine_m * (c0 - c2) / curve
    step_a = float(np.median(np.diff(xa)))
    step_b = float(np.median(np.diff(xb)))
    jumps = np.abs(np.diff(np.concatenate(([0.0], za, [0.0]))))
    jumps = jumps[jumps > edge_m]
    n_eff = float(np.sum(jumps**2) ** 2 / np.sum(jumps**4)) if jumps.size else 1.0
    out[0] = shift
    out[1] = np.sqrt((step_a**2 + step_b**2) / 6.0 / n_eff)
    out[2] = np.sqrt(cost_f[k])
    out[3] = 1.0
    return out
