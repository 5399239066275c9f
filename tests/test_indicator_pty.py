"""Indicator drivers against the simulated indicator on real pseudo-terminals."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drivers.errors import DeviceRejected, DeviceTimeout
from drivers.indicator.driver import IndicatorDriver, IndicatorReading, MtSics, ToledoContinuous, Xk3190
from drivers.indicator.sics import SicsCodec, SicsCommand, SicsReply
from drivers.indicator.xk3190 import Xk3190Codec
from drivers.link import LinkConfig, LinkState
from firmware_sim.indicator import DeckLoad, SimulatedIndicator
from firmware_sim.pty import PtyPort


async def _until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def _link(port: PtyPort) -> LinkConfig:
    return LinkConfig(
        url=port.path, baudrate=9600, read_timeout_s=0.3, backoff_initial_s=0.05, backoff_max_s=0.2
    )


@asynccontextmanager
async def _running(driver: IndicatorDriver[Any], sim: SimulatedIndicator) -> AsyncIterator[None]:
    stop = asyncio.Event()
    sim.start()
    task = asyncio.create_task(driver.run(stop))
    try:
        await _until(lambda: driver.link.state == LinkState.UP)
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        sim.stop()


def test_deck_load_ramps_rings_and_settles() -> None:
    deck = DeckLoad(ring_hz=2.0, ring_fraction=0.05, ring_tau_s=0.5)
    deck.add_step(1.0, 40_000.0, ramp_s=2.0)
    t = np.array([0.5, 2.0, 3.0, 3.125, 20.0])
    load = deck.load_kg(t)
    assert load[0] == 0.0 and load[1] == pytest.approx(20_000.0)  # half-way up the raised cosine
    assert load[2] == pytest.approx(40_000.0)
    assert load[3] > 40_000.0 + 1000.0  # a quarter period into the ringing (2000 kg amplitude)
    assert load[4] == pytest.approx(40_000.0, abs=1e-6)
    assert deck.settled_after_s(20.0) == pytest.approx(0.5 * np.log(2000.0 / 20.0))
    deck.add_step(30.0, -40_000.0, ramp_s=0.0)
    assert deck.load_kg(31.0) == pytest.approx(0.0, abs=1e-3)


async def test_xk3190_continuous_follows_a_truck_through_garbage_and_an_unplug(tmp_path: Path) -> None:
    port = PtyPort("xk", tmp_path)
    sim = SimulatedIndicator("xk3190", port, rate_hz=20, noise_kg=2.0)
    sim.deck.ring_fraction = 0.0  # no ringing: every reading after the ramp is the truck
    seen: list[IndicatorReading] = []
    driver = Xk3190("scale", _link(port), seen.append)
    async with _running(driver, sim):
        sim.drive_on(31_000.0, ramp_s=0.3)
        await _until(lambda: bool(seen) and abs((seen[-1].weight_kg or 0) - 31_000.0) <= 40.0)
        assert seen[-1].stable is None and seen[-1].protocol == "xk3190"  # tF=0 says nothing of motion
        assert seen[-1].weight_kg is not None and seen[-1].weight_kg % 20 == 0  # rounded to the division
        sim.inject_garbage(b"\x02\x02noise\x03\xff")
        count = len(seen)
        await _until(lambda: len(seen) > count + 3)
        assert driver.health()["frames_bad"] >= 1

        sim.unplug()
        await _until(lambda: driver.link.state == LinkState.DOWN)
        sim.plug()
        count = len(seen)
        await _until(lambda: driver.link.connects >= 2 and len(seen) > count + 3)
        assert abs((seen[-1].weight_kg or 0) - 31_000.0) <= 40.0
        health = driver.health()
        assert health["disconnects"] >= 1 and health["readings"] == len(seen)
        assert health["reading_age_s"] < 1.0


async def test_xk3190_command_mode_polls_gross_and_reads_the_tare(tmp_path: Path) -> None:
    port = PtyPort("xkc", tmp_path)
    sim = SimulatedIndicator("xk3190_command", port, address="C", noise_kg=0.0)
    sim.tare_kg = 14_000.0
    sim.deck.ring_fraction = 0.0
    seen: list[IndicatorReading] = []
    driver = Xk3190("scale", _link(port), seen.append, mode="command", address="C", poll_interval_s=0.05)
    async with _running(driver, sim):
        sim.drive_on(45_000.0, ramp_s=0.0)
        await _until(lambda: bool(seen) and seen[-1].weight_kg == 45_000.0)
        await driver.handshake()
        assert await driver.read_tare_kg() == 14_000.0
        reply = await driver.command("D")
        assert reply.weight is not None and reply.weight.value == 31_000
        assert any(r.net and r.weight_kg == 31_000.0 for r in seen)
        assert seen[-1].tare_kg == 14_000.0

        sim.paused = True  # the indicator stops answering
        with pytest.raises(DeviceTimeout, match="no reply"):
            await driver.handshake()
        await _until(lambda: driver.polls_failed >= 2)
        assert driver.health()["commands_failed"] == 1


async def test_xk3190_command_mode_ignores_another_address(tmp_path: Path) -> None:
    port = PtyPort("xkc", tmp_path)
    sim = SimulatedIndicator("xk3190_command", port, address="B")
    driver = Xk3190("scale", _link(port), mode="command", address="A", reply_timeout_s=0.2)
    async with _running(driver, sim):
        with pytest.raises(DeviceTimeout):
            await driver.handshake()
        assert driver.readings == 0


async def test_toledo_reports_motion_while_the_truck_drives_on_then_stable(tmp_path: Path) -> None:
    port = PtyPort("toledo", tmp_path)
    sim = SimulatedIndicator("toledo", port, rate_hz=30, noise_kg=2.0)
    sim.deck.ring_tau_s = 0.3
    seen: list[IndicatorReading] = []
    driver = ToledoContinuous("scale", _link(port), seen.append)
    async with _running(driver, sim):
        await _until(lambda: len(seen) >= 5)
        assert seen[-1].stable and abs(seen[-1].weight_kg or 0) <= 20.0
        ramp_end = sim.drive_on(49_000.0, ramp_s=1.0)
        await _until(lambda: seen[-1].motion is True)
        await _until(lambda: sim.now_s > ramp_end + 2.0 and seen[-1].stable is True, timeout_s=8)
        assert seen[-1].weight_kg == pytest.approx(49_000.0, abs=20.0)
        assert not seen[-1].net and seen[-1].tare_kg == 0.0
        assert any(r.motion for r in seen) and driver.health()["frames_ok"] == len(seen)

        sim.drive_on(60_000.0, ramp_s=0.0)  # 109 t on a 100 t deck
        await _until(lambda: seen[-1].over_range)
        assert not seen[-1].stable and not seen[-1].under_range


async def test_toledo_cheat_jump_claims_stable_while_the_weight_moves(tmp_path: Path) -> None:
    port = PtyPort("toledo", tmp_path)
    sim = SimulatedIndicator("toledo", port, rate_hz=30, noise_kg=1.0)
    sim.deck.ring_fraction = 0.0
    seen: list[IndicatorReading] = []
    driver = ToledoContinuous("scale", _link(port), seen.append)
    async with _running(driver, sim):
        sim.drive_on(30_000.0, ramp_s=0.0)
        await _until(lambda: bool(seen) and seen[-1].stable is True and seen[-1].weight_kg == 30_000.0)
        start = len(seen)
        sim.cheat_jump(-4_000.0, duration_s=0.5)
        await _until(lambda: len(seen) > start + 25)
        during = seen[start:]
        assert all(r.stable for r in during), "the cheat keeps the motion flag clear"
        assert min(r.weight_kg or 0 for r in during) == pytest.approx(26_000.0, abs=20.0)
        assert during[-1].weight_kg == pytest.approx(30_000.0, abs=20.0)


async def test_mt_sics_polls_weights_zeroes_tares_and_refuses_in_motion(tmp_path: Path) -> None:
    port = PtyPort("sics", tmp_path)
    sim = SimulatedIndicator("mt_sics", port, noise_kg=1.0)
    sim.deck.ring_tau_s = 0.3
    seen: list[IndicatorReading] = []
    driver = MtSics("scale", _link(port), seen.append, poll_interval_s=0.03)
    async with _running(driver, sim):
        sim.drive_on(60.0, ramp_s=0.0)  # a small offset on the empty deck: zero it
        await _until(lambda: len(seen) >= 40 and seen[-1].stable is True)
        await driver.zero()
        await _until(lambda: seen[-1].stable is True and seen[-1].weight_kg == 0.0)

        sim.drive_on(20_000.0, ramp_s=2.0)
        await _until(lambda: seen[-1].motion is True)
        with pytest.raises(DeviceRejected, match="not executable"):
            await driver.tare()
        await _until(
            lambda: seen[-1].stable is True and seen[-1].weight_kg == pytest.approx(20_000, abs=20), 8
        )
        tare = await driver.tare()
        assert tare == pytest.approx(20_000.0, abs=20.0)
        await _until(
            lambda: seen[-1].net and seen[-1].weight_kg is not None and abs(seen[-1].weight_kg) <= 20
        )
        assert seen[-1].tare_kg == tare

        sim.drive_on(150_000.0, ramp_s=0.0)
        await _until(lambda: seen[-1].over_range)
        assert seen[-1].weight_kg is None and not seen[-1].stable
        with pytest.raises(DeviceRejected):
            await driver.zero()
        health = driver.health()
        assert health["over_range_readings"] >= 1 and health["commands_failed"] == 2


async def test_mt_sics_stream_mode_restarts_sir_after_a_tare_and_a_replug(tmp_path: Path) -> None:
    port = PtyPort("sics", tmp_path)
    sim = SimulatedIndicator("mt_sics", port, noise_kg=1.0, rate_hz=20)
    sim.deck.ring_fraction = 0.0
    seen: list[IndicatorReading] = []
    driver = MtSics("scale", _link(port), seen.append, mode="stream")
    async with _running(driver, sim):
        sim.drive_on(8_000.0, ramp_s=0.0)
        await _until(lambda: len(seen) >= 20 and seen[-1].stable is True)
        assert driver.polls_failed == 0 and seen[-1].weight_kg == 8_000.0
        assert await driver.tare() == 8_000.0
        count = len(seen)
        await _until(lambda: len(seen) > count + 10)  # the stream goes on after T
        assert seen[-1].net and seen[-1].weight_kg == 0.0

        sim.unplug()
        await _until(lambda: driver.link.state == LinkState.DOWN)
        sim.stop_stream()  # as after a power cycle: nothing streams until the driver sends SIR again
        sim.plug()
        count = len(seen)
        await _until(lambda: len(seen) > count + 10)
        assert driver.link.connects >= 2


def test_mt_sics_indicator_answers_unknown_commands_with_es(tmp_path: Path) -> None:

    port = PtyPort("sics", tmp_path)
    sim = SimulatedIndicator("mt_sics", port)
    host = SicsCodec()
    with open(port.path, "r+b", buffering=0) as line:  # a terminal program typing at the indicator
        line.write(host.encode(SicsCommand("XYZ")) + host.encode(SicsCommand("SIR")))
        replies: list[object] = []
        for _ in range(200):
            sim.tick()
            time.sleep(0.005)
        replies = host.feed(line.read(4096))
    sim.stop()
    assert replies[0] == SicsReply("E", "S")
    assert len(replies) >= 5 and all(isinstance(r, SicsReply) and r.command == "S" for r in replies[1:])


def test_simulator_cli_serves_a_pty_and_stops(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "firmware_sim.indicator", "--protocol", "xk3190", "--link-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith(f"xk3190: {tmp_path}/indicator-xk3190 -> /dev/pts/")
        codec_frames: list[Any] = []
        codec = Xk3190Codec()
        with open(tmp_path / "indicator-xk3190", "rb", buffering=0) as line:
            while len(codec_frames) < 3:
                codec_frames += codec.feed(line.read(64))
        assert abs(codec_frames[-1].weight) <= 20.0  # the empty deck, within a division
    finally:
        proc.terminate()
        assert proc.wait(5) == 0
