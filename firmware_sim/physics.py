"""Physical model of trucks crossing a full-length weigh-in-motion scale.

Pure functions and small classes over NumPy arrays: no I/O, no threads, no clocks.  Times are seconds of
simulation (device) time; the device simulators sample these functions every 10 ms.

Coordinates
-----------
``x`` runs along the lane in metres, 0 at the scale entry, increasing in the driving direction.  The scale is
a row of platforms; platform ``p`` spans ``[edges_m[p], edges_m[p + 1])``.  The lateral coordinate ``y`` is
measured from the lane centre, positive to the *left* of a driver facing the driving direction.

Each platform has a load cell under each corner.  Channel ``4 * p + corner`` with ``corner`` indexing
:data:`CORNERS`: entry-left, entry-right, exit-left, exit-right.  "Left" is the driver's left (``+y``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from firmware_sim.scenario import Scenario, Truck

__all__ = [
    "CORNERS",
    "RESTART_ACCELERATION_M_S2",
    "STOP_DECELERATION_M_S2",
    "LaneGeometry",
    "LoadCellModel",
    "TruckMotion",
    "cell_loads_kg",
    "schedule",
]

FloatArray = npt.NDArray[np.float64]

CORNERS = ("entry_left", "entry_right", "exit_left", "exit_right")
"""Corner order of the four load cells of a platform; channel index = 4 * platform + corner index."""

STOP_DECELERATION_M_S2 = 1.0
"""Braking of a stop-and-go truck: gentle, as a driver told to stop on the scale would brake."""

RESTART_ACCELERATION_M_S2 = 0.8
"""Pull-away of a loaded truck after a stop on the scale."""


@dataclass(frozen=True)
class LaneGeometry:
    """Where the platforms, load cells and lane sensors are."""

    platform_lengths_m: tuple[float, ...] = (6.0, 6.0, 6.0)
    platform_width_m: float = 3.0
    entry_strip_x_m: float = -0.5
    exit_strip_x_m: float | None = None
    """Tyre/axle recogniser exit strip; None puts it at the scale end."""
    separator_x_m: float = 0.0
    """Light curtain of the vehicle separator."""
    tyre_footprint_m: float = 0.25
    """Tyre contact length: an axle's load moves across a platform edge linearly over this length."""
    track_width_m: float = 1.9
    """Lateral distance between the left and right wheels of an axle."""

    def __post_init__(self) -> None:
        lengths = tuple(float(length) for length in self.platform_lengths_m)
        object.__setattr__(self, "platform_lengths_m", lengths)  # accept a list, keep the instance hashable
        if not lengths or min(lengths) <= 0.0:
            raise ValueError(f"platform_lengths_m must be one or more positive lengths, got {lengths}")
        if self.platform_width_m <= 0.0:
            raise ValueError(f"platform_width_m must be positive, got {self.platform_width_m}")
        if self.tyre_footprint_m <= 0.0:
            raise ValueError(f"tyre_footprint_m must be positive, got {self.tyre_footprint_m}")
        if not 0.0 < self.track_width_m <= self.platform_width_m:
            raise ValueError(
                f"track_width_m must be positive and at most platform_width_m, got {self.track_width_m}"
            )

    @cached_property
    def edges_m(self) -> FloatArray:
        """Platform edges along x, from 0 to the scale length (n_platforms + 1 values, read-only)."""
        edges = np.concatenate(([0.0], np.cumsum(self.platform_lengths_m)))
        edges.setflags(write=False)
        return edges

    @property
    def scale_length_m(self) -> float:
        return float(self.edges_m[-1])

    @property
    def n_platforms(self) -> int:
        return len(self.platform_lengths_m)

    @property
    def n_channels(self) -> int:
        return 4 * self.n_platforms

    @property
    def exit_x_m(self) -> float:
        """Position of the exit strip, resolved (the scale end unless set)."""
        return self.scale_length_m if self.exit_strip_x_m is None else float(self.exit_strip_x_m)


class TruckMotion:
    """Kinematics of one truck: front-bumper position ``x_front(t)`` from a speed profile.

    The truck drives at ``v = speed_kmh / 3.6``.  A stop-and-go truck (``stop_on_scale_s > 0``) brakes at
    :data:`STOP_DECELERATION_M_S2` so that it comes to rest with the midpoint of its axle span over the middle
    of the scale, stands for ``stop_on_scale_s``, then pulls away at :data:`RESTART_ACCELERATION_M_S2` back to
    ``v``.  Before and after that the profile extends at ``v`` without end, so the truck can be asked where it
    is while still approaching.  (Braking from a high speed starts before the scale entry, so a stop-and-go
    truck can be slower than ``v`` at ``t_start_s``.)

    The profile is a few segments of constant acceleration; positions and their inverses are exact.
    """

    def __init__(self, truck: Truck, t_start_s: float, geometry: LaneGeometry) -> None:
        self.truck = truck
        self.t_start_s = float(t_start_s)
        """Time the front bumper is at x = 0."""
        self.geometry = geometry
        self.speed_m_s = truck.speed_kmh / 3.6
        self.axle_offsets_m: FloatArray = np.array(truck.axle_offsets_m, dtype=np.float64)
        self.axle_offsets_m.setflags(write=False)
        self.axle_loads_kg: FloatArray = np.array(truck.axle_loads_kg, dtype=np.float64)
        self.axle_loads_kg.setflags(write=False)
        self.length_m = truck.length_m

        self._build_profile()
        self.t_last_axle_exit_s = float(self.axle_crossing_times(geometry.exit_x_m)[-1])
        """Time the last axle crosses the exit strip."""
        self._on_scale: dict[LaneGeometry, tuple[float, float]] = {}

    def __repr__(self) -> str:
        return f"TruckMotion({self.truck.plate!r}, t_start_s={self.t_start_s:.3f})"

    # Segment k starts at time _seg_t[k] at position _seg_x[k] with speed _seg_v[k] and has constant
    # acceleration _seg_a[k]; it ends where segment k + 1 starts (_seg_x_end[k]), the last one never.
    # Segment 0 is also used before its start time, so it must be a constant-speed segment.
    def _build_profile(self) -> None:
        v = self.speed_m_s
        stop_s = self.truck.stop_on_scale_s
        if stop_s <= 0.0:
            seg_t, seg_x, seg_v, seg_a = [0.0], [0.0], [v], [0.0]
        else:
            # Front-bumper position at which the axle-span midpoint is over the middle of the scale.
            midpoint_behind_front_m = self.truck.front_overhang_m + self.truck.axle_span_m / 2.0
            x_stop = self.geometry.scale_length_m / 2.0 + midpoint_behind_front_m
            braking_s = v / STOP_DECELERATION_M_S2
            x_brake = x_stop - v * v / (2.0 * STOP_DECELERATION_M_S2)
            pull_away_s = v / RESTART_ACCELERATION_M_S2
            x_cruise = x_stop + v * v / (2.0 * RESTART_ACCELERATION_M_S2)
            t_restart = braking_s + stop_s
            # Local clock: 0 when braking starts; shifted below so that x = 0 at t_start_s.
            seg_t = [-1.0, 0.0, braking_s, t_restart, t_restart + pull_away_s]
            seg_x = [x_brake - v, x_brake, x_stop, x_stop, x_cruise]
            seg_v = [v, v, 0.0, 0.0, v]
            seg_a = [0.0, -STOP_DECELERATION_M_S2, 0.0, RESTART_ACCELERATION_M_S2, 0.0]
        self._seg_t = np.array(seg_t)
        self._seg_x = np.array(seg_x)
        self._seg_v = np.array(seg_v)
        self._seg_a = np.array(seg_a)
        self._seg_x_end = np.append(self._seg_x[1:], np.inf)
        self._seg_t += self.t_start_s - float(self._times_at_front(np.zeros(1))[0])
        stop_segments = np.flatnonzero((self._seg_v == 0.0) & (self._seg_a == 0.0))
        self.stop_interval_s: tuple[float, float] | None = (
            (float(self._seg_t[stop_segments[0]]), float(self._seg_t[stop_segments[0] + 1]))
            if stop_segments.size
            else None
        )
        """(start, end) of the standstill of a stop-and-go truck, else None."""

    def _segment(self, t: FloatArray) -> tuple[npt.NDArray[np.intp], FloatArray]:
        index = np.maximum(np.searchsorted(self._seg_t, t, side="right") - 1, 0)
        return index, t - self._seg_t[index]

    def front_x(self, t: npt.ArrayLike) -> FloatArray:
        """Front-bumper position at time(s) ``t``, same shape as ``t`` (a NumPy scalar for a scalar)."""
        t = np.asarray(t, dtype=np.float64)
        index, dt = self._segment(t)
        x = self._seg_x[index] + dt * (self._seg_v[index] + 0.5 * self._seg_a[index] * dt)
        return x[()]

    def speed_at(self, t: npt.ArrayLike) -> FloatArray:
        """Speed at time(s) ``t``, m/s, same shape as ``t``."""
        t = np.asarray(t, dtype=np.float64)
        index, dt = self._segment(t)
        return (self._seg_v[index] + self._seg_a[index] * dt)[()]

    def axle_x(self, t: npt.ArrayLike) -> FloatArray:
        """Axle positions: shape ``t.shape + (n_axles,)``, i.e. ``(len(t), n_axles)`` for a 1-D ``t``."""
        return np.asarray(self.front_x(t))[..., np.newaxis] - self.axle_offsets_m

    def _times_at_front(self, x: FloatArray) -> FloatArray:
        # The first segment whose end is at or beyond x holds the first time the front reaches x; a
        # standstill segment is never chosen because the braking segment before it ends at the same x.
        index = np.searchsorted(self._seg_x_end, x, side="left")
        distance = x - self._seg_x[index]
        v0 = self._seg_v[index]
        a = self._seg_a[index]
        # Root of x0 + v0 dt + a dt^2 / 2 = x in the form that stays exact for a = 0 and for v0 = 0.
        root = v0 + np.sqrt(np.maximum(v0 * v0 + 2.0 * a * distance, 0.0))
        safe_root = np.where(root > 0.0, root, 1.0)
        dt = np.where(root > 0.0, 2.0 * distance / safe_root, 0.0)
        return self._seg_t[index] + dt

    def time_at_front_x(self, x: float) -> float:
        """First time the front bumper reaches ``x``."""
        return float(self._times_at_front(np.array([x], dtype=np.float64))[0])

    def axle_crossing_times(self, x: float) -> FloatArray:
        """First time each axle reaches ``x``, front axle first (increasing)."""
        return self._times_at_front(x + self.axle_offsets_m)

    def curtain_interval(self, x: float) -> tuple[float, float]:
        """(time the front bumper reaches ``x``, time the rear end passes it): the body spans x in between."""
        times = self._times_at_front(np.array([x, x + self.length_m], dtype=np.float64))
        return float(times[0]), float(times[1])

    def on_scale_interval(self, geometry: LaneGeometry) -> tuple[float, float]:
        """(first, last) time any tyre of the truck touches the scale of ``geometry``; cached per geometry."""
        interval = self._on_scale.get(geometry)
        if interval is None:
            half_footprint_m = geometry.tyre_footprint_m / 2.0
            times = self._times_at_front(
                np.array(
                    [
                        self.axle_offsets_m[0] - half_footprint_m,
                        geometry.scale_length_m + self.axle_offsets_m[-1] + half_footprint_m,
                    ]
                )
            )
            interval = (float(times[0]), float(times[1]))
            self._on_scale[geometry] = interval
        return interval


def schedule(scenario: Scenario, geometry: LaneGeometry, t0_s: float = 2.0) -> list[TruckMotion]:
    """Motions of the scenario's trucks in order.

    The first truck's front bumper reaches x = 0 at ``t0_s``; each next one exactly ``scenario.gap_s`` after
    the previous truck's last axle crossed the exit strip.  With the exit strip at or beyond the scale end,
    at most one truck is on the scale at any time.
    """
    motions: list[TruckMotion] = []
    t_start_s = t0_s
    for truck in scenario.trucks:
        motion = TruckMotion(truck, t_start_s, geometry)
        motions.append(motion)
        t_start_s = motion.t_last_axle_exit_s + scenario.gap_s
    return motions


def cell_loads_kg(motions: Sequence[TruckMotion], t: npt.ArrayLike, geometry: LaneGeometry) -> FloatArray:
    """Load on each cell, kg: shape ``(len(t), n_channels)``, from the static axle loads.

    Each axle is two wheels carrying half its load, ``track_width_m`` apart, centred on the truck's
    ``lateral_offset_m``.  A wheel's contact patch is ``tyre_footprint_m`` long with uniform pressure, so an
    axle over a platform edge splits its load between the platforms in proportion to the patch on each; the
    part on a platform acts at the middle of that part.  Within a platform a point load at ``u`` along
    (from its entry edge, length ``L``) and ``w`` across (from its left edge, width ``W``) goes to the corners
    bilinearly: entry-left ``(1 - u/L)(1 - w/W)``, entry-right ``(1 - u/L) w/W``, exit-left ``u/L (1 - w/W)``,
    exit-right ``u/L w/W``.  A wheel beyond the platform's side edge is treated as on that edge.

    Motions that cannot be on the scale between ``t.min()`` and ``t.max()`` are skipped before any array
    work, so calling this every 10 ms for a whole schedule is cheap.
    """
    times = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if times.ndim != 1:
        raise ValueError(f"t must be a 1-D array of times, got shape {times.shape}")
    loads = np.zeros((times.size, geometry.n_channels), dtype=np.float64)
    if times.size == 0:
        return loads
    t_first, t_last = float(times.min()), float(times.max())
    for motion in motions:
        t_on, t_off = motion.on_scale_interval(geometry)
        if t_off >= t_first and t_on <= t_last:
            _add_truck_loads(loads, motion, times, geometry)
    return loads


def _add_truck_loads(
    loads: FloatArray, motion: TruckMotion, times: FloatArray, geometry: LaneGeometry
) -> None:
    edges = geometry.edges_m
    entry_edges, exit_edges = edges[:-1], edges[1:]
    half_footprint_m = geometry.tyre_footprint_m / 2.0
    axle_x = motion.axle_x(times)[..., np.newaxis]  # (T, A, 1) against platforms (P,)
    patch_from = np.maximum(axle_x - half_footprint_m, entry_edges)
    patch_to = np.minimum(axle_x + half_footprint_m, exit_edges)
    share = np.clip(patch_to - patch_from, 0.0, None) / geometry.tyre_footprint_m  # (T, A, P)
    along = np.clip(
        (0.5 * (patch_from + patch_to) - entry_edges) / np.asarray(geometry.platform_lengths_m), 0, 1
    )
    on_platform_kg = share * motion.axle_loads_kg[:, np.newaxis]
    exit_kg = np.einsum("tap,tap->tp", on_platform_kg, along)
    entry_kg = on_platform_kg.sum(axis=1) - exit_kg
    left = _left_share(motion.truck.lateral_offset_m, geometry)
    loads[:, 0::4] += entry_kg * left
    loads[:, 1::4] += entry_kg * (1.0 - left)
    loads[:, 2::4] += exit_kg * left
    loads[:, 3::4] += exit_kg * (1.0 - left)


def _left_share(lateral_offset_m: float, geometry: LaneGeometry) -> float:
    """Share of an axle's load on the left cells: each wheel at w (from the left edge) puts 1 - w/W left."""
    width_m = geometry.platform_width_m
    share = 0.0
    for wheel_y_m in (
        lateral_offset_m + geometry.track_width_m / 2.0,
        lateral_offset_m - geometry.track_width_m / 2.0,
    ):
        w = min(max(width_m / 2.0 - wheel_y_m, 0.0), width_m)
        share += 0.5 * (1.0 - w / width_m)
    return share


_DRIFT_TERMS = 3
_DRIFT_PERIODS_MIN = (5.0, 30.0)
_DRIFT_LINEAR_SHARE = 0.1  # of drift_kg_per_min; the sinusoids take the rest, so the rate never exceeds it


@dataclass(eq=False)
class LoadCellModel:
    """Raw ADC counts of each cell: ``counts = zero_counts + counts_per_kg * (load + drift(t) + noise)``.

    Everything random comes from ``seed``: the default zeros and the drift shapes from one stream, the
    sample noise from another (its own :class:`numpy.random.Generator`).  Noise is drawn in call order, so
    asking for samples in 10-sample blocks gives the same counts as asking for them at once.

    The drift of each cell is a sum of slow sinusoids (periods 5-30 min, seeded phases) plus a small linear
    term, zero at t = 0; its rate never exceeds ``drift_kg_per_min``.
    """

    n_channels: int
    seed: int
    counts_per_kg: float = 50.0
    noise_kg: float = 4.0
    """Standard deviation of the gaussian noise, per cell per sample."""
    zero_counts: npt.NDArray[np.int64] | None = None
    """Per-cell dead-load zero; default drawn uniformly from 20 000 .. 60 000 counts."""
    drift_kg_per_min: float = 3.0
    _noise_rng: np.random.Generator = field(init=False, repr=False)
    _drift_amplitude_kg: FloatArray = field(init=False, repr=False)
    _drift_omega_rad_s: FloatArray = field(init=False, repr=False)
    _drift_phase_rad: FloatArray = field(init=False, repr=False)
    _drift_sine_at_zero: FloatArray = field(init=False, repr=False)
    _drift_linear_kg_s: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.n_channels <= 0:
            raise ValueError(f"n_channels must be positive, got {self.n_channels}")
        shape_seed, noise_seed = np.random.SeedSequence(self.seed).spawn(2)
        shape_rng = np.random.default_rng(shape_seed)
        self._noise_rng = np.random.default_rng(noise_seed)
        zeros = shape_rng.integers(20_000, 60_000, size=self.n_channels, endpoint=True)
        if self.zero_counts is None:
            self.zero_counts = zeros
        else:
            self.zero_counts = np.asarray(self.zero_counts, dtype=np.int64)
            if self.zero_counts.shape != (self.n_channels,):
                raise ValueError(
                    f"zero_counts must have {self.n_channels} values, got {self.zero_counts.shape}"
                )

        shape = (self.n_channels, _DRIFT_TERMS)
        periods_s = 60.0 * shape_rng.uniform(*_DRIFT_PERIODS_MIN, size=shape)
        self._drift_omega_rad_s = 2.0 * math.pi / periods_s
        self._drift_phase_rad = shape_rng.uniform(0.0, 2.0 * math.pi, size=shape)
        self._drift_sine_at_zero = np.sin(self._drift_phase_rad)  # subtracted so that the drift is 0 at t = 0
        # Peak rate of A sin(wt + phi) is A w: give each sinusoid an equal part of the rate budget.
        rate_budget_kg_s = self.drift_kg_per_min / 60.0
        sine_rate_kg_s = rate_budget_kg_s * (1.0 - _DRIFT_LINEAR_SHARE) / _DRIFT_TERMS
        self._drift_amplitude_kg = sine_rate_kg_s / self._drift_omega_rad_s
        self._drift_linear_kg_s = (
            rate_budget_kg_s * _DRIFT_LINEAR_SHARE * shape_rng.uniform(-1.0, 1.0, size=self.n_channels)
        )

    def drift_kg(self, t: npt.ArrayLike) -> FloatArray:
        """Deterministic zero drift of each cell at times ``t``: shape ``(len(t), n_channels)``, kg."""
        times = np.asarray(t, dtype=np.float64).reshape(-1, 1, 1)
        sines = np.sin(self._drift_omega_rad_s * times + self._drift_phase_rad) - self._drift_sine_at_zero
        drift: FloatArray = (self._drift_amplitude_kg * sines).sum(axis=2)
        return drift + self._drift_linear_kg_s * times[:, :, 0]

    def counts(self, t: npt.ArrayLike, loads_kg: npt.ArrayLike) -> npt.NDArray[np.int32]:
        """ADC counts, int32 ``(len(t), n_channels)``, for cell loads ``loads_kg`` of that shape."""
        times = np.atleast_1d(np.asarray(t, dtype=np.float64))
        loads = np.asarray(loads_kg, dtype=np.float64)
        if loads.shape != (times.size, self.n_channels):
            raise ValueError(f"loads_kg must have shape ({times.size}, {self.n_channels}), got {loads.shape}")
        noise_kg = self.noise_kg * self._noise_rng.standard_normal(loads.shape)
        assert self.zero_counts is not None  # set by __post_init__
        counts = self.zero_counts + self.counts_per_kg * (loads + self.drift_kg(times) + noise_kg)
        info = np.iinfo(np.int32)
        return np.clip(np.rint(counts), info.min, info.max).astype(np.int32)
