"""Retention within evidence.budget_mb on a real SQLite file: uploaded records become chain stubs that
still verify, unsent evidence is never deleted (an alarm instead), and stubs cannot hide tampering."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from edge.config import EvidenceConfig
from edge.evidence import EvidenceError, EvidenceStore, Retention, export_package, verify_database
from edge.evidence.chain import Problem
from edge.evidence.store import read_stored_record, search_records

TOPIC = "site/s1/lane/1/record"
PAD = "x" * 3000  # a realistic record is a few kB (device health, limits, reasons)


def _record(i: int) -> dict[str, Any]:
    return {
        "id": f"rec-{i:04d}",
        "site_id": "s1",
        "lane": 1,
        "time_utc": f"2026-11-22T00:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
        "verdict": "pass",
        "axle_count": 2,
        "wim": {"gross_kg": 15000.0 + i},
        "limit": {"limit_kg": 18000},
        "plate": "冀A12345",
        "devices": {"pad": PAD},
        "attachments": [],
    }


async def _store_with(db: Path, count: int, sent: int) -> EvidenceStore:
    """An open store holding ``count`` records, the first ``sent`` of them acknowledged by the broker."""
    store = EvidenceStore(db)
    await store.open()
    for i in range(count):
        await store.add(_record(i), TOPIC)
    await store.mark_sent(list(range(1, sent + 1)))
    return store


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_uploaded_records_are_evicted_oldest_first_and_the_chain_still_verifies(tmp_path: Path) -> None:
    db = tmp_path / "evidence.db"
    captures = tmp_path / "captures" / "20261122"
    captures.mkdir(parents=True)
    store = await _store_with(db, 300, sent=200)
    try:
        # Files that belong to an uploaded record (seq 1) and to an unsent one (seq 251).
        for record_id in ("rec-0000", "rec-0250"):
            folder = tmp_path / "attachments" / record_id
            folder.mkdir(parents=True)
            (folder / "plate.jpg").write_bytes(b"\xff" * 50_000)
            (captures / f"080000-1-{record_id}.wlcap").write_bytes(b"cap")
        before = await store.usage()
        budget = (before["live_bytes"] + 100_000) // 2
        retention = Retention(store, budget, capture_dir=tmp_path / "captures", batch=50)
        result = await retention.run_once()
        after = await store.usage()
    finally:
        await store.close()

    assert result.alarm is None
    assert result.usage_bytes <= budget < before["live_bytes"]
    assert 0 < result.evicted <= 200
    assert after["file_bytes"] < before["file_bytes"], "freed pages went back to the file system"
    evicted = [
        int(r[0]) for r in _rows(db, "SELECT seq FROM records WHERE evicted_utc IS NOT NULL ORDER BY seq")
    ]
    assert evicted == list(range(1, result.evicted + 1)), "oldest first, no gaps"
    assert _rows(
        db,
        "SELECT COUNT(*) FROM records r JOIN outbox o USING (seq) "
        "WHERE r.evicted_utc IS NOT NULL AND o.sent_utc IS NULL",
    ) == [(0,)]
    assert _rows(
        db, "SELECT record_json, plate, gross_kg, length(chain_hash) FROM records WHERE seq = 1"
    ) == [("", None, None, 64)]
    assert _rows(db, "SELECT COUNT(*) FROM records") == [(300,)], "stubs keep every seq"
    # The uploaded record's files are gone, the unsent record's stay.
    assert not (tmp_path / "attachments" / "rec-0000").exists()
    assert not (captures / "080000-1-rec-0000.wlcap").exists()
    assert (tmp_path / "attachments" / "rec-0250" / "plate.jpg").is_file()
    assert (captures / "080000-1-rec-0250.wlcap").is_file()

    report = verify_database(db)
    assert report.ok, report.lines()
    assert report.evicted == result.evicted
    assert report.verified == 300 - result.evicted
    assert any("evicted after upload" in line for line in report.lines())

    stub = read_stored_record(db, "rec-0000")
    assert stub is not None and stub.evicted_utc is not None and stub.record_text == ""
    rows = search_records(db, limit=2, full=True)
    assert rows[0]["record"] is None and rows[0]["evicted_utc"] is not None
    with pytest.raises(EvidenceError, match="evicted"):
        export_package(db, "rec-0000", tmp_path / "out")
    live = search_records(db, after_seq=299, full=True)
    assert live[0]["record"]["id"] == "rec-0299" and live[0]["evicted_utc"] is None


async def test_unsent_evidence_is_never_deleted_and_raises_an_alarm(tmp_path: Path) -> None:
    db = tmp_path / "evidence.db"
    store = await _store_with(db, 100, sent=0)
    try:
        retention = Retention(store, 200_000)
        first = await retention.run_once()
        assert first.evicted == 0
        assert first.unsent_records == 100
        assert first.alarm is not None and "100 record(s) are not uploaded" in first.alarm
        assert "restore the broker connection" in first.alarm
        assert retention.health()["alarm"] == first.alarm
        assert verify_database(db).verified == 100, "nothing was touched"

        await store.mark_sent(list(range(1, 101)))  # the broker is back and acknowledged everything
        second = await retention.run_once()
        assert second.alarm is None, second
        assert second.evicted > 0 and second.usage_bytes <= 200_000
        assert retention.health()["evicted_total"] == second.evicted
    finally:
        await store.close()
    assert verify_database(db).ok


async def test_within_budget_nothing_is_evicted(tmp_path: Path) -> None:
    db = tmp_path / "evidence.db"
    store = await _store_with(db, 20, sent=20)
    try:
        result = await Retention(store, 100 * 1_000_000).run_once()
    finally:
        await store.close()
    assert (result.evicted, result.alarm) == (0, None)
    assert verify_database(db).verified == 20


async def test_stubs_cannot_hide_tampering(tmp_path: Path) -> None:
    db = tmp_path / "evidence.db"
    store = await _store_with(db, 40, sent=30)
    try:
        await store.evict_sent(10)  # seq 1..10 become stubs
    finally:
        await store.close()
    assert verify_database(db).evicted == 10
    with sqlite3.connect(db) as conn:
        # A stub whose upload is not on record: deleted before upload.
        conn.execute("UPDATE outbox SET sent_utc = NULL WHERE seq = 3")
        # An unsent record emptied and marked evicted by hand.
        conn.execute("UPDATE records SET record_json = '', evicted_utc = 'x' WHERE seq = 35")
        # A stub's hashes edited.
        conn.execute("UPDATE records SET record_hash = ? WHERE seq = 5", ("00" * 32,))
        # A record emptied without the eviction mark.
        conn.execute("UPDATE records SET record_json = '' WHERE seq = 20")
    report = verify_database(db)
    kinds = {(p.seq, p.kind) for p in report.problems}
    assert (3, Problem.EVICTED_UNSENT) in kinds
    assert (35, Problem.EVICTED_UNSENT) in kinds
    assert (5, Problem.CHAIN_HASH) in kinds
    assert (20, Problem.RECORD_EDITED) in kinds
    assert not report.ok


def _leave_files(tmp_path: Path, record_id: str, capture_name: str | None = None) -> tuple[Path, Path]:
    """An attachments folder and a raw capture for ``record_id``, as the daemon writes them."""
    folder = tmp_path / "attachments" / record_id
    folder.mkdir(parents=True)
    (folder / "frame.jpg").write_bytes(b"\xff" * 20_000)
    (folder / "plate.jpg").write_bytes(b"\xff" * 2_000)
    capture = tmp_path / "captures" / "20261122" / (capture_name or f"080000-1-{record_id}.wlcap")
    capture.parent.mkdir(parents=True, exist_ok=True)
    capture.write_bytes(b"cap" * 100)
    return folder, capture


async def test_files_left_by_a_stop_during_eviction_are_swept_at_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The stubs were committed, then the daemon died before deleting the files (kill -9): the first pass
    after the restart deletes them, and nothing of a live record or of an id the store does not hold."""
    caplog.set_level(logging.INFO, logger="edge.evidence.retention")
    db = tmp_path / "evidence.db"
    store = await _store_with(db, 30, sent=20)
    try:
        assert [r.record_id for r in await store.evict_sent(10)] == [f"rec-{i:04d}" for i in range(10)]
        # The crash: the files of seq 1-10 are still there.  Seq 16 is uploaded but not evicted, seq 26
        # not uploaded; the last two ids are unknown to the store (an old leftover, one being written).
        evicted = [
            _leave_files(tmp_path, "rec-0000"),
            _leave_files(tmp_path, "rec-0005", "080005-6-rec-0005-a1b2c3.wlcap"),
        ]
        live = [_leave_files(tmp_path, "rec-0015"), _leave_files(tmp_path, "rec-0025")]
        old_unknown = _leave_files(tmp_path, "lost-before-storing")
        fresh_unknown = _leave_files(tmp_path, "being-written-now")
        day_ago = time.time() - 86_400
        for path in old_unknown:
            os.utime(path, (day_ago, day_ago))

        retention = Retention(store, 100 * 1_000_000, capture_dir=tmp_path / "captures")
        first = await retention.run_once()
        sweep = retention.health()["orphan_sweep"]
        second = await retention.run_once()
    finally:
        await store.close()

    for folder, capture in evicted:
        assert not folder.exists() and not capture.exists(), "files of evicted records are swept"
    for folder, capture in (*live, old_unknown, fresh_unknown):
        assert (folder / "frame.jpg").is_file() and capture.is_file(), folder.name
    assert (first.evicted, first.files_deleted, first.orphan_files_deleted) == (0, 0, 6)
    assert sweep == {
        "folders_checked": 6,
        "captures_checked": 6,
        "folders_deleted": 2,
        "captures_deleted": 2,
        "files_deleted": 6,
        "bytes_freed": 2 * (22_000 + 300),
        "unknown_kept": 4,
        "duration_s": sweep["duration_s"],
    }
    assert second.orphan_files_deleted == 0, "the sweep runs once per start"
    assert "start-up sweep checked 6 attachment folder(s) and 6 raw capture(s); deleted 2" in caplog.text
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "2 attachment folder(s) or raw capture(s) older than 1 h match no record" in warnings[0]
    assert str(old_unknown[0]) in warnings[0] and str(old_unknown[1]) in warnings[0]
    assert "being-written-now" not in warnings[0] and "move or delete them by hand" in warnings[0]
    assert verify_database(db).ok


async def test_the_sweep_cannot_delete_anything_of_an_unsent_record(tmp_path: Path) -> None:
    """Only a stub whose outbox row has its PUBACK loses its files: not an unsent record, not even one
    someone marked evicted by hand, and not while the budget alarm is up."""
    db = tmp_path / "evidence.db"
    store = await _store_with(db, 10, sent=0)
    try:
        files = [_leave_files(tmp_path, f"rec-{i:04d}") for i in range(10)]
        with sqlite3.connect(db) as conn:  # a forged or buggy eviction mark on unsent records
            conn.execute("UPDATE records SET record_json = '', evicted_utc = 'x' WHERE seq <= 5")
        states = await store.evicted_after_upload([f"rec-{i:04d}" for i in range(10)] + ["nope"])
        assert states == {f"rec-{i:04d}": False for i in range(10)}
        retention = Retention(store, 1, capture_dir=tmp_path / "captures")  # over any budget
        result = await retention.run_once()
    finally:
        await store.close()
    assert result.alarm is not None and (result.evicted, result.orphan_files_deleted) == (0, 0)
    assert retention.health()["orphan_sweep"]["unknown_kept"] == 0
    for folder, capture in files:
        assert (folder / "frame.jpg").is_file() and (folder / "plate.jpg").is_file() and capture.is_file()


def test_the_budget_keys_have_defaults_and_limits() -> None:
    assert EvidenceConfig().budget_mb == 8192
    assert EvidenceConfig().retention_interval_s == 60
    with pytest.raises(ValueError, match="greater than 0"):
        EvidenceConfig(budget_mb=0)


async def test_the_daemon_reports_the_budget_alarm_in_health_and_heartbeat(tmp_path: Path) -> None:
    from edge.config import OFFLINE_DEVICES, Config
    from edge.daemon import LaneDaemon

    config = Config.model_validate(
        {
            "site": {"id": "s1", "lane": 1},
            "devices": OFFLINE_DEVICES,
            "evidence": {"database": str(tmp_path / "evidence.db"), "budget_mb": 0.05},
        }
    )
    daemon = LaneDaemon(config)
    await daemon.store.open()
    try:
        for i in range(20):
            await daemon.store.add(_record(i), TOPIC)
        await daemon.retention.run_once()
        alarm = daemon.status_summary()["evidence_budget_alarm"]
        assert alarm is not None and "20 record(s) are not uploaded" in alarm
        assert daemon.health()["evidence"]["retention"]["budget_mb"] == 0.1  # 0.05 MB, rounded
        assert daemon.health()["evidence"]["retention"]["alarm"] == alarm
    finally:
        await daemon.store.close()
