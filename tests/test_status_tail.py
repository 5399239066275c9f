"""``edge status`` and ``edge tail`` on the station itself, with the broker down: the daemon's status file
and the evidence database are all they need."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import edge.cli_ops
from edge.cli_ops import status, tail
from firmware_sim.scenario import Scenario


def _invoke(command: Any, *args: str) -> Any:
    return CliRunner().invoke(command, ["--config", "lane.toml", *args], catch_exceptions=False)


async def test_status_and_tail_without_a_broker(
    make_rig: Any, short_scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = make_rig(short_scenario)  # nothing listens on its MQTT port: the broker is down
    monkeypatch.setattr(edge.cli_ops, "load_config", lambda _path: rig.config)

    before = _invoke(status)
    assert before.exit_code == 1 and "NOT running" in before.output and "no status file" in before.output

    await rig.start()
    # tail follows from now: it sees the three trucks as they are stored, in order.
    following = asyncio.create_task(asyncio.to_thread(_invoke, tail, "-n", "0", "--json", "--count", "3"))
    await rig.wait_records(3, 120)
    followed = await asyncio.wait_for(following, 30)
    assert followed.exit_code == 0, followed.output
    lines = [json.loads(line) for line in followed.output.splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3]
    assert [line["verdict"] for line in lines] == [r["verdict"] for r in rig.records]

    await asyncio.sleep(5.5)  # the next status file (every 5 s) counts the three
    result = await asyncio.to_thread(_invoke, status, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["daemon"]["running"] is True
    assert info["outbox"]["unsent"] == 3  # nothing could be uploaded
    assert [row["seq"] for row in info["last_vehicles"]] == [1, 2, 3]
    assert info["status"]["summary"]["vehicles"] == 3
    assert set(info["status"]["health"]["devices"]) >= {
        "wim",
        "separator",
        "axle_sensor",
        "display",
        "barrier",
    }

    text = await asyncio.to_thread(_invoke, status)
    assert "daemon running" in text.output and "3 unsent" in text.output
    assert "#3" in text.output and "device wim" in text.output

    await rig.close()
    after = _invoke(status)
    assert after.exit_code == 1 and "state stopped" in after.output


async def test_tail_shows_the_backlog_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-n N prints the newest N records already stored, oldest first, then follows."""
    from edge.demo import demo_config
    from edge.evidence import EvidenceStore

    config = demo_config(
        dict.fromkeys(("wim", "separator", "axle_sensor", "display", "barrier"), "loop://"),
        str(tmp_path / "evidence.db"),
        1883,
    )
    monkeypatch.setattr(edge.cli_ops, "load_config", lambda _path: config)
    store = EvidenceStore(config.evidence.database)
    await store.open()

    def record(i: int) -> dict[str, Any]:
        return {
            "id": f"r{i}",
            "site_id": "s",
            "lane": 1,
            "time_utc": "2026-12-03T07:00:00.000Z",
            "verdict": "pass",
            "axle_count": 2,
            "plate": f"P{i}",
        }

    try:
        for i in range(5):
            await store.add(record(i), "t")
        following = asyncio.create_task(
            asyncio.to_thread(_invoke, tail, "-n", "2", "--count", "1", "--interval", "0.05")
        )
        await asyncio.sleep(1.0)
        await store.add(record(5), "t")
        result = await asyncio.wait_for(following, 30)
    finally:
        await store.close()
    plates = [line.split()[2] for line in result.output.splitlines()]
    assert plates == ["P3", "P4", "P5"]


def test_database_held_reads_the_lock_without_making_one(tmp_path: Path) -> None:
    from edge.lock import StationLock, database_held

    db = tmp_path / "evidence.db"
    assert database_held(db) is False
    assert not (tmp_path / "evidence.db.lock").exists(), "a probe never creates the lock file"
    with StationLock(db, {}):
        assert database_held(db) is True
    assert database_held(db) is False


def test_status_file_goes_to_the_runtime_directory_under_systemd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge.health import status_path

    db = tmp_path / "evidence.db"
    monkeypatch.delenv("RUNTIME_DIRECTORY", raising=False)
    assert status_path(db) == tmp_path / "evidence.db.status.json"
    (tmp_path / "run").mkdir()
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path / "run"))
    assert status_path(db).parent == tmp_path / "run"
    assert status_path(db).name.startswith("weighlane-") and status_path(db).name.endswith(".status.json")
