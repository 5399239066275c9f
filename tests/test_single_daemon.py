"""One daemon per station config: a second `edge run` on the same database or ports refuses to start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.demo import free_port
from edge.lock import AlreadyRunning, StationLock

REPO = Path(__file__).resolve().parents[1]
ROLES = (
    ("wim", "wim_digitiser"),
    ("separator", "light_curtain"),
    ("axle_sensor", "tyre_recogniser"),
    ("display", "led_display"),
    ("barrier", "barrier"),
)


def _config(path: Path, database: Path, ports: dict[str, str]) -> Path:
    devices = "".join(
        f'[devices.{role}]\ntype = "{kind}"\nport = "{ports[role]}"\n\n' for role, kind in ROLES
    )
    path.write_text(
        f'[site]\nid = "single"\nlane = 1\n\n{devices}'
        f'[evidence]\ndatabase = "{database}"\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {free_port()}\n\n[query]\nenabled = false\n',
        encoding="utf-8",
    )
    return path


def test_a_second_daemon_on_the_same_config_exits_and_names_the_first_ones_pid(tmp_path: Path) -> None:
    config = _config(tmp_path / "lane.toml", tmp_path / "e.db", {role: "loop://" for role, _ in ROLES})
    log_path = tmp_path / "first.log"
    with log_path.open("wb") as log_file:
        first = subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--config", str(config)],
            cwd=tmp_path,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 120
        while "kernels and evidence ready" not in log_path.read_text(errors="replace"):
            assert first.poll() is None, log_path.read_text(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "the first daemon never became ready"
            time.sleep(0.1)
        second = subprocess.run(
            [sys.executable, "-m", "edge", "run", "--config", str(config)],
            check=False,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode != 0
        assert f"PID {first.pid}" in second.stderr, second.stderr[-2000:]
        assert "evidence database" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None, "the first daemon must keep running"
    finally:
        first.terminate()
        first.wait(30)


def test_two_configs_sharing_a_serial_device_cannot_both_hold_it(tmp_path: Path) -> None:
    device = tmp_path / "ttyUSB0"
    device.touch()
    link = tmp_path / "scale0"
    link.symlink_to(device)  # a udev alias and the device itself are one port
    first = StationLock(tmp_path / "a.db", {"wim": str(device), "display": "socket://10.0.0.5:4001"})
    with first:
        with pytest.raises(AlreadyRunning, match=rf"PID {os.getpid()}.*wim port {link}"):
            StationLock(tmp_path / "b.db", {"wim": str(link)}).acquire()
        StationLock(tmp_path / "c.db", {"display": "socket://10.0.0.5:4001"}).acquire()  # not local
    with StationLock(tmp_path / "b.db", {"wim": str(link)}):  # released with the first
        pass
