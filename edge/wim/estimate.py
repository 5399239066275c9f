"""Axle loads, spacings, speed and gross weight of one crossing of a multi-platform scale.

Model: the axles follow one smooth speed profile (constant acceleration, or two cruises joined by a ramp
where the events show a step of speed; fitted to every axle's entry and exit strip times, and
intermediate strips' where the scale has them: :mod:`edge.wim.motion`), so each axle's position at any
sample time is known.  With
``wim.speed_profile = "per_axle_constant"`` (the estimator before profiles), or when the profile is not
plausible (a standstill or a reversal), every axle instead moves at its own constant speed between the
strips.  Each platform then weighs the sum of the loads of the axles standing on it,
where an axle whose tyre footprint straddles a platform edge counts for the share of the footprint on
the platform (uniform contact pressure over ``scale.tyre_footprint_m``):

    platform_kg[t, p] = sum_i load_i * share(i, p, t)

Solving this in the least-squares sense over every sample and platform uses the whole residence
time (averaging out noise and body bounce) and separates the axles of a tandem by the moments they
stand on different platforms.  The misfit (RMS residual) measures how well the crossing fits the
model: rocking, jumping and stop-and-go crossings fit badly and are sent to re-weigh.

At speed those moments are short (1.3 m at 40 km/h is 0.12 s) and the axle loads move during them:
the sprung body heaves and pitches at 1.5-5 Hz.  A second fit therefore lets each axle's load vary
as a rigid body on load-proportional springs would make it (a pitch-plane model):

    load_i(t) = load_i + L_i * heave_u(t) + L_i * d_i * pitch_u(t)

with ``L_i`` the first fit's load, ``d_i`` the axle's distance from its unit's centroid and ``heave_u``,
``pitch_u`` piecewise-linear time courses shared by the axles of the vehicle unit (the truck; or the
tractor and the trailer of a combination).  The body's motion, seen on all its axles over the whole
crossing, is then no longer mistaken for a different split between the axles of a group.  It is a
regularised (maximum a posteriori) fit.  The body terms' prior is what a sprung body does: a random
process with the spectrum of damped modes whose natural frequencies lie in the body band
(``wim.body_min_frequency_hz`` .. ``body_max_frequency_hz``, damping ``wim.body_damping_ratio``; see
:func:`edge.wim.reference.body_load_spectrum_ref`), as large, relative to the load, as the steady
fit's misfit (how much this truck moved on this crossing).  Such motion has no steady part and keeps
its rhythm for several periods (about 1 / (2 pi z f) s), so the swing caught while a group's axles stood on different platforms
is tied to the same swing seen on all the unit's axles before and after, and what stays the same all
crossing long is static load.  The axles of a tandem or tridem have a prior of near-equal load
sharing.  Both weigh against the crossing's data, the samples counted as correlated over the axle-hop
time scale.  The misfit used for re-weigh stays the first (steady) fit's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from edge.config import RulesConfig, ScaleConfig, WimConfig
from edge.lane.buffer import SampleWindow
from edge.wim.centre import (
    CENTRE_MAX_DISAGREEMENT_M,
    CENTRE_TRAVEL_RATIO,
    Stretch,
    centre_events,
    centre_stretches,
    exit_loads,
    lone_runs,
)
from edge.wim.edges import joint_positions, load_edge_times
from edge.wim.kernels import (
    axle_normal_equations,
    axle_residuals,
    body_knot_covariance,
    crossing_kinematics,
    dynamic_normal_equations,
    dynamic_unit_responses,
    platform_loads,
    residual_batch_means,
    warped_times,
)
from edge.wim.moment import MOMENT_BLOCK_M, moment_split
from edge.wim.motion import (
    PointEvents,
    SpeedProfile,
    fit_speed_profile,
    pulse_transfer_kg,
    transfer_change_kg,
)
from edge.wim.reference import axle_positions_ref

__all__ = [
    "WimMeasurement",
    "centre_accelerations",
    "estimate_crossing",
    "lane_speed_profile",
    "load_centre",
    "span_per_cell",
    "stability_problems",
    "zero_from_preroll",
    "zero_variance_kg2",
]

_KNOT_NUGGET = 1e-3
"""Share of a body knot's prior variance taken as independent per knot (see _with_body_dynamics)."""


@dataclass(frozen=True)
class WimMeasurement:
    axle_loads_kg: tuple[float, ...]
    axle_spacings_m: tuple[float, ...]
    axle_speeds_kmh: tuple[float, ...]
    speed_kmh: float
    gross_kg: float
    residual_rms_kg: float
    samples_used: int
    samples_lost: int
    problems: tuple[str, ...]
    accel_mps2: float = 0.0  # the fitted speed profile's acceleration (0: none fitted)
    speed_change_fraction: float = 0.0  # the profile's (end - start speed) / mean speed over the strips
    profile_misfit_m: float = 0.0  # RMS misfit of the events (strips; load edges weighted) to the profile (m)
    axle_uncertainties_kg: tuple[float, ...] = ()  # expanded (k = 2) uncertainty of each axle load
    gross_uncertainty_kg: float = math.nan  # expanded (k = 2) uncertainty of the gross
    # Standard (k = 1) covariance of the axle loads (kg^2, axles x axles; empty: none computed): the fit's,
    # the independent motion term of each axle, the pre-roll zero's error shared by the axles of each
    # platform, and the pitch transfer's rank-1 term (see _uncertainties).
    axle_covariance_kg2: tuple[tuple[float, ...], ...] = ()
    # How far (k = 2, kg) a change of acceleration while the axles were weighed could have moved the gross, as
    # the strip times and the centre of load's places show it (see _transfer_change); NaN where they cannot
    # tell (fewer than 3 axles and no axle placed standing alone), and for a ramp profile, which is a change
    # of acceleration.
    transfer_change_kg: float = math.nan
    # How far (kg) a change of acceleration that the events show beyond their noise moved the gross, at a
    # high centre of gravity, with a slowing constant-acceleration profile and no measured accelerations
    # (see _shown_transfer_change); counted in gross_uncertainty_kg; 0 where none is shown or counted.
    transfer_shown_kg: float = 0.0
    # The site's own scatter's share of gross_uncertainty_kg (kg, k = 2, in quadrature with the rest: from
    # wim.site_sd_fraction alone, as the share moved between the axles sums to nothing; see
    # with_site_error); 0 where the site has none.
    site_error_kg: float = 0.0
    # The shares with_site_error added at this crossing's speed band (wim.site_sd_fraction,
    # wim.site_axle_sd_fraction); 0 where the site has none.
    site_sd_fraction: float = 0.0
    site_axle_sd_fraction: float = 0.0
    # The static load the platforms carried, on the misfit's footing (RMS over the samples the misfit is taken
    # over, kg; see carried_load_kg): the steady fit's modelled platform signal, and its axles in quadrature.
    signal_rms_kg: float = math.nan
    axle_signal_rms_kg: float = math.nan
    # The speed profile the fit used (None: each axle at its own constant speed); not part of the record.
    speed_profile: SpeedProfile | None = field(default=None, compare=False, repr=False)

    def carried_load_kg(self) -> float:
        """The load the misfit allowance is a fraction of (kg): the RMS dynamic load of a truck whose dynamic
        load coefficient is 1, half of its variance body bounce (a unit's axles together: the platform signal)
        and half axle hop (each axle on its own: the axles in quadrature).  NaN where not computed."""
        return math.sqrt((self.signal_rms_kg**2 + self.axle_signal_rms_kg**2) / 2)

    def load_uncertainty_kg(self, axles: Sequence[int]) -> float:
        """Expanded (k = 2) uncertainty of the summed load of ``axles`` (0-based), e.g. an axle group:
        ``k sqrt(1^T C_g 1)`` over their block of the covariance.  The axles of a group share the platform
        at the same moments, so their errors are anti-correlated and the group's uncertainty is smaller
        than its axles' in quadrature; NaN where no covariance was computed."""
        if not self.axle_covariance_kg2 or not axles:
            return math.nan
        variance = sum(self.axle_covariance_kg2[i][j] for i in axles for j in axles)
        return (
            UNCERTAINTY_COVERAGE_FACTOR * math.sqrt(max(variance, 0.0))
            if math.isfinite(variance)
            else math.nan
        )

    def corrected(self, factor: float) -> WimMeasurement:
        """The same measurement with loads multiplied by a dynamic correction factor."""
        return replace(
            self,
            axle_loads_kg=tuple(v * factor for v in self.axle_loads_kg),
            gross_kg=self.gross_kg * factor,
            axle_uncertainties_kg=tuple(v * factor for v in self.axle_uncertainties_kg),
            gross_uncertainty_kg=self.gross_uncertainty_kg * factor,
            axle_covariance_kg2=tuple(tuple(v * factor**2 for v in row) for row in self.axle_covariance_kg2),
            site_error_kg=self.site_error_kg * factor,
        )

    def with_site_error(self, fraction: float, axle_fraction: float = 0.0) -> WimMeasurement:
        """The same measurement with the site's own standard error added to its uncertainties:
        ``fraction`` (``wim.site_sd_fraction``) a share of every load, the same share on all of them, as a
        span error is; ``axle_fraction`` (``wim.site_axle_sd_fraction``) a share per axle moved between
        the axles, which leaves the gross as it is (``Pi diag((a L)²) Pi``, ``Pi = I - 11ᵀ/n``, as
        :func:`edge.wim.corrections.redistribution_shares` fits it)."""
        loads = np.array(self.axle_loads_kg, dtype=np.float64)
        if not ((fraction > 0 or axle_fraction > 0) and loads.size and np.all(np.isfinite(loads))):
            return self
        k = UNCERTAINTY_COVERAGE_FACTOR
        centring = np.eye(loads.size) - 1.0 / loads.size
        added = (
            fraction**2 * np.outer(loads, loads) + centring @ np.diag((axle_fraction * loads) ** 2) @ centring
        )
        covariance = (
            tuple(tuple(float(v) for v in row) for row in np.array(self.axle_covariance_kg2) + added)
            if self.axle_covariance_kg2
            else ()
        )
        site_kg = k * fraction * float(loads.sum())  # the moved share sums to 0 (exactly, not in rounding)
        return replace(
            self,
            axle_uncertainties_kg=tuple(
                math.sqrt(u**2 + k**2 * float(v))
                for u, v in zip(self.axle_uncertainties_kg, np.diag(added), strict=True)
            ),
            gross_uncertainty_kg=math.hypot(self.gross_uncertainty_kg, site_kg),
            axle_covariance_kg2=covariance,
            site_error_kg=site_kg,
            site_sd_fraction=fraction,
            site_axle_sd_fraction=axle_fraction,
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-ready; a value that could not be computed is null, never NaN.  The site's own scatter
        (:meth:`with_site_error`) is given only where the site has one, so a record of a site without one
        reads as before."""
        site: dict[str, object] = (
            {
                "site_sd_fraction": round(self.site_sd_fraction, 6),
                "site_axle_sd_fraction": round(self.site_axle_sd_fraction, 6),
                "site_error_kg": _finite(self.site_error_kg, 1),
            }
            if self.site_sd_fraction > 0 or self.site_axle_sd_fraction > 0
            else {}
        )
        return {
            "axle_loads_kg": [_finite(v, 1) for v in self.axle_loads_kg],
            "axle_spacings_m": [_finite(v, 3) for v in self.axle_spacings_m],
            "axle_speeds_kmh": [_finite(v, 2) for v in self.axle_speeds_kmh],
            "speed_kmh": _finite(self.speed_kmh, 2),
            "gross_kg": _finite(self.gross_kg, 1),
            "residual_rms_kg": _finite(self.residual_rms_kg, 1),
            "samples_used": self.samples_used,
            "samples_lost": self.samples_lost,
            "gross_uncertainty_kg": _finite(self.gross_uncertainty_kg, 1),
            "axle_uncertainties_kg": [_finite(v, 1) for v in self.axle_uncertainties_kg],
            "acceleration_mps2": _finite(self.accel_mps2, 3),
            "speed_change_fraction": _finite(self.speed_change_fraction, 4),
            **site,
        }


def _finite(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def span_per_cell(scale: ScaleConfig) -> npt.NDArray[np.float64]:
    span = scale.kg_per_count
    n = scale.n_channels
    return np.full(n, span) if isinstance(span, float) else np.asarray(span, dtype=np.float64)


def _separable(ata: npt.NDArray[np.float64]) -> bool:
    """True when A^T A is well-conditioned positive definite (a Cholesky factor with no tiny pivot).

    Cheaper than an SVD rank test; a pivot below 1e-9 of the largest means some combination of axles
    was never weighed apart from the others.
    """
    try:
        factor = np.linalg.cholesky(ata)
    except np.linalg.LinAlgError:
        return False
    pivots = np.abs(np.diag(factor))
    return bool(pivots.size and pivots.min() > 1e-9 * pivots.max())


def zero_from_preroll(window: SampleWindow, before_s: float) -> npt.NDArray[np.float64] | None:
    """Per-cell zero (counts): the median of the empty-scale samples before ``before_s``."""
    rows = window.times_s < before_s
    if rows.sum() < 20:
        return None
    zero: npt.NDArray[np.float64] = np.median(window.counts[rows], axis=0).astype(np.float64)
    return zero


MEDIAN_VARIANCE_FACTOR = math.pi / 2
"""Variance of the median of normal samples over that of their mean (the median's efficiency, 2 / pi)."""

ZERO_MIN_BLOCKS = 8
"""Fewest batch-means blocks the pre-roll zero's variance is estimated from (see :func:`zero_variance_kg2`)."""


def zero_variance_kg2(
    counts: npt.NDArray[np.int32], scale: ScaleConfig, block_s: float, rate_hz: float
) -> npt.NDArray[np.float64]:
    """Standard variance (kg^2) of each platform's zero when it is the per-cell median of ``counts`` (the
    empty scale's pre-roll, samples x cells), from the spread of those samples themselves.

    The zero's error is the platform's mean noise over the pre-roll: ``s^2 c / N`` with ``s^2 c`` by batch
    means over blocks of ``block_s`` (the residuals' idea, :func:`_uncertainties`: noise correlated over a
    block counts as one sample per block), times pi / 2 for a median's efficiency on normal noise.  At least
    :data:`ZERO_MIN_BLOCKS` blocks: a short pre-roll takes shorter blocks rather than the residuals'
    cautious fallback (correlated over a whole block), which would make a 0.5 s pre-roll's zero 100 times
    too uncertain.  No less than each cell's rounding to whole counts (``span^2 / 12`` a cell), which a
    quiet scale's median keeps whatever its noise.  NaN for fewer than 2 samples.
    """
    span = span_per_cell(scale)
    n_platforms = len(scale.platform_lengths_m)
    n = counts.shape[0]
    if n < 2:
        return np.full(n_platforms, np.nan)
    kg = platform_loads(
        np.ascontiguousarray(counts, dtype=np.int32),
        np.median(counts, axis=0).astype(np.float64),
        span,
        scale.cells_per_platform,
    )
    deviation = kg - kg.mean(axis=0)
    block = max(1, min(round(block_s * rate_hz), n // ZERO_MIN_BLOCKS))
    rounding = (span**2 / 12.0).reshape(n_platforms, scale.cells_per_platform).sum(axis=1)
    out = np.empty(n_platforms)
    for p in range(n_platforms):
        squares, count, block_mean_squares, n_blocks = residual_batch_means(
            np.ascontiguousarray(deviation[:, p : p + 1]), block
        )
        white = squares / count
        long_run = block_mean_squares / n_blocks * block if n_blocks else white
        out[p] = max(MEDIAN_VARIANCE_FACTOR * max(long_run, white) / count, float(rounding[p]))
    return out


DEFAULT_STEER_GROUP_MAX_SPACING_M = RulesConfig().steer_group_max_spacing_m
"""The rules' default twin-steer spacing (m), where an estimate is made without them."""


def estimate_crossing(
    window: SampleWindow,
    zero_counts: npt.NDArray[np.float64],
    entry_t_s: npt.NDArray[np.float64],
    exit_t_s: npt.NDArray[np.float64],
    scale: ScaleConfig,
    wim: WimConfig | None = None,
    group_max_spacing_m: float = 2.0,
    rules: RulesConfig | None = None,
    mid_t_s: npt.NDArray[np.float64] | None = None,
    zero_variance_kg2: npt.NDArray[np.float64] | None = None,
) -> WimMeasurement:
    """Axle loads and the rest of one crossing (:func:`_estimate`).  On a scale of several platforms
    (with a speed profile and ``wim.load_edge_timing_sd_s`` > 0) the strip events' profile and the
    steady fit's loads under it (a first pass without the body terms) predict the platform signals, from
    which :func:`edge.wim.edges.load_edge_times` reads when each axle crossed each joint; those times join
    the strip events in the profile of the estimate returned.  Before either, with
    ``wim.load_centre_sd_m`` > 0, the centre of load places each axle while it stands alone on a platform
    (:mod:`edge.wim.centre`): those positions join the strip events in every pass, and the axles'
    accelerations meanwhile replace the profile's in the pitch load transfer where they show what it
    missed (:func:`centre_accelerations`)."""
    wim = wim if wim is not None else WimConfig()
    args = (window, zero_counts, entry_t_s, exit_t_s, scale, wim, group_max_spacing_m, rules, mid_t_s)
    platform_kg = platform_loads(window.counts, zero_counts, span_per_cell(scale), scale.cells_per_platform)
    # The exit cells' loads, for the centre of load and the moment split (4 cells a platform), once.
    exit_kg = (
        exit_loads(window.counts, zero_counts, span_per_cell(scale))
        if scale.cells_per_platform == 4
        else None
    )
    centre = load_centre(window, zero_counts, entry_t_s, exit_t_s, mid_t_s, scale, wim, platform_kg, exit_kg)
    edges = np.concatenate(([0.0], np.cumsum(scale.platform_lengths_m)))
    reach_m = scale.tyre_footprint_m / 2 + wim.load_edge_margin_m
    joints = joint_positions(edges, scale.mid_strips_x_m, reach_m)
    if joints.size == 0 or not wim.load_edge_timing_sd_s > 0 or wim.speed_profile == "per_axle_constant":
        return _estimate(
            *args,
            zero_variance_kg2=zero_variance_kg2,
            platform_kg=platform_kg,
            centre=centre,
            exit_kg=exit_kg,
        )
    steady_wim = wim.model_copy(update={"dynamic_knot_m": 0.0, "moment_split": False})
    first = _estimate(
        window,
        zero_counts,
        entry_t_s,
        exit_t_s,
        scale,
        steady_wim,
        group_max_spacing_m,
        None,
        mid_t_s,
        platform_kg=platform_kg,
        centre=centre,
        loads_only=True,
        steer_group_max_spacing_m=(
            rules.steer_group_max_spacing_m if rules is not None else DEFAULT_STEER_GROUP_MAX_SPACING_M
        ),
    )
    profile = first.speed_profile
    loads_kg = np.array(first.axle_loads_kg)
    if profile is None or loads_kg.size == 0 or not np.all(np.isfinite(loads_kg) & (loads_kg > 0)):
        return _estimate(
            *args,
            zero_variance_kg2=zero_variance_kg2,
            platform_kg=platform_kg,
            centre=centre,
            exit_kg=exit_kg,
        )
    joint_t = load_edge_times(
        window.times_s,
        platform_kg,
        edges,
        joints,
        profile,
        loads_kg,
        scale.tyre_footprint_m,
        reach_m,
    )
    if not np.any(np.isfinite(joint_t)):
        return _estimate(
            *args,
            zero_variance_kg2=zero_variance_kg2,
            platform_kg=platform_kg,
            centre=centre,
            exit_kg=exit_kg,
        )
    return _estimate(
        *args,
        zero_variance_kg2=zero_variance_kg2,
        edge_events=(joint_t, joints),
        platform_kg=platform_kg,
        centre=centre,
        exit_kg=exit_kg,
    )


def _estimate(
    window: SampleWindow,
    zero_counts: npt.NDArray[np.float64],
    entry_t_s: npt.NDArray[np.float64],
    exit_t_s: npt.NDArray[np.float64],
    scale: ScaleConfig,
    wim: WimConfig,
    group_max_spacing_m: float = 2.0,
    rules: RulesConfig | None = None,
    mid_t_s: npt.NDArray[np.float64] | None = None,
    zero_variance_kg2: npt.NDArray[np.float64] | None = None,
    edge_events: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None,
    platform_kg: npt.NDArray[np.float64] | None = None,
    centre: tuple[PointEvents | None, Sequence[Stretch]] = (None, ()),
    loads_only: bool = False,
    exit_kg: npt.NDArray[np.float64] | None = None,
    steer_group_max_spacing_m: float = DEFAULT_STEER_GROUP_MAX_SPACING_M,
) -> WimMeasurement:
    """Axle loads and the rest of one crossing (``platform_kg``: the zeroed platform signals, when the
    caller has them already); ``wim`` sets the body-dynamics fit (default settings when
    None), ``group_max_spacing_m`` which axles form a group (as the rules do, less their twin-steer rule,
    ``rules.steer_group_max_spacing_m``), ``rules`` (when given) the misfit allowance of normal driving, which bounds how much of the misfit the uncertainty
    takes as explained by the body (see :func:`_uncertainties`); ``mid_t_s`` (axles x
    ``scale.mid_strips_x_m``, NaN where a strip missed an axle) the intermediate strips' times, which the
    speed profile is fitted to as well; ``zero_variance_kg2`` (per platform, kg^2, standard: see
    :func:`zero_variance_kg2`) the error of ``zero_counts``, which the uncertainties then carry (each
    platform's zero error is common to every axle weighed on it; None: the zero is taken as exact);
    ``edge_events`` (axles x joints times, the joints' positions) the load signals' joint events, which
    the speed profile is fitted to as well; ``centre`` the centre of load's events, which it is fitted to
    as well, and its stretches, whose accelerations replace the profile's in the pitch load transfer
    where they show what it missed (:func:`load_centre`, :func:`centre_accelerations`).  With
    ``loads_only`` (:func:`estimate_crossing`'s first pass, which reads nothing else) only the speed
    profile and the axle loads are measured: every uncertainty is NaN and the transfer change not
    measured.  ``exit_kg``: the exit cells' loads (:func:`edge.wim.centre.exit_loads`) when the caller
    has them.  ``steer_group_max_spacing_m``: the twin steer's spacing (``rules.steer_group_max_spacing_m``)
    where ``rules`` is not given."""
    problems: list[str] = []
    centre_points, stretches = centre
    # The strip times as the strips saw them (the profile's warped clock replaces entry_t_s, exit_t_s below).
    strip_t_s = (entry_t_s, exit_t_s)
    edges = np.concatenate(([0.0], np.cumsum(scale.platform_lengths_m)))
    loads = (
        platform_kg
        if platform_kg is not None
        else platform_loads(window.counts, zero_counts, span_per_cell(scale), scale.cells_per_platform)
    )
    times = window.times_s  # the real clock (the profile's warped clock replaces window.times_s below)
    rate_hz = (
        (times.size - 1) / float(times[-1] - times[0])
        if times.size > 1 and times[-1] > times[0]
        else float(scale.sample_rate_hz)
    )
    axle_speeds_mps, spacings = crossing_kinematics(
        entry_t_s, exit_t_s, scale.entry_strip_x_m, scale.exit_x_m
    )
    speeds_mps = axle_speeds_mps
    profile: SpeedProfile | None = None
    if wim.speed_profile != "per_axle_constant":
        profile = lane_speed_profile(entry_t_s, exit_t_s, mid_t_s, scale, wim, edge_events, centre_points)
    if profile is not None and not profile.monotone:
        problems.append(
            f"the axle strip times put a standstill or a reversal on the scale (speed from"
            f" {profile.start_speed_mps * 3.6:.1f} to {profile.end_speed_mps * 3.6:.1f} km/h): stop-and-go"
        )
        profile = None
    if profile is not None:
        # On the profile's warped clock every axle moves at one constant speed: the kernels apply as they are.
        warped_t, entry_t_s, exit_t_s, _ = warped_times(
            window.times_s, *profile.clock_args, scale.entry_strip_x_m, scale.exit_x_m
        )
        window = replace(window, times_s=warped_t)
        speeds_mps, spacings = crossing_kinematics(entry_t_s, exit_t_s, scale.entry_strip_x_m, scale.exit_x_m)
    ata, atb, btb, used = axle_normal_equations(
        window.times_s,
        loads,
        edges,
        entry_t_s,
        exit_t_s,
        scale.entry_strip_x_m,
        scale.exit_x_m,
        scale.edge_margin_m,
        scale.tyre_footprint_m,
    )
    n_axles = entry_t_s.shape[0]
    axle_loads: npt.NDArray[np.float64] = np.full(n_axles, np.nan)
    residual_rms = float("nan")
    signal_rms = float("nan")
    axle_signal_rms = float("nan")
    axle_u: npt.NDArray[np.float64] = np.full(n_axles, np.nan)
    gross_u = math.nan
    transfer_shown = 0.0
    every_axle_measured = False
    axle_cov: npt.NDArray[np.float64] = np.full((n_axles, n_axles), np.nan)
    motion_kg: npt.NDArray[np.float64] = np.zeros(n_axles)
    if used == 0:
        problems.append("no load samples usable for this crossing")
    elif not _separable(ata):
        problems.append("axle loads cannot be separated (axles never stood on different platforms)")
    else:
        axle_loads = np.asarray(np.linalg.solve(ata, atb), dtype=np.float64)
        sse = btb - 2.0 * float(axle_loads @ atb) + float(axle_loads @ ata @ axle_loads)
        residual_rms = float(np.sqrt(max(sse, 0.0) / used))
        # |A x|^2 = x . A^T b at the least-squares solution: the modelled signal's energy; sum_i x_i^2 A_ii
        # the same with each axle's share of it counted alone.
        signal_rms = float(np.sqrt(max(float(axle_loads @ atb), 0.0) / used))
        axle_signal_rms = float(np.sqrt(max(float(axle_loads**2 @ np.diag(ata)), 0.0) / used))
        residuals = (
            None
            if loads_only
            else axle_residuals(
                window.times_s,
                loads,
                edges,
                entry_t_s,
                exit_t_s,
                scale.entry_strip_x_m,
                scale.exit_x_m,
                scale.edge_margin_m,
                scale.tyre_footprint_m,
                axle_loads,
            )
        )
        steady_loads = axle_loads
        body: _BodyFit | None = None
        if wim.dynamic_knot_m > 0 and np.all(axle_loads > 0) and np.all(speeds_mps > 0):
            axle_loads, body = _with_body_dynamics(
                window,
                loads,
                edges,
                entry_t_s,
                exit_t_s,
                scale,
                wim,
                group_max_spacing_m,
                axle_loads,
                speeds_mps,
                spacings,
                max(sse, 0.0) / used,
                btb,
                max(sse, 0.0),
                zero_variance_kg2 is not None,
            )
        if body is not None and rules is not None and wim.uncertainty_misfit_floor:
            # A misfit near what normal driving allows (a jump, a brake pulse) is not taken as a sprung
            # body's motion, however well the body terms fit it: the share left is at least the misfit's
            # share of the allowance, squared.
            mean_kmh = float(np.mean(axle_speeds_mps)) * 3.6
            allowed_kg = residual_allowance_fraction(rules, mean_kmh) * math.sqrt(
                (signal_rms**2 + axle_signal_rms**2) / 2
            )
            if allowed_kg > 0:
                body = replace(body, left=max(body.left, min(residual_rms / allowed_kg, 1.0) ** 2))
        zero_cov = None
        if zero_variance_kg2 is not None and np.all(np.isfinite(zero_variance_kg2)):
            # Each platform's zero error e_p is a constant offset of its signal over the whole crossing: it
            # moves the axle loads by the fit's response to a unit constant on that platform, s_p, which
            # the fit that gave the loads computes from its own normal equations.
            sensitivity: npt.NDArray[np.float64] = (
                body.zero_sensitivity
                if body is not None and body.zero_sensitivity is not None
                else np.asarray(
                    np.linalg.solve(
                        ata, _constant_responses(window, loads.shape, edges, entry_t_s, exit_t_s, scale)
                    ),
                    dtype=np.float64,
                )
            )
            zero_cov = (sensitivity * zero_variance_kg2) @ sensitivity.T
        motion_kg = _motion_kg(axle_loads, profile, scale)
        if residuals is not None:
            axle_u, gross_u, axle_cov = _uncertainties(
                ata, residuals, rate_hz, wim, motion_kg, body, zero_cov
            )
        mean_speed_mps = float(np.mean(axle_speeds_mps))
        if (
            wim.moment_split
            and scale.cells_per_platform == 4
            and np.all(np.isfinite(axle_cov))
            and math.isfinite(mean_speed_mps)
            and mean_speed_mps > 0
        ):
            # The exit cells tell a group's axles apart over the whole residence (edge.wim.moment): an
            # update of the loads and their covariance, the footprint fit's the prior.
            positions = (
                profile.front_x(times)[:, None] - profile.offsets_m[None, :]
                if profile is not None
                else axle_positions_ref(
                    window.times_s, entry_t_s, exit_t_s, scale.entry_strip_x_m, scale.exit_x_m
                )
            )
            split = moment_split(
                positions,
                loads,
                exit_kg
                if exit_kg is not None
                else exit_loads(window.counts, zero_counts, span_per_cell(scale)),
                edges,
                scale.tyre_footprint_m,
                scale.edge_margin_m,
                axle_loads,
                axle_cov,
                _groups(spacings, group_max_spacing_m),
                mean_speed_mps * scale.strip_timing_sd_s,
                max(
                    round(wim.uncertainty_block_s * rate_hz),
                    round(MOMENT_BLOCK_M / mean_speed_mps * rate_hz),
                    round(rate_hz / (2.0 * wim.body_min_frequency_hz)),
                    1,
                ),
                rate_hz / mean_speed_mps,
            )
            if split.platforms:
                axle_loads = split.loads_kg
                axle_cov = split.covariance_kg2
                axle_u = UNCERTAINTY_COVERAGE_FACTOR * np.sqrt(np.maximum(np.diag(axle_cov), 0.0))
                gross_u = UNCERTAINTY_COVERAGE_FACTOR * math.sqrt(max(float(axle_cov.sum()), 0.0))
        accels = (
            profile.mean_accel_mps2(strip_t_s[0], strip_t_s[1]) if profile is not None else np.zeros(n_axles)
        )
        accel_u = np.zeros(n_axles)
        if profile is not None and stretches:
            # An axle that stood alone on a platform shows its own acceleration there; where one departs
            # from the profile's beyond its noise (a brake between two axles' weighings), the measured
            # ones replace the profile's.
            accels, accel_u = centre_accelerations(
                stretches, profile, accels, wim.load_centre_accel_tolerance_mps2
            )
            every_axle_measured = bool(np.all(accel_u != 0.0))
        if profile is not None and np.all(steady_loads > 0) and np.any(accels != 0.0):
            # Pitch load transfer: the fit weighs the loads as they were under the measured acceleration;
            # the static loads are those less the transfer of a typical centre of gravity, uncertain by
            # the transfer of the spread of heights.  Each axle is weighed under the mean acceleration
            # of its own time on the scale (all the same under a constant acceleration; a ramp's differ),
            # or the one its centre of load showed (above).
            # A combination speeding up pitches its towing unit alone (pitch_transfer_kg).
            towing = towing_axles(
                spacings,
                group_max_spacing_m,
                rules.steer_group_max_spacing_m if rules is not None else steer_group_max_spacing_m,
            )
            typical, spread_m = (
                (CG_HEIGHT_TYPICAL_M, COUPLING_HEIGHT_M),
                (CG_HEIGHT_SPREAD_M, COUPLING_HEIGHT_SPREAD_M),
            )
            loads_now = axle_loads
            moved = _pitch_transfer_per_mps2(loads_now, spacings, accels, typical, towing) * accels
            axle_loads = loads_now - moved
            # One uncertain height moves load between all the axles at once: a fully correlated (rank-1)
            # term, which cancels in the gross under a constant acceleration (the transfer sums to zero)
            # but not in a group's sum.
            spread = _pitch_transfer_per_mps2(axle_loads, spacings, accels, spread_m, towing) * accels
            axle_cov = axle_cov + np.outer(spread, spread)
            axle_u = np.sqrt(axle_u**2 + (UNCERTAINTY_COVERAGE_FACTOR * spread) ** 2)
            if towing is not None and np.any(accels > 0):
                # The trailer's own pitch about the coupling, left out of the correction: one more rank-1
                # term, at the mean acceleration of its axles speeding up.
                trailing = _trailer_pitch_per_mps2(axle_loads, spacings, towing) * float(
                    np.mean(np.maximum(accels, 0.0))
                )
                axle_cov = axle_cov + np.outer(trailing, trailing)
                axle_u = np.sqrt(axle_u**2 + (UNCERTAINTY_COVERAGE_FACTOR * trailing) ** 2)
            # Under a ramp the axles were weighed at different accelerations and the transfer no longer
            # cancels in the gross.  All of what the correction moved the gross by is taken as expanded
            # uncertainty, with the height's share (zero under a constant acceleration), except where
            # every axle's own acceleration was measured (each stood alone on a platform: their noise is
            # the term below) and none braked beyond twice its error: the body then follows the speed-up
            # with its pitch's lag, bounded over the axles' time on the scale (pitch_lag_share).  A
            # profile's accelerations carry its model's error, which no other term holds (on the
            # independent model, its long scales' blips lost coverage when they took the lag share); a
            # brake's transfer departs from the correction by more than the lag explains, and a brake
            # pulse is how a jump starts.
            shift = _transfer_shift_kg(moved, loads_now, spacings, accels, towing)
            if every_axle_measured and np.all(accels >= -2.0 * accel_u):
                shift *= pitch_lag_share(float(edges[-1]), mean_speed_mps, wim.body_min_frequency_hz)
            # Measured accelerations carry their own noise, independent between the axles.
            noise = _pitch_noise_per_mps2(axle_loads, spacings, accels, accel_u, towing) * accel_u
            axle_cov = axle_cov + np.diag(noise**2)
            axle_u = np.sqrt(axle_u**2 + (UNCERTAINTY_COVERAGE_FACTOR * noise) ** 2)
            gross_u = math.sqrt(
                gross_u**2
                + shift**2
                + (UNCERTAINTY_COVERAGE_FACTOR * float(np.sum(spread))) ** 2
                + (UNCERTAINTY_COVERAGE_FACTOR * float(np.linalg.norm(noise))) ** 2
            )
    mean_speed = float(np.mean(axle_speeds_mps)) if n_axles else float("nan")
    resolved = _pulse_resolved(profile, scale, mean_speed)
    if (
        (wim.pulse_uncertainty or resolved)
        and not loads_only
        and profile is not None
        and np.all(np.isfinite(axle_loads))
        and np.all(axle_loads > 0)
    ):
        pulse = _pulse_covariance(strip_t_s, mid_t_s, scale, profile, axle_loads, spacings)
        if pulse is not None:
            k = UNCERTAINTY_COVERAGE_FACTOR
            added = pulse
            if resolved:
                # The pulse term takes the misfit term's share of the gross; its share that moves load
                # between the axles (projected to sum zero) is kept, in part: an axle's variance goes
                # from D_ii to D_ii (1 - 2/n) + tr(D) / n^2.
                centring = np.eye(n_axles) - 1.0 / n_axles
                motion = np.diag(motion_kg**2)
                added = pulse - motion + centring @ motion @ centring
            axle_cov = axle_cov + added
            axle_u = np.sqrt(np.maximum(axle_u**2 + k**2 * np.diag(added), 0.0))
            gross_u = math.sqrt(max(gross_u**2 + k**2 * float(added.sum()), 0.0))
    if (
        profile is not None
        and not loads_only
        and math.isnan(profile.ramp_start_s)
        and profile.accel_mps2 < 0
        and not every_axle_measured
        and np.all(np.isfinite(axle_loads))
    ):
        # A brake that the constant acceleration spread over the crossing, which the events show beyond
        # their noise (one that starts as a short platform's first axles leave it), moved the gross by its
        # pitch transfer between the axles' weighings: all of it, at a high centre of gravity, is taken
        # as expanded uncertainty, as a ramp's shift is.  Not where every axle's own acceleration already
        # corrected it (above: the same brake, its shift in the uncertainty already); where some axles
        # kept the profile's (a tridem that never stood alone), theirs still spread it.  A speed-up is
        # brief (a throttle blip: an engine cannot hold what brakes can), the body's pitch does not reach
        # the transfer in that time, and the pulse and misfit terms judge it.  The gate is the profile's
        # mean acceleration, not the jerk's sign: a slowing truck whose brake eases counts too.
        transfer_shown = _shown_transfer_change(
            strip_t_s, mid_t_s, scale, axle_loads, spacings, centre_points
        )
        gross_u = math.hypot(gross_u, transfer_shown)
    # A ramp is by its fit not a steady acceleration: no test of steadiness applies (NaN); one that brakes
    # harder than rules.max_accel_mps2 is re-weighed, one that speeds up is judged on its gross uncertainty.
    transfer_change = (
        _transfer_change(strip_t_s, mid_t_s, scale, axle_loads, spacings, centre_points)
        if profile is not None and not loads_only and math.isnan(profile.ramp_start_s)
        else math.nan
    )
    return WimMeasurement(
        axle_loads_kg=tuple(float(v) for v in axle_loads),
        axle_spacings_m=tuple(float(v) for v in spacings),
        axle_speeds_kmh=tuple(float(v) * 3.6 for v in axle_speeds_mps),
        speed_kmh=mean_speed * 3.6,
        gross_kg=float(np.sum(axle_loads)),
        residual_rms_kg=residual_rms,
        samples_used=int(used),
        samples_lost=window.samples_lost,
        problems=tuple(problems),
        accel_mps2=profile.accel_mps2 if profile is not None else 0.0,
        speed_change_fraction=profile.speed_change_fraction if profile is not None else 0.0,
        profile_misfit_m=profile.misfit_rms_m if profile is not None else 0.0,
        axle_uncertainties_kg=tuple(float(v) for v in axle_u),
        gross_uncertainty_kg=gross_u,
        axle_covariance_kg2=tuple(tuple(float(v) for v in row) for row in axle_cov)
        if np.all(np.isfinite(axle_cov))
        else (),
        transfer_change_kg=transfer_change,
        transfer_shown_kg=transfer_shown,
        signal_rms_kg=signal_rms,
        axle_signal_rms_kg=axle_signal_rms,
        speed_profile=profile,
    )


def lane_speed_profile(
    entry_t_s: npt.NDArray[np.float64],
    exit_t_s: npt.NDArray[np.float64],
    mid_t_s: npt.NDArray[np.float64] | None,
    scale: ScaleConfig,
    wim: WimConfig,
    edge_events: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None,
    centre_events: PointEvents | None = None,
) -> SpeedProfile | None:
    """The speed profile the lane's configuration fits to a crossing's strip times (``wim.speed_profile``:
    a ramp where the events show one, else the constant acceleration; see :mod:`edge.wim.motion`), and
    to the load signals' joint events where given (``edge_events``: axles x joints times, the joints'
    positions; :func:`estimate_crossing`) and the centre of load's positions (``centre_events``)."""
    edge_t_s, edge_x_m = edge_events if edge_events is not None else (None, np.zeros(0))
    return fit_speed_profile(
        entry_t_s,
        exit_t_s,
        scale.entry_strip_x_m,
        scale.exit_x_m,
        mid_t_s,
        scale.mid_strips_x_m,
        ramp_timing_sd_s=scale.strip_timing_sd_s if wim.speed_profile == "ramp" else None,
        edge_t_s=edge_t_s,
        edge_x_m=edge_x_m,
        edge_weight=scale.strip_timing_sd_s / wim.load_edge_timing_sd_s
        if wim.load_edge_timing_sd_s > 0
        else 0.0,
        point_events=centre_events,
    )


def load_centre(
    window: SampleWindow,
    zero_counts: npt.NDArray[np.float64],
    entry_t_s: npt.NDArray[np.float64],
    exit_t_s: npt.NDArray[np.float64],
    mid_t_s: npt.NDArray[np.float64] | None,
    scale: ScaleConfig,
    wim: WimConfig,
    platform_kg: npt.NDArray[np.float64] | None = None,
    exit_kg: npt.NDArray[np.float64] | None = None,
) -> tuple[PointEvents | None, list[Stretch]]:
    """The centre of load of a crossing (:mod:`edge.wim.centre`; ``platform_kg`` the zeroed platform
    loads and ``exit_kg`` the exit cells' when the caller has them): its events, weighted against the strips
    (their timing uncertainty in metres, at the scale's length over the axles' mean time on it, over
    ``wim.load_centre_sd_m``), and its stretches; (None, []) where not used (``wim.load_centre_sd_m`` 0,
    no speed profile, an incomplete crossing or a first profile that is not monotone).  A platform whose
    events do not follow the lever rule gives neither (:func:`_follows_lever_rule`: cells wired in another
    order, or a load split evenly over the corners, weigh as without the centre of load)."""
    if (
        not wim.load_centre_sd_m > 0
        or wim.speed_profile == "per_axle_constant"
        or entry_t_s.size == 0
        or not (np.all(np.isfinite(entry_t_s)) and np.all(np.isfinite(exit_t_s)))
    ):
        return None, []
    # Where the strips alone put the axles: a constant acceleration is close enough to tell which stands
    # alone (CENTRE_MARGIN_M), and the ramp's search would cost as much again.
    first = fit_speed_profile(
        entry_t_s, exit_t_s, scale.entry_strip_x_m, scale.exit_x_m, mid_t_s, scale.mid_strips_x_m
    )
    travel_s = float(np.mean(exit_t_s - entry_t_s))
    if first is None or not first.monotone or not travel_s > 0:
        return None, []
    span = span_per_cell(scale)
    total_kg = (
        platform_kg
        if platform_kg is not None
        else platform_loads(window.counts, zero_counts, span, scale.cells_per_platform)
    )
    if exit_kg is None:
        exit_kg = exit_loads(window.counts, zero_counts, span)
    edges = np.concatenate(([0.0], np.cumsum(scale.platform_lengths_m)))
    runs = lone_runs(window.times_s, total_kg, edges, first, scale.tyre_footprint_m)
    run_of, t_s, x_m = centre_events(runs, window.times_s, exit_kg, total_kg, edges)
    platform = np.array([runs[k].platform for k in run_of], dtype=np.intp)
    axle = np.array([runs[k].axle for k in run_of], dtype=np.intp)
    strips_x_m = first.front_x(t_s) - first.offsets_m[axle]
    good = set()
    for q in np.unique(platform):
        on = platform == q
        if _follows_lever_rule(run_of[on], t_s[on], x_m[on], strips_x_m[on]):
            good.add(int(q))
    stretches = centre_stretches(
        [run for run in runs if run.platform in good], window.times_s, exit_kg, total_kg, edges
    )
    kept = np.isin(platform, list(good))
    if not np.any(kept):
        return None, stretches
    weight = (
        scale.strip_timing_sd_s * (scale.exit_x_m - scale.entry_strip_x_m) / travel_s / wim.load_centre_sd_m
    )
    return PointEvents(axle[kept], t_s[kept], x_m[kept], np.full(int(kept.sum()), weight)), stretches


def _follows_lever_rule(
    run_of: npt.NDArray[np.intp],
    t_s: npt.NDArray[np.float64],
    x_m: npt.NDArray[np.float64],
    strips_x_m: npt.NDArray[np.float64],
) -> bool:
    """Whether one platform's centre-of-load events (their runs, times and positions, and where the
    strips' profile puts the axles then) look like the lever rule's: within
    :data:`edge.wim.centre.CENTRE_MAX_DISAGREEMENT_M` of the strips' places in the median, and, over the
    runs of two or more events, travelling in the median within :data:`edge.wim.centre.CENTRE_TRAVEL_RATIO`
    of what the strips' profile travels between the run's first and last events."""
    if not _median(np.abs(x_m - strips_x_m)) <= CENTRE_MAX_DISAGREEMENT_M:
        return False
    # Each run's first and last events (the first index of its number, forwards and backwards).
    _, first = np.unique(run_of, return_index=True)
    _, from_end = np.unique(run_of[::-1], return_index=True)
    last = run_of.size - 1 - from_end
    travel = strips_x_m[last] - strips_x_m[first]
    both = (last > first) & (travel > 0)
    if not np.any(both):
        return True
    low, high = CENTRE_TRAVEL_RATIO
    ratio = _median((x_m[last[both]] - x_m[first[both]]) / travel[both])
    return bool(low <= ratio <= high)


def _median(values: npt.NDArray[np.float64]) -> float:
    """``np.median`` of a short 1-d array (NaN if empty or any is NaN), the same value by a sort: its
    own partition and mean cost more than the rest of a centre-of-load check."""
    ordered = np.sort(values)
    n = ordered.size
    if n == 0 or math.isnan(float(ordered[-1])):
        return math.nan
    middle = n // 2
    return float(ordered[middle]) if n % 2 else float((ordered[middle - 1] + ordered[middle]) / 2)


def centre_accelerations(
    stretches: Sequence[Stretch],
    profile: SpeedProfile,
    profile_accels_mps2: npt.NDArray[np.float64],
    tolerance_mps2: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The acceleration each axle is weighed under, for its pitch load transfer, and its standard
    uncertainty (m/s²).  By default the profile's (``profile_accels_mps2``: its mean over each axle's time
    on the scale), exact.  An axle that stood alone on a platform (:func:`edge.wim.centre.centre_stretches`)
    shows its own: the mean of its stretches' accelerations weighted by their lengths.  Where any axle's
    departs from the profile's mean over the same stretches by more than twice its raw standard error (of
    that mean, from the stretches' ``accel_se_mps2``) and by more than ``tolerance_mps2``, the profile
    missed a change of acceleration between the axles' weighings (a brake that starts after the front axle
    has left a short platform), and every axle with stretches takes its own, uncertain by the same mean of
    its stretches' calibrated uncertainties (``accel_sd_mps2``); the others keep the profile's."""
    n = profile_accels_mps2.size
    length_s = np.zeros(n)
    measured = np.zeros(n)
    variance = np.zeros(n)
    calibrated = np.zeros(n)
    seen = np.zeros(n)
    for stretch in stretches:
        i = stretch.axle
        if i >= n:
            continue
        length = stretch.t1_s - stretch.t0_s
        length_s[i] += length
        measured[i] += length * stretch.accel_mps2
        variance[i] += (length * stretch.accel_se_mps2) ** 2
        calibrated[i] += (length * stretch.accel_sd_mps2) ** 2
        seen[i] += length * float(
            profile.mean_accel_mps2(np.array([stretch.t0_s]), np.array([stretch.t1_s]))[0]
        )
    have = length_s > 0
    if not np.any(have):
        return profile_accels_mps2, np.zeros(n)
    per = np.where(have, length_s, 1.0)
    measured, seen, se = measured / per, seen / per, np.sqrt(variance) / per
    allowed = np.maximum(UNCERTAINTY_COVERAGE_FACTOR * se, tolerance_mps2)
    if not np.any(have & (np.abs(measured - seen) > allowed)):
        return profile_accels_mps2, np.zeros(n)
    accels: npt.NDArray[np.float64] = np.where(have, measured, profile_accels_mps2)
    errors: npt.NDArray[np.float64] = np.where(have, np.sqrt(calibrated) / per, 0.0)
    return accels, errors


def _transfer_change(
    strip_t_s: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    mid_t_s: npt.NDArray[np.float64] | None,
    scale: ScaleConfig,
    axle_loads_kg: npt.NDArray[np.float64],
    spacings_m: npt.NDArray[np.float64],
    centre_points: PointEvents | None,
) -> float:
    """How far (kg, k = 2) a change of acceleration while the axles were weighed could have moved the gross:
    the estimate of :func:`edge.wim.motion.transfer_change_kg` plus twice its standard uncertainty, for a
    high centre of gravity (typical + 2 x spread: a brake pulse is judged by what it could do to a high
    load), from the strips and ``centre_points`` (the centre of load's places: with them a 2-axle truck on
    a platform shorter than its wheelbase shows its braking steady or not); NaN where they cannot tell."""
    if not (np.all(np.isfinite(axle_loads_kg)) and np.all(axle_loads_kg > 0)):
        return math.nan
    change = _high_load_transfer_change(strip_t_s, mid_t_s, scale, axle_loads_kg, spacings_m, centre_points)
    if change is None:
        return math.nan
    estimate_kg, sd_kg = change
    return abs(estimate_kg) + UNCERTAINTY_COVERAGE_FACTOR * sd_kg


def _high_load_transfer_change(
    strip_t_s: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    mid_t_s: npt.NDArray[np.float64] | None,
    scale: ScaleConfig,
    axle_loads_kg: npt.NDArray[np.float64],
    spacings_m: npt.NDArray[np.float64],
    centre_points: PointEvents | None,
) -> tuple[float, float] | None:
    """:func:`edge.wim.motion.transfer_change_kg` on the lane's strips (and ``centre_points``), for a high
    centre of gravity: (estimate, standard uncertainty), kg."""
    return transfer_change_kg(
        strip_t_s[0],
        strip_t_s[1],
        scale.entry_strip_x_m,
        scale.exit_x_m,
        _high_load_transfer_per_mps2(axle_loads_kg, spacings_m),
        scale.strip_timing_sd_s,
        mid_t_s,
        scale.mid_strips_x_m,
        centre_points,
    )


TRANSFER_SHOWN_Z = 2.0
"""A change of acceleration's gross transfer (:func:`edge.wim.motion.transfer_change_kg`) whose estimate is
more than this many standard uncertainties from zero is shown by the events (:func:`_shown_transfer_change`)."""


def _shown_transfer_change(
    strip_t_s: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    mid_t_s: npt.NDArray[np.float64] | None,
    scale: ScaleConfig,
    axle_loads_kg: npt.NDArray[np.float64],
    spacings_m: npt.NDArray[np.float64],
    centre_points: PointEvents | None,
) -> float:
    """How far (kg) a change of acceleration that the events show moved the gross: the estimate of
    :func:`edge.wim.motion.transfer_change_kg` from the strips and the centre of load's places, for a high
    centre of gravity, where it is more than :data:`TRANSFER_SHOWN_Z` standard uncertainties from zero;
    else (or where the events cannot tell) 0.  :func:`estimate_crossing` counts it for a slowing truck's
    constant-acceleration profile.

    A constant acceleration fits a truck that brakes just after its steer axles have left a 4.2 m platform
    as well as one that slows steadily, within the strips' noise; an 8x4 truck's tandem, weighed under
    the whole brake, then reads 2-6 % light.  The jerk of the acceleration is one number, and the centre
    of load's places show it long before the events' overall misfit does (the independent model's 8x4
    trucks braking at 0.35-2 m/s² as their steer pair leaves at 30 and 36 km/h, where a ramp is not
    found: 1.3-5.4 % of the gross, within about 2 points of the gross error of 0.9-5.9 %; 14 and 16 of 24
    passed outside the class before, 1 each now).  On throttle blips it read 1.2-1.7 % where the gross was
    within 0.5 %: the body's pitch does not follow a brief pulse quasi-statically, so speed-ups are left
    to the pulse and misfit terms."""
    if not (np.all(axle_loads_kg > 0) and axle_loads_kg.size >= 2):
        return 0.0
    change = _high_load_transfer_change(strip_t_s, mid_t_s, scale, axle_loads_kg, spacings_m, centre_points)
    if change is None:
        return 0.0
    estimate_kg, sd_kg = change
    return abs(estimate_kg) if abs(estimate_kg) > TRANSFER_SHOWN_Z * sd_kg else 0.0


def _high_load_transfer_per_mps2(
    axle_loads_kg: npt.NDArray[np.float64], spacings_m: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Load the pitch moves onto each axle per m/s² for a high centre of gravity (typical + 2 x spread,
    2.2 m): what a change of acceleration is judged by."""
    return pitch_transfer_kg(
        axle_loads_kg, spacings_m, 1.0, CG_HEIGHT_TYPICAL_M + UNCERTAINTY_COVERAGE_FACTOR * CG_HEIGHT_SPREAD_M
    )


def _motion_kg(
    loads_kg: npt.NDArray[np.float64], profile: SpeedProfile | None, scale: ScaleConfig
) -> npt.NDArray[np.float64]:
    """The misfit term: the standard error (kg) the speed profile's misfit puts on each axle load,
    independent between axles.  The misfit (m) moves each axle's weighed interval by about as much at
    both ends; an axle weighed over the scale's length ``D`` is off by about ``load x misfit / D`` per end
    (independent ends; independent axles too, in quadrature for the gross: the misfit is the scatter of
    each axle's own strip times about the profile, whose common error the fit averages down.  Summed in
    full, as before, it made the gross of a 3-6 axle truck on a 4.2 m platform about 2x too uncertain at
    30-40 km/h, where 2-axle trucks, with no misfit, came out honest).  Where the misfit shows a pulse
    (:func:`_pulse_resolved`) the pulse term takes over its share of the gross."""
    motion_m = profile.misfit_rms_m if profile is not None else 0.0
    motion: npt.NDArray[np.float64] = (
        np.abs(loads_kg) * motion_m * math.sqrt(2.0) / sum(scale.platform_lengths_m)
    )
    return motion


PULSE_RESOLVED_NOISE_FACTOR = 6.0
"""On a scale of one platform, a speed profile that misfits the strip events by more than this many times
the strips' timing noise (``scale.strip_timing_sd_s`` at the mean speed, in metres) shows the pulse behind
the misfit, and the pulse term (:func:`_pulse_covariance`) takes the misfit term's share of the gross
(:func:`_pulse_resolved`).  On ``bench/pulse_transfer_model.py``'s rigid 3-5 axle trucks this rule (the
pulse term beyond this ratio, the misfit term within it) covers as many or more of the gross transfers
over 150 kg as the misfit term alone, at strips of 0.1, 1 and 2.3 ms."""


def _pulse_resolved(profile: SpeedProfile | None, scale: ScaleConfig, mean_speed_mps: float) -> bool:
    """Whether the speed profile's misfit shows the pulse that left it, on a scale of one platform.

    The misfit term (:func:`_motion_kg`) reads a misfit as each axle's weighed interval off by as much,
    whatever made it.  On one platform it stands, in the gross, for the pitch transfer of the pulse the
    profile missed: weighing each axle between its own strip times instead left the bench's blips' gross
    errors where they were.  A crawling truck's blip misfits by 5-10 cm but lasts a small part of each
    axle's time on the platform, and the misfit term put 2.6-4.0 % on grosses that were within 0.71 % (8
    and 9 of 300 blips at 5-16 km/h on the single 4.2 m platform, seeds 11 and 2026, re-weighed for it).
    Where the misfit stands well above the strips' noise the strips place the pulse, and the kriged pulse
    term integrates it over each axle's own time on the platform.  On several platforms the misfit also misplaces the
    joints, where an axle's load passes from one platform to the next, which the pulse term does not
    model: the misfit term stays whole there.  A single axle has no pitch to transfer (the term is zero):
    its misfit term stays too.  ``mean_speed_mps``: the mean of the axles' strip speeds, as the estimate
    reports it (the term itself scales the noise by the profile's mean speed; they differ by a blip's
    share of its rise)."""
    if (
        profile is None
        or profile.offsets_m.size < 2
        or len(scale.platform_lengths_m) != 1
        or not mean_speed_mps > 0
    ):
        return False
    noise_m = scale.strip_timing_sd_s * mean_speed_mps
    return noise_m > 0 and profile.misfit_rms_m > PULSE_RESOLVED_NOISE_FACTOR * noise_m


def _pulse_covariance(
    strip_t_s: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    mid_t_s: npt.NDArray[np.float64] | None,
    scale: ScaleConfig,
    profile: SpeedProfile,
    axle_loads_kg: npt.NDArray[np.float64],
    spacings_m: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64] | None:
    """What the acceleration the profile does not follow (a throttle blip, a brake pulse) could have moved
    onto each axle through the body's pitch, as a covariance (kg², standard) of the axle loads: the
    estimate of :func:`edge.wim.motion.pulse_transfer_kg` as its outer product, plus its conditional
    covariance; None where the events cannot show a pulse.  For a high centre of gravity (typical + 2 x
    spread, 2.2 m), as the jerk bound takes it: a pulse is judged by what it could do to a high load.

    The estimate is not applied as a correction: under a jump the body's bounce moves more load than the
    pitch, and the other way (on the bench's single-platform jumps, seed 11, corrected and without the misfit
    term, 9 of 300 passed outside the class).  ``wim.pulse_uncertainty`` adds the term wherever it can be
    computed; on one platform, where the strips place the pulse (:func:`_pulse_resolved`), it takes the
    misfit term's share of the gross by default.
    """
    per_mps2 = _high_load_transfer_per_mps2(axle_loads_kg, spacings_m)
    result = pulse_transfer_kg(
        strip_t_s[0],
        strip_t_s[1],
        scale.entry_strip_x_m,
        scale.exit_x_m,
        (0.0, float(sum(scale.platform_lengths_m))),
        profile,
        per_mps2,
        scale.strip_timing_sd_s,
        mid_t_s,
        scale.mid_strips_x_m,
    )
    if result is None:
        return None
    estimate, covariance = result
    pulse: npt.NDArray[np.float64] = covariance + np.outer(estimate, estimate)
    return pulse


UNCERTAINTY_COVERAGE_FACTOR = 2.0
"""k of the expanded uncertainties (about 95 % coverage)."""


def _uncertainties(
    ata: npt.NDArray[np.float64],
    residuals_kg: npt.NDArray[np.float64],
    rate_hz: float,
    wim: WimConfig,
    motion_kg: npt.NDArray[np.float64],
    body: _BodyFit | None = None,
    zero_covariance: npt.NDArray[np.float64] | None = None,
) -> tuple[npt.NDArray[np.float64], float, npt.NDArray[np.float64]]:
    """Expanded uncertainties (k = 2) of the axle loads and the gross from the crossing's own evidence,
    and the standard (k = 1) covariance of the axle loads they come from.

    * The load fit: the least-squares covariance ``(A^T A)^-1 s^2 c`` of the steady fit, with ``s^2 c``
      estimated by batch means: the residuals of each platform, in blocks of ``wim.uncertainty_block_s``,
      give ``s^2 c = B var(block means)`` (``B`` samples a block).  White noise gives ``c = 1``; a body
      that bounces, or a brake pulse, keeps the residual on one side for many samples and ``c`` grows
      with it.  So it grows with the misfit and how long it lasts, and shrinks with the residence time and
      the platforms an axle is weighed on.
    * The body (when its fit ran): the body-dynamics fit explains most of the steady fit's residual (a
      bouncing body is not an error of the static loads), so ``s^2 c`` is scaled by the share of the
      residual it leaves (with ``wim.uncertainty_misfit_floor``, by no less than (misfit / the misfit
      normal driving is allowed)^2, the estimator before ``rules.max_accel_mps2``: it sent normal crossings
      near the allowance to re-weigh).  Where body terms and loads cannot be told apart (one short platform, a brake
      pulse while an axle stands alone on it) that fit explains the residual by trading one for the
      other: its system's inverse (loads with the body terms integrated out) then grows by as much; it
      replaces ``(A^T A)^-1``.
    * Calibration: ``s^2 c`` is multiplied by ``wim.uncertainty_variance_factor`` (0.7): batch means over
      0.1 s blocks overstate the long-run variance of residuals that oscillate at 1.5-15 Hz (on the
      bench's speed-change population the plain estimate covered 100 % of gross errors at k = 2).
    * The motion: ``motion_kg`` (standard, kg, per axle, independent: :func:`_motion_kg`).
    * The zero (``zero_covariance``, when the caller knows its error): ``sum_p s_p s_p^T var(e_p)``, each
      platform's zero error ``e_p`` moving every axle weighed on it by the fit's response ``s_p`` to a unit
      constant on that platform (:func:`estimate_crossing`).  It adds to the axles of a group alike (the
      residuals' term makes them anti-correlated), and to the gross in full, where an axle weighed on one
      platform only takes all of that platform's zero error.  On a noiseless truck it is most of a
      group's and the gross's uncertainty; beside body motion and axle hop it is small.
    """
    n_axles = motion_kg.size
    try:
        inverse = np.linalg.inv(ata)
    except np.linalg.LinAlgError:
        return np.full(n_axles, np.nan), math.nan, np.full((n_axles, n_axles), np.nan)
    block = max(round(wim.uncertainty_block_s * rate_hz), 1)
    squares, count, block_mean_squares, n_blocks = residual_batch_means(residuals_kg, block)
    if count == 0:
        return np.full(n_axles, np.nan), math.nan, np.full((n_axles, n_axles), np.nan)
    white = squares / count
    # Too few blocks to tell: take the residuals as correlated over a whole block (the cautious side).
    block_variance = block_mean_squares / n_blocks * block if n_blocks >= 4 else white * block
    variance = max(block_variance, white) * wim.uncertainty_variance_factor
    if body is not None:
        inverse = body.axle_inverse
        variance *= body.left
    covariance = inverse * variance
    axle_cov: npt.NDArray[np.float64] = np.asarray(covariance + np.diag(motion_kg**2), dtype=np.float64)
    if zero_covariance is not None:
        axle_cov = axle_cov + zero_covariance
    axle_var = np.diag(axle_cov)
    gross_var = float(axle_cov.sum())
    k = UNCERTAINTY_COVERAGE_FACTOR
    return k * np.sqrt(np.maximum(axle_var, 0.0)), k * math.sqrt(max(gross_var, 0.0)), axle_cov


CG_HEIGHT_TYPICAL_M = 1.5
"""Centre-of-gravity height of a typical laden heavy truck (m): the pitch load transfer the axle loads are
corrected for under the measured acceleration (:func:`pitch_transfer_kg`)."""

CG_HEIGHT_SPREAD_M = 0.35
"""Standard uncertainty of that height (m): an empty truck's is about 1.0-1.2 m, a high load's 2.0-2.2 m;
the transfer of this height widens each axle load's uncertainty (k = 2 applied), as one term shared by all
the axles (rank 1 in their covariance: it moves load between them and leaves the gross alone)."""


COUPLING_HEIGHT_M = 1.2
"""Height (m) at which a combination's towing unit pulls its trailer (a fifth wheel's 1.1-1.35 m; a
drawbar's lower), about that of the towing unit's own centre of gravity: under traction the drive axles
pull the whole combination, whose inertia then pitches the towing unit alone at about this height
(:func:`pitch_transfer_kg`)."""

COUPLING_HEIGHT_SPREAD_M = 0.2
"""Standard uncertainty of that effective height (m): the coupling's and the towing unit's own centre of
gravity's spread.  The trailer's own pitch about its coupling (its centre of gravity above the fifth
wheel), left out of the correction, has a term of its own (:data:`TRAILER_PITCH_SPREAD_M`)."""


def pitch_transfer_kg(
    loads_kg: npt.NDArray[np.float64],
    spacings_m: npt.NDArray[np.float64],
    accel_mps2: float,
    cg_height_m: float,
    towing: Sequence[int] | None = None,
    coupling_height_m: float = COUPLING_HEIGHT_M,
) -> npt.NDArray[np.float64]:
    """Load moved onto each axle (kg, signed) by the body's pitch under a steady ``accel_mps2``.

    The inertia force ``M a`` at the centre of gravity (height ``h``) is a moment ``M a h`` on the whole
    vehicle; on suspensions as stiff as the loads they carry it moves ``-M a h L_i d_i / (g sum_j L_j
    d_j^2)`` onto axle ``i`` (``d_i`` its distance ahead of the vehicle's load centroid): braking loads
    the front axles.  The gross does not change.

    A combination speeding up (``towing``: its towing unit's axles, :func:`towing_axles`; ``accel_mps2``
    > 0) is pulled by the towing unit's drive axles alone: the trailer's inertia acts on the towing unit at
    the coupling, so the whole combination's ``M a``, at ``coupling_height_m``, pitches the towing unit
    alone and moves load between its axles only (by the same rule over them); the trailer's axles take none
    (its own pitch about the coupling is left out).  On a tractor's 3.5-4 m wheelbase that is 3-4 times
    what the whole-vehicle rule gives its steer axle (an independent model's tractors read their steer
    axle 3-5 % light at 0.2-0.3 m/s^2 with it).  Braking keeps the whole-vehicle rule: each unit brakes
    its own mass."""
    gross_kg = float(loads_kg.sum())
    position_m = np.concatenate(([0.0], np.cumsum(spacings_m)))
    if loads_kg.size < 2 or gross_kg <= 0 or accel_mps2 == 0.0:
        return np.zeros(loads_kg.size)
    moved: npt.NDArray[np.float64] = np.zeros(loads_kg.size)
    if towing is not None and accel_mps2 > 0:
        unit = np.asarray(towing, dtype=np.intp)
        unit_kg = loads_kg[unit]
        if not float(unit_kg.sum()) > 0:
            return moved
        ahead_m = -(position_m[unit] - float(np.dot(unit_kg, position_m[unit])) / float(unit_kg.sum()))
        moment = float(np.dot(unit_kg, ahead_m * ahead_m))
        if moment > 1e-9:
            moved[unit] = (
                -gross_kg * accel_mps2 * coupling_height_m * unit_kg * ahead_m / (GRAVITY_MPS2 * moment)
            )
        return moved
    ahead_m = -(position_m - float(np.dot(loads_kg, position_m)) / gross_kg)
    moment = float(np.dot(loads_kg, ahead_m * ahead_m))
    if moment <= 1e-9:
        return moved
    rigid: npt.NDArray[np.float64] = (
        -gross_kg * accel_mps2 * cg_height_m * loads_kg * ahead_m / (GRAVITY_MPS2 * moment)
    )
    return rigid


def towing_axles(
    spacings_m: npt.NDArray[np.float64], group_max_spacing_m: float, steer_group_max_spacing_m: float
) -> list[int] | None:
    """The towing unit's axles (its first two axle groups) where the axle spacings make a combination as
    the rules classify one (``edge.rules.limits.classify``: three groups or more, a twin steer on 3 or 4
    axles counted as one group), else None (a rigid vehicle).  A towing unit spans
    ``MIN_TOWING_WHEELBASE_M`` or more: two groups closer than that are a twin steer (read a few cm over
    the group limit, or ahead of a 5th axle, where the rules do not join them) and the next group is its
    drive, joined to it; with no group left for a trailer it is a rigid vehicle."""
    if spacings_m.size < 2 or not np.all(np.isfinite(spacings_m)):
        return None
    twin_steer = (
        spacings_m.size in (2, 3)
        and spacings_m[0] <= max(group_max_spacing_m, steer_group_max_spacing_m)
        and spacings_m[1] > group_max_spacing_m
    )
    groups: list[list[int]] = [[0]]
    for axle, spacing_m in enumerate(spacings_m, start=1):
        if spacing_m <= group_max_spacing_m or (axle == 1 and twin_steer):
            groups[-1].append(axle)
        else:
            groups.append([axle])
    if len(groups) < 3:
        return None
    position_m = np.concatenate(([0.0], np.cumsum(spacings_m)))
    towing = groups[0] + groups[1]
    rest = groups[2:]
    while rest and float(position_m[towing[-1]] - position_m[towing[0]]) < MIN_TOWING_WHEELBASE_M:
        towing += rest.pop(0)
    return towing if rest else None


MIN_TOWING_WHEELBASE_M = 2.5
"""Shortest span of a towing unit's axles (m): a tractor's or towing truck's wheelbase is 3 m or more; a
twin steer is 1.8-2.4 m."""

GRAVITY_MPS2 = 9.81


def _pitch_transfer_per_mps2(
    loads_kg: npt.NDArray[np.float64],
    spacings_m: npt.NDArray[np.float64],
    accels_mps2: npt.NDArray[np.float64],
    heights_m: tuple[float, float],
    towing: Sequence[int] | None,
) -> npt.NDArray[np.float64]:
    """Load moved onto each axle (kg) per m/s² of the acceleration it was weighed at (``accels_mps2``,
    whose sign chooses the rule: :func:`pitch_transfer_kg` at +-1 m/s^2, the transfer being linear in it):
    ``heights_m`` the centre of gravity's and the coupling's (or their spreads')."""
    cg_height_m, coupling_height_m = heights_m
    per_mps2 = pitch_transfer_kg(loads_kg, spacings_m, 1.0, cg_height_m)
    if towing is None or not np.any(accels_mps2 > 0):
        return per_mps2
    traction = pitch_transfer_kg(loads_kg, spacings_m, 1.0, cg_height_m, towing, coupling_height_m)
    chosen: npt.NDArray[np.float64] = np.where(accels_mps2 > 0, traction, per_mps2)
    return chosen


def _transfer_shift_kg(
    moved_kg: npt.NDArray[np.float64],
    loads_kg: npt.NDArray[np.float64],
    spacings_m: npt.NDArray[np.float64],
    accels_mps2: npt.NDArray[np.float64],
    towing: Sequence[int] | None,
) -> float:
    """What the pitch correction ``moved_kg`` moved the gross by (each axle at its own acceleration), taken
    as the gross's uncertainty.  A combination's trailer pitches about its coupling too (left out of the
    correction: its centre of gravity's height over the coupling is not known), which the whole-vehicle
    rule gives it: the larger of the two shifts (the correction's shrinks where the trailer's axles took
    none of it)."""
    shift = abs(float(np.sum(moved_kg)))
    if towing is None:
        return shift
    rigid = float(np.sum(pitch_transfer_kg(loads_kg, spacings_m, 1.0, CG_HEIGHT_TYPICAL_M) * accels_mps2))
    return max(shift, abs(rigid))


def pitch_lag_share(scale_length_m: float, mean_speed_mps: float, min_frequency_hz: float) -> float:
    """Share of the pitch correction's gross shift (:func:`_transfer_shift_kg`) its expanded uncertainty
    takes: a bound on how far the body's pitch, lagging a change of acceleration, leaves the transfer an axle
    was weighed under from the correction's, over the axle's time on the scale (``scale_length_m`` /
    ``mean_speed_mps``).

    The body follows a step of acceleration as a damped oscillator (its pitch mode, ``min_frequency_hz``
    or faster): the transfer it carries departs from the steady one by ``1 - h(u)`` of the step, whose
    integral over any interval is at most a quarter of the mode's period at a damping ratio of 0.08 or
    more (0.248 at 0.08, 0.18 at 0.3; it rises to 1/pi as the damping vanishes, 0.27 at 0.05).  The mean
    over an axle's weighing time ``T`` then departs by at most ``P / (4 T)`` of the step's transfer; a
    blip or a brake pulse is two steps: ``P / (2 T)``.  Where ``T`` is under half the period that is
    capped at 1, the whole shift, as before this bound; there two steps can depart by a little more
    (1.21 of a step at T = 0.2 s, 1.5 Hz, damping 0.08).  Over random step times and modes of 1.5-4 Hz
    with damping 0.08-0.3 the departure's RMS is a fifth of the bound or less (0.12 of the correction at
    T = 0.4 s, 0.05 at 0.8 s: ``bench/pitch_lag.py``)."""
    if not (scale_length_m > 0 and mean_speed_mps > 0 and min_frequency_hz > 0):
        return 1.0
    return min(1.0, mean_speed_mps / (2.0 * min_frequency_hz * scale_length_m))


def _pitch_noise_per_mps2(
    loads_kg: npt.NDArray[np.float64],
    spacings_m: npt.NDArray[np.float64],
    accels_mps2: npt.NDArray[np.float64],
    accel_u_mps2: npt.NDArray[np.float64],
    towing: Sequence[int] | None,
) -> npt.NDArray[np.float64]:
    """Load moved onto each axle (kg, unsigned) per m/s² of its measured acceleration's standard
    uncertainty (:attr:`edge.wim.centre.Stretch.accel_sd_mps2`):
    by the rule of the acceleration's sign (:func:`_pitch_transfer_per_mps2`), or the larger of the
    braking and the traction rule's where the acceleration is within twice its standard uncertainty of
    zero (it may have had either sign)."""
    rigid = np.abs(pitch_transfer_kg(loads_kg, spacings_m, 1.0, CG_HEIGHT_TYPICAL_M))
    if towing is None:
        return rigid
    traction = np.abs(pitch_transfer_kg(loads_kg, spacings_m, 1.0, CG_HEIGHT_TYPICAL_M, towing))
    signed = np.where(accels_mps2 > 0, traction, rigid)
    either = np.abs(accels_mps2) < 2.0 * accel_u_mps2
    chosen: npt.NDArray[np.float64] = np.where(either, np.maximum(rigid, traction), signed)
    return chosen


def _trailer_pitch_per_mps2(
    loads_kg: npt.NDArray[np.float64], spacings_m: npt.NDArray[np.float64], towing: Sequence[int]
) -> npt.NDArray[np.float64]:
    """Load the trailer's own pitch about its coupling moves per m/s² (kg, standard uncertainty; the
    correction leaves it out): its inertia ``W a`` at ``TRAILER_PITCH_SPREAD_M`` above or below the
    coupling moves ``W a dh / (g L)`` between the trailer's axles (in proportion to their loads) and the
    towing unit's last group under the coupling (``W`` the trailer's axle loads, ``L`` from that group's
    load centroid to theirs).  The gross does not change."""
    moved = np.zeros(loads_kg.size)
    position_m = np.concatenate(([0.0], np.cumsum(spacings_m)))
    trailer = np.arange(towing[-1] + 1, loads_kg.size)
    # The towing unit's last group, under the coupling.
    under = [towing[-1]]
    while under[0] - 1 in towing and spacings_m[under[0] - 1] <= _COUPLED_GROUP_SPACING_M:
        under.insert(0, under[0] - 1)
    coupled = np.array(under, dtype=np.intp)
    trailer_kg, coupled_kg = loads_kg[trailer], loads_kg[coupled]
    if trailer.size == 0 or not float(trailer_kg.sum()) > 0 or not float(coupled_kg.sum()) > 0:
        return moved
    length_m = float(np.dot(trailer_kg, position_m[trailer]) / trailer_kg.sum()) - float(
        np.dot(coupled_kg, position_m[coupled]) / coupled_kg.sum()
    )
    if not length_m > 0:
        return moved
    total = float(trailer_kg.sum()) * TRAILER_PITCH_SPREAD_M / (GRAVITY_MPS2 * length_m)
    moved[trailer] = total * trailer_kg / float(trailer_kg.sum())
    moved[coupled] = -total * coupled_kg / float(coupled_kg.sum())
    return moved


TRAILER_PITCH_SPREAD_M = 0.5
"""Standard uncertainty (m) of a trailer's centre of gravity's height over its coupling (an empty
trailer's is about level with a fifth wheel's 1.2 m, a laden one's up to 1 m above it): the trailer's own
pitch under traction, which the correction leaves out."""

_COUPLED_GROUP_SPACING_M = 2.0
"""The towing unit's axles at most this far apart behind its first form the group under the coupling."""


def _groups(spacings_m: npt.NDArray[np.float64], group_max_spacing_m: float) -> list[list[int]]:
    groups: list[list[int]] = [[0]]
    for axle, spacing_m in enumerate(spacings_m, start=1):
        if spacing_m <= group_max_spacing_m:
            groups[-1].append(axle)
        else:
            groups.append([axle])
    return groups


def body_term_weights(
    loads_kg: npt.NDArray[np.float64], spacings_m: npt.NDArray[np.float64], group_max_spacing_m: float
) -> npt.NDArray[np.float64]:
    """Per-axle weights (kg) of the heave and pitch terms of each vehicle unit: shape (terms, axles).

    Units as the rules classify, without their twin-steer rule (``rules.steer_group_max_spacing_m``: an 8x4
    whose twin steer measures 2.0-2.4 m is two units here, one rigid truck there): at most two axle groups
    is one rigid body; otherwise the first two groups are the tractor (or towing truck) and the rest the trailer.  Heave moves every axle of a unit
    in proportion to its load (suspension stiffness roughly follows the load it is rated for); pitch in
    proportion to load times distance from the unit's load-weighted centroid, scaled so its
    load-weighted mean square is 1, so one prior spread fits both.
    """
    groups = _groups(spacings_m, group_max_spacing_m)
    if len(groups) <= 2:
        units = [[axle for group in groups for axle in group]]
    else:
        units = [groups[0] + groups[1], [axle for group in groups[2:] for axle in group]]
    position_m = np.concatenate(([0.0], np.cumsum(spacings_m)))
    rows: list[npt.NDArray[np.float64]] = []
    for unit in units:
        heave = np.zeros(loads_kg.size)
        heave[unit] = loads_kg[unit]
        rows.append(heave)
        unit_kg = float(loads_kg[unit].sum())
        ahead_m = position_m[unit] - float(np.dot(loads_kg[unit], position_m[unit])) / unit_kg
        mean_square = float(np.dot(loads_kg[unit], ahead_m * ahead_m)) / unit_kg
        if len(unit) > 1 and mean_square > 1e-6:
            pitch = np.zeros(loads_kg.size)
            pitch[unit] = loads_kg[unit] * ahead_m / math.sqrt(mean_square)
            rows.append(pitch)
    return np.array(rows)


def _with_body_dynamics(
    window: SampleWindow,
    platform_kg: npt.NDArray[np.float64],
    edges_m: npt.NDArray[np.float64],
    entry_t_s: npt.NDArray[np.float64],
    exit_t_s: npt.NDArray[np.float64],
    scale: ScaleConfig,
    wim: WimConfig,
    group_max_spacing_m: float,
    steady_kg: npt.NDArray[np.float64],
    speeds_mps: npt.NDArray[np.float64],
    spacings_m: npt.NDArray[np.float64],
    misfit_variance_kg2: float,
    btb: float,
    steady_sse: float,
    zero_response: bool = False,
) -> tuple[npt.NDArray[np.float64], _BodyFit | None]:
    """Axle loads of the fit with shared body terms (module docstring) and what it says about their
    uncertainty (with ``zero_response``, the loads' response to a unit constant on each platform too);
    the steady fit and None if it fails."""
    n_axles = steady_kg.size
    weights = body_term_weights(steady_kg, spacings_m, group_max_spacing_m)
    half = scale.tyre_footprint_m / 2
    first_on_s = float(np.min(entry_t_s + (edges_m[0] - half - scale.entry_strip_x_m) / speeds_mps))
    last_off_s = float(np.max(entry_t_s + (edges_m[-1] + half - scale.entry_strip_x_m) / speeds_mps))
    step_s = wim.dynamic_knot_m / float(np.mean(speeds_mps))
    n_knots = max(2, math.ceil((last_off_s - first_on_s) / step_s) + 1)

    # The model's layout, shared by the normal equations and the zero responses below.
    layout = (
        edges_m,
        entry_t_s,
        exit_t_s,
        scale.entry_strip_x_m,
        scale.exit_x_m,
        scale.edge_margin_m,
        scale.tyre_footprint_m,
        weights,
        first_on_s,
        step_s,
        n_knots,
    )
    ata, atb = dynamic_normal_equations(window.times_s, platform_kg, *layout)
    # Priors in the units of the data.  A sample's variance is the steady fit's misfit (floored at 0.1 %
    # of the mean axle load, the order of a cell's resolution); samples within the misfit's correlation
    # time count as one.  The body's motion is as large, relative to the load, as that misfit says this
    # truck moved on this crossing (suspension, road, speed: nothing set by hand).  Its time course is
    # a random process with the spectrum of sprung-mass modes (natural frequencies in the body band,
    # zero mean): knots close together in time move together, and the motion cannot hold a steady
    # offset for long, so what stays the same all crossing long is static load.  Its covariance on the
    # knots is Toeplitz (knots evenly spaced in time); at low speed a knot interval spans several body
    # periods, whose motion averages down, and the covariance shrinks with it.
    times = window.times_s
    rate_hz = (
        (times.size - 1) / float(times[-1] - times[0]) if times.size > 1 else float(scale.sample_rate_hz)
    )
    mean_axle_kg = float(np.mean(steady_kg))
    misfit_kg2 = max(misfit_variance_kg2, (1e-3 * mean_axle_kg) ** 2)
    data_variance = misfit_kg2 * max(wim.misfit_correlation_s * rate_hz, 1.0)
    body_variance = misfit_kg2 / mean_axle_kg**2
    lags = body_knot_covariance(
        step_s, n_knots, wim.body_min_frequency_hz, wim.body_max_frequency_hz, wim.body_damping_ratio
    )
    if not lags[0] > 1e-9:  # knot intervals of very many body periods: no body motion survives averaging
        return steady_kg, None
    knots = np.arange(n_knots)
    covariance = lags[np.abs(knots[:, None] - knots[None, :])]
    # The hat basis follows the process only approximately: 0.1 % of the variance independent per knot
    # keeps the covariance invertible when the knots are much closer than the body's periods.
    covariance[knots, knots] += _KNOT_NUGGET * lags[0]
    try:
        knot_precision = np.linalg.inv(covariance) * (data_variance / body_variance)
    except np.linalg.LinAlgError:
        return steady_kg, None
    system = ata.copy()
    for term in range(weights.shape[0]):
        block = slice(n_axles + term * n_knots, n_axles + (term + 1) * n_knots)
        system[block, block] += knot_precision
    if wim.group_share_std > 0:
        for group in _groups(spacings_m, group_max_spacing_m):
            if len(group) < 2:
                continue
            spread_kg = wim.group_share_std * float(np.mean(steady_kg[group]))
            centring = np.eye(len(group)) - 1.0 / len(group)
            system[np.ix_(group, group)] += data_variance / spread_kg**2 * centring
    # Every knot stays in: one no axle stands at is tied to its neighbours by the prior.
    # One factorisation: the solution and the axle block of the system's inverse (the posterior of the
    # axle loads with the body terms integrated out, up to the data variance).
    n_platforms = platform_kg.shape[1] if zero_response else 0
    rhs = np.zeros((system.shape[0], 1 + n_axles + n_platforms))
    rhs[:, 0] = atb
    rhs[np.arange(n_axles), 1 + np.arange(n_axles)] = 1.0
    if n_platforms:
        rhs[:, 1 + n_axles :] = dynamic_unit_responses(window.times_s, n_platforms, *layout)
    try:
        solved = np.linalg.solve(system, rhs)
    except np.linalg.LinAlgError:
        return steady_kg, None
    solution = solved[:, 0]
    loads = np.asarray(solution[:n_axles], dtype=np.float64)
    if not np.all(np.isfinite(loads)):
        return steady_kg, None
    # The residual this fit leaves: |b - A x|^2 from the normal equations of the data alone (no priors).
    sse = max(btb - 2.0 * float(solution @ atb) + float(solution @ ata @ solution), 0.0)
    left = min(sse / steady_sse, 1.0) if steady_sse > 0 else 1.0
    axle_block = np.asarray(solved[:n_axles, 1 : 1 + n_axles], dtype=np.float64)
    response = np.asarray(solved[:n_axles, 1 + n_axles :], dtype=np.float64) if zero_response else None
    return loads, _BodyFit(left, 0.5 * (axle_block + axle_block.T), response)


@dataclass(frozen=True)
class _BodyFit:
    """What the body-dynamics fit says about the uncertainty of its axle loads."""

    left: float  # share of the steady fit's residual sum of squares that it leaves (<= 1)
    # The axle block of its system's inverse (as (A^T A)^-1 of the steady fit).
    axle_inverse: npt.NDArray[np.float64]
    # Its axle loads' response to a unit constant on each platform (axles x platforms); None: not asked.
    zero_sensitivity: npt.NDArray[np.float64] | None = None


def _constant_responses(
    window: SampleWindow,
    shape: tuple[int, ...],
    edges_m: npt.NDArray[np.float64],
    entry_t_s: npt.NDArray[np.float64],
    exit_t_s: npt.NDArray[np.float64],
    scale: ScaleConfig,
) -> npt.NDArray[np.float64]:
    """``A^T u_p`` of the steady fit for a unit constant ``u_p`` on each platform p (axles x platforms):
    the normal equations' right-hand side of a signal that is 1 kg on platform p at every sample, so
    ``(A^T A)^-1 A^T u_p`` is the axle loads' response to an offset of that platform's zero."""
    columns = []
    for p in range(shape[1]):
        unit = np.zeros(shape)
        unit[:, p] = 1.0
        columns.append(
            axle_normal_equations(
                window.times_s,
                unit,
                edges_m,
                entry_t_s,
                exit_t_s,
                scale.entry_strip_x_m,
                scale.exit_x_m,
                scale.edge_margin_m,
                scale.tyre_footprint_m,
            )[1]
        )
    return np.stack(columns, axis=1)


def _beyond(value: float, limit: float) -> str:
    """``value`` with one decimal, or as many more (up to 8) as it takes to show it is not ``limit``
    (40.04 km/h against 40 reads 40.04, not 40.0)."""
    for digits in range(1, 9):
        text = f"{value:.{digits}f}"
        if float(text) != limit:
            return text
    return f"{value:.8f}"


def residual_allowance_fraction(rules: RulesConfig, speed_kmh: float) -> float:
    """The steady fit's RMS misfit normal driving may have, as a fraction of the load the scale carried
    (``WimMeasurement.carried_load_kg``): normal bounce and axle hop grow roughly with sqrt(speed) (dynamic
    load coefficient)."""
    reference = rules.residual_reference_speed_kmh
    speed = speed_kmh if math.isfinite(speed_kmh) else reference
    return rules.max_residual_fraction * math.sqrt(max(speed, reference) / reference)


def stability_problems(m: WimMeasurement, rules: RulesConfig, misfit_floor_m: float = 0.0) -> list[str]:
    """Reasons this crossing cannot be judged (re-weigh), from the measurement alone.  ``misfit_floor_m``:
    a speed-profile misfit up to this many metres is never a reason (the lane passes half the tyre
    footprint, ``scale.tyre_footprint_m / 2``)."""
    reasons = list(m.problems)
    speeds = np.array(m.axle_speeds_kmh)
    if speeds.size and speeds.max() > rules.max_speed_kmh:
        top = _beyond(float(speeds.max()), rules.max_speed_kmh)
        reasons.append(f"an axle crossed at {top} km/h, faster than the {rules.max_speed_kmh:g} km/h allowed")
    if speeds.size and speeds.min() < rules.min_speed_kmh:
        low = _beyond(float(speeds.min()), rules.min_speed_kmh)
        reasons.append(f"an axle crossed at {low} km/h, slower than the {rules.min_speed_kmh:g} km/h allowed")
    if speeds.size:
        median = float(np.median(speeds))
        change = float(np.max(np.abs(speeds - median)) / median) if median > 0 else math.inf
        if change > rules.max_speed_change_fraction:
            reasons.append(f"speed changed on the scale by {change:.0%} (braking or stop-and-go)")
    change = m.speed_change_fraction
    if math.isfinite(change) and abs(change) > rules.max_speed_change_fraction:
        how = "slowed" if change < 0 else "sped up"
        reasons.append(
            f"the truck {how} by {abs(change):.0%} on the scale, more than the"
            f" {rules.max_speed_change_fraction:.0%} the scale can follow (braking or stop-and-go)"
        )
    ramp = m.speed_profile is not None and not math.isnan(m.speed_profile.ramp_start_s)
    # A ramp that speeds up (a throttle blip) is judged on its gross uncertainty, which carries what its
    # pitch transfer moves the gross by (all of it, or the bound of the pitch's lag where every axle's
    # acceleration was measured: _estimate); one that brakes as hard is how a jump starts, and is
    # re-weighed.
    if abs(m.accel_mps2) > rules.max_accel_mps2 and not (ramp and m.accel_mps2 > 0):
        # Steady, it would move no load between axles weighed at different moments; a brake pulse (a jump)
        # would.  A hard one is judged only when the strip times show it steady enough for the class.
        allowed_kg = rules.max_gross_uncertainty_fraction * m.gross_kg
        change_kg = m.transfer_change_kg
        if not change_kg <= allowed_kg:
            how, what = ("braked", "braking") if m.accel_mps2 < 0 else ("accelerated", "acceleration")
            if ramp:
                evidence = (
                    "the strip times show a step of speed between two cruises, not a steady acceleration"
                )
            elif math.isfinite(change_kg) and m.gross_kg > 0:
                evidence = (
                    f"the axles' places (strips, centre of load) leave room for a change of {what} that could"
                    f" move the gross by up to {change_kg:.0f} kg ({change_kg / m.gross_kg:.1%}), more than the"
                    f" {rules.max_gross_uncertainty_fraction:.1%} the scale's class allows"
                )
            else:
                evidence = (
                    "with two axles the strip times cannot show it"
                    if len(m.axle_loads_kg) < 3
                    else "the strip times cannot show it"
                )
            reasons.append(
                f"the truck {how} at {abs(m.accel_mps2):.2f} m/s² on the scale, harder than the"
                f" {rules.max_accel_mps2:g} m/s² the scale can follow unless the axles' places show it was steady,"
                f" and {evidence} (a brake pulse or a jump moves load between axles weighed at different"
                " moments): drive across again at a steady speed"
            )
    mean_speed_mps = m.speed_kmh / 3.6
    if m.profile_misfit_m > 0 and mean_speed_mps > 0:
        # In seconds, as the strips' timing error is; but a misfit within half a tyre footprint places no
        # axle's load anywhere its footprint does not already blur it (a slow truck's small change of
        # speed misfits by many ms and a few cm); its effect on the loads is in the uncertainty.
        misfit_s = m.profile_misfit_m / mean_speed_mps
        if misfit_s > rules.max_profile_misfit_s and m.profile_misfit_m > misfit_floor_m:
            floor = f" and {misfit_floor_m * 100:.1f} cm" if misfit_floor_m > 0 else ""
            reasons.append(
                f"the axle strip times do not follow one steady change of speed (misfit {misfit_s * 1000:.0f} ms"
                f" = {m.profile_misfit_m * 100:.1f} cm RMS, > {rules.max_profile_misfit_s * 1000:g} ms{floor}):"
                " jerky driving or stop-and-go"
            )
    loads = np.array(m.axle_loads_kg)
    if loads.size and np.all(np.isfinite(loads)):
        if loads.min() <= 0:
            reasons.append("an axle load came out non-positive (vehicle did not cross cleanly)")
        # Normal bounce and axle hop grow roughly with sqrt(speed) (dynamic load coefficient); a jump,
        # a rocking or a stop-and-go crossing misfits far more than that.  A dynamic load is a share of the
        # static load standing on the platform at that moment, and a body's heave loads every axle of a
        # tandem or tridem on it at once: the misfit is measured against the load the scale carried over
        # the same samples, not against one axle's load (a short platform carrying a tridem misfits up to
        # three times what it does under a single axle for the same bounce).
        carried = m.carried_load_kg()
        carried = carried if math.isfinite(carried) else float(loads.mean())
        speed = m.speed_kmh if math.isfinite(m.speed_kmh) else rules.residual_reference_speed_kmh
        allowed = residual_allowance_fraction(rules, m.speed_kmh)
        if carried > 0 and m.residual_rms_kg > allowed * carried:
            reasons.append(
                f"load signal does not fit a steady crossing (misfit {m.residual_rms_kg:.0f} kg RMS,"
                f" > {allowed:.1%} of the {carried:.0f} kg RMS the scale carried at {speed:.0f} km/h):"
                " rocking, jumping or stop-and-go"
            )
        uncertainty = m.gross_uncertainty_kg
        if m.gross_kg > 0 and uncertainty > rules.max_gross_uncertainty_fraction * m.gross_kg:
            reasons.append(
                f"gross uncertain by +/-{uncertainty:.0f} kg ({uncertainty / m.gross_kg:.1%}), more than the"
                f" {rules.max_gross_uncertainty_fraction:.1%} the scale's class allows (load misfit"
                f" {m.residual_rms_kg:.0f} kg RMS, speed-profile misfit {m.profile_misfit_m * 100:.0f} cm"
                + (
                    f", a change of acceleration between the axles' weighings worth {m.transfer_shown_kg:.0f} kg"
                    if m.transfer_shown_kg > 0
                    else ""
                )
                + (
                    f", the site's own scatter {m.site_error_kg:.0f} kg (wim.site_sd_fraction)"
                    if m.site_error_kg > 0
                    else ""
                )
                + "): braking, jumping or too short a look at the axles"
            )
    elif not m.problems:
        reasons.append("axle loads could not be computed")
    if m.samples_lost:
        reasons.append(f"{m.samples_lost} load samples lost on the digitiser link during the crossing")
    return reasons
