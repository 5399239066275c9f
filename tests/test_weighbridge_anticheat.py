"""Each anti-cheating check of the static weighbridge, and the refusals, on the simulator's ptys."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from edge.static.visits import VisitStore, visits_path
from firmware_sim.card import SimulatedCardReader
from tests.support.weighbridge import bridge_fixture  # noqa: F401  (the make_bridge fixture)

pytestmark = pytest.mark.timeout(120)


def _checks(record: Any) -> list[str]:
    return [c.check for c in record.static.cheating]


@pytest.mark.parametrize("protocol", ["toledo", "xk3190"])
async def test_remote_control_jump_is_refused(make_bridge: Any, protocol: str) -> None:
    """Toledo claims stable while the weight moves; XK3190 says nothing, but the weight steps."""
    rig = make_bridge(protocol=protocol)
    await rig.start()
    await rig.do("drive_on", "晋D33333", 52_000.0)
    await rig.do("remote_jump", -8_000.0, 60.0)  # would read 44 t: under the 49 t limit
    text = await rig.board("称重异常")
    assert "仪表数据异常" in text
    record = (await rig.wait_records(1))[0]
    assert record.verdict.value == "reweigh"
    assert "remote_control" in _checks(record)
    assert record.lane_output["barrier_command"] == "close"
    await asyncio.sleep(0.8)
    assert rig.sim.gate.barrier_position == 0


async def test_deck_not_back_at_zero_is_flagged_on_the_next_truck(make_bridge: Any) -> None:
    rig = make_bridge()
    await rig.start()
    await rig.do("drive_on", "晋E44444", 30_000.0)
    await rig.board("请通行")
    await rig.do("drive_off")
    await rig.do("leave_residue", 300.0)
    await asyncio.sleep(7.0)  # the deck stops ringing; the empty deck reads +300 kg, stable
    await rig.do("drive_on", "晋E55555", 30_000.0)
    await rig.board("晋E55555")
    first, second = await rig.wait_records(2)
    assert _checks(first) == []
    assert _checks(second) == ["zero_not_returned"]
    assert "+300 kg" in second.static.cheating[0].detail
    assert second.verdict.value == "pass"  # flagged, the verdict stands


@pytest.mark.parametrize(
    ("kg", "beam"), [(75.0, "left"), (7_000.0, "entry")], ids=["person", "second_vehicle"]
)
async def test_person_or_second_vehicle_on_the_deck_holds_the_weighing_and_is_flagged(
    make_bridge: Any, kg: float, beam: str
) -> None:
    rig = make_bridge()
    await rig.start()
    await rig.do("drive_on", "晋F66666", 30_000.0)
    person = asyncio.create_task(rig.do("person_on_deck", kg, beam, 3.0))
    await rig.board("磅台上有人")
    await asyncio.sleep(1.0)
    assert rig.records == []  # no weighing while someone stands on the deck
    await person
    await rig.board("请通行")
    record = (await rig.wait_records(1))[0]
    assert _checks(record) == ["deck_intrusion"]
    assert beam in record.static.cheating[0].detail
    assert record.static.gross_kg == pytest.approx(30_000, abs=40)  # weighed after the person left


async def test_plate_swap_between_entry_and_exit_keeps_the_barrier_closed(make_bridge: Any) -> None:
    rig = make_bridge()
    await rig.start()
    await rig.do("drive_on", "晋G77777", 30_000.0, exit_plate="晋G77778")
    text = await rig.board("称重异常")
    assert "车牌不符" in text
    record = (await rig.wait_records(1))[0]
    assert record.verdict.value == "reweigh"
    assert _checks(record) == ["plate_mismatch"]
    assert record.static.entry_plate == "晋G77777" and record.static.exit_plate == "晋G77778"


async def test_tare_far_below_the_plates_history_is_flagged(make_bridge: Any) -> None:
    rig = make_bridge(mode="two_pass")
    store = VisitStore(visits_path(rig.database))  # earlier visits of the plate
    for tare in (15_200.0, 15_300.0, 15_150.0):
        store.add_tare("晋H88888", tare, "earlier")
    store.close()
    await rig.start()
    await rig.do("drive_on", "晋H88888", 12_000.0)
    await rig.board("皮重12.00t")
    record = (await rig.wait_records(1))[0]
    assert record.static.pass_kind == "tare"
    assert _checks(record) == ["low_tare"]
    assert "15200 kg" in record.static.cheating[0].detail


async def test_truck_not_fully_on_the_deck_is_not_weighed(make_bridge: Any) -> None:
    rig = make_bridge()
    await rig.start()
    await rig.do("drive_on", "晋J99999", 30_000.0, stop_short=True)
    await rig.board("车辆未完全上磅", timeout_s=10)
    assert rig.records == []
    await rig.do("move_up")
    await rig.board("请通行")
    record = (await rig.wait_records(1))[0]
    assert _checks(record) == []


async def test_indicator_lost_mid_weighing(make_bridge: Any) -> None:
    """Unplugged while the truck settles: no weighing is taken, the board says so, a re-weigh record
    says why once the settle time runs out, and the weighing is taken when the indicator is back."""
    rig = make_bridge(settle_timeout_s=6.0)
    await rig.start()
    await rig.do("drive_on", "晋K12121", 40_000.0)
    rig.sim.indicator.unplug()
    unplugged = time.monotonic()
    text = await rig.board("仪表通讯中断")
    assert "称重暂停" in text
    refused = (await rig.wait_records(1, timeout_s=12))[0]
    assert refused.verdict.value == "reweigh"
    assert refused.static.refused_reading == "stale"
    assert refused.wim is None
    assert len(rig.records) == 1  # nothing weighed while it was away
    assert time.monotonic() - unplugged >= 3.0  # settle_timeout_s after the arrival, 2.2 s before
    rig.sim.indicator.plug()
    await rig.board("请通行", timeout_s=20)
    weighed = (await rig.wait_records(2))[1]
    assert weighed.static.previous_record_id == refused.id
    assert weighed.static.visit_id == refused.static.visit_id
    assert weighed.static.gross_kg == pytest.approx(40_000, abs=40)


async def test_card_read_at_the_entry_joins_the_record(make_bridge: Any) -> None:
    rig = make_bridge(
        cards={
            "E2003412": {"plate": "晋L13579", "driver": "张三", "carrier": "某运输公司", "waybill": "YD001"}
        }
    )
    await rig.start()
    rig.daemon.site.card_read("E2003412")  # what the card reader's driver calls
    await rig.do("drive_on", "晋L13579", 30_000.0)
    await rig.board("请通行")
    record = (await rig.wait_records(1))[0]
    assert record.static.card_id == "E2003412"
    assert (record.static.driver, record.static.carrier, record.static.waybill) == (
        "张三",
        "某运输公司",
        "YD001",
    )
    assert _checks(record) == []


async def test_a_card_presented_to_the_serial_reader_joins_the_record(
    make_bridge: Any, tmp_path: Path
) -> None:
    """The EM4100 reader's simulator on a pty: the daemon opens it as devices.card_reader, and the card
    held to it at the entry goes on the truck's record with what the site knows of it."""
    reader = SimulatedCardReader(link_dir=tmp_path / "card-port")
    reader.start()
    try:
        rig = make_bridge(
            card_reader_port=reader.port.path,
            cards={"0C000621A5": {"plate": "晋L24680", "driver": "李四", "carrier": "某物流公司"}},
        )
        await rig.start()
        await asyncio.to_thread(reader.present, "0C000621A5")
        await rig.do("drive_on", "晋L24680", 30_000.0)
        await rig.board("请通行")
        record = (await rig.wait_records(1))[0]
        assert record.static is not None and record.static.card_id == "0C000621A5"
        assert (record.static.driver, record.static.carrier) == ("李四", "某物流公司")
        assert _checks(record) == []
        assert rig.daemon.site.device_health()["card_reader"]["cards"] >= 1
    finally:
        reader.stop()
