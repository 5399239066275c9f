"""The weighbridge's parts alone: the position-beam codec and driver, the pure anti-cheating checks,
the visit file, the vehicle class from an axle count, and the documented configuration."""

from __future__ import annotations

import asyncio
import random
import re
from pathlib import Path

import pytest

from drivers.errors import FrameError
from drivers.indicator.driver import IndicatorReading
from drivers.link import LinkConfig
from drivers.position.codec import BeamState, new_codec
from drivers.position.driver import PositionBeams
from edge.config import ConfigError, parse_config
from edge.rules import LimitTable, Tyre, gross_limit
from edge.sites.static_weighbridge import board_text, vehicle_class_for
from edge.static import anticheat
from edge.static.position import position_refusal
from edge.static.visits import Visit, VisitStore
from firmware_sim.position import SimulatedBeams
from firmware_sim.pty import PtyPort

ROOT = Path(__file__).resolve().parents[1]


def test_beam_codec_survives_garbage_truncation_and_bit_flips() -> None:
    codec = new_codec()
    frames = [codec.encode(BeamState(i, 1000 * i, i % 16, 0)) for i in range(1, 40)]
    rng = random.Random(3)
    stream = b""
    flipped = set()
    for i, good in enumerate(frames):
        frame = good
        if i % 5 == 1:  # a bit flipped inside the frame: its CRC fails
            data = bytearray(frame)
            pos = rng.randrange(1, len(data) - 1)
            data[pos] ^= 1 << rng.randrange(8)
            if data[pos] == 0:  # a new delimiter: the frame is cut in two, both rejected
                data[pos] = 0x5A
            frame = bytes(data)
            flipped.add(i + 1)
        elif i % 7 == 3:
            frame = frame[: len(frame) // 2]  # truncated: the next delimiter ends it
            flipped.add(i + 1)
        stream += bytes(rng.randrange(1, 256) for _ in range(rng.randrange(0, 12))) + frame
    decoder = new_codec()
    got = []
    for k in range(0, len(stream), 7):  # any chunking
        got += decoder.feed(stream[k : k + 7])
    assert [m.seq for m in got] == [s for s in range(1, 40) if s not in flipped]
    assert all(m.blocked == m.seq % 16 for m in got)
    assert decoder.stats.frames_bad >= len(flipped)


def test_beam_state_refuses_masks_beyond_four_beams() -> None:
    with pytest.raises(FrameError, match="4-bit"):
        new_codec().encode(BeamState(1, 0, 0x10))
    assert BeamState(1, 0, BeamState.ENTRY | BeamState.LEFT).names() == ("entry", "left")


async def test_beams_driver_on_a_pty_reports_changes_and_goes_stale(tmp_path: Path) -> None:
    sim = SimulatedBeams(PtyPort("position", tmp_path))
    changes = []
    driver = PositionBeams("position", LinkConfig(sim.port.path), on_beams=changes.append)
    stop = asyncio.Event()
    task = asyncio.create_task(driver.run(stop))
    sim.start()
    try:
        await asyncio.sleep(0.6)
        current = driver.current()
        assert current is not None and current.blocked == frozenset() and current.ends_clear
        sim.block("exit")
        await asyncio.sleep(0.3)
        current = driver.current()
        assert current is not None and current.blocked == {"exit"} and not current.ends_clear
        assert position_refusal(current) == "off_deck"
        sim.paused = True  # the controller goes silent: never weigh blind
        await asyncio.sleep(0.8)
        assert driver.current() is None and position_refusal(None) == "position_unknown"
        assert [sorted(c.blocked) for c in changes] == [[], ["exit"]]
    finally:
        stop.set()
        await task
        sim.stop()


def _reading(t: float, kg: float) -> IndicatorReading:
    return IndicatorReading(kg, t, None, None)


def test_step_check_fires_on_a_jump_not_on_a_ringing_deck() -> None:
    # The simulator's deck rings at 4 % of 56 t at 1.6 Hz: at most 2.25 t between readings 0.1 s apart.
    min_step = 0.05 * 56_000
    assert anticheat.remote_control_step(_reading(0.0, 56_000), _reading(0.1, 53_800), min_step) is None
    cheat = anticheat.remote_control_step(_reading(0.0, 56_000), _reading(0.1, 48_000), min_step)
    assert cheat is not None and cheat.check == "remote_control" and "-8000 kg" in cheat.detail


def test_low_tare_and_zero_and_plates() -> None:
    assert anticheat.low_tare(14_500, [15_200, 15_300, 15_100], 0.08) is None  # 4.6 % below: normal spread
    cheat = anticheat.low_tare(12_000, [15_200, 15_300, 15_100], 0.08)
    assert cheat is not None and "21.1 %" in cheat.detail
    assert anticheat.low_tare(12_000, [], 0.08) is None  # no history, nothing to compare
    assert anticheat.zero_not_returned(40.0, 60.0) is None
    assert anticheat.zero_not_returned(None, 60.0) is None
    assert anticheat.zero_not_returned(-120.0, 60.0) is not None
    assert anticheat.plate_mismatch("晋A12345", "晋A12345") is None
    assert anticheat.plate_mismatch("晋A12345", None) is None  # a camera that read nothing proves nothing
    assert anticheat.plate_mismatch("晋A12345", "晋A12346") is not None


def test_visit_file_keeps_open_visits_and_tares(tmp_path: Path) -> None:
    store = VisitStore(tmp_path / "v.sqlite")
    visit = Visit.new("晋A1", None).weighed("r1", "tare", "pass", closed=False)
    store.save(visit)
    store.add_tare("晋A1", 15_000.0, "r1")
    store.add_tare("晋A1", 15_400.0, "r9")
    store.close()
    again = VisitStore(tmp_path / "v.sqlite")  # a restarted daemon
    found = again.open_visit("晋A1", 3600)
    assert found is not None and found.visit_id == visit.visit_id and found.last_record_id == "r1"
    assert again.open_visit("晋A2", 3600) is None and again.open_visit(None, 3600) is None
    assert again.stored_tare("晋A1") == pytest.approx(15_200.0)
    again.save(found.weighed("r2", "gross", "pass", closed=True))
    assert again.open_visit("晋A1", 3600) is None
    assert again.open_visit("晋A1", 0.0) is None


@pytest.mark.parametrize(
    ("axles", "limit_kg"), [(2, 18_000), (3, 25_000), (4, 31_000), (5, 43_000), (6, 49_000)]
)
def test_vehicle_class_from_axle_count_uses_the_lane_limits(axles: int, limit_kg: int) -> None:
    vclass = vehicle_class_for(axles)
    assert vclass.axle_count == axles
    assert gross_limit(vclass, [Tyre.DUAL] * axles, LimitTable.load()).limit_kg == limit_kg


def test_board_says_why_and_by_how_much() -> None:
    from edge.rules import Verdict

    colour, lines = board_text(Verdict.OVERWEIGHT, "gross", "晋A12345", 52_340.0, 49_000, 37_000.0)
    assert colour == "red" and lines[0] == "晋A12345 超载3.34t" and "限49.00t" in lines[1]
    assert all(len(line.encode()) <= 64 for line in lines)


def test_documented_configuration_parses_and_needs_its_devices() -> None:
    text = (ROOT / "docs" / "weighbridge.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```toml\n(.*?)```", text, re.S)
    config = parse_config(example, "docs/weighbridge.md")
    assert config.site.kind == "static_weighbridge"
    assert config.devices.indicator is not None and config.devices.indicator.type == "toledo_continuous"
    assert config.devices.wim.port == "loop://"  # unused by this kind
    assert config.weighbridge.vehicles["晋A12345"].tare_kg == 15_200.0
    assert config.weighbridge.tolerance_factor == 1.0
    without = example.replace('position = { type = "position_beams", port = "/dev/weigh/beams" }\n', "")
    with pytest.raises(ConfigError, match=r"devices\.indicator and devices\.position"):
        parse_config(without)
