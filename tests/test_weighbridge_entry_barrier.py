"""The entry barrier of a static weighbridge lets one truck on at a time, and a refused truck back off
(devices.entry_barrier, docs/weighbridge.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from drivers.barrier.codec import BarrierState
from tests.support.weighbridge import bridge_fixture  # noqa: F401  (the make_bridge fixture)

pytestmark = pytest.mark.timeout(120)


async def _entry_is(rig: Any, position: int, timeout_s: float = 5.0) -> None:
    entry = rig.sim.gate.entry
    for _ in range(int(timeout_s / 0.05)):
        if entry.position == position:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"entry barrier at {entry.position}, not {position}; commands {entry.log}")


async def test_one_truck_at_a_time_and_a_refused_one_backs_off(make_bridge: Any) -> None:
    rig = make_bridge(entry_barrier=True)
    await rig.start()
    entry = rig.sim.gate.entry
    await _entry_is(rig, BarrierState.OPEN)  # the empty deck waits for a truck
    await rig.do("drive_on", "晋E12345", 56_000.0)  # 6 axles: 49 t
    await rig.board("超载")
    actions = [action for _, action in entry.log]
    assert actions[:2] == ["open", "close"], actions  # closed behind it once it stood on the deck
    await _entry_is(rig, BarrierState.OPEN)  # refused: it must back off through the entry end
    assert rig.sim.gate.barrier_position == BarrierState.CLOSED  # and not leave through the exit
    await rig.do("back_off")
    await asyncio.sleep(2.5)
    await rig.do("drive_on", "晋E12345", 48_000.0)
    await rig.board("请通行")
    await _entry_is(rig, BarrierState.CLOSED)  # passed: out through the exit, nobody in behind it
    await asyncio.sleep(1.0)
    assert rig.sim.gate.barrier_position == BarrierState.OPEN
    assert rig.daemon.health()["weighbridge"]["entry_barrier_open"] is False
    await rig.do("drive_off")
    await _entry_is(rig, BarrierState.OPEN)  # the deck is empty again: the next truck may come
    assert rig.sim.entry_refusals == 0, "no truck ever met a closed entry barrier"
    assert rig.daemon.health()["devices"]["entry_barrier"]["state"] == "up"
    first, second = await rig.wait_records(2)
    assert (first.verdict.value, second.verdict.value) == ("overweight", "pass")


async def test_an_entry_barrier_that_does_not_answer_does_not_stop_the_weighing(make_bridge: Any) -> None:
    rig = make_bridge(entry_barrier=True)
    rig.sim.gate.entry.port.close()  # its controller is unplugged before the daemon starts
    await rig.start()
    await rig.do("drive_on", "晋E54321", 40_000.0)
    await rig.board("请通行")
    record = (await rig.wait_records(1))[0]
    assert record.verdict.value == "pass"
    await asyncio.sleep(1.0)
    assert rig.sim.gate.barrier_position == BarrierState.OPEN  # the exit still opens
    assert rig.daemon.health()["devices"]["entry_barrier"]["state"] != "up"
