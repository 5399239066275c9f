"""Permits (大件运输许可) and the watch-list in the verdict: the pure rules, table by table, then end to end
through the daemon on ptys with the simulated camera, signed documents over a real broker, and the alert
published ahead of the record."""

from __future__ import annotations

import asyncio
import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge.config import TrustedKey
from edge.daemon import LaneDaemon
from edge.downlink import downlink_topic
from edge.downlink.signing import generate_ed25519, sign_document
from edge.rules import Decision, LimitDecision, Verdict
from edge.rules.permits import Permit, PermitFinding, WatchEntry, apply_permit, check_permit, match_watchlist
from edge.uplink import alert_topic, record_topic
from firmware_sim.scenario import load_scenario

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
PERMIT = Permit(
    permit_id="P-1",
    plate="晋B52816",
    trailer_plate="晋B1234挂",
    max_gross_kg=30000,
    valid_from_utc=datetime(2026, 12, 1, tzinfo=UTC),
    valid_until_utc=datetime(2026, 12, 31, tzinfo=UTC),
    route="G5 太原-石家庄",
    stations=("s1", "s2"),
    axle_count=3,
    axle_loads_kg=(7000, 12000, 12000),
    max_height_m=4.2,
)


def _check(**vehicle: Any) -> PermitFinding | None:
    arguments: dict[str, Any] = {
        "when": NOW,
        "site_id": "s1",
        "axle_count": 3,
        "gross_kg": 29000.0,
        "axle_loads_kg": (6000.0, 11500.0, 11500.0),
        "tolerance_factor": 1.0,
    }
    arguments.update(vehicle)
    plate = arguments.pop("plate", "晋B52816")
    return check_permit([PERMIT], plate, **arguments)


@pytest.mark.parametrize(
    ("vehicle", "status", "problem"),
    [
        ({}, "covers", None),
        ({"gross_kg": 30000.0}, "covers", None),  # at the permitted gross exactly
        (
            {"gross_kg": 31000.0},
            "exceeded",
            "max_gross_kg: permit 30,000 kg (threshold 30,000 kg), vehicle 31,000 kg",
        ),
        ({"gross_kg": 31000.0, "tolerance_factor": 1.05}, "covers", None),  # 31,000 <= 31,500
        (
            {"axle_loads_kg": (6000.0, 12500.0, 10500.0)},
            "exceeded",
            "axle_loads_kg[1]: permit 12,000 kg, vehicle 12,500 kg",
        ),
        ({"axle_count": 4, "axle_loads_kg": (1.0,) * 4}, "mismatch", "axle_count: permit 3, vehicle 4"),
        ({"outline_m": {"height_m": 4.35}}, "mismatch", "max_height_m: permit 4.2 m, vehicle 4.35 m"),
        (
            {"when": datetime(2027, 1, 2, tzinfo=UTC)},
            "expired",
            "valid_until_utc 2026-12-31T00:00:00+00:00 has passed",
        ),
        ({"when": datetime(2026, 11, 30, tzinfo=UTC)}, "not_yet_valid", "valid_from_utc"),
        ({"site_id": "s9"}, "not_on_route", "stations: s9 is not on the permitted route"),
    ],
    ids=[
        "within",
        "at-limit",
        "gross-over",
        "gross-within-tolerance",
        "axle-over",
        "axle-count",
        "height",
        "expired",
        "not-yet",
        "off-route",
    ],
)
def test_a_permit_is_checked_field_by_field(
    vehicle: dict[str, Any], status: str, problem: str | None
) -> None:
    finding = _check(**vehicle)
    assert finding is not None and finding.permit_id == "P-1"
    assert finding.status == status
    if problem is None:
        assert finding.problems == ()
    else:
        assert len(finding.problems) == 1 and finding.problems[0].startswith(problem), finding.problems


def test_no_permit_for_another_or_an_unread_plate() -> None:
    assert _check(plate="晋B52817") is None
    assert _check(plate=None) is None


@pytest.mark.parametrize(
    ("plate", "trailer", "status", "problem"),
    [
        ("晋B52816", "晋B1234挂", "covers", None),  # tractor and trailer as permitted
        (None, "晋B1234挂", "covers", None),  # the tractor's plate unread: the trailer's finds the permit
        ("晋B1234挂", None, "covers", None),  # the chosen reading is the trailer's (a rear camera)
        ("晋B52816", "晋B9999挂", "mismatch", "trailer_plate: permit 晋B1234挂, vehicle 晋B9999挂"),
        ("晋B52817", "晋B1234挂", "mismatch", "plate: permit 晋B52816, vehicle 晋B52817"),  # another tractor
    ],
    ids=["both", "trailer-only", "trailer-as-plate", "other-trailer", "other-tractor"],
)
def test_a_permit_matches_the_tractor_or_the_trailer_plate(
    plate: str | None, trailer: str | None, status: str, problem: str | None
) -> None:
    finding = _check(plate=plate, trailer_plate=trailer)
    assert finding is not None and finding.permit_id == "P-1" and finding.status == status
    assert finding.problems == (() if problem is None else (problem,))
    assert _check(plate=None, trailer_plate="晋B7777挂") is None


@pytest.mark.parametrize(
    ("outline", "u", "oversize", "status", "problem"),
    [
        ({"height_m": 4.15}, 0.01, ("height",), "covers", None),  # oversize, within the permitted 4.2 m
        ({"height_m": 4.22}, 0.02, ("height",), "covers", None),  # over 4.2 by less than 2u
        (
            {"height_m": 4.30},
            0.01,
            ("height",),
            "mismatch",
            "max_height_m: permit 4.2 m, vehicle 4.30 +/- 0.010 m",
        ),
        (
            {"height_m": 3.9, "width_m": 2.9},
            0.01,
            ("width",),
            "mismatch",
            "max_width_m: not in the permit, vehicle 2.90 +/- 0.010 m is oversize",
        ),
        ({"height_m": 3.9, "length_m": 17.0}, 0.01, (), "covers", None),  # unstated but legal: no problem
    ],
    ids=["height-within", "height-within-2u", "height-over", "width-unstated", "legal-unstated"],
)
def test_measured_dimensions_against_the_permit(
    outline: dict[str, float], u: float, oversize: tuple[str, ...], status: str, problem: str | None
) -> None:
    finding = _check(outline_m=outline, outline_u_m=dict.fromkeys(outline, u), oversize=oversize)
    assert finding is not None and finding.status == status, finding
    assert finding.problems == (() if problem is None else (problem,))


def _decision(verdict: Verdict, reasons: tuple[str, ...] = ()) -> Decision:
    limit = LimitDecision(25000, 25000, "3-axle", "三轴货车", "GB 1589-2016", (), ())
    return Decision(verdict, limit, 1.0, 25000.0, reasons)


@pytest.mark.parametrize(
    ("verdict", "finding", "expected_verdict", "expected_reason"),
    [
        (
            Verdict.OVERWEIGHT,
            PermitFinding("P-1", "covers", (), 30000),
            Verdict.PASS,
            "permit P-1: within the permitted 30,000 kg",
        ),
        (
            Verdict.OVERWEIGHT,
            PermitFinding("P-1", "exceeded", ("max_gross_kg: x",), 30000),
            Verdict.OVERWEIGHT,
            "大车小证: permit P-1 max_gross_kg: x",
        ),
        (
            Verdict.OVERWEIGHT,
            PermitFinding("P-1", "mismatch", ("axle_count: y",), 30000),
            Verdict.OVERWEIGHT,
            "大车小证: permit P-1 axle_count: y",
        ),
        (
            Verdict.OVERWEIGHT,
            PermitFinding("P-1", "expired", ("valid_until_utc z",), 30000),
            Verdict.OVERWEIGHT,
            "permit P-1 expired: valid_until_utc z",
        ),
        (
            Verdict.OVERWEIGHT,
            PermitFinding("P-1", "not_on_route", ("stations: s9",), 30000),
            Verdict.OVERWEIGHT,
            "permit P-1 not for this station: stations: s9",
        ),
        (
            Verdict.PASS,
            PermitFinding("P-1", "mismatch", ("axle_count: y",), 30000),
            Verdict.PASS,
            "大车小证: permit P-1 axle_count: y",
        ),
        (Verdict.PASS, PermitFinding("P-1", "covers", (), 30000), Verdict.PASS, None),
        (Verdict.REWEIGH, PermitFinding("P-1", "covers", (), 30000), Verdict.REWEIGH, None),
    ],
)
def test_the_permit_finding_in_the_verdict(
    verdict: Verdict, finding: PermitFinding, expected_verdict: Verdict, expected_reason: str | None
) -> None:
    decided = apply_permit(_decision(verdict, ("measured",)), finding)
    assert decided.verdict is expected_verdict
    assert decided.reasons == ("measured",) + (() if expected_reason is None else (expected_reason,))


def test_the_watch_list_matches_the_plate_or_the_readers_alternatives() -> None:
    entries = [
        WatchEntry(plate="冀A3K721", reason="严重失信"),
        WatchEntry(plate="冀A3K721", reason="unpaid", until_utc=datetime(2026, 12, 1, tzinfo=UTC)),
    ]
    exact = match_watchlist(entries, "冀A3K721", (), when=NOW)
    assert [(m.plate, m.reason, m.exact) for m in exact] == [("冀A3K721", "严重失信", True)]
    # Read uncertainly as 冀A3K724 with 冀A3K721 the runner-up: still a match, marked as such.
    near = match_watchlist(entries, "冀A3K724", ("冀A3K721",), when=NOW)
    assert [(m.plate, m.exact) for m in near] == [("冀A3K721", False)]
    assert match_watchlist(entries, "冀A3K724", ("冀A3K727",), when=NOW) == ()
    assert match_watchlist(entries, None, (), when=NOW) == ()
    # The second entry ended on 1 December: no match after it.
    assert match_watchlist(entries, "冀A3K721", (), when=NOW) == exact


def test_a_permit_document_with_inconsistent_axles_is_rejected() -> None:
    with pytest.raises(ValueError, match="one load per axle"):
        Permit.model_validate({**PERMIT.model_dump(), "axle_loads_kg": (7000, 12000)})


# -- end to end ------------------------------------------------------------------------------------


SCENARIO = textwrap.dedent(
    """
    name = "permits"
    description = "a watch-listed truck, one within its permit, one whose permit is for 4 axles"
    seed = 11
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
    speed_kmh = 20.0
    axle_spacings_m = [4.2, 1.35]
    axle_loads_kg = [7000.0, 12000.0, 12000.0]
    tyres = ["single", "dual", "dual"]
    front_overhang_m = 1.4
    rear_overhang_m = 1.8
    expected_verdict = "overweight"

    [[truck]]
    plate = "晋B52816"
    body = "rigid"
    speed_kmh = 16.0
    axle_spacings_m = [4.2, 1.35]
    axle_loads_kg = [7000.0, 12500.0, 12500.0]
    tyres = ["single", "dual", "dual"]
    front_overhang_m = 1.4
    rear_overhang_m = 1.8
    expected_verdict = "overweight"
    """
)


async def test_permits_and_the_watch_list_in_the_verdict_end_to_end(
    make_rig: Any, mosquitto: Any, tmp_path: Path
) -> None:
    path = tmp_path / "permits.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    rig = make_rig(load_scenario(path), mqtt_port=mosquitto.port, camera_dir=tmp_path / "camera")
    key, public = generate_ed25519()
    config = rig.config.model_copy(
        update={
            "downlink": rig.config.downlink.model_copy(
                update={
                    "accept_unsigned": False,
                    "trusted_keys": (TrustedKey(id="central", public_key=public),),
                }
            )
        }
    )
    rig.config = config
    rig.daemon = LaneDaemon(config, on_record=rig.keep)
    site = config.site.id
    validity = {"valid_from_utc": "2026-01-01T00:00:00Z", "valid_until_utc": "2099-01-01T00:00:00Z"}
    documents = {
        "watchlist": {"version": 1, "entries": [{"plate": "冀A10001", "reason": "严重失信超限超载"}]},
        "permits": {
            "version": 1,
            "permits": [
                {
                    "permit_id": "P-20002",
                    "plate": "晋B20002",
                    "max_gross_kg": 33000,
                    "axle_count": 3,
                    "stations": [site],
                    **validity,
                },
                {
                    "permit_id": "P-52816",
                    "plate": "晋B52816",
                    "max_gross_kg": 40000,
                    "axle_count": 4,
                    "stations": [site],
                    **validity,
                },
            ],
        },
    }
    seen: list[tuple[str, dict[str, Any]]] = []
    subscribed = asyncio.Event()

    async def central() -> None:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="central-permits") as client:
            await client.subscribe(f"site/{site}/lane/1/+", qos=1)
            subscribed.set()
            async for message in client.messages:
                if not str(message.topic).endswith("/status"):
                    seen.append((str(message.topic), json.loads(bytes(message.payload))))  # type: ignore[arg-type]

    listener = asyncio.create_task(central())
    await asyncio.wait_for(subscribed.wait(), 10)
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="central-publisher") as client:
        for kind, document in documents.items():
            payload = sign_document(kind, json.dumps(document, ensure_ascii=False).encode(), key, "central")
            await client.publish(downlink_topic(config, kind), payload, qos=1, retain=True)
    rig._task = asyncio.create_task(rig.daemon.run(rig.stop), name="daemon")
    await asyncio.wait_for(rig.daemon.ready.wait(), 60)
    for _ in range(200):  # the retained documents arrive with the downlink's subscription
        if rig.daemon.downlink.versions() == {"watchlist": 1, "permits": 1, "config": None, "registry": None}:
            break
        await asyncio.sleep(0.05)
    assert rig.daemon.downlink.versions() == {"watchlist": 1, "permits": 1, "config": None, "registry": None}
    rig.sim.start()
    try:
        await rig.wait_records(3, timeout_s=rig.sim.duration_s + 60)
        for _ in range(100):
            if sum(topic.endswith("/record") for topic, _ in seen) >= 3:
                break
            await asyncio.sleep(0.1)
    finally:
        listener.cancel()
    by_plate = {r["plate_reading"]["text"]: r for r in rig.records}
    assert set(by_plate) == {"冀A10001", "晋B20002", "晋B52816"}, "each plate read right"

    watched = by_plate["冀A10001"]
    assert watched["verdict"] == "pass"
    topics = [topic for topic, _ in seen]
    alert_at = topics.index(alert_topic(config))
    alert = seen[alert_at][1]
    assert (alert["type"], alert["plate_read"], alert["site_id"]) == ("watchlist", "冀A10001", site)
    assert alert["matches"] == [{"plate": "冀A10001", "reason": "严重失信超限超载", "exact": True}]
    assert watched["watchlist"] == [
        {
            "plate": "冀A10001",
            "reason": "严重失信超限超载",
            "exact": True,
            "alert_id": alert["alert_id"],
            "alert_sent": True,
        }
    ]
    assert "watch-list: 冀A10001: 严重失信超限超载" in watched["reasons"]
    assert alert["curtain_enter_utc"] == watched["timing"]["curtain_enter_utc"]
    record_at = next(
        i for i, (t, p) in enumerate(seen) if t == record_topic(config) and p["id"] == watched["id"]
    )
    assert alert_at < record_at, "the alert goes out before the record"
    assert topics.count(alert_topic(config)) == 1

    within = by_plate["晋B20002"]  # 31 t on 3 axles: over the 25 t limit, within its 33 t permit
    assert within["verdict"] == "pass", within["reasons"]
    assert within["permit"] == {
        "permit_id": "P-20002",
        "status": "covers",
        "problems": [],
        "max_gross_kg": 33000,
        "applied_to_verdict": True,
    }
    assert "permit P-20002: within the permitted 33,000 kg" in within["reasons"]
    assert "watchlist" not in within

    mismatched = by_plate["晋B52816"]  # 32 t on 3 axles, its permit is for 4 axles: 大车小证, refused
    assert mismatched["verdict"] == "overweight"
    assert mismatched["permit"]["status"] == "mismatch"
    assert mismatched["permit"]["problems"] == ["axle_count: permit 4, vehicle 3"]
    assert "大车小证: permit P-52816 axle_count: permit 4, vehicle 3" in mismatched["reasons"]
    # The board showed what the records say.
    board = " ".join(" ".join(e.lines) for e in rig.sim.display_log)
    assert "晋B20002" in board and "晋B52816" in board

    # `edge rules explain` says why, from the signed record: the limit row, its source, the tolerance, the
    # measurement, the permit and the watch-list facts.
    from click.testing import CliRunner

    from edge.cli import main

    database = config.evidence.database
    runner = CliRunner()
    said = runner.invoke(main, ["rules", "explain", within["id"], "--database", database])
    assert said.exit_code == 0, said.output
    lines = said.output.splitlines()
    assert "结论 Verdict: 通行 / pass: allowed in" in lines
    assert f"限值 Limit rule {within['limit']['rule_id']}: {within['limit']['rule_text']}" in lines
    assert f"适用限值 Limit applied: {within['limit']['limit_kg']:,} kg" in lines
    assert f"容差 Tolerance: x{within['limit']['tolerance_factor']:g} -> 判定阈值 threshold" in " ".join(
        lines
    )
    assert any(line.startswith("比较 Comparison: ") and "超过 above" in line for line in lines)
    assert (
        "许可证 Permit P-20002 (许可总质量 permitted gross 33,000 kg): 许可证覆盖本车 / the permit covers the vehicle;"
        " 用于判定 used in the verdict"
    ) in lines
    said = runner.invoke(main, ["rules", "explain", mismatched["id"], "--database", database, "--json"])
    assert "  不符项 Field: axle_count: permit 4, vehicle 3" in json.loads(said.output)["lines"]
    said = runner.invoke(main, ["rules", "explain", watched["id"], "--database", database])
    assert (
        "黑名单 Watch-list 冀A10001: 严重失信超限超载 (车牌一致 plate as read; 已即时告警 alert sent)"
        in said.output
    )
    missing = runner.invoke(main, ["rules", "explain", "no-such-id", "--database", database])
    assert missing.exit_code == 1 and "no record no-such-id" in missing.output


def test_rules_explain_what_if_uses_the_stations_rules_and_applied_permits(tmp_path: Path) -> None:
    """`edge rules explain --vehicle`: a vehicle described on the command line, judged by the lane's TOML
    (its tolerance) and the permits its database holds."""
    import re

    from click.testing import CliRunner

    from edge.cli import main
    from edge.config import load_config
    from edge.downlink import DownlinkStore, parse_document

    example = Path(__file__).resolve().parent.parent / "config" / "lane.example.toml"
    text = re.sub(
        r"(?m)^database = .*$", f'database = "{tmp_path / "evidence.db"}"', example.read_text("utf-8")
    )
    lane = tmp_path / "lane.toml"
    lane.write_text(text, encoding="utf-8")
    config = load_config(lane)
    permits = {
        "version": 1,
        "permits": [
            {
                "permit_id": "P-9",
                "plate": "晋B20002",
                "max_gross_kg": 33000,
                "axle_count": 3,
                "valid_from_utc": "2026-01-01T00:00:00Z",
                "valid_until_utc": "2099-01-01T00:00:00Z",
                "stations": [config.site.id],
            },
        ],
    }
    DownlinkStore(config.evidence.database).replace(
        "permits", parse_document("permits", json.dumps(permits).encode())
    )
    runner = CliRunner()
    vehicle = ["--vehicle", "7000,12000,12000", "--spacings", "4.2,1.35", "--tyres", "single,dual,dual"]
    said = runner.invoke(main, ["rules", "explain", "--config", str(lane), *vehicle, "--plate", "晋B20002"])
    assert said.exit_code == 0, said.output
    lines = said.output.splitlines()
    assert lines[0].startswith("假设 What-if")
    assert "结论 Verdict: 通行 / pass: allowed in" in lines
    assert "容差 Tolerance: x1.05 -> 判定阈值 threshold 26,250 kg" in lines
    assert any(line.startswith("许可证 Permit P-9 ") and "许可证覆盖本车" in line for line in lines)
    other = runner.invoke(main, ["rules", "explain", "--config", str(lane), *vehicle, "--plate", "晋B20003"])
    assert "结论 Verdict: 超限，禁止驶入 / overweight: refused entry" in other.output.splitlines()
    assert "许可证" not in other.output
    wrong = runner.invoke(main, ["rules", "explain", "--vehicle", "7000,12000", "--spacings", "4.2,1.35"])
    assert wrong.exit_code == 2 and "2 axle loads need 1 spacings" in wrong.output
