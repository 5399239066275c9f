"""Seeded random truck populations for benchmarks and tests: every class of the legal table, realistic
geometry and loads, optional dynamics, jump and stop-and-go crossings.

    scenario = random_scenario(seed=7, n_trucks=1000, speed_kmh=(3.0, 40.0))

Classes and layouts (every layout is built so that a reading of the law lands on its class: axles at most
2.0 m apart form a group, <= 2 groups is rigid, >= 3 a combination; tests check that ``edge.rules.classify``
agrees):

==============================  ==============================================================
class                           layouts (axle groups, front to rear)
==============================  ==============================================================
2-rigid                         4x2 truck (1 + 1)
3-rigid                         6x4 truck (1 + tandem); 6x2 twin-steer truck (2 + 1)
3-combination                   4x2 tractor + 1-axle semi-trailer (1 + 1 + 1)
4-rigid                         8x4 twin-steer truck (2 + tandem)
4-combination                   4x2 tractor + tandem semi (1 + 1 + 2); 6x4 tractor + 1-axle semi (1 + 2 + 1)
5-combination                   4x2 tractor + tridem semi (1 + 1 + 3); 6x4 tractor + tandem semi (1 + 2 + 2)
6-combination                   6x4 tractor + tridem semi (1 + 2 + 3)
6-combination-single-drive      6x2 twin-steer tractor + tridem semi (2 + 1 + 3)
==============================  ==============================================================

(A "1 + 1 + tridem" tractor-trailer has 5 axles and is generated as a 5-combination; the 6-axle
single-drive class is the twin-steer tractor, whose drive group is one single axle.)

Geometry: 2-axle and rigid wheelbases 3.8-5.5 m, tractor wheelbases 3.2-3.8 m, tandem spacing 1.3-1.4 m,
tridem 1.31 m, twin steer 1.8-1.95 m, tractor-to-trailer gap 5.5-8 m, total axle span <= 13.5 m.
Tyres: single on steer axles, dual elsewhere; 10 % of combinations have single and 10 % approved wide single
tyres on all trailer axles.  Loads: gross = ratio x the class limit (after any single-tyre deduction), the
ratio drawn per ``loads`` (empty ~40 % up to ~200 %); steer axles 4.5-8 t growing with the load, the rest
shared by drive (heavier) and trailer axles, tandem/tridem axles within a few per cent of each other.
With dynamics, each truck's centre of gravity's height rises with its load, from 1.0 m empty (40 % of its
limit) to 1.6-2.3 m at its limit or over (dense bulk to light or tall cargo), and a combination's coupling
is 1.05-1.35 m high: they set the load moved between the axles when the truck changes speed.

``expected_verdict`` is the simulator's own reading of 交通运输部令2016年第62号 article 3 (``LEGAL_LIMIT_KG``,
3,000 kg off per trailer axle on plain single tyres, refusal above 105 % of the limit) on the static loads;
jump and stop-and-go crossings are "reweigh".  It is written here, apart from ``edge.rules``, so that tests
compare the daemon's rules with a second, independent reading of the law.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from firmware_sim.scenario import Body, DynamicsSettings, Scenario, Truck

__all__ = ["CLASS_CODES", "LoadMix", "random_scenario"]

LoadMix = Literal["mixed", "empty", "compliant", "overloaded"]

CLASS_CODES = (
    "2-rigid",
    "3-rigid",
    "3-combination",
    "4-rigid",
    "4-combination",
    "5-combination",
    "6-combination",
    "6-combination-single-drive",
)
"""Every class of the 2016 legal table (edge/rules/limits_gb2016.toml), as ``VehicleClass.code``."""

TOLERANCE_FACTOR = 1.05

#: 交通运输部令2016年第62号, article 3, second paragraph, item 1: gross-mass limits by class.
LEGAL_LIMIT_KG = {
    "2-rigid": 18_000,
    "3-rigid": 25_000,
    "3-combination": 27_000,
    "4-rigid": 31_000,
    "4-combination": 36_000,
    "5-combination": 43_000,
    "6-combination": 49_000,
    "6-combination-single-drive": 46_000,
}
#: Item 2: each non-drive axle with single tyres on each side takes this off the limit, unless they are
#: approved wide tyres (加宽轮胎); steer axles are the table's own assumption.
SINGLE_TYRE_DEDUCTION_KG = 3_000

Tyre = Literal["single", "dual", "wide_single"]
MAX_AXLE_SPAN_M = 13.5
_MIN_TRAILER_GAP_M, _MAX_TRAILER_GAP_M = 5.5, 8.0
_RIGID_WHEELBASE_M = (3.8, 5.5)
_TRACTOR_WHEELBASE_M = (3.2, 3.8)
_TANDEM_SPACING_M = (1.3, 1.4)
_TRIDEM_SPACING_M = 1.31
_TWIN_STEER_SPACING_M = (1.8, 1.95)
_STEER_KG = (4500.0, 8000.0)
_MIN_AXLE_KG = 1000.0
_STOP_ON_SCALE_S = (2.0, 6.0)
_LATERAL_OFFSET_M = 0.3
_LATERAL_WANDER_M = 0.05
_PROVINCES = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新"
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O (GA 36)
_PLATE_CHARS = "0123456789" * 3 + _PLATE_LETTERS

# Gross / limit ratio bands of the "mixed" population: (probability, low, high).
_MIXED_LOADS = (
    (0.20, 0.40, 0.85),  # empty or part-loaded
    (0.40, 0.85, 1.00),  # compliant
    (0.10, 1.00, 1.05),  # over the limit, within the entrance tolerance
    (0.15, 1.05, 1.30),  # over
    (0.15, 1.30, 2.00),  # far over
)
_LOAD_BANDS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "mixed": _MIXED_LOADS,
    "empty": ((1.0, 0.40, 0.70),),
    "compliant": ((1.0, 0.70, 1.00),),
    "overloaded": ((1.0, 1.10, 2.00),),
}


@dataclass(frozen=True)
class _Layout:
    code: str
    body: Body
    description: str
    groups: tuple[tuple[Literal["steer", "drive", "trailer"], int], ...]


_LAYOUTS: dict[str, tuple[_Layout, ...]] = {
    "2-rigid": (_Layout("2-rigid", "rigid", "4x2 truck", (("steer", 1), ("drive", 1))),),
    "3-rigid": (
        _Layout("3-rigid", "rigid", "6x4 truck", (("steer", 1), ("drive", 2))),
        _Layout("3-rigid", "rigid", "6x2 twin-steer truck", (("steer", 2), ("drive", 1))),
    ),
    "3-combination": (
        _Layout(
            "3-combination",
            "combination",
            "4x2 tractor + 1-axle semi-trailer",
            (("steer", 1), ("drive", 1), ("trailer", 1)),
        ),
    ),
    "4-rigid": (_Layout("4-rigid", "rigid", "8x4 twin-steer truck", (("steer", 2), ("drive", 2))),),
    "4-combination": (
        _Layout(
            "4-combination",
            "combination",
            "4x2 tractor + tandem semi-trailer",
            (("steer", 1), ("drive", 1), ("trailer", 2)),
        ),
        _Layout(
            "4-combination",
            "combination",
            "6x4 tractor + 1-axle semi-trailer",
            (("steer", 1), ("drive", 2), ("trailer", 1)),
        ),
    ),
    "5-combination": (
        _Layout(
            "5-combination",
            "combination",
            "4x2 tractor + tridem semi-trailer",
            (("steer", 1), ("drive", 1), ("trailer", 3)),
        ),
        _Layout(
            "5-combination",
            "combination",
            "6x4 tractor + tandem semi-trailer",
            (("steer", 1), ("drive", 2), ("trailer", 2)),
        ),
    ),
    "6-combination": (
        _Layout(
            "6-combination",
            "combination",
            "6x4 tractor + tridem semi-trailer",
            (("steer", 1), ("drive", 2), ("trailer", 3)),
        ),
    ),
    "6-combination-single-drive": (
        _Layout(
            "6-combination-single-drive",
            "combination",
            "6x2 twin-steer tractor + tridem semi-trailer",
            (("steer", 2), ("drive", 1), ("trailer", 3)),
        ),
    ),
}


def legal_limit_kg(code: str, roles: list[str], tyres: list[Tyre]) -> int:
    """The limit of a truck of class ``code`` with these axle roles and tyres (article 3, items 1-2)."""
    single = sum(role == "trailer" and tyre == "single" for role, tyre in zip(roles, tyres, strict=True))
    return max(LEGAL_LIMIT_KG[code] - SINGLE_TYRE_DEDUCTION_KG * single, 0)


def expected_verdict(gross_kg: float, limit_kg: int, unstable: bool) -> str:
    """What a correct lane decides: re-weigh an unstable crossing, refuse above 105 % of the limit."""
    if unstable:
        return "reweigh"
    return "overweight" if gross_kg > round(limit_kg * TOLERANCE_FACTOR, 3) else "pass"


def random_scenario(
    seed: int,
    n_trucks: int,
    *,
    speed_kmh: tuple[float, float] = (3.0, 40.0),
    roughness: tuple[float, float] = (0.0, 1.0),
    dynamics: bool = True,
    jump_fraction: float = 0.0,
    stop_fraction: float = 0.0,
    loads: LoadMix = "mixed",
    accel_mps2: tuple[float, float] = (0.0, 0.0),
    gap_s: float = 3.0,
    speed_change: tuple[float, float] = (0.0, 0.0),
    speed_change_over_m: float = 18.0,
    blip_mps2: tuple[float, float] = (0.0, 0.0),
) -> Scenario:
    """``n_trucks`` seeded random trucks over every class of the legal table (see the module docstring).

    The same arguments always give the same scenario.  Classes come in shuffled rounds of all eight, so
    every block of 8 consecutive trucks holds each class once.  Speeds are uniform in ``speed_kmh``; with
    ``dynamics`` each truck gets a ``[truck.dynamics]`` table with roughness uniform in ``roughness`` and
    up to 5 cm of lateral wander; each truck's lateral offset is uniform in +/-0.3 m.  A share
    ``jump_fraction`` of the trucks jump (跳磅) and ``stop_fraction`` stop on the scale (搓磅) for 2-6 s;
    the others drive through with an acceleration uniform in ``accel_mps2`` (default 0).  With
    ``speed_change`` (low, high) set, those drivers instead change speed gently on the scale: a fraction
    uniform in ``speed_change`` of their speed (e.g. (-0.1, 0.1): braking or accelerating by up to 10 %),
    reached at constant acceleration over ``speed_change_over_m`` (the scale's length) plus the truck's
    axle span.  The speed changes come from their own stream (seeded from ``seed``), so every other draw,
    and every truck of a scenario without them, stays the same.  With ``blip_mps2`` (low, high) set, those
    drivers (the ones that do not change speed) blip the throttle instead: an acceleration uniform in
    ``blip_mps2``, capped by what the engine's power can give the loaded truck at its speed (170 kW at the
    wheels for a rigid truck, 280 kW for a tractor), for 0.3-1.0 s, shortened so that the speed rises by
    at most 10 %, starting when the front
    axle is anywhere from the scale entry to ``speed_change_over_m`` plus the axle span past it, so that it
    falls between the moments different axles are weighed.  Also from a stream of their own.  ``loads`` picks
    the gross / limit ratios: "mixed" (40-85 %: 20 %, 85-100 %: 40 %, 100-105 %: 10 %, 105-130 %: 15 %,
    130-200 %: 15 % of the trucks), "empty" (40-70 %), "compliant" (70-100 %) or "overloaded" (110-200 %).
    Works for any scale geometry: it only makes trucks.
    """
    _check_arguments(n_trucks, speed_kmh, roughness, jump_fraction, stop_fraction, loads, accel_mps2)
    if not 0.0 <= blip_mps2[0] <= blip_mps2[1] <= 2.0:
        raise ValueError(f"blip_mps2 must be (low, high) with 0 <= low <= high <= 2, got {blip_mps2}")
    if not -0.5 <= speed_change[0] <= speed_change[1] <= 0.5 or not speed_change_over_m > 0:
        raise ValueError(
            f"speed_change must be (low, high) with -0.5 <= low <= high <= 0.5 and speed_change_over_m > 0,"
            f" got {speed_change}, {speed_change_over_m}"
        )
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    drivers = np.random.default_rng(np.random.SeedSequence([seed, _DRIVER_STREAM]))
    blips = np.random.default_rng(np.random.SeedSequence([seed, _BLIP_STREAM]))
    heights = np.random.default_rng(np.random.SeedSequence([seed, _HEIGHT_STREAM]))
    order: list[str] = []
    while len(order) < n_trucks:
        order.extend(CLASS_CODES[i] for i in rng.permutation(len(CLASS_CODES)))
    plates: set[str] = set()
    trucks = []
    for code in order[:n_trucks]:
        plate = _plate(rng, plates)
        trucks.append(
            _random_truck(
                rng,
                code,
                plate,
                speed_kmh=speed_kmh,
                roughness=roughness,
                dynamics=dynamics,
                jump_fraction=jump_fraction,
                stop_fraction=stop_fraction,
                loads=loads,
                accel_mps2=accel_mps2,
                heights=heights,
            )
        )
        change = _uniform(drivers, speed_change)
        truck = trucks[-1]
        ordinary = truck.accel_mps2 == 0.0 and not truck.jump and truck.stop_on_scale_s == 0.0
        if change != 0.0 and ordinary:
            trucks[-1] = _changing_speed(truck, change, speed_change_over_m)
        elif blip_mps2[1] > 0.0 and ordinary:
            trucks[-1] = _blipping(truck, blips, blip_mps2, speed_change_over_m)
    return Scenario(
        name=f"random-{seed}",
        description=(
            f"{n_trucks} random trucks over every class (seed {seed}, {speed_kmh[0]:g}-{speed_kmh[1]:g} km/h, "
            f"loads {loads}, dynamics {'on' if dynamics else 'off'}, jump {jump_fraction:g}, "
            f"stop {stop_fraction:g})"
        ),
        seed=seed,
        gap_s=gap_s,
        trucks=trucks,
    )


_DRIVER_STREAM = 0x16
"""Second SeedSequence entropy word of the drivers' speed changes (their own stream)."""

_BLIP_STREAM = 0x17
"""Second SeedSequence entropy word of the drivers' throttle blips (their own stream)."""

_HEIGHT_STREAM = 0x18
"""Second SeedSequence entropy word of the trucks' centre-of-gravity and coupling heights (their own
stream: every other draw stays what it was before heights were drawn)."""

#: Centre of gravity's height, m: an empty truck's (chassis, cab, engine and an empty body) about 1.0 m;
#: a laden one's from dense bulk low in the body (steel, cement, aggregate: 1.6 m) to light or tall cargo
#: (2.3 m), drawn uniform; in between in proportion to the load (an empty truck at 40 % of its limit, a
#: full one from 100 %).
_EMPTY_CG_HEIGHT_M = 1.0
_LADEN_CG_HEIGHT_M = (1.6, 2.3)
_EMPTY_LOAD_RATIO = 0.4
#: A combination's fifth-wheel height, m, uniform.
_COUPLING_HEIGHT_M = (1.05, 1.35)

_BLIP_S = (0.3, 1.0)
_BLIP_MAX_CHANGE = 0.10
#: Engine power at the wheels a blip can draw on, W: a rigid truck's 150-250 kW engine and a tractor's
#: 300-400 kW, times about 0.85 for the driveline.  It caps a loaded truck's blip at speed: 1 m/s² at
#: 30 km/h takes 330 kW for 40 t.
_BLIP_POWER_W = {"rigid": 170e3, "combination": 280e3}


def _blipping(truck: Truck, rng: np.random.Generator, accel: tuple[float, float], over_m: float) -> Truck:
    """``truck`` with a throttle blip (see :func:`random_scenario`)."""
    drawn = _uniform(rng, accel)
    duration = float(rng.uniform(*_BLIP_S))
    at_m = round(float(rng.uniform(0.0, over_m + sum(truck.axle_spacings_m))), 3)
    v = truck.speed_kmh / 3.6
    a = round(min(drawn, _BLIP_POWER_W[truck.body] / (truck.gross_kg * v)), 3)
    if a <= 0.0:
        return truck
    duration = math.floor(min(duration, _BLIP_MAX_CHANGE * v / a) * 1000.0) / 1000.0
    if duration <= 0.0:
        return truck
    rise = a * duration / v
    return truck.model_copy(
        update={
            "blip_mps2": a,
            "blip_s": duration,
            "blip_at_m": at_m,
            "note": f"{truck.note}, blips the throttle ({a:g} m/s² for {duration:g} s, +{rise:.1%}) on the scale",
        }
    )


def _changing_speed(truck: Truck, change: float, over_m: float) -> Truck:
    """``truck`` with the constant acceleration that changes its speed by ``change`` (a fraction) while it
    travels ``over_m`` plus its axle span (:class:`firmware_sim.physics.TruckMotion` starts it when the
    front axle reaches the scale)."""
    v = truck.speed_kmh / 3.6
    distance_m = over_m + sum(truck.axle_spacings_m)
    accel = round(min(max(v * v * ((1.0 + change) ** 2 - 1.0) / (2.0 * distance_m), -3.0), 2.0), 4)
    if accel == 0.0:
        return truck
    how = "accelerates" if accel > 0 else "slows"
    return truck.model_copy(
        update={"accel_mps2": accel, "note": f"{truck.note}, {how} by {abs(change):.1%} on the scale"}
    )


def _check_arguments(
    n_trucks: int,
    speed_kmh: tuple[float, float],
    roughness: tuple[float, float],
    jump_fraction: float,
    stop_fraction: float,
    loads: str,
    accel_mps2: tuple[float, float],
) -> None:
    if n_trucks < 1:
        raise ValueError(f"n_trucks must be at least 1, got {n_trucks}")
    if not 0.0 < speed_kmh[0] <= speed_kmh[1] <= 60.0:
        raise ValueError(f"speed_kmh must be (low, high) with 0 < low <= high <= 60, got {speed_kmh}")
    if not 0.0 <= roughness[0] <= roughness[1] <= 1.0:
        raise ValueError(f"roughness must be (low, high) with 0 <= low <= high <= 1, got {roughness}")
    if min(jump_fraction, stop_fraction) < 0.0 or jump_fraction + stop_fraction > 1.0:
        raise ValueError(
            f"jump_fraction and stop_fraction must be >= 0 with a sum <= 1, got {jump_fraction}, {stop_fraction}"
        )
    if loads not in _LOAD_BANDS:
        raise ValueError(f"loads must be one of {sorted(_LOAD_BANDS)}, got {loads!r}")
    if not -3.0 <= accel_mps2[0] <= accel_mps2[1] <= 2.0:
        raise ValueError(f"accel_mps2 must be (low, high) with -3 <= low <= high <= 2, got {accel_mps2}")


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return low if low == high else float(rng.uniform(low, high))


def _plate(rng: np.random.Generator, used: set[str]) -> str:
    while True:
        plate = (
            _PROVINCES[rng.integers(len(_PROVINCES))]
            + _PLATE_LETTERS[rng.integers(len(_PLATE_LETTERS))]
            + "".join(_PLATE_CHARS[i] for i in rng.integers(len(_PLATE_CHARS), size=5))
        )
        if plate not in used:
            used.add(plate)
            return plate


def _spacings(rng: np.random.Generator, layout: _Layout) -> list[float]:
    """Axle spacings of ``layout``, front to rear, with the total span <= MAX_AXLE_SPAN_M."""
    while True:
        spacings: list[float] = []
        gap_index: int | None = None
        for index, (role, n_axles) in enumerate(layout.groups):
            if index == 1:  # steer group to the next group: the wheelbase
                bounds = _TRACTOR_WHEELBASE_M if layout.body == "combination" else _RIGID_WHEELBASE_M
                spacings.append(_uniform(rng, bounds))
            elif index == 2:  # tractor to trailer: filled in below, once the rest is known
                gap_index = len(spacings)
                spacings.append(0.0)
            for _ in range(n_axles - 1):
                if role == "steer":
                    spacings.append(_uniform(rng, _TWIN_STEER_SPACING_M))
                elif role == "trailer" and n_axles == 3:
                    spacings.append(_TRIDEM_SPACING_M)
                else:
                    spacings.append(_uniform(rng, _TANDEM_SPACING_M))
        if gap_index is None:
            return [round(spacing, 3) for spacing in spacings]
        room_m = MAX_AXLE_SPAN_M - sum(spacings)
        if room_m >= _MIN_TRAILER_GAP_M:
            spacings[gap_index] = _uniform(rng, (_MIN_TRAILER_GAP_M, min(_MAX_TRAILER_GAP_M, room_m)))
            rounded = [round(spacing, 3) for spacing in spacings]
            if sum(rounded) <= MAX_AXLE_SPAN_M:
                return rounded


def _load_ratio(rng: np.random.Generator, loads: str) -> float:
    bands = _LOAD_BANDS[loads]
    pick = rng.random()
    for probability, low, high in bands:
        if pick < probability:
            return float(rng.uniform(low, high))
        pick -= probability
    _, low, high = bands[-1]
    return float(rng.uniform(low, high))


def _axle_loads(rng: np.random.Generator, layout: _Layout, gross_kg: float, load_ratio: float) -> list[float]:
    """Static axle loads summing to about ``gross_kg`` (rounded to 10 kg per axle)."""
    roles = [role for role, n_axles in layout.groups for _ in range(n_axles)]
    n_steer = roles.count("steer")
    laden = min(max((load_ratio - 0.4) / 1.6, 0.0), 1.0)
    steer_kg = _STEER_KG[0] + rng.uniform(0.0, 1000.0) + 2500.0 * laden * rng.uniform(0.8, 1.0)
    steer = [float(np.clip(steer_kg * rng.uniform(0.97, 1.0), *_STEER_KG)) for _ in range(n_steer)]
    n_rest = len(roles) - n_steer
    # A light truck must leave its other axles something to carry.
    room_kg = gross_kg - n_rest * _MIN_AXLE_KG
    if sum(steer) > room_kg:
        steer = [max(_STEER_KG[0], room_kg / n_steer)] * n_steer
    weights: list[float] = []
    for role, n_axles in layout.groups:
        if role == "steer":
            continue
        group_weight = (1.15 if role == "drive" else 1.0) * rng.uniform(0.9, 1.1)
        weights.extend(group_weight * rng.uniform(0.98, 1.02) for _ in range(n_axles))
    rest_kg = max(gross_kg - sum(steer), n_rest * _MIN_AXLE_KG)
    rest = [rest_kg * weight / sum(weights) for weight in weights]
    return [float(round(load / 10.0) * 10.0) for load in steer + rest]


def _roles(layout: _Layout) -> list[str]:
    return [role for role, n_axles in layout.groups for _ in range(n_axles)]


def _tyres(rng: np.random.Generator, layout: _Layout) -> list[Tyre]:
    pick = rng.random()
    trailer: Tyre = "single" if pick < 0.1 else "wide_single" if pick < 0.2 else "dual"
    return [
        "single" if role == "steer" else trailer if role == "trailer" else "dual" for role in _roles(layout)
    ]


def _random_truck(
    rng: np.random.Generator,
    code: str,
    plate: str,
    *,
    speed_kmh: tuple[float, float],
    roughness: tuple[float, float],
    dynamics: bool,
    jump_fraction: float,
    stop_fraction: float,
    loads: str,
    accel_mps2: tuple[float, float],
    heights: np.random.Generator,
) -> Truck:
    # Every draw happens whatever the options, so changing one option leaves the rest of the truck alone.
    layouts = _LAYOUTS[code]
    layout = layouts[int(rng.integers(len(layouts)))]
    spacings = _spacings(rng, layout)
    tyres = _tyres(rng, layout)
    limit_kg = legal_limit_kg(code, _roles(layout), tyres)
    load_ratio = _load_ratio(rng, loads)
    axle_loads = _axle_loads(rng, layout, load_ratio * limit_kg, load_ratio)
    speed = round(_uniform(rng, speed_kmh), 2)
    truck_roughness = round(_uniform(rng, roughness), 3)
    wander_m = round(float(rng.uniform(0.0, _LATERAL_WANDER_M)), 3)
    lateral_offset_m = round(float(rng.uniform(-_LATERAL_OFFSET_M, _LATERAL_OFFSET_M)), 3)
    front_overhang_m = round(float(rng.uniform(1.2, 1.5)), 2)
    rear_bounds = (1.5, 2.5) if layout.body == "rigid" else (0.8, 1.6)
    rear_overhang_m = round(float(rng.uniform(*rear_bounds)), 2)
    behaviour = rng.random()
    stop_s = round(float(rng.uniform(*_STOP_ON_SCALE_S)), 2)
    accel = round(_uniform(rng, accel_mps2), 3)
    laden = min(max((load_ratio - _EMPTY_LOAD_RATIO) / (1.0 - _EMPTY_LOAD_RATIO), 0.0), 1.0)
    cg_height_m = round(
        _EMPTY_CG_HEIGHT_M + laden * (float(heights.uniform(*_LADEN_CG_HEIGHT_M)) - _EMPTY_CG_HEIGHT_M), 3
    )
    coupling_height_m = round(float(heights.uniform(*_COUPLING_HEIGHT_M)), 3)

    jump = behaviour < jump_fraction
    stops = not jump and behaviour < jump_fraction + stop_fraction
    gross_kg = sum(axle_loads)
    verdict = expected_verdict(gross_kg, limit_kg, unstable=jump or stops)
    share = 100.0 * gross_kg / limit_kg if limit_kg else math.inf
    how = ""
    if jump:
        how = ", jumps on the scale (跳磅)"
    elif stops:
        how = f", stops {stop_s:g} s on the scale (搓磅)"
    return Truck(
        plate=plate,
        body=layout.body,
        speed_kmh=speed,
        axle_loads_kg=axle_loads,
        axle_spacings_m=spacings,
        tyres=list(tyres),
        front_overhang_m=front_overhang_m,
        rear_overhang_m=rear_overhang_m,
        expected_verdict=verdict,
        note=(f"{code}: {layout.description}, {gross_kg:,.0f} kg = {share:.1f} % of {limit_kg:,} kg{how}"),
        stop_on_scale_s=stop_s if stops else 0.0,
        lateral_offset_m=lateral_offset_m,
        accel_mps2=0.0 if jump or stops else accel,
        jump=jump,
        dynamics=DynamicsSettings(
            roughness=truck_roughness,
            lateral_wander_m=wander_m,
            cg_height_m=cg_height_m,
            coupling_height_m=coupling_height_m,
        )
        if dynamics
        else None,
    )
