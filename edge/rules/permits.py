"""Permits (大件运输许可) and the watch-list (严重失信超限超载 list) in the verdict: pure code.

The central office sends both as downlink documents (edge/downlink, docs/downlink.md); their entries are
the models here, so that judging (a lower layer than the downlink) can read them.

* :func:`check_permit`: the permit of the plate read at the verdict, checked against the vehicle: validity
  window, stations on the route, axle count, gross, axle loads (and dimensions when the outline is
  measured).  :func:`apply_permit` turns the finding into the verdict: a vehicle within a valid permit
  passes; one beyond it or not matching it stays refused and is flagged 大车小证, naming the field.
* :func:`match_watchlist`: every watch-list entry matching the plate, allowing the reader's uncertainty
  (the reading's alternatives are matched too, and such a match says so).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.plates.grammar import validate as plate_problems
from edge.rules.limits import Decision, Verdict

__all__ = [
    "Permit",
    "PermitFinding",
    "WatchEntry",
    "WatchMatch",
    "apply_permit",
    "check_permit",
    "match_watchlist",
]

#: 大车小证: the vehicle does not match, or exceeds, the permit it travels under.
MISMATCH_FLAG = "大车小证"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _plate(value: str | None) -> str | None:
    if value is None:
        return None
    problems = plate_problems(value)
    if problems:
        raise ValueError(f"plate {value!r}: {'; '.join(problems)}")
    return value


class WatchEntry(_Strict):
    plate: str = Field(description="Plate as GA 36 writes it, e.g. 冀A12345.")
    reason: str = Field(max_length=200, description="Why the vehicle is watched (shown to the operator).")
    until_utc: datetime | None = Field(None, description="End of the watch; none means until removed.")

    _check_plate = field_validator("plate")(_plate)


class Permit(_Strict):
    permit_id: str = Field(min_length=1, max_length=64, description="The permit's number.")
    plate: str = Field(description="Plate of the permitted vehicle (the tractor of a combination).")
    trailer_plate: str | None = Field(None, description="Plate of the trailer (挂车), if any.")
    max_gross_kg: int = Field(gt=0, le=1_000_000, description="Permitted gross weight (kg).")
    valid_from_utc: datetime
    valid_until_utc: datetime
    route: str = Field("", max_length=500, description="Permitted route, as issued.")
    stations: tuple[str, ...] = Field(
        (),
        max_length=500,
        description="Site ids of the stations on the route; empty: the route is not checked by station.",
    )
    axle_count: int | None = Field(None, ge=2, le=30, description="Permitted number of axles.")
    axle_loads_kg: tuple[int, ...] | None = Field(
        None, description="Permitted load of each axle (kg), driving order; its length is axle_count."
    )
    max_length_m: float | None = Field(None, gt=0, le=100, description="Permitted length (m).")
    max_width_m: float | None = Field(None, gt=0, le=20, description="Permitted width (m).")
    max_height_m: float | None = Field(None, gt=0, le=10, description="Permitted height (m).")

    _check_plates = field_validator("plate", "trailer_plate")(_plate)

    @model_validator(mode="after")
    def _check_permit(self) -> Permit:
        if self.valid_until_utc <= self.valid_from_utc:
            raise ValueError(f"permit {self.permit_id}: valid_until_utc must be after valid_from_utc")
        if self.axle_loads_kg is not None:
            if self.axle_count is None or len(self.axle_loads_kg) != self.axle_count:
                raise ValueError(
                    f"permit {self.permit_id}: axle_loads_kg needs axle_count and one load per axle"
                )
            if any(load <= 0 for load in self.axle_loads_kg):
                raise ValueError(f"permit {self.permit_id}: axle_loads_kg must be positive")
        return self


PermitStatus = Literal["covers", "exceeded", "mismatch", "expired", "not_yet_valid", "not_on_route"]


@dataclass(frozen=True)
class PermitFinding:
    """What the permit of the vehicle's plate says about it."""

    permit_id: str
    status: PermitStatus
    problems: tuple[str, ...]  # each names the permit's field that failed
    max_gross_kg: int

    def as_record(self) -> dict[str, Any]:
        return {
            "permit_id": self.permit_id,
            "status": self.status,
            "problems": list(self.problems),
            "max_gross_kg": self.max_gross_kg,
        }


@dataclass(frozen=True)
class WatchMatch:
    plate: str  # the watch-list's plate
    reason: str
    exact: bool  # True: the plate as read; False: one of the reader's alternatives

    def as_record(self) -> dict[str, Any]:
        return {"plate": self.plate, "reason": self.reason, "exact": self.exact}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.now().astimezone().tzinfo)


def _check_one(
    permit: Permit,
    *,
    when: datetime,
    site_id: str,
    axle_count: int,
    gross_kg: float,
    axle_loads_kg: Sequence[float | None],
    tolerance_factor: float,
    outline_m: Mapping[str, float] | None,
    outline_u_m: Mapping[str, float] | None = None,
    oversize: Sequence[str] = (),
    coverage: float = 2.0,
    trailer_plate: str | None = None,
    plate: str | None = None,
) -> PermitFinding:
    def finding(status: PermitStatus, *problems: str) -> PermitFinding:
        return PermitFinding(permit.permit_id, status, problems, permit.max_gross_kg)

    if when < _aware(permit.valid_from_utc):
        return finding("not_yet_valid", f"valid_from_utc {permit.valid_from_utc.isoformat()} is later")
    if when > _aware(permit.valid_until_utc):
        return finding("expired", f"valid_until_utc {permit.valid_until_utc.isoformat()} has passed")
    if permit.stations and site_id not in permit.stations:
        return finding("not_on_route", f"stations: {site_id} is not on the permitted route")
    mismatch = []
    if plate and plate != permit.plate:
        mismatch.append(f"plate: permit {permit.plate}, vehicle {plate}")
    if (
        permit.trailer_plate is not None
        and trailer_plate is not None
        and trailer_plate != permit.trailer_plate
    ):
        mismatch.append(f"trailer_plate: permit {permit.trailer_plate}, vehicle {trailer_plate}")
    if permit.axle_count is not None and axle_count != permit.axle_count:
        mismatch.append(f"axle_count: permit {permit.axle_count}, vehicle {axle_count}")
    if outline_m:
        for key, name in (
            ("length_m", "max_length_m"),
            ("width_m", "max_width_m"),
            ("height_m", "max_height_m"),
        ):
            allowed = getattr(permit, name)
            if key not in outline_m:
                continue
            measured = outline_m[key]
            u = (outline_u_m or {}).get(key)
            shown = f"{measured:.2f} m" if u is None else f"{measured:.2f} +/- {u:.3f} m"
            if allowed is None:
                if key.removesuffix("_m") in oversize:
                    mismatch.append(f"{name}: not in the permit, vehicle {shown} is oversize")
            elif measured - coverage * (u or 0.0) > allowed:
                mismatch.append(f"{name}: permit {allowed:g} m, vehicle {shown}")
    if mismatch:
        return finding("mismatch", *mismatch)
    exceeded = []
    if gross_kg > permit.max_gross_kg * tolerance_factor:
        exceeded.append(
            f"max_gross_kg: permit {permit.max_gross_kg:,} kg (threshold"
            f" {permit.max_gross_kg * tolerance_factor:,.0f} kg), vehicle {gross_kg:,.0f} kg"
        )
    if permit.axle_loads_kg is not None and len(axle_loads_kg) == len(permit.axle_loads_kg):
        for index, (load, allowed) in enumerate(zip(axle_loads_kg, permit.axle_loads_kg, strict=True)):
            if load is not None and load > allowed * tolerance_factor:
                exceeded.append(f"axle_loads_kg[{index}]: permit {allowed:,} kg, vehicle {load:,.0f} kg")
    if exceeded:
        return finding("exceeded", *exceeded)
    return finding("covers")


_PREFERENCE: dict[str, int] = {
    "covers": 0,
    "exceeded": 1,
    "mismatch": 2,
    "not_on_route": 3,
    "expired": 4,
    "not_yet_valid": 5,
}


def check_permit(
    permits: Iterable[Permit],
    plate: str | None,
    *,
    when: datetime,
    site_id: str,
    axle_count: int,
    gross_kg: float,
    axle_loads_kg: Sequence[float | None] = (),
    tolerance_factor: float = 1.0,
    outline_m: Mapping[str, float] | None = None,
    outline_u_m: Mapping[str, float] | None = None,
    oversize: Sequence[str] = (),
    coverage: float = 2.0,
    trailer_plate: str | None = None,
) -> PermitFinding | None:
    """The finding for the permit of ``plate`` or ``trailer_plate`` (the plates as read: a permit never
    applies to a guessed alternative), or None when it has none.  A permit matches on its tractor's
    plate or on its trailer's (``trailer_plate``, 挂); a trailer read that is not the permit's is a
    mismatch.  Of several permits the one that covers the vehicle wins, then the closest to it.

    ``tolerance_factor`` allows the weight's uncertainty, as for the legal limit; a measured dimension
    (``outline_m``, standard uncertainties ``outline_u_m``) exceeds the permitted one when value -
    ``coverage`` u does.  A dimension in ``oversize`` (``height``, ``width``, ``length``: over the legal
    limit) needs the permit to state its maximum."""
    if plate is not None and plate.endswith("挂") and trailer_plate is None:
        plate, trailer_plate = None, plate
    if not plate and not trailer_plate:
        return None
    findings = [
        _check_one(
            permit,
            when=when,
            site_id=site_id,
            axle_count=axle_count,
            gross_kg=gross_kg,
            axle_loads_kg=axle_loads_kg,
            tolerance_factor=tolerance_factor,
            outline_m=outline_m,
            outline_u_m=outline_u_m,
            oversize=oversize,
            coverage=coverage,
            trailer_plate=trailer_plate,
            plate=plate,
        )
        for permit in permits
        if (plate and permit.plate == plate)
        or (trailer_plate is not None and permit.trailer_plate == trailer_plate)
    ]
    if not findings:
        return None
    return min(findings, key=lambda f: _PREFERENCE[f.status])


def apply_permit(decision: Decision, finding: PermitFinding | None) -> Decision:
    """The verdict with the permit taken into account.

    * covers: an overweight vehicle passes, the permit named in the reasons;
    * exceeded or mismatch: 大车小证, naming each field; an overweight vehicle stays refused;
    * expired, not yet valid, not on the route: the permit does not apply, said in the reasons.

    A vehicle within the legal limit needs no permit: its verdict stays, a finding is only noted.  A
    re-weigh stays a re-weigh (the measurement cannot be trusted either way)."""
    if finding is None or decision.verdict is Verdict.REWEIGH:
        return decision
    if finding.status == "covers":
        if not decision.verdict.refuses:
            return decision
        reason = f"permit {finding.permit_id}: within the permitted {finding.max_gross_kg:,} kg"
        return dataclasses.replace(decision, verdict=Verdict.PASS, reasons=(*decision.reasons, reason))
    if finding.status in ("exceeded", "mismatch"):
        reasons = tuple(
            f"{MISMATCH_FLAG}: permit {finding.permit_id} {problem}" for problem in finding.problems
        )
    else:
        label = {
            "expired": "expired",
            "not_yet_valid": "not yet valid",
            "not_on_route": "not for this station",
        }
        reasons = tuple(
            f"permit {finding.permit_id} {label[finding.status]}: {problem}" for problem in finding.problems
        )
    return dataclasses.replace(decision, reasons=(*decision.reasons, *reasons))


def match_watchlist(
    entries: Iterable[WatchEntry], text: str | None, alternatives: Sequence[str] = (), *, when: datetime
) -> tuple[WatchMatch, ...]:
    """The watch-list entries (still in force at ``when``) whose plate is the plate read or one of the
    reader's alternatives for an uncertain reading."""
    candidates = ([text] if text else []) + [a for a in alternatives if a and a != text]
    if not candidates:
        return ()
    matches = []
    for entry in entries:
        if entry.until_utc is not None and when > _aware(entry.until_utc):
            continue
        if entry.plate in candidates:
            matches.append(WatchMatch(entry.plate, entry.reason, exact=entry.plate == text))
    return tuple(matches)
