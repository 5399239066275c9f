"""Weighing: a :class:`~edge.lane.crossing.Crossing` to measurements.  This stage owns all zero state.

:func:`weigh` is pure (live weighing and ``edge wim replay`` both call it through :func:`edge.judge.judge`,
so a capture replays to the result the lane produced).  :class:`Weighing` is the live stage around it:
it holds the one current zero of the scale (from the calibration, each vehicle's empty pre-roll and the
empty lane between vehicles), hands it to each crossing as the fallback zero, and learns from the result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.config import Config, ScaleConfig
from edge.lane.buffer import SampleWindow
from edge.lane.crossing import Crossing
from edge.wim.autozero import AutoZeroTracker
from edge.wim.corrections import site_sd_fraction
from edge.wim.estimate import (
    WimMeasurement,
    estimate_crossing,
    span_per_cell,
    stability_problems,
    zero_variance_kg2,
)
from edge.wim.span import SpanMonitor, cross_ratios

__all__ = ["MIN_PREROLL_SAMPLES", "Weighed", "Weighing", "ZeroSource", "choose_zero", "weigh"]

F64 = npt.NDArray[np.float64]

MIN_PREROLL_SAMPLES = 20
"""Empty-scale samples before the first axle needed to zero the scale on the vehicle's own pre-roll."""


class ZeroSource:
    """Where a vehicle's zero came from (strings in the record: ``calibration.zero_source``)."""

    PREROLL = "preroll"  # the vehicle's own empty-scale pre-roll
    TRACKED = "tracked"  # the scale's current zero (calibration, or tracked on the empty lane)
    NONE = "none"  # no usable zero: the vehicle is re-weighed


@dataclass(frozen=True)
class Weighed:
    """What weighing one crossing gave: the measurement (None when it could not weigh) and why not."""

    measurement: WimMeasurement | None
    zero_counts: F64 | None
    zero_source: str
    reasons: tuple[str, ...]  # the crossing's problems and the weighing's own; any one means re-weigh
    span_ratios: F64 | None = (
        None  # per platform, the cells' log cross ratio (edge.wim.span); None: not 4 cells
    )


def choose_zero(crossing: Crossing, scale: ScaleConfig) -> tuple[F64 | None, str, str]:
    """The zero for this vehicle: its own empty-scale pre-roll when that is quiet and not above the
    fallback zero by more than a step, else the fallback zero (tracked), else none (re-weigh)."""
    window = crossing.window
    preroll = window.times_s < float(crossing.entry_t_s.min())
    checker = AutoZeroTracker(
        span_per_cell(scale),
        scale.cells_per_platform,
        zero_counts=None if crossing.fallback_zero_counts is None else crossing.fallback_zero_counts.copy(),
    )
    if preroll.sum() >= MIN_PREROLL_SAMPLES and checker.observe(window.counts[preroll]):
        return checker.zero_counts, ZeroSource.PREROLL, ""
    if crossing.fallback_zero_counts is not None:
        return crossing.fallback_zero_counts, ZeroSource.TRACKED, ""
    if window.times_s.size == 0:
        return None, ZeroSource.NONE, "no load samples were recorded for this crossing"
    if preroll.sum() < MIN_PREROLL_SAMPLES:
        return (
            None,
            ZeroSource.NONE,
            f"only {int(preroll.sum())} load samples before the first axle (at least {MIN_PREROLL_SAMPLES}"
            " are needed to zero the scale) and no earlier zero to fall back on",
        )
    return (
        None,
        ZeroSource.NONE,
        "the scale was not empty and quiet before the vehicle, so it could not be zeroed",
    )


def weigh(crossing: Crossing, config: Config) -> Weighed:
    """Zero, fit and check one crossing (pure)."""
    reasons = list(crossing.problems)
    if not crossing.complete:
        if crossing.entry_t_s.size:
            reasons.append("not every axle crossed the exit strip")
        return Weighed(None, None, ZeroSource.NONE, tuple(reasons))
    if not np.all(crossing.exit_t_s > crossing.entry_t_s):
        reasons.append("an axle crossed the exit strip before the entry strip (axle sensor fault)")
        return Weighed(None, None, ZeroSource.NONE, tuple(reasons))
    mids = crossing.mid_t_s
    n_mid = len(config.scale.mid_strips_x_m)
    if (0 if mids is None else mids.shape[1]) != n_mid:
        reasons.append(
            f"the crossing has {0 if mids is None else mids.shape[1]} intermediate axle strips' times but"
            f" scale.mid_strips_x_m lists {n_mid} strips (weighed with another lane's configuration?)"
        )
        return Weighed(None, None, ZeroSource.NONE, tuple(reasons))
    zero, zero_source, note = choose_zero(crossing, config.scale)
    if zero is None:
        return Weighed(None, None, zero_source, (*reasons, note))
    zero_variance = None
    if zero_source == ZeroSource.PREROLL:
        # The pre-roll's own noise says how well its median found the zero.  A tracked zero's error is not
        # known here (nor its drift since it was taken): it is taken as exact, as before.
        window = crossing.window
        zero_variance = zero_variance_kg2(
            window.counts[window.times_s < float(crossing.entry_t_s.min())],
            config.scale,
            config.wim.uncertainty_block_s,
            crossing.sample_rate_hz,
        )
    measurement = estimate_crossing(
        crossing.window,
        zero,
        crossing.entry_t_s,
        crossing.exit_t_s,
        config.scale,
        config.wim,
        config.rules.group_max_spacing_m,
        config.rules,
        mids,
        zero_variance,
    )
    # The site's own scatter, which no single crossing shows (wim.site_sd_fraction, and the share moved
    # between the axles, wim.site_axle_sd_fraction), before the checks that compare the uncertainty with
    # what the class allows.
    bands = config.wim.speed_band_edges_kmh
    measurement = measurement.with_site_error(
        site_sd_fraction(config.wim.site_sd_fraction, bands, measurement.speed_kmh),
        site_sd_fraction(config.wim.site_axle_sd_fraction, bands, measurement.speed_kmh),
    )
    reasons += stability_problems(measurement, config.rules, config.scale.tyre_footprint_m / 2)
    ratios = None
    if config.scale.cells_per_platform == 4:
        window = crossing.window
        ratios = cross_ratios(window.counts, zero, span_per_cell(config.scale))
    return Weighed(measurement, zero, zero_source, tuple(reasons), ratios)


class Weighing:
    """The live weighing stage: the scale's current zero, handed to each crossing and learnt from it."""

    def __init__(self, scale: ScaleConfig, calibration_zero_counts: F64 | None) -> None:
        reference = (
            None if calibration_zero_counts is None else np.asarray(calibration_zero_counts, np.float64)
        )
        self.zero = AutoZeroTracker(
            span_per_cell(scale),
            scale.cells_per_platform,
            reference_counts=None if reference is None else reference.copy(),
            zero_counts=None if reference is None else reference.copy(),
        )
        self._acquired = False  # a zero read on the provably empty lane in this run
        self.span = SpanMonitor(len(scale.platform_lengths_m)) if scale.cells_per_platform == 4 else None

    @property
    def zero_counts(self) -> F64 | None:
        return self.zero.zero_counts

    def prepare(self, crossing: Crossing) -> Crossing:
        """The crossing with the scale's current zero as its fallback."""
        zero = self.zero.zero_counts
        return dataclasses.replace(crossing, fallback_zero_counts=None if zero is None else zero.copy())

    def learn(self, weighed: Weighed) -> None:
        """A vehicle's quiet pre-roll (checked against the current zero by :func:`weigh`) becomes the
        current zero."""
        if weighed.zero_source == ZeroSource.PREROLL and weighed.zero_counts is not None:
            self.zero.adopt(weighed.zero_counts)
        if self.span is not None and weighed.span_ratios is not None:
            self.span.observe(weighed.span_ratios)

    @property
    def span_alarm(self) -> bool:
        """A platform's cells disagree on the trucks' loads: a cell's gain has moved (edge.wim.span)."""
        return self.span is not None and self.span.alarm

    def between_vehicles(self, window: SampleWindow | None) -> None:
        """Offer a window of the provably empty lane (None when it is not) to auto-zero tracking."""
        # The first empty lane of a run sets the zero whatever its step from the calibration's (an alarm
        # says when they disagree by a truck's worth); later ones follow drift only.
        if (
            window is not None
            and window.samples_lost == 0
            and self.zero.observe(window.counts, acquire=not self._acquired)
        ):
            self._acquired = True

    def state(self) -> dict[str, Any]:
        return {**self.zero.state(), "span_check": None if self.span is None else self.span.state()}
