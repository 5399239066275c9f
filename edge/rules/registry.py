"""The vehicle registry (optional downlink ``registry``): plate -> registered axle layout and dimensions.

Pure code.  The central office sends the registered facts of the vehicles it knows (from the vehicle
registration, 机动车登记); the lane compares the measured vehicle with them:

* **dimensions**: a measured length, width or height outside the GB 21861-2014 in-use tolerance of the
  registered value (heavy trucks and trailers: +/-2 % or +/-100 mm, whichever is larger), beyond the
  measurement's own uncertainty (|measured - registered| - k u > tolerance), flags the vehicle as
  possibly illegally modified (非法改装).  The flag goes on the record and in the reasons; it does not
  change the verdict (the oversize limits and the weight decide that);
* **axles**: the registered axle count and groups are facts on the record; a different count measured is
  said (``axles_differ``), since it may as well be a misread plate;
* **facts the scale cannot measure** (optional): whether the drive axle(s) have air suspension, whether
  the vehicle is a tractor + semi-trailer, and its registered gross (行驶证总质量).  When the registry
  says so they replace the site's assumptions in the judgement (:meth:`RegisteredVehicle.facts`), so a
  3-axle truck registered with air suspension gets the 124号 +1,000 kg variant and a 2-axle truck is
  capped by its registered gross (124号 备注1, 备注4).  What the registry leaves out stays the site's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.plates.grammar import validate as plate_problems
from edge.rules.limits import VehicleFacts

__all__ = [
    "MODIFIED_FLAG",
    "TOLERANCE_SOURCE",
    "RegisteredVehicle",
    "RegistryFinding",
    "check_registry",
    "tolerance_m",
]

#: 非法改装: the vehicle differs from its registration beyond the tolerance.
MODIFIED_FLAG = "非法改装"
#: GB 21861-2014, in-use inspection of heavy trucks and trailers: +/-2 % or +/-100 mm (the larger).
IN_USE_FRACTION = 0.02
IN_USE_MIN_M = 0.100
TOLERANCE_SOURCE = "GB 21861-2014 (in use, heavy trucks and trailers: +/-2 % or +/-100 mm)"


def tolerance_m(registered_m: float) -> float:
    """The GB 21861 in-use tolerance of a registered dimension (m)."""
    return max(IN_USE_FRACTION * registered_m, IN_USE_MIN_M)


class RegisteredVehicle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    plate: str = Field(description="Plate as GA 36 writes it (a trailer's ends in 挂).")
    axle_count: int | None = Field(None, ge=2, le=30, description="Registered number of axles.")
    axle_groups: tuple[int, ...] | None = Field(
        None, description="Registered axle groups in driving order (1 single, 2 tandem, 3 tridem)."
    )
    length_m: float | None = Field(None, gt=0, le=100, description="Registered length (m).")
    width_m: float | None = Field(None, gt=0, le=20, description="Registered width (m).")
    height_m: float | None = Field(None, gt=0, le=10, description="Registered height (m).")
    drive_air_suspension: bool | None = Field(
        None,
        description="The drive axle(s) have air suspension (空气悬架; 124号 备注4 variants). Unset: the site's"
        " assumption ([rules] assume_air_suspension) holds.",
    )
    articulated: bool | None = Field(
        None, description="Tractor + semi-trailer (铰接列车). Unset: the site's assumption holds."
    )
    registered_gross_kg: int | None = Field(
        None, ge=1000, le=200_000, description="行驶证 total mass (kg); caps a 2-axle truck (124号 备注1)."
    )

    def facts(self, site: VehicleFacts) -> VehicleFacts | None:
        """The facts for the judgement: the registry's where it gives them, the site's (``site``) for the
        rest; None when the registry gives none (the site's facts then stand alone)."""
        given = (self.drive_air_suspension, self.articulated, self.registered_gross_kg)
        if all(v is None for v in given):
            return None
        own = all(v is not None for v in given[:2])
        return VehicleFacts(
            air_suspension=site.air_suspension
            if self.drive_air_suspension is None
            else self.drive_air_suspension,
            articulated=site.articulated if self.articulated is None else self.articulated,
            registered_gross_kg=self.registered_gross_kg,
            source="registry" if own else f"registry + {site.source}",
        )

    @field_validator("plate")
    @classmethod
    def _check_plate(cls, value: str) -> str:
        problems = plate_problems(value)
        if problems:
            raise ValueError(f"plate {value!r}: {'; '.join(problems)}")
        return value

    @model_validator(mode="after")
    def _check_groups(self) -> RegisteredVehicle:
        if self.axle_groups is not None:
            if any(g < 1 or g > 4 for g in self.axle_groups):
                raise ValueError(f"{self.plate}: axle_groups must be 1-4 axles each")
            if self.axle_count is None or sum(self.axle_groups) != self.axle_count:
                raise ValueError(f"{self.plate}: axle_groups needs axle_count and must add up to it")
        return self


RegistryStatus = Literal["matches", "modified", "axles_differ", "not_checked"]


@dataclass(frozen=True)
class RegistryFinding:
    vehicle: RegisteredVehicle
    status: RegistryStatus
    problems: tuple[str, ...]

    def as_record(self) -> dict[str, Any]:
        v = self.vehicle
        return {
            "plate": v.plate,
            "axle_count": v.axle_count,
            "axle_groups": None if v.axle_groups is None else list(v.axle_groups),
            "length_m": v.length_m,
            "width_m": v.width_m,
            "height_m": v.height_m,
            **{
                key: value
                for key, value in (
                    ("drive_air_suspension", v.drive_air_suspension),
                    ("articulated", v.articulated),
                    ("registered_gross_kg", v.registered_gross_kg),
                )
                if value is not None
            },
            "status": self.status,
            "problems": list(self.problems),
            "tolerance": TOLERANCE_SOURCE,
        }

    def reasons(self) -> tuple[str, ...]:
        if self.status == "modified":
            return tuple(f"{MODIFIED_FLAG}: registry {self.vehicle.plate} {p}" for p in self.problems)
        if self.status == "axles_differ":
            return tuple(f"registry {self.vehicle.plate}: {p}" for p in self.problems)
        return ()


def by_plate(vehicles: Iterable[RegisteredVehicle]) -> dict[str, RegisteredVehicle]:
    return {v.plate: v for v in vehicles}


def check_registry(
    registry: Mapping[str, RegisteredVehicle],
    plate: str | None,
    *,
    axle_count: int | None,
    outline_m: Mapping[str, float] | None = None,
    outline_u_m: Mapping[str, float] | None = None,
    coverage: float = 2.0,
) -> RegistryFinding | None:
    """The registry's finding for ``plate`` (as read; never a guessed alternative), or None when the
    registry does not know it."""
    if not plate or plate not in registry:
        return None
    vehicle = registry[plate]
    modified: list[str] = []
    for key in ("length_m", "width_m", "height_m"):
        registered = getattr(vehicle, key)
        if registered is None or not outline_m or key not in outline_m:
            continue
        measured = outline_m[key]
        u = (outline_u_m or {}).get(key, 0.0)
        tolerance = tolerance_m(registered)
        if abs(measured - registered) - coverage * u > tolerance:
            modified.append(
                f"{key}: registered {registered:.2f} m, measured {measured:.2f} +/- {u:.3f} m"
                f" (tolerance +/-{tolerance:.2f} m)"
            )
    axles: list[str] = []
    if vehicle.axle_count is not None and axle_count is not None and axle_count != vehicle.axle_count:
        axles.append(f"axle_count: registered {vehicle.axle_count}, measured {axle_count}")
    if modified:
        return RegistryFinding(vehicle, "modified", (*modified, *axles))
    if axles:
        return RegistryFinding(vehicle, "axles_differ", tuple(axles))
    if not outline_m:
        return RegistryFinding(vehicle, "not_checked", ("outline not measured: dimensions not compared",))
    return RegistryFinding(vehicle, "matches", ())
