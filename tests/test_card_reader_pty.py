"""The card reader driver against the simulated reader on real pseudo-terminals."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from drivers.card.driver import CardReader, CardReading
from drivers.errors import DeviceTimeout
from drivers.link import LinkConfig, LinkState
from firmware_sim.card import SimulatedCardReader
from firmware_sim.card import main as sim_main
from firmware_sim.pty import PtyPort

CARD = "0C000621A5"
OTHER = "1300A1B2C3"


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
async def _running(driver: CardReader, sim: SimulatedCardReader) -> AsyncIterator[None]:
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


async def test_a_presented_card_is_read_once_with_its_numbers() -> None:
    sim = SimulatedCardReader()
    seen: list[CardReading] = []
    driver = CardReader("card_reader", _link(sim.port), on_card=seen.append)
    async with _running(driver, sim):
        waiting = asyncio.create_task(driver.next_card(3.0))
        await asyncio.sleep(0.05)
        sim.present(CARD)
        reading = await waiting
    assert reading.card_id == CARD and reading.printed_number == "0000401829"
    assert reading.wiegand26 == "006,08613"
    assert seen == [reading] and driver.health()["card_id"] == CARD
    assert driver.health()["frames_ok"] == 1


async def test_a_reader_that_repeats_while_the_card_is_held_reports_it_once() -> None:
    sim = SimulatedCardReader(crlf=False, repeat_s=0.1)  # RDM6300 style
    seen: list[CardReading] = []
    driver = CardReader("card_reader", _link(sim.port), on_card=seen.append, hold_off_s=0.5)
    async with _running(driver, sim):
        sim.present(CARD)
        await _until(lambda: driver.link.codec.stats.frames_ok >= 6)
        sim.present(OTHER)  # another card while the first repeats: reported at once
        await _until(lambda: len(seen) == 2)
        sim.remove()
        await asyncio.sleep(0.7)  # longer than the hold-off: the same card again is a new presentation
        sim.present(OTHER)
        await _until(lambda: len(seen) == 3)
    assert [r.card_id for r in seen] == [CARD, OTHER, OTHER]
    assert driver.repeats >= 5


async def test_noise_bit_flips_and_cut_frames_on_the_line_never_make_a_card() -> None:
    sim = SimulatedCardReader()
    seen: list[CardReading] = []
    driver = CardReader("card_reader", _link(sim.port), on_card=seen.append, hold_off_s=0.0)
    async with _running(driver, sim):
        sim.inject_garbage(b"\x00\xff\x02\x02garbage\x03")
        sim.send_corrupted(OTHER, bit=8 * 3 + 0)  # '0' -> '1' in the second digit
        sim.send_truncated(OTHER, keep=9)
        sim.present(CARD)
        await _until(lambda: len(seen) == 1)
        await asyncio.sleep(0.1)
    assert [r.card_id for r in seen] == [CARD]
    stats = driver.health()
    assert stats["frames_ok"] == 1 and stats["frames_bad"] >= 3


async def test_an_unplugged_reader_reconnects_and_reads_again(tmp_path: Path) -> None:
    sim = SimulatedCardReader(link_dir=tmp_path)
    driver = CardReader("card_reader", _link(sim.port))
    async with _running(driver, sim):
        sim.present(CARD)
        assert (await driver.next_card(3.0)).card_id == CARD
        sim.unplug()
        await _until(lambda: driver.link.state == LinkState.DOWN)
        with pytest.raises(DeviceTimeout, match="link down"):
            await driver.next_card(0.2)
        sim.plug()
        await _until(lambda: driver.link.state == LinkState.UP)
        sim.present(OTHER)
        assert (await driver.next_card(3.0)).card_id == OTHER
    assert driver.link.disconnects >= 1 and driver.link.connects >= 2


async def test_an_idle_reader_is_silent_but_not_reopened() -> None:
    sim = SimulatedCardReader()
    driver = CardReader("card_reader", _link(sim.port))
    async with _running(driver, sim):
        await asyncio.sleep(1.5)  # 7 read timeouts: the lane devices' links would reopen after 5
        assert driver.link.state == LinkState.SILENT
        assert driver.link.connects == 1
        sim.present(CARD)
        assert (await driver.next_card(3.0)).card_id == CARD


def test_the_standalone_simulator_prints_its_port_and_stops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In a thread, so the simulator leaves the test runner's signal handlers alone.
    codes: list[int] = []
    args = ["--link-dir", str(tmp_path), "--seconds", "0.2", "--period-s", "0.05"]
    thread = threading.Thread(target=lambda: codes.append(sim_main(args)))
    thread.start()
    thread.join(5)
    assert codes == [0]
    out = capsys.readouterr().out
    assert out.startswith(f"card reader: {tmp_path / 'card-reader'} -> /dev/pts/")
    assert not (tmp_path / "card-reader").exists()  # the symlink goes with the simulator
