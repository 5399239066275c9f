"""Scans of a gantry of scanners plus the vehicle's speed profile -> length, width, height, uncertainty.

The steps, each a kernel with a NumPy reference:

1. every echo becomes a point in the vehicle's frame: x is how far the vehicle had travelled when the scan
   was taken (from the speed profile, e.g. the WIM axle timing), y and z come from the scanner's mounting;
   the road and anything outside the lane corridor go;
2. outliers go: a point needs ``min_neighbours`` others within ``radius_m``.  A vehicle's surfaces, sampled
   every few centimetres, have dozens; rain drops and thin dust have none or one;
3. a scan counts only with ``min_points_per_scan`` kept points; the extremes are trimmed order statistics
   (``trim`` points in from the edge), so the last few stray points cannot set them;
4. length = x extent + half the sampling step at each end (the first scan to see the front comes on
   average half a step after the front crossed the plane); width = y extent; height = top z.

Uncertainty (1 sigma): range noise (estimated from the scans themselves) and the beam spacing at the point
that sets the dimension (uniform: spacing / sqrt(12)) for width and height; the sampling step at each end
and the speed profile's relative uncertainty for length.

The length is only as good as the speed profile: 0.5 % off in speed is 0.5 % off in length.  A speed
pair corrects it: a second scanner (``speed_pair`` names its partner) hangs a known distance D along the
lane from its partner, looking the same way.  Mapped through the speed profile, both see the same height
profile of the vehicle; if the profile is off by a factor (1 + e), the second one's copy lies e D behind
(:func:`~edge.outline.kernels.profile_shift` finds that shift).  e from the pair and the profile's own
relative uncertainty (``speed_rel_sigma``, prior e = 0) are combined weighted by their inverse variances;
the speed profile is divided by (1 + e), and the combined uncertainty goes into the length's.  The pair's
scans set nothing else (a vehicle following close behind may be in its window; rows outside the
partner's extent plus the search range are left out).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.outline import kernels, reference

__all__ = [
    "Outline",
    "OutlineParams",
    "PreparedScans",
    "ScannerScans",
    "SpeedPair",
    "finish_outline",
    "measure_outline",
    "pair_speed_error",
    "prepare_outline",
]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ScannerScans:
    """One scanner's scans of one vehicle: times (s, on the same clock as the speed profile), raw ranges
    (mm, 0 = no echo), the beam angles in the lane's frame (rad; 0 = +y, pi/2 = up) and its mounting."""

    times_s: F64
    ranges_mm: npt.NDArray[np.uint16]
    angles_rad: F64
    mount_y_m: float
    mount_z_m: float
    scanner_x_m: float = 0.0
    name: str = ""
    #: the name of the scanner this one forms a speed pair with (its scans then measure only the speed)
    speed_pair: str = ""

    @classmethod
    def from_device(
        cls,
        times_s: F64,
        ranges_mm: Sequence[F64] | npt.NDArray[np.float64],
        start_angle_deg: float,
        angular_step_deg: float,
        mount_deg: float,
        mount_y_m: float,
        mount_z_m: float,
        scanner_x_m: float = 0.0,
        name: str = "",
        speed_pair: str = "",
    ) -> ScannerScans:
        """From a driver's scans (ranges in mm as floats, angles in the scanner's own frame) and the
        scanner's mounting (``mount_deg`` turns the scanner's angle into the lane's)."""
        ranges = np.vstack(list(ranges_mm)) if len(ranges_mm) else np.zeros((0, 1))
        raw = np.clip(np.rint(ranges), 0, 65535).astype(np.uint16)
        k = np.arange(raw.shape[1], dtype=np.float64)
        angles = np.radians(start_angle_deg + k * angular_step_deg + mount_deg)
        return cls(
            np.asarray(times_s, dtype=np.float64),
            raw,
            angles,
            mount_y_m,
            mount_z_m,
            scanner_x_m,
            name,
            speed_pair,
        )

    @property
    def angular_step_rad(self) -> float:
        return float(abs(self.angles_rad[1] - self.angles_rad[0])) if self.angles_rad.size > 1 else 0.0


@dataclass(frozen=True)
class OutlineParams:
    radius_m: float = 0.15
    min_neighbours: int = 10
    #: The outlier test's x axis is time times this speed, not distance: a vehicle creeping at 0.5 m/s is
    #: scanned every 5 mm, and rain seen at that density would pass any distance-based test.
    neighbour_speed_m_s: float = 4.0
    band_sigmas: float = 4.0  # per-scan extremes: median of the points this many noise sigmas from the edge
    band_min_m: float = 0.005
    scan_trim: int = 2  # per-scan extremes are anchored this many echoes in from the outermost
    #: per-scan extremes become the running median over this many valid scans either side (same scanner):
    #: a feature shorter than about 3 scans (17 cm at 20 km/h and 100 Hz) along the lane is not measured
    median_half: int = 2
    min_points_per_scan: int = 3
    trim: int = 2
    y_half_m: float = 3.0  # lane corridor: echoes farther from the lane centre are posts or the next lane
    z_min_m: float = 0.15  # echoes below this are the road
    speed_rel_sigma: float = 0.005
    support_reach: int = 2  # beams on either side that may vouch for an echo in the same scan
    support_gap_m: float = 0.08
    #: speed pair: the shift is searched within +/- (this many speed_rel_sigma x D + shift_search_min_m)
    shift_search_sigmas: float = 5.0
    shift_search_min_m: float = 0.05
    shift_coarse_m: float = 0.005
    shift_fine_m: float = 0.0005
    shift_edge_m: float = 0.3  # a jump of the profile's top above this is an edge that fixes the shift


@dataclass(frozen=True)
class Outline:
    length_m: float
    width_m: float
    height_m: float
    u_length_m: float
    u_width_m: float
    u_height_m: float
    points: int
    rejected: int
    range_sigma_m: float
    #: the speed profile was divided by (1 + speed_correction) (0 without a speed pair)
    speed_correction: float = 0.0
    #: the relative 1-sigma uncertainty of the speed used (the profile's alone, or combined with the pair)
    u_speed_rel: float = float("nan")
    #: what the speed pair alone said: e and its 1-sigma (nan without a pair, or when it found no match)
    pair_speed_error: float = float("nan")
    u_pair_speed_error: float = float("nan")

    @property
    def valid(self) -> bool:
        return math.isfinite(self.length_m) and math.isfinite(self.width_m) and math.isfinite(self.height_m)


@dataclass(frozen=True)
class SpeedPair:
    """The height profiles (per-scan rows of :func:`~edge.outline.kernels.scan_rows`, column 0 = scan
    time) of a speed pair: ``a`` the partner (an outline scanner), ``b`` the pair scanner, and where each
    hangs along the lane."""

    name: str
    rows_a: F64
    rows_b: F64
    x_a_m: float
    x_b_m: float


@dataclass(frozen=True)
class PreparedScans:
    """The part of a measurement that needs no speed profile (:func:`prepare_outline`): the points in
    the lane's (t, y, z), which echoes survive the outlier tests, and the noise estimate.  The lane runs
    it as soon as the vehicle's tail has passed the gantry, seconds before its last axle leaves the
    scale; :func:`finish_outline` then needs only the speed profile (a few ms)."""

    points: F64  # (x, y, z, range, t, beam); x is filled in by finish_outline
    scan_key: npt.NDArray[np.int64]
    keep: npt.NDArray[np.bool_]
    scanner_ids: npt.NDArray[np.int64]
    scanner_x_m: F64  # per point: its scanner's position along the lane
    step_rad: float
    range_sigma_m: float
    #: the kernels' per-scan rows (:func:`~edge.outline.kernels.scan_rows`, column 0 = scan time); None
    #: on the reference path, which recomputes everything in finish_outline
    rows: F64 | None = None
    rows_scanner_x_m: F64 | None = None
    pairs: tuple[SpeedPair, ...] = ()

    @property
    def empty(self) -> bool:
        return bool(self.points.shape[0] == 0)


def prepare_outline(
    scans: Sequence[ScannerScans], params: OutlineParams = OutlineParams(), use_reference: bool = False
) -> PreparedScans:
    """Points, beam support, neighbour counts and range noise of one vehicle's scans (no speed needed)."""
    if use_reference:
        to_points, counts, sigma, supports = (
            reference.scan_points_ref,
            reference.neighbour_counts_ref,
            reference.range_noise_sigma_ref,
            reference.beam_support_ref,
        )
    else:
        to_points, counts, sigma, supports = (
            kernels.scan_points,
            kernels.neighbour_counts,
            kernels.range_noise_sigma,
            kernels.beam_support,
        )
    pair_scans = [s for s in scans if s.speed_pair]
    scans = [s for s in scans if not s.speed_pair]
    clouds: list[F64] = []
    keys: list[npt.NDArray[np.int64]] = []
    steps: list[F64] = []
    sigmas: list[float] = []
    supported: list[npt.NDArray[np.bool_]] = []
    scanner_ids: list[npt.NDArray[np.int64]] = []
    scanner_x: list[F64] = []
    offset = 0
    unit_t = np.array([0.0, 1.0])  # x is recomputed with the real profile in finish_outline
    unit_v = np.array([1.0, 1.0])
    for scanner in scans:
        if scanner.ranges_mm.shape[0] == 0:
            continue
        pts, scan = to_points(
            np.ascontiguousarray(scanner.ranges_mm),
            scanner.times_s,
            scanner.angles_rad,
            scanner.mount_y_m,
            scanner.mount_z_m,
            scanner.scanner_x_m,
            unit_t,
            unit_v,
            params.y_half_m,
            params.z_min_m,
        )
        support = supports(
            np.ascontiguousarray(scanner.ranges_mm),
            scanner.angles_rad,
            params.support_reach,
            params.support_gap_m,
        )
        supported.append(support[scan, pts[:, 5].astype(np.int64)])
        scanner_ids.append(np.full(pts.shape[0], len(scanner_ids), dtype=np.int64))
        scanner_x.append(np.full(pts.shape[0], scanner.scanner_x_m))
        clouds.append(pts)
        keys.append(scan + offset)
        steps.append(np.full(pts.shape[0], scanner.angular_step_rad))
        offset += scanner.ranges_mm.shape[0]
        sigmas.append(sigma(np.ascontiguousarray(scanner.ranges_mm)))
    if not clouds or sum(c.shape[0] for c in clouds) == 0:
        nothing = np.zeros(0, dtype=np.int64)
        return PreparedScans(
            np.zeros((0, 6)), nothing, np.zeros(0, dtype=np.bool_), nothing, np.zeros(0), 0.0, math.nan
        )
    points = np.concatenate(clouds)
    range_sigma = float(np.median(sigmas))
    test_space = np.column_stack([points[:, 4] * params.neighbour_speed_m_s, points[:, 1], points[:, 2]])
    keep = (
        counts(test_space, params.radius_m, params.min_neighbours) >= params.min_neighbours
    ) & np.concatenate(supported)
    scan_key, ids = np.concatenate(keys), np.concatenate(scanner_ids)
    rows = rows_x = None
    if not use_reference:  # the per-scan extremes need no speed either: only the rows' x is left to do
        band = max(params.band_sigmas * range_sigma, params.band_min_m)
        rows = kernels.scan_rows(
            points,
            scan_key,
            keep,
            params.min_points_per_scan,
            band,
            params.scan_trim,
            ids,
            params.median_half,
            4,
        )
        by_scanner = np.array([float(x[0]) if x.size else 0.0 for x in scanner_x])
        rows_x = by_scanner[rows[:, 7].astype(np.int64)]
    pairs = tuple(
        pair
        for pair in (
            _speed_pair(b, scans, points, scan_key, keep, ids, range_sigma, params, use_reference)
            for b in pair_scans
        )
        if pair is not None
    )
    return PreparedScans(
        points,
        scan_key,
        keep,
        ids,
        np.concatenate(scanner_x),
        float(np.max(np.concatenate(steps))),
        range_sigma,
        rows,
        rows_x,
        pairs,
    )


def _rows(
    points: F64,
    scan_key: npt.NDArray[np.int64],
    keep: npt.NDArray[np.bool_],
    ids: npt.NDArray[np.int64],
    band: float,
    params: OutlineParams,
    use_reference: bool,
) -> F64:
    scan_rows = reference.scan_rows_ref if use_reference else kernels.scan_rows
    return scan_rows(
        np.ascontiguousarray(points),
        np.ascontiguousarray(scan_key),
        np.ascontiguousarray(keep),
        params.min_points_per_scan,
        band,
        params.scan_trim,
        np.ascontiguousarray(ids),
        params.median_half,
        4,
    )


def _speed_pair(
    b: ScannerScans,
    scans: Sequence[ScannerScans],
    points: F64,
    scan_key: npt.NDArray[np.int64],
    keep: npt.NDArray[np.bool_],
    ids: npt.NDArray[np.int64],
    range_sigma: float,
    params: OutlineParams,
    use_reference: bool,
) -> SpeedPair | None:
    """The height profiles of a pair scanner and its partner (None: the partner sent no scans, or the
    pair scanner saw nothing)."""
    present = [s for s in scans if s.ranges_mm.shape[0]]
    partner = next((i for i, s in enumerate(present) if s.name == b.speed_pair), None)
    if partner is None or b.ranges_mm.shape[0] == 0:
        return None
    band = max(params.band_sigmas * range_sigma, params.band_min_m)
    mine = ids == partner
    rows_a = _rows(points[mine], scan_key[mine], keep[mine], ids[mine], band, params, use_reference)
    to_points, counts, supports = (
        (reference.scan_points_ref, reference.neighbour_counts_ref, reference.beam_support_ref)
        if use_reference
        else (kernels.scan_points, kernels.neighbour_counts, kernels.beam_support)
    )
    ranges = np.ascontiguousarray(b.ranges_mm)
    pts, scan = to_points(
        ranges,
        b.times_s,
        b.angles_rad,
        b.mount_y_m,
        b.mount_z_m,
        b.scanner_x_m,
        np.array([0.0, 1.0]),
        np.array([1.0, 1.0]),
        params.y_half_m,
        params.z_min_m,
    )
    if pts.shape[0] == 0:
        return None
    support = supports(ranges, b.angles_rad, params.support_reach, params.support_gap_m)
    space = np.column_stack([pts[:, 4] * params.neighbour_speed_m_s, pts[:, 1], pts[:, 2]])
    keep_b = (counts(space, params.radius_m, params.min_neighbours) >= params.min_neighbours) & support[
        scan, pts[:, 5].astype(np.int64)
    ]
    rows_b = _rows(pts, scan, keep_b, np.zeros(scan.size, dtype=np.int64), band, params, use_reference)
    return SpeedPair(b.name, rows_a, rows_b, present[partner].scanner_x_m, b.scanner_x_m)


def pair_speed_error(
    pair: SpeedPair,
    profile_t_s: F64,
    profile_v_m_s: F64,
    params: OutlineParams = OutlineParams(),
    use_reference: bool = False,
) -> tuple[float, float]:
    """The speed profile's relative error e (it says (1 + e) times the true speed) as the speed pair
    sees it, and its 1-sigma uncertainty; (nan, nan) when the two profiles do not match."""
    travel, shift = (
        (reference.travel_ref, reference.profile_shift_ref)
        if use_reference
        else (kernels.travel, kernels.profile_shift)
    )
    baseline = pair.x_b_m - pair.x_a_m
    if abs(baseline) < 0.5 or pair.rows_a.shape[0] == 0 or pair.rows_b.shape[0] == 0:
        return math.nan, math.nan
    xa = travel(np.ascontiguousarray(pair.rows_a[:, 0]), profile_t_s, profile_v_m_s) - pair.x_a_m
    xb = travel(np.ascontiguousarray(pair.rows_b[:, 0]), profile_t_s, profile_v_m_s) - pair.x_b_m
    reach = abs(baseline) * params.shift_search_sigmas * params.speed_rel_sigma + params.shift_search_min_m
    near = (xb >= xa[0] - reach) & (xb <= xa[-1] + reach)  # another vehicle is farther
    r = shift(
        xa,
        np.ascontiguousarray(pair.rows_a[:, 3]),
        np.ascontiguousarray(xb[near]),
        np.ascontiguousarray(pair.rows_b[near, 3]),
        reach,
        params.shift_coarse_m,
        params.shift_fine_m,
        params.shift_edge_m,
    )
    if r[3] < 1:
        return math.nan, math.nan
    return float(r[0]) / baseline, float(r[1]) / abs(baseline)


def finish_outline(
    prepared: PreparedScans,
    profile_t_s: F64,
    profile_v_m_s: F64,
    params: OutlineParams = OutlineParams(),
    use_reference: bool = False,
) -> Outline:
    """Length, width, height and their uncertainties from prepared scans and the vehicle's speed
    profile (times on the scans' clock)."""
    nan = float("nan")
    if prepared.empty:
        return Outline(nan, nan, nan, nan, nan, nan, 0, 0, nan)
    to_travel, extents = (
        (reference.travel_ref, reference.extents_ref) if use_reference else (kernels.travel, kernels.extents)
    )
    range_sigma = prepared.range_sigma_m
    keep = prepared.keep
    speed = _SpeedFix(0.0, params.speed_rel_sigma)
    for pair in prepared.pairs:
        e_pair, u_pair = pair_speed_error(pair, profile_t_s, profile_v_m_s, params, use_reference)
        if math.isfinite(e_pair) and u_pair > 0:
            w_profile, w_pair = 1.0 / params.speed_rel_sigma**2, 1.0 / u_pair**2
            e_fused = w_pair * e_pair / (w_profile + w_pair)
            speed = _SpeedFix(e_fused, 1.0 / math.sqrt(w_profile + w_pair), e_pair, u_pair)
            profile_v_m_s = profile_v_m_s / (1.0 + e_fused)
            break
    if prepared.rows is not None and prepared.rows_scanner_x_m is not None:
        # the kernels' path: each scan's x from its time; the points themselves are done with
        x_rows = kernels.travel(np.ascontiguousarray(prepared.rows[:, 0]), profile_t_s, profile_v_m_s)
        e = kernels.extents_from_rows(prepared.rows, x_rows - prepared.rows_scanner_x_m, params.trim)
        return _outline(e, prepared, params, speed)
    points = prepared.points  # x is (re)written here: no copy of the whole cloud
    points[:, 0] = (
        to_travel(np.ascontiguousarray(points[:, 4]), profile_t_s, profile_v_m_s) - prepared.scanner_x_m
    )
    band = max(params.band_sigmas * range_sigma, params.band_min_m)
    e = extents(
        points,
        prepared.scan_key,
        keep,
        params.min_points_per_scan,
        params.trim,
        band,
        params.scan_trim,
        prepared.scanner_ids,
        params.median_half,
    )
    return _outline(e, prepared, params, speed)


@dataclass(frozen=True)
class _SpeedFix:
    correction: float
    u_rel: float
    pair: float = math.nan
    u_pair: float = math.nan


def _outline(e: F64, prepared: PreparedScans, params: OutlineParams, speed: _SpeedFix) -> Outline:
    """Dimensions and uncertainties from the extents (the order of :func:`edge.outline.kernels.extents`)."""
    range_sigma, step = prepared.range_sigma_m, prepared.step_rad
    x_lo, x_hi, y_lo, y_hi, z_hi, gap_f, gap_t, r_ylo, r_yhi, r_top = (float(v) for v in e)
    gap_f = 0.0 if math.isnan(gap_f) else gap_f
    gap_t = 0.0 if math.isnan(gap_t) else gap_t
    length = x_hi - x_lo + 0.5 * (gap_f + gap_t)
    u_length = math.sqrt((gap_f**2 + gap_t**2) / 12.0 + (length * speed.u_rel) ** 2)
    u_y_lo = math.sqrt(range_sigma**2 + (r_ylo * step) ** 2 / 12.0)
    u_y_hi = math.sqrt(range_sigma**2 + (r_yhi * step) ** 2 / 12.0)
    u_height = math.sqrt(range_sigma**2 + (r_top * step) ** 2 / 12.0)
    return Outline(
        length_m=length,
        width_m=y_hi - y_lo,
        height_m=z_hi,
        u_length_m=u_length,
        u_width_m=math.hypot(u_y_lo, u_y_hi),
        u_height_m=u_height,
        points=int(prepared.points.shape[0]),
        rejected=int(np.count_nonzero(~prepared.keep)),
        range_sigma_m=range_sigma,
        speed_correction=speed.correction,
        u_speed_rel=speed.u_rel,
        pair_speed_error=speed.pair,
        u_pair_speed_error=speed.u_pair,
    )


def measure_outline(
    scans: Sequence[ScannerScans],
    profile_t_s: F64,
    profile_v_m_s: F64,
    params: OutlineParams = OutlineParams(),
    use_reference: bool = False,
) -> Outline:
    """Measure one vehicle.  ``use_reference`` runs the NumPy references (tests and the bench)."""
    return finish_outline(
        prepare_outline(scans, params, use_reference), profile_t_s, profile_v_m_s, params, use_reference
    )
