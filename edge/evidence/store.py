"""Durable evidence: every vehicle record and its outbox entry, in one SQLite file (WAL), hash-chained.

The outbox is the source of truth for the uplink: a record counts as sent only when the broker has
acknowledged it (PUBACK at QoS 1).  Writes run in one worker thread that owns the connection, so the
event loop never waits on the disk.

Every record is hashed, chained to the previous one and signed in the transaction that assigns its
``seq`` (:mod:`edge.evidence.chain` has the byte layouts); :func:`verify_database` walks the chain.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import sqlite_utils

from edge.evidence.chain import (
    DEFAULT_HASH_ALG,
    ChainEntry,
    EvidenceError,
    Problem,
    VerifyReport,
    canonical_json,
    check_entry,
    genesis,
    hash_algorithm,
    seal,
)
from edge.evidence.signing import (
    DEFAULT_SIG_ALG,
    Signer,
    Verifier,
    key_paths,
    load_or_create_signer,
    load_signer,
    load_verifier,
)

__all__ = [
    "EvictedRecord",
    "EvidenceError",
    "EvidenceStore",
    "OutboxEntry",
    "StoredRecord",
    "canonical_json",
    "database_summary",
    "outbox_backlog",
    "read_stored_record",
    "recent_records",
    "search_records",
    "station_verifier",
    "verify_database",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
SCHEMA_VERSION = 3  # 2: chain columns on records; 3: evicted_utc (retention stubs)

# Added to ``records`` by schema 2; rows written before have them NULL ("unsigned, before chaining").
CHAIN_COLUMNS = ("record_hash", "prev_chain_hash", "chain_hash", "signature", "sig_alg", "hash_alg", "key_id")


@dataclass(frozen=True)
class EvictedRecord:
    """A record the retention turned into a stub: its id and seq (to delete its files)."""

    seq: int
    record_id: str


#: Evicted rows are stubs: the chain columns, ``seq``, ``id``, ``site_id``, ``lane``, ``time_utc`` and
#: ``verdict`` stay, ``record_json`` becomes '' and the other searchable columns (plate, weights) NULL.
EVICTED_TEXT = ""


@dataclass(frozen=True)
class OutboxEntry:
    seq: int
    record_id: str
    topic: str
    payload: bytes
    attempts: int


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _columns(record: dict[str, Any]) -> dict[str, Any]:
    """The searchable copies of record fields kept in columns beside ``record_json``."""
    return {
        "id": record["id"],
        "site_id": record["site_id"],
        "lane": record["lane"],
        "time_utc": record["time_utc"],
        "verdict": record["verdict"],
        "axle_count": record.get("axle_count"),
        "gross_kg": (record.get("wim") or {}).get("gross_kg"),
        "limit_kg": (record.get("limit") or {}).get("limit_kg"),
        "plate": record.get("plate"),
    }


class _Db:
    """The synchronous part; used only from the store's worker thread."""

    def __init__(self, path: Path, signer: Signer | None, hash_alg: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db = sqlite_utils.Database(self.conn)
        if not self.db.table_names():
            # Only possible before the first table exists: evicted records' pages can then be handed
            # back to the file system in small steps (incremental_vacuum) instead of a blocking VACUUM.
            self.conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self.db.enable_wal()
        self.conn.execute("PRAGMA journal_size_limit=67108864")  # the WAL shrinks back to 64 MB
        self.conn.execute("PRAGMA synchronous=FULL")  # a verdict is evidence: survive power loss
        self.conn.execute("PRAGMA busy_timeout=5000")
        try:
            self._create()
            # Loaded after the database opened, so an unwritable folder is reported as such.
            self.signer = signer if signer is not None else load_or_create_signer(key_paths(path)[0])
        except BaseException:
            self.conn.close()
            raise
        self.hash_alg = hash_alg
        self._genesis = genesis(hash_alg)

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
                    **dict.fromkeys(CHAIN_COLUMNS, str),
                    "evicted_utc": str,
                },
                pk="seq",
                not_null={"id", "site_id", "lane", "time_utc", "verdict", "record_json"},
            )
            self.db.table("records").create_index(["id"], unique=True)
            self.db.table("records").create_index(["time_utc"])
        else:
            self._add_chain_columns()
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
        self._add_eviction_column()
        row = (
            self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if ("meta" in self.db.table_names())
            else None
        )
        if row is None or row[0] != str(
            SCHEMA_VERSION
        ):  # no write on a normal open (a full disk may refuse it)
            self.db.table("meta").insert(
                {"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key", replace=True
            )

    def _add_chain_columns(self) -> None:
        """Schema 1 -> 2: add the chain columns; the rows already there stay unsigned (NULL)."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")  # another process may be upgrading the same file
            present = {str(row[1]) for row in self.conn.execute("PRAGMA table_info(records)")}
            missing = [name for name in CHAIN_COLUMNS if name not in present]
            for name in missing:
                self.conn.execute(f"ALTER TABLE records ADD COLUMN {name} TEXT")
        if missing:
            log.info("evidence database upgraded: chain columns added; earlier records stay unsigned")

    def _add_eviction_column(self) -> None:
        """Schema 2 -> 3: ``evicted_utc`` and the index of uploaded, not yet evicted outbox rows."""
        present = {str(row[1]) for row in self.conn.execute("PRAGMA table_info(records)")}
        if "evicted_utc" not in present:
            with self.conn:
                self.conn.execute("BEGIN IMMEDIATE")
                present = {str(row[1]) for row in self.conn.execute("PRAGMA table_info(records)")}
                if "evicted_utc" not in present:
                    self.conn.execute("ALTER TABLE records ADD COLUMN evicted_utc TEXT")
        # Uploaded and not yet evicted: the retention finds its next rows here without walking the
        # unsent ones (a station offline for weeks may hold a million).
        self.conn.execute(
            "CREATE INDEX IF NOT EXISTS outbox_evictable ON outbox(seq) WHERE sent_utc IS NOT NULL AND payload != x''"
        )

    def add(self, record: dict[str, Any], topic: str) -> dict[str, Any]:
        with self.conn:  # one transaction: a record never exists without its outbox entry
            self.conn.execute("BEGIN IMMEDIATE")
            last = self.conn.execute(
                "SELECT seq, chain_hash FROM records ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq = 1 if last is None else int(last[0]) + 1
            prev = self._prev(last)
            # The chain belongs to the store: a "chain" the caller passes (a retried record) is replaced.
            record = {key: value for key, value in record.items() if key != "chain"}
            record["seq"] = seq
            text = canonical_json(record)
            try:
                entry = seal(text.encode("utf-8"), prev, self.signer, self.hash_alg)
            except Exception as exc:  # a pluggable signer (HSM, card) may fail in its own way
                raise EvidenceError(f"cannot sign record seq {seq}: {exc}; check the signing key") from exc
            self.db.table("records").insert(
                {
                    "seq": seq,
                    **_columns(record),
                    "record_json": text,
                    "record_hash": entry.record_hash,
                    "prev_chain_hash": entry.prev,
                    "chain_hash": entry.chain_hash,
                    "signature": entry.sig,
                    "sig_alg": entry.alg,
                    "hash_alg": entry.hash_alg,
                    "key_id": entry.key_id,
                }
            )
            published = {**record, "chain": entry.as_dict()}
            self.db.table("outbox").insert(
                {
                    "seq": seq,
                    "record_id": record["id"],
                    "topic": topic,
                    "payload": canonical_json(published).encode("utf-8"),
                    "queued_utc": _utc_now(),
                    "attempts": 0,
                }
            )
        return published

    def _prev(self, last: tuple[Any, ...] | None) -> bytes:
        """The chain hash the next record links to: the newest row's, or genesis."""
        if last is None or last[1] is None:  # empty, or the newest row predates chaining
            return self._genesis
        try:
            prev = bytes.fromhex(str(last[1]))
        except ValueError:
            prev = b""
        if len(prev) != len(self._genesis):
            # Someone edited the newest row.  Keep storing evidence (the lane must not stop); the
            # break shows in `edge evidence verify` at the next seq.
            log.error("chain_hash of seq %s is damaged; the chain restarts from genesis", last[0])
            return self._genesis
        return prev

    def pending(self, limit: int, after_seq: int = 0) -> list[OutboxEntry]:
        rows = self.conn.execute(
            "SELECT seq, record_id, topic, payload, attempts FROM outbox WHERE sent_utc IS NULL AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (after_seq, limit),
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

    def usage(self) -> dict[str, int]:
        """Bytes of the database's live pages (free pages excluded: SQLite reuses them), the file's
        size, and the unsent rows (through the partial index)."""
        page_size = int(self.conn.execute("PRAGMA page_size").fetchone()[0])
        pages = int(self.conn.execute("PRAGMA page_count").fetchone()[0])
        free = int(self.conn.execute("PRAGMA freelist_count").fetchone()[0])
        unsent = int(self.conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_utc IS NULL").fetchone()[0])
        return {
            "live_bytes": (pages - free) * page_size,
            "file_bytes": pages * page_size,
            "free_pages": free,
            "unsent": unsent,
        }

    def evict_sent(self, limit: int) -> list[EvictedRecord]:
        """Turn up to ``limit`` of the oldest uploaded records into stubs, in one transaction.

        Only rows whose outbox entry has a PUBACK (``sent_utc``) qualify: unsent evidence is never
        touched.  The chain columns stay, so the chain still verifies over the stubs."""
        now = _utc_now()
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            rows = self.conn.execute(
                "SELECT o.seq, o.record_id FROM outbox AS o INDEXED BY outbox_evictable"
                " JOIN records AS r ON r.seq = o.seq"
                " WHERE o.sent_utc IS NOT NULL AND o.payload != x'' AND r.evicted_utc IS NULL"
                " ORDER BY o.seq LIMIT ?",
                (limit,),
            ).fetchall()
            seqs = [(int(row[0]),) for row in rows]
            # Delete and re-insert rather than UPDATE: SQLite frees the pages of deleted rows, while an
            # UPDATE that shrinks a row leaves its page allocated and mostly empty.
            kept = ("seq", "id", "site_id", "lane", "time_utc", "verdict", *CHAIN_COLUMNS)
            stubs = self._take(f"SELECT {', '.join(kept)} FROM records WHERE seq = ?", "records", seqs)
            self.conn.executemany(
                f"INSERT INTO records ({', '.join(kept)}, record_json, evicted_utc)"
                f" VALUES ({', '.join('?' * len(kept))}, ?, ?)",
                [(*stub, EVICTED_TEXT, now) for stub in stubs],
            )
            # The outbox row stays (it proves the PUBACK came) without its copy of the record.
            sent = ("seq", "record_id", "topic", "queued_utc", "attempts", "last_error", "sent_utc")
            rows_out = self._take(f"SELECT {', '.join(sent)} FROM outbox WHERE seq = ?", "outbox", seqs)
            self.conn.executemany(
                f"INSERT INTO outbox ({', '.join(sent)}, payload) VALUES ({', '.join('?' * len(sent))}, x'')",
                rows_out,
            )
        return [EvictedRecord(int(row[0]), str(row[1])) for row in rows]

    def evicted_after_upload(self, record_ids: list[str]) -> dict[str, bool]:
        """For each of ``record_ids`` the store holds: True for a stub evicted after its PUBACK (its files
        may go), False for anything else (a live record, or a stub whose outbox row shows no PUBACK,
        which only a hand edit makes).  Ids the store does not hold are left out."""
        if not record_ids:
            return {}
        rows = self.conn.execute(
            "SELECT r.id, r.evicted_utc IS NOT NULL AND o.sent_utc IS NOT NULL"
            " FROM records AS r LEFT JOIN outbox AS o ON o.seq = r.seq"
            f" WHERE r.id IN ({', '.join('?' * len(record_ids))})",
            record_ids,
        ).fetchall()
        return {str(row[0]): bool(row[1]) for row in rows}

    def _take(self, select: str, table: str, seqs: list[tuple[int]]) -> list[tuple[Any, ...]]:
        """Read the rows ``select`` names for each seq, then delete them (inside the caller's transaction)."""
        taken = [tuple(self.conn.execute(select, seq).fetchone()) for seq in seqs]
        self.conn.executemany(f"DELETE FROM {table} WHERE seq = ?", seqs)
        return taken

    def reclaim(self, max_pages: int) -> int:
        """Hand up to ``max_pages`` free pages back to the file system (databases created with
        auto_vacuum=INCREMENTAL; others reuse free pages for new records).  Returns the pages freed."""
        if int(self.conn.execute("PRAGMA auto_vacuum").fetchone()[0]) != 2:
            return 0
        before = int(self.conn.execute("PRAGMA freelist_count").fetchone()[0])
        # executescript runs the pragma to completion; execute() would step it once (one page).
        self.conn.executescript(f"PRAGMA incremental_vacuum({int(max_pages)});")
        after = int(self.conn.execute("PRAGMA freelist_count").fetchone()[0])
        return before - after

    def counts(self) -> dict[str, int]:
        records = self.conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        pending = self.conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_utc IS NULL").fetchone()[0]
        return {"records": int(records), "outbox_pending": int(pending)}

    def holds(self, record_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM records WHERE id = ?", (record_id,)).fetchone() is not None

    def record(self, record_id: str) -> dict[str, Any] | None:
        stored = _read_stored(self.conn, record_id)
        if stored is None or stored.evicted_utc is not None:
            return None
        record = dict(json.loads(stored.record_text))
        if stored.chain is not None:
            record["chain"] = stored.chain.as_dict()
        return record


class EvidenceStore:
    """Async front of the evidence database; every call runs in the store's own thread.

    ``signer`` signs the chain; None loads (or creates) the key pair beside the database,
    ``<db>.ed25519.key`` (mode 0600) and ``<db>.ed25519.pub``.
    """

    def __init__(
        self, path: str | Path, signer: Signer | None = None, *, hash_alg: str = DEFAULT_HASH_ALG
    ) -> None:
        hash_algorithm(hash_alg)  # an unknown name fails here, not at the first vehicle
        self.path = Path(path)
        self.hash_alg = hash_alg
        self._signer = signer
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence")
        self._db: _Db | None = None
        self.write_errors = 0
        self.last_error = ""

    async def _call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn`` in the store's thread; any database failure comes back as EvidenceError."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except EvidenceError:
            raise
        except sqlite3.OperationalError as exc:
            hint = (
                "the disk is full: free space on the evidence volume (old logs, exported packages)"
                if "full" in str(exc)
                else "check the disk and the file permissions"
            )
            raise EvidenceError(f"evidence database {self.path}: {exc}; {hint}") from exc
        except (sqlite3.Error, ValueError) as exc:
            raise EvidenceError(f"evidence database {self.path}: {exc}") from exc

    async def open(self) -> None:
        try:
            self._db = await self._call(_Db, self.path, self._signer, self.hash_alg)
        except (sqlite3.Error, OSError) as exc:
            raise EvidenceError(
                f"cannot open the evidence database {self.path}: {exc}; check that its folder exists, is"
                " writable by the service user, and that the disk is not full"
            ) from exc

    @property
    def key_id(self) -> str | None:
        """The signing key's id once open (publish it to the central system with the public key)."""
        return None if self._db is None else self._db.signer.key_id

    def _require(self) -> _Db:
        if self._db is None:
            raise EvidenceError("evidence store used before open()")
        return self._db

    async def add(self, record: dict[str, Any], topic: str) -> dict[str, Any]:
        """Store, chain and sign a record and queue it for upload; returns the published form: the
        record with its site sequence number and its ``chain`` object."""
        db = self._require()
        try:
            stored: dict[str, Any] = await self._call(db.add, record, topic)
        except EvidenceError as exc:
            self.write_errors += 1
            self.last_error = str(exc)
            raise
        return stored

    async def pending(self, limit: int, after_seq: int = 0) -> list[OutboxEntry]:
        """The oldest unsent rows with a seq above ``after_seq``, at most ``limit``, in seq order."""
        result: list[OutboxEntry] = await self._call(self._require().pending, limit, after_seq)
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

    async def holds(self, record_id: str) -> bool:
        """Whether the store has a row (record or stub) with this id."""
        result: bool = await self._call(self._require().holds, record_id)
        return result

    async def record(self, record_id: str) -> dict[str, Any] | None:
        """A stored record with its ``chain`` object (absent for records from before chaining)."""
        result: dict[str, Any] | None = await self._call(self._require().record, record_id)
        return result

    async def usage(self) -> dict[str, int]:
        """Live and file bytes of the database and the unsent count (see :mod:`edge.evidence.retention`)."""
        result: dict[str, int] = await self._call(self._require().usage)
        return result

    async def evict_sent(self, limit: int) -> list[EvictedRecord]:
        """Evict up to ``limit`` of the oldest uploaded records to chain-only stubs; never unsent ones."""
        result: list[EvictedRecord] = await self._call(self._require().evict_sent, limit)
        return result

    async def evicted_after_upload(self, record_ids: list[str]) -> dict[str, bool]:
        """Which of ``record_ids`` are stubs evicted after upload (True) or held otherwise (False); ids the
        store does not hold are left out.  One query: pass a few hundred ids at a time."""
        result: dict[str, bool] = await self._call(self._require().evicted_after_upload, list(record_ids))
        return result

    async def reclaim(self, max_pages: int) -> int:
        """Return up to ``max_pages`` free pages to the file system; the number returned."""
        result: int = await self._call(self._require().reclaim, max_pages)
        return result

    async def close(self) -> None:
        db = self._db
        if db is not None:
            await self._call(db.conn.close)
            self._db = None
        self._executor.shutdown(wait=True)


# -- reading and verifying (offline: the CLI, a technician, a court expert) --------------------------


@dataclass(frozen=True)
class StoredRecord:
    """A record as stored: the exact text that was hashed and its chain entry (None before chaining).

    ``evicted_utc`` is set on a retention stub: its text is gone (uploaded, then evicted within
    ``evidence.budget_mb``); only the chain entry is left."""

    seq: int
    record_id: str
    record_text: str
    chain: ChainEntry | None
    evicted_utc: str | None = None


def _open_read_only(db_path: Path) -> sqlite3.Connection:
    if not db_path.is_file():
        raise EvidenceError(f"{db_path}: no such evidence database; check the path (or --config)")
    try:
        conn = sqlite3.connect(f"file:{quote(str(db_path.resolve()))}?mode=ro", uri=True)
        conn.execute("SELECT 1 FROM records LIMIT 1")
    except sqlite3.Error as exc:
        raise EvidenceError(f"{db_path}: not a readable evidence database ({exc})") from exc
    return conn


def _chain_columns_present(conn: sqlite3.Connection) -> bool:
    present = {str(row[1]) for row in conn.execute("PRAGMA table_info(records)")}
    return all(name in present for name in CHAIN_COLUMNS)


def _evicted_column(conn: sqlite3.Connection) -> str:
    """``evicted_utc``, or NULL for a database from before retention (schema < 3)."""
    present = {str(row[1]) for row in conn.execute("PRAGMA table_info(records)")}
    return "evicted_utc" if "evicted_utc" in present else "NULL"


def _entry(values: tuple[Any, ...]) -> ChainEntry | None:
    """A chain entry from the columns in CHAIN_COLUMNS order; None when the row is unsigned."""
    record_h, prev, chain_h, sig, sig_alg, hash_alg, key_id = values
    if all(value is None for value in values):
        return None
    return ChainEntry(
        alg=str(sig_alg or ""),
        hash_alg=str(hash_alg or ""),
        record_hash=str(record_h or ""),
        prev=str(prev or ""),
        chain_hash=str(chain_h or ""),
        sig=str(sig or ""),
        key_id=str(key_id or ""),
    )


def _read_stored(conn: sqlite3.Connection, record_id: str) -> StoredRecord | None:
    chained = _chain_columns_present(conn)
    columns = ", ".join(CHAIN_COLUMNS) if chained else ", ".join(["NULL"] * len(CHAIN_COLUMNS))
    row = conn.execute(
        f"SELECT seq, id, record_json, {_evicted_column(conn)}, {columns} FROM records WHERE id = ?",
        (record_id,),
    ).fetchone()
    if row is None:
        return None
    evicted = None if row[3] is None else str(row[3])
    return StoredRecord(int(row[0]), str(row[1]), str(row[2]), _entry(tuple(row[4:])), evicted)


def read_stored_record(db_path: str | Path, record_id: str) -> StoredRecord | None:
    """Read one record (read-only) by its id; None when there is no such record."""
    conn = _open_read_only(Path(db_path))
    try:
        return _read_stored(conn, record_id)
    finally:
        conn.close()


#: What :func:`search_records` returns for each record besides its JSON (the searchable columns).
SUMMARY_COLUMNS = ("seq", "id", "lane", "time_utc", "verdict", "plate", "axle_count", "gross_kg", "limit_kg")


def search_records(
    db_path: str | Path,
    *,
    from_utc: str | None = None,
    to_utc: str | None = None,
    plate: str | None = None,
    verdict: str | None = None,
    after_seq: int = 0,
    limit: int = 100,
    full: bool = False,
) -> list[dict[str, Any]]:
    """Records in seq order after ``after_seq`` (a cursor: stable while new records arrive), read-only.

    ``from_utc`` (inclusive) and ``to_utc`` (exclusive) compare with the stored ``time_utc`` text, so give
    them in its form, ``2026-11-22T08:30:00.000Z``.  Each row is the searchable columns; ``full`` adds the
    stored record (``record``, None for a retention stub) and its chain entry (``chain``); every row
    has ``evicted_utc`` (None unless the retention evicted the record's content after upload)."""
    where = ["seq > ?"]
    params: list[Any] = [after_seq]
    for column, op, value in (
        ("time_utc", ">=", from_utc),
        ("time_utc", "<", to_utc),
        ("plate", "=", plate),
        ("verdict", "=", verdict),
    ):
        if value is not None:
            where.append(f"{column} {op} ?")
            params.append(value)
    conn = _open_read_only(Path(db_path))
    try:
        chained = _chain_columns_present(conn)
        columns = ", ".join(CHAIN_COLUMNS) if chained else ", ".join(["NULL"] * len(CHAIN_COLUMNS))
        rows = conn.execute(
            f"SELECT {', '.join(SUMMARY_COLUMNS)}, {_evicted_column(conn)}, record_json, {columns} FROM records"
            f" WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",
            (*params, limit),
        ).fetchall()
    except sqlite3.Error as exc:
        raise EvidenceError(f"{db_path}: cannot read the records ({exc})") from exc
    finally:
        conn.close()
    found = []
    width = len(SUMMARY_COLUMNS)
    for row in rows:
        summary = dict(zip(SUMMARY_COLUMNS, row[:width], strict=True))
        summary["evicted_utc"] = row[width]
        if full:
            summary["record"] = None if row[width] is not None else json.loads(row[width + 1])
            entry = _entry(tuple(row[width + 2 :]))
            summary["chain"] = None if entry is None else entry.as_dict()
        found.append(summary)
    return found


def database_summary(db_path: str | Path) -> dict[str, Any]:
    """Record count, the newest seq and chain hash, and the outbox backlog (read-only): what a central
    system compares with what it received to find gaps."""
    conn = _open_read_only(Path(db_path))
    try:
        count, last_seq = conn.execute("SELECT COUNT(*), MAX(seq) FROM records").fetchone()
        head = None
        if last_seq is not None and _chain_columns_present(conn):
            head = conn.execute("SELECT chain_hash FROM records WHERE seq = ?", (last_seq,)).fetchone()[0]
        pending, oldest = conn.execute(
            "SELECT COUNT(*), MIN(seq) FROM outbox WHERE sent_utc IS NULL"
        ).fetchone()
    except sqlite3.Error as exc:
        raise EvidenceError(f"{db_path}: cannot read the records ({exc})") from exc
    finally:
        conn.close()
    return {
        "records": int(count),
        "last_seq": last_seq,
        "last_chain_hash": head,
        "outbox_pending": int(pending),
        "oldest_unsent_seq": oldest,
    }


#: The searchable columns ``recent_records`` returns, in order.
RECENT_COLUMNS = ("seq", "id", "time_utc", "plate", "verdict", "axle_count", "gross_kg", "limit_kg")


def recent_records(
    db_path: str | Path, after_seq: int | None = None, limit: int = 10
) -> list[dict[str, Any]]:
    """Records in seq order (read-only, from the columns: cheap on a large database): the newest
    ``limit`` when ``after_seq`` is None, else the first ``limit`` after it."""
    conn = _open_read_only(Path(db_path))
    try:
        columns = ", ".join(RECENT_COLUMNS)
        if after_seq is None:
            rows = conn.execute(
                f"SELECT {columns} FROM records ORDER BY seq DESC LIMIT ?", (limit,)
            ).fetchall()
            rows.reverse()
        else:
            rows = conn.execute(
                f"SELECT {columns} FROM records WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)
            ).fetchall()
    except sqlite3.Error as exc:
        raise EvidenceError(f"{db_path}: cannot read the records ({exc})") from exc
    finally:
        conn.close()
    return [dict(zip(RECENT_COLUMNS, row, strict=True)) for row in rows]


def outbox_backlog(db_path: str | Path) -> dict[str, Any]:
    """Unsent rows and when the oldest was queued (read-only, through the partial index)."""
    conn = _open_read_only(Path(db_path))
    try:
        pending, oldest = conn.execute(
            "SELECT COUNT(*), MIN(queued_utc) FROM outbox WHERE sent_utc IS NULL"
        ).fetchone()
    except sqlite3.Error as exc:
        raise EvidenceError(f"{db_path}: cannot read the outbox ({exc})") from exc
    finally:
        conn.close()
    return {"unsent": int(pending), "oldest_unsent_queued_utc": oldest}


def station_verifier(db_path: str | Path, public_key_pem: bytes | None = None) -> tuple[Verifier | None, str]:
    """The key to check a database's signatures with, and where it came from: the given PEM, else the
    public key file beside the database, else the one derived from the private key file; else None."""
    db_path = Path(db_path)
    if public_key_pem is not None:
        return load_verifier(public_key_pem, None), "given"
    key_file, pub_file = key_paths(db_path, DEFAULT_SIG_ALG)
    if pub_file.is_file():
        return load_verifier(pub_file.read_bytes(), DEFAULT_SIG_ALG), f"from {pub_file}"
    if key_file.is_file():
        signer = load_signer(key_file.read_bytes(), DEFAULT_SIG_ALG)
        return load_verifier(signer.public_key_pem(), signer.alg), f"derived from {key_file}"
    return None, ""


def verify_database(
    db_path: str | Path,
    public_key_pem: bytes | None = None,
    *,
    max_problems: int = 100,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Walk the chain in seq order and report every problem found (listed up to ``max_problems``).

    ``public_key_pem`` is the trusted key; None takes the public key beside the database.  Rows from
    before chaining are counted as unsigned, not as problems.  Raises :class:`EvidenceError` when the
    database cannot be read or chained rows exist and no key is found.
    """
    db_path = Path(db_path)
    report = VerifyReport(source=str(db_path), max_problems=max_problems)
    conn = _open_read_only(db_path)
    try:
        chained = _chain_columns_present(conn)
        has_chain = (
            chained and conn.execute("SELECT 1 FROM records WHERE chain_hash IS NOT NULL LIMIT 1").fetchone()
        )
        verifier, key_source = station_verifier(db_path, public_key_pem)
        if has_chain and verifier is None:
            raise EvidenceError(
                f"{db_path}: no public key to check the signatures: none was given and"
                f" {key_paths(db_path)[1]} does not exist; pass the station's public key (--public-key)"
            )
        if verifier is not None:
            report.key_id, report.key_source = verifier.key_id, key_source
        if public_key_pem is None and verifier is not None:
            report.notes.append(
                "the public key was read from beside the database: this detects records edited or"
                " deleted with SQL, not someone who also replaced the key; pass the key registered"
                " with the central system (--public-key) for that"
            )
        columns = ", ".join(CHAIN_COLUMNS) if chained else ", ".join(["NULL"] * len(CHAIN_COLUMNS))
        evicted = "NULL" if _evicted_column(conn) == "NULL" else "r.evicted_utc"
        rows: Iterator[Any] = conn.execute(
            "SELECT r.seq, r.id, r.site_id, r.lane, r.time_utc, r.verdict, r.axle_count, r.gross_kg,"
            f" r.limit_kg, r.plate, r.record_json, {columns}, {evicted}, o.sent_utc"
            " FROM records AS r LEFT JOIN outbox AS o ON o.seq = r.seq ORDER BY r.seq"
        )
        if progress is not None:  # (rows walked, rows in all), every 500 rows and at the end
            rows = _reporting(rows, conn.execute("SELECT COUNT(*) FROM records").fetchone()[0], progress)
        _walk(rows, verifier, report)
    except sqlite3.Error as exc:
        raise EvidenceError(f"{db_path}: cannot read the records ({exc})") from exc
    finally:
        conn.close()
    report.notes.append(
        "the chain cannot show that the newest records were deleted: compare the last seq and chain_hash"
        " with what the central system received"
    )
    return report


_COLUMN_NAMES = (
    "id",
    "site_id",
    "lane",
    "time_utc",
    "verdict",
    "axle_count",
    "gross_kg",
    "limit_kg",
    "plate",
)


def _reporting(rows: Any, total: int, progress: Callable[[int, int], None]) -> Iterator[Any]:
    done = 0
    for row in rows:
        yield row
        done += 1
        if done % 500 == 0:
            progress(done, total)
    progress(done, total)


def _walk(rows: Any, verifier: Verifier | None, report: VerifyReport) -> None:
    """Per row, in this order: the entry itself (hashes, signature), its link to the row before,
    then the searchable columns against the signed JSON."""
    prev_seq: int | None = None
    prev_chain: str | None = None
    chain_started = False
    width = 11 + len(CHAIN_COLUMNS)
    for row in rows:
        seq, text, entry = int(row[0]), str(row[10]), _entry(tuple(row[11:width]))
        evicted_utc, sent_utc = row[width], row[width + 1]
        # A stub: the text was evicted after upload; its entry (hashes, signature, link) is still checked.
        stub = evicted_utc is not None and text == EVICTED_TEXT  # an unsigned stub stays "unsigned"
        before = report.problem_count
        report.records += 1
        if report.first_seq is None:
            report.first_seq = seq
        report.last_seq = seq
        if entry is not None:
            for kind, detail in check_entry(None if stub else text.encode("utf-8"), entry, verifier):
                report.add(seq, kind, detail)
        if stub and sent_utc is None:
            report.add(
                seq,
                Problem.EVICTED_UNSENT,
                "record content deleted although its outbox row shows no PUBACK: evidence removed before"
                " upload (the retention never does this)",
            )
        gap = prev_seq is not None and seq != prev_seq + 1
        if prev_seq is not None and gap:
            missing = f"seq {prev_seq + 1}" if seq == prev_seq + 2 else f"seq {prev_seq + 1}..{seq - 1}"
            report.add(seq, Problem.ROWS_MISSING, f"row deleted: {missing} missing before this record")
        if entry is None:
            if chain_started:
                report.add(
                    seq, Problem.CHAIN_MISSING, "chain fields emptied on a record stored after chaining began"
                )
        elif not chain_started:
            try:
                start = genesis(entry.hash_alg).hex()
            except EvidenceError:
                start = entry.prev  # unknown hash: check_entry has said so
            if entry.prev != start:
                report.add(
                    seq,
                    Problem.NOT_GENESIS,
                    "row deleted: the first chained record does not link to the genesis (zeros), so"
                    " earlier chained records were removed",
                )
        elif not gap and entry.prev != prev_chain:
            report.add(
                seq,
                Problem.PREV_MISMATCH,
                f"row deleted or replaced: prev_chain_hash does not match the chain_hash of seq {seq - 1}",
            )
        if not stub:
            _check_columns(seq, dict(zip(_COLUMN_NAMES, row[1:10], strict=True)), text, report)
        prev_seq = seq
        if entry is None:
            if not chain_started:
                report.unsigned += 1
            continue
        chain_started = True
        prev_chain = entry.chain_hash
        if report.problem_count == before:
            if stub:
                report.evicted += 1
            else:
                report.verified += 1
    report.head_chain_hash = prev_chain


def _check_columns(seq: int, columns: dict[str, Any], text: str, report: VerifyReport) -> None:
    """The searchable columns and the row's seq must say what the hashed JSON says."""
    try:
        record = json.loads(text)
        expected = _columns(record)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        report.add(seq, Problem.MALFORMED, f"record_json is not a valid record ({type(exc).__name__}: {exc})")
        return
    if record.get("seq") != seq:
        report.add(
            seq, Problem.COLUMN_EDITED, f"the row's seq is {seq} but its record says {record.get('seq')}"
        )
    changed = [name for name in _COLUMN_NAMES if columns[name] != expected[name]]
    if changed:
        report.add(
            seq,
            Problem.COLUMN_EDITED,
            f"column(s) {', '.join(changed)} edited: they differ from the signed record_json",
        )
