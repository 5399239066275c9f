"""Shared fixtures: a real Mosquitto on a free port (tests/support/broker.py), a simulated lane on real ptys,
a lane daemon."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.config import Config
from edge.daemon import LaneDaemon
from edge.demo import demo_config, free_port, geometry_for
from edge.evidence.record import EvidenceRecord
from firmware_sim.lane import SimulatedLane
from firmware_sim.scenario import Scenario, load_scenario
from tests.support import IN_CI
from tests.support.broker import MosquittoProcess, running_broker

__all__ = ["IN_CI", "LaneRig", "MosquittoProcess", "running_broker"]


@pytest.fixture
def mosquitto() -> Iterator[MosquittoProcess]:
    with running_broker() as broker:
        yield broker


SHORT_SCENARIO = textwrap.dedent(
    """
    name = "short"
    description = "three quick trucks for integration tests"
    seed = 7
    gap_s = 1.5

    [[truck]]
    plate = "冀A10001"
    body = "rigid"
    speed_kmh = 18.0
    axle_spacings_m = [4.5]
    axle_loads_kg = [6000.0, 10000.0]
    tyres = ["single", "dual"]
    front_overhang_m = 1.3
    rear_overhang_m = 1.5
    expected_verdict = "pass"

    [[truck]]
    plate = "晋B20002"
    body = "rigid"
    speed_kmh = 20.0
    axle_spacings_m = [4.2, 1.35]
    axle_loads_kg = [7000.0, 12000.0, 12000.0]
    tyres = ["single", "dual", "dual"]
    front_overhang_m = 1.4
    rear_overhang_m = 1.8
    expected_verdict = "overweight"

    [[truck]]
    plate = "鲁C30003"
    body = "combination"
    speed_kmh = 16.0
    axle_spacings_m = [3.4, 1.35, 6.5, 1.31, 1.31]
    axle_loads_kg = [6500.0, 8500.0, 8500.0, 8000.0, 8000.0, 8000.0]
    tyres = ["single", "dual", "dual", "dual", "dual", "dual"]
    front_overhang_m = 1.4
    rear_overhang_m = 1.2
    expected_verdict = "pass"
    """
)


@pytest.fixture
def short_scenario(tmp_path: Path) -> Scenario:
    path = tmp_path / "short.toml"
    path.write_text(SHORT_SCENARIO, encoding="utf-8")
    return load_scenario(path)


def _with_mid_strips(config: Config, mid_strips_x_m: tuple[float, ...]) -> Config:
    """``config`` with the axle sensor's intermediate strips at these positions (unchanged without any)."""
    if not mid_strips_x_m:
        return config
    scale = type(config.scale).model_validate({**config.scale.model_dump(), "mid_strips_x_m": mid_strips_x_m})
    return config.model_copy(update={"scale": scale})


class LaneRig:
    """A simulated lane and a daemon on its ptys, with every stored record collected."""

    def __init__(
        self,
        scenario: Scenario,
        tmp_path: Path,
        mqtt_port: int,
        platform_lengths_m: tuple[float, ...] = (6.0, 6.0, 6.0),
        mid_strips_x_m: tuple[float, ...] = (),
        **sim_options: Any,
    ) -> None:
        database = str(tmp_path / "evidence.db")
        probe = _with_mid_strips(
            demo_config(
                dict.fromkeys(("wim", "separator", "axle_sensor", "display", "barrier"), "loop://"),
                database,
                mqtt_port,
                platform_lengths_m=platform_lengths_m,
            ),
            mid_strips_x_m,
        )
        self.sim = SimulatedLane(scenario, geometry_for(probe), link_dir=tmp_path / "ports", **sim_options)
        self.config: Config = _with_mid_strips(
            demo_config(
                {n: p.path for n, p in self.sim.ports.items()},
                database,
                mqtt_port,
                site_id=f"test-{tmp_path.name[-20:]}".replace(".", "-"),
                platform_lengths_m=platform_lengths_m,
                camera_dir=str(sim_options["camera_dir"]) if sim_options.get("camera_dir") else "",
            ),
            mid_strips_x_m,
        )
        self.records: list[dict[str, Any]] = []  # each record's JSON form, as the store signed it
        self.daemon = LaneDaemon(self.config, on_record=self.keep)
        self.stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def keep(self, record: EvidenceRecord) -> None:
        self.records.append(record.to_json_dict())

    async def start(self) -> None:
        self._task = asyncio.create_task(self.daemon.run(self.stop), name="daemon")
        await asyncio.wait_for(self.daemon.ready.wait(), 60)
        self.sim.start()

    async def wait_records(self, count: int, timeout_s: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(self.records) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"only {len(self.records)} of {count} records after {timeout_s:.0f} s")
            if self._task is not None and self._task.done():
                self._task.result()
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        self.stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 15)
        self.sim.stop()


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[Any]:
    rigs: list[LaneRig] = []

    def factory(scenario: Scenario, mqtt_port: int | None = None, **options: Any) -> LaneRig:
        rig = LaneRig(scenario, tmp_path, mqtt_port or free_port(), **options)
        rigs.append(rig)
        return rig

    yield factory
    for rig in rigs:
        await rig.close()
