"""The outline in the toll-entrance lane, end to end: the lane simulator on ptys and the LiDAR gantry
simulator on localhost TCP, timed so that each scanned vehicle is the truck on the scale; the daemon
measures each vehicle with the speed profile of its WIM axle timing and judges it oversize or not."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.config import Config
from edge.daemon import LaneDaemon
from edge.demo import free_port
from edge.outline.limits import judge_outline
from edge.rules import Decision, LimitDecision, Verdict
from edge.rules.verdict import apply_outline, board_detail
from firmware_sim.lane import SimulatedLane
from firmware_sim.lidar import LidarGantry
from firmware_sim.lidar_scene import (
    FAULTS,
    Part,
    Passage,
    ScannerMount,
    VehicleShape,
    default_gantry,
    speed_pair_gantry,
)
from firmware_sim.scenario import load_scenario

GANTRY_GAP_S = 0.05
#: The lane simulator starts this long after the gantry simulator (the daemon starts in between).
LEAD_S = 12.0

SCENARIO = textwrap.dedent(
    """
    name = "outline"
    description = "a legal van, an over-height van, an over-long combination"
    seed = 5
    gap_s = 1.5

    [[truck]]
    plate = "冀A10001"
    body = "rigid"
    speed_kmh = 18.0
    axle_spacings_m = [4.5]
    axle_loads_kg = [6000.0, 10000.0]
    tyres = ["single", "dual"]
    front_overhang_m = 1.3
    rear_overhang_m = 1.5
    expected_verdict = "pass"
    height_m = 3.6

    [[truck]]
    plate = "晋B20002"
    body = "rigid"
    speed_kmh = 16.0
    axle_spacings_m = [4.2, 1.35]
    axle_loads_kg = [6000.0, 8000.0, 8000.0]
    tyres = ["single", "dual", "dual"]
    front_overhang_m = 1.4
    rear_overhang_m = 1.8
    expected_verdict = "pass"
    height_m = 4.4

    [[truck]]
    plate = "鲁C30003"
    body = "combination"
    speed_kmh = 16.0
    axle_spacings_m = [3.4, 1.35, 8.0, 1.31, 1.31]
    axle_loads_kg = [6500.0, 8500.0, 8500.0, 7000.0, 7000.0, 7000.0]
    tyres = ["single", "dual", "dual", "dual", "dual", "dual"]
    front_overhang_m = 1.4
    rear_overhang_m = 2.2
    expected_verdict = "pass"
    height_m = 3.9
    """
)


def _centimetres(recorded_m: float) -> set[str]:
    """What a reason or the board can print (two decimals of the unrounded value) for a value that the
    record keeps rounded to the millimetre: 18.4449 is recorded 18.445 and printed 18.44."""
    return {f"{recorded_m - 0.0005:.2f}", f"{recorded_m + 0.0005:.2f}"}


def _van(length_m: float, width_m: float, height_m: float) -> VehicleShape:
    """A cab and a box body to ``length_m``, ``width_m`` wide and ``height_m`` high (front at x = 0)."""
    return VehicleShape(
        "van",
        (
            Part(0.0, 0.5, -1.22, 1.22, 0.45, 1.2),  # bumper
            Part(0.05, 2.2, -1.22, 1.22, 0.9, 3.1),  # cab
            Part(2.4, length_m, -width_m / 2, width_m / 2, 1.0, height_m),  # box
        ),
    )


def synced_passages(sim: SimulatedLane, shapes: list[VehicleShape], lead_s: float) -> list[Passage]:
    """Gantry passages in step with the lane: the gantry stands at the light curtain, and passage ``k``
    brings truck ``k``'s front to it when the lane simulator's curtain sees it (the gantry plays its
    passages one after another, ``GANTRY_GAP_S`` apart; the lane simulator starts ``lead_s`` after it)."""
    passages = []
    offset = 0.0
    for motion, shape in zip(sim.motions, shapes, strict=True):
        front_t = motion.curtain_interval(sim.geometry.separator_x_m)[0] + lead_s
        assert front_t > offset, "trucks too close for the gantry simulator's sequential passages"
        passage = Passage(shape, speed_m_s=motion.speed_m_s, approach_m=motion.speed_m_s * (front_t - offset))
        passages.append(passage)
        offset += passage.duration_s() + GANTRY_GAP_S
    return passages


async def start_in_step(rig: Any, gantry: LidarGantry) -> None:
    """Start the gantry's passages once the daemon is ready (its start-up, ONNX sessions and Numba
    kernels included, can take well over ``LEAD_S`` on a loaded machine), and the lane simulator
    ``LEAD_S`` after them, as ``synced_passages`` assumes."""
    await asyncio.wait_for(rig.daemon.ready.wait(), 60)
    loop = asyncio.get_running_loop()
    gantry.play()
    started = loop.time()  # the gantry's clock starts now
    await asyncio.sleep(max(0.0, started + LEAD_S - loop.time()))
    rig.sim.start()


def outline_section(
    mounts: tuple[ScannerMount, ...], urls: dict[str, str], **settings: Any
) -> dict[str, Any]:
    return {
        "enabled": True,
        "scanners": [
            {
                "type": "sick_lms5xx",
                "port": urls[m.name],
                "name": m.name,
                "y_m": m.y_m,
                "z_m": m.z_m,
                "mount_deg": m.mount_deg,
                "x_m": m.x_m,
                **({"speed_pair": "overhead"} if m.name == "upstream" else {}),
            }
            for m in mounts
        ],
        **settings,
    }


def with_outline(config: Config, section: dict[str, Any]) -> Config:
    return Config.model_validate({**config.model_dump(mode="python"), "outline": section})


async def test_oversize_vehicles_are_refused_with_their_dimension_on_the_board(
    make_rig: Any, tmp_path: Path
) -> None:
    path = tmp_path / "outline.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    rig = make_rig(load_scenario(path), t0_s=4.0)
    lengths = [m.length_m for m in rig.sim.motions]
    shapes = [_van(lengths[0], 2.5, 3.6), _van(lengths[1], 2.5, 4.4), _van(lengths[2], 2.5, 3.9)]
    mounts = default_gantry(scan_hz=50.0)
    passages = synced_passages(rig.sim, shapes, LEAD_S)
    gantry = LidarGantry(passages, FAULTS["noise"], mounts=mounts, gap_s=GANTRY_GAP_S, autoplay=False)
    async with gantry:
        rig.config = with_outline(
            rig.config,
            outline_section(
                mounts,
                {m.name: gantry.url(m.name) for m in mounts},
                wait_s=5.0,  # a busy CI machine: this test is about the verdict, not the latency
            ),
        )
        rig.daemon = LaneDaemon(rig.config, on_record=rig.keep)
        rig._task = asyncio.create_task(rig.daemon.run(rig.stop), name="daemon")
        await start_in_step(rig, gantry)
        await rig.wait_records(3, timeout_s=rig.sim.duration_s + 60)
    by_number = {r["vehicle_number"]: r for r in rig.records}
    legal, tall, long_ = by_number[1], by_number[2], by_number[3]

    for record, shape in zip((legal, tall, long_), shapes, strict=True):
        outline = record["outline"]
        assert outline["status"] == "measured", outline
        length, width, height = shape.truth_m
        # the light curtain's highest blocked beam (25 mm pitch) of the truck's scenario height, which is
        # the gantry's shape's: it reaches the record, and agrees with the LiDAR within a beam
        assert record["curtain_max_height_mm"] == int(round(height * 1000) // 25 * 25), record
        assert (
            -0.005
            < outline["height_m"] - record["curtain_max_height_mm"] / 1000
            < 0.025 + 2 * outline["u_height_m"]
        )
        # GB 21861's registration tolerance: +/-1 % or +/-50 mm
        assert abs(outline["height_m"] - height) <= max(0.05, 0.01 * height), outline
        assert abs(outline["width_m"] - width) <= max(0.05, 0.01 * width), outline
        assert abs(outline["length_m"] - length) <= max(0.05, 0.01 * length), outline
        assert outline["limits_m"] == {"height_m": 4.0, "width_m": 2.55, "length_m": 18.1}
        assert outline["source"] == "交通运输部令2016年第62号 第三条"
        assert set(outline["scans"]) == {"overhead", "left", "right"} and min(outline["scans"].values()) > 10
        assert outline["u_height_m"] > 0 and outline["u_length_m"] > 0

    assert legal["verdict"] == "pass" and legal["outline"]["oversize"] is False
    assert legal["outline"]["states"] == {"height": "within", "width": "within", "length": "within"}
    assert legal["lane_output"]["barrier_command"] == "open"

    assert tall["verdict"] == "oversize", tall["reasons"]  # 超限: refused entry, though its weight is legal
    assert tall["outline"]["oversize"] is True and tall["outline"]["states"]["height"] == "over"
    assert any(r.startswith("超高: height 4.4") and "above the 4 m limit" in r for r in tall["reasons"])
    shown_height = _centimetres(tall["outline"]["height_m"])
    assert any(f"超高 {text}m" in tall["lane_output"]["display_text"] for text in shown_height)
    assert "超限 禁止驶入" in tall["lane_output"]["display_text"]
    assert tall["lane_output"]["barrier_command"] == "close"

    assert long_["verdict"] == "oversize", long_["reasons"]
    assert long_["outline"]["states"] == {"height": "within", "width": "within", "length": "over"}
    # the record keeps millimetres; the reason and the board print centimetres of the unrounded value
    shown_length = _centimetres(long_["outline"]["length_m"])
    assert any(r.startswith(f"超长: length {text} +/- ") for r in long_["reasons"] for text in shown_length)
    assert any(f"超长 {text}m" in long_["lane_output"]["display_text"] for text in shown_length)
    # What the board showed is what the record says.
    shown = [" / ".join(line for line in e.lines if line) for e in rig.sim.display_log]
    assert tall["lane_output"]["display_text"] in shown and long_["lane_output"]["display_text"] in shown


async def test_an_unplugged_gantry_leaves_the_verdict_to_the_weight_flagged(
    make_rig: Any, tmp_path: Path, short_scenario: Any
) -> None:
    rig = make_rig(short_scenario.model_copy(update={"trucks": short_scenario.trucks[:1]}))
    nobody = f"socket://127.0.0.1:{free_port()}"  # nothing listens: the scanner is unplugged
    mounts = default_gantry()
    rig.config = with_outline(
        rig.config, outline_section(mounts, dict.fromkeys((m.name for m in mounts), nobody))
    )
    rig.daemon = LaneDaemon(rig.config, on_record=rig.keep)
    await rig.start()
    await rig.wait_records(1, timeout_s=rig.sim.duration_s + 60)
    record = rig.records[0]
    assert record["verdict"] == "pass", record["reasons"]
    outline = record["outline"]
    assert outline["status"] == "unavailable"
    assert outline["reason"].startswith("no scans from overhead (link down")
    assert outline["length_m"] is None and outline["oversize"] is None
    assert any(r.startswith("外廓未测: outline not measured (no scans from") for r in record["reasons"])
    assert "外廓未测" in record["lane_output"]["display_text"]
    assert set(record["devices"]) >= {"lidar_overhead", "lidar_left", "lidar_right"}
    assert rig.daemon.site.health()["outline"]["unavailable"] == 1


async def test_a_speed_scanner_upstream_measures_the_speed_over_tcp(make_rig: Any, tmp_path: Path) -> None:
    path = tmp_path / "outline.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    scenario = load_scenario(path)
    rig = make_rig(scenario.model_copy(update={"trucks": scenario.trucks[:1]}), t0_s=4.0)
    shape = _van(rig.sim.motions[0].length_m, 2.5, 3.6)
    mounts = speed_pair_gantry(4.0, scan_hz=50.0)
    passages = synced_passages(rig.sim, [shape], LEAD_S)
    assert passages[0].approach_m > 4.0
    gantry = LidarGantry(passages, FAULTS["noise"], mounts=mounts, gap_s=GANTRY_GAP_S, autoplay=False)
    async with gantry:
        rig.config = with_outline(
            rig.config, outline_section(mounts, {m.name: gantry.url(m.name) for m in mounts}, wait_s=5.0)
        )
        assert rig.config.outline.scanners[3].speed_pair == "overhead"
        rig.daemon = LaneDaemon(rig.config, on_record=rig.keep)
        rig._task = asyncio.create_task(rig.daemon.run(rig.stop), name="daemon")
        await start_in_step(rig, gantry)
        await rig.wait_records(1, timeout_s=rig.sim.duration_s + 60)
    outline = rig.records[0]["outline"]
    assert outline["status"] == "measured", outline
    assert set(outline["scans"]) == {"overhead", "left", "right", "upstream"}
    assert outline["scans"]["upstream"] > 10
    length, width, height = shape.truth_m
    assert abs(outline["length_m"] - length) <= max(0.05, 0.01 * length), outline
    assert abs(outline["width_m"] - width) <= max(0.05, 0.01 * width), outline
    assert abs(outline["height_m"] - height) <= max(0.05, 0.01 * height), outline
    # the pair found the WIM profile's scale (the simulated axle timing is close to the truth) and the
    # combined uncertainty is below the profile's own 0.5 %
    assert outline["speed_correction"] is not None and abs(outline["speed_correction"]) < 0.01, outline
    assert 0 < outline["u_speed_rel"] < 0.005
    assert outline["u_length_m"] < 0.005 * length

    from click.testing import CliRunner

    from edge.cli import main

    said = CliRunner().invoke(
        main, ["rules", "explain", rig.records[0]["id"], "--database", rig.config.evidence.database]
    )
    assert said.exit_code == 0, said.output
    assert (
        f"  测速校正 Speed pair: WIM speed profile {outline['speed_correction'] * 100:+.2f} % off"
        in said.output
    )


def test_a_speed_scanner_must_pair_with_a_gantry_scanner_upstream() -> None:
    from edge.config import OFFLINE_DEVICES

    mounts = speed_pair_gantry(4.0)
    section = outline_section(mounts, dict.fromkeys((m.name for m in mounts), "socket://127.0.0.1:1"))
    base = {"site": {"id": "s1", "lane": 1}, "devices": OFFLINE_DEVICES}
    config = Config.model_validate({**base, "outline": section})
    assert [s.speed_pair for s in config.outline.scanners] == ["", "", "", "overhead"]
    wrong = [
        ({"speed_pair": "nobody"}, "must name another scanner"),
        ({"speed_pair": "upstream"}, "must name another scanner"),  # itself, a speed scanner
        ({"x_m": 0.5}, "at least 1 m upstream"),  # downstream of its partner
    ]
    for change, message in wrong:
        scanners = [*section["scanners"][:3], {**section["scanners"][3], **change}]
        with pytest.raises(ValueError, match=message):
            Config.model_validate({**base, "outline": {**section, "scanners": scanners}})


def test_a_lane_without_the_section_has_no_gantry(tmp_path: Path) -> None:
    from edge.config import OFFLINE_DEVICES

    config = Config.model_validate({"site": {"id": "s1", "lane": 1}, "devices": OFFLINE_DEVICES})
    assert config.outline.enabled is False and config.outline.scanners == ()
    with pytest.raises(ValueError, match=r"outline\.enabled needs at least one"):
        Config.model_validate(
            {"site": {"id": "s1", "lane": 1}, "devices": OFFLINE_DEVICES, "outline": {"enabled": True}}
        )


def _decision(verdict: Verdict) -> Decision:
    limit = LimitDecision(25000, 25000, "3-axle", "三轴货车", "GB 1589-2016", (), ())
    return Decision(verdict, limit, 1.05, 26250.0, ())


@pytest.mark.parametrize(
    ("height", "u", "rule", "weight", "expected"),
    [
        (4.30, 0.01, "pass", Verdict.PASS, Verdict.OVERSIZE),  # over beyond 2u: refused
        (4.30, 0.01, "pass", Verdict.REWEIGH, Verdict.OVERSIZE),  # a second pass will not lower it
        (3.80, 0.01, "refuse", Verdict.PASS, Verdict.PASS),  # within
        (4.01, 0.01, "pass", Verdict.PASS, Verdict.PASS),  # uncertain, site rule pass
        (4.01, 0.01, "refuse", Verdict.PASS, Verdict.OVERSIZE),
        (4.30, 0.01, "pass", Verdict.OVERWEIGHT, Verdict.OVERWEIGHT),  # both: the weight names it
        (4.01, 0.01, "reweigh", Verdict.PASS, Verdict.REWEIGH),
        (4.01, 0.01, "reweigh", Verdict.OVERWEIGHT, Verdict.OVERWEIGHT),  # refused on its weight anyway
    ],
)
def test_the_outline_rules_in_the_verdict(
    height: float, u: float, rule: str, weight: Verdict, expected: Verdict
) -> None:
    verdict = judge_outline(10.0, 2.5, height, 0.03, 0.01, u)
    decision = apply_outline(_decision(weight), verdict, rule)
    assert decision.verdict is expected
    state = verdict.dimensions[0].state
    if state == "uncertain":
        assert decision.reasons[-1].endswith(f"the site's rule for such vehicles: {rule}")
        assert decision.reasons[-1].startswith(
            f"超高: height {height:.2f} +/- 0.010 m within its uncertainty"
        )
    elif state == "over":
        assert decision.reasons[-1].startswith("超高: height 4.30 +/- 0.010 m above the 4 m limit")
        assert board_detail(verdict, unavailable=False) == "超高 4.30m"
    else:
        assert decision.reasons == ()
        assert board_detail(verdict, unavailable=False) == ""
    unavailable = apply_outline(_decision(weight), None, rule, "no scans from overhead")
    assert unavailable.verdict is weight
    assert unavailable.reasons == ("外廓未测: outline not measured (no scans from overhead); weight only",)
    assert np.isclose(verdict.dimensions[0].value_m, height)


def test_the_light_curtains_height_goes_on_the_record_when_it_reports_one() -> None:
    from edge.config import OFFLINE_DEVICES
    from edge.evidence.record import EvidenceRecord, Software
    from edge.sites.toll_entrance import _with_outline

    config = Config.model_validate({"site": {"id": "s1", "lane": 1}, "devices": OFFLINE_DEVICES})
    record = EvidenceRecord(
        id="r1",
        site_id="s1",
        lane=1,
        vehicle_number=1,
        time_utc=None,
        axle_count=2,
        verdict=Verdict.PASS,
        software=Software(version="test"),
    )
    assert "curtain_max_height_mm" not in _with_outline(record, None, config, 0).to_json_dict()
    assert "outline" not in _with_outline(record, None, config, 0).to_json_dict()  # no gantry: as before
    assert _with_outline(record, None, config, 4210).to_json_dict()["curtain_max_height_mm"] == 4210
