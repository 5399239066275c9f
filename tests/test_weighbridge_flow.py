"""The static weighbridge end to end: simulator devices on ptys, the daemon's real stores."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.weighbridge import bridge_fixture  # noqa: F401  (the make_bridge fixture)

pytestmark = pytest.mark.timeout(120)


async def test_overloaded_truck_stays_in_until_it_unloads(make_bridge: Any) -> None:
    rig = make_bridge()
    await rig.start()
    await rig.do("drive_on", "晋A12345", 56_000.0)  # 6 axles: 49 t limit, no tolerance
    text = await rig.board("超载")
    assert "超载7.00t" in text and "毛重56.00t" in text and "限49.00t" in text
    first = (await rig.wait_records(1))[0]
    assert first.verdict.value == "overweight"
    assert first.lane_output["barrier_command"] == "close"
    assert rig.sim.gate.barrier_position == 0  # closed: it never opened
    assert first.static is not None and first.static.pass_kind == "single"
    assert first.static.gross_kg == pytest.approx(56_000, abs=40)
    assert first.static.entry_plate == "晋A12345" == first.plate
    assert first.static.enterprise_name == "示范砂石场" and first.static.cargo == "砂石"
    assert any("overloaded by 7000 kg" in r for r in first.reasons)
    assert {a["name"] for a in first.attachments} == {"entry.jpg", "exit.jpg"}
    assert first.static.cheating == []  # a settling deck is not taken for a cheat
    await rig.do("back_off")
    await asyncio.sleep(2.5)
    await rig.do("drive_on", "晋A12345", 48_600.0)
    text = await rig.board("请通行")
    second = (await rig.wait_records(2))[1]
    assert second.verdict.value == "pass"
    assert second.static is not None
    assert second.static.visit_id == first.static.visit_id
    assert second.static.previous_record_id == first.id
    assert second.static.attempt == 2
    await asyncio.sleep(1.0)
    assert rig.sim.gate.barrier_position == 2  # open
    stored = rig.stored()  # signed and chained like lane records
    assert [r["id"] for r in stored] == [first.id, second.id]
    assert stored[1]["static"]["previous_record_id"] == first.id
    assert all(r["_hash"] for r in stored)  # hashed into the chain
    assert [r["_verdict"] for r in stored] == ["overweight", "pass"]  # queryable columns, as lane records
    assert stored[0]["_gross_kg"] == pytest.approx(56_000, abs=40)


async def test_two_pass_net_weighing_and_stored_tare(make_bridge: Any) -> None:
    rig = make_bridge(mode="two_pass")
    await rig.start()
    await rig.do("drive_on", "晋B11111", 15_200.0)
    await rig.board("皮重15.20t")
    await rig.do("drive_off")
    await asyncio.sleep(2.5)
    await rig.do("drive_on", "晋B11111", 47_000.0)
    await rig.board("请通行")
    tare, gross = await rig.wait_records(2)
    assert tare.static is not None and gross.static is not None
    assert tare.static.pass_kind == "tare" and tare.static.tare_kg == pytest.approx(15_200, abs=40)
    assert gross.static.pass_kind == "gross" and gross.static.tare_source == "weighed"
    assert gross.static.net_kg == pytest.approx(47_000 - 15_200, abs=60)
    assert gross.static.visit_id == tare.static.visit_id
    assert gross.static.previous_record_id == tare.id
    assert gross.static.attempt == 1
    assert tare.static.cheating == [] and gross.static.cheating == []
    # The ticket module reads the very record this flow stored (edge/static/ticket.py).
    from edge.static.ticket import render_html, ticket_from_record

    stored = await rig.daemon.store.record(gross.id)
    ticket = ticket_from_record(stored, stored["chain"])
    assert ticket.net_kg == pytest.approx(gross.static.net_kg) and ticket.tare_kg == tare.static.tare_kg
    assert stored["chain"]["record_hash"] in render_html(ticket).replace(" ", "")


async def test_single_pass_uses_the_stored_tare(make_bridge: Any) -> None:
    rig = make_bridge(vehicles={"晋C22222": {"axles": 5, "tare_kg": 14_000.0}})
    await rig.start()
    await rig.do("drive_on", "晋C22222", 42_000.0)  # 5 axles: 43 t
    await rig.board("请通行")
    record = (await rig.wait_records(1))[0]
    assert record.axle_count == 5 and record.limit is not None and record.limit.limit_kg == 43_000
    assert record.static is not None and record.static.tare_source == "stored"
    assert record.static.net_kg == pytest.approx(28_000, abs=40)
    health = rig.daemon.health()  # the station's views work for this site kind too
    assert health["weighbridge"]["state"] == "weighed" and health["vehicles"] == 1
    assert set(health["devices"]) == {"indicator", "position", "display", "barrier"}
    assert health["devices"]["indicator"]["state"] == "up"
    summary = rig.daemon.status_summary()
    assert summary["zero_alarm"] is False and summary["vehicles"] == 1


async def test_views_say_weighed_while_a_hung_barrier_holds_the_command(make_bridge: Any) -> None:
    # The record is on disk and the board says pass: the station's views must say so too, not
    # "truck on the deck" for as long as the barrier's controller takes to answer (CI once read
    # "on_deck" here in the few ms the barrier's answer took; a hung controller makes it seconds).
    rig = make_bridge()
    await rig.start()
    rig.sim.gate.exit.silent = True
    await rig.do("drive_on", "晋C22222", 30_000.0)  # 6 axles: 49 t
    await rig.board("请通行")
    health = rig.daemon.health()["weighbridge"]
    deck = rig.daemon.site.deck_state()
    assert health["state"] == "weighed" and health["exit_barrier_open"] is True  # as commanded
    assert deck["waiting_for"] == "leave" and deck["visit"]["verdict"] == "pass"
    assert rig.sim.gate.barrier_position == 0  # the boom has not moved: the command is still pending
    record = (await rig.wait_records(1))[0]
    assert record.verdict.value == "pass"


_PROTOCOL_ON_RECORD = {
    "xk3190": "xk3190",
    "xk3190_command": "xk3190",
    "mt_sics": "mt_sics",
    "modbus_rtu": "modbus_rtu",
}


@pytest.mark.parametrize("protocol", list(_PROTOCOL_ON_RECORD))
async def test_every_other_indicator_weighs_too(make_bridge: Any, protocol: str) -> None:
    """XK3190-A9 continuous (tF=0) and command mode (B polled), MT-SICS (SI polled) and a Modbus RTU
    transmitter (pymodbus's server in the simulator) through the same flow as the Toledo cases: an
    overloaded truck kept in, then let out once it has unloaded."""
    rig = make_bridge(protocol=protocol)
    await rig.start()
    await rig.do("drive_on", "晋M24680", 51_000.0)  # 6 axles: 49 t limit
    text = await rig.board("超载")
    assert "超载2.00t" in text and "毛重51.00t" in text, text
    record = (await rig.wait_records(1))[0]
    assert record.verdict.value == "overweight"
    assert record.lane_output["barrier_command"] == "close"
    assert rig.sim.gate.barrier_position == 0
    assert record.static is not None and record.static.gross_kg == pytest.approx(51_000, abs=40)
    assert record.static.cheating == []
    assert record.devices["indicator"]["protocol"] == _PROTOCOL_ON_RECORD[protocol]
    await rig.do("back_off")
    await asyncio.sleep(2.5)
    await rig.do("drive_on", "晋M24680", 48_000.0)
    await rig.board("请通行")
    second = (await rig.wait_records(2))[1]
    assert second.verdict.value == "pass"
    assert second.static is not None and second.static.gross_kg == pytest.approx(48_000, abs=40)
    assert second.static.previous_record_id == record.id and second.static.attempt == 2
    await asyncio.sleep(1.0)
    assert rig.sim.gate.barrier_position == 2  # open


async def test_plain_cameras_pictures_are_read_by_the_station_s_plate_models(make_bridge: Any) -> None:
    """Cameras that recognise nothing push rendered scenes named <ms>.jpg: the station's own ONNX plate
    models read them, and the plate links the visit as an LPR camera's file name would."""
    rig = make_bridge(plain_cameras=True)
    await rig.start()
    await rig.do("drive_on", "晋A12345", 56_000.0)
    await rig.board("超载")
    first = (await rig.wait_records(1))[0]
    assert rig.daemon.site.reader is not None
    assert first.static is not None
    assert first.static.entry_plate == "晋A12345" == first.plate, first.reasons
    assert first.static.exit_plate == "晋A12345"
    assert not any(c.check == "plate_mismatch" for c in first.static.cheating)
    await rig.do("back_off")
    await asyncio.sleep(2.5)
    await rig.do("drive_on", "晋A12345", 48_600.0)
    await rig.board("请通行")
    second = (await rig.wait_records(2))[1]
    assert second.static is not None and second.static.previous_record_id == first.id
    assert second.static.attempt == 2


async def test_a_truck_that_drives_straight_back_on_is_weighed_again(make_bridge: Any) -> None:
    """The deck stands empty under a second before the truck is on it again (shorter than the 1.5 s after
    which a weighed truck is declared gone): it is still a new weighing of the same visit."""
    rig = make_bridge()
    await rig.start()
    await rig.do("drive_on", "晋A13579", 52_000.0)
    await rig.board("超载")
    await rig.do("back_off")
    await asyncio.sleep(0.8)
    await rig.do("drive_on", "晋A13579", 48_000.0)
    await rig.board("请通行")
    first, second = await rig.wait_records(2)
    assert (first.verdict.value, second.verdict.value) == ("overweight", "pass")
    assert second.static is not None and first.static is not None
    assert second.static.visit_id == first.static.visit_id and second.static.attempt == 2
