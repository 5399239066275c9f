"""Judging: from a weighed crossing to a verdict: classification, limit and tolerance.

Pure code: the live daemon and ``edge wim replay`` both call :func:`judge`, so a raw capture replays
to the same result the lane produced.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.config import Config
from edge.lane.crossing import Crossing
from edge.rules import Decision, LimitDecision, LimitTable, Tyre, VehicleClass, classify, decide, gross_limit
from edge.wim.corrections import correction_factor
from edge.wim.estimate import WimMeasurement
from edge.wim.weighing import Weighed, weigh

__all__ = ["Judgement", "judge", "judge_weighed"]

_ASSUMED_SPEED_MPS = 10 / 3.6


@dataclass(frozen=True)
class Judgement:
    measurement: WimMeasurement | None
    vehicle_class: VehicleClass
    limit: LimitDecision
    decision: Decision
    zero_counts: npt.NDArray[np.float64] | None
    zero_source: str  # "preroll" | "tracked" | "none"
    correction_factor: float  # dynamic correction applied for the speed band and class (1.0: none)

    @property
    def gross_kg(self) -> float:
        return self.measurement.gross_kg if self.measurement is not None else math.nan


def judge(crossing: Crossing, config: Config, limits: LimitTable) -> Judgement:
    """Weigh a crossing and judge it (pure): what the live lane and ``edge wim replay`` both call."""
    return judge_weighed(crossing, weigh(crossing, config), config, limits)


def judge_weighed(crossing: Crossing, weighed: Weighed, config: Config, limits: LimitTable) -> Judgement:
    """Classify the weighed vehicle, find its limit and decide."""
    reasons = list(weighed.reasons)
    measurement = weighed.measurement
    spacings = measurement.axle_spacings_m if measurement is not None else ()
    if spacings and not all(math.isfinite(s) and s > 0 for s in spacings):
        spacings = ()
        reasons.append("axle spacings could not be measured")
    if not spacings and crossing.entry_t_s.size > 1:
        # An unfinished crossing has no speed; classify it at an assumed speed (it is re-weighed anyway).
        spacings = tuple(
            max(float(b - a), 0.01) * _ASSUMED_SPEED_MPS for a, b in itertools.pairwise(crossing.entry_t_s)
        )
    if not spacings:
        spacings = (3.0,)  # a single axle seen: classify as the smallest vehicle; it is re-weighed anyway
        reasons.append("fewer than two axles seen")
    vehicle_class = classify(spacings, group_max_spacing_m=config.rules.group_max_spacing_m)
    correction = 1.0
    if measurement is not None:
        correction = correction_factor(
            config.wim.corrections, config.wim.speed_band_edges_kmh, vehicle_class.code, measurement.speed_kmh
        )
        if correction != 1.0:
            measurement = measurement.corrected(correction)
    tyres = (
        [Tyre(t) for t in crossing.tyres]
        if len(crossing.tyres) == vehicle_class.axle_count
        else [Tyre.DUAL] * vehicle_class.axle_count
    )
    limit = gross_limit(vehicle_class, tyres, limits)
    gross = measurement.gross_kg if measurement is not None else math.nan
    if not math.isfinite(gross) and not reasons:
        reasons.append("no weight measured")
    if math.isfinite(gross) and gross < 0:
        reasons.append(f"negative gross ({gross:.0f} kg): the scale's zero is wrong")
        gross = math.nan
    decision = decide(
        gross if math.isfinite(gross) else 0.0,
        limit,
        tolerance_factor=config.rules.tolerance_factor,
        unstable_reasons=reasons,
    )
    return Judgement(
        measurement, vehicle_class, limit, decision, weighed.zero_counts, weighed.zero_source, correction
    )
