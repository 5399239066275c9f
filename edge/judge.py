"""Judging: from a weighed crossing to a verdict: classification, limit and tolerance, axle-group limits.

The limits come from :func:`edge.rules.axles.assess`: the gross row with its 124号 variants, the
single-tyre deductions and (per the table's ``sum_rule``) the sum of the axle(-group) limits; the per-group
findings go on the judgement, and refuse the truck only where the table says ``findings = "refuse"``.
What WIM cannot measure (air suspension, articulated) comes in as :class:`edge.rules.VehicleFacts`: the
caller's (a registry or permit), else the site's ``[rules] assume_*`` defaults.

Pure code: the live daemon and ``edge wim replay`` both call :func:`judge`, so a raw capture replays
to the same result the lane produced.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from edge.config import Config
from edge.lane.crossing import Crossing
from edge.rules import (
    Decision,
    LimitDecision,
    LimitTable,
    Tyre,
    VehicleClass,
    VehicleFacts,
    Verdict,
    classify,
    decide,
)
from edge.rules.axles import Assessment, GroupLimit, assess
from edge.wim.corrections import correction_factor
from edge.wim.estimate import WimMeasurement
from edge.wim.weighing import Weighed, weigh

__all__ = ["Judgement", "axle_refusal", "judge", "judge_weighed", "site_facts"]

_ASSUMED_SPEED_MPS = 10 / 3.6
"""Speed at which a crossing none of whose axles crossed both strips is classified (it is re-weighed)."""


@dataclass(frozen=True)
class Judgement:
    measurement: WimMeasurement | None
    vehicle_class: VehicleClass
    limit: LimitDecision
    decision: Decision
    zero_counts: npt.NDArray[np.float64] | None
    zero_source: str  # "preroll" | "tracked" | "none"
    correction_factor: float  # dynamic correction applied for the speed band and class (1.0: none)
    axle_groups: tuple[GroupLimit, ...] = ()  # each axle group's limit, load and excess (GB 1589)
    facts: VehicleFacts | None = None  # what the rules assumed that WIM cannot measure, and from where

    @property
    def gross_kg(self) -> float:
        return self.measurement.gross_kg if self.measurement is not None else math.nan


def _spacings_without_weight(
    crossing: Crossing, entry_strip_x_m: float, exit_x_m: float
) -> tuple[float, ...]:
    """Axle spacings of a crossing that was not weighed, for its class: entry-time differences at the speed
    measured by the axles that did cross both strips (their median), else at an assumed 10 km/h."""
    entry, exit_ = crossing.entry_t_s, crossing.exit_t_s
    crossed = np.isfinite(exit_) & (exit_ > entry) if exit_.shape == entry.shape else np.zeros(0, bool)
    speed = (
        float(np.median((exit_x_m - entry_strip_x_m) / (exit_[crossed] - entry[crossed])))
        if crossed.any()
        else _ASSUMED_SPEED_MPS
    )
    return tuple(max(float(b - a), 0.01) * speed for a, b in itertools.pairwise(entry))


def _near_threshold(decision: Decision, gross_kg: float, uncertainty_kg: float, rule: str) -> Decision:
    """The site's rule for a gross within its expanded uncertainty of the refusal threshold, where the
    measurement cannot tell a legal truck from an overloaded one ("measured": the measured gross decides)."""
    if rule == "measured" or not math.isfinite(uncertainty_kg):
        return decision
    if abs(gross_kg - decision.threshold_kg) > uncertainty_kg:
        return decision
    note = (
        f"gross {gross_kg:,.0f} +/- {uncertainty_kg:,.0f} kg is within its uncertainty of the"
        f" {decision.threshold_kg:,.0f} kg threshold; the site's rule for such trucks:"
    )
    if rule == "reweigh":
        return replace(decision, verdict=Verdict.REWEIGH, reasons=(f"{note} reweigh",))
    verdict = Verdict.OVERWEIGHT if rule == "refuse" else Verdict.PASS
    return replace(decision, verdict=verdict, reasons=(*decision.reasons, f"{note} {rule}"))


def site_facts(config: Config) -> VehicleFacts:
    """The site's defaults for what WIM cannot measure (``[rules] assume_air_suspension`` etc.)."""
    rules = config.rules
    return VehicleFacts(
        air_suspension=rules.assume_air_suspension,
        articulated=rules.assume_articulated,
        source="config",
    )


def axle_refusal(decision: Decision, assessment: Assessment) -> Decision:
    """``findings = "refuse"``: a group that counts as over its limit x tolerance (beyond it by more than
    its uncertainty, or within its uncertainty of it under the site's ``near_threshold`` rule) turns a
    pass into a refusal; one the rule sends to re-weigh turns it into a re-weigh."""
    if assessment.findings_rule != "refuse" or decision.verdict is not Verdict.PASS:
        return decision
    over, reweigh = assessment.overloaded, assessment.to_reweigh
    if over:
        reasons = tuple(
            f"{g.label} {g.load_kg:,.0f} kg > {decision.tolerance_factor * 100:.6g} % of its "
            f"{g.limit_kg:,} kg limit ({g.threshold_kg:,.0f} kg; {g.rule_id})"
            + (f": {g.why}" if g.finding == "uncertain" else "")
            for g in over
        )
        return replace(decision, verdict=Verdict.OVERWEIGHT, reasons=(*decision.reasons, *reasons))
    if reweigh:
        return replace(
            decision, verdict=Verdict.REWEIGH, reasons=(*decision.reasons, *(g.why for g in reweigh))
        )
    return decision


def judge(
    crossing: Crossing, config: Config, limits: LimitTable, *, facts: VehicleFacts | None = None
) -> Judgement:
    """Weigh a crossing and judge it (pure): what the live lane and ``edge wim replay`` both call."""
    return judge_weighed(crossing, weigh(crossing, config), config, limits, facts=facts)


def judge_weighed(
    crossing: Crossing,
    weighed: Weighed,
    config: Config,
    limits: LimitTable,
    *,
    facts: VehicleFacts | None = None,
) -> Judgement:
    """Classify the weighed vehicle, find its limits and decide.

    ``facts`` (a registry's or permit's) replace the site's defaults for what WIM cannot measure."""
    reasons = list(weighed.reasons)
    measurement = weighed.measurement
    spacings = measurement.axle_spacings_m if measurement is not None else ()
    if spacings and not all(math.isfinite(s) and s > 0 for s in spacings):
        spacings = ()
        reasons.append("axle spacings could not be measured")
    if not spacings and crossing.entry_t_s.size > 1:
        # Not weighed (it is re-weighed anyway): classify at the speed its axles measured, else assumed.
        spacings = _spacings_without_weight(crossing, config.scale.entry_strip_x_m, config.scale.exit_x_m)
    if not spacings:
        spacings = (3.0,)  # a single axle seen: classify as the smallest vehicle; it is re-weighed anyway
        reasons.append("fewer than two axles seen")
    vehicle_class = classify(
        spacings,
        group_max_spacing_m=config.rules.group_max_spacing_m,
        steer_group_max_spacing_m=config.rules.steer_group_max_spacing_m,
    )
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
    facts = facts if facts is not None else site_facts(config)
    assessment = assess(
        vehicle_class,
        tyres,
        limits,
        spacings_m=spacings,
        loads_kg=None if measurement is None else measurement.axle_loads_kg,
        facts=facts,
        tolerance_factor=config.rules.tolerance_factor,
        load_uncertainty_kg=None if measurement is None else measurement.load_uncertainty_kg,
        near_threshold=config.rules.near_threshold,
    )
    limit = assessment.limit
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
    if measurement is not None and decision.verdict is not Verdict.REWEIGH:
        decision = _near_threshold(
            decision, gross, measurement.gross_uncertainty_kg, config.rules.near_threshold
        )
    decision = axle_refusal(decision, assessment)
    return Judgement(
        measurement,
        vehicle_class,
        limit,
        decision,
        weighed.zero_counts,
        weighed.zero_source,
        correction,
        axle_groups=assessment.groups,
        facts=facts,
    )
