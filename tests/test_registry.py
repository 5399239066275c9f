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
import pytest

from edge.config import OFFLINE_DEVICES, Config, TrustedKey
from edge.daemon import LaneDaemon
from edge.downlink import DownlinkService, downlink_topic, parse_document
from edge.downlink.documents import DocumentError
from edge.downlink.signing import generate_ed25519, sign_document
from edge.rules.registry import RegisteredVehicle, by_plate, check_registry, tolerance_m
from firmware_sim.lidar import LidarGantry
from firmware_sim.lidar_scene import FAULTS, default_gantry
from firmware_sim.scenario import load_scenario
from tests.test_outline_lane import GANTRY_GAP_S, LEAD_S, _van, outline_section, synced_passages, with_outline

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
    """
)


async def test_registry_and_permit_dimensions_end_to_end(
    make_rig: Any, mosquitto: Any, tmp_path: Path
) -> None:
    path = tmp_path / "registry.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    rig = make_rig(load_scenario(path), mqtt_port=mosquitto.port, camera_dir=tmp_path / "camera", t0_s=4.0)
    lengths = [m.length_m for m in rig.sim.motions]
    shapes = [_van(lengths[0], 2.5, 3.6), _van(lengths[1], 2.5, 4.4)]
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
        synced_passages(rig.sim, shapes, LEAD_S), FAULTS["noise"], mounts=mounts, gap_s=GANTRY_GAP_S
    )
    loop = asyncio.get_running_loop()
    async with gantry:
        started = loop.time()
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
        await asyncio.wait_for(rig.daemon.ready.wait(), LEAD_S - 2)
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
        await asyncio.sleep(max(0.0, started + LEAD_S - loop.time()))
        rig.sim.start()
        await rig.wait_records(2, timeout_s=rig.sim.duration_s + 60)
    by_plate_read = {r["plate_reading"]["text"]: r for r in rig.records}
    assert set(by_plate_read) == {"冀A10001", "晋B20002"}, "each plate read right"

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
