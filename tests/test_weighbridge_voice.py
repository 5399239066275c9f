"""A static weighbridge with a voice module: the truck is told why, and the barrier never waits for it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edge.sites.static_weighbridge import spoken_text
from firmware_sim.voice import SimulatedVoice
from tests.support.weighbridge import bridge_fixture  # noqa: F401  (the make_bridge fixture)

pytestmark = pytest.mark.timeout(120)


def test_the_board_s_lines_are_spoken_with_tonnes_spelled() -> None:
    lines = ("晋A12345 超载7.00t", "毛重56.00t 限49.00t", "禁止出场 请倒车卸货后复磅")
    assert spoken_text(lines) == "晋A12345 超载7.00吨 毛重56.00吨 限49.00吨 禁止出场 请倒车卸货后复磅"
    assert spoken_text(("晋A12345 称重完成 请通行", "毛重48.60t 限49.00t", "")).endswith("限49.00吨")


async def test_an_overloaded_truck_is_told_why_by_voice(make_bridge: Any) -> None:
    voice = SimulatedVoice()
    voice.start()
    try:
        rig = make_bridge(voice_port=voice.port.path)
        await rig.start()
        await rig.do("drive_on", "晋A12345", 56_000.0)  # 6 axles: 49 t limit
        board = await rig.board("超载")
        said = await asyncio.to_thread(voice.wait_said, "超载", 10.0)
        assert said == spoken_text(tuple(board.split(" / ")))
        assert "晋A12345 超载7.00吨" in said and "禁止出场 请倒车卸货后复磅" in said
        first = (await rig.wait_records(1))[0]
        assert first.verdict.value == "overweight"
        assert rig.daemon is not None
        # The module hears the frame before its RECEIVED answer reaches the driver, which counts only then:
        # wait for the answer (or the driver's timeout, which counts a failure), not for the hearing.
        deadline = asyncio.get_running_loop().time() + 10.0
        health = rig.daemon.site.device_health()["voice"]
        while health["said"] + health["failures"] == 0 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            health = rig.daemon.site.device_health()["voice"]
        assert health["said"] >= 1 and health["failures"] == 0, health
    finally:
        voice.stop()


async def test_a_silent_voice_module_does_not_hold_the_barrier(make_bridge: Any) -> None:
    voice = SimulatedVoice()
    voice.silent = True
    voice.start()
    try:
        rig = make_bridge(voice_port=voice.port.path)
        await rig.start()
        await rig.do("drive_on", "晋A12345", 30_000.0)
        await rig.board("请通行")
        record = (await rig.wait_records(1))[0]
        assert record.verdict.value == "pass"
        await asyncio.sleep(1.0)
        assert rig.sim.gate.barrier_position == 2  # open although the voice never answered
        assert voice.said == []
    finally:
        voice.stop()
