"""SIGTERM to a running ``edge run`` while a truck crosses the simulated lane on real ptys: the truck
finishes and is judged as usual, or (its sensors silent) it is recorded as interrupted.  Nothing is lost."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edge.demo import free_port, geometry_for
from edge.evidence import verify_database
from firmware_sim.lane import SimulatedLane
from firmware_sim.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
ROLES = (
    ("wim", "wim_digitiser"),
    ("separator", "light_curtain"),
    ("axle_sensor", "tyre_recogniser"),
    ("display", "led_display"),
    ("barrier", "barrier"),
)


def _lane_toml(path: Path, ports: dict[str, str], stop_wait_s: float) -> Path:
    devices = "".join(
        f'[devices.{role}]\ntype = "{kind}"\nport = "{ports[role]}"\n\n' for role, kind in ROLES
    )
    path.write_text(
        f'[site]\nid = "stop-test"\nlane = 1\n\n[scale]\nplatform_lengths_m = [6.0, 6.0, 6.0]\n\n{devices}'
        f"[lane]\nstop_wait_s = {stop_wait_s}\n\n"
        f'[evidence]\ndatabase = "{path.parent / "evidence.db"}"\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {free_port()}\n\n[query]\nenabled = false\n',
        encoding="utf-8",
    )
    return path


def _records(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        return [json.loads(row[0]) for row in conn.execute("SELECT record_json FROM records ORDER BY seq")]


def _stop_mid_crossing(
    tmp_path: Path, scenario: Scenario, stop_wait_s: float, silence: bool
) -> tuple[int, str]:
    """Start the lane and the daemon, SIGTERM it while the first truck is on the scale; (exit, log)."""
    from edge.config import Config

    probe = Config.model_validate(
        {
            "site": {"id": "x", "lane": 1},
            "scale": {"platform_lengths_m": [6.0, 6.0, 6.0]},
            "devices": {role: {"type": kind, "port": "loop://"} for role, kind in ROLES},
        }
    )
    geometry = geometry_for(probe)
    sim = SimulatedLane(scenario, geometry, link_dir=tmp_path / "ports")
    config = _lane_toml(tmp_path / "lane.toml", {n: p.path for n, p in sim.ports.items()}, stop_wait_s)
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log_file:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--config", str(config)],
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 120
        while "kernels and evidence ready" not in log_path.read_text(errors="replace"):
            assert daemon.poll() is None, log_path.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the daemon never became ready"
            time.sleep(0.1)
        sim.start()
        first = sim.motions[0]
        # Two axles are on, and 0.3 s more for their strip frames to reach the daemon on a busy machine.
        entered = float(first.axle_crossing_times(geometry.entry_strip_x_m)[1]) + 0.3
        while sim.world_time_s < entered:
            time.sleep(0.02)
        assert sim.world_time_s < first.t_last_axle_exit_s, "the truck must still be crossing"
        if silence:  # the strips and the curtain say nothing more: the crossing cannot finish
            sim.paused_devices.update({"separator", "axle_sensor"})
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(60)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        sim.stop()
    return code, log_path.read_text(errors="replace")


def test_sigterm_mid_crossing_lets_the_truck_finish(short_scenario: Scenario, tmp_path: Path) -> None:
    code, log = _stop_mid_crossing(tmp_path, short_scenario, stop_wait_s=20, silence=False)
    assert code == 0, log[-3000:]
    records = _records(tmp_path / "evidence.db")
    assert len(records) == 1, log[-3000:]
    assert records[0]["verdict"] == short_scenario.trucks[0].expected_verdict
    assert "interrupted" not in records[0]
    assert records[0]["axle_count"] == len(short_scenario.trucks[0].axle_loads_kg)
    assert verify_database(tmp_path / "evidence.db").ok


def test_sigterm_with_the_crossing_stuck_records_it_as_interrupted(
    short_scenario: Scenario, tmp_path: Path
) -> None:
    started = time.monotonic()
    code, log = _stop_mid_crossing(tmp_path, short_scenario, stop_wait_s=1.5, silence=True)
    assert code == 0, log[-3000:]
    assert time.monotonic() - started < 110
    records = _records(tmp_path / "evidence.db")
    assert len(records) == 1, log[-3000:]
    record = records[0]
    assert record["verdict"] == "reweigh"
    assert record["interrupted"]["status"] == "interrupted"
    assert record["interrupted"]["axles_entered"] >= 2
    assert record["reasons"][0].startswith("interrupted:")
    assert "称重无效" in record["lane_output"]["display_text"]  # the board told the driver
    assert "recorded as interrupted" in log
    assert verify_database(tmp_path / "evidence.db").ok

    # Restarted (the lane's devices now loop://): the heartbeat's vehicle count goes on, the
    # interrupted vehicle included; `edge status` reads it from the running daemon's status file.
    config = _lane_toml(tmp_path / "lane.toml", {role: "loop://" for role, _ in ROLES}, 1.5)
    again = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            done = subprocess.run(
                [sys.executable, "-m", "edge", "status", "--config", str(config), "--json"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )
            answer = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
            status = answer.get("status") or {}
            if status.get("state") == "running" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(60) == 0
    assert status.get("summary", {}).get("vehicles") == 1, status
