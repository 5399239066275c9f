"""Outline measurement against the simulator's ground truth, per shape and fault, and the oversize verdict."""

from __future__ import annotations

import numpy as np
import pytest

from edge.outline.limits import judge_outline
from edge.outline.measure import Outline, ScannerScans, measure_outline
from firmware_sim.lidar_scene import SHAPES, Faults, Passage, VehicleShape, default_gantry, simulate_passage


def _measure(
    shape: VehicleShape, faults: str, seed: int, use_reference: bool = False
) -> tuple[Outline, tuple[float, float, float]]:
    rng = np.random.default_rng(seed)
    passage = Passage(shape, speed_m_s=float(rng.uniform(1.5, 5.5)), accel_m_s2=float(rng.uniform(-0.3, 0.3)))
    gantry = default_gantry()
    sim = simulate_passage(passage, gantry, Faults.named(faults), rng)
    scans = [
        ScannerScans(sim.times_s[m.name], sim.ranges_mm[m.name], m.beam_angles_rad(), m.y_m, m.z_m)
        for m in gantry
    ]
    profile_t = np.linspace(0.0, 60.0, 121)
    outline = measure_outline(scans, profile_t, passage.speed_at(profile_t), use_reference=use_reference)
    return outline, shape.truth_m


@pytest.mark.parametrize("name", list(SHAPES))
def test_clean_scans_measure_within_2_cm_and_10_cm(name: str) -> None:
    shape = SHAPES[name](np.random.default_rng(list(SHAPES).index(name)))
    outline, (length, width, height) = _measure(shape, "clean", 11)
    assert outline.width_m == pytest.approx(width, abs=0.02)
    assert outline.height_m == pytest.approx(height, abs=0.02)
    assert outline.length_m == pytest.approx(length, abs=0.10)
    assert outline.rejected < 0.05 * outline.points  # few clean echoes are taken for outliers


@pytest.mark.parametrize("faults", ["noise", "dropouts", "rain", "dust", "mirror", "all"])
@pytest.mark.parametrize("name", ["tanker", "car_carrier", "side_load"])
def test_faulty_scans_stay_within_gb_21861(name: str, faults: str) -> None:
    shape = SHAPES[name](np.random.default_rng(3))
    outline, (length, width, height) = _measure(shape, faults, 5)
    for got, want in ((outline.length_m, length), (outline.width_m, width), (outline.height_m, height)):
        assert abs(got - want) <= max(0.05, 0.01 * want)  # GB 21861-2014: +/-1 % or +/-50 mm
    if faults in ("rain", "dust", "all"):
        assert outline.rejected > 100  # the outliers were there and were thrown out


def test_reference_path_gives_the_same_outline() -> None:
    shape = SHAPES["flatbed_overhang"](np.random.default_rng(4))
    fast, _ = _measure(shape, "all", 9)
    slow, _ = _measure(shape, "all", 9, use_reference=True)
    assert fast.length_m == pytest.approx(slow.length_m, abs=1e-9)
    assert fast.width_m == pytest.approx(slow.width_m, abs=1e-9)
    assert fast.height_m == pytest.approx(slow.height_m, abs=1e-9)
    assert fast.rejected == slow.rejected


def test_side_load_is_judged_over_width_and_a_van_within() -> None:
    shape = SHAPES["side_load"](np.random.default_rng(0))
    outline, (_, width, _) = _measure(shape, "noise", 2)
    assert width > 2.6
    verdict = judge_outline(
        outline.length_m,
        outline.width_m,
        outline.height_m,
        outline.u_length_m,
        outline.u_width_m,
        outline.u_height_m,
    )
    assert verdict.oversize
    assert [d.name for d in verdict.dimensions if d.state == "over"] == ["width"]
    assert verdict.board_text().startswith("超宽 ")
    assert "62号" in verdict.source


def test_verdict_states_follow_the_coverage_interval() -> None:
    within = judge_outline(17.0, 2.50, 3.9, 0.1, 0.01, 0.01)
    assert not within.oversize and not within.uncertain
    assert within.board_text() == ""
    near = judge_outline(18.15, 2.50, 3.9, 0.1, 0.01, 0.01)  # 5 cm over, +/-20 cm at k = 2
    assert near.uncertain and not near.oversize
    assert [d.state for d in near.dimensions] == ["within", "within", "uncertain"]
    over = judge_outline(17.0, 2.50, 4.06, 0.1, 0.01, 0.02)
    assert over.oversize and over.board_text() == "超高 4.06m"
    # exactly at the limit is not over: the rule is "exceeds"
    assert judge_outline(18.1, 2.55, 4.0, 0.0, 0.0, 0.0).dimensions[0].state == "within"


@pytest.mark.parametrize("error", [0.015, -0.015])
@pytest.mark.parametrize("name", ["car_carrier", "box_van"])
def test_a_speed_pair_corrects_a_wim_speed_profile_off_by_1_5_percent(name: str, error: float) -> None:
    from edge.outline.measure import OutlineParams
    from firmware_sim.lidar_scene import speed_pair_gantry

    rng = np.random.default_rng(21)
    shape = SHAPES[name](rng)
    passage = Passage(shape, speed_m_s=4.5, accel_m_s2=-0.2, approach_m=6.0)
    gantry = speed_pair_gantry(4.0)
    sim = simulate_passage(passage, gantry, Faults.named("all"), rng)
    scans = [
        ScannerScans(
            sim.times_s[m.name],
            sim.ranges_mm[m.name],
            m.beam_angles_rad(),
            m.y_m,
            m.z_m,
            m.x_m,
            m.name,
            "overhead" if m.name == "upstream" else "",
        )
        for m in gantry
    ]
    profile_t = np.linspace(0.0, 60.0, 121)
    profile_v = passage.speed_at(profile_t) * (1 + error)  # the WIM axle timing is 1.5 % off
    params = OutlineParams(speed_rel_sigma=0.01)
    length = shape.truth_m[0]
    alone = measure_outline(scans[:3], profile_t, profile_v, params)
    paired = measure_outline(scans, profile_t, profile_v, params)
    assert abs(alone.length_m - length) > 0.01 * length  # 1.5 % off: outside GB 21861
    assert np.isnan(alone.pair_speed_error) and alone.speed_correction == 0.0
    assert abs(paired.length_m - length) <= max(0.05, 0.01 * length), (paired, length)
    assert paired.pair_speed_error == pytest.approx(error, abs=3 * paired.u_pair_speed_error)
    assert paired.u_pair_speed_error < 0.005 and paired.u_speed_rel < paired.u_pair_speed_error
    assert abs(paired.length_m - length) <= 2 * paired.u_length_m
    # the pair only measures speed: width and height are the gantry's alone
    assert paired.width_m == alone.width_m and paired.height_m == alone.height_m
    slow = measure_outline(scans, profile_t, profile_v, params, use_reference=True)
    assert slow.length_m == pytest.approx(paired.length_m, abs=1e-6)
