"""The default simulator scenario agrees with the legal rules: every truck lands in its intended class and
gets its expected verdict, and the list covers every class of the table with safe margins.

The scenario is parsed with tomllib on purpose, so this test does not depend on the simulator's loader.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from edge.rules import LimitTable, Tyre, Verdict, classify, decide, gross_limit

SCENARIO = Path(__file__).resolve().parents[1] / "firmware_sim" / "scenarios" / "default.toml"
TOP_KEYS = {"name", "description", "seed", "gap_s", "truck"}
TRUCK_KEYS = {
    "plate",
    "body",
    "speed_kmh",
    "axle_spacings_m",
    "axle_loads_kg",
    "tyres",
    "front_overhang_m",
    "rear_overhang_m",
    "expected_verdict",
    "note",
}
OPTIONAL_TRUCK_KEYS = {"stop_on_scale_s"}
MAX_AXLE_SPAN_M = 13.5
PLATFORM_LENGTH_M = 18.0  # 3 x 6 m full-length platform
STEP_AWAY = 0.02  # a 1 % weighing error must not flip a verdict: stay >= 2 % from the threshold

SCENARIO_DATA: dict[str, Any] = tomllib.loads(SCENARIO.read_text(encoding="utf-8"))
TRUCKS: list[dict[str, Any]] = SCENARIO_DATA["truck"]
TABLE = LimitTable.load()


def _gross_kg(truck: dict[str, Any]) -> float:
    return float(sum(truck["axle_loads_kg"]))


def _tyres(names: list[str]) -> list[Tyre]:
    return [Tyre(name) for name in names]


def _is_reweigh(truck: dict[str, Any]) -> bool:
    return "stop_on_scale_s" in truck


@pytest.fixture(params=TRUCKS, ids=[truck["plate"] for truck in TRUCKS])
def truck(request: pytest.FixtureRequest) -> dict[str, Any]:
    value: dict[str, Any] = request.param
    return value


def test_scenario_header() -> None:
    assert set(SCENARIO_DATA) == TOP_KEYS
    assert SCENARIO_DATA["name"] == "default"
    assert isinstance(SCENARIO_DATA["seed"], int)
    assert isinstance(SCENARIO_DATA["gap_s"], float)
    assert SCENARIO_DATA["gap_s"] > 0
    assert 27 <= len(TRUCKS) <= 30


def test_plates_are_unique() -> None:
    plates = [truck["plate"] for truck in TRUCKS]
    assert len(set(plates)) == len(plates)


def test_truck_fields(truck: dict[str, Any]) -> None:
    assert TRUCK_KEYS <= set(truck) <= TRUCK_KEYS | OPTIONAL_TRUCK_KEYS
    n_axles = len(truck["axle_loads_kg"])
    assert len(truck["axle_spacings_m"]) == n_axles - 1
    assert len(truck["tyres"]) == n_axles
    assert truck["body"] in {"rigid", "combination"}
    assert truck["expected_verdict"] in {verdict.value for verdict in Verdict}
    assert 5.0 <= truck["speed_kmh"] <= 20.0
    assert truck["rear_overhang_m"] >= 0.8
    assert truck["front_overhang_m"] > 0
    # Floats everywhere a strict loader expects floats (TOML 7 is an integer, 7.0 a float).
    for key in ("speed_kmh", "front_overhang_m", "rear_overhang_m"):
        assert isinstance(truck[key], float), key
    for key in ("axle_spacings_m", "axle_loads_kg"):
        assert all(isinstance(value, float) for value in truck[key]), key
    for tyre in truck["tyres"]:
        Tyre(tyre)


def test_truck_fits_the_platform(truck: dict[str, Any]) -> None:
    span_m = sum(truck["axle_spacings_m"])
    assert span_m <= MAX_AXLE_SPAN_M
    assert truck["front_overhang_m"] + span_m + truck["rear_overhang_m"] <= PLATFORM_LENGTH_M


def test_steer_group_has_single_tyres(truck: dict[str, Any]) -> None:
    vclass = classify(truck["axle_spacings_m"])
    assert truck["tyres"][: vclass.groups[0]] == ["single"] * vclass.groups[0]


def test_classifier_recovers_the_body(truck: dict[str, Any]) -> None:
    assert classify(truck["axle_spacings_m"]).body.value == truck["body"]


def test_verdict_matches_expectation(truck: dict[str, Any]) -> None:
    vclass = classify(truck["axle_spacings_m"])
    limit = gross_limit(vclass, _tyres(truck["tyres"]), TABLE)
    assert limit.rule_id == vclass.code, "every scenario truck matches its own row, no fallback"
    if _is_reweigh(truck):
        assert truck["expected_verdict"] == "reweigh"
        decision = decide(_gross_kg(truck), limit, unstable_reasons=("stopped on the platform",))
        assert decision.verdict is Verdict.REWEIGH
        return
    decision = decide(_gross_kg(truck), limit)
    assert decision.verdict.value == truck["expected_verdict"], decision.reasons


def test_gross_is_at_least_two_percent_from_the_threshold(truck: dict[str, Any]) -> None:
    if _is_reweigh(truck):
        return
    vclass = classify(truck["axle_spacings_m"])
    limit = gross_limit(vclass, _tyres(truck["tyres"]), TABLE)
    ratio = _gross_kg(truck) / decide(_gross_kg(truck), limit).threshold_kg
    assert not (1 - STEP_AWAY <= ratio <= 1 + STEP_AWAY), ratio


def _category(truck: dict[str, Any]) -> tuple[str, str] | None:
    """(class code, compliant | over | far_over) for trucks judged on their load alone."""
    if _is_reweigh(truck):
        return None
    vclass = classify(truck["axle_spacings_m"])
    limit = gross_limit(vclass, _tyres(truck["tyres"]), TABLE)
    share = _gross_kg(truck) / limit.limit_kg
    if 0.85 <= share <= 0.98:
        return vclass.code, "compliant"
    if 1.07 <= share <= 1.11:
        return vclass.code, "over"
    if 1.30 <= share <= 2.20:
        return vclass.code, "far_over"
    return None


def test_every_class_appears_compliant_over_and_far_over() -> None:
    seen = {category for category in map(_category, TRUCKS) if category is not None}
    for rule in TABLE.rules:
        if rule.needs_facts:  # air suspension, articulated: rows the simulated trucks never claim
            continue
        for kind in ("compliant", "over", "far_over"):
            assert (rule.rule_id, kind) in seen, (rule.rule_id, kind)


def test_special_cases_are_present() -> None:
    six_axle_100t = [
        truck for truck in TRUCKS if len(truck["axle_loads_kg"]) == 6 and _gross_kg(truck) == 100_000.0
    ]
    assert six_axle_100t
    assert all(truck["expected_verdict"] == "overweight" for truck in six_axle_100t)

    within_tolerance = [
        truck
        for truck in TRUCKS
        if not _is_reweigh(truck)
        and 1.01
        <= _gross_kg(truck)
        / gross_limit(classify(truck["axle_spacings_m"]), _tyres(truck["tyres"]), TABLE).limit_kg
        <= 1.03
    ]
    assert within_tolerance
    assert all(truck["expected_verdict"] == "pass" for truck in within_tolerance)

    stop_and_go = [truck for truck in TRUCKS if _is_reweigh(truck)]
    assert stop_and_go
    assert all(truck["stop_on_scale_s"] > 0 for truck in stop_and_go)
    assert all(truck["expected_verdict"] == "reweigh" for truck in stop_and_go)
    assert all(truck["expected_verdict"] != "reweigh" for truck in TRUCKS if not _is_reweigh(truck))


def _deduction_flips_verdict(truck: dict[str, Any], other_tyres: list[str]) -> bool:
    """True when the verdict with the truck's tyres differs from the verdict with ``other_tyres``, each
    with at least 3 % margin from its own threshold."""
    vclass = classify(truck["axle_spacings_m"])
    gross_kg = _gross_kg(truck)
    actual = decide(gross_kg, gross_limit(vclass, _tyres(truck["tyres"]), TABLE))
    other = decide(gross_kg, gross_limit(vclass, _tyres(other_tyres), TABLE))
    margins_ok = all(abs(gross_kg / d.threshold_kg - 1) >= 0.03 for d in (actual, other))
    return actual.verdict is not other.verdict and margins_ok


def _trailer_start(truck: dict[str, Any]) -> int:
    """Index of the first axle in group index 2 (the first trailer axle)."""
    return sum(classify(truck["axle_spacings_m"]).groups[:2])


def test_single_tyre_trailer_deduction_decides_a_verdict() -> None:
    cases = [
        truck
        for truck in TRUCKS
        if classify(truck["axle_spacings_m"]).body.value == "combination"
        and "single" in truck["tyres"][_trailer_start(truck) :]
    ]
    assert cases, "a combination with single-tyred trailer axles"
    for truck in cases:
        start = _trailer_start(truck)
        as_dual = truck["tyres"][:start] + [
            ("dual" if tyre == "single" else tyre) for tyre in truck["tyres"][start:]
        ]
        assert _deduction_flips_verdict(truck, as_dual), truck["plate"]


def test_wide_single_trailer_tyres_are_not_deducted() -> None:
    cases = [truck for truck in TRUCKS if "wide_single" in truck["tyres"]]
    assert cases, "a truck with wide single tyres"
    for truck in cases:
        vclass = classify(truck["axle_spacings_m"])
        assert gross_limit(vclass, _tyres(truck["tyres"]), TABLE).deductions == ()
        as_single = [("single" if tyre == "wide_single" else tyre) for tyre in truck["tyres"]]
        assert _deduction_flips_verdict(truck, as_single), truck["plate"]
