"""Static calibrations of the scale, kept in SQLite beside the evidence (table ``calibrations``, WAL).

Every calibration is kept, with its date, technician and test-weight certificate; exactly one is active
(a partial unique index enforces it, and activation runs in one transaction).  The daemon reads the
active one at start and writes :func:`identity` into every evidence record, so a record can always be
traced to the calibration, the person and the certified weights behind its numbers.

The functions open the database for the call and close it again: they are safe to use from the
``edge calibrate`` command while the daemon has the same file open.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlite_utils

from edge.errors import EdgeError

if TYPE_CHECKING:
    from edge.config import Config

__all__ = [
    "Calibration",
    "CalibrationMismatch",
    "CalibrationStoreError",
    "PlatformCheck",
    "activate_calibration",
    "active_calibration",
    "apply_calibration",
    "calibration_history",
    "identity",
    "is_overdue",
    "save_calibration",
]

TABLE = "calibrations"
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
Method = Literal["platform", "cell"]


class CalibrationStoreError(EdgeError):
    """Raised when the calibration table cannot be read or written, or a calibration is not found."""


class CalibrationMismatch(CalibrationStoreError):
    """Raised when a calibration does not fit the configured scale (another number of cells)."""


@dataclass(frozen=True)
class PlatformCheck:
    """Result of one platform's calibration: its span and the check weighing made after it."""

    platform: int  # 0 = entry platform
    test_weight_kg: float
    span_factor: float  # platform span / nominal span (1.0 = the nominal kg_per_count was right)
    check_u: float  # check position along the platform from the entry edge (fraction)
    check_w: float  # check position across the platform from the left edge (fraction)
    check_measured_kg: float
    check_error_kg: float
    check_error_pct: float
    passed: bool  # |check error| within the wizard's max_check_error_fraction
    corner_residual_kg: float | None = None  # per-cell method: RMS misfit of the corner equations


@dataclass(frozen=True)
class Calibration:
    """One static calibration: per-channel zero and span, and who made it with which weights."""

    calibration_id: str  # CAL-20261122-083000
    created_utc: str  # 2026-11-22T08:30:00Z
    technician: str
    reference: str  # test-weight certificate number or id
    method: Method  # "platform": one span per platform; "cell": per-cell spans from corner tests
    zero_counts: tuple[float, ...]  # per channel (4 * platform + corner), ADC counts of the empty scale
    kg_per_count: tuple[float, ...]  # per channel
    test_weights_kg: tuple[float, ...]  # the test mass used on each platform
    checks: tuple[PlatformCheck, ...]  # one per platform
    valid_until_utc: str  # calibration due date
    notes: str = ""
    nominal_kg_per_count: tuple[float, ...] = field(default=())  # the config's span it started from

    def __post_init__(self) -> None:
        if len(self.zero_counts) != len(self.kg_per_count):
            raise ValueError(
                f"zero_counts has {len(self.zero_counts)} values but kg_per_count {len(self.kg_per_count)}"
            )
        if any(not v > 0 for v in self.kg_per_count):
            raise ValueError("kg_per_count values must be > 0")

    @property
    def n_channels(self) -> int:
        return len(self.kg_per_count)

    @property
    def all_checks_passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        values = dict(data)
        values["checks"] = tuple(PlatformCheck(**check) for check in values.get("checks", ()))
        for key in ("zero_counts", "kg_per_count", "test_weights_kg", "nominal_kg_per_count"):
            values[key] = tuple(float(v) for v in values.get(key, ()))
        return cls(**values)


def identity(cal: Calibration) -> dict[str, str]:
    """What an evidence record says about the calibration its weights were computed with."""
    return {
        "id": cal.calibration_id,
        "created_utc": cal.created_utc,
        "technician": cal.technician,
        "reference": cal.reference,
        "valid_until_utc": cal.valid_until_utc,
        "method": cal.method,
    }


def apply_calibration(config: Config, cal: Calibration) -> Config:
    """``config`` with ``scale.kg_per_count`` replaced by the calibration's per-cell spans (validated).

    The zero is not part of the config: the daemon starts from ``cal.zero_counts`` as its fallback zero
    and keeps auto-zeroing from each vehicle's empty-scale pre-roll.
    """
    from edge.config import ScaleConfig

    scale = config.scale
    if cal.n_channels != scale.n_channels:
        raise CalibrationMismatch(
            f"calibration {cal.calibration_id} has {cal.n_channels} cells but the configured scale has"
            f" {scale.n_channels} ({len(scale.platform_lengths_m)} platforms); the scale was changed since:"
            " run `edge calibrate static` again"
        )
    calibrated = ScaleConfig.model_validate({**scale.model_dump(), "kg_per_count": cal.kg_per_count})
    return config.model_copy(update={"scale": calibrated})


def is_overdue(cal: Calibration, now: datetime | None = None) -> bool:
    """True when the calibration's due date has passed."""
    due = datetime.strptime(cal.valid_until_utc, UTC_FORMAT).replace(tzinfo=UTC)
    return (now or datetime.now(UTC)) > due


def _utc_now() -> str:
    return datetime.now(UTC).strftime(UTC_FORMAT)


@contextlib.contextmanager
def _open(db_path: str | Path, create: bool) -> Iterator[sqlite3.Connection | None]:
    """A connection with the table in place, or None when ``create`` is false and there is nothing to read."""
    path = Path(db_path)
    if not create and not path.exists():
        yield None
        return
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=10.0)
    except (sqlite3.Error, OSError) as exc:
        raise CalibrationStoreError(
            f"cannot open the calibration database {path}: {exc}; check that its folder exists and is"
            " writable by this user"
        ) from exc
    try:
        conn.execute("PRAGMA busy_timeout=10000")  # the daemon may be writing evidence right now
        db = sqlite_utils.Database(conn)
        if create:
            db.enable_wal()
            conn.execute("PRAGMA synchronous=FULL")
            _create(conn)
        elif TABLE not in db.table_names():
            yield None
            return
        yield conn
    except sqlite3.Error as exc:
        raise CalibrationStoreError(f"calibration database {path}: {exc}") from exc
    finally:
        conn.close()


def _create(conn: sqlite3.Connection) -> None:
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            calibration_id TEXT PRIMARY KEY,
            created_utc TEXT NOT NULL,
            technician TEXT NOT NULL,
            reference TEXT NOT NULL,
            method TEXT NOT NULL,
            valid_until_utc TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 0,
            activated_utc TEXT,
            calibration_json TEXT NOT NULL
        )"""
    )
    # The database itself refuses a second active calibration, whatever the code does.
    conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_one_active ON {TABLE}(active) WHERE active = 1")


def _activate(conn: sqlite3.Connection, calibration_id: str) -> None:
    """Inside an open transaction: make ``calibration_id`` the only active calibration."""
    conn.execute(f"UPDATE {TABLE} SET active = 0 WHERE active = 1")
    updated = conn.execute(
        f"UPDATE {TABLE} SET active = 1, activated_utc = ? WHERE calibration_id = ?",
        (_utc_now(), calibration_id),
    ).rowcount
    if updated != 1:
        raise CalibrationStoreError(
            f"no calibration {calibration_id!r} in the database; see `edge calibrate history`"
        )


def save_calibration(db_path: str | Path, cal: Calibration, activate: bool = True) -> None:
    """Store ``cal``; with ``activate`` it becomes the active calibration in the same transaction."""
    text = json.dumps(cal.to_dict(), sort_keys=True, ensure_ascii=False, allow_nan=False)
    with _open(db_path, create=True) as conn:
        assert conn is not None  # create=True always yields a connection
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    f"INSERT INTO {TABLE} (calibration_id, created_utc, technician, reference, method,"
                    " valid_until_utc, active, calibration_json) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                    (
                        cal.calibration_id,
                        cal.created_utc,
                        cal.technician,
                        cal.reference,
                        cal.method,
                        cal.valid_until_utc,
                        text,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise CalibrationStoreError(
                    f"a calibration {cal.calibration_id!r} is already stored; ids are per second,"
                    " so wait a second and save again"
                ) from exc
            if activate:
                _activate(conn, cal.calibration_id)


def activate_calibration(db_path: str | Path, calibration_id: str) -> None:
    """Make a stored calibration the active one (e.g. go back to the previous one)."""
    with _open(db_path, create=True) as conn:
        assert conn is not None
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            _activate(conn, calibration_id)


def _row(row: tuple[Any, ...]) -> Calibration:
    return Calibration.from_dict(json.loads(row[0]))


def active_calibration(db_path: str | Path) -> Calibration | None:
    """The active calibration, or None when none was ever activated (or the database does not exist)."""
    with _open(db_path, create=False) as conn:
        if conn is None:
            return None
        row = conn.execute(f"SELECT calibration_json FROM {TABLE} WHERE active = 1").fetchone()
        return None if row is None else _row(row)


def calibration_history(db_path: str | Path) -> list[Calibration]:
    """Every stored calibration, newest first (compare ids with :func:`active_calibration`)."""
    with _open(db_path, create=False) as conn:
        if conn is None:
            return []
        rows = conn.execute(
            f"SELECT calibration_json FROM {TABLE} ORDER BY created_utc DESC, calibration_id DESC"
        ).fetchall()
        return [_row(row) for row in rows]
