"""Running under systemd: journald priorities on log lines, and sd_notify READY / WATCHDOG / STOPPING on
a real AF_UNIX datagram socket, as systemd's ``$NOTIFY_SOCKET`` is."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from edge.daemon import LaneDaemon
from edge.demo import demo_config
from edge.service import Notifier

ROOT = Path(__file__).resolve().parents[1]

LOGS = (
    "import logging; from edge.cli import _logging; _logging(False); log = logging.getLogger('edge.x');"
    " log.error('disk full'); log.info('ready'); log.debug('hidden')\n"
    "try:\n    1 / 0\nexcept ZeroDivisionError:\n    log.exception('boom')"
)


def _run_logging(tmp_path: Path, journal: bool) -> list[str]:
    err = tmp_path / "stderr"
    with err.open("wb") as out:
        stat = os.fstat(out.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino if journal else stat.st_ino + 1}"}
        env["WEIGHLANE_JOURNAL"] = "stream"  # the <N> lines, even where a journald socket exists
        subprocess.run([sys.executable, "-c", LOGS], cwd=ROOT, stderr=out, env=env, check=True, timeout=60)
    return err.read_text().splitlines()


def test_under_journald_every_line_has_a_priority_and_no_timestamp(tmp_path: Path) -> None:
    lines = _run_logging(tmp_path, journal=True)
    assert lines[0] == "<3>edge.x: disk full"
    assert lines[1] == "<6>edge.x: ready"
    assert all(line.startswith("<3>") for line in lines[2:]), "a traceback's lines are errors too"
    assert any("ZeroDivisionError" in line for line in lines[2:])
    assert not any(re.search(r"\d\d:\d\d:\d\d", line) for line in lines), "journald stamps the time"


def test_elsewhere_lines_keep_their_timestamp(tmp_path: Path) -> None:
    lines = _run_logging(tmp_path, journal=False)  # JOURNAL_STREAM names another file: not the journal
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ERROR edge.x: disk full", lines[0])
    assert not lines[0].startswith("<")


def test_notifier_without_systemd_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert Notifier().ready("x") is False


def test_notifier_reaches_an_abstract_socket() -> None:
    name = f"weighlane-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        assert Notifier("@" + name).notify("READY=1")
        assert server.recv(4096) == b"READY=1"


async def test_daemon_says_ready_pings_the_watchdog_and_says_stopping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = str(tmp_path / "notify")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(address)
    server.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    config = demo_config(
        dict.fromkeys(("wim", "separator", "axle_sensor", "display", "barrier"), "loop://"),
        str(tmp_path / "evidence.db"),
        1883,
    )
    daemon = LaneDaemon(config)
    stop = asyncio.Event()
    run = asyncio.create_task(daemon.run(stop))
    messages: list[bytes] = []
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(daemon.ready.wait(), 60)
        while sum(m == b"WATCHDOG=1" for m in messages) < 2:
            messages.append(await asyncio.wait_for(loop.sock_recv(server, 4096), 10))
    finally:
        stop.set()
        await asyncio.wait_for(run, 15)
    while True:
        try:
            messages.append(server.recv(4096))
        except BlockingIOError:
            break
    server.close()
    assert messages[0].startswith(b"READY=1\nSTATUS=site demo-station-01 lane 1 deciding")
    assert messages[-1] == b"STOPPING=1\nSTATUS=stopping"
