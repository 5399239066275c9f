"""Evidence store: one transaction per record and outbox row; a full disk loses nothing.

The hash chain itself is tested in test_evidence_chain.py."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from edge.evidence import EvidenceError, EvidenceStore, canonical_json, verify_database


def _record(i: int) -> dict[str, Any]:
    return {
        "id": f"rec-{i}",
        "site_id": "s1",
        "lane": 1,
        "time_utc": "2026-11-22T00:00:00.000Z",
        "verdict": "pass",
        "axle_count": 2,
        "wim": {"gross_kg": 15000.0 + i},
        "limit": {"limit_kg": 18000},
        "plate": None,
        "blob": "x" * 2000,
    }


async def test_records_get_site_sequence_numbers_and_outbox_rows(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "e.db")
    await store.open()
    try:
        stored = [await store.add(_record(i), "site/s1/lane/1/record") for i in range(5)]
        assert [r["seq"] for r in stored] == [1, 2, 3, 4, 5]
        pending = await store.pending(10)
        assert [p.seq for p in pending] == [1, 2, 3, 4, 5]
        assert json.loads(pending[0].payload) == stored[0]
        assert "chain" in stored[0]
        await store.mark_sent([1, 2])
        await store.mark_failed([3], "broker gone")
        assert [p.seq for p in await store.pending(10)] == [3, 4, 5]
        assert (await store.pending(10))[0].attempts == 1
        assert await store.counts() == {"records": 5, "outbox_pending": 3}
        assert (await store.record("rec-3")) == stored[3]
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "e.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_full_disk_raises_a_clear_error_and_keeps_earlier_records(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "e.db")
    await store.open()
    try:
        await store.add(_record(0), "t")
        db = store._db
        assert db is not None
        pages = db.conn.execute("PRAGMA page_count").fetchone()[0]
        db.conn.execute(f"PRAGMA max_page_count = {pages + 1}")  # the volume is now (nearly) full
        with pytest.raises(EvidenceError, match="disk is full: free space"):
            for i in range(1, 50):
                await store.add(_record(i), "t")
        assert store.write_errors == 1
        counts = await store.counts()
        assert counts["records"] == counts["outbox_pending"], "never a record without its outbox row"
        db.conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
        stored = await store.add(_record(99), "t")
        assert stored["seq"] == counts["records"] + 1
    finally:
        await store.close()
    # The failed writes left no half-chained row: the chain runs unbroken across the full disk.
    report = verify_database(tmp_path / "e.db")
    assert report.ok, report.lines()
    assert report.verified == counts["records"] + 1


async def test_unwritable_location_says_what_to_check(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = EvidenceStore(blocker / "e.db")
    with pytest.raises(EvidenceError, match="writable"):
        await store.open()


def test_canonical_json_is_stable_and_rejects_nan() -> None:
    assert canonical_json({"b": 1, "a": "冀A"}) == '{"a":"冀A","b":1}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
