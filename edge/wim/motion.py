"""The vehicle's motion over the scale: one smooth speed profile fitted to every axle-strip event.

A truck is rigid along the lane: every axle follows the front axle's path ``X(t)`` at a fixed distance
``d_i`` behind it (``d_0 = 0``).  Each axle gives two events, the times its axle (the centre of its tyres'
contact patch) was over the entry strip and over the exit strip:

    X(entry_t_s[i]) - d_i = entry_strip_x_m,      X(exit_t_s[i]) - d_i = exit_x_m

and, on a scale with intermediate strips between its platforms (``scale.mid_strips_x_m``), one more for
each of them that saw the axle: ``X(mid_t_s[i, k]) - d_i = mid_x_m[k]`` (a strip that missed the axle,
NaN, gives no equation).  The load signals add events of their own, weighted against the
strips': the times each axle's load was half across a joint between two platforms
(:mod:`edge.wim.edges`), and where an axle stood alone on a platform, its place by the centre of load
(:mod:`edge.wim.centre`), several per platform.

The profile is constant acceleration, ``X(t) = x0 + v0 tau + a tau^2 / 2`` with ``tau = t - t_c`` (``t_c``
the mean event time, for conditioning; a ramp's is its midpoint).  The equations are linear in ``(x0, v0, a, d_1 .. d_n-1)``: one
per event (2 n without intermediate strips), n + 2 unknowns, solved by least squares (a 2-axle truck
without intermediate strips exactly; more axles or more strips with a misfit that says how far the motion
is from constant acceleration).  A single axle gives a constant speed, or with an intermediate strip a
constant acceleration too.

Where the events show a step of speed that a constant acceleration cannot follow (a throttle blip, a
brief brake: 5 or more axles, or fewer with intermediate strips, load edges or centre-of-load events), the profile is instead two cruises joined by a
ramp, with as many linear unknowns and its two knots searched (:func:`_fit_ramp`); the constant
acceleration is the ramp that spans all the events.  Where the events leave too few degrees of freedom to
test a ramp (fewer than 5 axles without intermediate strips, load edges or centre-of-load events) even a step cannot be told
from a steady change, and the change of speed is measured where the strips see the speed, between the
axles' mean entry and exit times (:attr:`SpeedProfile.speed_change_fraction`).  So is a constant
acceleration that speeds up where a ramp could be tested but the events fit it within the strips' noise:
the noise can hide a step, which the span's extrapolation reads up to about 1.9 times over; this measure
is the span's reading times (mean exit - mean entry) / span (about 0.37 for a 5-axle truck on a 7.2 m
scale, 0.58 on 18 m).  Speeding up takes the lower reading, slowing the higher.

Outside the events' time span the profile goes on at the speed it has at its ends (the truck is still
approaching, or already off the scale, and nothing measured says more), so the position is monotone
whenever the speed is positive at both ends.

The weighing uses the profile through a change of clock: ``warp(t) = X(t) / V`` (``V`` the mean speed) is
a time in which every axle moves at the constant speed ``V``, so the constant-speed footprint kernels of
:mod:`edge.wim.kernels` apply unchanged to warped sample and strip times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from edge.wim.kernels import ramp_pairs, ramp_search, warped_times
from edge.wim.reference import knot_grid_search

__all__ = ["PointEvents", "SpeedProfile", "fit_speed_profile", "pulse_transfer_kg", "transfer_change_kg"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PointEvents:
    """Events of one axle each at any place: axle ``axle[k]`` was at ``x_m[k]`` at ``t_s[k]``, its equation
    weighted ``weight[k]`` (the strips' timing uncertainty, in metres at the mean speed, over the event's
    own)."""

    axle: npt.NDArray[np.intp]
    t_s: F64
    x_m: F64
    weight: F64


@dataclass(frozen=True)
class SpeedProfile:
    """The fitted motion (module docstring); positions in m on the scale's x axis, times on the crossing's
    clock."""

    t_c_s: float
    x0_m: float
    v0_mps: float
    accel_mps2: float
    offsets_m: F64  # d_i: distance of each axle behind the front axle
    t_start_s: float  # first event
    t_end_s: float  # last event
    misfit_rms_m: float  # RMS of the events' distance residuals (0 when exactly determined)
    # Where the acceleration acts (a ramp profile: two cruises joined by a ramp); NaN: the events' span.
    ramp_start_s: float = math.nan
    ramp_end_s: float = math.nan
    # The mean time of the axles' entry events and of their exit events: the speed change is measured
    # between them, over one scale length of travel (NaN: between the first and the last event).
    entry_mean_s: float = math.nan
    exit_mean_s: float = math.nan
    # A constant acceleration kept where a ramp explained its events RAMP_GAIN times better but was not
    # taken (fit_speed_profile): that ramp's change of speed over its mean speed, the change read; NaN:
    # none.
    step_change_fraction: float = math.nan

    @property
    def ramp_s(self) -> tuple[float, float]:
        """The interval over which the profile accelerates at ``accel_mps2``: the events' span for a
        constant acceleration, the ramp between two cruises for a ramp profile."""
        if math.isnan(self.ramp_start_s):
            return self.t_start_s, self.t_end_s
        return self.ramp_start_s, self.ramp_end_s

    def speed_at(self, t: float) -> float:
        start, end = self.ramp_s
        tau = min(max(t, start), end) - self.t_c_s
        return self.v0_mps + self.accel_mps2 * tau

    def mean_accel_mps2(self, t0_s: F64, t1_s: F64) -> F64:
        """The mean acceleration over each interval ``[t0, t1]`` (an axle's time on the scale): the change
        of speed over it divided by its length (the acceleration itself where the interval is empty)."""
        start, end = self.ramp_s
        v0 = self.v0_mps + self.accel_mps2 * (np.clip(t0_s, start, end) - self.t_c_s)
        v1 = self.v0_mps + self.accel_mps2 * (np.clip(t1_s, start, end) - self.t_c_s)
        width = t1_s - t0_s
        mean: F64 = np.where(width > 0, (v1 - v0) / np.where(width > 0, width, 1.0), self.accel_mps2)
        return mean

    @property
    def start_speed_mps(self) -> float:
        return self.speed_at(self.t_start_s)

    @property
    def end_speed_mps(self) -> float:
        return self.speed_at(self.t_end_s)

    @property
    def mean_speed_mps(self) -> float:
        span = self.t_end_s - self.t_start_s
        if span <= 0:
            return self.v0_mps
        ends = self.front_x(np.array([self.t_start_s, self.t_end_s]))
        return float(ends[1] - ends[0]) / span

    @property
    def speed_change_fraction(self) -> float:
        """The change of speed on the scale / the mean speed: signed, negative when slowing.  Between the
        first and the last event; or, where ``entry_mean_s`` is set (a ramp profile's constant acceleration
        on a truck whose events cannot tell a steady change from a step, or one that speeds up and fits
        them within the strips' noise: :func:`fit_speed_profile`), between the axles' mean entry
        time and their mean exit time, where the strips see the speed (extrapolated to the first and the
        last event, a 2-axle truck's 10 % step halfway along an 18 m scale reads 11.6 %, here 9.5 %, its
        size over the mean speed; where an axle's events straddle the step, less).  Where
        ``step_change_fraction`` is set (a speed-up a ramp shows as a step but that was not taken), that."""
        if not math.isnan(self.step_change_fraction):
            return self.step_change_fraction
        mean = self.mean_speed_mps
        if not mean > 0:
            return math.inf
        if math.isnan(self.entry_mean_s):
            return (self.end_speed_mps - self.start_speed_mps) / mean
        return (self.speed_at(self.exit_mean_s) - self.speed_at(self.entry_mean_s)) / mean

    @property
    def monotone(self) -> bool:
        """Whether the truck moves forward all along (positive speed at both ends of the events' span)."""
        return self.start_speed_mps > 0 and self.end_speed_mps > 0

    def front_x(self, t: F64) -> F64:
        """The front axle's position at times ``t``: the quadratic within the ramp (the events' span for a
        constant acceleration), its tangent lines outside it."""
        start, end = self.ramp_s
        clipped = np.clip(t, start, end) - self.t_c_s
        inside = self.x0_m + clipped * (self.v0_mps + 0.5 * self.accel_mps2 * clipped)
        before = np.minimum(t - start, 0.0) * self.speed_at(start)
        after = np.maximum(t - end, 0.0) * self.speed_at(end)
        result: F64 = inside + before + after
        return result

    @property
    def clock_args(self) -> tuple[float, float, float, float, float, float, float, float, F64]:
        """The profile as :func:`edge.wim.kernels.warped_times` takes it, between the sample times and the
        strips' positions: ``(t_c, x0, v0, accel, t_start, t_end, ramp_start, ramp_end, offsets)``."""
        start, end = self.ramp_s
        return (
            self.t_c_s,
            self.x0_m,
            self.v0_mps,
            self.accel_mps2,
            self.t_start_s,
            self.t_end_s,
            start,
            end,
            self.offsets_m,
        )

    def warped_times(self, times_s: F64, entry_x_m: float, exit_x_m: float) -> tuple[F64, F64, F64, float]:
        """(sample times, entry times, exit times, speed) on the warped clock, on which axle ``i`` is at
        ``entry_x_m + speed * (t - entry[i])`` exactly where the profile puts it (one pass over the
        samples: :func:`edge.wim.kernels.warped_times`)."""
        return warped_times(times_s, *self.clock_args, entry_x_m, exit_x_m)


def fit_speed_profile(
    entry_t_s: F64,
    exit_t_s: F64,
    entry_x_m: float,
    exit_x_m: float,
    mid_t_s: F64 | None = None,
    mid_x_m: tuple[float, ...] | F64 = (),
    ramp_timing_sd_s: float | None = None,
    edge_t_s: F64 | None = None,
    edge_x_m: tuple[float, ...] | F64 = (),
    edge_weight: float = 1.0,
    point_events: PointEvents | None = None,
) -> SpeedProfile | None:
    """The constant-acceleration profile of a complete crossing (every exit time finite); None without
    axles or when the events cannot determine it.  ``mid_t_s`` (axles x intermediate strips, NaN where a
    strip missed an axle) and ``mid_x_m`` (the strips' positions) add the intermediate strips' events;
    ``edge_t_s`` and ``edge_x_m`` (the same for the platform joints, the times the load signals show each
    axle's load half across: :func:`edge.wim.edges.load_edge_times`) add theirs, each weighted
    ``edge_weight`` (the strips' timing uncertainty over theirs) in the least squares, so the misfit stays
    in the strips' units.  ``point_events`` add events at any place, each with its own axle and weight
    (the centre of load along a platform where one axle stands on it alone:
    :func:`edge.wim.centre.centre_events`).

    With ``ramp_timing_sd_s`` (the strips' standard timing uncertainty, s), a ramp profile replaces it
    where the events show one: see :func:`_fit_ramp`."""
    n = entry_t_s.shape[0]
    if n == 0 or not (np.all(np.isfinite(entry_t_s)) and np.all(np.isfinite(exit_t_s))):
        return None
    axle, times, targets, weights = _events(
        entry_t_s,
        exit_t_s,
        entry_x_m,
        exit_x_m,
        mid_t_s,
        mid_x_m,
        edge_t_s,
        edge_x_m,
        edge_weight,
        point_events,
    )
    n_events = times.size
    t_c = float(times.mean())
    tau = times - t_c
    # A constant acceleration needs three events at different places of one axle path: two axles (their
    # offsets tie them together), or one axle with an intermediate strip.
    quadratic = n >= 2 or n_events >= 3
    n_cols = 2 + int(quadratic) + (n - 1)
    design = np.zeros((n_events, n_cols))
    design[:, 0] = 1.0
    design[:, 1] = tau
    if quadratic:
        design[:, 2] = 0.5 * tau * tau
    first_offset = 2 + int(quadratic)
    behind = axle > 0
    # X(t) - d_i = strip x  ->  x0 + v0 tau + a tau^2 / 2 - d_i = strip x
    design[np.nonzero(behind)[0], first_offset + axle[behind] - 1] = -1.0
    design *= weights[:, None]
    fitted = _scaled_lstsq(design, targets * weights)
    if fitted is None:
        return None
    solution, norms, _ = fitted
    coef = solution / norms
    residual = design @ coef - targets * weights
    dof = n_events - n_cols
    misfit = _misfit_m(residual, weights, dof)
    offsets = np.concatenate(([0.0], coef[first_offset:]))
    constant = SpeedProfile(
        t_c_s=t_c,
        x0_m=float(coef[0]),
        v0_mps=float(coef[1]),
        accel_mps2=float(coef[2]) if quadratic else 0.0,
        offsets_m=offsets,
        t_start_s=float(times.min()),
        t_end_s=float(times.max()),
        misfit_rms_m=misfit,
    )
    if ramp_timing_sd_s is None:
        return constant
    if dof < RAMP_MIN_DOF:
        # Too few events to tell a steady change of speed from a step (no ramp can be tested): the change is
        # measured where the strips see the speed, between the axles' entry and their exit, not
        # extrapolated to the first and the last event (a step reads up to 1.5 x its size there).
        return _over_the_scale(constant, entry_t_s, exit_t_s)
    mean_speed = constant.mean_speed_mps
    noise_m = ramp_timing_sd_s * mean_speed
    sse = float(residual @ residual)
    if not (mean_speed > 0 and sse > noise_m * noise_m * _chi2_quantile(dof, RAMP_TEST_Z)):
        # A ramp could be tested but the events fit the constant acceleration within the strips' noise,
        # which may still hide a step (a throttle blip at 20-26 km/h on a 7.2 m scale) that the constant
        # acceleration extrapolated to the first and the last event reads up to about 1.9 times its size.
        # Speeding up, the change is measured where the strips see the speed, as above (a constant
        # acceleration's reading times (mean exit - mean entry) / span); its pitch transfer is in the
        # gross's uncertainty.  Slowing keeps the span's reading, the higher one, which is what catches a
        # jump's brake pulse (measured over the scale, jumps got through on the full-length scale).  Events
        # beyond the noise that no ramp explains (below) keep it too: that is jerky driving (a speed-up a
        # ramp shows as a step reads the ramp's change instead, below).
        if constant.accel_mps2 > 0:
            return _over_the_scale(constant, entry_t_s, exit_t_s)
        return constant
    ramp, step_change = _fit_ramp(axle, times, targets, n, sse, noise_m, weights)
    if ramp is not None:
        return ramp
    if constant.accel_mps2 > 0 and step_change > 0:
        # A speed-up whose events a ramp explains RAMP_GAIN times better than the constant acceleration,
        # though the ramp was not taken (a slow truck's blip: its smooth rise is no straight ramp, and
        # the strips' noise is a few mm), is a step, not a steady change: its change of speed is the
        # ramp's.  The constant acceleration extrapolated to the span's ends read the simulator's 10 %
        # blips at 6-13 km/h on the full-length scale as 14-18 % and re-weighed them for it.  Slowing
        # keeps the span's reading (above).  A jump's throttle pulse may read lower here than the span
        # read it: its misfit and its gross's uncertainty judge it (no jump cell of the simulator or of
        # the independent model moved from 99-100 % re-weighed or within class).
        return replace(constant, step_change_fraction=step_change)
    return constant


def _over_the_scale(profile: SpeedProfile, entry_t_s: F64, exit_t_s: F64) -> SpeedProfile:
    """``profile`` with its speed change measured between the axles' mean entry and exit times."""
    return replace(profile, entry_mean_s=float(entry_t_s.mean()), exit_mean_s=float(exit_t_s.mean()))


RAMP_MIN_DOF = 3
"""A ramp profile is looked for only where the constant acceleration leaves this many degrees of freedom
(2 n - (n + 2) = n - 2 without intermediate strips, load edges or centre-of-load events: 5 or more axles, or 4
with an intermediate strip event; or fewer axles with more intermediate strips, or with centre-of-load events,
which give most 2-4 axle trucks enough): its two knots take two, and one is left to test
it.  With one fewer, some ramp fits any four axles' events exactly (a 20 % dip and recovery at 3 m/s
read as a 7.5 % step, misfit 0), and the misfit rule could no longer see the jerky driving."""

RAMP_TEST_Z = 3.43
"""...and only where the constant acceleration misfits the events by more than their noise allows: its
weighted sum of squared misfits, in units of the strips' timing noise (in metres), above the chi-squared
quantile of its degrees of freedom at this standard normal quantile (one-sided 0.03 %: a steady truck's
events pass it that rarely, at any number of events).  At 3 degrees of freedom that is 19.3, an RMS of
2.5 times the noise; at the 15-20 that centre-of-load events give it is 40-50, an RMS of 1.6.  An RMS of
2.5 at every count (as before) diluted the centre's few-mm evidence among many events: 8x4 trucks braking
after the steer pair had left a 4.2 m platform passed 3-6 % light (independent model, 24 at 30 km/h: 14
passed outside the class; 3 with this test, 1 with the transfer the events show as well, which
:func:`edge.wim.estimate.estimate_crossing` counts in the gross's uncertainty)."""

RAMP_NOISE_FACTOR = 2.5
"""A ramp is taken only where its own misfit is within this many times the strips' timing noise (RMS over
its degrees of freedom, :func:`_fit_ramp`)."""

RAMP_GAIN = 4.0
"""A ramp replaces the constant acceleration when it cuts the events' sum of squared misfits this many
times or more."""

RAMP_GRID = 13
"""Knot positions tried across the events' span in the first pass."""

RAMP_REFINE = 9
"""Then twice around the best pair, each knot at this many positions within one step of the last grid
(each pass 4 x finer)."""


def _fit_ramp(
    axle: npt.NDArray[np.intp],
    times: F64,
    targets: F64,
    n: int,
    constant_sse: float,
    noise_m: float,
    weights: F64 | None = None,
) -> tuple[SpeedProfile | None, float]:
    """Two cruises joined by a ramp: the front at ``x_a + v_1 g_1(t) + v_2 g_2(t)``, where the speed is
    ``v_1`` before the ramp ``[t_a, t_b]``, ``v_2`` after it and changes linearly within it (``g_2`` is
    the integral from ``t_a`` of the ramp's weight, 0 before it, rising to 1 across it; ``g_1 = t - t_a -
    g_2``).  For given knots the events' equations are linear in ``(x_a, v_1, v_2, d_1 .. d_n-1)``, as
    many unknowns as the constant acceleration's, which is the ramp across the whole span; the knots are
    searched on a grid over the events' span, refined twice around the best pair.  A throttle blip or a
    brief brake changes the speed in a second or less of a crossing that lasts 5-15 s: a constant
    acceleration spreads that step over the whole span, overstating the change at its ends and
    misplacing the axles by centimetres, which the ramp does not.

    Events on either side of a ramp show where its middle is, not how long it lasts: of the knot pairs
    that fit the events as well as the best one within the strips' noise (``noise_m``, m, standard),
    those with the least change of speed, and of them the gentlest ramp (least acceleration), is taken.
    It is returned when its own sum of squared misfits is at most ``constant_sse / RAMP_GAIN`` and within
    the noise (at most ``max(k, 1) (RAMP_NOISE_FACTOR noise_m)^2``, ``k`` its degrees of freedom), when the
    events determine its change of speed within ``RAMP_MAX_CHANGE_SE`` of the mean speed (standard error
    from the strips' noise), and when it is normal driving (``RAMP_MAX_CHANGE``, ``RAMP_MAX_ACCEL_MPS2``);
    None otherwise; and, where the ramp chosen cuts the sum of squared misfits ``RAMP_GAIN`` times or
    more and the events determine its change of speed within ``RAMP_MAX_CHANGE_SE`` of its (positive)
    mean speed (taken or not: the events show a step), that change over its mean speed (signed; NaN
    otherwise).  The step skips the tests of normal driving (the noise, ``RAMP_MAX_CHANGE``,
    ``RAMP_MAX_ACCEL_MPS2``), which choose the profile to weigh with, not the change it reads.  Its
    misfit counts the knots among the unknowns.  ``weights`` (one per event, default 1) scale each
    event's equation, as in :func:`fit_speed_profile`."""
    weights = np.ones(times.size) if weights is None else weights
    targets = targets * weights
    t_start, t_end = float(times.min()), float(times.max())
    span = t_end - t_start
    if span <= 0 or not noise_m > 0:
        return None, math.nan
    n_events = times.size
    offsets_design = np.zeros((n_events, max(n - 1, 0)))
    behind = np.nonzero(axle > 0)[0]
    offsets_design[behind, axle[behind] - 1] = -1.0
    found = _ramp_search(times, targets, offsets_design, weights)
    if found is None:
        return None, math.nan
    all_sse, all_a, all_b, all_coef = found
    best_sse = float(np.nanmin(all_sse))
    # Of the ramps as good as the best within the noise, those with the least change of speed (a ramp
    # stretched to the last event must overshoot to carry the same travel), and of those the gentlest.
    change = np.abs(all_coef[:, 2] - all_coef[:, 1])
    accel = (all_coef[:, 2] - all_coef[:, 1]) / (all_b - all_a)
    as_good = np.nonzero(all_sse <= best_sse + noise_m * noise_m)[0]
    least = float(change[as_good].min())
    mean_v = float(np.mean(np.abs(all_coef[as_good, 1:3])))
    least_change = as_good[change[as_good] <= least + RAMP_CHANGE_TIE * mean_v]
    k = int(least_change[np.argmin(np.abs(accel[least_change]))])
    t_a, t_b, coef = float(all_a[k]), float(all_b[k]), all_coef[k]
    dof = n_events - (n + 2) - 2  # >= 1: fit_speed_profile asks for RAMP_MIN_DOF
    sse_k = float(all_sse[k])
    x_a, v1, v2 = float(coef[0]), float(coef[1]), float(coef[2])
    mean_speed = 0.5 * (v1 + v2)
    # It must explain the events: 4 x better than the constant acceleration (a step: its change of speed
    # is measured, where the events determine it), and within the noise.
    if not (sse_k * RAMP_GAIN <= constant_sse and mean_speed > 0):
        return None, math.nan
    change_se = _ramp_change_se(times, offsets_design, t_a, t_b, weights) * noise_m
    if not change_se <= RAMP_MAX_CHANGE_SE * mean_speed:
        return None, math.nan
    step = (v2 - v1) / mean_speed
    if not sse_k <= dof * (RAMP_NOISE_FACTOR * noise_m) ** 2:
        return None, step
    accel_k = float(accel[k])
    if abs(v2 - v1) > RAMP_MAX_CHANGE * mean_speed or abs(accel_k) > RAMP_MAX_ACCEL_MPS2:
        return None, step
    t_c = 0.5 * (t_a + t_b)
    half = 0.5 * (t_b - t_a)
    return SpeedProfile(
        t_c_s=t_c,
        x0_m=x_a + v1 * half + 0.5 * accel_k * half * half,
        v0_mps=0.5 * (v1 + v2),
        accel_mps2=accel_k,
        offsets_m=np.concatenate(([0.0], coef[3:])),
        t_start_s=t_start,
        t_end_s=t_end,
        misfit_rms_m=_misfit_m(
            _ramp_designs(times, offsets_design, np.array([t_a]), np.array([t_b]), weights)[0] @ coef
            - targets,
            weights,
            dof,
        ),
        ramp_start_s=t_a,
        ramp_end_s=t_b,
    ), step


RAMP_MAX_CHANGE = 0.25
"""A ramp models normal driving, a throttle blip or a brief brake: one that changes speed by more than this
fraction of its mean speed..."""

RAMP_MAX_ACCEL_MPS2 = 2.5
"""...or accelerates harder than this (m/s²) is not taken (a jump's dip, fitted by a steep ramp between the
last events, reads 56 % and 4.8 m/s²): the constant acceleration stays, with its misfit, and judges the
crossing as it did before ramps."""

RAMP_CHANGE_TIE = 0.005
"""Changes of speed within this fraction of the mean speed of the least one count as equally small."""

RAMP_MAX_CHANGE_SE = 0.005
"""A ramp is taken only where the events determine its change of speed to within this fraction of the
mean speed (standard error from the strips' timing noise): with few events on one side of it, a ramp
fits the noise with a change of speed that the events do not show."""


def _misfit_m(weighted_residual: F64, weights: F64, dof: int) -> float:
    """The events' RMS misfit (m) over ``dof`` degrees of freedom, each event's residual counted at its
    weight but at most 1: an event less certain than the strips counts less, one more certain (a centre
    of load) counts as a strip, so the misfit stays what the motion departs from the profile in metres
    (weighted at its full weight, a 2 cm wander that the centre of load sees read 15-20 cm, as jerky
    driving); 0 without degrees of freedom."""
    if dof <= 0:
        return 0.0
    capped = weighted_residual * np.minimum(1.0, 1.0 / weights)
    return float(np.sqrt(np.sum(capped * capped) / dof))


def _ramp_change_se(times: F64, offsets_design: F64, t_a: float, t_b: float, weights: F64) -> float:
    """Standard error of ``v_2 - v_1`` of the ramp ``[t_a, t_b]``'s fit per metre of (unit-weight) event
    noise."""
    design = _ramp_designs(times, offsets_design, np.array([t_a]), np.array([t_b]), weights)[0]
    try:
        inverse = np.linalg.inv(design.T @ design)
    except np.linalg.LinAlgError:
        return math.inf
    contrast = np.zeros(design.shape[1])
    contrast[1], contrast[2] = -1.0, 1.0
    return math.sqrt(max(float(contrast @ inverse @ contrast), 0.0))


def _ramp_travel(times: F64, t_a: F64, t_b: F64) -> tuple[F64, F64]:
    """For each knot pair (pairs x events): the time since ``t_a`` and ``g_2``, the integral from ``t_a``
    of the ramp's weight (0 before it, rising to 1 across it: :func:`_fit_ramp`)."""
    width = (t_b - t_a)[:, None]
    u = times[None, :] - t_a[:, None]
    g2: F64 = np.clip(u, 0.0, width) ** 2 / (2.0 * width) + np.maximum(u - width, 0.0)
    return u, g2


def _ramp_designs(times: F64, offsets_design: F64, t_a: F64, t_b: F64, weights: F64) -> F64:
    """The ramp profile's design matrix for each knot pair ``(t_a[k], t_b[k])`` (pairs x events x columns):
    columns ``1, g_1, g_2`` and the axle offsets' (:func:`_fit_ramp`), each event's row times its weight."""
    u, g2 = _ramp_travel(times, t_a, t_b)
    design = np.empty((t_a.size, times.size, 3 + offsets_design.shape[1]))
    design[:, :, 0] = 1.0
    design[:, :, 1] = u - g2
    design[:, :, 2] = g2
    design[:, :, 3:] = offsets_design[None, :, :]
    design *= weights[None, :, None]
    return design


RAMP_SINGULAR_RTOL = 1e-9
"""A knot pair whose ramp column keeps less than this share of its norm once the columns every pair shares
are projected out (or, in :func:`_ramp_solutions_qr`, whose scaled QR has a diagonal this small against
its largest) cannot be fitted: the ramp lies wholly before or after the events."""


def _ramp_solutions(
    times: F64, targets: F64, offsets_design: F64, t_a: F64, t_b: F64, weights: F64
) -> tuple[F64, F64]:
    """For each knot pair ``(t_a[k], t_b[k])``: the sum of squared misfits and the coefficients ``(x_a,
    v_1, v_2, d_1 ..)`` of the ramp profile's least-squares fit (:func:`_fit_ramp`; ``targets`` already
    weighted); NaN where singular.

    The front is at ``x_a + v_1 (t - t_a) + (v_2 - v_1) g_2(t)`` (``g_1 = t - t_a - g_2``): every column
    but ``g_2`` (a constant, the time, the axle offsets) is the same for every pair.  Those are projected
    out once (one QR), which leaves one column per pair: its least squares is a ratio of dot products
    (Frisch-Waugh-Lovell), the same fit as :func:`_ramp_solutions_qr`'s batched QR of each pair's whole
    design to rounding (tests/test_wim_motion.py), at a fraction of its cost (the ramp search ran in
    every estimate of a truck with centre-of-load events, a quarter of judging one).  The estimator's
    search runs the same pairs inside the kernel ``ramp_search`` (:func:`_ramp_search`); this per-pair
    entry is the one the tests compare with the batched QR."""
    shared = _ramp_shared(times, targets, offsets_design, weights)
    if shared is None:
        return _ramp_solutions_qr(times, targets, offsets_design, t_a, t_b, weights)
    return ramp_pairs(
        *shared,
        np.ascontiguousarray(t_a, dtype=np.float64),
        np.ascontiguousarray(t_b, dtype=np.float64),
        RAMP_SINGULAR_RTOL,
    )


def _ramp_shared(
    times: F64, targets: F64, offsets_design: F64, weights: F64
) -> tuple[F64, F64, F64, F64, F64, F64, float] | None:
    """What every knot pair of :func:`_ramp_solutions` shares: the events' times and weights, the QR of
    the shared columns, the targets' coordinates on ``q`` and what ``q`` leaves of them, and the time
    origin (the arguments of the kernels ``ramp_pairs`` and ``ramp_search`` before the pairs); None where
    the shared columns alone are singular."""
    t0 = float(times.mean()) if times.size else 0.0
    shared = np.empty((times.size, 2 + offsets_design.shape[1]))
    shared[:, 0] = 1.0
    shared[:, 1] = times - t0
    shared[:, 2:] = offsets_design
    shared *= weights[:, None]
    q, r = np.linalg.qr(shared)
    diag = np.abs(np.diagonal(r))
    if diag.size == 0 or not np.all(diag > RAMP_SINGULAR_RTOL * diag.max()):
        return None
    y_shared = q.T @ targets
    return (
        np.ascontiguousarray(times, dtype=np.float64),
        np.ascontiguousarray(weights, dtype=np.float64),
        np.ascontiguousarray(q),
        np.ascontiguousarray(r),
        y_shared,
        targets - q @ y_shared,
        t0,
    )


def _ramp_search(
    times: F64, targets: F64, offsets_design: F64, weights: F64
) -> tuple[F64, F64, F64, F64] | None:
    """Every knot pair the ramp search tries (:func:`_fit_ramp`: a grid of ``RAMP_GRID`` knots over the
    events' span, refined twice around the best pair, ``RAMP_REFINE`` knots each; the loop as
    ``edge.wim.reference.knot_grid_search`` defines it): their misfits, knots ``t_a`` and ``t_b``, and
    coefficients; None where a pass found no pair that fits.  In one call of the Numba kernel
    ``edge.wim.kernels.ramp_search`` (the loop's small array steps cost more than its pairs' fits); where
    the shared columns are singular, the loop over each pair's batched QR."""
    shared = _ramp_shared(times, targets, offsets_design, weights)
    if shared is None:
        sse, t_a, t_b, coef, found = knot_grid_search(
            lambda a, b: _ramp_solutions_qr(times, targets, offsets_design, a, b, weights),
            float(times.min()),
            float(times.max()),
            RAMP_GRID,
            RAMP_REFINE,
        )
    else:
        sse, t_a, t_b, coef, found = ramp_search(*shared, RAMP_GRID, RAMP_REFINE, RAMP_SINGULAR_RTOL)
    return (sse, t_a, t_b, coef) if found else None


def _ramp_solutions_qr(
    times: F64, targets: F64, offsets_design: F64, t_a: F64, t_b: F64, weights: F64
) -> tuple[F64, F64]:
    """:func:`_ramp_solutions` by a batched QR of each pair's whole design (the plain reference, and the
    way where the shared columns alone are singular)."""
    design = _ramp_designs(times, offsets_design, t_a, t_b, weights)
    n_pairs = design.shape[0]
    norms = np.linalg.norm(design, axis=1)
    norms[norms == 0] = 1.0
    scaled = design / norms[:, None, :]
    # Least squares per pair through a batched QR (the scaled columns keep it well conditioned).
    q, r = np.linalg.qr(scaled)
    qty = np.einsum("pec,e->pc", q, targets)
    diag = np.abs(np.diagonal(r, axis1=1, axis2=2))
    ok = np.all(diag > RAMP_SINGULAR_RTOL * diag.max(axis=1, keepdims=True), axis=1)
    sse = np.full(n_pairs, np.nan)
    coef = np.full((n_pairs, design.shape[2]), np.nan)
    if np.any(ok):
        solution = np.linalg.solve(r[ok], qty[ok][:, :, None])[:, :, 0]
        coef[ok] = solution / norms[ok]
        residual = np.einsum("pec,pc->pe", design[ok], coef[ok]) - targets[None, :]
        sse[ok] = np.sum(residual * residual, axis=1)
    return sse, coef


def _events(
    entry_t_s: F64,
    exit_t_s: F64,
    entry_x_m: float,
    exit_x_m: float,
    mid_t_s: F64 | None,
    mid_x_m: tuple[float, ...] | F64,
    edge_t_s: F64 | None = None,
    edge_x_m: tuple[float, ...] | F64 = (),
    edge_weight: float = 1.0,
    point_events: PointEvents | None = None,
) -> tuple[npt.NDArray[np.intp], F64, F64, F64]:
    """Every event of a complete crossing: (its axle, its time, its x, its weight): the strips' (weight
    1), then the platform joints' from the load signals (``edge_weight``), then ``point_events``."""
    n = entry_t_s.shape[0]
    axle_of = [np.arange(n), np.arange(n)]
    event_t = [entry_t_s, exit_t_s]
    event_x = [np.full(n, entry_x_m), np.full(n, exit_x_m)]
    event_w = [np.ones(2 * n)]
    for extra_t, extra_x, weight in ((mid_t_s, mid_x_m, 1.0), (edge_t_s, edge_x_m, edge_weight)):
        if extra_t is None or not len(extra_x) or not weight > 0:
            continue  # an event of no weight would count as a degree of freedom it does not give
        extra = np.asarray(extra_t, dtype=np.float64).reshape(n, len(extra_x))
        seen = np.isfinite(extra)
        axles, places = np.nonzero(seen)
        axle_of.append(axles)
        event_t.append(extra[seen])
        event_x.append(np.asarray(extra_x, dtype=np.float64)[places])
        event_w.append(np.full(axles.size, weight))
    if point_events is not None and point_events.axle.size:
        axle_of.append(point_events.axle)
        event_t.append(point_events.t_s)
        event_x.append(point_events.x_m)
        event_w.append(point_events.weight)
    return np.concatenate(axle_of), np.concatenate(event_t), np.concatenate(event_x), np.concatenate(event_w)


def transfer_change_kg(
    entry_t_s: F64,
    exit_t_s: F64,
    entry_x_m: float,
    exit_x_m: float,
    transfer_kg_per_mps2: F64,
    timing_sd_s: float,
    mid_t_s: F64 | None = None,
    mid_x_m: tuple[float, ...] | F64 = (),
    point_events: PointEvents | None = None,
) -> tuple[float, float] | None:
    """How far a change of acceleration while the axles were weighed moved the gross, as the strip times show
    it: (estimate, standard uncertainty), kg; None when the events cannot tell (fewer than 3 axles without
    intermediate strips or ``point_events``, or an incomplete crossing).  ``point_events`` (the centre of
    load's places) join the strips' events at their weights, as in :func:`fit_speed_profile`.

    Under a constant acceleration the pitch transfer is the same whenever an axle is weighed and sums to
    zero over the axles, so the gross is right however the axles follow each other onto the platforms.  A
    brake pulse changes it between one axle's weighing and the next.  Its lowest-order form is an
    acceleration changing linearly, ``a + j (t - t_c)``: the profile of :func:`fit_speed_profile` with one
    more term, ``j tau^3 / 6``, fitted to the same events.  Axle ``i``, weighed about the mean time of its
    strip events ``t_i``, then carries ``T_i j (t_i - t_c)`` more (``T_i`` = ``transfer_kg_per_mps2``, the load the
    body's pitch moves onto it per m/s²), and the gross is off by ``j sum_i T_i (t_i - t_c)``.  The jerk's
    standard error comes from the strips' timing uncertainty ``timing_sd_s`` (each event's position
    uncertain by the mean speed times it, over its weight).
    """
    n = entry_t_s.shape[0]
    if n == 0 or not (np.all(np.isfinite(entry_t_s)) and np.all(np.isfinite(exit_t_s))):
        return None
    axle, times, targets, weights = _events(
        entry_t_s, exit_t_s, entry_x_m, exit_x_m, mid_t_s, mid_x_m, point_events=point_events
    )
    n_cols = 4 + (n - 1)
    if times.size < n_cols:
        return None
    t_c = float(times.mean())
    tau = times - t_c
    design = np.zeros((times.size, n_cols))
    design[:, 0] = 1.0
    design[:, 1] = tau
    design[:, 2] = 0.5 * tau * tau
    design[:, 3] = tau**3 / 6.0
    behind = axle > 0
    design[np.nonzero(behind)[0], 4 + axle[behind] - 1] = -1.0
    design *= weights[:, None]
    fitted = _scaled_lstsq(design, targets * weights)
    if fitted is None:
        return None
    solution, norms, scaled = fitted
    jerk = float(solution[3] / norms[3])
    span_s = float(times.max() - times.min())
    mean_speed_mps = float(exit_x_m - entry_x_m) / float(np.mean(exit_t_s - entry_t_s))
    if not (span_s > 0 and mean_speed_mps > 0):
        return None
    jerk_sd = (
        math.sqrt(float(np.linalg.inv(scaled.T @ scaled)[3, 3])) / norms[3] * mean_speed_mps * timing_sd_s
    )
    # Each axle is weighed about the mean of its strip times (the centre of load's places sit where it
    # stood alone, not in the middle of its time on the scale).
    strip_t = [entry_t_s, exit_t_s]
    if mid_t_s is not None and len(mid_x_m):
        strip_t.append(np.asarray(mid_t_s, dtype=np.float64).reshape(n, len(mid_x_m)).T)
    weighed_s = np.nanmean(np.vstack([np.atleast_2d(t) for t in strip_t]), axis=0) - t_c
    lever = float(np.dot(transfer_kg_per_mps2, weighed_s))
    return jerk * lever, abs(lever) * jerk_sd


PULSE_CORRELATION_S = 0.3
"""Correlation time (s) of the acceleration's departures from the fitted profile (:func:`pulse_transfer_kg`):
a throttle blip or a brake pulse lasts 0.25-1 s."""

PULSE_NOISE_Z = 2.326
"""Standard normal quantile (99 %) of the strips' noise that :func:`pulse_transfer_kg` does not take for a
pulse."""

PULSE_BINS = 48
"""Time steps (over the events' span) of the acceleration :func:`pulse_transfer_kg` integrates."""


def pulse_transfer_kg(
    entry_t_s: F64,
    exit_t_s: F64,
    entry_x_m: float,
    exit_x_m: float,
    weighed_x_m: tuple[float, float],
    profile: SpeedProfile,
    transfer_kg_per_mps2: F64,
    timing_sd_s: float,
    mid_t_s: F64 | None = None,
    mid_x_m: tuple[float, ...] | F64 = (),
    correlation_s: float = PULSE_CORRELATION_S,
) -> tuple[F64, F64] | None:
    """The pitch transfer of the acceleration that ``profile`` does not follow, as the strip times show it:
    (its estimate on each axle, kg; their covariance, kg^2); None where the events leave no degree of
    freedom to see it (2 axles without intermediate strips; a ramp profile needs 2 more events) or cannot
    place it (no timing noise given, no travel between the strips, a singular system).

    Under the profile's own acceleration the transfer is corrected for (:func:`edge.wim.estimate.
    pitch_transfer_kg`) and, under a constant one, cancels in the gross.  A throttle blip or a brake pulse
    lands on some axles' time on the scale and not on others': axle ``i`` is then weighed with
    ``T_i`` (``transfer_kg_per_mps2``, the load the body's pitch moves onto it per m/s²) times the pulse's
    mean over its time on the scale (``weighed_x_m``: where it is weighed, from and to) more, and nothing
    cancels.  The events see the pulse only through its double integral, the position it adds:

    * the departure ``da(t)`` from the profile's acceleration is taken as a Gaussian process, zero mean,
      exponential correlation over ``correlation_s``, on :data:`PULSE_BINS` steps over the events' span;
    * each event's residual about the profile is its double integral at the event's time, plus a common
      position and speed and one offset per axle, which the profile's fit absorbs (flat priors), plus the
      strips' timing noise (``timing_sd_s`` times the mean speed);
    * the process's variance is what the residuals show beyond that noise (method of moments: their
      square sum, less the noise's 99th percentile, over the process's share of it, with the degrees of
      freedom the profile's fit leaves, events - axles - 2); zero where they show no more;
    * the estimate and its covariance are the process's conditional mean and covariance given the
      residuals (universal kriging: unbiased whatever the absorbed terms).

    A slow crossing with a large misfit (a blip spread over seconds) moves little load; a fast one with a
    small misfit can move much more: the load follows the acceleration, the misfit its double integral.
    On a rigid 5-axle model with quasi-static pitch (bench/pulse_transfer_model.py: 400 random blips on a
    4.2 m platform, a 1.5 m centre of gravity, the term's 2.2 m; constant-acceleration profiles, as the
    script fits no ramp) ``2 sqrt(e^2 + var)`` covers 100 / 85 / 47 % of the gross transfers above 150 kg
    with strips good to 0.1 / 1 / 2.3 ms (standard); the estimator's misfit term ``load x misfit x
    sqrt(2) / length`` 79 / 84 / 92 %, the two together 100 / 96 / 93 %.  Coarse strips hide a pulse in
    their noise; fine ones show it, and where it landed.
    """
    n = entry_t_s.shape[0]
    if n == 0 or not (np.all(np.isfinite(entry_t_s)) and np.all(np.isfinite(exit_t_s))):
        return None
    axle, times, targets, _ = _events(entry_t_s, exit_t_s, entry_x_m, exit_x_m, mid_t_s, mid_x_m)
    speed_mps = profile.mean_speed_mps
    span_s = float(times.max() - times.min())
    if not (span_s > 0 and speed_mps > 0 and correlation_s > 0 and timing_sd_s > 0 and exit_x_m > entry_x_m):
        return None
    residual = targets - (profile.front_x(times) - profile.offsets_m[axle])
    noise_m2 = (timing_sd_s * speed_mps) ** 2
    # The double integral of a unit departure on step k, from the span's start to each event's time.
    knots = np.linspace(float(times.min()), float(times.max()), PULSE_BINS + 1)
    lo, hi = knots[:-1], knots[1:]
    t = times[:, None]
    integral = np.where(t >= hi, (hi - lo) * (t - (lo + hi) / 2), np.where(t > lo, (t - lo) ** 2 / 2, 0.0))
    absorbed = np.zeros((times.size, 1 + n))
    absorbed[:, 0] = times - times.mean()
    absorbed[np.arange(times.size), 1 + axle] = 1.0
    # The profile's own fit has n + 2 terms (a ramp's two knots more): it must leave a residual to read a
    # pulse from.  A ramp the events chose has explained the step they show; what is left is read on.
    ramp_terms = 0 if math.isnan(profile.ramp_start_s) else 2
    if times.size < n + 3 + ramp_terms:
        return None
    # What the profile's fit leaves of the events, W = I - F F^+ (F its terms: the absorbed ones and the
    # acceleration): the residuals' square sum is the process's share through it, plus the noise's.
    fitted = np.column_stack((absorbed, absorbed[:, 0] ** 2))
    leave = np.eye(times.size) - fitted @ np.linalg.pinv(fitted)
    dof = float(np.trace(leave)) - ramp_terms
    middle = (lo + hi) / 2
    correlation = np.exp(-np.abs(middle[:, None] - middle[None, :]) / correlation_s)
    shape = integral @ correlation @ integral.T
    process_share = float(np.trace(leave @ shape @ leave))
    seen = float(residual @ leave @ residual)
    # Only what the strips' noise would leave less than once in a hundred crossings (the 99th percentile of
    # a chi-squared of ``dof`` degrees, Wilson-Hilferty): with 1-3 degrees of freedom a steady truck's
    # noise alone reads 1-4 x its mean now and then, which would otherwise stand for a pulse of 1-2 m/s².
    beyond = seen - noise_m2 * _chi2_quantile(dof, PULSE_NOISE_Z) if dof > 0.5 else 0.0
    variance = max(0.0, beyond / process_share) if process_share > 0 else 0.0
    if not math.isfinite(variance):
        return None
    if variance == 0.0:
        return np.zeros(n), np.zeros((n, n))
    # Each axle's weighed load: T_i times the departure's mean over its time on the platforms.
    start_x, end_x = weighed_x_m
    travel = exit_t_s - entry_t_s
    on = entry_t_s + (start_x - entry_x_m) / (exit_x_m - entry_x_m) * travel
    off = entry_t_s + (end_x - entry_x_m) / (exit_x_m - entry_x_m) * travel
    overlap = np.clip(np.minimum(hi[None, :], off[:, None]) - np.maximum(lo[None, :], on[:, None]), 0.0, None)
    weighing = transfer_kg_per_mps2[:, None] * overlap / np.maximum(off - on, 1e-9)[:, None]
    events_cov = variance * shape + noise_m2 * np.eye(times.size)
    cross = variance * integral @ correlation @ weighing.T
    prior = variance * weighing @ correlation @ weighing.T
    try:
        inverse = np.linalg.inv(events_cov)
        gram = absorbed.T @ inverse @ absorbed
        lagrange = np.linalg.pinv(gram) @ (absorbed.T @ inverse @ cross)
    except np.linalg.LinAlgError:
        return None
    weights = inverse @ (cross - absorbed @ lagrange)
    estimate: F64 = weights.T @ residual
    covariance: F64 = prior - cross.T @ inverse @ cross + lagrange.T @ gram @ lagrange
    covariance = (covariance + covariance.T) / 2
    return estimate, covariance


def _chi2_quantile(dof: float, z: float) -> float:
    """The chi-squared quantile of ``dof`` degrees of freedom at the standard normal quantile ``z``
    (Wilson-Hilferty: within 1 % of the exact 99th percentile from 1 degree on)."""
    ninth = 2.0 / (9.0 * dof)
    return dof * max(1.0 - ninth + z * math.sqrt(ninth), 0.0) ** 3


def _scaled_lstsq(
    design: npt.NDArray[np.float64], targets: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """Least squares on ``design`` with its columns scaled to unit norm (tau^2 is ~100 x larger than tau
    at crawling speed): (the scaled solution, the column norms, the scaled design); None when a column is
    empty or the system is rank-deficient."""
    norms = np.linalg.norm(design, axis=0)
    if np.any(norms == 0):
        return None
    scaled = design / norms
    solution, _, rank, _ = np.linalg.lstsq(scaled, targets, rcond=None)
    if rank < design.shape[1]:
        return None
    return solution, norms, scaled
