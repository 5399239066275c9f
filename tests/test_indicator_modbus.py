"""Modbus RTU weighing transmitter: pymodbus client against pymodbus's server in the simulator, on ptys."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.indicator.driver import IndicatorReading
from drivers.indicator.modbus import ModbusTransmitter, decode_registers
from drivers.link import LinkConfig
from firmware_sim.indicator import SimulatedIndicator
from firmware_sim.pty import PtyPort


async def _until(predicate: Callable[[], bool], timeout_s: float = 6.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def test_registers_decode_to_a_reading() -> None:
    # -123456 as int32, high word first: 0xFFFE 0x1DC0; stable and net; 1 decimal.
    reading = decode_registers([0xFFFE, 0x1DC0, 0x09, 1], "big", 1.0, 5.0)
    assert reading.weight_kg == pytest.approx(-12_345.6)
    assert reading.stable and not reading.motion and reading.net and reading.host_time_s == 5.0
    assert decode_registers([0x1DC0, 0xFFFE, 0x01, 0], "little", 1000.0, 0.0).weight_kg == -123_456_000.0
    over = decode_registers([0, 100, 0x03, 0], "big", 1.0, 0.0)
    assert over.over_range and over.weight_kg is None and not over.stable
    under = decode_registers([0, 0, 0x04, 0], "big", 1.0, 0.0)
    assert under.under_range and under.weight_kg is None
    moving = decode_registers([0, 1000, 0x00, 0], "big", 1.0, 0.0)
    assert moving.motion and not moving.stable and moving.weight_kg == 1000.0
    with pytest.raises(ValueError):
        decode_registers([0, 0, 0, 9], "big", 1.0, 0.0)
    with pytest.raises(ValueError):
        decode_registers([0, 0], "big", 1.0, 0.0)


async def test_transmitter_polled_through_a_truck_overload_silence_and_unplug(tmp_path: Path) -> None:
    port = PtyPort("transmitter", tmp_path)
    sim = SimulatedIndicator("modbus_rtu", port, noise_kg=1.0)
    sim.deck.ring_fraction = 0.0
    seen: list[IndicatorReading] = []
    link = LinkConfig(url=port.path, baudrate=9600, backoff_initial_s=0.05, backoff_max_s=0.2)
    driver = ModbusTransmitter("scale", link, seen.append, poll_interval_s=0.03, reply_timeout_s=0.2)
    stop = asyncio.Event()
    sim.start()
    task = asyncio.create_task(driver.run(stop))
    try:
        # The simulator's Modbus server may start after the first poll; on a busy host, late enough for
        # a ramp begun at once to end, and its motion window to pass, before anything is read.
        await _until(lambda: bool(seen))
        sim.drive_on(27_350.0, ramp_s=0.3)
        await _until(lambda: bool(seen) and seen[-1].stable is True and seen[-1].weight_kg == 27_360.0)
        assert any(r.motion for r in seen), "the ramp is seen as motion"
        assert driver.health()["state"] == "up"
        failed = driver.polls_failed  # the very first poll may beat the simulator's server start

        sim.drive_on(90_000.0, ramp_s=0.0)
        await _until(lambda: seen[-1].over_range)
        assert seen[-1].weight_kg is None
        assert driver.polls_failed == failed, "an overloaded transmitter still answers"
        sim.drive_off(90_000.0, ramp_s=0.0)

        sim.paused = True  # the transmitter stops answering
        await _until(lambda: driver.state == "down")
        assert driver.polls_failed >= failed + 1 and "polls failed" in driver.last_error
        sim.paused = False
        count = len(seen)
        await _until(lambda: len(seen) > count + 3 and driver.state == "up")
        assert driver.connects >= 2

        sim.unplug()
        await _until(lambda: driver.state == "down")
        sim.plug()
        count = len(seen)
        await _until(lambda: len(seen) > count + 3)
        assert seen[-1].weight_kg == pytest.approx(27_360.0, abs=20.0)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        sim.stop()
