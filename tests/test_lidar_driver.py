"""The LiDAR driver against the simulated gantry over real TCP sockets (pyserial socket:// URLs):
subscription, scans, garbage, a dropped connection, and scans through to an outline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
import pytest

from drivers.lidar.driver import LidarScan, LidarScanner
from drivers.link import LinkConfig, LinkState
from edge.outline.measure import ScannerScans, measure_outline
from firmware_sim.lidar import LidarGantry
from firmware_sim.lidar_scene import FAULTS, SHAPES, Passage


async def _until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def _link(url: str) -> LinkConfig:
    return LinkConfig(url=url, read_timeout_s=0.3, backoff_initial_s=0.05, backoff_max_s=0.2)


async def test_scans_survive_garbage_and_a_dropped_connection() -> None:
    passage = Passage(SHAPES["box_van"](np.random.default_rng(0)), speed_m_s=4.0)
    async with LidarGantry([passage] * 6, time_scale=4.0, gap_s=0.5) as gantry:
        seen: list[LidarScan] = []
        driver = LidarScanner("overhead", _link(gantry.url("overhead")), seen.append)
        stop = asyncio.Event()
        task = asyncio.create_task(driver.run(stop))
        try:
            await _until(lambda: len(seen) > 50)
            assert driver.subscribed
            health = driver.health()
            assert health["state"] == LinkState.UP
            assert health["scan_frequency_hz"] == 100.0
            assert health["clock_offset_s"] is not None
            first = seen[0]
            assert first.ranges_mm.size == 381
            assert first.start_angle_deg == -5.0 and first.angular_step_deg == 0.5
            # straight down from 6.5 m: the road (or a roof) at the beam pointing down (90 deg, index 190)
            assert 2000 < seen[-1].ranges_mm[190] <= 6500

            gantry.inject_garbage("overhead", b"\x02\x02\x02\x02\x00\x00\x00\x05junk!" + b"\xff" * 40)
            # scans already in the socket buffers arrive first: wait for the garbage, then for scans after it
            await _until(lambda: driver.health()["frames_bad"] >= 1)
            n = len(seen)
            await _until(lambda: len(seen) > n + 20)

            gantry.drop_connections("overhead")
            await _until(lambda: driver.link.connects >= 2 and driver.subscribed)
            n = len(seen)
            await _until(lambda: len(seen) > n + 20)
            assert driver.health()["disconnects"] >= 1
            assert driver.scans_lost >= 0
        finally:
            stop.set()
            await task


@pytest.mark.parametrize("faults", ["clean", "all"])
async def test_scans_over_tcp_measure_the_vehicle(faults: str) -> None:
    passage = Passage(SHAPES["side_load"](np.random.default_rng(1)), speed_m_s=5.0, accel_m_s2=-0.2)
    async with LidarGantry([passage], FAULTS[faults], time_scale=8.0, seed=3) as gantry:
        seen: dict[str, list[LidarScan]] = {m.name: [] for m in gantry.mounts}
        drivers = [
            LidarScanner(m.name, _link(gantry.url(m.name)), seen[m.name].append) for m in gantry.mounts
        ]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(d.run(stop)) for d in drivers]
        try:
            await _until(lambda: all(d.subscribed for d in drivers))
            await asyncio.wait_for(gantry.finished.wait(), 30)
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
    truth = gantry.truth()[0]
    scans = []
    for mount in gantry.mounts:
        got = [s for s in seen[mount.name] if s.device_time_s >= truth.start_device_s]
        assert len(got) > 100
        times = np.array([s.device_time_s for s in got]) - truth.start_device_s
        scans.append(
            ScannerScans.from_device(
                times,
                [s.ranges_mm for s in got],
                got[0].start_angle_deg,
                got[0].angular_step_deg,
                mount.mount_deg,
                mount.y_m,
                mount.z_m,
            )
        )
    profile_t = np.linspace(0, 30, 61)
    outline = measure_outline(scans, profile_t, passage.speed_at(profile_t))
    assert outline.width_m == pytest.approx(truth.width_m, abs=0.03)
    assert outline.height_m == pytest.approx(truth.height_m, abs=0.03)
    assert outline.length_m == pytest.approx(truth.length_m, abs=0.10)


def test_simulator_cli_serves_and_reports_truth(capsys: pytest.CaptureFixture[str]) -> None:
    from firmware_sim.lidar import main

    assert main(["--vehicles", "2", "--time-scale", "50", "--faults", "rain"]) == 0
    out = capsys.readouterr().out
    assert out.count("socket://127.0.0.1:") == 3
    assert "VehicleTruth(shape='cab'" in out and "VehicleTruth(shape='box_van'" in out
