"""The disk-full spool: records the evidence database cannot take wait here, on disk, in order.

A small file beside the database (``<db>.spool``), allocated in full when the daemon starts
(``posix_fallocate``), so that writing into it needs no new blocks from a full file system.  Each
record is one JSON line written at the end of the used part and flushed with ``fdatasync`` before the
lane goes on: a power cut or ``kill -9`` after that loses nothing.  The unused part is NUL bytes; the
first NUL ends the spool.

Once the database takes writes again, the records are replayed into it in order (the oldest first) and
the used part is zeroed.  A crash during the replay replays again at the next start: records the
database already holds (same id) are skipped, so none is stored twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from edge.errors import EdgeError

__all__ = ["DEFAULT_SPOOL_BYTES", "Spool", "SpoolFull", "spool_path"]

log = logging.getLogger(__name__)

#: Room for about 2,000 records of 4 KB while the disk is full.
DEFAULT_SPOOL_BYTES = 8 * 1024 * 1024


class SpoolFull(EdgeError, OSError):
    """Raised when the spool has no room left for a record (nor could it grow)."""


def spool_path(database: str | Path) -> Path:
    db = Path(database)
    return db.with_name(db.name + ".spool")


class Spool:
    """Append-only, fsync'd JSON-lines file of preallocated size.  Used from one thread at a time."""

    def __init__(self, path: str | Path, size: int = DEFAULT_SPOOL_BYTES) -> None:
        self.path = Path(path)
        self.size = size
        self._fd: int | None = None
        self._end = 0  # offset of the first unused byte
        self._count = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Open (or make) the file, reserve its blocks, and find the records left from before."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            current = os.fstat(fd).st_size
            if current < self.size:
                try:
                    os.posix_fallocate(fd, 0, self.size)
                except OSError as exc:  # already full at start: keep what there is, say so
                    log.error(
                        "cannot reserve %d bytes for the disk-full spool %s (%s): free space on the"
                        " evidence volume",
                        self.size,
                        self.path,
                        exc,
                    )
            self._fd = fd
            self._end, self._count = self._scan()
        except BaseException:
            os.close(fd)
            raise
        if self._count:
            log.warning("%d records wait in the disk-full spool %s", self._count, self.path)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _require(self) -> int:
        if self._fd is None:
            raise RuntimeError("spool used before open()")
        return self._fd

    # -- reading -----------------------------------------------------------------------------------

    def _used(self) -> bytes:
        fd = self._require()
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        nul = data.find(b"\0")
        return data if nul < 0 else data[:nul]

    def _scan(self) -> tuple[int, int]:
        used = self._used()
        # A line cut short (a power cut during its write, never acknowledged) is not a record.
        complete = used[: used.rfind(b"\n") + 1]
        return len(complete), complete.count(b"\n")

    def records(self) -> list[dict[str, Any]]:
        """The spooled records, oldest first.  A line that does not decode is skipped with an error."""
        out: list[dict[str, Any]] = []
        for line in self._used()[: self._end].splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                log.error("a damaged line in the disk-full spool %s is skipped", self.path)
                continue
            if isinstance(value, dict):
                out.append(value)
        return out

    def __len__(self) -> int:
        return self._count

    # -- writing -----------------------------------------------------------------------------------

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably (it is on disk when this returns), or raise :class:`SpoolFull`."""
        fd = self._require()
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        if b"\0" in line:  # json.dumps escapes control characters; a NUL here would end the spool
            raise ValueError("a record line holds a NUL byte")
        try:
            written = os.pwrite(fd, line, self._end)  # past the reserve the file grows, if it can
            if written != len(line):
                raise OSError(f"short write ({written} of {len(line)} bytes)")
            os.fdatasync(fd)
        except OSError as exc:
            # Whatever part was written is not a record (no newline ends it before the first NUL).
            with contextlib.suppress(OSError):
                os.pwrite(fd, b"\0" * len(line), self._end)
            raise SpoolFull(f"disk-full spool {self.path}: {exc}") from exc
        self._end += len(line)
        self._count += 1

    def clear(self) -> None:
        """Forget every record (all replayed): zero the used part, keeping the blocks reserved."""
        fd = self._require()
        os.pwrite(fd, b"\0" * self._end, 0)
        os.fdatasync(fd)
        self._end = 0
        self._count = 0
