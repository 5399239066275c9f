"""What the station says about itself: the full health (central ``status`` queries, the demo) and the
heartbeat's summary.  Read-only views over the stages; no stage imports this module."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.calibration import is_overdue

if TYPE_CHECKING:
    from edge.daemon import LaneDaemon

__all__ = [
    "STATUS_EVERY_S",
    "clock_synchronised",
    "health",
    "status_candidates",
    "status_document",
    "status_path",
    "status_summary",
    "write_status_file",
]

#: How often the daemon rewrites its status file (``edge status`` calls one older than 3x this stale).
STATUS_EVERY_S = 5.0

_TIME_ERROR = 5  # adjtimex(2): the kernel's clock is not synchronised


class _Timex(ctypes.Structure):
    # struct timex starts with `unsigned int modes`; 0 only reads.  The rest (208 bytes on x86-64 and
    # aarch64) is room for the kernel to write into.
    _fields_ = (("modes", ctypes.c_uint), ("_rest", ctypes.c_byte * 204))


def clock_synchronised() -> bool | None:
    """systemd-timesyncd / chrony via the kernel: True when NTP discipline is active, None if unknown."""
    if Path("/run/systemd/timesync/synchronized").exists():
        return True
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        state = libc.adjtimex(ctypes.byref(_Timex()))
    except (OSError, AttributeError):
        return None
    return bool(state != _TIME_ERROR)


def health(station: LaneDaemon) -> dict[str, Any]:
    site = station.site
    return {
        "devices": site.device_health(),
        **site.health(),
        "uplink": station.uplink.health(),
        "query": station.query.health(),
        "downlink": station.downlink.health(),
        "evidence": {
            "database": str(station.store.path),
            "signing_key_id": station.store.key_id,
            "write_errors": station.store.write_errors,
            "last_error": station.store.last_error,
            "records_waiting_for_disk": station.recorder.waiting_for_disk,
            # The spool is in use: the database refuses writes (disk full); the lane still decides.
            "disk_full": station.recorder.waiting_for_disk > 0,
            "retention": station.retention.health(),
        },
    }


def status_summary(station: LaneDaemon) -> dict[str, Any]:
    """What the station's heartbeat tells the central office: link states, bad frames, calibration due,
    disk, clock."""
    devices = {
        name: {
            "state": dev.get("state"),
            "frames_bad": dev.get("frames_bad"),
            "last_error": dev.get("last_error") or None,
        }
        for name, dev in station.site.device_health().items()
    }
    disk: dict[str, Any]
    try:
        usage = shutil.disk_usage(Path(station.config.evidence.database).resolve().parent)
        disk = {"free_mb": round(usage.free / 1e6), "used_fraction": round(usage.used / usage.total, 3)}
    except OSError as exc:
        disk = {"error": str(exc)}
    cal = station.calibration
    return {
        "vehicles": station.site.vehicles,
        "devices": devices,
        "calibration": None
        if cal is None
        else {"id": cal.calibration_id, "valid_until_utc": cal.valid_until_utc, "overdue": is_overdue(cal)},
        "disk": disk,
        "clock_synchronised": clock_synchronised(),
        "drift_alarm": station.site.drift.alarm,
        "zero_alarm": station.site.weighing.zero.alarm,
        "span_alarm": station.site.weighing.span_alarm,  # a load cell's gain has moved (edge.wim.span)
        "evidence_write_errors": station.store.write_errors,
        "records_waiting_for_disk": station.recorder.waiting_for_disk,
        "disk_full": station.recorder.waiting_for_disk > 0,
        "records_refused_by_broker": station.uplink.refused,  # MQTT 5 PUBACK >= 0x80; the rows stay unsent
        "evidence_budget_alarm": station.retention.alarm,
        "downlink_versions": station.downlink.versions(),
    }


def _status_name(database: str | Path) -> str:
    digest = hashlib.sha256(str(Path(database).resolve()).encode()).hexdigest()[:16]
    return f"weighlane-{digest}.status.json"


def status_path(database: str | Path) -> Path:
    """Where the daemon writes its status file (what ``edge status`` reads, broker or not): systemd's
    ``RuntimeDirectory=`` (a tmpfs: no flash wear, and written even when the disk is full) when given,
    else beside the evidence database."""
    runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if runtime and os.access(runtime, os.W_OK):
        return Path(runtime) / _status_name(database)
    db = Path(database)
    return db.with_name(db.name + ".status.json")


def status_candidates(database: str | Path) -> list[Path]:
    """Every place a daemon of this database may have written its status (the reader has no
    ``$RUNTIME_DIRECTORY``: /run/weighlane/<instance>/ is searched)."""
    db = Path(database)
    found = sorted(Path("/run/weighlane").glob(f"*/{_status_name(database)}"))
    return [*found, db.with_name(db.name + ".status.json")]


def status_document(station: LaneDaemon, state: str) -> dict[str, Any]:
    return {
        "state": state,
        "pid": os.getpid(),
        "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "written_unix": round(time.time(), 3),
        "site_id": station.config.site.id,
        "lane": station.config.site.lane,
        "summary": status_summary(station),
        "health": health(station),
    }


def write_status_file(path: Path, document: dict[str, Any]) -> None:
    """Atomically (a reader never sees half a file); a full disk only leaves the previous one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, default=str, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
