"""Gross-mass limits for trucks, vehicle classification from axle spacings, and the entrance verdict.

The legal rule is article 3 of 《超限运输车辆行驶公路管理规定》(交通运输部令2016年第62号). Its numbers live
in ``limits_gb2016.toml`` beside this module, a table a field engineer can read and edit; this module only
knows how to pick a row, apply the single-tyre deduction and compare a measured gross mass with it.

Classification (what weigh-in-motion sensors alone allow)
    Consecutive axles whose spacing is <= ``group_max_spacing_m`` (2.0 m by default) form one axle group
    (a tandem counts as 2 axles, a tridem as 3: article 3, second paragraph, item 1). A vehicle with at most
    2 axle groups is a rigid truck (steer group + rear group); 3 or more groups is a combination (tractor +
    semi-trailer, or truck + drawbar trailer). A 2-axle vehicle is always rigid. This is a heuristic: a
    rigid truck with a spread tag axle looks like a combination, and a short tractor with a close-coupled
    trailer may look rigid. The plate camera (挂 marks a trailer) and the vehicle-type camera will refine it.

Row selection
    The row with ``axles == min(axle_count, 6)`` ("6 or more") and the vehicle's body is used; a row with a
    condition (``drive_group_single``: group index 1, the tractor's drive group, is one single axle -> 46,000
    kg for 6+ axle combinations) replaces the plain row when its condition holds. When the table has no row
    for the vehicle's body (a 5-axle rigid, a 2-axle combination), the other body's row is used and a note
    says so.

Single-tyre deduction (article 3, second paragraph, item 2)
    Non-drive axles are assumed dual-tyred; every axle with single tyres takes ``single_tyre_deduction_kg``
    off the limit unless the tyres are approved wide tyres (:attr:`Tyre.WIDE_SINGLE`). The sensors cannot
    tell a drive axle from a tag or pusher axle, so the whole of group index 1 is treated as the drive group
    and never deducted, and the steer group (index 0) neither: only axles in group index >= 2 (trailer
    axles) are. Where the sensors cannot tell, this favours the driver.

Not implemented here: the per-axle limits of GB 1589-2016 and the rule that gross mass may not exceed the
sum of axle limits (item 3), the +1,000 kg air-suspension variants of 交公路发〔2016〕124号, permits.

Verdict
    The entrance tolerance (the ministry's 2021 answer: a dynamic result not above 105 % of the limit is, for
    now, not treated as overweight) is ``tolerance_factor``; it is a temporary policy, so it is a parameter.
    A truck that rocks, stops or jumps on the platform (搓磅/跳磅) is re-weighed rather than judged.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.configerrors import Loc, find_line, format_errors
from edge.errors import EdgeError

__all__ = [
    "Body",
    "Decision",
    "LimitDecision",
    "LimitRule",
    "LimitTable",
    "LimitTableError",
    "Tyre",
    "VehicleClass",
    "Verdict",
    "classify",
    "decide",
    "gross_limit",
]

_PACKAGED_TABLE = "limits_gb2016.toml"
_MAX_TABLE_AXLES = 6  # the legal table's last row is "6 axles or more"
_MIN_TOLERANCE_FACTOR = 1.0
_MAX_TOLERANCE_FACTOR = 1.5


class LimitTableError(EdgeError, ValueError):
    """Raised when a limit table file cannot be read, is not valid TOML, breaks the table schema, or has no
    row for a vehicle. The message names the file, the key and (when known) the line, and what to fix."""


class Verdict(StrEnum):
    """What the lane does with the truck."""

    PASS = "pass"
    OVERWEIGHT = "overweight"
    REWEIGH = "reweigh"


class Body(StrEnum):
    """Rigid truck (货车) or combination (汽车列车), as the legal table distinguishes them."""

    RIGID = "rigid"
    COMBINATION = "combination"


class Tyre(StrEnum):
    """Tyres on each side of one axle, as the tyre recogniser reports them."""

    SINGLE = "single"
    DUAL = "dual"
    WIDE_SINGLE = "wide_single"  # approved wide single tyres (加宽轮胎): no deduction


@dataclass(frozen=True, slots=True)
class VehicleClass:
    """A vehicle's class as far as the axle sensors can tell."""

    axle_count: int
    groups: tuple[int, ...]  # axles per axle group, front to rear, e.g. (1, 2) or (1, 1, 3)
    body: Body
    drive_group_single: bool  # True when group index 1 (the tractor/rigid drive group) is a single axle
    code: str  # e.g. "2-rigid", "3-combination", "6-combination-single-drive"

    def __post_init__(self) -> None:
        if self.axle_count < 2:
            raise ValueError(f"a vehicle has at least 2 axles, got axle_count={self.axle_count}")
        if any(size < 1 for size in self.groups) or sum(self.groups) != self.axle_count:
            raise ValueError(f"axle groups {self.groups} do not add up to axle_count={self.axle_count}")


def _class_code(axle_count: int, body: Body, drive_group_single: bool) -> str:
    table_axles = min(axle_count, _MAX_TABLE_AXLES)
    code = f"{table_axles}-{body.value}"
    if body is Body.COMBINATION and table_axles == _MAX_TABLE_AXLES and drive_group_single:
        code += "-single-drive"
    return code


def classify(axle_spacings_m: Sequence[float], *, group_max_spacing_m: float = 2.0) -> VehicleClass:
    """Classify a vehicle from its axle spacings (front to rear, one fewer than the axles).

    Axles closer than or exactly ``group_max_spacing_m`` apart share a group; <= 2 groups is rigid, >= 3 is
    a combination, 2 axles are always rigid. See the module docstring for the limits of this heuristic.
    """
    if not math.isfinite(group_max_spacing_m) or group_max_spacing_m <= 0:
        raise ValueError(f"group_max_spacing_m must be a positive number, got {group_max_spacing_m!r}")
    if not axle_spacings_m:
        raise ValueError("a vehicle has at least 2 axles: give at least one axle spacing")
    for index, spacing_m in enumerate(axle_spacings_m):
        if not math.isfinite(spacing_m) or spacing_m <= 0:
            raise ValueError(
                f"axle spacing {index + 1} must be a positive number of metres, got {spacing_m!r}"
            )
    groups = [1]
    for spacing_m in axle_spacings_m:
        if spacing_m <= group_max_spacing_m:
            groups[-1] += 1
        else:
            groups.append(1)
    axle_count = len(axle_spacings_m) + 1
    body = Body.RIGID if axle_count == 2 or len(groups) <= 2 else Body.COMBINATION
    drive_group_single = len(groups) > 1 and groups[1] == 1
    return VehicleClass(
        axle_count=axle_count,
        groups=tuple(groups),
        body=body,
        drive_group_single=drive_group_single,
        code=_class_code(axle_count, body, drive_group_single),
    )


# --- the table file ---------------------------------------------------------------------------------

_Condition = Literal["drive_group_single"]

_CONDITIONS: dict[str, Callable[[VehicleClass], bool]] = {
    "drive_group_single": lambda vclass: vclass.drive_group_single,
}


class _RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")] = Field(
        description="Short unique name of the row, shown in records."
    )
    axles: Annotated[int, Field(ge=2, le=_MAX_TABLE_AXLES)] = Field(
        description='Number of axles; 6 means "6 or more".'
    )
    body: Literal["rigid", "combination"] = Field(description="rigid (货车) or combination (汽车列车).")
    limit_kg: Annotated[int, Field(gt=0, le=1_000_000)] = Field(description="Gross-mass limit in kg.")
    condition: _Condition | None = Field(
        default=None, description="Optional condition under which this row replaces the plain row."
    )
    text: Annotated[str, Field(min_length=1)] = Field(description="Wording of the rule (Chinese + English).")


class _TableModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    source: Annotated[str, Field(min_length=1)] = Field(description="The legal text the limits come from.")
    title: Annotated[str, Field(min_length=1)] = Field(description="Short name of this table.")
    single_tyre_deduction_kg: Annotated[int, Field(ge=0, le=100_000)] = Field(
        description="kg taken off the limit per non-drive axle with single tyres."
    )
    rule: Annotated[list[_RuleModel], Field(min_length=1)] = Field(description="The rows of the table.")


_FIX_HINTS: dict[str, str] = {
    "missing": "add this key",
    "extra_forbidden": "remove this key or correct its spelling",
    "int_type": "write a whole number without quotes or decimal point, e.g. 18000",
    "string_type": 'write text in double quotes, e.g. "rigid"',
    "literal_error": "use one of the allowed values listed",
    "too_short": "add at least one entry",
    "greater_than": "use a larger number",
    "greater_than_equal": "use a larger number",
    "less_than_equal": "use a smaller number",
    "string_pattern_mismatch": 'use letters, digits and "-" only',
}


def _describe_loc(loc: Loc, data: object) -> str:
    """'[[rule]] #4 (id = "5-combination"), key limit_kg' rather than pydantic's ('rule', 3, 'limit_kg')."""
    if len(loc) >= 2 and loc[0] == "rule" and isinstance(loc[1], int):
        rule_number = loc[1]
        label = f"[[rule]] #{rule_number + 1}"
        rules = data.get("rule") if isinstance(data, dict) else None
        if isinstance(rules, list) and rule_number < len(rules) and isinstance(rules[rule_number], dict):
            rule_id = rules[rule_number].get("id")
            if isinstance(rule_id, str):
                label += f' (id = "{rule_id}")'
        rest = ".".join(str(part) for part in loc[2:])
        return f"{label}, key '{rest}'" if rest else label
    return "key '" + ".".join(str(part) for part in loc) + "'"


def _validation_message(path: str, text: str, data: object, exc: ValidationError) -> str:
    problems = format_errors(
        exc, source=path, text=text, fixes=_FIX_HINTS, describe_loc=lambda loc: _describe_loc(loc, data)
    )
    return f"{path}: invalid limit table:\n" + "\n".join(f"  {problem}" for problem in problems)


def _where(path: str, text: str, loc: Loc) -> str:
    line = find_line(text, loc)
    return f"{path}:{line}" if line is not None else path


def _check_rows(path: str, text: str, model: _TableModel) -> None:
    seen_ids: dict[str, int] = {}
    seen_keys: dict[tuple[int, str, str | None], int] = {}
    for index, row in enumerate(model.rule):
        if row.id in seen_ids:
            raise LimitTableError(
                f"{_where(path, text, ('rule', index, 'id'))}: [[rule]] #{index + 1}, key 'id': id {row.id!r} is already used by "
                f"[[rule]] #{seen_ids[row.id] + 1}; give each row its own id"
            )
        seen_ids[row.id] = index
        key = (row.axles, row.body, row.condition)
        if key in seen_keys:
            condition = f", condition {row.condition!r}" if row.condition else ""
            raise LimitTableError(
                f"{_where(path, text, ('rule', index, 'axles'))}: [[rule]] #{index + 1} (id = {row.id!r}),"
                f" key 'axles': a row for "
                f"{row.axles} axles, body {row.body!r}{condition} already exists ([[rule]] "
                f"#{seen_keys[key] + 1}); delete one of them"
            )
        seen_keys[key] = index


@dataclass(frozen=True, slots=True)
class LimitRule:
    """One row of the legal table."""

    rule_id: str
    axles: int  # 6 means "6 or more"
    body: Body
    limit_kg: int
    condition: str | None  # "drive_group_single" or None
    text: str


@dataclass(frozen=True, slots=True)
class LimitTable:
    """The legal gross-mass table, loaded from a TOML file (see ``limits_gb2016.toml``)."""

    source: str
    title: str
    single_tyre_deduction_kg: int
    rules: tuple[LimitRule, ...]
    path: str

    @classmethod
    def load(cls, path: str | Path | None = None) -> LimitTable:
        """Load and strictly validate a table; ``None`` loads the packaged ``limits_gb2016.toml``.

        Raises :class:`LimitTableError` naming the file, the key, the line and the fix.
        """
        if path is None:
            resource = resources.files(__package__ or "edge.rules").joinpath(_PACKAGED_TABLE)
            shown_path = str(resource)
            try:
                raw = resource.read_bytes()
            except OSError as exc:
                raise LimitTableError(f"{shown_path}: cannot read the packaged limit table: {exc}") from exc
        else:
            shown_path = str(path)
            try:
                raw = Path(path).read_bytes()
            except OSError as exc:
                raise LimitTableError(
                    f"{shown_path}: cannot read limit table: {exc.strerror or exc}; check the path"
                ) from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LimitTableError(
                f"{shown_path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8"
            ) from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            # tomllib's message ends with "(at line N, column M)".
            raise LimitTableError(
                f"{shown_path}: TOML syntax error: {exc}; fix the syntax there (text needs double quotes, "
                "each key = value on its own line, [[rule]] starts a row)"
            ) from exc
        try:
            model = _TableModel.model_validate(data)
        except ValidationError as exc:
            raise LimitTableError(_validation_message(shown_path, text, data, exc)) from exc
        _check_rows(shown_path, text, model)
        return cls(
            source=model.source,
            title=model.title,
            single_tyre_deduction_kg=model.single_tyre_deduction_kg,
            rules=tuple(
                LimitRule(
                    rule_id=row.id,
                    axles=row.axles,
                    body=Body(row.body),
                    limit_kg=row.limit_kg,
                    condition=row.condition,
                    text=row.text,
                )
                for row in model.rule
            ),
            path=shown_path,
        )


# --- limit for one vehicle ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LimitDecision:
    """The limit that applies to one vehicle, with how it was reached."""

    limit_kg: int
    rule_id: str
    rule_text: str
    source: str
    base_limit_kg: int  # the row's limit before deductions
    deductions: tuple[str, ...]  # human-readable, e.g. "axle 5 single tyres: -3000 kg"
    notes: tuple[str, ...]  # e.g. "no rigid row for 5 axles; combination row applied"


def _pick_row(vclass: VehicleClass, body: Body, table: LimitTable) -> LimitRule | None:
    table_axles = min(vclass.axle_count, _MAX_TABLE_AXLES)
    rows = [row for row in table.rules if row.axles == table_axles and row.body is body]
    for row in rows:
        if row.condition is None:
            continue
        holds = _CONDITIONS.get(row.condition)
        if holds is None:
            raise LimitTableError(
                f"{table.path}: row {row.rule_id!r} has unknown condition {row.condition!r}; "
                f"use one of {sorted(_CONDITIONS)}"
            )
        if holds(vclass):
            return row
    for row in rows:
        if row.condition is None:
            return row
    return None


def gross_limit(vclass: VehicleClass, tyres: Sequence[Tyre], table: LimitTable) -> LimitDecision:
    """The gross-mass limit for ``vclass`` with ``tyres`` (one per axle, front to rear) under ``table``."""
    if len(tyres) != vclass.axle_count:
        raise ValueError(f"got {len(tyres)} tyre readings for {vclass.axle_count} axles; give one per axle")
    tyre_per_axle = [Tyre(tyre) for tyre in tyres]
    notes: list[str] = []
    table_axles = min(vclass.axle_count, _MAX_TABLE_AXLES)
    if vclass.axle_count > _MAX_TABLE_AXLES:
        notes.append(f"{vclass.axle_count} axles: the {_MAX_TABLE_AXLES}-or-more row applied")
    row = _pick_row(vclass, vclass.body, table)
    if row is None:
        other = Body.COMBINATION if vclass.body is Body.RIGID else Body.RIGID
        row = _pick_row(vclass, other, table)
        if row is None:
            raise LimitTableError(
                f"{table.path}: no [[rule]] row for {table_axles} axles (rigid or combination); add one"
            )
        notes.append(f"no {vclass.body.value} row for {table_axles} axles; {other.value} row applied")

    deductions: list[str] = []
    deducted_kg = 0
    axle_number = 0  # 1-based, front to rear
    for group_index, group_size in enumerate(vclass.groups):
        for _ in range(group_size):
            axle_number += 1
            if tyre_per_axle[axle_number - 1] is not Tyre.SINGLE:
                continue
            if group_index >= 2:
                deducted_kg += table.single_tyre_deduction_kg
                deductions.append(f"axle {axle_number} single tyres: -{table.single_tyre_deduction_kg} kg")
            elif group_index == 1:
                notes.append(
                    f"axle {axle_number} single tyres not deducted: "
                    "axle group 2 is treated as the drive group"
                )
    return LimitDecision(
        limit_kg=max(row.limit_kg - deducted_kg, 0),
        rule_id=row.rule_id,
        rule_text=row.text,
        source=table.source,
        base_limit_kg=row.limit_kg,
        deductions=tuple(deductions),
        notes=tuple(notes),
    )


# --- verdict ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """The lane verdict for one weighing."""

    verdict: Verdict
    limit: LimitDecision
    tolerance_factor: float
    threshold_kg: float  # limit_kg * tolerance_factor; gross above it is overweight
    reasons: tuple[str, ...]


def _format_kg(mass_kg: float) -> str:
    if abs(mass_kg - round(mass_kg)) < 0.05:
        return f"{mass_kg:,.0f}"
    return f"{mass_kg:,.1f}"


def decide(
    gross_kg: float,
    limit: LimitDecision,
    *,
    tolerance_factor: float = 1.05,
    unstable_reasons: Sequence[str] = (),
) -> Decision:
    """Judge a measured gross mass against ``limit``.

    Gross above ``limit_kg * tolerance_factor`` is overweight; exactly at the threshold passes. Any
    ``unstable_reasons`` (stop-and-go, rocking, jumping: 搓磅/跳磅) turn the verdict into a re-weigh.
    """
    if not math.isfinite(tolerance_factor) or not (
        _MIN_TOLERANCE_FACTOR <= tolerance_factor <= _MAX_TOLERANCE_FACTOR
    ):
        raise ValueError(
            f"tolerance_factor must be between {_MIN_TOLERANCE_FACTOR} and {_MAX_TOLERANCE_FACTOR}, "
            f"got {tolerance_factor!r}"
        )
    if not math.isfinite(gross_kg) or gross_kg < 0:
        raise ValueError(f"gross_kg must be a non-negative number, got {gross_kg!r}")
    # Rounded to the gram so that binary artefacts (25000 * 1.05 = 26250.000000000004) cannot move the line.
    threshold_kg = round(limit.limit_kg * tolerance_factor, 3)
    percent = f"{tolerance_factor * 100:.6g} %"
    comparison = f"{percent} of {_format_kg(limit.limit_kg)} kg limit ({_format_kg(threshold_kg)} kg)"
    if unstable_reasons:
        verdict, reasons = Verdict.REWEIGH, tuple(unstable_reasons)
    elif gross_kg > threshold_kg:
        verdict, reasons = Verdict.OVERWEIGHT, (f"gross {_format_kg(gross_kg)} kg > {comparison}",)
    else:
        verdict, reasons = Verdict.PASS, (f"gross {_format_kg(gross_kg)} kg <= {comparison}",)
    return Decision(
        verdict=verdict,
        limit=limit,
        tolerance_factor=tolerance_factor,
        threshold_kg=threshold_kg,
        reasons=reasons,
    )
