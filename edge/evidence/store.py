"""Durable evidence: every vehicle record and its outbox entry, in one SQLite file (WAL).

The outbox is the source of truth for the uplink: a record counts as sent only when the broker has
acknowledged it (PUBACK at QoS 1).  Writes run in one worker thread that owns the connection, so the
event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

__all__ = ["EvidenceError", "EvidenceStore", "OutboxEntry", "canonical_json"]

T = TypeVar("T")
SCHEMA_VERSION = 1


class EvidenceError(Exception):
    """Raised when the evidence database cannot be opened or written."""


def canonical_json(value: Any) -> str:
    """One canonical text per value: sorted keys, no spaces, UTF-8 kept (hashes are taken over it)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True)
class OutboxEntry:
    seq: int
    record_id: str
    topic: str
    payload: bytes
    attempts: int


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class _Db:
    """The synchronous part; used only from the store's worker thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db = sqlite_utils.Database(self.conn)
        self.db.enable_wal()
        self.conn.execute("PRAGMA synchronous=FULL")  # a verdict is evidence: survive power loss
        self.conn.execute("PRAGMA busy_timeout=5000")
        self._create()

    def _create(self) -> None:
        if "records" not in self.db.table_names():
            self.db.table("records").create(
                {
                    "seq": int,
                    "id": str,
                    "site_id": str,
                    "lane": int,
                    "time_utc": str,
                    "verdict": str,
                    "axle_count": int,
                    "gross_kg": float,
                    "limit_kg": int,
                    "plate": str,
                    "record_json": str,
                },
                pk="seq",
                not_null={"id", "site_id", "lane", "time_utc", "verdict", "record_json"},
            )
            self.db.table("records").create_index(["id"], unique=True)
            self.db.table("records").create_index(["time_utc"])
        if "outbox" not in self.db.table_names():
            self.db.table("outbox").create(
                {
                    "seq": int,
                    "record_id": str,
                    "topic": str,
                    "payload": bytes,
                    "queued_utc": str,
                    "attempts": int,
                    "last_error": str,
                    "sent_utc": str,
                },
                pk="seq",
                not_null={"record_id", "topic", "payload", "queued_utc", "attempts"},
                defaults={"attempts": 0},
            )
            self.db.execute("CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox(seq) WHERE sent_utc IS NULL")
        self.db.table("meta").insert(
            {"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key", replace=True
        )

    def add(self, record: dict[str, Any], topic: str) -> dict[str, Any]:
        with self.conn:  # one transaction: a record never exists without its outbox entry
            self.conn.execute("BEGIN IMMEDIATE")
            row = self.conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM records").fetchone()
            seq = int(row[0])
            record = {**record, "seq": seq}
            text = canonical_json(record)
            self.db.table("records").insert(
                {
                    "seq": seq,
                    "id": record["id"],
                    "site_id": record["site_id"],
                    "lane": record["lane"],
                    "time_utc": record["time_utc"],
                    "verdict": record["verdict"],
                    "axle_count": record.get("axle_count"),
                    "gross_kg": record.get("wim", {}).get("gross_kg"),
                    "limit_kg": record.get("limit", {}).get("limit_kg"),
                    "plate": record.get("plate"),
                    "record_json": text,
                }
            )
            self.db.table("outbox").insert(
                {
                    "seq": seq,
                    "record_id": record["id"],
                    "topic": topic,
                    "payload": text.encode("utf-8"),
                    "queued_utc": _utc_now(),
                    "attempts": 0,
                }
            )
        return record

    def pending(self, limit: int) -> list[OutboxEntry]:
        rows = self.conn.execute(
            "SELECT seq, record_id, topic, payload, attempts FROM outbox WHERE sent_utc IS NULL ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [OutboxEntry(int(r[0]), str(r[1]), str(r[2]), bytes(r[3]), int(r[4])) for r in rows]

    def mark_sent(self, seqs: list[int]) -> None:
        now = _utc_now()
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(
                "UPDATE outbox SET sent_utc = ?, attempts = attempts + 1, last_error = NULL WHERE seq = ?",
                [(now, seq) for seq in seqs],
            )

    def mark_failed(self, seqs: list[int], error: str) -> None:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                [(error[:500], seq) for seq in seqs],
            )

    def counts(self) -> dict[str, int]:
        records = self.conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        pending = self.conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_utc IS NULL").fetchone()[0]
        return {"records": int(records), "outbox_pending": int(pending)}

    def record(self, record_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT record_json FROM records WHERE id = ?", (record_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))


class EvidenceStore:
    """Async front of the evidence database; every call runs in the store's own thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence")
        self._db: _Db | None = None
        self.write_errors = 0
        self.last_error = ""

    async def _call(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def open(self) -> None:
        try:
            self._db = await self._call(_Db, self.path)
        except (sqlite3.Error, OSError) as exc:
            raise EvidenceError(
                f"cannot open the evidence database {self.path}: {exc}; check that its folder exists, is"
                " writable by the service user, and that the disk is not full"
            ) from exc

    def _require(self) -> _Db:
        if self._db is None:
            raise EvidenceError("evidence store used before open()")
        return self._db

    async def add(self, record: dict[str, Any], topic: str) -> dict[str, Any]:
        """Store a record and queue it for upload; returns it with its site sequence number."""
        db = self._require()
        try:
            stored: dict[str, Any] = await self._call(db.add, record, topic)
        except sqlite3.OperationalError as exc:
            self.write_errors += 1
            hint = (
                "the disk is full: free space on the evidence volume (old logs, exported packages)"
                if "full" in str(exc)
                else "check the disk and the file permissions"
            )
            self.last_error = f"cannot write evidence to {self.path}: {exc}; {hint}"
            raise EvidenceError(self.last_error) from exc
        return stored

    async def pending(self, limit: int) -> list[OutboxEntry]:
        result: list[OutboxEntry] = await self._call(self._require().pending, limit)
        return result

    async def mark_sent(self, seqs: list[int]) -> None:
        if seqs:
            await self._call(self._require().mark_sent, seqs)

    async def mark_failed(self, seqs: list[int], error: str) -> None:
        if seqs:
            await self._call(self._require().mark_failed, seqs, error)

    async def counts(self) -> dict[str, int]:
        result: dict[str, int] = await self._call(self._require().counts)
        return result

    async def record(self, record_id: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self._call(self._require().record, record_id)
        return result

    async def close(self) -> None:
        db = self._db
        if db is not None:
            await self._call(db.conn.close)
            self._db = None
        self._executor.shutdown(wait=True)
