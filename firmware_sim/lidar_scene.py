"""What a gantry of 2-D LiDAR scanners sees as a vehicle drives through it.

Vehicle shapes are unions of boxes and horizontal cylinders (a tanker's barrel) in the vehicle's own frame:
``x`` from the front bumper backwards, ``y`` across the lane (0 = lane centre), ``z`` up from the road.  Each
scanner is fixed in the gantry plane and sweeps that plane; a scan is ray-cast against the vehicle's cross
section at the moment of the scan (every beam of one scan at the scan's time stamp) and against the road.

Faults make the scans look like the field: range noise, dropped beams and lost telegrams, rain drops in
front of the target, dust kicked up behind and beside the vehicle, and mirror-like surfaces (polished
stainless barrels, chrome) that return nothing or a late, too-long echo at oblique incidence.

Ground truth is the bounding box of the shape, which is what JT/T 1012 measures: length, width, height.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from drivers.lidar.codec import ScanTelegram

__all__ = [
    "SHAPES",
    "Faults",
    "Part",
    "Passage",
    "ScannerMount",
    "SimulatedScans",
    "VehicleShape",
    "default_gantry",
    "simulate_passage",
    "speed_pair_gantry",
]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Part:
    """A box (``radius_m == 0``) spanning y0..y1, z0..z1, or a cylinder along x centred at (y0, z0)."""

    x0_m: float
    x1_m: float
    y0_m: float
    y1_m: float = 0.0
    z0_m: float = 0.0
    z1_m: float = 0.0
    radius_m: float = 0.0
    mirror: bool = False  # polished surface: specular at oblique incidence when the mirror fault is on

    def bounds(self) -> tuple[float, float, float, float, float, float]:
        if self.radius_m > 0:
            r = self.radius_m
            return (self.x0_m, self.x1_m, self.y0_m - r, self.y0_m + r, self.z0_m - r, self.z0_m + r)
        return (self.x0_m, self.x1_m, self.y0_m, self.y1_m, self.z0_m, self.z1_m)


def _box(
    x0: float, x1: float, width: float, z0: float, z1: float, y_centre: float = 0.0, mirror: bool = False
) -> Part:
    return Part(x0, x1, y_centre - width / 2, y_centre + width / 2, z0, z1, mirror=mirror)


@dataclass(frozen=True)
class VehicleShape:
    name: str
    parts: tuple[Part, ...]

    @property
    def truth_m(self) -> tuple[float, float, float]:
        """(length, width, height) of the bounding box."""
        b = np.array([p.bounds() for p in self.parts])
        return (
            float(b[:, 1].max() - b[:, 0].min()),
            float(b[:, 3].max() - b[:, 2].min()),
            float(b[:, 5].max()),
        )


def _cab(x0: float = 0.0, width: float = 2.5, height: float = 3.4) -> list[Part]:
    return [
        _box(x0, x0 + 0.5, 2.45, 0.45, 1.2),  # bumper
        _box(x0 + 0.05, x0 + 2.2, width, 0.9, height),  # cab
        _box(x0 + 2.2, x0 + 6.0, 1.0, 0.5, 1.3),  # chassis rails, fifth wheel
    ]


def cab(rng: np.random.Generator) -> VehicleShape:
    return VehicleShape("cab", tuple(_cab(height=float(rng.uniform(3.0, 3.9)))))


def box_van(rng: np.random.Generator) -> VehicleShape:
    length = float(rng.uniform(8.0, 12.0))
    width = float(rng.uniform(2.4, 2.6))
    height = float(rng.uniform(3.4, 4.15))
    return VehicleShape("box_van", (*_cab(height=3.1, width=2.45)[:2], _box(2.4, length, width, 1.0, height)))


def tanker(rng: np.random.Generator) -> VehicleShape:
    radius = float(rng.uniform(1.05, 1.27))
    length = float(rng.uniform(14.0, 16.5))
    return VehicleShape(
        "tanker",
        (
            *_cab(height=3.6),
            Part(5.0, length, 0.0, 0.0, 1.25 + radius, radius_m=radius, mirror=True),
            _box(5.0, length, 1.2, 0.6, 1.3),  # frame and wheels under the barrel
        ),
    )


def flatbed_overhang(rng: np.random.Generator) -> VehicleShape:
    deck_end = float(rng.uniform(15.0, 16.5))
    overhang = float(rng.uniform(0.8, 2.5))
    load_top = float(rng.uniform(2.4, 3.8))
    return VehicleShape(
        "flatbed_overhang",
        (
            *_cab(height=3.5),
            _box(5.5, deck_end, 2.5, 1.0, 1.45),
            _box(6.5, deck_end + overhang, 2.2, 1.45, load_top),  # pipes or steel beams past the deck's end
        ),
    )


def car_carrier(rng: np.random.Generator) -> VehicleShape:
    length = float(rng.uniform(16.5, 18.6))
    parts = [*_cab(height=3.3), _box(5.0, length, 2.5, 0.4, 0.8)]
    x = 5.3
    top = float(rng.uniform(3.9, 4.25))
    while x + 4.2 < length:
        parts.append(_box(x, x + 4.2, 1.8, 0.8, 2.2, mirror=True))  # lower deck car, shiny paint
        parts.append(_box(x, x + 4.2, 1.8, 2.6, top, mirror=True))  # upper deck car
        parts.append(_box(x, x + 4.2, 2.5, 2.4, 2.5))  # upper deck ramp
        x += 4.4
    return VehicleShape("car_carrier", tuple(parts))


def side_load(rng: np.random.Generator) -> VehicleShape:
    deck_end = float(rng.uniform(11.0, 13.0))
    load_width = float(rng.uniform(2.6, 3.2))
    shift = float(rng.uniform(0.0, 0.3))  # off-centre: more on one side
    return VehicleShape(
        "side_load",
        (
            *_cab(height=3.4),
            _box(5.5, deck_end, 2.5, 1.0, 1.45),
            _box(7.0, deck_end - 1.0, load_width, 1.45, float(rng.uniform(2.0, 3.0)), y_centre=shift),
        ),
    )


SHAPES: dict[str, Callable[[np.random.Generator], VehicleShape]] = {
    "cab": cab,
    "box_van": box_van,
    "tanker": tanker,
    "flatbed_overhang": flatbed_overhang,
    "car_carrier": car_carrier,
    "side_load": side_load,
}


@dataclass(frozen=True)
class ScannerMount:
    """A scanner at (y, z) whose scan plane stands across the lane ``x_m`` along it from the gantry plane
    (negative: upstream, the vehicle passes it first); ``mount_deg`` turns the scanner's own angle into the
    lane's (0 deg = +y, 90 deg = up), so an LMS5xx looking down has mount_deg 180 (its 90 deg ahead points
    to -z)."""

    name: str
    y_m: float
    z_m: float
    mount_deg: float
    start_angle_udeg: int = -50000
    angular_step_udeg: int = 5000  # 0.5 deg at 100 Hz, an LMS511 setting
    n_beams: int = 381  # -5 to 185 deg
    scan_hz: float = 100.0
    serial_number: int = 0
    x_m: float = 0.0

    def beam_angles_rad(self) -> F64:
        k = np.arange(self.n_beams, dtype=np.float64)
        out: F64 = np.radians((self.start_angle_udeg + k * self.angular_step_udeg) / 10000.0 + self.mount_deg)
        return out


def default_gantry(scan_hz: float = 100.0) -> tuple[ScannerMount, ...]:
    """One scanner over the lane centre looking down, one on each gantry post looking across."""
    return (
        ScannerMount("overhead", 0.0, 6.5, 180.0, scan_hz=scan_hz, serial_number=0x1001),
        ScannerMount("left", -3.2, 1.6, -90.0, scan_hz=scan_hz, serial_number=0x1002),
        ScannerMount("right", 3.2, 1.6, 90.0, scan_hz=scan_hz, serial_number=0x1003),
    )


def speed_pair_gantry(baseline_m: float = 4.0, scan_hz: float = 100.0) -> tuple[ScannerMount, ...]:
    """:func:`default_gantry` plus a second overhead scanner ``baseline_m`` upstream of the gantry plane,
    looking down like the first: the time a vehicle's profile takes from one to the other gives its speed
    (edge/outline/measure.py).  Passages need ``approach_m`` above ``baseline_m``."""
    upstream = ScannerMount(
        "upstream", 0.0, 6.5, 180.0, scan_hz=scan_hz, serial_number=0x1004, x_m=-baseline_m
    )
    return (*default_gantry(scan_hz), upstream)


@dataclass(frozen=True)
class Faults:
    noise_mm: float = 0.0  # Gaussian range noise, 1 sigma
    dropout_p: float = 0.0  # a beam returns no echo
    scan_loss_p: float = 0.0  # a whole telegram is lost
    rain_p: float = 0.0  # a beam echoes off a drop somewhere before its target
    dust_p: float = 0.0  # a beam through the dust cloud behind/beside the vehicle echoes off dust
    mirror: bool = False  # parts marked mirror are specular beyond 10 deg incidence

    @staticmethod
    def named(name: str) -> Faults:
        return FAULTS[name]


FAULTS: dict[str, Faults] = {
    "clean": Faults(),
    "noise": Faults(noise_mm=10.0),
    "dropouts": Faults(noise_mm=5.0, dropout_p=0.15, scan_loss_p=0.05),
    "rain": Faults(noise_mm=10.0, rain_p=0.02),
    "dust": Faults(noise_mm=10.0, dust_p=0.08),
    "mirror": Faults(noise_mm=5.0, mirror=True),
    "all": Faults(noise_mm=10.0, dropout_p=0.05, scan_loss_p=0.02, rain_p=0.01, dust_p=0.05, mirror=True),
}


@dataclass(frozen=True)
class Passage:
    """A vehicle passing the gantry: its front is ``approach_m`` before the gantry plane at t = 0, it starts
    at ``speed_m_s`` and accelerates at ``accel_m_s2`` (never below ``min_speed_m_s``)."""

    shape: VehicleShape
    speed_m_s: float = 4.0
    accel_m_s2: float = 0.0
    approach_m: float = 2.0
    min_speed_m_s: float = 0.5

    def speed_at(self, t_s: F64) -> F64:
        v0 = max(self.speed_m_s, self.min_speed_m_s)
        out: F64 = np.maximum(v0 + self.accel_m_s2 * t_s, self.min_speed_m_s)
        return out

    def travel_at(self, t_s: F64) -> F64:
        """Distance travelled since t = 0 (exact integral of :meth:`speed_at`)."""
        v0, a, vmin = max(self.speed_m_s, self.min_speed_m_s), self.accel_m_s2, self.min_speed_m_s
        if a >= 0:
            out: F64 = v0 * t_s + 0.5 * a * t_s**2
            return out
        t_floor = (vmin - v0) / a  # when braking reaches the minimum speed
        tc = np.minimum(t_s, t_floor)
        braking: F64 = v0 * tc + 0.5 * a * tc**2 + vmin * np.maximum(t_s - t_floor, 0.0)
        return braking

    def duration_s(self, margin_m: float = 6.0) -> float:
        """Time until the tail is ``margin_m`` past the gantry."""
        target = self.approach_m + self.shape.truth_m[0] + margin_m
        t = np.linspace(0.0, 600.0, 600001)
        return float(t[np.searchsorted(self.travel_at(t), target)])


@dataclass
class SimulatedScans:
    """Scans of one passage: per scanner, scan times (s since t = 0) and ranges (mm, 0 = no echo)."""

    mounts: tuple[ScannerMount, ...]
    times_s: dict[str, F64] = field(default_factory=dict)
    ranges_mm: dict[str, npt.NDArray[np.uint16]] = field(default_factory=dict)

    def telegrams(self, name: str, clock_offset_us: int = 1_000_000) -> list[ScanTelegram]:
        mount = next(m for m in self.mounts if m.name == name)
        return [
            ScanTelegram(
                scan_counter=i,
                time_since_startup_us=clock_offset_us + round(t * 1e6),
                start_angle_udeg=mount.start_angle_udeg,
                angular_step_udeg=mount.angular_step_udeg,
                ranges=r,
                telegram_counter=i,
                scan_frequency_centi_hz=round(mount.scan_hz * 100),
                serial_number=mount.serial_number,
            )
            for i, (t, r) in enumerate(zip(self.times_s[name], self.ranges_mm[name], strict=True))
        ]


def _cast(
    origin_y: float, origin_z: float, angles: F64, parts: list[Part]
) -> tuple[F64, F64, npt.NDArray[np.int64]]:
    """Distance to the first surface along each beam, cos(incidence) there, index of the part hit (-1 road,
    -2 nothing)."""
    dy, dz = np.cos(angles), np.sin(angles)
    best = np.full(angles.size, np.inf)
    cos_inc = np.ones(angles.size)
    which = np.full(angles.size, -2, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        road = np.where(dz < -1e-9, -origin_z / dz, np.inf)
    hit = road < best
    best[hit], cos_inc[hit], which[hit] = road[hit], -dz[hit], -1
    for index, part in enumerate(parts):
        if part.radius_m > 0:
            oy, oz = origin_y - part.y0_m, origin_z - part.z0_m
            b = oy * dy + oz * dz
            c = oy * oy + oz * oz - part.radius_m**2
            disc = b * b - c
            with np.errstate(invalid="ignore"):
                t = np.where(disc >= 0, -b - np.sqrt(np.maximum(disc, 0.0)), np.inf)
            t = np.where(t > 0, t, np.inf)
            ny = (origin_y + t * dy - part.y0_m) / part.radius_m
            nz = (origin_z + t * dz - part.z0_m) / part.radius_m
            inc = -(ny * dy + nz * dz)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                ty0, ty1 = (part.y0_m - origin_y) / dy, (part.y1_m - origin_y) / dy
                tz0, tz1 = (part.z0_m - origin_z) / dz, (part.z1_m - origin_z) / dz
            tymin, tymax = np.fmin(ty0, ty1), np.fmax(ty0, ty1)
            tzmin, tzmax = np.fmin(tz0, tz1), np.fmax(tz0, tz1)
            # a beam parallel to a face: inside the slab means the whole line
            inside_y = (origin_y > part.y0_m) & (origin_y < part.y1_m)
            inside_z = (origin_z > part.z0_m) & (origin_z < part.z1_m)
            tymin = np.where(np.abs(dy) < 1e-12, np.where(inside_y, -np.inf, np.inf), tymin)
            tymax = np.where(np.abs(dy) < 1e-12, np.where(inside_y, np.inf, -np.inf), tymax)
            tzmin = np.where(np.abs(dz) < 1e-12, np.where(inside_z, -np.inf, np.inf), tzmin)
            tzmax = np.where(np.abs(dz) < 1e-12, np.where(inside_z, np.inf, -np.inf), tzmax)
            enter, leave = np.maximum(tymin, tzmin), np.minimum(tymax, tzmax)
            t = np.where((enter <= leave) & (enter > 0), enter, np.inf)
            inc = np.where(tymin > tzmin, np.abs(dy), np.abs(dz))
        hit = t < best
        best[hit], cos_inc[hit], which[hit] = t[hit], inc[hit], index
    return best, cos_inc, which


def simulate_passage(
    passage: Passage,
    mounts: tuple[ScannerMount, ...],
    faults: Faults,
    rng: np.random.Generator,
    max_range_m: float = 40.0,
) -> SimulatedScans:
    """Every scan of every scanner while the vehicle passes (each scanner with its own random phase)."""
    out = SimulatedScans(mounts)
    for mount in mounts:
        if passage.approach_m + mount.x_m < 0:
            raise ValueError(
                f"scanner {mount.name} hangs {-mount.x_m:g} m upstream, but the passage starts with the"
                f" vehicle's front only {passage.approach_m:g} m before the gantry: raise approach_m"
            )
    length = passage.shape.truth_m[0]
    duration = passage.duration_s()
    dust_len_m = 4.0
    for mount in mounts:
        period = 1.0 / mount.scan_hz
        times = np.arange(rng.uniform(0.0, period), duration, period)
        travel = passage.travel_at(times)
        angles = mount.beam_angles_rad()
        dz = np.sin(angles)
        rows: list[npt.NDArray[np.uint16]] = []
        kept_times: list[float] = []
        for t, s in zip(times, travel, strict=True):
            if rng.random() < faults.scan_loss_p:
                continue
            x_v = s - passage.approach_m - mount.x_m  # the vehicle-frame x now in this scanner's plane
            parts = [p for p in passage.shape.parts if p.x0_m <= x_v < p.x1_m]
            dist, cos_inc, which = _cast(mount.y_m, mount.z_m, angles, parts)
            dist = np.where(dist > max_range_m, np.inf, dist)
            if faults.mirror:
                mirror = np.array([p.mirror for p in parts] + [False, False])[which]  # -1, -2 index the tail
                oblique = mirror & (cos_inc < math.cos(math.radians(10.0)))
                u = rng.random(angles.size)
                dist = np.where(oblique & (u < 0.8), np.inf, dist)
                dist = np.where(oblique & (u >= 0.8), dist + rng.uniform(0.3, 4.0, angles.size), dist)
            finite = np.isfinite(dist)
            if faults.rain_p > 0:
                rain = finite & (rng.random(angles.size) < faults.rain_p)
                dist = np.where(rain, rng.uniform(0.3, 1.0, angles.size) * np.where(finite, dist, 0.0), dist)
            in_dust = (x_v > length and x_v < length + dust_len_m) or (0.0 < x_v < length)
            if faults.dust_p > 0 and in_dust:
                # dust between 0.1 and 1.2 m above the road, across the lane, along the beam
                z_hit = mount.z_m + dz * np.where(finite, dist, max_range_m)
                lo = np.clip((1.2 - mount.z_m) / np.where(dz == 0, np.nan, dz), 0, None)
                hi = np.clip((0.1 - mount.z_m) / np.where(dz == 0, np.nan, dz), 0, None)
                span_lo = np.nan_to_num(np.fmin(lo, hi), nan=0.0, posinf=0.0)
                span_hi = np.nan_to_num(np.fmax(lo, hi), nan=0.0, posinf=0.0)
                span_hi = np.fmin(span_hi, np.where(finite, dist, max_range_m))
                y_at = mount.y_m + np.cos(angles) * (span_lo + span_hi) / 2
                ok = (span_hi > span_lo) & (np.abs(y_at) < 2.0) & (z_hit < 1.2 + 3.0)
                dusty = ok & (rng.random(angles.size) < faults.dust_p)
                dist = np.where(dusty, span_lo + rng.random(angles.size) * (span_hi - span_lo), dist)
            if faults.noise_mm > 0:
                dist = dist + rng.normal(0.0, faults.noise_mm / 1000.0, angles.size)
            if faults.dropout_p > 0:
                dist = np.where(rng.random(angles.size) < faults.dropout_p, np.inf, dist)
            mm = np.where(np.isfinite(dist), np.clip(np.round(dist * 1000.0), 1, 65535), 0)
            rows.append(mm.astype(np.uint16))
            kept_times.append(float(t))
        out.times_s[mount.name] = np.array(kept_times)
        out.ranges_mm[mount.name] = np.vstack(rows) if rows else np.zeros((0, mount.n_beams), dtype=np.uint16)
    return out
