"""`edge demo`: a complete toll-entrance lane on simulated hardware, with a live table of verdicts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from edge.config import Config
from edge.daemon import LaneDaemon
from edge.uplink import record_topic
from edge.uplink.mqtt import messages_until
from firmware_sim.lane import SimulatedLane
from firmware_sim.physics import LaneGeometry
from firmware_sim.scenario import Scenario, load_scenario

__all__ = ["MosquittoProcess", "demo_config", "free_port", "geometry_for", "run_demo"]

log = logging.getLogger(__name__)
_VERDICT_STYLE = {"pass": "bold green", "overweight": "bold red", "reweigh": "bold yellow"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MosquittoProcess:
    """A private Mosquitto on a free loopback port (the demo's and the tests' broker)."""

    def __init__(self, port: int | None = None, acl: str | None = None) -> None:
        self.binary = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        self.port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="weighlane-mosquitto-")
        self.process: subprocess.Popen[bytes] | None = None
        self.acl = acl  # Mosquitto acl_file text (anonymous clients obey its lines before any `user`)

    @property
    def available(self) -> bool:
        return self.binary is not None

    def start(self, timeout_s: float = 10.0) -> None:
        if self.binary is None:
            raise RuntimeError(
                "mosquitto is not installed: run scripts/install.sh (it apt-get installs mosquitto)"
            )
        conf = Path(self._dir.name) / "mosquitto.conf"
        text = (
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"log_dest file {Path(self._dir.name) / 'mosquitto.log'}\n"
        )
        if self.acl is not None:
            self.write_acl(self.acl)
            text += f"acl_file {Path(self._dir.name) / 'acl'}\n"
            if os.geteuid() == 0:  # as root Mosquitto becomes user mosquitto, who cannot read this folder
                text += "user root\n"
        conf.write_text(text)
        self.process = subprocess.Popen(
            [self.binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"mosquitto exited at start: {err.strip()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout_s} s")

    def write_acl(self, acl: str) -> None:
        """Replace the ACL; a running broker reads it again on :meth:`reload`."""
        self.acl = acl
        (Path(self._dir.name) / "acl").write_text(acl)

    def reload(self) -> None:
        """SIGHUP: Mosquitto reloads its configuration and ACL, keeping its clients connected."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGHUP)

    def kill(self) -> None:
        """Stop it abruptly (kill -9), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        self._dir.cleanup()


def geometry_for(config: Config) -> LaneGeometry:
    scale = config.scale
    return LaneGeometry(
        platform_lengths_m=tuple(scale.platform_lengths_m),
        platform_width_m=scale.platform_width_m,
        entry_strip_x_m=scale.entry_strip_x_m,
        exit_strip_x_m=scale.exit_strip_x_m,
        separator_x_m=scale.separator_x_m,
    )


def demo_config(
    ports: dict[str, str],
    database: str,
    mqtt_port: int,
    site_id: str = "demo-station-01",
    platform_lengths_m: tuple[float, ...] = (6.0, 6.0, 6.0),
    camera_dir: str = "",
) -> Config:
    """The example lane's configuration, pointed at simulator ports (and camera folder, when given)."""
    return Config.model_validate(
        {
            "site": {"id": site_id, "lane": 1, "name": "Simulated toll entrance"},
            "scale": {"platform_lengths_m": list(platform_lengths_m)},
            "devices": {
                "wim": {"type": "wim_digitiser", "port": ports["wim"]},
                "separator": {"type": "light_curtain", "port": ports["separator"]},
                "axle_sensor": {"type": "tyre_recogniser", "port": ports["axle_sensor"]},
                "display": {"type": "led_display", "port": ports["display"]},
                "barrier": {"type": "barrier", "port": ports["barrier"]},
            },
            "lane": {"idle_after_s": 4.0},
            "evidence": {"database": database},
            "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "reconnect_max_s": 5},
            "plates": {"enabled": bool(camera_dir), "camera": camera_dir},
        }
    )


def _table(records: list[dict[str, Any]], truth: list[dict[str, Any]]) -> Table:
    table = Table(title="Toll-entrance lane: verdicts", expand=False)
    for column in (
        "#",
        "seq",
        "plate (sim)",
        "plate read",
        "class",
        "axles",
        "axle loads t",
        "speed km/h",
        "gross t",
        "limit t",
        "true t",
        "err %",
        "verdict",
    ):
        table.add_column(
            column,
            justify="right" if column not in ("plate (sim)", "plate read", "class", "verdict") else "left",
        )
    for record in records[-30:]:
        number = int(record["vehicle_number"])
        wim = record.get("wim") or {}
        known = truth[number - 1] if 0 < number <= len(truth) else None
        gross = wim.get("gross_kg")
        err = ""
        if known is not None and isinstance(gross, float) and math.isfinite(gross):
            err = f"{(gross - known['gross_kg']) / known['gross_kg'] * 100:+.2f}"
        loads = " ".join(f"{v / 1000:.1f}" for v in wim.get("axle_loads_kg", []) if math.isfinite(v))
        verdict = record["verdict"]
        table.add_row(
            str(number),
            str(record.get("seq") or "-"),
            known["plate"] if known else "?",
            _plate_cell(record, known),
            record["vehicle_class"],
            str(record["axle_count"]),
            loads,
            f"{wim.get('speed_kmh', float('nan')):.1f}",
            f"{gross / 1000:.2f}" if isinstance(gross, float) and math.isfinite(gross) else "-",
            f"{record['limit']['limit_kg'] / 1000:.1f}",
            f"{known['gross_kg'] / 1000:.2f}" if known else "",
            err,
            Text(verdict.upper(), style=_VERDICT_STYLE.get(verdict, "")),
        )
    return table


def _plate_cell(record: dict[str, Any], known: dict[str, Any] | None) -> Text:
    reading = record.get("plate_reading")
    if not reading:
        return Text("-")
    text = reading.get("text") or "?"
    if known is not None and text == known["plate"]:
        style = "green"
    elif reading.get("unsure"):
        style = "yellow"
    else:
        style = "red"
    return Text(text, style=style)


def _footer(daemon: LaneDaemon, broker_note: str, received: int, pending: int | None) -> Text:
    health = daemon.health()
    links = "  ".join(f"{name}:{dev['state']}" for name, dev in health["devices"].items())
    bad = sum(int(dev.get("frames_bad", 0)) for dev in health["devices"].values())
    up = health["uplink"]
    lines = [
        f"devices  {links}  bad frames {bad}",
        f"uplink   {up['state']} {up['broker']}  published {up['published']}  received by subscriber {received}"
        f"  outbox pending {pending if pending is not None else '?'}",
        f"evidence {health['evidence']['database']}",
    ]
    if broker_note:
        lines.append(broker_note)
    return Text("\n".join(lines))


def _camera_folder(workdir: Path) -> tuple[Path | None, str]:
    """A fresh folder for the simulated camera, or None (and why) when plates cannot be shown."""
    from edge.plates.reader import MODEL_DIR, RECOGNISER_FILE
    from models.plates.render import PlateAssetsMissing, require_assets

    try:
        require_assets()
    except PlateAssetsMissing as error:
        return None, f"No simulated camera: {error}"
    if not (MODEL_DIR / RECOGNISER_FILE).is_file():
        return None, f"No plate reading: the models are missing from {MODEL_DIR}"
    folder = workdir / f"camera-{time.strftime('%Y%m%d-%H%M%S')}"
    return folder, ""


async def run_demo(
    vehicles: int | None,
    scenario_name: str,
    workdir: Path,
    use_broker: bool,
    console: Console,
    platform_lengths_m: tuple[float, ...] = (6.0, 6.0, 6.0),
    camera: bool = True,
) -> int:
    scenario: Scenario = load_scenario(scenario_name)
    repeat = 1 if vehicles is None else max(1, -(-vehicles // len(scenario.trucks)))
    broker = MosquittoProcess()
    broker_note = ""
    if use_broker and broker.available:
        broker.start()
    elif use_broker:
        broker_note = (
            "Mosquitto is not installed, so records stay in the SQLite outbox (watch it fill). "
            "Install it with: sudo apt-get install mosquitto"
        )
    else:
        broker_note = "Broker disabled (--no-broker): records stay in the SQLite outbox."
    database = workdir / f"evidence-{time.strftime('%Y%m%d-%H%M%S')}.db"
    sim = None
    try:
        probe = demo_config(
            dict.fromkeys(("wim", "separator", "axle_sensor", "display", "barrier"), "loop://"),
            str(database),
            broker.port,
            platform_lengths_m=platform_lengths_m,
        )
        camera_dir, camera_note = _camera_folder(workdir) if camera else (None, "Camera off (--no-camera).")
        if camera_note:
            broker_note = f"{broker_note}\n{camera_note}".strip()
        sim = SimulatedLane(
            scenario, geometry_for(probe), repeat=repeat, link_dir=workdir / "ports", camera_dir=camera_dir
        )
        config = demo_config(
            {name: port.path for name, port in sim.ports.items()},
            str(database),
            broker.port,
            platform_lengths_m=platform_lengths_m,
            camera_dir="" if camera_dir is None else str(camera_dir),
        )
        target = vehicles or len(sim.motions)
        truth = sim.truth()
        records: list[dict[str, Any]] = []
        daemon = LaneDaemon(config, on_record=records.append)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        received = 0

        async def subscribe() -> None:
            nonlocal received
            if broker.process is None:
                return
            while not stop.is_set():
                try:
                    async with aiomqtt.Client(
                        "127.0.0.1", broker.port, identifier="demo-subscriber"
                    ) as client:
                        await client.subscribe(record_topic(config), qos=1)
                        async for message in messages_until(client, stop):
                            json.loads(bytes(message.payload))
                            received += 1
                except aiomqtt.MqttError:
                    await asyncio.sleep(1)

        async def watch(live: Live) -> None:
            pending: int | None = None
            while not stop.is_set():
                with contextlib.suppress(Exception):
                    pending = (await daemon.store.counts())["outbox_pending"]
                live.update(Group(_table(records, truth), _footer(daemon, broker_note, received, pending)))
                if len(records) >= target:
                    await asyncio.sleep(1.5)  # let the uplink catch up before stopping
                    live.update(
                        Group(_table(records, truth), _footer(daemon, broker_note, received, pending))
                    )
                    stop.set()
                await asyncio.sleep(0.25)

        console.print(
            f"[bold]Simulated lane[/bold]: {len(sim.motions)} trucks from scenario {scenario.name!r};"
            f" ports in {workdir / 'ports'}; evidence in {database}"
        )
        console.print("Starting the daemon (compiling kernels on first run)... Ctrl-C stops.")
        with Live(console=console, refresh_per_second=4) as live:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(daemon.run(stop), name="daemon")
                await daemon.ready.wait()
                sim.start()
                tasks.create_task(subscribe(), name="demo-subscriber")
                tasks.create_task(watch(live), name="demo-table")
        console.print()
        agree = sum(
            1
            for r in records
            if 0 < r["vehicle_number"] <= len(truth)
            and r["verdict"] == truth[r["vehicle_number"] - 1]["expected_verdict"]
        )
        console.print(
            f"{len(records)} vehicles judged; {agree} verdicts match the scenario's expected verdicts;"
            f" {received} records received from the broker."
        )
        return 0
    finally:
        if sim is not None:
            sim.stop()
        broker.cleanup()
