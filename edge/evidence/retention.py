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

The files go after the stubs are committed, so a stop in between (power cut, kill -9) leaves files of
records that are already stubs.  The first pass after a start sweeps them up
(:meth:`Retention.sweep_orphans`): it lists the attachment folders and raw captures, asks the store which
of their records are stubs evicted after upload, and deletes those files only.  Files of a live record
are never touched, nor files that match no record in the store (a vehicle's images are written before
its record); those are left alone, and named in a warning when they are older than an hour.
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

__all__ = ["OrphanSweep", "Retention", "RetentionPass"]

log = logging.getLogger(__name__)

MB = 1_000_000
# The capture writer's names (edge/wim/capture.py): <HHMMSS>-<vehicle>-<safe record id>[-<6 hex>].wlcap
_CAPTURE_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")
_CAPTURE_STEM = re.compile(r"^\d{6}-\d+-(?P<rest>.+)$")
_CAPTURE_SUFFIX = re.compile(r"-[0-9a-f]{6}$")
# A name part only one record id can have written: safe characters only, and short of the 64-character cut.
_CAPTURE_ONE_ID = re.compile(r"^[A-Za-z0-9-]{1,63}$")
_SWEEP_BATCH = 500  # record ids per store query in the start-up sweep
_SWEEP_NAMED = 5  # files named in the warning about files of unknown records


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
    orphan_files_deleted: int  # by the start-up sweep (first pass only): see OrphanSweep
    pages_reclaimed: int
    alarm: str | None
    duration_s: float


@dataclass(frozen=True)
class OrphanSweep:
    """What the start-up sweep did: files of records already evicted, left by a stop between an
    eviction's commit and the deletion of its files, are deleted; files of no record are kept."""

    folders_checked: int  # attachment folders found
    captures_checked: int  # raw captures found
    folders_deleted: int  # attachment folders of records evicted after upload
    captures_deleted: int  # raw captures of records evicted after upload
    files_deleted: int  # the files in those folders, and the captures
    bytes_freed: int
    unknown_kept: int  # folders and captures of records the store does not hold: left alone
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


def _capture_ids(stem: str) -> tuple[str, ...]:
    """The record ids a capture's name can stand for, only where the name ties it to one id: the writer
    replaces unsafe characters and cuts the id at 64 characters, so other names could be any of several."""
    match = _CAPTURE_STEM.match(stem)
    if match is None:
        return ()
    rest = match["rest"]
    ids = [rest]
    if _CAPTURE_SUFFIX.search(rest):  # "-<6 hex>": the writer's tie-breaker, or the id's own ending
        ids.append(rest[:-7])
    return tuple(record_id for record_id in ids if _CAPTURE_ONE_ID.match(record_id))


def _sweep_listing(
    attachments_dir: Path, capture_dir: Path | None
) -> tuple[list[tuple[str, Path]], list[tuple[tuple[str, ...], Path]]]:
    """The attachment folders (record id, folder) and raw captures (ids it may belong to, file) on disk."""
    folders: list[tuple[str, Path]] = []
    captures: list[tuple[tuple[str, ...], Path]] = []
    try:
        with os.scandir(attachments_dir) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append((entry.name, Path(entry.path)))
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("retention: cannot list %s for files of evicted records: %s", attachments_dir, exc)
    if capture_dir is not None and capture_dir.is_dir():
        captures = [(_capture_ids(path.stem), path) for path in capture_dir.glob("*/*.wlcap")]
    return folders, captures


def _older_than(path: Path, age_s: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > age_s
    except OSError:
        return False


def _delete_folder(folder: Path) -> tuple[int, int] | None:
    """Delete an attachments folder: (files, bytes) it held, or None when it could not be deleted."""
    size = _tree_bytes(folder)
    count = sum(len(names) for _, _, names in os.walk(folder))
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        return 0, 0
    except OSError as exc:
        log.warning("retention: cannot delete %s: %s", folder, exc)
        return None
    return count, size


def _delete_capture(path: Path) -> int | None:
    """Delete a raw capture: the bytes it held, or None when it was already gone or could not be deleted."""
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("retention: cannot delete capture %s: %s", path, exc)
        return None
    return size


class Retention:
    """Evicts uploaded evidence to stay within ``budget_bytes``; see the module docstring.

    ``capture_dir`` (``wim.capture_dir``) is where an evicted record's raw capture is deleted too.
    ``orphan_warn_age_s``: files of no record older than this are named in a warning by the start-up sweep."""

    def __init__(
        self,
        store: EvidenceStore,
        budget_bytes: int,
        *,
        interval_s: float = 60.0,
        capture_dir: str | Path | None = None,
        batch: int = 500,
        reclaim_pages: int = 2048,
        orphan_warn_age_s: float = 3600.0,
    ) -> None:
        if budget_bytes <= 0:
            raise ValueError("budget_bytes must be > 0")
        self.store = store
        self.budget_bytes = budget_bytes
        self.interval_s = interval_s
        self.capture_dir = Path(capture_dir) if capture_dir else None
        self.batch = batch
        self.reclaim_pages = reclaim_pages
        self.orphan_warn_age_s = orphan_warn_age_s
        self.attachments_dir = store.path.parent / "attachments"
        self.last: RetentionPass | None = None
        self.sweep: OrphanSweep | None = None  # None until the first pass has swept
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
        orphan_files = 0
        if self.sweep is None:  # once per start, before measuring: the leftovers count against the budget
            self.sweep = await self.sweep_orphans()
            orphan_files = self.sweep.files_deleted
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
            orphan_files_deleted=orphan_files,
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
        attachments freed).  Runs after the stubs are committed: files that a stop in between leaves
        behind are deleted by the sweep of the next start (:meth:`sweep_orphans`)."""
        files = freed = 0
        for record in batch:
            folder = self.attachments_dir / record.record_id
            if record.record_id and "/" not in record.record_id and folder.is_dir():
                deleted = _delete_folder(folder)
                if deleted is not None:
                    files += deleted[0]
                    freed += deleted[1]
            for path in captures.get(_CAPTURE_UNSAFE.sub("_", record.record_id)[:64], []):
                if _delete_capture(path) is not None:
                    files += 1
        return files, freed

    async def sweep_orphans(self) -> OrphanSweep:
        """Delete the attachment folders and raw captures of records already evicted after upload.

        Files of a live record, of a stub whose outbox row shows no PUBACK, and of a record the store does
        not hold are kept; the last are named in a warning when older than ``orphan_warn_age_s``.  The
        listing and the deleting run in a worker thread, the store is asked a few hundred ids at a time."""
        started = time.monotonic()
        folders, captures = await asyncio.to_thread(_sweep_listing, self.attachments_dir, self.capture_dir)
        ids = sorted({record_id for record_id, _ in folders} | {i for ids, _ in captures for i in ids})
        evicted: dict[str, bool] = {}
        for start in range(0, len(ids), _SWEEP_BATCH):
            evicted.update(await self.store.evicted_after_upload(ids[start : start + _SWEEP_BATCH]))
        doomed_folders = [folder for record_id, folder in folders if evicted.get(record_id) is True]
        doomed_captures: list[Path] = []
        unknown: list[Path] = [folder for record_id, folder in folders if record_id not in evicted]
        for record_ids, path in captures:
            states = [evicted[record_id] for record_id in record_ids if record_id in evicted]
            if not states:
                unknown.append(path)
            elif all(states):  # a live record that the name may also stand for keeps it
                doomed_captures.append(path)
        folders_deleted, captures_deleted, files, freed = await asyncio.to_thread(
            self._sweep_delete, doomed_folders, doomed_captures, unknown
        )
        sweep = OrphanSweep(
            folders_checked=len(folders),
            captures_checked=len(captures),
            folders_deleted=folders_deleted,
            captures_deleted=captures_deleted,
            files_deleted=files,
            bytes_freed=freed,
            unknown_kept=len(unknown),
            duration_s=round(time.monotonic() - started, 3),
        )
        log.info(
            "retention: start-up sweep checked %d attachment folder(s) and %d raw capture(s); deleted %d"
            " folder(s) and %d capture(s) (%d file(s), %.1f MB) of records evicted before a stop cut their"
            " deletion short; %d of no stored record kept",
            sweep.folders_checked,
            sweep.captures_checked,
            sweep.folders_deleted,
            sweep.captures_deleted,
            sweep.files_deleted,
            sweep.bytes_freed / MB,
            sweep.unknown_kept,
        )
        return sweep

    def _sweep_delete(
        self, folders: list[Path], captures: list[Path], unknown: list[Path]
    ) -> tuple[int, int, int, int]:
        """The sweep's disk work (worker thread): delete, then warn about old files of no stored record.
        Returns (folders deleted, captures deleted, files deleted, bytes freed)."""
        files = freed = folders_deleted = captures_deleted = 0
        for folder in folders:
            deleted = _delete_folder(folder)
            if deleted is not None:
                folders_deleted += 1
                files += deleted[0]
                freed += deleted[1]
        for path in captures:
            size = _delete_capture(path)
            if size is not None:
                captures_deleted += 1
                files += 1
                freed += size
        old = sorted(str(path) for path in unknown if _older_than(path, self.orphan_warn_age_s))
        if old:
            more = f" and {len(old) - _SWEEP_NAMED} more" if len(old) > _SWEEP_NAMED else ""
            log.warning(
                "retention: %d attachment folder(s) or raw capture(s) older than %g h match no record in"
                " the evidence database (%s%s); they are left alone, and attachments count against"
                " evidence.budget_mb; most likely a vehicle's files whose record never reached the disk"
                " (the daemon stopped first): check whether they are needed as evidence, then move or"
                " delete them by hand",
                len(old),
                self.orphan_warn_age_s / 3600,
                ", ".join(old[:_SWEEP_NAMED]),
                more,
            )
        return folders_deleted, captures_deleted, files, freed

    def health(self) -> dict[str, Any]:
        last = self.last
        return {
            "budget_mb": round(self.budget_bytes / MB, 1),
            "usage_mb": None if last is None else round(last.usage_bytes / MB, 1),
            "unsent_records": None if last is None else last.unsent_records,
            "evicted_total": self.evicted_total,
            "passes": self.passes,
            "orphan_sweep": None if self.sweep is None else asdict(self.sweep),
            "alarm": self.alarm,
            "last_error": self.last_error or None,
            "last_pass": None if last is None else asdict(last),
        }
