"""Per-axle and axle-group limits (GB 1589-2016), the sum-of-axle-limits rule, and the per-group findings.

The rows live in the ``[[axle_limit]]`` blocks of the limits table (``limits_gb2016.toml``), the settings in
its ``[axles]`` table; :class:`edge.rules.limits.LimitTable` loads them with the rest, strictly, naming
file:line on any mistake. This module only matches an axle group to a row and adds up.

Groups
    The axle groups are the classification's (:func:`edge.rules.limits.classify`: axles at most
    ``group_max_spacing_m`` apart; on 3 or 4 axles the first two up to ``steer_group_max_spacing_m``).
    Group 1 is the steer group, group 2 is treated as the drive group (the sensors cannot tell a drive axle from a tag axle; this is the gross table's convention too), the rest
    are trailer (or tag) groups. A group of 1 axle is a ``single``, of 2 a ``tandem`` (二轴组), of 3 a
    ``tridem`` (三轴组). A twin-steer group, and any group of 4 or more axles (GB 1589 has no row for it),
    is judged axle by axle as single axles; the group's record says so.

Matching a row
    A row matches a group when its ``group`` kind is the group's, its ``position`` is the group's or
    ``any``, its ``tyres`` are every axle's reading or ``any``, all its conditions hold (the conditions of
    the gross rows, e.g. ``drive_air_suspension``) and, for tandems and tridems, the group's spacing (its
    largest inner spacing) lies in ``[min_spacing_m, max_spacing_m)`` within ``spacing_tolerance_m``
    either way. When several rows match, the highest limit applies: where the measurement cannot tell two
    bands apart, the doubt favours the driver. A group that no row matches has no limit (and the sum rule
    is not evaluated); its record says so.

Single tyres in a group
    Order 62, article 3, second paragraph, item 2 assumes dual tyres on every non-drive axle and takes
    ``single_tyre_deduction_kg`` off for each axle with single tyres. Applied here to the limit of a
    trailer tandem or tridem whose row is for ``any`` tyres: this project's reading, not a GB 1589 clause.

The sum rule (Order 62, article 3, second paragraph, item 3: 车辆最大允许总质量不应超过各车轴最大允许轴荷之和)
    The sum of the group limits caps the gross limit when ``sum_rule = "apply"``; with ``"report"`` (the
    packaged table's setting while the GB 1589 numbers are unverified) the sum and what it would do go on
    the record and into ``edge rules explain``, and the gross row decides; ``"off"`` skips it.

Findings
    Each group's measured load (the sum of its axles' loads) is compared with its limit: by how much it
    exceeds the limit, and whether it exceeds limit x tolerance (the threshold). Where the load's expanded
    uncertainty ``U`` is known (k = 2, from the axle loads' covariance, so the anti-correlated errors of a
    tandem's axles cancel), the finding is ``over`` when ``load - U > threshold``, ``within`` when
    ``load + U < threshold`` and ``uncertain`` in between: the measurement cannot tell a legal group from
    an overloaded one, and the site's rule for such loads decides, the same rule as for the gross
    (``rules.near_threshold``): ``measured`` (the measured load decides), ``refuse``, ``pass`` or
    ``reweigh``. Without ``U`` the measured load decides. With ``findings = "refuse"`` a group that counts
    as over refuses the truck, and one the rule sends to re-weigh re-weighs it (see
    :func:`edge.judge.axle_refusal`); with ``"report"`` (packaged: Order 62 defines 超限 by the gross and the
    dimensions, not by one axle) the finding, the rule applied and what it would do are recorded and
    explained.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.rules.limits import (
    CONDITIONS,
    LimitDecision,
    LimitTable,
    LimitTableError,
    Tyre,
    VehicleClass,
    VehicleFacts,
    _Condition,
    _conditions,
    _Context,
    gross_limit,
    holds,
    validation_message,
    where,
)

__all__ = ["Assessment", "AxleLimitRow", "AxleTable", "GroupLimit", "assess"]

SumRule = Literal["apply", "report", "off"]
FindingsRule = Literal["report", "refuse"]
NearThresholdRule = Literal["measured", "refuse", "pass", "reweigh"]
_KINDS = {1: "single", 2: "tandem", 3: "tridem"}
_POSITIONS = ("steer", "drive")


class _AxleSettingsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    source: Annotated[str, Field(min_length=1)] = Field(description="The standard the axle rows come from.")
    sum_rule: SumRule = Field(default="report", description="apply, report or off (see edge.rules.axles).")
    findings: FindingsRule = Field(default="report", description="report, or refuse on a group overload.")
    spacing_tolerance_m: Annotated[float, Field(ge=0, le=0.5)] = Field(
        default=0.05, description="Spacing bands are matched within this much either way (m)."
    )


class _AxleLimitModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
    group: Literal["single", "tandem", "tridem"]
    position: Literal["steer", "drive", "other", "any"] = "any"
    tyres: Literal["single", "dual", "wide_single", "any"] = "any"
    min_spacing_m: Annotated[float, Field(ge=0, le=10)] = 0.0
    max_spacing_m: Annotated[float, Field(gt=0, le=10)] = 10.0
    condition: _Condition | list[_Condition] | None = None
    limit_kg: Annotated[int, Field(gt=0, le=1_000_000)]
    source: Annotated[str, Field(min_length=1)] | None = None
    verified: bool
    text: Annotated[str, Field(min_length=1)]


class _AxlePartModel(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    axles: _AxleSettingsModel
    axle_limit: Annotated[list[_AxleLimitModel], Field(min_length=1)]


@dataclass(frozen=True, slots=True)
class AxleLimitRow:
    """One ``[[axle_limit]]`` row."""

    rule_id: str
    group: str  # single, tandem, tridem
    position: str  # steer, drive, other, any
    tyres: str  # single, dual, wide_single, any
    min_spacing_m: float
    max_spacing_m: float
    conditions: tuple[str, ...]
    limit_kg: int
    source: str
    verified: bool  # False: the number could not be checked against the standard's text
    text: str


@dataclass(frozen=True, slots=True)
class AxleTable:
    """The axle part of a limits table."""

    source: str
    sum_rule: SumRule
    findings: FindingsRule
    spacing_tolerance_m: float
    rows: tuple[AxleLimitRow, ...]

    @classmethod
    def from_data(cls, path: str, text: str, data: dict[str, Any]) -> AxleTable:
        """Validate the ``[axles]`` table and the ``[[axle_limit]]`` rows of parsed TOML ``data``."""
        part = {key: data[key] for key in ("axles", "axle_limit") if key in data}
        try:
            model = _AxlePartModel.model_validate(part)
        except ValidationError as exc:
            raise LimitTableError(validation_message(path, text, data, exc)) from exc
        seen: dict[str, int] = {}
        for index, row in enumerate(model.axle_limit):
            if row.id in seen:
                raise LimitTableError(
                    f"{where(path, text, ('axle_limit', index, 'id'))}: [[axle_limit]] #{index + 1}, key 'id': "
                    f"id {row.id!r} is already used by [[axle_limit]] #{seen[row.id] + 1}; give each row its own id"
                )
            seen[row.id] = index
            if row.min_spacing_m >= row.max_spacing_m:
                raise LimitTableError(
                    f"{where(path, text, ('axle_limit', index, 'max_spacing_m'))}: [[axle_limit]] #{index + 1} "
                    f"(id = {row.id!r}), key 'max_spacing_m': {row.max_spacing_m} is not above min_spacing_m "
                    f"{row.min_spacing_m}; give max_spacing_m > min_spacing_m"
                )
        settings = model.axles
        return cls(
            source=settings.source,
            sum_rule=settings.sum_rule,
            findings=settings.findings,
            spacing_tolerance_m=settings.spacing_tolerance_m,
            rows=tuple(
                AxleLimitRow(
                    rule_id=row.id,
                    group=row.group,
                    position=row.position,
                    tyres=row.tyres,
                    min_spacing_m=row.min_spacing_m,
                    max_spacing_m=row.max_spacing_m,
                    conditions=_conditions(row.condition),
                    limit_kg=row.limit_kg,
                    source=row.source or settings.source,
                    verified=row.verified,
                    text=row.text,
                )
                for row in model.axle_limit
            ),
        )


@dataclass(frozen=True, slots=True)
class GroupLimit:
    """One axle group (or one axle judged as a single axle), its limit and, when weighed, its load."""

    group: int  # 1-based group number, front to rear
    axles: tuple[int, ...]  # 1-based axle numbers
    kind: str  # single, tandem, tridem
    position: str  # steer, drive, other
    spacing_m: float | None  # largest spacing inside the group (None for a single axle)
    limit_kg: int | None  # None: no row matched
    rule_id: str | None
    rule_text: str
    source: str
    verified: bool
    deductions: tuple[str, ...]
    notes: tuple[str, ...]
    load_kg: float | None  # measured: the sum of the group's axle loads
    threshold_kg: float | None  # limit x tolerance
    over_kg: float | None  # load - limit when above the limit, else 0
    uncertainty_kg: float | None = None  # expanded (k = 2) uncertainty of the load; None: not known
    near_threshold: NearThresholdRule = "measured"  # the site's rule for a load within U of the threshold
    findings_rule: FindingsRule = "report"  # the table's: whether a finding can change the verdict

    @property
    def exceeded(self) -> bool:
        """The load is above the limit (before the tolerance)."""
        return bool(self.over_kg)

    @property
    def beyond_tolerance(self) -> bool:
        """The measured load is above limit x tolerance (whatever its uncertainty)."""
        return self.load_kg is not None and self.threshold_kg is not None and self.load_kg > self.threshold_kg

    @property
    def finding(self) -> str | None:
        """``over`` (load - U above the threshold), ``within`` (load + U below it), ``uncertain`` (the
        threshold within U of the load); without U the measured load decides; None: no load or no limit."""
        if self.load_kg is None or self.threshold_kg is None:
            return None
        margin_kg = self.uncertainty_kg or 0.0
        if self.load_kg - margin_kg > self.threshold_kg:
            return "over"
        if self.load_kg + margin_kg < self.threshold_kg or (
            not margin_kg and self.load_kg <= self.threshold_kg
        ):
            return "within"
        return "uncertain"

    @property
    def rule_applied(self) -> str | None:
        """The site's near-threshold rule, when the finding is ``uncertain`` (else None)."""
        return self.near_threshold if self.finding == "uncertain" else None

    @property
    def counts_as(self) -> str | None:
        """What the finding counts as after the site's rule: ``over``, ``within`` or ``reweigh``."""
        finding = self.finding
        if finding != "uncertain":
            return finding
        if self.near_threshold == "measured":
            return "over" if self.beyond_tolerance else "within"
        return {"refuse": "over", "pass": "within", "reweigh": "reweigh"}[self.near_threshold]

    @property
    def why(self) -> str:
        """The finding and, for an uncertain one, the rule applied, in words (empty without a finding)."""
        finding = self.finding
        if finding is None or self.load_kg is None or self.threshold_kg is None:
            return ""
        load = f"{self.load_kg:,.0f}" + (f" +/- {self.uncertainty_kg:,.0f}" if self.uncertainty_kg else "")
        if finding != "uncertain":
            side = "above" if finding == "over" else "below"
            how = ", beyond its uncertainty" if self.uncertainty_kg else ""
            return f"{self.label} {load} kg is {side} the {self.threshold_kg:,.0f} kg threshold{how}"
        return (
            f"{self.label} {load} kg is within its uncertainty of the {self.threshold_kg:,.0f} kg threshold;"
            f" the site's rule for such loads (rules.near_threshold): {self.near_threshold}, so it counts as"
            f" {self.counts_as}"
        )

    @property
    def label(self) -> str:
        axles = f"axle {self.axles[0]}" if len(self.axles) == 1 else f"axles {self.axles[0]}-{self.axles[-1]}"
        return f"group {self.group} ({self.kind}, {self.position}, {axles})"

    def as_record(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "axles": list(self.axles),
            "kind": self.kind,
            "position": self.position,
            "spacing_m": self.spacing_m,
            "limit_kg": self.limit_kg,
            "rule_id": self.rule_id,
            "rule_text": self.rule_text,
            "source": self.source,
            "verified": self.verified,
            "deductions": list(self.deductions),
            "notes": list(self.notes),
            "load_kg": None if self.load_kg is None else round(self.load_kg, 1),
            "threshold_kg": self.threshold_kg,
            "over_kg": None if self.over_kg is None else round(self.over_kg, 1),
            "beyond_tolerance": self.beyond_tolerance,
            "uncertainty_kg": None if self.uncertainty_kg is None else round(self.uncertainty_kg, 1),
            "finding": self.finding,
            "rule_applied": self.rule_applied,
            "counts_as": self.counts_as,
            "why": self.why,
            "findings_rule": self.findings_rule,
        }


@dataclass(frozen=True, slots=True)
class Assessment:
    """Everything the rules say about one vehicle: the gross limit that decides (after the variants, the
    deductions and, under ``sum_rule = "apply"``, the sum rule) and each axle group's limit and load."""

    limit: LimitDecision
    groups: tuple[GroupLimit, ...]
    axle_sum_kg: int | None
    sum_rule: str  # apply, report, off ("off" also when the table has no axle rows)
    findings_rule: str  # report, refuse
    facts: VehicleFacts

    @property
    def overloaded(self) -> tuple[GroupLimit, ...]:
        """Groups that count as over limit x tolerance: beyond it by more than their uncertainty, or
        within their uncertainty of it under the site's ``refuse`` rule (``measured``: when above it)."""
        return tuple(group for group in self.groups if group.counts_as == "over")

    @property
    def to_reweigh(self) -> tuple[GroupLimit, ...]:
        """Groups within their uncertainty of limit x tolerance under the site's ``reweigh`` rule."""
        return tuple(group for group in self.groups if group.counts_as == "reweigh")


def _tyres_match(row: AxleLimitRow, tyres: Sequence[Tyre]) -> bool:
    return row.tyres == "any" or all(tyre.value == row.tyres for tyre in tyres)


def _match(
    table: AxleTable,
    kind: str,
    position: str,
    tyres: Sequence[Tyre],
    spacing_m: float | None,
    context: _Context,
    path: str,
) -> AxleLimitRow | None:
    best: AxleLimitRow | None = None
    tolerance = table.spacing_tolerance_m
    for row in table.rows:
        if row.group != kind or row.position not in (position, "any") or not _tyres_match(row, tyres):
            continue
        if spacing_m is not None and not (
            row.min_spacing_m <= spacing_m + tolerance and spacing_m - tolerance < row.max_spacing_m
        ):
            continue
        if not all(holds(condition, context, path) for condition in row.conditions):
            continue
        if best is None or row.limit_kg > best.limit_kg:
            best = row
    return best


def _units(vclass: VehicleClass) -> list[tuple[int, tuple[int, ...], str, bool]]:
    """(group number, 0-based axles, position, judged axle by axle) for each unit the limits apply to."""
    units: list[tuple[int, tuple[int, ...], str, bool]] = []
    first = 0
    for index, size in enumerate(vclass.groups):
        axles = tuple(range(first, first + size))
        first += size
        position = _POSITIONS[index] if index < len(_POSITIONS) else "other"
        if size == 1 or (position != "steer" and size in _KINDS):
            units.append((index + 1, axles, position, False))
        else:  # twin steer, or 4+ axles in one group: each axle as a single axle
            units.extend((index + 1, (axle,), position, True) for axle in axles)
    return units


def assess(
    vclass: VehicleClass,
    tyres: Sequence[Tyre],
    table: LimitTable,
    *,
    spacings_m: Sequence[float] = (),
    loads_kg: Sequence[float] | None = None,
    facts: VehicleFacts | None = None,
    tolerance_factor: float = 1.05,
    load_uncertainty_kg: Callable[[Sequence[int]], float] | None = None,
    near_threshold: NearThresholdRule = "measured",
) -> Assessment:
    """The gross limit and the axle-group limits and findings of one vehicle (pure; no file reads).

    ``spacings_m`` are the measured axle spacings (front to rear), ``loads_kg`` the measured axle loads
    (``None`` or non-finite ones: no findings), ``facts`` what the site, a registry or a permit says.
    ``load_uncertainty_kg`` gives the expanded (k = 2) uncertainty of the summed load of some axles
    (0-based), e.g. :meth:`edge.wim.estimate.WimMeasurement.load_uncertainty_kg`; ``near_threshold`` is the
    site's rule for a group within it of its threshold (``rules.near_threshold``).
    """
    facts = facts if facts is not None else VehicleFacts()
    tyre_per_axle = tuple(Tyre(tyre) for tyre in tyres)
    limit = gross_limit(vclass, tyre_per_axle, table, spacings_m=spacings_m, facts=facts)
    axle_table = table.axles
    if axle_table is None:
        return Assessment(limit, (), None, "off", "report", facts)
    spacings = tuple(spacings_m)
    context = _Context(vclass, tyre_per_axle, spacings, facts, table.spread_axle_min_spacing_m)
    loads = (
        tuple(loads_kg)
        if loads_kg is not None
        and len(loads_kg) == vclass.axle_count
        and all(load is not None and math.isfinite(load) for load in loads_kg)
        else None
    )
    groups: list[GroupLimit] = []
    for number, axles, position, one_by_one in _units(vclass):
        kind = _KINDS[len(axles)]
        inner = [spacings[i] for i in axles[:-1] if i < len(spacings)]
        spacing = max(inner) if inner and len(inner) == len(axles) - 1 else None
        notes: list[str] = []
        if one_by_one:
            size = vclass.groups[number - 1]
            notes.append(
                "twin-steer group: each steer axle judged as a single axle"
                if position == "steer"
                else f"GB 1589 has no row for a group of {size} axles: each axle judged as a single axle"
            )
        if len(axles) > 1 and spacing is None:
            notes.append("the group's spacing was not measured: no row can be chosen")
            row = None
        else:
            row = _match(
                axle_table, kind, position, [tyre_per_axle[i] for i in axles], spacing, context, table.path
            )
        deductions: list[str] = []
        limit_kg: int | None = None
        if row is not None:
            limit_kg = row.limit_kg
            if len(axles) > 1 and position == "other" and row.tyres == "any":
                for i in axles:
                    if tyre_per_axle[i] is Tyre.SINGLE:
                        limit_kg -= table.single_tyre_deduction_kg
                        deductions.append(f"axle {i + 1} single tyres: -{table.single_tyre_deduction_kg} kg")
                limit_kg = max(limit_kg, 0)
            notes.extend(f"{CONDITIONS[c][1]}" for c in row.conditions)
        else:
            notes.append("no [[axle_limit]] row matches this group")
        load = None if loads is None else float(sum(loads[i] for i in axles))
        uncertainty = (
            load_uncertainty_kg(axles) if load is not None and load_uncertainty_kg is not None else None
        )
        if uncertainty is not None and not math.isfinite(uncertainty):
            uncertainty = None
        threshold = None if limit_kg is None else round(limit_kg * tolerance_factor, 3)
        over = None if load is None or limit_kg is None else max(load - limit_kg, 0.0)
        groups.append(
            GroupLimit(
                group=number,
                axles=tuple(i + 1 for i in axles),
                kind=kind,
                position=position,
                spacing_m=None if spacing is None else round(spacing, 3),
                limit_kg=limit_kg,
                rule_id=None if row is None else row.rule_id,
                rule_text="" if row is None else row.text,
                source="" if row is None else row.source,
                verified=row is not None and row.verified,
                deductions=tuple(deductions),
                notes=tuple(notes),
                load_kg=load,
                threshold_kg=threshold,
                over_kg=over,
                uncertainty_kg=uncertainty,
                near_threshold=near_threshold,
                findings_rule=axle_table.findings,
            )
        )
    axle_sum: int | None = None
    if axle_table.sum_rule != "off" and groups and all(g.limit_kg is not None for g in groups):
        axle_sum = sum(g.limit_kg for g in groups if g.limit_kg is not None)
        limit = replace(limit, axle_sum_kg=axle_sum)
        if axle_sum < limit.limit_kg:
            sum_text = (
                f"sum of the axle(-group) limits {axle_sum} kg < {limit.limit_kg} kg "
                "(超限运输车辆行驶公路管理规定 第三条第二款第(三)项)"
            )
            if axle_table.sum_rule == "apply":
                limit = replace(
                    limit,
                    limit_kg=axle_sum,
                    axle_sum_applied=True,
                    notes=(*limit.notes, f"{sum_text}: applies"),
                )
            else:
                limit = replace(limit, notes=(*limit.notes, f"{sum_text}: reported only (sum_rule = report)"))
    return Assessment(limit, tuple(groups), axle_sum, axle_table.sum_rule, axle_table.findings, facts)
