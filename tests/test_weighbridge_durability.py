"""No weighing is lost when the daemon (kill -9) and the broker (kill -9) die in the middle of a visit:
the daemon runs as its own process (`edge run`), the simulator and Mosquitto are real."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from firmware_sim.weighbridge import SimulatedWeighbridge
from tests.support.broker import MosquittoProcess

pytestmark = pytest.mark.timeout(240)


def _config(sim: SimulatedWeighbridge, database: Path, mqtt_port: int) -> str:
    ports = sim.ports
    return f"""
[site]
id = "test-wb-durable"
lane = 1
kind = "static_weighbridge"

[devices]
indicator = {{ type = "toledo_continuous", port = "{ports["indicator"]}" }}
position = {{ type = "position_beams", port = "{ports["position"]}" }}
display = {{ type = "led_display", port = "{ports["display"]}" }}
barrier = {{ type = "barrier", port = "{ports["barrier"]}" }}

[evidence]
database = "{database}"

[mqtt]
host = "127.0.0.1"
port = {mqtt_port}
reconnect_max_s = 1

[weighbridge]
mode = "two_pass"
enterprise_id = "91140100MA0XXXXX1Q"
entry_camera = "{sim.entry_camera}"
exit_camera = "{sim.exit_camera}"
"""


class Daemon:
    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self.offset = log.stat().st_size if log.exists() else 0
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edge", "run", "--config", str(config)], stdout=out, stderr=out
            )

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            if "kernels and evidence ready" in self.log.read_text()[self.offset :]:
                time.sleep(1.5)  # the links open; the empty deck reads stable zero
                return
            time.sleep(0.1)
        raise AssertionError("the daemon did not start: " + self.log.read_text()[-3000:])

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


def _rows(database: Path) -> list[tuple[dict[str, object], str | None]]:
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT r.record_json, o.sent_utc FROM records r JOIN outbox o ON o.record_id = r.id ORDER BY r.seq"
        ).fetchall()
    return [(json.loads(text), sent) for text, sent in rows]


def _wait(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_no_weighing_lost_when_daemon_and_broker_die_mid_visit(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    sim = SimulatedWeighbridge(tmp_path / "ports")
    database = tmp_path / "evidence.db"
    config = tmp_path / "weighbridge.toml"
    config.write_text(_config(sim, database, mosquitto.port), encoding="utf-8")
    log = tmp_path / "daemon.log"
    sim.start()
    daemon = Daemon(config, log)
    try:
        daemon.wait_ready()
        sim.drive_on("晋A55555", 15_000.0)  # the tare, on arrival
        sim.wait_display("皮重15.00t")
        _wait(
            lambda: [sent is not None for _, sent in _rows(database)] == [True],
            20,
            "the tare uploaded",
        )
        sim.drive_off()
        time.sleep(1.0)

        mosquitto.kill()  # the broker dies ...
        daemon.kill()  # ... and the daemon, while the truck is away loading
        daemon = Daemon(config, log)
        daemon.wait_ready()
        shown = len(sim.gate.display_log)
        sim.drive_on("晋A55555", 47_000.0)  # the gross, on departure
        sim.wait_display("请通行", after=shown)
        _wait(lambda: len(_rows(database)) == 2, 10, "the gross stored")
        assert _rows(database)[1][1] is None  # stored, not sent: the broker is down

        mosquitto.start()  # the broker is back on its port: the outbox drains
        _wait(lambda: all(sent for _, sent in _rows(database)), 30, "every record acknowledged by the broker")
    finally:
        daemon.stop()
        sim.stop()
    (tare, _), (gross, _) = _rows(database)
    assert tare["static"]["pass_kind"] == "tare"
    assert gross["static"]["pass_kind"] == "gross"
    assert gross["static"]["visit_id"] == tare["static"]["visit_id"]  # the visit survived the kill
    assert gross["static"]["previous_record_id"] == tare["id"]
    assert gross["static"]["net_kg"] == pytest.approx(32_000, abs=60)
