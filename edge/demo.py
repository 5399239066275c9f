"""`edge demo`: a complete toll-entrance lane on simulated hardware, with a live table of verdicts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt
from rich.cells import cell_len, set_cell_size
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from edge.config import Config
from edge.daemon import LaneDaemon
from edge.evidence.record import EvidenceRecord
from edge.rules import Verdict
from edge.uplink import record_topic
from edge.uplink.mqtt import messages_until
from firmware_sim.lane import SimulatedLane
from firmware_sim.physics import LaneGeometry
from firmware_sim.scenario import Scenario, load_scenario

__all__ = [
    "DEFAULT_WORKDIR",
    "DemoBroker",
    "demo_config",
    "free_port",
    "geometry_for",
    "kernels_cold",
    "latest_database",
    "new_run_folder",
    "run_demo",
]

log = logging.getLogger(__name__)
_VERDICT_STYLE = {
    "pass": "bold green",
    "overweight": "bold red",
    "oversize": "bold red",
    "reweigh": "bold yellow",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DemoBroker:
    """The demo's private Mosquitto on a free loopback port, anonymous, without persistence; its
    configuration and log live in a temporary folder.  (tests/support/broker.py adds ACLs and faults.)"""

    def __init__(self, port: int | None = None) -> None:
        self.binary = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        self.port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="weighlane-mosquitto-")
        self.folder = Path(self._dir.name)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def available(self) -> bool:
        return self.binary is not None

    def config_lines(self) -> list[str]:
        """The lines of mosquitto.conf."""
        return [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence false",
            f"log_dest file {self.folder / 'mosquitto.log'}",
        ]

    def start(self, timeout_s: float = 10.0) -> None:
        if self.binary is None:
            raise RuntimeError(
                "mosquitto is not installed: run scripts/install.sh (it apt-get installs mosquitto)"
            )
        conf = self.folder / "mosquitto.conf"
        conf.write_text("\n".join(self.config_lines()) + "\n")
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

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
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
        mid_strips_x_m=tuple(scale.mid_strips_x_m),
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
            # A private loopback broker: unsigned documents are fine here, never on a station.
            "downlink": {"accept_unsigned": True},
            "plates": {"enabled": bool(camera_dir), "camera": camera_dir},
        }
    )


#: Columns of the verdict table: title, width in terminal cells, right-aligned.  80 columns in all with the
#: gaps; a line under each vehicle says why (threshold and tolerance, deductions, the re-weigh reason).
_COLUMNS = (
    ("#", 3, True),
    ("plate", 9, False),
    ("class", 13, False),
    ("km/h", 5, True),
    ("gross t", 7, True),
    ("true t", 6, True),
    ("err %", 6, True),
    ("limit t", 8, True),
    ("verdict", 10, False),
)


def _fit(text: str, width: int, right: bool) -> str:
    """``text`` padded or cut to ``width`` terminal cells (Chinese characters take two)."""
    if cell_len(text) > width:
        text = set_cell_size(text, width - 1) + "…"
    pad = " " * (width - cell_len(text))
    return pad + text if right else text + pad


def _header() -> Text:
    return Text(" ".join(_fit(title, width, right) for title, width, right in _COLUMNS), style="bold")


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _why(record: EvidenceRecord, known: dict[str, Any] | None, tolerance_factor: float) -> str:
    """One line: what the verdict was decided on."""
    limit = record.limit
    gross = _finite(record.gross_kg)
    parts: list[str] = []
    if record.verdict is Verdict.REWEIGH:
        parts.append("re-weigh: " + ("; ".join(record.reasons) or "no reason recorded"))
    elif gross is not None and limit is not None and limit.limit_kg:
        threshold = limit.limit_kg * tolerance_factor
        sign = ">" if gross > threshold else "<="
        parts.append(
            f"{gross / 1000:.2f} t {sign} {threshold / 1000:.2f} t"
            f" = limit {limit.limit_kg / 1000:.1f} t x {tolerance_factor * 100:g} %"
        )
    if limit is not None and limit.deductions:
        parts.append(f"limit {limit.base_limit_kg / 1000:.1f} t, " + ", ".join(limit.deductions))
    reading = record.plate_reading or {}
    if known is not None and reading and reading.get("text") != known["plate"]:
        parts.append(f"plate is {known['plate']}")
    return "; ".join(parts)


def _vehicle_lines(record: EvidenceRecord, truth: list[dict[str, Any]], tolerance_factor: float) -> Text:
    """The vehicle's row and, under it, why."""
    number = record.vehicle_number
    known = truth[number - 1] if 0 < number <= len(truth) else None
    gross = _finite(record.gross_kg)
    speed = _finite(record.wim.speed_kmh if record.wim is not None else None)
    err = ""
    if known is not None and gross is not None:
        err = f"{(gross - known['gross_kg']) / known['gross_kg'] * 100:+.2f}"
    limit_kg = record.limit.limit_kg if record.limit is not None else None
    reading = record.plate_reading or {}
    plate = (reading.get("text") or "?") if reading else "-"
    if not reading:
        plate_style = ""
    elif known is not None and plate == known["plate"]:
        plate_style = "green"
    else:
        plate_style = "yellow" if reading.get("unsure") else "red"
    verdict = record.verdict.value
    cells: list[tuple[str, str]] = [
        (str(number), ""),
        (plate, plate_style),
        (record.vehicle_class or "-", ""),
        (f"{speed:.1f}" if speed is not None else "-", ""),
        (f"{gross / 1000:.2f}" if gross is not None else "-", ""),
        (f"{known['gross_kg'] / 1000:.2f}" if known else "", ""),
        (err, ""),
        (f"{limit_kg / 1000:.1f}" if limit_kg else "-", ""),
        (verdict.upper(), _VERDICT_STYLE.get(verdict, "")),
    ]
    line = Text()
    for index, ((text, style), (_, width, right)) in enumerate(zip(cells, _COLUMNS, strict=True)):
        if index:
            line.append(" ")
        line.append(_fit(text, width, right), style=style)
    why = _why(record, known, tolerance_factor)
    if why:
        line.append("\n    " + why, style="dim")
    return line


def _table(
    records: list[EvidenceRecord], truth: list[dict[str, Any]], tolerance_factor: float, rows: int
) -> Group:
    """The last ``rows`` vehicles under the header (the live view on a terminal)."""
    return Group(
        Text("Toll-entrance lane: verdicts", style="bold"),
        _header(),
        *(_vehicle_lines(record, truth, tolerance_factor) for record in records[-rows:]),
    )


def _footer(daemon: LaneDaemon, broker_note: str, received: int, pending: int | None) -> Text:
    health = daemon.health()
    states = {name: dev["state"] for name, dev in health["devices"].items()}
    if len(set(states.values())) == 1:
        links = f"all {len(states)} {next(iter(states.values()))}"
    else:
        links = " ".join(f"{name}:{state}" for name, state in states.items())
    bad = sum(int(dev.get("frames_bad", 0)) for dev in health["devices"].values())
    up = health["uplink"]
    lines = [
        f"devices   {links}; bad frames {bad}",
        f"uplink    {up['state']} {up['broker']}; published {up['published']}, received {received},"
        f" outbox pending {pending if pending is not None else '?'}",
        f"evidence  {health['evidence']['database']}",
    ]
    if broker_note:
        lines.append(broker_note)
    return Text("\n".join(lines))


#: Where ``edge demo`` writes by default, and where ``edge evidence verify`` looks without a path.
DEFAULT_WORKDIR = Path("var/demo")
#: Runs kept in the work folder; older ones are deleted when a run starts, so it does not grow without bound.
KEEP_RUNS = 3


def new_run_folder(workdir: Path, keep: int = KEEP_RUNS) -> Path:
    """A fresh ``run-<local time>`` folder in ``workdir`` (evidence, log, camera frames, ports); runs beyond
    the newest ``keep - 1`` are deleted first."""
    workdir.mkdir(parents=True, exist_ok=True)
    runs = sorted(path for path in workdir.glob("run-*") if path.is_dir())
    for old in runs[: max(0, len(runs) - (keep - 1))]:
        shutil.rmtree(old, ignore_errors=True)
    stem = f"run-{time.strftime('%Y%m%d-%H%M%S')}"
    folder, n = workdir / stem, 1
    while folder.exists():
        n += 1
        folder = workdir / f"{stem}-{n}"
    folder.mkdir()
    return folder


def latest_database(workdir: Path = DEFAULT_WORKDIR) -> Path | None:
    """The evidence database of the newest demo run in ``workdir``, if any."""
    found = sorted(workdir.glob("run-*/evidence.db"))
    return found[-1] if found else None


def kernels_cold() -> bool:
    """True when numba's on-disk cache has no valid compiled code for a kernel the lane warms up, so the
    daemon's start will compile them (first run, a new install, or the kernels changed)."""
    from edge.wim import kernels

    for name in (
        "platform_loads",
        "axle_normal_equations",
        "dynamic_normal_equations",
        "body_knot_covariance",
        "crossing_kinematics",
    ):
        cache = getattr(getattr(kernels, name), "_cache", None)
        load_index = getattr(getattr(cache, "_cache_file", None), "_load_index", None)
        if load_index is None:  # numba moved its cache internals: we cannot tell
            return False
        try:
            if not load_index():  # empty when missing or stale (the source's stamp changed)
                return True
        except Exception:
            return True
    return False


def _camera_folder(run_dir: Path) -> tuple[Path | None, str]:
    """A fresh folder for the simulated camera, or None (and why) when plates cannot be shown."""
    from edge.plates.reader import MODEL_DIR, RECOGNISER_FILE
    from models.plates.render import PlateAssetsMissing, require_assets

    try:
        require_assets()
    except PlateAssetsMissing as error:
        return None, f"No simulated camera: {error}"
    if not (MODEL_DIR / RECOGNISER_FILE).is_file():
        return None, f"No plate reading: the models are missing from {MODEL_DIR}"
    return run_dir / "camera", ""


async def run_demo(
    vehicles: int | None,
    scenario_name: str,
    run_dir: Path,
    use_broker: bool,
    console: Console,
    platform_lengths_m: tuple[float, ...] = (6.0, 6.0, 6.0),
    camera: bool = True,
) -> int:
    """Run the lane in ``run_dir`` (from :func:`new_run_folder`).  On a terminal the table is redrawn in
    place; piped, each vehicle is printed once as plain lines."""
    scenario: Scenario = load_scenario(scenario_name)
    repeat = 1 if vehicles is None else max(1, -(-vehicles // len(scenario.trucks)))
    broker = DemoBroker()
    broker_note = ""
    if use_broker and broker.available:
        broker.start()
    elif use_broker:
        broker_note = (
            "Mosquitto is not installed, so records stay in the SQLite outbox (watch it fill). "
            "Install it with scripts/install.sh, or apt-get install mosquitto"
        )
    else:
        broker_note = "Broker disabled (--no-broker): records stay in the SQLite outbox."
    database = run_dir / "evidence.db"
    sim = None
    try:
        probe = demo_config(
            dict.fromkeys(("wim", "separator", "axle_sensor", "display", "barrier"), "loop://"),
            str(database),
            broker.port,
            platform_lengths_m=platform_lengths_m,
        )
        camera_dir, camera_note = _camera_folder(run_dir) if camera else (None, "Camera off (--no-camera).")
        if camera_note:
            broker_note = f"{broker_note}\n{camera_note}".strip()
        sim = SimulatedLane(
            scenario, geometry_for(probe), repeat=repeat, link_dir=run_dir / "ports", camera_dir=camera_dir
        )
        config = demo_config(
            {name: port.path for name, port in sim.ports.items()},
            str(database),
            broker.port,
            platform_lengths_m=platform_lengths_m,
            camera_dir="" if camera_dir is None else str(camera_dir),
        )
        tolerance = config.rules.tolerance_factor
        target = vehicles or len(sim.motions)
        truth = sim.truth()
        records: list[EvidenceRecord] = []
        daemon = LaneDaemon(config, on_record=records.append)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        received = 0
        pending: int | None = None

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

        def view() -> Group:
            rows = max(3, (console.height - 12) // 2)
            return Group(
                _table(records, truth, tolerance, rows), _footer(daemon, broker_note, received, pending)
            )

        async def watch(live: Live | None) -> None:
            nonlocal pending
            printed = 0
            while not stop.is_set():
                with contextlib.suppress(Exception):
                    pending = (await daemon.store.counts())["outbox_pending"]
                if live is not None:
                    live.update(view())
                else:  # piped: each vehicle once, as plain lines
                    for record in records[printed:]:
                        console.print(_vehicle_lines(record, truth, tolerance), soft_wrap=True)
                    printed = len(records)
                if len(records) >= target:
                    await asyncio.sleep(1.5)  # let the uplink catch up before stopping
                    with contextlib.suppress(Exception):
                        pending = (await daemon.store.counts())["outbox_pending"]
                    if live is not None:
                        live.update(view())
                    else:
                        console.print(_footer(daemon, broker_note, received, pending), soft_wrap=True)
                    stop.set()
                await asyncio.sleep(0.25)

        console.print(
            f"[bold]Simulated lane[/bold]: {len(sim.motions)} trucks from scenario {scenario.name!r}"
        )
        console.print(f"Run folder {run_dir} (evidence.db, demo.log, camera/, ports/)", soft_wrap=True)
        if kernels_cold():
            console.print("Compiling the weighing kernels (once; numba caches them)...")
        console.print("Starting the daemon... Ctrl-C stops.")
        live_view = Live(console=console, refresh_per_second=4) if console.is_terminal else None
        with live_view or contextlib.nullcontext():
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(daemon.run(stop), name="daemon")
                await daemon.ready.wait()
                if live_view is None:
                    console.print(_header())
                sim.start()
                tasks.create_task(subscribe(), name="demo-subscriber")
                tasks.create_task(watch(live_view), name="demo-table")
        console.print()
        agree = sum(
            1
            for r in records
            if 0 < r.vehicle_number <= len(truth)
            and r.verdict.value == truth[r.vehicle_number - 1]["expected_verdict"]
        )
        judged = f"{len(records)} vehicle{'' if len(records) == 1 else 's'} judged"
        console.print(f"{judged}; {agree} verdicts match the scenario's expected verdicts;")
        console.print(f"{received} records received from the broker.")
        newest = latest_database()
        found = newest is not None and newest.resolve() == database.resolve()
        check = "edge evidence verify" if found else f"edge evidence verify --database {database}"
        console.print(f"Check the evidence chain: {check}", soft_wrap=True)
        return 0
    finally:
        if sim is not None:
            sim.stop()
        broker.cleanup()


def weighbridge_config(
    ports: dict[str, str],
    database: str,
    mqtt_port: int,
    *,
    site_id: str = "demo-weighbridge-01",
    entry_camera: str = "",
    exit_camera: str = "",
    indicator_type: str = "toledo_continuous",
    indicator_settings: dict[str, Any] | None = None,
    card_reader_port: str = "",
    voice_port: str = "",
    axle_sensor_port: str = "",
    entry_barrier_port: str = "",
    **weighbridge: Any,
) -> Config:
    """The example static weighbridge's configuration, pointed at simulator ports and camera folders."""
    return Config.model_validate(
        {
            "site": {
                "id": site_id,
                "lane": 1,
                "name": "Simulated quarry weighbridge",
                "kind": "static_weighbridge",
            },
            "devices": {
                "indicator": {
                    "type": indicator_type,
                    "port": ports["indicator"],
                    **(indicator_settings or {}),
                },
                "position": {"type": "position_beams", "port": ports["position"]},
                "display": {"type": "led_display", "port": ports["display"]},
                "barrier": {"type": "barrier", "port": ports["barrier"]},
                **(
                    {"card_reader": {"type": "em4100_ascii", "port": card_reader_port}}
                    if card_reader_port
                    else {}
                ),
                **({"voice": {"type": "syn6288", "port": voice_port}} if voice_port else {}),
                **(
                    {"entry_barrier": {"type": "barrier", "port": entry_barrier_port}}
                    if entry_barrier_port
                    else {}
                ),
                **(
                    {"axle_sensor": {"type": "tyre_recogniser", "port": axle_sensor_port}}
                    if axle_sensor_port
                    else {}
                ),
            },
            "lane": {"idle_lines": ["欢迎过磅", "请按指示驶上磅台"], "idle_after_s": 4.0},
            "evidence": {"database": database},
            "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "reconnect_max_s": 5},
            "downlink": {"accept_unsigned": True},
            "weighbridge": {
                "enterprise_id": "91140100MA0XXXXX1Q",
                "enterprise_name": "示范砂石场",
                "cargo": "砂石",
                "entry_camera": entry_camera,
                "exit_camera": exit_camera,
                **({"axle_sensor": True} if axle_sensor_port else {}),
                **weighbridge,
            },
        }
    )


_WB_COLUMNS = (
    ("#", 3, True),
    ("plate", 9, False),
    ("pass", 6, False),
    ("try", 3, True),
    ("gross t", 7, True),
    ("tare t", 6, True),
    ("net t", 6, True),
    ("limit t", 7, True),
    ("verdict", 11, False),
)


def _wb_t(kg: float | None) -> str:
    return "" if kg is None else f"{kg / 1000:.2f}"


def _wb_header() -> Text:
    return Text(" ".join(_fit(title, width, right) for title, width, right in _WB_COLUMNS), style="bold")


def _wb_lines(record: EvidenceRecord) -> Text:
    """One weighing: a row, then a line that says why and what the checks found."""
    s = record.static
    cells = (
        str(record.vehicle_number),
        record.plate or "-",
        "" if s is None else s.pass_kind,
        "" if s is None else str(s.attempt),
        _wb_t(None if s is None else s.gross_kg),
        _wb_t(None if s is None else s.tare_kg),
        _wb_t(None if s is None else s.net_kg),
        _wb_t(None if record.limit is None else record.limit.limit_kg),
        record.verdict.value,
    )
    text = Text(" ".join(_fit(c, w, r) for c, (_, w, r) in zip(cells, _WB_COLUMNS, strict=True)))
    text.stylize(_VERDICT_STYLE.get(record.verdict.value, ""), len(text) - 11)
    why = "; ".join(record.reasons) or "-"
    if s is not None and s.refused_reading:
        why = f"no weighing: {s.refused_reading}; {why}"
    text.append(f"\n    {why}", style="dim")
    if s is not None and s.previous_record_id:
        text.append(f"\n    visit {s.visit_id[:8]}, after record {s.previous_record_id[:8]}", style="dim")
    return text


async def run_weighbridge_demo(run_dir: Path, use_broker: bool, console: Console) -> int:
    """``edge demo --site weighbridge``: a simulated static weighbridge (indicator, position beams, board,
    barrier, two LPR cameras) through firmware_sim.weighbridge.DEMO_STEPS, with a live table."""
    import threading

    from firmware_sim.weighbridge import DEMO_STEPS, SimulatedWeighbridge, run_steps

    broker = DemoBroker()
    note = "Broker disabled (--no-broker): records stay in the SQLite outbox."
    if use_broker and broker.available:
        broker.start()
        note = ""
    elif use_broker:
        note = "Mosquitto is not installed, so records stay in the SQLite outbox."
    sim = SimulatedWeighbridge(run_dir / "ports", axle_sensor=True, entry_barrier=True)
    scripted = threading.Event()
    halt = threading.Event()
    try:
        config = weighbridge_config(
            sim.ports,
            str(run_dir / "evidence.db"),
            broker.port,
            entry_camera=str(sim.entry_camera),
            exit_camera=str(sim.exit_camera),
            axle_sensor_port=sim.ports["axle_sensor"],
            entry_barrier_port=sim.ports["entry_barrier"],
            mode="two_pass",
        )
        records: list[EvidenceRecord] = []
        daemon = LaneDaemon(config, on_record=records.append)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def view() -> Group:
            site = daemon.site
            health = site.health().get("weighbridge", {})
            weight = health.get("weight_kg")
            status = Text(
                f"deck: {health.get('state', '?')}, {'-' if weight is None else f'{weight / 1000:.2f} t'};"
                f" board: {' / '.join(x for x in health.get('board', []) if x)}"
            )
            rows = [_wb_lines(r) for r in records[-max(3, (console.height - 8) // 3) :]]
            footer = Text(note, style="dim") if note else Text("")
            return Group(_wb_header(), *rows, status, footer)

        def play() -> None:
            try:
                run_steps(sim, DEMO_STEPS, halt)
            except Exception:
                logging.getLogger(__name__).exception("the demo scenario failed")
            finally:
                scripted.set()

        async def watch(live: Live | None) -> None:
            printed = 0
            while not stop.is_set():
                if live is not None:
                    live.update(view())
                else:
                    for record in records[printed:]:
                        console.print(_wb_lines(record), soft_wrap=True)
                    printed = len(records)
                if scripted.is_set():
                    await asyncio.sleep(1.0)
                    if live is None:
                        for record in records[printed:]:
                            console.print(_wb_lines(record), soft_wrap=True)
                    stop.set()
                await asyncio.sleep(0.25)

        console.print(
            "[bold]Simulated weighbridge[/bold]: two-pass weighing, an overloaded truck, a plate swap"
        )
        console.print(f"Run folder {run_dir} (evidence.db, demo.log, ports/, camera-*/)", soft_wrap=True)
        console.print("Starting the daemon... Ctrl-C stops.")
        live_view = Live(console=console, refresh_per_second=4) if console.is_terminal else None
        with live_view or contextlib.nullcontext():
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(daemon.run(stop), name="daemon")
                await daemon.ready.wait()
                if live_view is None:
                    console.print(_wb_header())
                sim.start()
                await asyncio.sleep(1.5)  # the empty deck reads stable zero
                threading.Thread(target=play, name="demo-scenario", daemon=True).start()
                tasks.create_task(watch(live_view), name="demo-table")
        console.print()
        console.print(f"{len(records)} weighings recorded.")
        console.print(f"Check the evidence chain: edge evidence verify --database {run_dir / 'evidence.db'}")
        return 0
    finally:
        halt.set()
        sim.stop()
        broker.cleanup()
