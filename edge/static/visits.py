"""A static weighbridge's visits: which truck is between its weighings, and every plate's tares.

A visit is one truck's stay at the site: its tare (two-pass), its gross, and each re-weighing after it
unloaded an overload.  Open visits and the tare history live in a small SQLite file beside the evidence
database, written before the barrier opens, so a daemon killed mid-visit carries on where it was: the
next weighing of the plate joins the same visit and links to its previous record.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["Visit", "VisitStore", "visits_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS visits (
    visit_id TEXT PRIMARY KEY,
    plate TEXT,
    card_id TEXT,
    opened_s REAL NOT NULL,
    closed INTEGER NOT NULL DEFAULT 0,
    tare_kg REAL,
    tare_source TEXT,
    last_record_id TEXT,
    last_pass TEXT,
    last_verdict TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS visits_open ON visits (plate, closed);
CREATE TABLE IF NOT EXISTS tares (
    plate TEXT NOT NULL,
    tare_kg REAL NOT NULL,
    at_s REAL NOT NULL,
    record_id TEXT
);
CREATE INDEX IF NOT EXISTS tares_plate ON tares (plate, at_s);
"""


def visits_path(database: str | Path) -> Path:
    """The visit file beside the evidence database."""
    db = Path(database)
    return db.with_name(db.stem + "-visits.sqlite")


@dataclass(frozen=True)
class Visit:
    visit_id: str
    plate: str | None
    card_id: str | None
    opened_s: float
    closed: bool = False
    tare_kg: float | None = None
    tare_source: str | None = None
    last_record_id: str | None = None
    last_pass: str | None = None  # tare, gross, single
    last_verdict: str | None = None
    attempts: int = 0  # weighings of the visit's current pass kind so far

    @classmethod
    def new(cls, plate: str | None, card_id: str | None) -> Visit:
        return cls(str(uuid.uuid4()), plate, card_id, time.time())

    def weighed(self, record_id: str, pass_kind: str, verdict: str, *, closed: bool) -> Visit:
        attempts = self.attempts + 1 if pass_kind == self.last_pass else 1
        return replace(
            self,
            last_record_id=record_id,
            last_pass=pass_kind,
            last_verdict=verdict,
            attempts=attempts,
            closed=closed,
        )


class VisitStore:
    """Blocking SQLite calls: the site runs them with ``asyncio.to_thread``.  Every write commits."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def open_visit(self, plate: str | None, max_age_s: float) -> Visit | None:
        """The plate's open visit younger than ``max_age_s``, if any (a plate-less truck has none)."""
        if not plate:
            return None
        row = self._db.execute(
            "SELECT * FROM visits WHERE plate = ? AND closed = 0 AND opened_s >= ?"
            " ORDER BY opened_s DESC LIMIT 1",
            (plate, time.time() - max_age_s),
        ).fetchone()
        return None if row is None else _visit(row)

    def get(self, visit_id: str) -> Visit | None:
        row = self._db.execute("SELECT * FROM visits WHERE visit_id = ?", (visit_id,)).fetchone()
        return None if row is None else _visit(row)

    def save(self, visit: Visit) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO visits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                visit.visit_id,
                visit.plate,
                visit.card_id,
                visit.opened_s,
                int(visit.closed),
                visit.tare_kg,
                visit.tare_source,
                visit.last_record_id,
                visit.last_pass,
                visit.last_verdict,
                visit.attempts,
            ),
        )

    def add_tare(self, plate: str, tare_kg: float, record_id: str) -> None:
        self._db.execute("INSERT INTO tares VALUES (?, ?, ?, ?)", (plate, tare_kg, time.time(), record_id))

    def tares(self, plate: str | None, limit: int = 20) -> list[float]:
        """The plate's latest weighed tares, newest first."""
        if not plate:
            return []
        rows = self._db.execute(
            "SELECT tare_kg FROM tares WHERE plate = ? ORDER BY at_s DESC LIMIT ?", (plate, limit)
        ).fetchall()
        return [float(r[0]) for r in rows]

    def stored_tare(self, plate: str | None) -> float | None:
        """The tare to use for a one-pass weighing: the median of the plate's last three weighed tares."""
        tares = self.tares(plate, 3)
        return statistics.median(tares) if tares else None


def _visit(row: tuple[object, ...]) -> Visit:
    (
        visit_id,
        plate,
        card_id,
        opened_s,
        closed,
        tare_kg,
        tare_source,
        last_record_id,
        last_pass,
        last_verdict,
        attempts,
    ) = row
    return Visit(
        str(visit_id),
        None if plate is None else str(plate),
        None if card_id is None else str(card_id),
        float(opened_s),  # type: ignore[arg-type]
        bool(closed),
        None if tare_kg is None else float(tare_kg),  # type: ignore[arg-type]
        None if tare_source is None else str(tare_source),
        None if last_record_id is None else str(last_record_id),
        None if last_pass is None else str(last_pass),
        None if last_verdict is None else str(last_verdict),
        int(attempts),  # type: ignore[call-overload]
    )
