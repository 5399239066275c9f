"""Scenario files: the trucks a simulated lane sees, in the order they arrive.

A scenario is a TOML file (see ``firmware_sim/scenarios/default.toml``)::

    name = "default"
    seed = 20261122
    gap_s = 3.0

    [[truck]]
    plate = "冀A12345"
    body = "rigid"
    speed_kmh = 12.0
    axle_spacings_m = [3.8, 1.35]
    axle_loads_kg = [6500.0, 9000.0, 9000.0]
    tyres = ["single", "dual", "dual"]
    front_overhang_m = 1.4
    rear_overhang_m = 1.8
    expected_verdict = "pass"

How a truck drives (all optional; at most one of the three speed profiles per truck):
``stop_on_scale_s`` (stop-and-go, 搓磅), ``accel_mps2`` (constant acceleration or braking while on the scale),
``jump = true`` (hard brake and release on the scale, 跳磅), plus ``lateral_offset_m``.

Vehicle dynamics (optional): a ``[truck.dynamics]`` sub-table after a truck's keys switches on body bounce,
pitch, axle hop, load transfer under acceleration and lateral wander for that truck (see
:class:`DynamicsSettings` and ``firmware_sim.physics.Dynamics``)::

    [truck.dynamics]
    roughness = 0.5          # 0 smooth .. 1 rough approach
    lateral_wander_m = 0.05

A truck without the sub-table carries its static axle loads (the noise-only model).  Load-cell options
beyond noise and drift (temperature, span errors) go in an optional top-level ``[sensor]`` table
(:class:`SensorSettings`).

:func:`load_scenario` reads and validates one; every problem is reported as a :class:`ScenarioError` naming
the file, the TOML line, the key path (``truck[3].axle_loads_kg``) and what to change.
"""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from drivers.errors import EdgeError
from edge.configerrors import Loc, format_errors

__all__ = [
    "Body",
    "DynamicsSettings",
    "Scenario",
    "ScenarioError",
    "SensorSettings",
    "Truck",
    "Tyre",
    "Verdict",
    "back_to_back",
    "load_scenario",
]

MIN_AXLES = 2
MAX_AXLES = 10

Body = Literal["rigid", "combination"]
Tyre = Literal["single", "dual", "wide_single"]
Verdict = Literal["pass", "overweight", "oversize", "reweigh"]

_PositiveMetres = Annotated[float, Field(gt=0.0)]
_PositiveKg = Annotated[float, Field(gt=0.0)]


class ScenarioError(EdgeError, ValueError):
    """Raised when a scenario file cannot be found, is not valid TOML, or does not describe valid trucks.

    The message holds one line per problem: ``file:line: key.path: what is wrong; what to do``.
    ``file`` is the file, ``problems`` the individual lines.
    """

    def __init__(self, file: str, problems: list[str]) -> None:
        self.file = file
        self.problems = tuple(problems)
        if len(problems) == 1:
            message = problems[0]
        else:
            message = f"{file}: {len(problems)} problems:\n" + "\n".join(f"  {p}" for p in problems)
        super().__init__(message)


class DynamicsSettings(BaseModel):
    """``[truck.dynamics]``: the truck bounces, pitches and hops instead of carrying static loads.

    Every key is optional; an empty table gives the default dynamics of a truck on a smooth approach.
    ``firmware_sim.physics.Dynamics`` documents the model and where its numbers come from.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    roughness: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description=(
            "Roughness of the approach: 0 a smooth, level WIM approach (ISO 8608 class A), "
            "1 about one class rougher; the dynamic load coefficient doubles from 0 to 1."
        ),
    )
    body_bounce_hz: float | None = Field(
        default=None,
        gt=0.0,
        le=20.0,
        description="Sprung-mass bounce frequency, Hz; omitted: drawn per vehicle unit from 1.5-4 Hz.",
    )
    axle_hop_hz: float | None = Field(
        default=None,
        gt=0.0,
        le=40.0,
        description="Unsprung-mass (axle hop) frequency, Hz; omitted: drawn per axle group from 8-15 Hz.",
    )
    cg_height_m: float = Field(
        default=1.5,
        ge=0.0,
        le=4.0,
        description="Height of the centre of gravity, m: sets the load moved between axles when braking.",
    )
    coupling_height_m: float = Field(
        default=1.2,
        ge=0.0,
        le=4.0,
        description="A combination's coupling (fifth-wheel) height, m: sets the load its towing unit's axles"
        " move between them when it pulls the trailer.",
    )
    lateral_wander_m: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Largest slow lateral drift about lateral_offset_m while crossing, m; 0 drives straight.",
    )
    dlc_scale: float = Field(
        default=1.0,
        ge=0.0,
        le=5.0,
        description="Multiplies the dynamic load coefficient: below 1 a good air suspension, above 1 a worn one.",
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        description="Seed of this truck's random modes; omitted: derived from the scenario seed and truck index.",
    )


class SensorSettings(BaseModel):
    """``[sensor]``: load-cell behaviour beyond noise and zero drift (temperature effects, span errors).

    All zero by default, which leaves the load-cell model as it was.  The temperature follows a slow
    sinusoid ``temperature_mean_c + temperature_amplitude_c * sin(2 pi t / temperature_period_s)``;
    ``firmware_sim.physics.LoadCellModel`` documents how each term enters the counts.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    temperature_mean_c: float = Field(
        default=20.0, ge=-50.0, le=80.0, description="Mean temperature of the load cells, °C."
    )
    temperature_amplitude_c: float = Field(
        default=0.0, ge=0.0, le=60.0, description="Amplitude of the slow temperature swing, °C."
    )
    temperature_period_s: float = Field(
        default=86_400.0, gt=0.0, description="Period of the temperature swing, s (a day by default)."
    )
    zero_tc_kg_per_c: float = Field(
        default=0.0, description="Zero shift of every cell per °C away from 20 °C, kg/°C."
    )
    span_tc_per_c: float = Field(
        default=0.0,
        ge=-0.01,
        le=0.01,
        description="Relative gain change of every cell per °C away from 20 °C, e.g. 2e-5 = 0.002 %/°C.",
    )
    span_error_fraction: float = Field(
        default=0.0,
        ge=0.0,
        le=0.2,
        description="Standard deviation of the seeded per-cell gain errors (uncalibrated cells), e.g. 0.01.",
    )
    span_errors: list[float] | None = Field(
        default=None,
        description=(
            "Gain error of each cell as a fraction, channel order; replaces span_error_fraction. "
            "Its length must equal the number of channels of the lane."
        ),
    )


class Truck(BaseModel):
    """One truck of a scenario: its axles, its load, and how it drives over the scale."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    plate: str = Field(min_length=1, description="Licence plate text as printed, e.g. '冀A12345'.")
    body: Body = Field(description="'rigid' (货车) or 'combination' (汽车列车: tractor with trailer).")
    speed_kmh: float = Field(gt=0.0, le=60.0, description="Cruising speed over the scale, km/h.")
    # axle_loads_kg comes before the other per-axle lists so their validators can compare lengths with it.
    axle_loads_kg: list[_PositiveKg] = Field(
        min_length=MIN_AXLES,
        max_length=MAX_AXLES,
        description="Static load of each axle, front to rear, kg; its length is the number of axles.",
    )
    axle_spacings_m: list[_PositiveMetres] = Field(
        description="Distance between consecutive axles, front to rear, m; one fewer than the axles."
    )
    tyres: list[Tyre] = Field(
        description="Tyres of each axle, front to rear: 'single', 'dual' or 'wide_single'."
    )
    front_overhang_m: float = Field(ge=0.0, description="Front bumper to first axle, m.")
    rear_overhang_m: float = Field(ge=0.0, description="Last axle to rear end of the body, m.")
    expected_verdict: Verdict = Field(
        description="Verdict the lane must reach: 'pass', 'overweight', 'oversize' (legal weight, a dimension over its limit: needs a LiDAR) or 'reweigh'."
    )
    note: str = Field(default="", description="Free text: why this truck is in the scenario.")
    stop_on_scale_s: float = Field(
        default=0.0,
        ge=0.0,
        description="Stop-and-go: seconds standing with the axles centred on the scale; 0 drives through.",
    )
    lateral_offset_m: float = Field(
        default=0.0,
        ge=-1.0,
        le=1.0,
        description="Offset of the vehicle centre from the lane centre, m; positive to the driver's left.",
    )
    accel_mps2: float = Field(
        default=0.0,
        ge=-3.0,
        le=2.0,
        description=(
            "Constant acceleration (positive) or braking (negative), m/s^2, from the front axle reaching the "
            "scale entry until the last axle leaves the scale end; the speed never drops below 1 km/h."
        ),
    )
    jump: bool = Field(
        default=False,
        description=(
            "Jump crossing (跳磅): the driver brakes hard and releases with the axles on the scale, so the "
            "truck bounces; such a crossing must be re-weighed."
        ),
    )
    blip_mps2: float = Field(
        default=0.0,
        ge=0.0,
        le=2.0,
        description=(
            "Throttle blip: the driver presses the accelerator for blip_s seconds at this acceleration, m/s^2,"
            " starting when the front axle is blip_at_m past the scale entry, then holds the new speed; 0: none."
        ),
    )
    blip_s: float = Field(default=0.0, ge=0.0, le=3.0, description="Length of the throttle blip, s.")
    blip_at_m: float = Field(
        default=0.0,
        ge=0.0,
        le=60.0,
        description="Front-axle position past the scale entry where the throttle blip starts, m.",
    )
    dynamics: DynamicsSettings | None = Field(
        default=None,
        description="'[truck.dynamics]' sub-table: bounce, pitch and axle hop; omitted carries static loads.",
    )
    height_m: float | None = Field(
        default=None,
        gt=0.5,
        le=6.0,
        description=(
            "Height of the truck's highest point above the road, m: the light curtain reports its highest"
            " blocked beam (25 mm pitch) with the LEAVE event. Omitted: the curtain reports no height (0)."
        ),
    )

    @field_validator("axle_spacings_m")
    @classmethod
    def _one_spacing_between_each_axle_pair(cls, spacings: list[float], info: ValidationInfo) -> list[float]:
        loads = info.data.get("axle_loads_kg")
        if loads is not None and len(spacings) != len(loads) - 1:
            raise PydanticCustomError(
                "length_mismatch",
                "has {got} values but axle_loads_kg has {axles} axles, so {want} spacings are needed",
                {"got": len(spacings), "axles": len(loads), "want": len(loads) - 1},
            )
        return spacings

    @field_validator("accel_mps2")
    @classmethod
    def _accel_excludes_stop(cls, accel: float, info: ValidationInfo) -> float:
        if accel != 0.0 and info.data.get("stop_on_scale_s", 0.0) > 0.0:
            raise PydanticCustomError(
                "profile_conflict",
                "cannot be combined with stop_on_scale_s: a truck has one speed profile",
            )
        return accel

    @field_validator("jump")
    @classmethod
    def _jump_excludes_other_profiles(cls, jump: bool, info: ValidationInfo) -> bool:
        if jump and (info.data.get("stop_on_scale_s", 0.0) > 0.0 or info.data.get("accel_mps2", 0.0) != 0.0):
            raise PydanticCustomError(
                "profile_conflict",
                "cannot be combined with stop_on_scale_s or accel_mps2: a truck has one speed profile",
            )
        return jump

    @field_validator("blip_mps2")
    @classmethod
    def _blip_excludes_other_profiles(cls, blip: float, info: ValidationInfo) -> float:
        others = (
            info.data.get("stop_on_scale_s", 0.0) > 0.0
            or info.data.get("accel_mps2", 0.0) != 0.0
            or info.data.get("jump", False)
        )
        if blip > 0.0 and others:
            raise PydanticCustomError(
                "profile_conflict",
                "cannot be combined with stop_on_scale_s, accel_mps2 or jump: a truck has one speed profile",
            )
        return blip

    @model_validator(mode="after")
    def _blip_has_a_length(self) -> Truck:
        if (self.blip_s > 0.0) != (self.blip_mps2 > 0.0):
            raise PydanticCustomError(
                "blip_incomplete",
                "a throttle blip needs both blip_mps2 > 0 and blip_s > 0 (or neither)",
            )
        return self

    @field_validator("tyres")
    @classmethod
    def _one_tyre_kind_per_axle(cls, tyres: list[str], info: ValidationInfo) -> list[str]:
        loads = info.data.get("axle_loads_kg")
        if loads is not None and len(tyres) != len(loads):
            raise PydanticCustomError(
                "length_mismatch",
                "has {got} values but axle_loads_kg has {axles} axles",
                {"got": len(tyres), "axles": len(loads)},
            )
        return tyres

    @property
    def n_axles(self) -> int:
        """Number of axles."""
        return len(self.axle_loads_kg)

    @property
    def gross_kg(self) -> float:
        """Gross vehicle mass: the sum of the static axle loads, kg."""
        return float(sum(self.axle_loads_kg))

    @property
    def axle_offsets_m(self) -> tuple[float, ...]:
        """Distance of each axle behind the front bumper, m (front overhang, then the cumulative spacings)."""
        offsets = [self.front_overhang_m]
        for spacing in self.axle_spacings_m:
            offsets.append(offsets[-1] + spacing)
        return tuple(offsets)

    @property
    def axle_span_m(self) -> float:
        """First axle to last axle, m."""
        return float(sum(self.axle_spacings_m))

    @property
    def length_m(self) -> float:
        """Front bumper to rear end, m."""
        return self.front_overhang_m + self.axle_span_m + self.rear_overhang_m


class Scenario(BaseModel):
    """A named list of trucks driven over the lane one after another."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_by_name=True)

    name: str = Field(min_length=1, description="Short name, usually the file name without '.toml'.")
    description: str = Field(default="", description="What the scenario exercises.")
    seed: int = Field(
        ge=0, description="Seed of every random process of the simulation (noise, drift, zeros)."
    )
    gap_s: float = Field(
        ge=0.0,
        description=(
            "Seconds between one truck's last axle leaving the scale (exit strip) "
            "and the next truck's front bumper reaching the scale entry."
        ),
    )
    trucks: list[Truck] = Field(
        alias="truck", min_length=1, description="The trucks, in arrival order; TOML '[[truck]]' tables."
    )
    sensor: SensorSettings = Field(
        default_factory=SensorSettings,
        description="'[sensor]' table: load-cell temperature effects and span errors; all off by default.",
    )


_SCENARIO_PACKAGE = "firmware_sim"
_SCENARIO_DIR = "scenarios"


def load_scenario(path_or_name: str | os.PathLike[str]) -> Scenario:
    """Read and validate a scenario.

    ``path_or_name`` is a path to a TOML file, or a bare name such as ``"default"`` for the scenario shipped
    in ``firmware_sim/scenarios/<name>.toml``.  Raises :class:`ScenarioError`.
    """
    source: Path | Traversable
    if isinstance(path_or_name, os.PathLike) or "/" in path_or_name or path_or_name.endswith(".toml"):
        source = Path(path_or_name)
    else:
        source = resources.files(_SCENARIO_PACKAGE).joinpath(_SCENARIO_DIR, f"{path_or_name}.toml")
        if not source.is_file():
            known = _builtin_scenario_names()
            choices = f"use one of: {', '.join(known)}, or" if known else "none are installed;"
            raise ScenarioError(
                str(source),
                [f"{source}: no built-in scenario {path_or_name!r}; {choices} give the path of a .toml file"],
            )
    file = str(source)
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise ScenarioError(file, [f"{file}: cannot read the scenario file ({exc.strerror or exc})"]) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(file, [f"{file}: not UTF-8 text ({exc.reason}); save the file as UTF-8"]) from exc
    return _parse(text, file)


def _builtin_scenario_names() -> list[str]:
    folder = resources.files(_SCENARIO_PACKAGE).joinpath(_SCENARIO_DIR)
    if not folder.is_dir():
        return []
    return sorted(
        entry.name.removesuffix(".toml") for entry in folder.iterdir() if entry.name.endswith(".toml")
    )


def _parse(text: str, file: str) -> Scenario:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line N, column M)": the line is already there.
        raise ScenarioError(file, [f"{file}: TOML syntax error: {exc}; fix the syntax there"]) from exc
    try:
        return Scenario.model_validate(document)
    except ValidationError as exc:
        raise ScenarioError(file, format_errors(exc, source=file, text=text, fixes=_fix)) from None


def _fix(error: ErrorDetails, loc: Loc) -> str:
    kind = error["type"]
    if kind == "missing":
        # find_line falls back to the table's header, which is where the key has to be added.
        return "add one [[truck]] table per truck" if loc == ("truck",) else f"add `{loc[-1]} = ...`"
    if kind == "extra_forbidden":
        return f"remove it or correct its spelling (allowed here: {', '.join(_allowed_keys(loc[:-1]))})"
    if kind == "length_mismatch":
        return "make the per-axle lists the same length"
    return "correct the value"


_SUB_TABLES: dict[tuple[type[BaseModel], str], type[BaseModel]] = {
    (Scenario, "truck"): Truck,
    (Scenario, "sensor"): SensorSettings,
    (Truck, "dynamics"): DynamicsSettings,
}


def _allowed_keys(table_loc: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = Scenario
    for part in table_loc:
        if isinstance(part, str):
            model = _SUB_TABLES.get((model, part), model)
    return [info.alias or name for name, info in model.model_fields.items()]


def back_to_back(scenario: Scenario, speed_kmh: float, gap_s: float) -> Scenario:
    """The scenario's trucks driven straight through at ``speed_kmh`` (no stops, no jumps), ``gap_s``
    apart: more trucks per hour than a real station sees, for long runs (``bench/rss.py --fast``).

    The lane does not run faster than real time: every device keeps its clock, sample rate and byte
    protocol on its pty, and each truck takes as long to cross as it would at that speed.  Only the
    traffic is denser: the next truck reaches the scale entry ``gap_s`` after the previous truck's last
    axle left it (at 38 km/h and 0.6 s, a truck every 3.4 s instead of the default scenario's 13.5 s; a
    gap under the lane's pre-roll puts the previous truck into the next one's zero).
    A faster world clock was not used: the daemon maps each device's clock onto its own with a
    sliding minimum of the offset (``drivers.clock``), and device clocks that ran fast would look like
    a drifting device, not a busier lane.
    """
    if not 0.0 < speed_kmh <= 60.0 or gap_s < 0.0:
        raise ValueError(f"need 0 < speed_kmh <= 60 and gap_s >= 0, got {speed_kmh}, {gap_s}")
    trucks = [
        truck.model_copy(
            update={"speed_kmh": speed_kmh, "stop_on_scale_s": 0.0, "jump": False, "accel_mps2": 0.0}
        )
        for truck in scenario.trucks
    ]
    return scenario.model_copy(update={"trucks": trucks, "gap_s": gap_s})
