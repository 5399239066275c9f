"""Drivers on real pseudo-terminals: garbage on the line, an unplugged port, commands and acks."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from drivers.axle_sensor.codec import AxleEvent
from drivers.axle_sensor.codec import new_codec as axle_codec
from drivers.axle_sensor.driver import AxlePassage, TyreRecogniser
from drivers.display.codec import DisplayAck, ShowText
from drivers.display.codec import new_codec as display_codec
from drivers.display.driver import LedDisplay
from drivers.errors import DeviceTimeout, DeviceUnavailable
from drivers.link import LinkConfig, LinkState
from firmware_sim.pty import PtyPort


async def _until(predicate, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def _link(port: PtyPort) -> LinkConfig:
    return LinkConfig(url=port.path, read_timeout_s=0.3, backoff_initial_s=0.05, backoff_max_s=0.2)


async def test_axle_events_survive_garbage_and_an_unplugged_port(tmp_path: Path) -> None:
    port = PtyPort("axles", tmp_path)
    codec = axle_codec()
    seen: list[AxlePassage] = []
    driver = TyreRecogniser("axle_sensor", _link(port), seen.append)
    stop = asyncio.Event()
    task = asyncio.create_task(driver.run(stop))
    try:
        await _until(lambda: driver.link.state == LinkState.UP)
        frame = codec.encode(AxleEvent(1, 5_000_000, AxleEvent.STRIP_ENTRY, AxleEvent.TYRE_DUAL))
        port.write(b"\xff\x13garbage\x00\x01\x02" + frame + frame[: len(frame) // 2])
        port.write(codec.encode(AxleEvent(2, 5_100_000, AxleEvent.STRIP_EXIT, AxleEvent.TYRE_SINGLE)))
        await _until(lambda: len(seen) == 2)
        assert [p.strip for p in seen] == ["entry", "exit"]
        assert [p.tyre for p in seen] == ["dual", "single"]
        assert driver.health()["frames_bad"] >= 2
        assert driver.health()["clock_offset_s"] is not None

        port.unplug()  # the USB adapter is pulled
        await _until(lambda: driver.link.state == LinkState.DOWN)
        assert "lost" in driver.link.last_error or "cannot open" in driver.link.last_error
        port.plug()  # and put back: same symlink, new pty
        await _until(lambda: driver.link.state == LinkState.UP and driver.link.connects >= 2)
        port.write(codec.encode(AxleEvent(3, 5_200_000, AxleEvent.STRIP_ENTRY, AxleEvent.TYRE_WIDE_SINGLE)))
        await _until(lambda: len(seen) == 3)
        assert seen[2].tyre == "wide_single"
        assert driver.health()["disconnects"] >= 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        port.close()


async def test_missing_port_is_reported_not_raised(tmp_path: Path) -> None:
    seen: list[AxlePassage] = []
    config = LinkConfig(url=str(tmp_path / "nothing-here"), backoff_initial_s=0.05, backoff_max_s=0.1)
    driver = TyreRecogniser("axle_sensor", config, seen.append)
    stop = asyncio.Event()
    task = asyncio.create_task(driver.run(stop))
    await _until(lambda: driver.link.state == LinkState.DOWN)
    assert "cannot open" in driver.link.last_error
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_display_command_waits_for_the_ack(tmp_path: Path) -> None:
    port = PtyPort("display", tmp_path)
    board = display_codec()
    display = LedDisplay("display", _link(port), ack_timeout_s=0.3)
    stop = asyncio.Event()
    task = asyncio.create_task(display.run(stop))
    try:
        with pytest.raises(DeviceUnavailable):  # port not opened yet
            await display.show(("x",), "green")
        await _until(lambda: display.link.is_up)

        shown: list[ShowText] = []

        async def board_answers() -> None:
            # The driver re-sends the text it was asked for while the port was closed, then the new one.
            while not any(m.colour == ShowText.RED for m in shown):
                for message in board.feed(port.read()):
                    if isinstance(message, ShowText):
                        shown.append(message)
                        port.write(board.encode(DisplayAck(message.seq)))
                await asyncio.sleep(0.005)

        answered = asyncio.create_task(board_answers())
        await display.show(("冀A12345 超限", "禁止驶入"), "red")
        await answered
        assert shown[0].lines == ("x",), "the wanted text is restored on connect"
        assert shown[-1].lines == ("冀A12345 超限", "禁止驶入") and shown[-1].colour == ShowText.RED

        with pytest.raises(DeviceTimeout, match="no acknowledgement"):  # nobody answers now
            await display.show(("idle",), "green")
        assert display.health()["commands_failed"] == 2
        assert display.health()["seq_gaps"] == 0  # acks echo host numbers; they are not gaps
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        port.close()


async def test_a_failing_reading_handler_does_not_take_the_port_down(tmp_path: Path) -> None:
    port = PtyPort("axles", tmp_path)
    codec = axle_codec()
    seen: list[AxlePassage] = []

    def handler(passage: AxlePassage) -> None:
        seen.append(passage)
        if len(seen) == 1:
            raise RuntimeError("bug in the lane")

    driver = TyreRecogniser("axle_sensor", _link(port), handler)
    stop = asyncio.Event()
    task = asyncio.create_task(driver.run(stop))
    try:
        await _until(lambda: driver.link.state == LinkState.UP)
        port.write(codec.encode(AxleEvent(1, 5_000_000, AxleEvent.STRIP_ENTRY, AxleEvent.TYRE_DUAL)))
        port.write(codec.encode(AxleEvent(2, 5_100_000, AxleEvent.STRIP_EXIT, AxleEvent.TYRE_DUAL)))
        await _until(lambda: len(seen) == 2)
        assert driver.health()["handler_errors"] == 1
        assert driver.link.state == LinkState.UP and driver.link.disconnects == 0
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        port.close()


def test_a_simulator_thread_survives_the_port_replugged_under_it(tmp_path: Path) -> None:
    """A simulator's thread reads and writes while the test's thread unplugs and replugs the port; a
    read that met the descriptor closed a moment before raised EBADF and killed the simulator's thread
    (the Modbus transmitter then never answered again after a replug)."""
    port = PtyPort("race", tmp_path)
    errors: list[BaseException] = []
    stop = threading.Event()

    def device() -> None:
        try:
            while not stop.is_set():
                port.read()
                port.write(b"\x01\x03")
        except BaseException as exc:  # the test reports whatever killed the thread
            errors.append(exc)

    thread = threading.Thread(target=device, daemon=True)
    thread.start()
    try:
        for i in range(2000):
            port.unplug()
            if i % 3:
                os.sched_yield()
            port.plug()
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert not errors, f"the simulator's thread died: {errors[0]!r}"
    # And the replugged port still carries bytes both ways.
    fd = os.open(port.path, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, b"ping")
        got = b""
        for _ in range(100):
            got += port.read()
            if got == b"ping":
                break
            stop.wait(0.01)
        assert got == b"ping"
    finally:
        os.close(fd)
        port.close()
