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

What is modelled
----------------
* Kinematics (:class:`TruckMotion`): constant speed, stop-and-go (搓磅), constant acceleration or braking on
  the scale (``accel_mps2``), jump crossings (跳磅) and throttle blips (``blip_mps2``), each a few segments
  of constant acceleration.
* Axle loads: static, or, for a truck with :class:`Dynamics`, static times a dynamic factor (body bounce,
  pitch, axle hop, load transfer under acceleration, the transient of a jump).
* Load sharing between platforms and corners (:func:`cell_loads_kg`), with lateral offset and wander.
* Load cells (:class:`LoadCellModel`): zero, gain and its errors, temperature effects, drift, noise.

Everything random is seeded and a function of absolute time (no state carried between calls), so asking for
samples in 10-sample blocks gives exactly what one call for the whole range gives.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from firmware_sim.scenario import DynamicsSettings, Scenario, Truck

__all__ = [
    "CORNERS",
    "GRAVITY_M_S2",
    "JUMP_BRAKE_DECELERATION_M_S2",
    "JUMP_BRAKE_S",
    "MIN_SPEED_KMH",
    "REFERENCE_TEMPERATURE_C",
    "RESTART_ACCELERATION_M_S2",
    "STOP_DECELERATION_M_S2",
    "Dynamics",
    "LaneGeometry",
    "LoadCellModel",
    "TruckMotion",
    "cell_loads_kg",
    "dynamic_load_coefficient",
    "schedule",
]

FloatArray = npt.NDArray[np.float64]

CORNERS = ("entry_left", "entry_right", "exit_left", "exit_right")
"""Corner order of the four load cells of a platform; channel index = 4 * platform + corner index."""

STOP_DECELERATION_M_S2 = 1.0
"""Braking of a stop-and-go truck: gentle, as a driver told to stop on the scale would brake."""

RESTART_ACCELERATION_M_S2 = 0.8
"""Pull-away of a loaded truck after a stop on the scale (and after the brake pulse of a jump)."""

JUMP_BRAKE_DECELERATION_M_S2 = 2.5
"""Hard brake of a jump crossing (跳磅): about a quarter of g, held for :data:`JUMP_BRAKE_S`."""

JUMP_BRAKE_S = 0.5
"""Length of the brake pulse of a jump crossing before the driver releases."""

MIN_SPEED_KMH = 1.0
"""Braking on the scale (``accel_mps2 < 0``, a jump) never slows a truck below this speed."""

GRAVITY_M_S2 = 9.81

REFERENCE_TEMPERATURE_C = 20.0
"""Temperature at which the load cells are calibrated: the temperature terms vanish there."""

_GROUP_MAX_SPACING_M = 2.0  # as edge.rules.classify: axles at most this far apart form one axle group


@dataclass(frozen=True)
class LaneGeometry:
    """Where the platforms, load cells and lane sensors are."""

    platform_lengths_m: tuple[float, ...] = (6.0, 6.0, 6.0)
    platform_width_m: float = 3.0
    entry_strip_x_m: float = -0.5
    exit_strip_x_m: float | None = None
    """Tyre/axle recogniser exit strip; None puts it at the scale end."""
    mid_strips_x_m: tuple[float, ...] = ()
    """Tyre/axle recogniser intermediate strips (between the platforms), in driving order."""
    separator_x_m: float = 0.0
    """Light curtain of the vehicle separator."""
    tyre_footprint_m: float = 0.25
    """Tyre contact length: an axle's load moves across a platform edge linearly over this length."""
    track_width_m: float = 1.9
    """Lateral distance between the left and right wheels of an axle."""

    def __post_init__(self) -> None:
        lengths = tuple(float(length) for length in self.platform_lengths_m)
        object.__setattr__(self, "platform_lengths_m", lengths)  # accept a list, keep the instance hashable
        object.__setattr__(self, "mid_strips_x_m", tuple(float(x) for x in self.mid_strips_x_m))
        if not lengths or min(lengths) <= 0.0:
            raise ValueError(f"platform_lengths_m must be one or more positive lengths, got {lengths}")
        if self.platform_width_m <= 0.0:
            raise ValueError(f"platform_width_m must be positive, got {self.platform_width_m}")
        strips = (self.entry_strip_x_m, *self.mid_strips_x_m, self.exit_x_m)
        if any(later <= earlier for earlier, later in itertools.pairwise(strips)):
            raise ValueError(
                f"mid_strips_x_m must increase strictly between the entry and exit strips, got {strips}"
            )
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


# ---- vehicle dynamics -----------------------------------------------------------------------------------

_DLC_AT_REFERENCE = 0.016
"""Dynamic load coefficient at the reference speed on a smooth approach, dlc_scale 1."""
_DLC_REFERENCE_SPEED_KMH = 5.0
_DLC_ROUGHNESS_GAIN = 1.0  # roughness 1 doubles the DLC: one ISO 8608 class (x4 in elevation PSD)
_HOP_SHARE_AT_REST = 0.10  # share of the DLC variance in axle hop at low speed ...
_HOP_SHARE_AT_SPEED = 0.40  # ... rising linearly to this at _HOP_SHARE_SPEED_KMH and above
_HOP_SHARE_SPEED_KMH = 40.0
_PITCH_SHARE = 0.35  # of the body (sprung-mass) variance of a unit with two or more axle positions
_BOUNCE_HZ = (1.5, 4.0)
_PITCH_OVER_BOUNCE = (1.1, 1.4)
_HOP_HZ = (8.0, 15.0)
_BODY_DAMPING = (0.08, 0.20)
_HOP_DAMPING = (0.05, 0.15)
_MODE_COMPONENTS = 8  # sinusoids per random mode
_MODE_QUANTILES = (0.1, 0.9)  # spectral quantiles the components are spread over
_JUMP_SWING = (0.20, 0.40)
_WANDER_TERMS = 3
_WANDER_PERIOD_S = (4.0, 12.0)


def dynamic_load_coefficient(
    speed_kmh: npt.ArrayLike, roughness: float = 0.0, dlc_scale: float = 1.0
) -> FloatArray:
    """Nominal dynamic load coefficient (std of dynamic / static axle load) of :class:`Dynamics`.

    ``0.016 * dlc_scale * (1 + roughness) * sqrt(speed_kmh / 5)``; 0 at standstill.  Same shape as
    ``speed_kmh``.  See :class:`Dynamics` for where the numbers come from.
    """
    speed = np.maximum(np.asarray(speed_kmh, dtype=np.float64), 0.0)
    scale = _DLC_AT_REFERENCE * dlc_scale * (1.0 + _DLC_ROUGHNESS_GAIN * roughness)
    result: FloatArray = scale * np.sqrt(speed / _DLC_REFERENCE_SPEED_KMH)
    return result


def _hop_share(speed_kmh: FloatArray) -> FloatArray:
    ramp = np.minimum(speed_kmh / _HOP_SHARE_SPEED_KMH, 1.0)
    result: FloatArray = _HOP_SHARE_AT_REST + (_HOP_SHARE_AT_SPEED - _HOP_SHARE_AT_REST) * ramp
    return result


@dataclass(frozen=True)
class Dynamics:
    """Vehicle dynamics of one truck: what makes its axle loads move while it crosses the scale.

    Given per truck by the scenario's ``[truck.dynamics]`` table (:class:`~firmware_sim.scenario.
    DynamicsSettings`, same field names); a truck without it carries its static loads, exactly as before
    dynamics existed.  A jump crossing (``jump = true``) without the table gets ``Dynamics()``.

    Model
    -----
    Each axle's load is ``static * factor(t)`` with ``factor = 1 + bounce + pitch + hop + transfer + jump``,
    floored at 0 (a wheel that lifts off carries nothing).

    * Vehicle units.  A rigid truck is one sprung body.  A combination (3 or more axle groups, axles at most
      2.0 m apart forming a group as ``edge.rules.classify`` does) is two: the tractor or towing truck
      (groups 1-2) and the trailer (the rest).
    * Body bounce: per unit, a narrow-band random process at the unit's sprung-mass frequency
      (``body_bounce_hz``, else drawn from 1.5-4 Hz; damping ratio 0.08-0.2), same sign on all its axles.
    * Pitch: per unit, at 1.1-1.4 times its bounce frequency, weighted on each axle by the axle's distance
      ahead of the unit's load-weighted centroid, so front and rear move out of phase and pitch only moves
      load between the unit's axles.  Weights are scaled to a load-weighted mean square of 1.
    * Axle hop: per axle, at the unsprung-mass frequency of its axle group (``axle_hop_hz``, else drawn from
      8-15 Hz; damping ratio 0.05-0.15).
    * Each random process is a sum of 8 sinusoids whose frequencies are stratified samples of the mode's
      resonance spectrum (a Lorentzian of half-width ``damping * f``, its 10-90 % quantiles) with seeded
      random phases: the spectral representation of a damped mode driven continuously by broadband road
      input.  The components beat, so the envelope varies slowly (correlation time about
      ``1 / (2 pi damping f)``, 0.4-2 s for the body); it is neither one fixed sinusoid nor removable by
      averaging over a known period.  Its long-time mean is exactly zero: each axle's mean load is static.
    * Amplitude.  The dynamic load coefficient DLC (std of dynamic / static load; the load-weighted RMS
      over the axles) is :func:`dynamic_load_coefficient` at the truck's instantaneous speed::

          DLC = 0.016 * dlc_scale * (1 + roughness) * sqrt(v / 5 km/h)

          v km/h           3      5     10     20     40     60
          roughness 0    1.2 %  1.6 %  2.3 %  3.2 %  4.5 %  5.5 %
          roughness 1    2.5 %  3.2 %  4.5 %  6.4 %  9.1 %  11.1 %

      Axle hop takes 10 % of the variance at low speed, rising linearly to 40 % at 40 km/h and above; the
      body takes the rest, 65 % bounce and 35 % pitch (all bounce for a unit with one axle position).
      Within a unit, axles far from the centroid see more pitch: per-axle DLCs spread about +/-20 %.
    * Load transfer.  When the acceleration changes by ``da`` (stop-and-go, ``accel_mps2``, a jump's
      brake pulse) each axle's load moves by ``-G h d_a / (g sum_j L_j d_j^2) * da`` of its static load
      (``G`` gross, ``h`` = ``cg_height_m``, ``d_a`` the axle's distance ahead of the vehicle's centre of
      gravity, ``L`` static axle loads): braking loads the front axles, accelerating the rear ones, the gross
      is unchanged.  It builds up as the step response of the first unit's pitch mode (overshoot, ringing).
      The whole vehicle is treated as one rigid body when it brakes (each unit brakes its own mass) and
      when a rigid truck speeds up.  A combination speeding up is pulled by its towing unit's drive axles:
      the trailer's inertia acts on the towing unit at the coupling, so the positive part of the
      acceleration moves ``-G h_c d_a / (g sum_j L_j d_j^2)`` over the towing unit's axles only (``h_c``
      = ``coupling_height_m``, ``d`` from the towing unit's centroid; about its own centre of gravity's
      height too), and none onto the trailer's (its own pitch about the coupling is left out).  Without
      dynamics, acceleration changes only the speed.
    * Jump crossing: the kinematics brake at :data:`JUMP_BRAKE_DECELERATION_M_S2` for
      :data:`JUMP_BRAKE_S` (never below :data:`MIN_SPEED_KMH`) from when the axle-span midpoint is over
      the middle of the scale, then pull away at :data:`RESTART_ACCELERATION_M_S2` back to cruising speed.
      At the start of the brake the whole truck is set bouncing: every axle gets
      ``swing * exp(-z w t) sin(w_d t) / peak`` (seeded swing 20-40 % of static at the first peak, the
      first unit's bounce frequency and damping, so it rings down over about a second), on top of the
      load transfer of the brake pulse.
    * Lateral wander: ``lateral_offset_m`` plus 3 slow sinusoids (periods 4-12 s, seeded phases) of
      ``lateral_wander_m / 3`` each, so the drift never exceeds ``lateral_wander_m``.

    Where the numbers come from (recollections of the literature, to verify before relying on the exact
    values): sprung-mass modes of heavy vehicles lie around 1.5-4 Hz and unsprung (wheel-hop) modes around
    8-15 Hz (D. Cebon, *Handbook of Vehicle-Road Interaction*, 1999; P. F. Sweatman, ARRB Special Report 27,
    1983).  Measured DLCs of heavy-vehicle axles are typically 0.05-0.1 at 40-80 km/h on good roads and rise
    to 0.2-0.3 for poor suspensions on rough roads (Sweatman 1983; OECD DIVINE final report, 1998); a WIM
    approach is built smoother than a road (OIML R134 / GB/T 21296 approach requirements), hence the lower
    level here.  The ``sqrt(v)`` law is the textbook random-vibration result for a road whose elevation
    spectrum falls as ``n^-2`` (ISO 8608, waviness 2): the vertical input velocity is then white with a level
    proportional to speed, so a linear suspension's response variance grows with speed.  One ISO 8608 class
    multiplies the elevation spectrum by 4, so the response std by 2: ``roughness`` 0 -> 1 is one class.
    """

    roughness: float = 0.0
    """Roughness of the approach, 0 (smooth) .. 1 (about one ISO 8608 class rougher)."""
    body_bounce_hz: float | None = None
    """Sprung-mass bounce frequency of every unit; None draws it per unit from 1.5-4 Hz."""
    axle_hop_hz: float | None = None
    """Axle-hop frequency of every axle group; None draws it per group from 8-15 Hz."""
    cg_height_m: float = 1.5
    """Height of the centre of gravity: sets the load transfer under acceleration."""
    coupling_height_m: float = 1.2
    """A combination's coupling height (a fifth wheel's), at which its towing unit pulls the trailer: sets
    the towing unit's load transfer under traction."""
    lateral_wander_m: float = 0.0
    """Largest slow lateral drift about the truck's ``lateral_offset_m``."""
    dlc_scale: float = 1.0
    """Multiplies the dynamic load coefficient (suspension quality)."""
    seed: int | None = None
    """Seed of the random modes; None uses the seed :func:`schedule` gives the truck."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.roughness <= 1.0:
            raise ValueError(f"roughness must be between 0 and 1, got {self.roughness}")
        for name in ("body_bounce_hz", "axle_hop_hz"):
            value = getattr(self, name)
            if value is not None and not value > 0.0:
                raise ValueError(f"{name} must be positive or None, got {value}")
        for name in ("cg_height_m", "coupling_height_m"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.lateral_wander_m <= 1.0:
            raise ValueError(f"lateral_wander_m must be between 0 and 1 m, got {self.lateral_wander_m}")
        if not self.dlc_scale >= 0.0:
            raise ValueError(f"dlc_scale must be >= 0, got {self.dlc_scale}")
        if self.seed is not None and self.seed < 0:
            raise ValueError(f"seed must be >= 0 or None, got {self.seed}")

    @classmethod
    def from_settings(cls, settings: DynamicsSettings) -> Dynamics:
        """The dynamics a scenario's ``[truck.dynamics]`` table describes."""
        return cls(**settings.model_dump())

    def dynamic_load_coefficient(self, speed_kmh: npt.ArrayLike) -> FloatArray:
        """Nominal DLC of this truck at ``speed_kmh`` (see :func:`dynamic_load_coefficient`)."""
        return dynamic_load_coefficient(speed_kmh, self.roughness, self.dlc_scale)


def _axle_groups(axle_offsets_m: FloatArray) -> list[list[int]]:
    groups: list[list[int]] = [[0]]
    for axle, spacing_m in enumerate(np.diff(axle_offsets_m), start=1):
        if spacing_m <= _GROUP_MAX_SPACING_M:
            groups[-1].append(axle)
        else:
            groups.append([axle])
    return groups


def _vehicle_units(groups: list[list[int]]) -> list[list[int]]:
    """Axles of each sprung body: one for a rigid truck (<= 2 groups), tractor + trailer otherwise."""
    if len(groups) <= 2:
        return [[axle for group in groups for axle in group]]
    return [groups[0] + groups[1], [axle for group in groups[2:] for axle in group]]


_MIN_TOWING_WHEELBASE_M = 2.5
"""A towing unit's axles span at least this (m): two groups closer are a twin steer, and its drive joins."""


def _towing_axles(groups: list[list[int]], positions_m: FloatArray) -> list[int] | None:
    """A combination's towing unit (its first two groups, and more while they span less than
    :data:`_MIN_TOWING_WHEELBASE_M`); None for a rigid truck or where no group is left for a trailer."""
    if len(_vehicle_units(groups)) < 2:
        return None
    towing, rest = groups[0] + groups[1], groups[2:]
    while rest and abs(float(positions_m[towing[-1]] - positions_m[towing[0]])) < _MIN_TOWING_WHEELBASE_M:
        towing += rest.pop(0)
    return towing if rest else None


def _pitch_weights(positions_m: FloatArray, loads_kg: FloatArray) -> FloatArray:
    """Distance ahead of the load-weighted centroid, scaled to a load-weighted mean square of 1."""
    ahead_m = positions_m - np.dot(loads_kg, positions_m) / loads_kg.sum()
    mean_square = float(np.dot(loads_kg, ahead_m * ahead_m) / loads_kg.sum())
    if mean_square <= 1e-12:
        return np.zeros_like(positions_m)
    result: FloatArray = ahead_m / math.sqrt(mean_square)
    return result


def _narrow_band(rng: np.random.Generator, centre_hz: float, damping: float) -> tuple[FloatArray, FloatArray]:
    """Angular frequencies and phases of the sinusoids of one random mode (see :class:`Dynamics`)."""
    low, high = _MODE_QUANTILES
    quantiles = low + (high - low) * (np.arange(_MODE_COMPONENTS) + rng.random(_MODE_COMPONENTS)) / (
        _MODE_COMPONENTS
    )
    frequencies_hz = centre_hz * (1.0 + damping * np.tan(math.pi * (quantiles - 0.5)))
    phases_rad = rng.uniform(0.0, 2.0 * math.pi, _MODE_COMPONENTS)
    return 2.0 * math.pi * frequencies_hz, phases_rad


def _damped_step(tau_s: FloatArray, omega_rad_s: float, damping: float) -> FloatArray:
    """Unit step response of a damped oscillator, 0 before the step (``tau_s < 0``)."""
    after = np.maximum(tau_s, 0.0)
    root = math.sqrt(1.0 - damping * damping)
    omega_d = omega_rad_s * root
    decay = np.exp(-damping * omega_rad_s * after)
    response = 1.0 - decay * (np.cos(omega_d * after) + damping / root * np.sin(omega_d * after))
    result: FloatArray = np.where(tau_s > 0.0, response, 0.0)
    return result


def _damped_ring(tau_s: FloatArray, omega_rad_s: float, damping: float) -> FloatArray:
    """``exp(-z w t) sin(w_d t)`` scaled to a first peak of 1, 0 before ``tau_s = 0``."""
    after = np.maximum(tau_s, 0.0)
    root = math.sqrt(1.0 - damping * damping)
    omega_d = omega_rad_s * root
    t_peak = math.atan2(root, damping) / omega_d
    peak = math.exp(-damping * omega_rad_s * t_peak) * math.sin(omega_d * t_peak)
    ring = np.exp(-damping * omega_rad_s * after) * np.sin(omega_d * after) / peak
    result: FloatArray = np.where(tau_s > 0.0, ring, 0.0)
    return result


class _AxleDynamics:
    """One seeded realisation of :class:`Dynamics` for one truck, evaluated at any times (stateless)."""

    def __init__(
        self,
        dynamics: Dynamics,
        axle_offsets_m: FloatArray,
        axle_loads_kg: FloatArray,
        entropy: int | Sequence[int],
        acceleration_steps: tuple[FloatArray, FloatArray],
        jump_time_s: float | None,
    ) -> None:
        self.dynamics = dynamics
        # Every draw happens in the same order whatever the options, so switching jump, speed or a given
        # frequency on or off leaves the other random modes of the truck as they were.
        rng = np.random.default_rng(np.random.SeedSequence(entropy))
        n_axles = axle_offsets_m.size
        positions_m = -axle_offsets_m  # along the driving direction: the front axle is furthest ahead
        groups = _axle_groups(axle_offsets_m)
        amplitude = math.sqrt(2.0 / _MODE_COMPONENTS)  # each mode has unit variance

        body_omegas: list[FloatArray] = []
        body_phases: list[FloatArray] = []
        body_weights: list[FloatArray] = []
        first_unit: tuple[float, float, float, float] | None = None
        for unit in _vehicle_units(groups):
            bounce_hz = float(rng.uniform(*_BOUNCE_HZ))
            if dynamics.body_bounce_hz is not None:
                bounce_hz = dynamics.body_bounce_hz
            bounce_damping = float(rng.uniform(*_BODY_DAMPING))
            pitch_hz = bounce_hz * float(rng.uniform(*_PITCH_OVER_BOUNCE))
            pitch_damping = float(rng.uniform(*_BODY_DAMPING))
            if first_unit is None:
                first_unit = (bounce_hz, bounce_damping, pitch_hz, pitch_damping)
            pitch = _pitch_weights(positions_m[unit], axle_loads_kg[unit])
            pitch_share = _PITCH_SHARE if np.any(pitch != 0.0) else 0.0
            for centre_hz, damping, unit_weights in (
                (bounce_hz, bounce_damping, math.sqrt(1.0 - pitch_share) * np.ones(len(unit))),
                (pitch_hz, pitch_damping, math.sqrt(pitch_share) * pitch),
            ):
                omegas, phases = _narrow_band(rng, centre_hz, damping)
                weights = np.zeros((_MODE_COMPONENTS, n_axles))
                weights[:, unit] = amplitude * unit_weights
                body_omegas.append(omegas)
                body_phases.append(phases)
                body_weights.append(weights)
        assert first_unit is not None
        self._body_omega = np.concatenate(body_omegas)
        self._body_phase = np.concatenate(body_phases)
        self._body_weights = np.concatenate(body_weights)  # (components, axles)

        hop_omega = np.empty((n_axles, _MODE_COMPONENTS))
        hop_phase = np.empty((n_axles, _MODE_COMPONENTS))
        for group in groups:
            hop_hz = float(rng.uniform(*_HOP_HZ))
            if dynamics.axle_hop_hz is not None:
                hop_hz = dynamics.axle_hop_hz
            hop_damping = float(rng.uniform(*_HOP_DAMPING))
            for axle in group:
                hop_omega[axle], hop_phase[axle] = _narrow_band(rng, hop_hz, hop_damping)
        self._hop_omega = hop_omega
        self._hop_phase = hop_phase
        self._hop_amplitude = amplitude

        jump_swing = float(rng.uniform(*_JUMP_SWING))
        wander_omega = 2.0 * math.pi / rng.uniform(*_WANDER_PERIOD_S, size=_WANDER_TERMS)
        wander_phase = rng.uniform(0.0, 2.0 * math.pi, size=_WANDER_TERMS)

        bounce_hz, bounce_damping, pitch_hz, pitch_damping = first_unit
        self.bounce_hz = bounce_hz
        """Bounce frequency of the first (or only) unit, Hz."""
        self._pitch_omega = 2.0 * math.pi * pitch_hz
        self._pitch_damping = pitch_damping
        self._bounce_omega = 2.0 * math.pi * bounce_hz
        self._bounce_damping = bounce_damping

        # Load transfer per m/s^2 of acceleration, as a fraction of each axle's static load.
        gross_kg = float(axle_loads_kg.sum())
        ahead_m = positions_m - np.dot(axle_loads_kg, positions_m) / gross_kg
        moment_kg_m2 = float(np.dot(axle_loads_kg, ahead_m * ahead_m))
        self._transfer_per_m_s2 = (
            -gross_kg * dynamics.cg_height_m * ahead_m / (GRAVITY_M_S2 * moment_kg_m2)
            if moment_kg_m2 > 0.0
            else np.zeros(n_axles)
        )
        # A combination under traction: its towing unit (the first of its units) alone (class docstring).
        self._traction_per_m_s2: FloatArray | None = None
        towing = _towing_axles(groups, positions_m)
        if towing is not None:
            towing_kg = axle_loads_kg[towing]
            towing_ahead_m = positions_m[towing] - np.dot(towing_kg, positions_m[towing]) / towing_kg.sum()
            towing_moment = float(np.dot(towing_kg, towing_ahead_m * towing_ahead_m))
            self._traction_per_m_s2 = np.zeros(n_axles)
            if towing_moment > 0.0:
                self._traction_per_m_s2[towing] = (
                    -gross_kg * dynamics.coupling_height_m * towing_ahead_m / (GRAVITY_M_S2 * towing_moment)
                )
        step_times_s, steps_m_s2 = acceleration_steps
        self._step_times_s = step_times_s
        self._steps_m_s2 = steps_m_s2

        self.jump_time_s = jump_time_s
        self.jump_swing = jump_swing
        """Dynamic swing of a jump at its first peak, fraction of static (drawn even without a jump)."""
        self._wander_amplitude_m = dynamics.lateral_wander_m / _WANDER_TERMS
        self._wander_omega = wander_omega
        self._wander_phase = wander_phase

    def factors(self, times: FloatArray, speed_kmh: FloatArray) -> FloatArray:
        """Dynamic / static load of each axle: shape ``(len(times), n_axles)``."""
        dlc = self.dynamics.dynamic_load_coefficient(speed_kmh)
        hop_share = _hop_share(speed_kmh)
        column = times[:, np.newaxis]
        body = np.sin(column * self._body_omega + self._body_phase) @ self._body_weights
        hop = np.sin(column[..., np.newaxis] * self._hop_omega + self._hop_phase).sum(axis=2)
        factors = (
            1.0
            + body * (dlc * np.sqrt(1.0 - hop_share))[:, np.newaxis]
            + hop * (self._hop_amplitude * dlc * np.sqrt(hop_share))[:, np.newaxis]
        )
        if self._steps_m_s2.size:
            response = _damped_step(column - self._step_times_s, self._pitch_omega, self._pitch_damping)
            if self._traction_per_m_s2 is None:
                factors += (response @ self._steps_m_s2)[:, np.newaxis] * self._transfer_per_m_s2
            else:
                # The acceleration's positive part (from 0 before the first step) pulls through the
                # towing unit; its negative part brakes the whole vehicle.
                positive = np.diff(np.maximum(np.cumsum(self._steps_m_s2), 0.0), prepend=0.0)
                factors += (response @ (self._steps_m_s2 - positive))[:, np.newaxis] * self._transfer_per_m_s2
                factors += (response @ positive)[:, np.newaxis] * self._traction_per_m_s2
        if self.jump_time_s is not None:
            ring = _damped_ring(times - self.jump_time_s, self._bounce_omega, self._bounce_damping)
            factors += self.jump_swing * ring[:, np.newaxis]
        result: FloatArray = np.maximum(factors, 0.0)
        return result

    def wander_m(self, times: FloatArray) -> FloatArray:
        """Lateral drift about the truck's offset, m, shape ``(len(times),)``."""
        phases = times[:, np.newaxis] * self._wander_omega + self._wander_phase
        result: FloatArray = self._wander_amplitude_m * np.sin(phases).sum(axis=1)
        return result


# ---- kinematics -----------------------------------------------------------------------------------------


class TruckMotion:
    """Kinematics of one truck: front-bumper position ``x_front(t)`` from a speed profile, and its loads.

    The truck drives at ``v = speed_kmh / 3.6``.  Before and after any change of speed the profile extends
    at constant speed without end, so the truck can be asked where it is while still approaching.  The
    truck's speed profile is one of:

    * Constant speed ``v``.
    * Stop-and-go (``stop_on_scale_s > 0``): brakes at :data:`STOP_DECELERATION_M_S2` so that it comes to
      rest with the midpoint of its axle span over the middle of the scale, stands for ``stop_on_scale_s``,
      then pulls away at :data:`RESTART_ACCELERATION_M_S2` back to ``v``.  (Braking from a high speed starts
      before the scale entry, so a stop-and-go truck can be slower than ``v`` at ``t_start_s``.)
    * Acceleration on the scale (``accel_mps2 != 0``): constant acceleration from the front axle reaching
      the scale entry (x = 0) until the last axle reaches the scale end, never slower than
      :data:`MIN_SPEED_KMH`; constant speed after.
    * Jump (``jump``): see :class:`Dynamics`.
    * Throttle blip (``blip_mps2 > 0``): cruise at ``v`` until the front axle is ``blip_at_m`` past the scale
      entry, accelerate at ``blip_mps2`` for ``blip_s``, then cruise at the new speed.

    The profile is a few segments of constant acceleration; positions and their inverses are exact.
    ``seed`` seeds the truck's :class:`Dynamics` unless they carry their own seed; :func:`schedule` gives
    each truck ``(scenario.seed, index)``.
    """

    def __init__(
        self, truck: Truck, t_start_s: float, geometry: LaneGeometry, *, seed: int | Sequence[int] = 0
    ) -> None:
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
        self.dynamics: Dynamics | None = (
            Dynamics.from_settings(truck.dynamics)
            if truck.dynamics is not None
            else (Dynamics() if truck.jump else None)
        )
        """The truck's dynamics; None carries the static axle loads."""

        self._build_profile()
        self.jump_time_s: float | None = (
            self.time_at_front_x(self._axles_centred_front_x()) if truck.jump else None
        )
        """Start of the brake pulse (and of the bounce) of a jump crossing, else None."""
        self.t_last_axle_exit_s = float(self.axle_crossing_times(geometry.exit_x_m)[-1])
        """Time the last axle crosses the exit strip."""
        self._on_scale: dict[LaneGeometry, tuple[float, float]] = {}
        self._dynamic_model: _AxleDynamics | None = None
        if self.dynamics is not None:
            changes = np.flatnonzero(np.diff(self._seg_a))
            self._dynamic_model = _AxleDynamics(
                self.dynamics,
                self.axle_offsets_m,
                self.axle_loads_kg,
                seed if self.dynamics.seed is None else self.dynamics.seed,
                (self._seg_t[changes + 1], np.diff(self._seg_a)[changes]),
                self.jump_time_s,
            )

    def __repr__(self) -> str:
        return f"TruckMotion({self.truck.plate!r}, t_start_s={self.t_start_s:.3f})"

    def _axles_centred_front_x(self) -> float:
        """Front-bumper position at which the axle-span midpoint is over the middle of the scale."""
        midpoint_behind_front_m = self.truck.front_overhang_m + self.truck.axle_span_m / 2.0
        return self.geometry.scale_length_m / 2.0 + midpoint_behind_front_m

    # Segment k starts at time _seg_t[k] at position _seg_x[k] with speed _seg_v[k] and has constant
    # acceleration _seg_a[k]; it ends where segment k + 1 starts (_seg_x_end[k]), the last one never.
    # Segment 0 is also used before its start time, so it must be a constant-speed segment.
    def _build_profile(self) -> None:
        v = self.speed_m_s
        truck = self.truck
        stop_s = truck.stop_on_scale_s
        if stop_s > 0.0:
            x_stop = self._axles_centred_front_x()
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
        elif truck.jump:
            seg_t, seg_x, seg_v, seg_a = _phase_segments(self._axles_centred_front_x(), v, _jump_phases(v))
        elif truck.blip_mps2 > 0.0:
            # The front axle is blip_at_m past the scale entry when the front bumper is there plus the overhang.
            phases = [(truck.blip_s, truck.blip_mps2)]
            seg_t, seg_x, seg_v, seg_a = _phase_segments(truck.front_overhang_m + truck.blip_at_m, v, phases)
        elif truck.accel_mps2 != 0.0:
            # The front axle reaches the scale entry when the front bumper is at x = front_overhang_m.
            distance_m = self.geometry.scale_length_m + truck.axle_span_m
            phases = _acceleration_phases(v, truck.accel_mps2, distance_m)
            seg_t, seg_x, seg_v, seg_a = _phase_segments(truck.front_overhang_m, v, phases)
        else:
            seg_t, seg_x, seg_v, seg_a = [0.0], [0.0], [v], [0.0]
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

    def acceleration_at(self, t: npt.ArrayLike) -> FloatArray:
        """Acceleration at time(s) ``t``, m/s^2 (negative when braking), same shape as ``t``."""
        t = np.asarray(t, dtype=np.float64)
        index, _ = self._segment(t)
        return self._seg_a[index][()]

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

    # -- loads ---------------------------------------------------------------------------------------------

    @property
    def has_dynamics(self) -> bool:
        """True when the axle loads move (the truck has :class:`Dynamics`)."""
        return self._dynamic_model is not None

    def dynamic_load_factors(self, t: npt.ArrayLike) -> FloatArray:
        """Dynamic / static load of each axle at times ``t``: ``(len(t), n_axles)``; ones without dynamics."""
        times = np.atleast_1d(np.asarray(t, dtype=np.float64))
        if self._dynamic_model is None:
            return np.ones((times.size, self.axle_loads_kg.size))
        speed_kmh = np.atleast_1d(np.asarray(self.speed_at(times))) * 3.6
        return self._dynamic_model.factors(times, speed_kmh)

    def axle_loads_at(self, t: npt.ArrayLike) -> FloatArray:
        """Load of each axle at times ``t``, kg: ``(len(t), n_axles)``, the static loads without dynamics."""
        loads: FloatArray = self.dynamic_load_factors(t) * self.axle_loads_kg
        return loads

    @property
    def has_wander(self) -> bool:
        return self.dynamics is not None and self.dynamics.lateral_wander_m > 0.0

    def lateral_offset_at(self, t: npt.ArrayLike) -> FloatArray:
        """Lateral offset of the vehicle centre at times ``t``, m: ``(len(t),)`` (positive to the left)."""
        times = np.atleast_1d(np.asarray(t, dtype=np.float64))
        offset = np.full(times.size, self.truck.lateral_offset_m)
        if self._dynamic_model is not None and self.has_wander:
            offset += self._dynamic_model.wander_m(times)
        return offset


def _acceleration_phases(v0_m_s: float, accel_m_s2: float, distance_m: float) -> list[tuple[float, float]]:
    """(duration, acceleration) phases covering ``distance_m`` at ``accel_m_s2``, never below MIN_SPEED."""
    if accel_m_s2 > 0.0:
        duration_s = (math.sqrt(v0_m_s * v0_m_s + 2.0 * accel_m_s2 * distance_m) - v0_m_s) / accel_m_s2
        return [(duration_s, accel_m_s2)]
    v_min = MIN_SPEED_KMH / 3.6
    if v0_m_s <= v_min:
        return []
    v_end = math.sqrt(max(v0_m_s * v0_m_s + 2.0 * accel_m_s2 * distance_m, 0.0))
    return [((v0_m_s - max(v_end, v_min)) / -accel_m_s2, accel_m_s2)]


def _jump_phases(v0_m_s: float) -> list[tuple[float, float]]:
    """The brake pulse of a jump crossing and the pull-away back to ``v0_m_s``."""
    v_low = max(v0_m_s - JUMP_BRAKE_DECELERATION_M_S2 * JUMP_BRAKE_S, MIN_SPEED_KMH / 3.6)
    if v_low >= v0_m_s:
        return []
    return [
        ((v0_m_s - v_low) / JUMP_BRAKE_DECELERATION_M_S2, -JUMP_BRAKE_DECELERATION_M_S2),
        ((v0_m_s - v_low) / RESTART_ACCELERATION_M_S2, RESTART_ACCELERATION_M_S2),
    ]


def _phase_segments(
    x_begin_m: float, v0_m_s: float, phases: list[tuple[float, float]]
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Segments (local time 0 at ``x_begin_m``): cruise at ``v0_m_s``, the phases, then cruise."""
    seg_t, seg_x, seg_v, seg_a = [-1.0], [x_begin_m - v0_m_s], [v0_m_s], [0.0]
    t, x, v = 0.0, x_begin_m, v0_m_s
    for duration_s, accel_m_s2 in phases:
        if duration_s <= 0.0:
            continue
        seg_t.append(t)
        seg_x.append(x)
        seg_v.append(v)
        seg_a.append(accel_m_s2)
        t += duration_s
        x += duration_s * (v + 0.5 * accel_m_s2 * duration_s)
        v = max(v + accel_m_s2 * duration_s, 0.0)
    if len(seg_t) > 1:
        seg_t.append(t)
        seg_x.append(x)
        seg_v.append(v)
        seg_a.append(0.0)
    return seg_t, seg_x, seg_v, seg_a


def schedule(scenario: Scenario, geometry: LaneGeometry, t0_s: float = 2.0) -> list[TruckMotion]:
    """Motions of the scenario's trucks in order.

    The first truck's front bumper reaches x = 0 at ``t0_s``; each next one exactly ``scenario.gap_s`` after
    the previous truck's last axle crossed the exit strip.  With the exit strip at or beyond the scale end,
    at most one truck is on the scale at any time.  Truck ``i`` gets the dynamics seed
    ``(scenario.seed, i)``, so repeated trucks bounce differently.
    """
    motions: list[TruckMotion] = []
    t_start_s = t0_s
    for index, truck in enumerate(scenario.trucks):
        motion = TruckMotion(truck, t_start_s, geometry, seed=(scenario.seed, index))
        motions.append(motion)
        t_start_s = motion.t_last_axle_exit_s + scenario.gap_s
    return motions


def cell_loads_kg(motions: Sequence[TruckMotion], t: npt.ArrayLike, geometry: LaneGeometry) -> FloatArray:
    """Load on each cell, kg: shape ``(len(t), n_channels)``, from the axle loads.

    Each axle is two wheels carrying half its load, ``track_width_m`` apart, centred on the truck's
    lateral offset (``lateral_offset_m``, plus wander with :class:`Dynamics`).  The axle load is the static
    load, or with :class:`Dynamics` the static load times its dynamic factor.  A wheel's contact patch is
    ``tyre_footprint_m`` long with uniform pressure, so an axle over a platform edge splits its load between
    the platforms in proportion to the patch on each; the part on a platform acts at the middle of that
    part.  Within a platform a point load at ``u`` along (from its entry edge, length ``L``) and ``w``
    across (from its left edge, width ``W``) goes to the corners bilinearly: entry-left
    ``(1 - u/L)(1 - w/W)``, entry-right ``(1 - u/L) w/W``, exit-left ``u/L (1 - w/W)``, exit-right
    ``u/L w/W``.  A wheel beyond the platform's side edge is treated as on that edge.

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
    if motion.has_dynamics:
        on_platform_kg = share * motion.axle_loads_at(times)[..., np.newaxis]
    else:
        on_platform_kg = share * motion.axle_loads_kg[:, np.newaxis]
    exit_kg = np.einsum("tap,tap->tp", on_platform_kg, along)
    entry_kg = on_platform_kg.sum(axis=1) - exit_kg
    left: float | FloatArray
    if motion.has_wander:
        left = _left_shares(motion.lateral_offset_at(times), geometry)[:, np.newaxis]
    else:
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


def _left_shares(lateral_offsets_m: FloatArray, geometry: LaneGeometry) -> FloatArray:
    """:func:`_left_share` for an array of offsets."""
    width_m = geometry.platform_width_m
    share = np.zeros_like(lateral_offsets_m)
    for wheel_y_m in (
        lateral_offsets_m + geometry.track_width_m / 2.0,
        lateral_offsets_m - geometry.track_width_m / 2.0,
    ):
        w = np.clip(width_m / 2.0 - wheel_y_m, 0.0, width_m)
        share += 0.5 * (1.0 - w / width_m)
    return share


# ---- load cells -----------------------------------------------------------------------------------------

_DRIFT_TERMS = 3
_DRIFT_PERIODS_MIN = (5.0, 30.0)
_DRIFT_LINEAR_SHARE = 0.1  # of drift_kg_per_min; the sinusoids take the rest, so the rate never exceeds it


@dataclass(eq=False)
class LoadCellModel:
    """Raw ADC counts of each cell::

        counts = zero_counts + counts_per_kg * (gain(t) * load + drift(t) + zero_tc * (T(t) - 20) + noise)
        gain(t) = 1 + span_error + span_tc * (T(t) - 20)

    ``T(t)`` is :meth:`temperature_c`: ``temperature_mean_c + temperature_amplitude_c * sin(2 pi t /
    temperature_period_s)``, or ``temperature_profile(t)`` when given; 20 °C is the calibration temperature
    (:data:`REFERENCE_TEMPERATURE_C`).  ``span_error`` is the per-cell gain error: ``span_errors`` when
    given, else seeded gaussian errors of standard deviation ``span_error_fraction``.  ``zero_tc_kg_per_c``
    and ``span_tc_per_c`` are one number for every cell or one per cell.  With the defaults (no span error,
    no temperature coefficients) the counts are exactly what they were before these options existed.

    Everything random comes from ``seed``: the default zeros and the drift shapes from one stream, the
    sample noise from another (its own :class:`numpy.random.Generator`), the span errors from a third.
    Noise is drawn in call order, so asking for samples in 10-sample blocks gives the same counts as asking
    for them at once.

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
    span_errors: FloatArray | None = None
    """Per-cell gain error as a fraction (0.01 = reads 1 % heavy); default drawn from span_error_fraction."""
    span_error_fraction: float = 0.0
    """Standard deviation of the seeded per-cell gain errors when ``span_errors`` is not given."""
    zero_tc_kg_per_c: float | FloatArray = 0.0
    """Zero shift per °C away from 20 °C, kg/°C, for every cell or per cell."""
    span_tc_per_c: float | FloatArray = 0.0
    """Relative gain change per °C away from 20 °C (2e-5 = 0.002 %/°C), for every cell or per cell."""
    temperature_mean_c: float = REFERENCE_TEMPERATURE_C
    temperature_amplitude_c: float = 0.0
    temperature_period_s: float = 86_400.0
    temperature_profile: Callable[[FloatArray], npt.ArrayLike] | None = None
    """Temperature at times t, °C; replaces the sinusoid when given (e.g. a step for a calibration test)."""
    _noise_rng: np.random.Generator = field(init=False, repr=False)
    _drift_amplitude_kg: FloatArray = field(init=False, repr=False)
    _drift_omega_rad_s: FloatArray = field(init=False, repr=False)
    _drift_phase_rad: FloatArray = field(init=False, repr=False)
    _drift_sine_at_zero: FloatArray = field(init=False, repr=False)
    _drift_linear_kg_s: FloatArray = field(init=False, repr=False)
    _zero_tc: FloatArray = field(init=False, repr=False)
    _span_tc: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.n_channels <= 0:
            raise ValueError(f"n_channels must be positive, got {self.n_channels}")
        # spawn(3) gives the same first two children as spawn(2): adding the span stream moved nothing.
        shape_seed, noise_seed, span_seed = np.random.SeedSequence(self.seed).spawn(3)
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

        if self.span_error_fraction < 0.0:
            raise ValueError(f"span_error_fraction must be >= 0, got {self.span_error_fraction}")
        drawn_span_errors = self.span_error_fraction * np.random.default_rng(span_seed).standard_normal(
            self.n_channels
        )
        if self.span_errors is None:
            self.span_errors = drawn_span_errors
        else:
            if self.span_error_fraction != 0.0:
                raise ValueError("give span_errors or span_error_fraction, not both")
            self.span_errors = np.array(self.span_errors, dtype=np.float64)
            if self.span_errors.shape != (self.n_channels,):
                raise ValueError(
                    f"span_errors must have {self.n_channels} values, got {self.span_errors.shape}"
                )
        self._zero_tc = self._per_cell("zero_tc_kg_per_c", self.zero_tc_kg_per_c)
        self._span_tc = self._per_cell("span_tc_per_c", self.span_tc_per_c)
        if self.temperature_period_s <= 0.0:
            raise ValueError(f"temperature_period_s must be positive, got {self.temperature_period_s}")

    def _per_cell(self, name: str, value: float | FloatArray) -> FloatArray:
        values = np.broadcast_to(np.asarray(value, dtype=np.float64), (self.n_channels,)).copy()
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} must be finite, got {value!r}")
        return values

    @classmethod
    def for_scenario(
        cls,
        scenario: Scenario,
        n_channels: int,
        *,
        counts_per_kg: float = 50.0,
        noise_kg: float = 4.0,
        drift_kg_per_min: float = 3.0,
    ) -> LoadCellModel:
        """The load cells of a lane running ``scenario``: its seed and its ``[sensor]`` table."""
        sensor = scenario.sensor
        return cls(
            n_channels,
            seed=scenario.seed,
            counts_per_kg=counts_per_kg,
            noise_kg=noise_kg,
            drift_kg_per_min=drift_kg_per_min,
            span_errors=None if sensor.span_errors is None else np.array(sensor.span_errors),
            span_error_fraction=sensor.span_error_fraction if sensor.span_errors is None else 0.0,
            zero_tc_kg_per_c=sensor.zero_tc_kg_per_c,
            span_tc_per_c=sensor.span_tc_per_c,
            temperature_mean_c=sensor.temperature_mean_c,
            temperature_amplitude_c=sensor.temperature_amplitude_c,
            temperature_period_s=sensor.temperature_period_s,
        )

    @property
    def _has_span_terms(self) -> bool:
        assert self.span_errors is not None  # set by __post_init__
        return bool(np.any(self.span_errors != 0.0) or np.any(self._span_tc != 0.0))

    def temperature_c(self, t: npt.ArrayLike) -> FloatArray:
        """Temperature of the load cells at times ``t``, °C: shape ``(len(t),)``."""
        times = np.atleast_1d(np.asarray(t, dtype=np.float64))
        if self.temperature_profile is not None:
            profile = np.asarray(self.temperature_profile(times), dtype=np.float64)
            return np.broadcast_to(profile, times.shape).copy()
        phase = 2.0 * math.pi * times / self.temperature_period_s
        result: FloatArray = self.temperature_mean_c + self.temperature_amplitude_c * np.sin(phase)
        return result

    def gain(self, t: npt.ArrayLike) -> FloatArray:
        """Gain of each cell relative to ``counts_per_kg`` at times ``t``: ``(len(t), n_channels)``."""
        times = np.atleast_1d(np.asarray(t, dtype=np.float64))
        assert self.span_errors is not None  # set by __post_init__
        excess_c = self.temperature_c(times) - REFERENCE_TEMPERATURE_C
        result: FloatArray = 1.0 + self.span_errors + self._span_tc * excess_c[:, np.newaxis]
        return result

    def temperature_zero_kg(self, t: npt.ArrayLike) -> FloatArray:
        """Zero shift of each cell from temperature at times ``t``, kg: ``(len(t), n_channels)``."""
        times = np.atleast_1d(np.asarray(t, dtype=np.float64))
        excess_c = self.temperature_c(times) - REFERENCE_TEMPERATURE_C
        result: FloatArray = self._zero_tc * excess_c[:, np.newaxis]
        return result

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
        if self._has_span_terms:
            loads = loads * self.gain(times)
        signal_kg = loads + self.drift_kg(times)
        if np.any(self._zero_tc != 0.0):
            signal_kg = signal_kg + self.temperature_zero_kg(times)
        counts = self.zero_counts + self.counts_per_kg * (signal_kg + noise_kg)
        info = np.iinfo(np.int32)
        return np.clip(np.rint(counts), info.min, info.max).astype(np.int32)
