"""Counters and alarms that survive a restart, kept in the station's own SQLite database.

A restart (a crash that systemd recovered, an update, a power cut) must not wipe what an operator
relies on to see that something is wrong: the drift monitor's learned baseline and its alarm, and the
counts of records and query answers the broker refused and of evidence writes that failed.  They go
into one table of the evidence database, ``station_counters`` (name, JSON value, when written), written
by the daemon whenever one changed (checked with each status file, every few seconds) and when it
stops, and read back before the lane starts.  The heartbeat's ``vehicles`` count needs no row: it is
the number of stored records.

What is kept, by name:

- ``uplink.refused``: record publishes the broker refused (MQTT 5 PUBACK >= 0x80);
- ``query.refused``: query answers the broker refused;
- ``evidence.write_errors`` and ``evidence.last_error``: records the database failed to store;
- ``wim.drift``: the steer-axle drift monitor's baseline, recent window, alarm and message
  (:meth:`edge.wim.drift.DriftMonitor.snapshot`), so neither the alarm nor 100 trucks of learned
  baseline are lost.

What is not kept, on purpose: link states, bad-frame and reconnect counts of the devices (they describe
the current connection and start again with it), and Prometheus counters (Prometheus expects a counter
to restart with the process, and ``rate()`` handles that).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

__all__ = ["TABLE", "StationCounters", "load_counters", "save_counters"]

TABLE = "station_counters"

_CREATE = f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_utc TEXT NOT NULL)"


def _connect(database: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(database), isolation_level=None, timeout=5.0)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def load_counters(database: str | Path) -> dict[str, Any]:
    """Every kept value by name; empty when none was written yet (or the database is new)."""
    if not Path(database).exists():
        return {}
    conn = _connect(database)
    try:
        conn.execute(_CREATE)
        rows = conn.execute(f"SELECT name, value FROM {TABLE}").fetchall()
    finally:
        conn.close()
    values: dict[str, Any] = {}
    for name, text in rows:
        try:
            values[str(name)] = json.loads(text)
        except ValueError:
            continue  # a damaged row: that counter starts again, the others are kept
    return values


def save_counters(database: str | Path, values: dict[str, Any]) -> None:
    """Write ``values`` (JSON-able) in one transaction; raises ``sqlite3.Error`` (e.g. a full disk)."""
    if not values:
        return
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    conn = _connect(database)
    try:
        conn.execute(_CREATE)
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                f"INSERT INTO {TABLE} (name, value, updated_utc) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_utc = excluded.updated_utc",
                [(name, json.dumps(value, sort_keys=True), now) for name, value in values.items()],
            )
    finally:
        conn.close()


class StationCounters:
    """The daemon's side: what to keep of a running station, and putting it back at start."""

    def __init__(self, database: str | Path) -> None:
        self.database = database
        self._saved: dict[str, Any] = {}
        self.last_error = ""

    @staticmethod
    def collect(station: Any) -> dict[str, Any]:
        """The values to keep, read from a :class:`edge.daemon.LaneDaemon`."""
        values: dict[str, Any] = {
            "uplink.refused": station.uplink.refused,
            "query.refused": station.query.refused,
            "evidence.write_errors": station.store.write_errors,
            "evidence.last_error": station.store.last_error,
        }
        drift = station.site.drift
        if hasattr(drift, "snapshot"):  # the static weighbridge has no drift monitor
            values["wim.drift"] = drift.snapshot()
        return values

    def load(self) -> dict[str, Any]:
        """The kept values (blocking: run it in a thread)."""
        return load_counters(self.database)

    def restore(self, station: Any, values: dict[str, Any]) -> None:
        """Put the kept ``values`` (:meth:`load`) back into ``station``, before the lane starts."""
        station.uplink.refused = int(values.get("uplink.refused", 0))
        station.query.refused = int(values.get("query.refused", 0))
        station.store.write_errors = int(values.get("evidence.write_errors", 0))
        station.store.last_error = str(values.get("evidence.last_error", ""))
        drift = station.site.drift
        if isinstance(values.get("wim.drift"), dict) and hasattr(drift, "restore"):
            drift.restore(values["wim.drift"])
        self._saved = dict(values)

    def save(self, values: dict[str, Any]) -> bool:
        """Write those of ``values`` (:meth:`collect`, on the event loop) that changed since the last
        save (blocking: run it in a thread); False when the database refused (a full disk: they stay in
        memory and go with a later save)."""
        changed = {name: value for name, value in values.items() if self._saved.get(name) != value}
        if not changed:
            return True
        try:
            save_counters(self.database, changed)
        except sqlite3.Error as exc:
            self.last_error = str(exc)
            return False
        self._saved.update(changed)
        self.last_error = ""
        return True
