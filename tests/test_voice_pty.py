"""The SYN6288 voice driver against the simulated module on real pseudo-terminals."""

from __future__ import annotations

import asyncio
import os
import select
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from drivers.link import LinkConfig
from drivers.voice.codec import Status, SynthesiseText
from drivers.voice.driver import VoiceModule
from firmware_sim.pty import PtyPort
from firmware_sim.voice import SimulatedVoice

VERDICT = "晋A12345 超载7.00吨 禁止出场 请倒车卸货后复磅"


async def _until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def _link(port: PtyPort) -> LinkConfig:
    return LinkConfig(
        url=port.path, baudrate=9600, read_timeout_s=0.2, backoff_initial_s=0.05, backoff_max_s=0.2
    )


@asynccontextmanager
async def _running(driver: VoiceModule, sim: SimulatedVoice) -> AsyncIterator[None]:
    stop = asyncio.Event()
    sim.start()
    task = asyncio.create_task(driver.run(stop))
    try:
        await _until(lambda: driver.link.is_up)
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        sim.stop()


async def test_said_text_reaches_the_module_and_is_acknowledged() -> None:
    sim = SimulatedVoice()
    driver = VoiceModule("voice", _link(sim.port), ack_timeout_s=1.0)
    async with _running(driver, sim):
        assert await driver.say(VERDICT) is True
        assert await driver.say("请下磅") is True
    assert sim.said == [VERDICT, "请下磅"]
    health = driver.health()
    assert health["said"] == 2 and health["failures"] == 0 and health["last_text"] == "请下磅"
    assert health["module_status"] == "received"


async def test_a_silent_module_is_reported_not_raised() -> None:
    sim = SimulatedVoice()
    sim.silent = True
    driver = VoiceModule("voice", _link(sim.port), ack_timeout_s=0.2)
    async with _running(driver, sim):
        assert await driver.say(VERDICT) is False
    assert driver.failures == 1 and "no answer within 0.2 s" in (driver.last_error or "")
    assert sim.said == []


async def test_text_the_module_cannot_take_is_refused_before_sending() -> None:
    sim = SimulatedVoice()
    driver = VoiceModule("voice", _link(sim.port), ack_timeout_s=0.5)
    async with _running(driver, sim):
        assert await driver.say("车辆\U0001f69a") is False
        assert await driver.say("请" * 101) is False
        await asyncio.sleep(0.1)
    assert sim.said == [] and driver.failures == 2
    assert "at most 200" in (driver.last_error or "")


async def test_garbage_before_the_ack_is_ignored() -> None:
    sim = SimulatedVoice()
    driver = VoiceModule("voice", _link(sim.port), ack_timeout_s=1.0)
    async with _running(driver, sim):
        sim.inject_garbage(b"\x00\xff\x13")
        assert await driver.say("请上磅") is True
    assert driver.link.codec.stats.as_dict()["bytes_discarded"] == 3


async def test_an_unplugged_module_fails_then_speaks_again_when_plugged(tmp_path: Path) -> None:
    # A stable link (as udev gives a real port): a re-plugged pty may get another /dev/pts number.
    sim = SimulatedVoice(link_dir=tmp_path)
    driver = VoiceModule("voice", _link(sim.port), ack_timeout_s=0.3)
    async with _running(driver, sim):
        sim.unplug()
        await _until(lambda: not driver.link.is_up)
        assert await driver.say("请上磅") is False
        sim.plug()
        await _until(lambda: driver.link.is_up)
        assert await driver.say("请上磅") is True
    assert sim.said == ["请上磅"] and driver.failures == 1


async def test_a_refused_frame_is_reported_with_the_module_s_status() -> None:
    sim = SimulatedVoice()
    sim.refuse = True
    driver = VoiceModule("voice", _link(sim.port), ack_timeout_s=1.0)
    async with _running(driver, sim):
        assert await driver.say("请上磅") is False
    assert driver.failures == 1 and "status 0x45" in (driver.last_error or "")
    assert driver.health()["module_status"] == "error"


def test_the_simulator_answers_45h_to_a_corrupted_frame_and_41h_to_the_next() -> None:
    sim = SimulatedVoice()
    host = os.open(sim.port.slave_path, os.O_RDWR | os.O_NOCTTY)
    try:
        good = SynthesiseText("请上磅").to_bytes()
        bad = bytearray(good)
        bad[-1] ^= 0x01
        os.write(host, bytes(bad) + good)
        answer = b""
        deadline = time.monotonic() + 2.0
        while len(answer) < 2 and time.monotonic() < deadline:
            sim.tick()
            ready, _, _ = select.select([host], [], [], 0.05)
            if ready:
                answer += os.read(host, 16)
        assert answer == bytes((Status.ERROR, Status.RECEIVED))
        assert sim.said == ["请上磅"]
    finally:
        os.close(host)
        sim.stop()
