"""A simulated static weighbridge and a daemon on its ptys (tests/test_weighbridge_*.py)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edge.config import Config
from edge.daemon import LaneDaemon
from edge.demo import free_port, weighbridge_config
from edge.evidence.record import EvidenceRecord
from firmware_sim.weighbridge import SimulatedWeighbridge

__all__ = ["BridgeRig", "bridge_fixture"]


class BridgeRig:
    def __init__(
        self,
        tmp_path: Path,
        protocol: str = "toledo",
        plain_cameras: bool = False,
        card_reader_port: str = "",
        voice_port: str = "",
        axle_sensor: bool = False,
        entry_barrier: bool = False,
        mqtt_port: int | None = None,
        console: dict[str, Any] | None = None,
        **weighbridge: Any,
    ) -> None:
        """``mqtt_port``: a running broker's (tests/support/broker.py); None points the daemon at a free port
        where nothing listens, so its records stay in the outbox.  ``console``: the ``[console]`` section
        (the technician console on)."""
        self.mqtt_port = mqtt_port
        self.console = console
        self.card_reader_port = card_reader_port
        self.voice_port = voice_port
        self.sim = SimulatedWeighbridge(
            tmp_path / "ports",
            protocol,  # type: ignore[arg-type]
            plain_cameras=plain_cameras,
            axle_sensor=axle_sensor,
            entry_barrier=entry_barrier,
        )
        self.database = str(tmp_path / "evidence.db")
        self.weighbridge = weighbridge
        self.indicator_type, self.indicator_settings = {
            "toledo": ("toledo_continuous", {}),
            "xk3190": ("xk3190_a9", {}),
            "xk3190_command": ("xk3190_a9", {"mode": "command"}),
            "mt_sics": ("mt_sics", {"mode": "poll"}),
            "modbus_rtu": ("modbus_rtu", {}),
        }[protocol]
        self.records: list[EvidenceRecord] = []
        self.daemon: LaneDaemon | None = None
        self.stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def config(self) -> Any:
        config = self._config()
        if self.console is None:
            return config
        return Config.model_validate({**config.model_dump(), "console": self.console})

    def _config(self) -> Any:
        return weighbridge_config(
            self.sim.ports,
            self.database,
            free_port() if self.mqtt_port is None else self.mqtt_port,
            indicator_type=self.indicator_type,
            indicator_settings=self.indicator_settings,
            site_id="test-weighbridge",
            entry_camera=str(self.sim.entry_camera),
            exit_camera=str(self.sim.exit_camera),
            card_reader_port=self.card_reader_port,
            voice_port=self.voice_port,
            axle_sensor_port=self.sim.ports.get("axle_sensor", ""),
            entry_barrier_port=self.sim.ports.get("entry_barrier", ""),
            **self.weighbridge,
        )

    async def start(self, sim: bool = True) -> None:
        self.stop = asyncio.Event()
        self.daemon = LaneDaemon(self.config(), on_record=self.records.append)
        self._task = asyncio.create_task(self.daemon.run(self.stop))
        await asyncio.wait_for(self.daemon.ready.wait(), 60)
        if sim:
            self.sim.start()
        await asyncio.sleep(1.5)  # the empty deck reads stable zero

    async def do(self, action: str, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self.sim, action), *args, **kwargs)

    async def board(self, text: str, timeout_s: float = 15.0) -> str:
        shown = await asyncio.to_thread(self.sim.wait_display, text, timeout_s)
        return shown.text

    async def wait_records(self, count: int, timeout_s: float = 15.0) -> list[EvidenceRecord]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(self.records) < count:
            assert asyncio.get_running_loop().time() < deadline, f"{len(self.records)} of {count} records"
            if self._task is not None and self._task.done():
                self._task.result()
            await asyncio.sleep(0.05)
        return self.records

    async def stop_daemon(self) -> None:
        self.stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 15)
            self._task = None

    async def close(self) -> None:
        await self.stop_daemon()
        self.sim.stop()

    def stored(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.database) as db:
            rows = db.execute(
                "SELECT record_json, gross_kg, verdict, record_hash FROM records ORDER BY seq"
            ).fetchall()
        return [{**json.loads(r[0]), "_gross_kg": r[1], "_verdict": r[2], "_hash": r[3]} for r in rows]


@pytest.fixture(name="make_bridge")
async def bridge_fixture(tmp_path: Path) -> AsyncIterator[Any]:
    rigs: list[BridgeRig] = []

    def factory(**options: Any) -> BridgeRig:
        rig = BridgeRig(tmp_path, **options)
        rigs.append(rig)
        return rig

    yield factory
    for rig in rigs:
        await rig.close()
