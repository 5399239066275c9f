"""Retention: keep the evidence database and its attachments within ``evidence.budget_mb``.

Only uploaded evidence is evicted, oldest first: a record whose outbox row has its PUBACK becomes a
*stub*.  The stub keeps ``seq``, ``id``, ``time_utc``, ``verdict`` and the whole chain entry (hashes and
signature), so ``edge evidence verify`` still walks an unbroken chain and reports stubs as evicted, not
as tampering.  The record's JSON, its outbox copy, its attachments (``<db folder>/attachments/<id>/``)
and its raw capture are deleted.  Evidence not yet uploaded is never deleted: when it alone keeps the
store over budget the retention raises an alarm (health, heartbeat, log) and leaves it alone.

What counts against the budget: the database's live pages (SQLite reuses free pages for new records,
so they are not counted) and the attachment files.  Raw captures have their own budget
(``wim.capture_budget_mb``).  Databases created by this version use ``auto_vacuum=INCREMENTAL``, and
each pass hands the freed pages back to the file system in small steps, never with a blocking VACUUM.

Each eviction step is one short transaction in the store's own thread, so a vehicle record waiting to
be written runs between two steps; the lane's verdict never waits for the disk anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.evidence.chain import EvidenceError
from edge.evidence.store import EvictedRecord, EvidenceStore

if TYPE_CHECKING:
    from edge.config import Config

__all__ = ["Retention", "RetentionPass"]

log = logging.getLogger(__name__)

MB = 1_000_000
# The capture writer's names (edge/wim/capture.py): <HHMMSS>-<vehicle>-<safe record id>[-<6 hex>].wlcap
_CAPTURE_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")
_CAPTURE_STEM = re.compile(r"^\d{6}-\d+-(?P<rest>.+)$")
_CAPTURE_SUFFIX = re.compile(r"-[0-9a-f]{6}$")


@dataclass(frozen=True)
class RetentionPass:
    """What one pass found and did."""

    budget_bytes: int
    usage_bytes: int  # after the pass: live database pages + attachment files
    database_bytes: int
    attachment_bytes: int
    unsent_records: int
    evicted: int
    files_deleted: int
    pages_reclaimed: int
    alarm: str | None
    duration_s: float


def _tree_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


def _capture_index(capture_dir: Path) -> dict[str, list[Path]]:
    """Raw captures by the record-id part of their name (one listing per pass, not one per record)."""
    index: dict[str, list[Path]] = {}
    if not capture_dir.is_dir():
        return index
    for path in capture_dir.glob("*/*.wlcap"):
        match = _CAPTURE_STEM.match(path.stem)
        if match is None:
            continue
        rest = match["rest"]
        index.setdefault(rest, []).append(path)
        if _CAPTURE_SUFFIX.search(rest):
            index.setdefault(rest[:-7], []).append(path)
    return index


class Retention:
    """Evicts uploaded evidence to stay within ``budget_bytes``; see the module docstring.

    ``capture_dir`` (``wim.capture_dir``) is where an evicted record's raw capture is deleted too."""

    def __init__(
        self,
        store: EvidenceStore,
        budget_bytes: int,
        *,
        interval_s: float = 60.0,
        capture_dir: str | Path | None = None,
        batch: int = 500,
        reclaim_pages: int = 2048,
    ) -> None:
        if budget_bytes <= 0:
            raise ValueError("budget_bytes must be > 0")
        self.store = store
        self.budget_bytes = budget_bytes
        self.interval_s = interval_s
        self.capture_dir = Path(capture_dir) if capture_dir else None
        self.batch = batch
        self.reclaim_pages = reclaim_pages
        self.attachments_dir = store.path.parent / "attachments"
        self.last: RetentionPass | None = None
        self.evicted_total = 0
        self.passes = 0
        self.last_error = ""

    @classmethod
    def from_config(cls, store: EvidenceStore, config: Config) -> Retention:
        """The retention the lane's ``[evidence]`` table asks for."""
        return cls(
            store,
            max(1, int(config.evidence.budget_mb * MB)),
            interval_s=config.evidence.retention_interval_s,
            capture_dir=config.wim.capture_dir or None,
        )

    @property
    def alarm(self) -> str | None:
        return None if self.last is None else self.last.alarm

    async def run(self, stop: asyncio.Event) -> None:
        """A pass every ``interval_s`` until ``stop``; a failing pass is logged and retried next time."""
        while not stop.is_set():
            try:
                await self.run_once()
            except EvidenceError as exc:
                if str(exc) != self.last_error:
                    log.error("retention: %s; retrying in %.0f s", exc, self.interval_s)
                self.last_error = str(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)

    async def _measure(self) -> tuple[int, int, int]:
        usage = await self.store.usage()
        attachments = await asyncio.to_thread(_tree_bytes, self.attachments_dir)
        return usage["live_bytes"], attachments, usage["unsent"]

    async def run_once(self) -> RetentionPass:
        """Evict uploaded records, oldest first, until the usage is within the budget or none is left."""
        started = time.monotonic()
        database, attachments, unsent = await self._measure()
        evicted = files = 0
        captures: dict[str, list[Path]] | None = None
        while database + attachments > self.budget_bytes:
            batch = await self.store.evict_sent(self.batch)
            if not batch:
                break
            evicted += len(batch)
            if captures is None and self.capture_dir is not None:
                captures = await asyncio.to_thread(_capture_index, self.capture_dir)
            deleted, freed = await asyncio.to_thread(self._delete_files, batch, captures or {})
            files += deleted
            attachments = max(0, attachments - freed)
            database = (await self.store.usage())["live_bytes"]
        reclaimed = 0
        while True:  # small steps: a record waiting to be written runs in between
            step = await self.store.reclaim(self.reclaim_pages)
            reclaimed += step
            if step < self.reclaim_pages:
                break
        if evicted:
            database, attachments, unsent = await self._measure()
        usage = database + attachments
        alarm = None
        if usage > self.budget_bytes:
            alarm = (
                f"evidence over budget: {usage / MB:.1f} MB used of evidence.budget_mb"
                f" {self.budget_bytes / MB:.1f} and nothing uploaded is left to evict; {unsent} record(s)"
                " are not uploaded yet and are never deleted: restore the broker connection, or raise"
                " evidence.budget_mb if the disk has room"
            )
        if alarm and self.alarm is None:
            log.error("retention: %s", alarm)
        elif self.alarm and alarm is None:
            log.info("retention: evidence back within budget (%.1f MB)", usage / MB)
        if evicted:
            log.info(
                "retention: evicted %d uploaded record(s) to chain stubs, %d file(s) deleted, %.1f of %.1f MB",
                evicted,
                files,
                usage / MB,
                self.budget_bytes / MB,
            )
        result = RetentionPass(
            budget_bytes=self.budget_bytes,
            usage_bytes=usage,
            database_bytes=database,
            attachment_bytes=attachments,
            unsent_records=unsent,
            evicted=evicted,
            files_deleted=files,
            pages_reclaimed=reclaimed,
            alarm=alarm,
            duration_s=round(time.monotonic() - started, 3),
        )
        self.last = result
        self.passes += 1
        self.evicted_total += evicted
        self.last_error = ""
        return result

    def _delete_files(self, batch: list[EvictedRecord], captures: dict[str, list[Path]]) -> tuple[int, int]:
        """Delete the attachments folder and raw capture of each evicted record: (files, bytes of
        attachments freed).  Runs after the stubs are committed: a crash in between leaves files that
        the next pass cannot tie to a live record; they stay counted until removed by hand."""
        files = freed = 0
        for record in batch:
            folder = self.attachments_dir / record.record_id
            if record.record_id and "/" not in record.record_id and folder.is_dir():
                size = _tree_bytes(folder)
                count = sum(len(names) for _, _, names in os.walk(folder))
                try:
                    shutil.rmtree(folder)
                except OSError as exc:
                    log.warning("retention: cannot delete %s: %s", folder, exc)
                else:
                    files += count
                    freed += size
            for path in captures.get(_CAPTURE_UNSAFE.sub("_", record.record_id)[:64], []):
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    log.warning("retention: cannot delete capture %s: %s", path, exc)
                    continue
                files += 1
        return files, freed

    def health(self) -> dict[str, Any]:
        last = self.last
        return {
            "budget_mb": round(self.budget_bytes / MB, 1),
            "usage_mb": None if last is None else round(last.usage_bytes / MB, 1),
            "unsent_records": None if last is None else last.unsent_records,
            "evicted_total": self.evicted_total,
            "passes": self.passes,
            "alarm": self.alarm,
            "last_error": self.last_error or None,
            "last_pass": None if last is None else asdict(last),
        }
