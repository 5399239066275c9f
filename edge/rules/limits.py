"""Gross-mass limits for trucks, vehicle classification from axle spacings, and the entrance verdict.

The legal rule is article 3 of 《超限运输车辆行驶公路管理规定》(交通运输部令2016年第62号). Its numbers live
in ``limits_gb2016.toml`` beside this module, a table a field engineer can read and edit; this module only
knows how to pick a row, apply the single-tyre deduction and compare a measured gross mass with it.

Classification (what weigh-in-motion sensors alone allow)
    Consecutive axles whose spacing is <= ``group_max_spacing_m`` (2.0 m by default) form one axle group
    (a tandem counts as 2 axles, a tridem as 3: article 3, second paragraph, item 1). On 3 or 4 axles the
    first two share the steer group up to ``steer_group_max_spacing_m`` (2.4 m) apart: a twin steer (双转向,
    1.8-2.1 m on 8x4 trucks) measured in motion a few cm over 2.0 m would otherwise make a 4-axle rigid truck
    (31,000 kg) a combination (36,000 kg), and no tractor or truck wheelbase is that short (2.8 m and up on
    heavy vehicles); from 5 axles every row is a combination's. A vehicle with at most 2 axle groups is a
    rigid truck (steer group + rear group); 3 or more groups is a combination (tractor + semi-trailer, or
    truck + drawbar trailer). A 2-axle vehicle is always rigid. This is a heuristic: a
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

Variants (交公路发〔2016〕124号, notes 1-4)
    A row may carry several conditions (``condition = ["drive_dual_tyres", "drive_air_suspension"]``); among
    the rows for the vehicle's axles and body whose conditions all hold, the one with the most conditions
    applies (the first in the file on a tie), else the plain row. Conditions read the vehicle's class and
    tyres, its axle spacings, and :class:`VehicleFacts`: what weigh-in-motion cannot know (air suspension,
    tractor + semi-trailer, the registered gross of a 2-axle truck) and the site's configuration, a vehicle
    registry or a permit supplies. Unknown facts never satisfy a condition.

Per-axle and axle-group limits (GB 1589-2016) and the sum rule (item 3) live in :mod:`edge.rules.axles`.
Permits live in :mod:`edge.rules.permits`.

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
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.configerrors import Loc, find_line, format_errors
from edge.errors import EdgeError

if TYPE_CHECKING:
    from edge.rules.axles import AxleTable

__all__ = [
    "CONDITIONS",
    "Body",
    "Decision",
    "LimitDecision",
    "LimitRule",
    "LimitTable",
    "LimitTableError",
    "Tyre",
    "VehicleClass",
    "VehicleFacts",
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
    #: Legal weight, but a dimension over its limit (超高/超宽/超长): refused like an overweight truck.
    OVERSIZE = "oversize"
    REWEIGH = "reweigh"

    @property
    def refuses(self) -> bool:
        """True when the lane refuses entry (超限: over a weight or a dimension limit)."""
        return self in (Verdict.OVERWEIGHT, Verdict.OVERSIZE)


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


def classify(
    axle_spacings_m: Sequence[float],
    *,
    group_max_spacing_m: float = 2.0,
    steer_group_max_spacing_m: float = 2.4,
) -> VehicleClass:
    """Classify a vehicle from its axle spacings (front to rear, one fewer than the axles).

    Axles closer than or exactly ``group_max_spacing_m`` apart share a group; on 3 or 4 axles (the rigid
    rows' counts) the first two share the steer group up to the larger of that and
    ``steer_group_max_spacing_m`` (a twin steer); <= 2 groups is rigid, >= 3 is a combination, 2 axles are
    always rigid. See the module docstring for the limits of this heuristic.
    """
    for name, value in (
        ("group_max_spacing_m", group_max_spacing_m),
        ("steer_group_max_spacing_m", steer_group_max_spacing_m),
    ):
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not axle_spacings_m:
        raise ValueError("a vehicle has at least 2 axles: give at least one axle spacing")
    for index, spacing_m in enumerate(axle_spacings_m):
        if not math.isfinite(spacing_m) or spacing_m <= 0:
            raise ValueError(
                f"axle spacing {index + 1} must be a positive number of metres, got {spacing_m!r}"
            )
    groups = [1]
    # A twin steer: only on 3 or 4 axles (rigid rows exist for 2-4 axles; from 5 on every row is a
    # combination's, and a tractor's wheelbase read short, an unweighable crossing's spacings, must not join
    # the steer axle), and the steer pair stays a pair (a second spacing within the group limit is a drive
    # tandem behind a single steer axle, a 6x4 read short, not a third steer axle).
    twin_steer = (
        len(axle_spacings_m) in (2, 3)
        and axle_spacings_m[0] <= max(group_max_spacing_m, steer_group_max_spacing_m)
        and axle_spacings_m[1] > group_max_spacing_m
    )
    for index, spacing_m in enumerate(axle_spacings_m):
        if spacing_m <= group_max_spacing_m or (index == 0 and twin_steer):
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


@dataclass(frozen=True, slots=True)
class VehicleFacts:
    """What the rules need that weigh-in-motion cannot measure. ``None`` is "not known": a condition that
    needs an unknown fact does not hold (no variant is granted on a guess).

    ``source`` says where the facts came from (``config`` defaults, ``registry``, ``permit``, ``what-if``);
    it goes on the record."""

    air_suspension: bool | None = None  # the drive axle(s) have air suspension (空气悬架)
    articulated: bool | None = None  # tractor + semi-trailer (铰接列车), not truck + drawbar trailer
    registered_gross_kg: int | None = None  # 行驶证 total mass; caps a 2-axle truck (124号 note 1)
    source: str = "none"

    def as_record(self) -> dict[str, object]:
        return {
            "air_suspension": self.air_suspension,
            "articulated": self.articulated,
            "registered_gross_kg": self.registered_gross_kg,
            "source": self.source,
        }


# --- the table file ---------------------------------------------------------------------------------

_Condition = Literal[
    "drive_group_single",
    "drive_dual_tyres",
    "drive_air_suspension",
    "articulated",
    "trailer_axles_spread",
]


@dataclass(frozen=True, slots=True)
class _Context:
    vclass: VehicleClass
    tyres: tuple[Tyre, ...]
    spacings_m: tuple[float, ...]
    facts: VehicleFacts
    spread_min_m: float


def _drive_axles(vclass: VehicleClass) -> range:
    """0-based indices of the axles of group index 1 (treated as the drive group; see the docstring)."""
    if len(vclass.groups) < 2:
        return range(0)
    start = vclass.groups[0]
    return range(start, start + vclass.groups[1])


_FACT_CONDITIONS = frozenset({"drive_air_suspension", "articulated"})

CONDITIONS: dict[str, tuple[Callable[[_Context], bool], str]] = {
    "drive_group_single": (
        lambda c: c.vclass.drive_group_single,
        "axle group 2 (the drive group) is one single axle",
    ),
    "drive_dual_tyres": (
        lambda c: (
            bool(_drive_axles(c.vclass))
            and all(c.tyres[i] is Tyre.DUAL for i in _drive_axles(c.vclass) if i < len(c.tyres))
        ),
        "the drive axle(s) have dual tyres on each side",
    ),
    "drive_air_suspension": (
        lambda c: c.facts.air_suspension is True,
        "the drive axle(s) have air suspension (a registry, permit or site fact)",
    ),
    "articulated": (
        lambda c: c.facts.articulated is True,
        "tractor + semi-trailer (铰接列车; a registry, permit or site fact)",
    ),
    "trailer_axles_spread": (
        lambda c: bool(c.spacings_m) and c.spacings_m[-1] >= c.spread_min_m,
        "the last two axles are at least spread_axle_min_spacing_m apart",
    ),
}
"""Every condition a table row may name: the test, and its meaning in words (for records and docs)."""


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
    condition: _Condition | list[_Condition] | None = Field(
        default=None, description="Optional condition(s) under which this row replaces the plain row."
    )
    text: Annotated[str, Field(min_length=1)] = Field(description="Wording of the rule (Chinese + English).")
    source: Annotated[str, Field(min_length=1)] | None = Field(
        default=None, description="The legal text and clause of this row (default: the table's source)."
    )


class _TableModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    source: Annotated[str, Field(min_length=1)] = Field(description="The legal text the limits come from.")
    title: Annotated[str, Field(min_length=1)] = Field(description="Short name of this table.")
    single_tyre_deduction_kg: Annotated[int, Field(ge=0, le=100_000)] = Field(
        description="kg taken off the limit per non-drive axle with single tyres."
    )
    rule: Annotated[list[_RuleModel], Field(min_length=1)] = Field(description="The rows of the table.")
    spread_axle_min_spacing_m: Annotated[float, Field(gt=0, le=10)] = Field(
        default=1.8, description="Condition trailer_axles_spread: the last two axles at least this far apart."
    )
    axles: dict[str, object] | None = Field(
        default=None, description="Axle-limit settings (edge.rules.axles)."
    )
    axle_limit: list[dict[str, object]] | None = Field(
        default=None, description="Per-axle and axle-group limit rows (edge.rules.axles)."
    )


def _conditions(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


FIX_HINTS: dict[str, str] = {
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
    "bool_type": "write true or false, without quotes",
    "float_type": "write a number without quotes, e.g. 1.3",
    "list_type": 'write a list in brackets, e.g. ["drive_dual_tyres"]',
}


def _describe_loc(loc: Loc, data: object) -> str:
    """'[[rule]] #4 (id = "5-combination"), key limit_kg' rather than pydantic's ('rule', 3, 'limit_kg')."""
    if len(loc) >= 2 and loc[0] in ("rule", "axle_limit") and isinstance(loc[1], int):
        rule_number = loc[1]
        label = f"[[{loc[0]}]] #{rule_number + 1}"
        rules = data.get(str(loc[0])) if isinstance(data, dict) else None
        if isinstance(rules, list) and rule_number < len(rules) and isinstance(rules[rule_number], dict):
            rule_id = rules[rule_number].get("id")
            if isinstance(rule_id, str):
                label += f' (id = "{rule_id}")'
        rest = ".".join(str(part) for part in loc[2:])
        return f"{label}, key '{rest}'" if rest else label
    return "key '" + ".".join(str(part) for part in loc) + "'"


def validation_message(path: str, text: str, data: object, exc: ValidationError) -> str:
    problems = format_errors(
        exc, source=path, text=text, fixes=FIX_HINTS, describe_loc=lambda loc: _describe_loc(loc, data)
    )
    return f"{path}: invalid limit table:\n" + "\n".join(f"  {problem}" for problem in problems)


def where(path: str, text: str, loc: Loc) -> str:
    line = find_line(text, loc)
    return f"{path}:{line}" if line is not None else path


def _check_rows(path: str, text: str, model: _TableModel) -> None:
    seen_ids: dict[str, int] = {}
    seen_keys: dict[tuple[int, str, frozenset[str]], int] = {}
    for index, row in enumerate(model.rule):
        if row.id in seen_ids:
            raise LimitTableError(
                f"{where(path, text, ('rule', index, 'id'))}: [[rule]] #{index + 1}, key 'id': id {row.id!r} is already used by "
                f"[[rule]] #{seen_ids[row.id] + 1}; give each row its own id"
            )
        seen_ids[row.id] = index
        key = (row.axles, row.body, frozenset(_conditions(row.condition)))
        if key in seen_keys:
            condition = f", condition {row.condition!r}" if row.condition else ""
            raise LimitTableError(
                f"{where(path, text, ('rule', index, 'axles'))}: [[rule]] #{index + 1} (id = {row.id!r}),"
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
    condition: str | None  # the conditions joined by "+", e.g. "drive_group_single"; None for a plain row
    text: str
    conditions: tuple[str, ...] = ()  # every condition of the row (all must hold)
    source: str = ""  # the row's own source and clause ("" = the table's source)

    @property
    def needs_facts(self) -> bool:
        """True when the row applies only on facts WIM cannot measure (a registry's, permit's or site's)."""
        return bool(_FACT_CONDITIONS.intersection(self.conditions))


@dataclass(frozen=True, slots=True)
class LimitTable:
    """The legal gross-mass table, loaded from a TOML file (see ``limits_gb2016.toml``)."""

    source: str
    title: str
    single_tyre_deduction_kg: int
    rules: tuple[LimitRule, ...]
    path: str
    spread_axle_min_spacing_m: float = 1.8
    axles: AxleTable | None = None  # GB 1589-2016 axle and axle-group limits, when the file has them

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
            raise LimitTableError(validation_message(shown_path, text, data, exc)) from exc
        _check_rows(shown_path, text, model)
        from edge.rules.axles import AxleTable  # here: edge.rules.axles imports this module

        axles = AxleTable.from_data(shown_path, text, data) if model.axle_limit or model.axles else None
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
                    condition="+".join(_conditions(row.condition)) or None,
                    text=row.text,
                    conditions=_conditions(row.condition),
                    source=row.source or "",
                )
                for row in model.rule
            ),
            path=shown_path,
            spread_axle_min_spacing_m=model.spread_axle_min_spacing_m,
            axles=axles,
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
    row_source: str = ""  # the applied row's own source and clause (the table's source when it names none)
    axle_sum_kg: int | None = None  # sum of the axle(-group) limits (Order 62 art. 3 para 2 item 3)
    axle_sum_applied: bool = False  # True when that sum was lower than the row and became the limit


def holds(condition: str, context: _Context, path: str = "limit table") -> bool:
    entry = CONDITIONS.get(condition)
    if entry is None:
        raise LimitTableError(f"{path}: unknown condition {condition!r}; use one of {sorted(CONDITIONS)}")
    return entry[0](context)


def _pick_row(vclass: VehicleClass, body: Body, table: LimitTable, context: _Context) -> LimitRule | None:
    table_axles = min(vclass.axle_count, _MAX_TABLE_AXLES)
    rows = [row for row in table.rules if row.axles == table_axles and row.body is body]
    best: LimitRule | None = None
    for row in rows:
        if all(holds(condition, context, table.path) for condition in row.conditions) and (
            best is None or len(row.conditions) > len(best.conditions)
        ):
            best = row
    return best


def gross_limit(
    vclass: VehicleClass,
    tyres: Sequence[Tyre],
    table: LimitTable,
    *,
    spacings_m: Sequence[float] = (),
    facts: VehicleFacts | None = None,
) -> LimitDecision:
    """The gross-mass limit for ``vclass`` with ``tyres`` (one per axle, front to rear) under ``table``.

    ``spacings_m`` and ``facts`` are what the 124号 variants need; without them no variant that needs them
    applies. This is the gross table only: the axle-group limits and the sum rule are
    :func:`edge.rules.axles.assess`'s.
    """
    if len(tyres) != vclass.axle_count:
        raise ValueError(f"got {len(tyres)} tyre readings for {vclass.axle_count} axles; give one per axle")
    tyre_per_axle = [Tyre(tyre) for tyre in tyres]
    facts = facts if facts is not None else VehicleFacts()
    context = _Context(
        vclass, tuple(tyre_per_axle), tuple(spacings_m), facts, table.spread_axle_min_spacing_m
    )
    notes: list[str] = []
    table_axles = min(vclass.axle_count, _MAX_TABLE_AXLES)
    if vclass.axle_count > _MAX_TABLE_AXLES:
        notes.append(f"{vclass.axle_count} axles: the {_MAX_TABLE_AXLES}-or-more row applied")
    row = _pick_row(vclass, vclass.body, table, context)
    if row is None:
        other = Body.COMBINATION if vclass.body is Body.RIGID else Body.RIGID
        row = _pick_row(vclass, other, table, context)
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
    if row.needs_facts:  # say what was assumed, and on whose word
        said = "; ".join(CONDITIONS[condition][1] for condition in row.conditions)
        notes.append(f"variant {row.rule_id}: {said} (facts: {facts.source})")
    limit_kg = max(row.limit_kg - deducted_kg, 0)
    if (
        vclass.axle_count == 2
        and facts.registered_gross_kg is not None
        and facts.registered_gross_kg < limit_kg
    ):
        limit_kg = facts.registered_gross_kg
        notes.append(
            f"2-axle truck: its registered gross {facts.registered_gross_kg} kg ({facts.source}) is lower and "
            "applies (交公路发〔2016〕124号 附件 备注1)"
        )
    return LimitDecision(
        limit_kg=limit_kg,
        rule_id=row.rule_id,
        rule_text=row.text,
        source=table.source,
        base_limit_kg=row.limit_kg,
        deductions=tuple(deductions),
        notes=tuple(notes),
        row_source=row.source or table.source,
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
