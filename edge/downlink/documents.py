"""Downlink documents: their strict schemas, and their store (one row per kind, replaced atomically).

Three kinds arrive from the central office as retained MQTT messages (docs/downlink.md):

* ``watchlist``: plates to flag, each with a reason and an optional end;
* ``permits``: oversize/overweight permits (大件运输许可): plates, permitted gross, axles, dimensions,
  validity, route and its stations (:class:`edge.rules.permits.Permit`);
* ``config``: a safe subset of the lane configuration, :data:`CONFIG_KEYS`, nothing else;
* ``registry`` (optional): the vehicle registry, plate -> registered axle layout and dimensions
  (:class:`edge.rules.registry.RegisteredVehicle`), for the 非法改装 check.

Each document carries a ``version`` (an integer that only grows).  A document is applied only when its
version is greater than the stored one; the whole document replaces the previous one of its kind in one
SQLite transaction, so a reader sees either the old or the new document, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from edge.config import Config
from edge.configerrors import DEFAULT_FIXES, Loc, format_errors
from edge.errors import EdgeError
from edge.rules.permits import Permit, WatchEntry
from edge.rules.registry import RegisteredVehicle

__all__ = [
    "CONFIG_KEYS",
    "KINDS",
    "AppliedDocument",
    "ConfigDocument",
    "DocumentError",
    "DownlinkStore",
    "PermitsDocument",
    "RegistryDocument",
    "WatchlistDocument",
    "apply_config",
    "parse_document",
]

KINDS = ("watchlist", "permits", "config", "registry")
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024
#: The configuration keys the central office may change remotely.  Everything else (devices, scale
#: geometry, limits table, evidence, MQTT, TLS) needs a technician on site: a wrong remote value there
#: could stop the lane or cut the station off.
CONFIG_KEYS = ("rules.tolerance_factor", "lane.idle_lines", "lane.idle_after_s")


class DocumentError(EdgeError, ValueError):
    """Raised when a downlink document is not valid JSON or does not match its schema."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Document(_Strict):
    version: int = Field(
        ge=1, description="Grows with every new document of this kind; older ones are ignored."
    )
    issued_utc: datetime | None = Field(None, description="When the central office issued it (informative).")
    sites: tuple[str, ...] | None = Field(
        None,
        min_length=1,
        description="The site IDs this document is addressed to; inside the signed text, so the signature"
        " binds it to them, and a station not named refuses it (a document signed for one site cannot be"
        " replayed on another's topic).  Absent: every station (a province-wide watch-list).",
    )


class WatchlistDocument(_Document):
    kind: Literal["watchlist"] = "watchlist"
    entries: tuple[WatchEntry, ...] = Field(max_length=200_000)


class PermitsDocument(_Document):
    kind: Literal["permits"] = "permits"
    permits: tuple[Permit, ...] = Field(max_length=200_000)

    @model_validator(mode="after")
    def _unique_ids(self) -> PermitsDocument:
        ids = [permit.permit_id for permit in self.permits]
        if len(ids) != len(set(ids)):
            raise ValueError("permit_id values must be unique")
        return self


class RegistryDocument(_Document):
    kind: Literal["registry"] = "registry"
    vehicles: tuple[RegisteredVehicle, ...] = Field(max_length=2_000_000)

    @model_validator(mode="after")
    def _unique_plates(self) -> RegistryDocument:
        plates = [vehicle.plate for vehicle in self.vehicles]
        if len(plates) != len(set(plates)):
            raise ValueError("each plate may appear once in the registry")
        return self


class RulesSettings(_Strict):
    tolerance_factor: float | None = Field(None, ge=1.0, le=1.5)


class LaneSettings(_Strict):
    idle_lines: tuple[str, ...] | None = Field(None, max_length=4)
    idle_after_s: float | None = Field(None, gt=0, le=3600)


class ConfigSettings(_Strict):
    rules: RulesSettings = Field(default_factory=lambda: RulesSettings())
    lane: LaneSettings = Field(default_factory=lambda: LaneSettings())


class ConfigDocument(_Document):
    kind: Literal["config"] = "config"
    settings: ConfigSettings = Field(
        description="Only the keys in CONFIG_KEYS; unset keys keep the file's value."
    )


_MODELS: dict[str, type[_Document]] = {
    "watchlist": WatchlistDocument,
    "permits": PermitsDocument,
    "config": ConfigDocument,
    "registry": RegistryDocument,
}


def _fix(error: ErrorDetails, loc: Loc) -> str | None:
    if error["type"] == "extra_forbidden" and loc[:1] == ("settings",):
        return f"the remote config may set only {', '.join(CONFIG_KEYS)}"
    return DEFAULT_FIXES.get(error["type"])


def _problems(exc: ValidationError) -> list[str]:
    return format_errors(exc, fixes=_fix, show_input=False)


def parse_document(kind: str, payload: bytes) -> _Document:
    """Validate a document of ``kind``; :class:`DocumentError` lists every problem found."""
    if kind not in _MODELS:
        raise DocumentError([f"unknown kind {kind!r}; known: {', '.join(KINDS)}"])
    if len(payload) > MAX_DOCUMENT_BYTES:
        raise DocumentError([f"document of {len(payload)} bytes exceeds {MAX_DOCUMENT_BYTES}"])
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DocumentError([f"not valid JSON: {exc}"]) from None
    if isinstance(data, dict) and "kind" in data and data["kind"] != kind:
        raise DocumentError([f"kind {data['kind']!r} sent on the {kind!r} topic"])
    try:
        return _MODELS[kind].model_validate(data)
    except ValidationError as exc:
        raise DocumentError(_problems(exc)) from None


def apply_config(config: Config, document: ConfigDocument | None) -> Config:
    """``config`` with the document's settings applied, validated like a config file (lane.idle_lines
    byte limits included); :class:`DocumentError` when the result is not a valid configuration."""
    if document is None:
        return config
    data = config.model_dump(mode="python")
    for section, values in document.settings.model_dump(exclude_none=True).items():
        data[section].update(values)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise DocumentError(_problems(exc)) from None


@dataclass(frozen=True)
class AppliedDocument:
    kind: str
    version: int
    document: Any  # the validated model
    sha256: str
    applied_utc: str


class DownlinkStore:
    """The applied documents, one per kind, in table ``downlink`` of the evidence database.

    Synchronous (call it from a thread); its own connection, so the evidence writer is never blocked
    for longer than one short transaction."""

    def __init__(self, database: str | Path) -> None:
        self.path = Path(database)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=10)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS downlink (kind TEXT PRIMARY KEY, version INTEGER NOT NULL,"
            " document TEXT NOT NULL, sha256 TEXT NOT NULL, applied_utc TEXT NOT NULL)"
        )
        return conn

    def load(self) -> dict[str, AppliedDocument]:
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT kind, version, document, sha256, applied_utc FROM downlink"
            ).fetchall()
        finally:
            conn.close()
        applied = {}
        for kind, version, text, digest, when in rows:
            if kind in _MODELS:
                model = _MODELS[kind].model_validate_json(text)
                applied[kind] = AppliedDocument(kind, int(version), model, str(digest), str(when))
        return applied

    def replace(self, kind: str, document: _Document) -> tuple[bool, int | None]:
        """Store ``document`` unless one of the same or a higher version is there (checked inside the
        write transaction).  Returns (stored, the version stored before)."""
        text = document.model_dump_json()
        conn = self._connect()
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                row = conn.execute("SELECT version FROM downlink WHERE kind = ?", (kind,)).fetchone()
                previous = None if row is None else int(row[0])
                if previous is not None and document.version <= previous:
                    return False, previous
                conn.execute(
                    "INSERT OR REPLACE INTO downlink (kind, version, document, sha256, applied_utc)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        kind,
                        document.version,
                        text,
                        hashlib.sha256(text.encode()).hexdigest(),
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    ),
                )
        finally:
            conn.close()
        return True, previous
