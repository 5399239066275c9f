"""The vehicle registry (downlink kind ``registry``): the document's rules, the 非法改装 check, and end to
end through the daemon: signed documents over a real broker, the lane simulator on ptys with the camera,
and the LiDAR gantry simulator over TCP."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np
import pytest

from edge.config import OFFLINE_DEVICES, Config, TrustedKey
from edge.daemon import LaneDaemon
from edge.downlink import DownlinkService, downlink_topic, parse_document
from edge.downlink.documents import DocumentError
from edge.downlink.signing import generate_ed25519, sign_document
from edge.judge import judge_weighed, site_facts
from edge.lane.crossing import Crossing, SampleWindow
from edge.rules import LimitTable, Tyre, Verdict
from edge.rules.registry import RegisteredVehicle, by_plate, check_registry, tolerance_m
from edge.wim.estimate import WimMeasurement
from edge.wim.weighing import Weighed
from firmware_sim.lidar import LidarGantry
from firmware_sim.lidar_scene import FAULTS, default_gantry
from firmware_sim.scenario import load_scenario
from tests.test_outline_lane import (
    GANTRY_GAP_S,
    LEAD_S,
    _van,
    outline_section,
    start_in_step,
    synced_passages,
    with_outline,
)

KEY, PUBLIC = generate_ed25519()
VAN = RegisteredVehicle(
    plate="晋B20002", axle_count=3, axle_groups=(1, 2), length_m=8.75, width_m=2.5, height_m=3.8
)


@pytest.mark.parametrize(
    ("registered", "tolerance"),
    [(2.5, 0.100), (4.0, 0.100), (5.0, 0.100), (8.75, 0.175), (18.0, 0.360)],
)
def test_the_gb_21861_in_use_tolerance_is_2_percent_or_100_mm(registered: float, tolerance: float) -> None:
    assert tolerance_m(registered) == pytest.approx(tolerance)


@pytest.mark.parametrize(
    ("outline", "u", "axles", "status", "problem"),
    [
        ({"length_m": 8.80, "width_m": 2.52, "height_m": 3.85}, 0.01, 3, "matches", None),
        # 4.05 - 3.8 = 0.25 > 0.10 + 2 x 0.01: raised roof
        (
            {"length_m": 8.80, "width_m": 2.52, "height_m": 4.05},
            0.01,
            3,
            "modified",
            "height_m: registered 3.80 m",
        ),
        # 0.12 off, but the measurement's 2u (0.04) allows it
        ({"length_m": 8.75, "width_m": 2.5, "height_m": 3.92}, 0.02, 3, "matches", None),
        # 9.40 - 8.75 = 0.65 > 0.175: lengthened
        (
            {"length_m": 9.40, "width_m": 2.5, "height_m": 3.8},
            0.01,
            3,
            "modified",
            "length_m: registered 8.75 m",
        ),
        (
            {"length_m": 8.75, "width_m": 2.5, "height_m": 3.8},
            0.01,
            4,
            "axles_differ",
            "axle_count: registered 3, measured 4",
        ),
        ({}, 0.01, 3, "not_checked", "outline not measured"),
    ],
)
def test_a_vehicle_is_compared_with_its_registration(
    outline: dict[str, float], u: float, axles: int, status: str, problem: str | None
) -> None:
    found = check_registry(
        by_plate([VAN]),
        "晋B20002",
        axle_count=axles,
        outline_m=outline,
        outline_u_m=dict.fromkeys(outline, u),
    )
    assert found is not None and found.status == status
    if problem is None:
        assert found.problems == () and found.reasons() == ()
    else:
        assert found.problems[0].startswith(problem), found.problems
    if status == "modified":
        assert found.reasons()[0].startswith(f"非法改装: registry 晋B20002 {problem}")
    assert check_registry(by_plate([VAN]), "晋B20003", axle_count=3) is None


S, D = Tyre.SINGLE, Tyre.DUAL
PACKAGED_LIMITS = LimitTable.load(
    Path(__file__).resolve().parents[1] / "edge" / "rules" / "limits_gb2016.toml"
)


# Expected limits written by hand from the sources:
#   O62   交通运输部令2016年第62号 第三条 (2 axles 18,000; 3-axle truck 25,000; 4-axle truck 31,000;
#         4-axle combination 36,000)
#   N124  交公路发〔2016〕124号 附件 备注1 (a 2-axle truck is also capped by its registered gross) and
#         备注4 (+1,000 kg for dual-tyre drive axles on air suspension: 26,000 / 32,000; 37,000 for a
#         4-axle articulated one with semi-trailer axles >= 1,800 mm apart)
@pytest.mark.parametrize(
    ("registered", "site", "spacings", "tyres", "rule_id", "limit_kg", "source"),
    [
        pytest.param(
            {"drive_air_suspension": True},
            {},
            [4.3, 1.35],
            [S, D, D],
            "3-rigid-air-suspension",
            26000,
            "registry + config",
            id="N124 4: 3-axle, registry says air",
        ),
        pytest.param({}, {}, [4.3, 1.35], [S, D, D], "3-rigid", 25000, "config", id="O62: registry silent"),
        pytest.param(
            {},
            {"assume_air_suspension": True},
            [4.3, 1.35],
            [S, D, D],
            "3-rigid-air-suspension",
            26000,
            "config",
            id="registry silent: the site's assumption stands",
        ),
        pytest.param(
            {"drive_air_suspension": False},
            {"assume_air_suspension": True},
            [4.3, 1.35],
            [S, D, D],
            "3-rigid",
            25000,
            "registry + config",
            id="registry says leaf springs: over the site's assumption",
        ),
        pytest.param(
            {"drive_air_suspension": True},
            {},
            [4.3, 1.35],
            [S, S, D],
            "3-rigid",
            25000,
            "registry + config",
            id="N124 4 needs dual tyres on the drive axles",
        ),
        pytest.param(
            {"drive_air_suspension": True, "articulated": False},
            {},
            [1.9, 4.4, 1.35],
            [S, S, D, D],
            "4-rigid-air-suspension",
            32000,
            "registry",
            id="N124 4: 8x4 truck, air",
        ),
        pytest.param(
            {"drive_air_suspension": True, "articulated": True},
            {},
            [3.6, 7.0, 1.85],
            [S, D, D, D],
            "4-articulated-air-suspension",
            37000,
            "registry",
            id="N124 4: 4-axle articulated, air, spread 1.85 m",
        ),
        pytest.param(
            {"drive_air_suspension": True, "articulated": False},
            {},
            [3.6, 7.0, 1.85],
            [S, D, D, D],
            "4-combination",
            36000,
            "registry",
            id="O62: 4-axle drawbar combination, air: no variant",
        ),
        pytest.param(
            {"registered_gross_kg": 16000},
            {},
            [4.5],
            [S, D],
            "2-rigid",
            16000,
            "registry + config",
            id="N124 1: 2-axle capped by its registered 16 t",
        ),
        pytest.param(
            {"registered_gross_kg": 20000},
            {},
            [4.5],
            [S, D],
            "2-rigid",
            18000,
            "registry + config",
            id="N124 1: a registered 20 t does not raise O62's 18 t",
        ),
    ],
)
def test_the_registrys_facts_set_the_limit_the_judge_applies(
    registered: dict[str, Any],
    site: dict[str, Any],
    spacings: list[float],
    tyres: list[Tyre],
    rule_id: str,
    limit_kg: int,
    source: str,
) -> None:
    vehicle = RegisteredVehicle(plate="冀A3K721", axle_count=len(tyres), **registered)
    config = _rules_config(**site)
    facts = vehicle.facts(site_facts(config))
    assert (facts is None) == (not registered)
    crossing, weighed = _weighed(spacings, tyres, gross_kg=limit_kg + 500.0)
    judgement = judge_weighed(crossing, weighed, config, PACKAGED_LIMITS, facts=facts)
    assert judgement.limit.limit_kg == limit_kg
    assert judgement.limit.rule_id == rule_id
    assert judgement.facts is not None and judgement.facts.source == source
    # 500 kg over the limit is within the 5 % tolerance: the right limit decides a pass
    assert judgement.decision.verdict is Verdict.PASS
    if rule_id.endswith("air-suspension"):
        assert any(f"(facts: {source})" in note for note in judgement.limit.notes)
    record = RegisteredVehicle.model_validate(vehicle.model_dump()).facts(site_facts(config))
    assert record == facts  # the document round-trips to the same facts


def _rules_config(**rules: Any) -> Config:
    return Config.model_validate(
        {"site": {"id": "s1", "lane": 1}, "devices": OFFLINE_DEVICES, "rules": rules}
    )


def _weighed(spacings: list[float], tyres: list[Tyre], gross_kg: float) -> tuple[Crossing, Weighed]:
    n = len(tyres)
    entry = 1.0 + np.concatenate(([0.0], np.cumsum(spacings))) / (10 / 3.6)  # 10 km/h
    window = SampleWindow(np.zeros(0), np.zeros((0, 12), dtype=np.int32), 0)
    crossing = Crossing(1, window, 1000, entry, entry + 6.0, tuple(t.value for t in tyres), (), None)
    loads = (gross_kg / n,) * n
    measurement = WimMeasurement(
        axle_loads_kg=loads,
        axle_spacings_m=tuple(spacings),
        axle_speeds_kmh=(10.0,) * n,
        speed_kmh=10.0,
        gross_kg=gross_kg,
        residual_rms_kg=10.0,
        samples_used=1000,
        samples_lost=0,
        problems=(),
    )
    return crossing, Weighed(measurement, None, "preroll", ())


def test_a_malformed_registry_is_rejected_whole() -> None:
    good = {"version": 1, "vehicles": [VAN.model_dump(mode="json")]}
    assert parse_document("registry", json.dumps(good).encode()).vehicles == (VAN,)  # type: ignore[attr-defined]
    for bad, words in [
        ({"version": 2, "vehicles": [VAN.model_dump(mode="json")] * 2}, "each plate may appear once"),
        ({"version": 2, "vehicles": [{**VAN.model_dump(mode="json"), "axle_groups": [1, 1]}]}, "add up"),
        ({"version": 2, "vehicles": [{**VAN.model_dump(mode="json"), "plate": "XX123"}]}, "plate"),
        ({"version": 2, "vehicles": [{**VAN.model_dump(mode="json"), "height_m": -1}]}, "height_m"),
    ]:
        with pytest.raises(DocumentError, match=words):
            parse_document("registry", json.dumps(bad).encode())


async def test_registry_versions_move_forward_and_the_last_good_one_stays(tmp_path: Path) -> None:
    config = Config.model_validate(
        {
            "site": {"id": "s1", "lane": 1},
            "devices": OFFLINE_DEVICES,
            "evidence": {"database": str(tmp_path / "evidence.db")},
            "downlink": {"trusted_keys": [{"id": "central", "public_key": PUBLIC}]},
        }
    )
    service = DownlinkService(config)

    def signed(document: dict[str, Any]) -> bytes:
        return sign_document("registry", json.dumps(document, ensure_ascii=False).encode(), KEY, "central")

    vehicles = [VAN.model_dump(mode="json")]
    assert (await service.handle("registry", signed({"version": 2, "vehicles": vehicles})))[
        "status"
    ] == "applied"
    broken = await service.handle("registry", signed({"version": 3, "vehicles": vehicles * 2}))
    assert broken["status"] == "rejected" and broken["applied_version"] == 2
    assert any("each plate may appear once" in e for e in broken["errors"])
    stale = await service.handle("registry", signed({"version": 1, "vehicles": []}))
    assert stale["status"] == "ignored"
    unsigned = await service.handle("registry", json.dumps({"version": 9, "vehicles": []}).encode())
    assert unsigned["status"] == "rejected"
    assert service.current("registry").vehicles == (VAN,)
    restarted = DownlinkService(config)
    await restarted.load()
    assert restarted.versions()["registry"] == 2 and restarted.current("registry").vehicles == (VAN,)


SCENARIO = textwrap.dedent(
    """
    name = "registry"
    description = "a van as registered, a van whose roof was raised (and whose permit is too low)"
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

    [[truck]]
    plate = "晋B20002"
    body = "rigid"
    speed_kmh = 16.0
    axle_spacings_m = [4.2, 1.35]
    axle_loads_kg = [6000.0, 8000.0, 8000.0]
    tyres = ["single", "dual", "dual"]
    front_overhang_m = 1.4
    rear_overhang_m = 1.8
    expected_verdict = "oversize"

    [[truck]]
    plate = "苏E30003"
    body = "rigid"
    speed_kmh = 16.0
    axle_spacings_m = [4.3, 1.35]
    axle_loads_kg = [6000.0, 10400.0, 10400.0]
    tyres = ["single", "dual", "dual"]
    front_overhang_m = 1.4
    rear_overhang_m = 1.8
    expected_verdict = "pass"
    """
)


async def test_registry_and_permit_dimensions_end_to_end(
    make_rig: Any, mosquitto: Any, tmp_path: Path
) -> None:
    path = tmp_path / "registry.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    rig = make_rig(load_scenario(path), mqtt_port=mosquitto.port, camera_dir=tmp_path / "camera", t0_s=4.0)
    lengths = [m.length_m for m in rig.sim.motions]
    shapes = [_van(lengths[0], 2.5, 3.6), _van(lengths[1], 2.5, 4.4), _van(lengths[2], 2.5, 3.7)]
    mounts = default_gantry(scan_hz=50.0)
    site = rig.config.site.id
    validity = {"valid_from_utc": "2026-01-01T00:00:00Z", "valid_until_utc": "2099-01-01T00:00:00Z"}
    documents = {
        "registry": {
            "version": 4,
            "vehicles": [
                {
                    "plate": "冀A10001",
                    "axle_count": 2,
                    "length_m": round(lengths[0], 2),
                    "width_m": 2.5,
                    "height_m": 3.6,
                },
                {**VAN.model_dump(mode="json"), "length_m": round(lengths[1], 2)},
                # 26.8 t on three axles: over 105 % of O62's 25 t, within 105 % of 124号's 26 t, which
                # only the registry's word on the air suspension grants
                {"plate": "苏E30003", "axle_count": 3, "drive_air_suspension": True, "height_m": 3.7},
            ],
        },
        "permits": {
            "version": 1,
            "permits": [
                {
                    "permit_id": "P-TALL",
                    "plate": "晋B20002",
                    "max_gross_kg": 30000,
                    "axle_count": 3,
                    "max_height_m": 4.2,
                    "stations": [site],
                    **validity,
                }
            ],
        },
    }
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="central-registry") as client:
        for kind, document in documents.items():
            payload = sign_document(kind, json.dumps(document, ensure_ascii=False).encode(), KEY, "central")
            await client.publish(downlink_topic(rig.config, kind), payload, qos=1, retain=True)
    gantry = LidarGantry(
        synced_passages(rig.sim, shapes, LEAD_S),
        FAULTS["noise"],
        mounts=mounts,
        gap_s=GANTRY_GAP_S,
        autoplay=False,
    )
    async with gantry:
        config = with_outline(
            rig.config,
            outline_section(
                mounts,
                {m.name: gantry.url(m.name) for m in mounts},
                wait_s=5.0,  # a busy CI machine: this test is about the verdict, not the latency
            ),
        )
        downlink = config.downlink.model_copy(
            update={"accept_unsigned": False, "trusted_keys": (TrustedKey(id="central", public_key=PUBLIC),)}
        )
        rig.config = config.model_copy(update={"downlink": downlink})
        rig.daemon = LaneDaemon(rig.config, on_record=rig.keep)
        rig._task = asyncio.create_task(rig.daemon.run(rig.stop), name="daemon")
        await asyncio.wait_for(rig.daemon.ready.wait(), 60)
        for _ in range(100):  # the retained documents arrive with the downlink's subscription
            if (
                rig.daemon.downlink.versions()["registry"] == 4
                and rig.daemon.downlink.versions()["permits"] == 1
            ):
                break
            await asyncio.sleep(0.05)
        assert rig.daemon.downlink.versions() == {
            "watchlist": None,
            "permits": 1,
            "config": None,
            "registry": 4,
        }
        await start_in_step(rig, gantry)
        await rig.wait_records(3, timeout_s=rig.sim.duration_s + 60)
    by_plate_read = {r["plate_reading"]["text"]: r for r in rig.records}
    assert set(by_plate_read) == {"冀A10001", "晋B20002", "苏E30003"}, "each plate read right"

    air = by_plate_read["苏E30003"]
    assert air["limit"]["limit_kg"] == 26000 and air["limit"]["rule_id"] == "3-rigid-air-suspension"
    assert air["vehicle_facts"] == {
        "air_suspension": True,
        "articulated": False,
        "registered_gross_kg": None,
        "source": "registry + config",
    }
    assert air["registry"]["drive_air_suspension"] is True and air["registry"]["status"] == "matches"
    gross = air["wim"]["gross_kg"]
    assert gross > 25000 * 1.05, "weighed over O62's threshold: only the registry's facts let it pass"
    assert air["verdict"] == ("pass" if gross <= 26000 * 1.05 else "overweight"), air["reasons"]

    legal = by_plate_read["冀A10001"]
    assert legal["verdict"] == "pass"
    assert legal["registry"]["status"] == "matches" and legal["registry"]["axle_count"] == 2
    assert legal["registry"]["tolerance"].startswith("GB 21861-2014")
    assert not any("非法改装" in r for r in legal["reasons"])

    raised = by_plate_read["晋B20002"]  # registered 3.80 m high, measured about 4.40 m
    assert raised["outline"]["states"]["height"] == "over"
    assert raised["registry"]["status"] == "modified"
    assert raised["registry"]["problems"][0].startswith("height_m: registered 3.80 m, measured 4.4")
    assert any(
        r.startswith("非法改装: registry 晋B20002 height_m: registered 3.80 m") for r in raised["reasons"]
    )
    # Its permit allows 4.2 m: 大车小证, naming the field; refused.
    assert raised["verdict"] == "oversize"
    assert raised["permit"]["status"] == "mismatch" and raised["permit"]["applied_to_verdict"] is True
    assert raised["permit"]["problems"][0].startswith("max_height_m: permit 4.2 m, vehicle 4.4")
    assert any(r.startswith("大车小证: permit P-TALL max_height_m: permit 4.2 m") for r in raised["reasons"])
    assert (
        "超高" in raised["lane_output"]["display_text"]
        and "晋B20002" in raised["lane_output"]["display_text"]
    )

    # `edge rules explain` names the outline, permit and registry facts used.
    from click.testing import CliRunner

    from edge.cli import main

    said = CliRunner().invoke(
        main, ["rules", "explain", raised["id"], "--database", rig.config.evidence.database]
    )
    assert said.exit_code == 0, said.output
    lines = said.output.splitlines()
    assert any(line.startswith("外廓 Outline: 高 height 4.4") for line in lines), lines
    assert any(line.startswith("  超高 over: height") for line in lines), lines
    assert any(line.startswith("登记 Registry 晋B20002: 非法改装") for line in lines), lines
    assert (
        "  不符项 Field: max_height_m: permit 4.2 m, vehicle "
        + raised["permit"]["problems"][0].split("vehicle ")[1]
        in lines
    )
    air_said = CliRunner().invoke(
        main, ["rules", "explain", air["id"], "--database", rig.config.evidence.database]
    )
    assert air_said.exit_code == 0, air_said.output
    air_lines = air_said.output.splitlines()
    assert (
        "车辆事实 Vehicle facts (registry + config): 空气悬架 air suspension 是 yes, 铰接列车 articulated 否 no"
        in air_lines
    )
    assert (
        "  登记事实 Registered facts (the limit's, 124号 备注1/4): 空气悬架 air suspension 是 yes"
        in air_lines
    )
    assert any(
        "3-rigid-air-suspension" in line and "(facts: registry + config)" in line for line in air_lines
    ), air_lines
