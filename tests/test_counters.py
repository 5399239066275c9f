"""Counters an operator expects to survive a restart survive it (issue 19, item 7): the drift monitor
(its alarm and its learned baseline), the broker's refusals of records and query answers, and the
evidence write errors, kept in the station's SQLite database (edge/counters.py)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import numpy as np

from edge.counters import TABLE, StationCounters, load_counters, save_counters
from edge.demo import demo_config
from edge.wim.drift import DriftMonitor

SIX_AXLE = "6-combination"


def _steer_loads(seed: int, n: int, mean_kg: float) -> list[float]:
    return list(np.random.default_rng(seed).normal(mean_kg, 120.0, n))


def test_a_restored_drift_monitor_goes_on_as_if_it_never_stopped() -> None:
    loads = _steer_loads(1, 120, 6500.0) + _steer_loads(2, 80, 6900.0)  # the scale drifts by 6 %
    straight = DriftMonitor()
    for load in loads:
        straight.observe(SIX_AXLE, 40_000.0, load)
    assert straight.alarm, straight.message

    before = DriftMonitor()
    for load in loads[:130]:
        before.observe(SIX_AXLE, 40_000.0, load)
    snapshot = json.loads(json.dumps(before.snapshot()))  # as the database keeps it
    after = DriftMonitor()
    after.restore(snapshot)
    assert after.state() == before.state(), "nothing learned is lost"
    for load in loads[130:]:
        after.observe(SIX_AXLE, 40_000.0, load)
    assert after.state() == straight.state()
    assert after.alarm


def test_a_restored_alarm_stays_raised_until_new_trucks_say_otherwise() -> None:
    monitor = DriftMonitor()
    for load in _steer_loads(3, 100, 6500.0) + _steer_loads(4, 50, 7000.0):
        monitor.observe(SIX_AXLE, 40_000.0, load)
    assert monitor.alarm
    restored = DriftMonitor()
    restored.restore(monitor.snapshot())
    assert restored.alarm and "drifted" in restored.message
    for load in _steer_loads(5, 50, 6500.0):  # recalibrated: the window is back at the baseline
        restored.observe(SIX_AXLE, 40_000.0, load)
    assert not restored.alarm


def test_counters_are_one_table_of_the_station_database(tmp_path: Path) -> None:
    db = tmp_path / "evidence.db"
    assert load_counters(db) == {}, "no database yet: nothing kept"
    save_counters(db, {"uplink.refused": 2, "wim.drift": {"alarm": True}})
    save_counters(db, {"uplink.refused": 5})
    assert load_counters(db) == {"uplink.refused": 5, "wim.drift": {"alarm": True}}
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"SELECT name, value, updated_utc FROM {TABLE} ORDER BY name").fetchall()
    assert [(name, value) for name, value, _ in rows] == [
        ("uplink.refused", "5"),
        ("wim.drift", '{"alarm": true}'),
    ]
    assert all(updated.endswith("Z") for _, _, updated in rows)


def test_a_refused_save_keeps_the_values_for_the_next_one(tmp_path: Path) -> None:
    missing = tmp_path / "no such folder" / "evidence.db"
    counters = StationCounters(missing)
    assert counters.save({"query.refused": 1}) is False
    assert "unable to open" in counters.last_error
    missing.parent.mkdir()
    assert counters.save({"query.refused": 1}) is True
    assert load_counters(missing) == {"query.refused": 1}


async def test_counters_survive_a_restart_of_the_daemon(tmp_path: Path) -> None:
    from edge.daemon import LaneDaemon

    db = tmp_path / "evidence.db"
    config = demo_config(
        dict.fromkeys(("wim", "separator", "axle_sensor", "display", "barrier"), "loop://"), str(db), 1883
    )

    first = LaneDaemon(config)
    stop = asyncio.Event()
    run = asyncio.create_task(first.run(stop))
    await asyncio.wait_for(first.ready.wait(), 60)
    try:
        summary = first.status_summary()
        assert summary["records_refused_by_broker"] == 0 and summary["drift_alarm"] is False
        # What a day at the station counted: refusals, a failed write, a drifted steer axle.
        first.uplink.refused = 3
        first.query.refused = 2
        first.store.write_errors = 1
        first.store.last_error = "evidence database: database or disk is full"
        for load in _steer_loads(6, 100, 6500.0) + _steer_loads(7, 50, 7000.0):
            first.site.drift.observe(SIX_AXLE, 40_000.0, load)
        assert first.status_summary()["drift_alarm"] is True
        # Kept while running too (with the status file, every few seconds): a power cut loses at most that.
        for _ in range(75):  # 15 s at most
            if load_counters(db).get("uplink.refused") == 3:
                break
            await asyncio.sleep(0.2)
        assert load_counters(db).get("uplink.refused") == 3
    finally:
        stop.set()
        await asyncio.wait_for(run, 30)

    second = LaneDaemon(config)
    stop = asyncio.Event()
    run = asyncio.create_task(second.run(stop))
    await asyncio.wait_for(second.ready.wait(), 60)
    try:
        summary = second.status_summary()
        health = second.health()
    finally:
        stop.set()
        await asyncio.wait_for(run, 30)
    assert summary["records_refused_by_broker"] == 3
    assert summary["evidence_write_errors"] == 1
    assert summary["drift_alarm"] is True
    assert health["query"]["refused"] == 2
    assert health["evidence"]["last_error"] == "evidence database: database or disk is full"
    drift = health["drift_monitor"]
    assert drift["baseline_n"] == 100 and drift["recent_n"] == 50 and drift["observations"] == 150
