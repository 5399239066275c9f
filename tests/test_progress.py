"""Progress bars on the long commands: drawn on a terminal (a real pty as stderr), never into a pipe, and
never with --quiet; stdout stays machine-readable either way."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.demo import demo_config
from edge.evidence import EvidenceStore
from edge.evidence.recorder import Recorder
from edge.evidence.spool import Spool
from edge.judge import judge
from edge.lane.session import VehicleSession
from edge.wim.capture import write_capture
from firmware_sim.physics import schedule
from firmware_sim.scenario import load_scenario
from tests.test_capture import CONFIG, GEOMETRY, LIMITS, live_result, physics_crossing

ROOT = Path(__file__).resolve().parents[1]
BAR = "━"  # rich's bar


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("captures")
    motions = [m for m in schedule(load_scenario("default"), GEOMETRY) if m.truck.stop_on_scale_s == 0][:3]
    paths = []
    for number, motion in enumerate(motions, start=1):
        crossing = physics_crossing(motion, number=number, seed=number)
        path = folder / f"{number}.wlcap"
        write_capture(path, crossing, CONFIG, live_result=live_result(judge(crossing, CONFIG, LIMITS)))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("evidence") / "evidence.db"
    asyncio.run(_fill(db))
    return db


async def _fill(db: Path) -> None:
    config = demo_config(
        dict.fromkeys(("wim", "separator", "axle_sensor", "display", "barrier"), "loop://"), str(db), 1883
    )
    store = EvidenceStore(db)
    await store.open()
    recorder = Recorder(
        config, store, "t", dict, dict, None, wake_uplink=lambda: None, spool=Spool(db.with_suffix(".spool"))
    )
    try:
        for n in range(1, 1101):  # more than two of the 500-row progress steps
            session = VehicleSession(n, time.monotonic())
            await store.add(recorder.make_failed(session, RuntimeError("x"), {}).to_json_dict(), "t")
    finally:
        await store.close()


def _edge(args: list[str], stderr_tty: bool) -> tuple[int, str, str]:
    """Run ``edge ARGS`` with stdout a pipe and stderr a pipe or a pty; (exit, stdout, stderr)."""
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    if not stderr_tty:
        done = subprocess.run(
            [sys.executable, "-m", "edge", *args],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        return done.returncode, done.stdout, done.stderr
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "edge", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=slave, env=env
    )
    os.close(slave)
    out = child.communicate(timeout=120)[0].decode()
    err = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child's end is closed
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    return child.returncode, out, err.decode(errors="replace")


def test_replay_into_a_pipe_is_one_json_line_per_file_and_no_bar(captures: list[Path]) -> None:
    code, out, err = _edge(["wim", "replay", "--json", *map(str, captures)], stderr_tty=False)
    assert code == 0, err
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["file"] for r in results] == [str(p) for p in captures]
    assert BAR not in err and "\x1b" not in err and "\r" not in err


def test_replay_on_a_terminal_draws_a_bar_on_stderr_only(captures: list[Path]) -> None:
    code, out, err = _edge(["wim", "replay", "--json", *map(str, captures)], stderr_tty=True)
    assert code == 0
    assert "replaying captures" in err and BAR in err
    assert [json.loads(line)["file"] for line in out.splitlines()] == [str(p) for p in captures]
    code, out, err = _edge(["wim", "replay", "--quiet", "--json", *map(str, captures)], stderr_tty=True)
    assert code == 0 and "replaying captures" not in err and BAR not in err
    assert len(out.splitlines()) == len(captures)


def test_calibrate_dynamic_bar_on_a_terminal_only(captures: list[Path], tmp_path: Path) -> None:
    lane = tmp_path / "lane.toml"
    lane.write_text(
        '[site]\nid = "p"\nlane = 1\n\n'
        + "".join(
            f'[devices.{role}]\ntype = "{kind}"\nport = "loop://"\n\n'
            for role, kind in (
                ("wim", "wim_digitiser"),
                ("separator", "light_curtain"),
                ("axle_sensor", "tyre_recogniser"),
                ("display", "led_display"),
                ("barrier", "barrier"),
            )
        ),
        encoding="utf-8",
    )
    args = ["calibrate", "dynamic", "--config", str(lane), "--reference-gross", "30000", "--json"]
    code, out, err = _edge([*args, *map(str, captures)], stderr_tty=True)
    assert code == 0, err
    assert "replaying reference runs" in err
    assert json.loads(out)["factors"]
    code, out, err = _edge([*args, *map(str, captures)], stderr_tty=False)
    assert code == 0 and json.loads(out)["factors"] and err == ""


def test_verify_into_a_pipe_stays_one_json_object(database: Path) -> None:
    code, out, err = _edge(["evidence", "verify", "--json", "--database", str(database)], stderr_tty=False)
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] is True
    assert err == ""


def test_verify_on_a_terminal_draws_a_bar_unless_quiet(database: Path) -> None:
    code, out, err = _edge(["evidence", "verify", "--json", "--database", str(database)], stderr_tty=True)
    assert code == 0
    assert "verifying records" in err and "1100/1100" in err
    assert json.loads(out)["ok"] is True
    code, out, err = _edge(["evidence", "verify", "-q", "--database", str(database)], stderr_tty=True)
    assert code == 0 and "verifying records" not in err
