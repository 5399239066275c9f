"""Recording: one vehicle's outcome to its :class:`EvidenceRecord`, stored and queued for upload.

The only place a record is made.  A record that cannot be written (a full or failing disk) is kept and
retried by :meth:`Recorder.retry_unstored` (the station's housekeeping, once a second); it is never lost
while the daemon runs, and the heartbeat counts it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge import __version__
from edge.calibration import Calibration, identity, is_overdue
from edge.config import Config
from edge.evidence.record import (
    EvidenceRecord,
    RecordCalibration,
    RecordLimit,
    RecordTiming,
    RecordWim,
    Software,
)
from edge.evidence.store import EvidenceError, EvidenceStore
from edge.judge import Judgement
from edge.lane.session import VehicleSession
from edge.rules import Verdict

__all__ = ["HostClock", "Outcome", "Recorder"]

log = logging.getLogger(__name__)


class HostClock:
    """Host monotonic seconds (what drivers stamp events with) to UTC text, re-anchored every second."""

    def __init__(self) -> None:
        self._utc_minus_mono = time.time() - time.monotonic()

    def refresh(self) -> None:
        self._utc_minus_mono = time.time() - time.monotonic()

    def utc(self, host_s: float | None) -> str | None:
        if host_s is None:
            return None
        wall = self._utc_minus_mono + host_s
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{int((wall % 1) * 1000):03d}Z"


@dataclass(frozen=True)
class Outcome:
    """What the lane knows about one vehicle once its verdict is shown."""

    session: VehicleSession
    judgement: Judgement
    lane_output: dict[str, str]
    decided_s: float  # host monotonic time the board and barrier were told


class Recorder:
    """Makes, stores and announces records.  ``devices`` and ``drift`` are read at the verdict."""

    def __init__(
        self,
        config: Config,
        store: EvidenceStore,
        topic: str,
        devices: Callable[[], dict[str, Any]],
        drift: Callable[[], dict[str, Any]],
        calibration: Calibration | None,
        wake_uplink: Callable[[], None],
        on_record: Callable[[EvidenceRecord], None] | None = None,
    ) -> None:
        self.config = config  # replaced when a downlink config applies
        self.store = store
        self.topic = topic
        self.clock = HostClock()
        self._devices = devices
        self._drift = drift
        self._calibration = calibration
        self._wake_uplink = wake_uplink
        self._on_record = on_record
        self._unstored: list[EvidenceRecord] = []  # records waiting for a writable disk

    @property
    def waiting_for_disk(self) -> int:
        return len(self._unstored)

    def _base(self, session: VehicleSession, time_s: float | None) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "site_id": self.config.site.id,
            "lane": self.config.site.lane,
            "vehicle_number": session.number,
            "time_utc": self.clock.utc(time_s),
            "plate": None,
            "axle_count": len(session.axles),
        }

    def make(self, outcome: Outcome) -> EvidenceRecord:
        session, judgement = outcome.session, outcome.judgement
        m, vclass, limit, decision = (
            judgement.measurement,
            judgement.vehicle_class,
            judgement.limit,
            judgement.decision,
        )
        last_exit = session.last_exit_t_s or session.closed_t_s
        cal = self._calibration
        utc = self.clock.utc
        return EvidenceRecord(
            **self._base(session, last_exit),
            tyres=[a.tyre for a in session.axles],
            vehicle_class=vclass.code,
            body=vclass.body.value,
            axle_groups=list(vclass.groups),
            wim=None if m is None else RecordWim.model_validate(m.as_dict()),
            limit=RecordLimit(
                limit_kg=limit.limit_kg,
                base_limit_kg=limit.base_limit_kg,
                rule_id=limit.rule_id,
                rule_text=limit.rule_text,
                source=limit.source,
                deductions=list(limit.deductions),
                notes=list(limit.notes),
                tolerance_factor=decision.tolerance_factor,
                threshold_kg=round(decision.threshold_kg, 1),
            ),
            verdict=decision.verdict,
            reasons=list(decision.reasons),
            lane_output=outcome.lane_output,
            timing=RecordTiming(
                curtain_enter_utc=utc(session.curtain_enter_t_s),
                curtain_leave_utc=utc(session.curtain_leave_t_s),
                last_axle_exit_utc=utc(last_exit),
                decided_utc=utc(outcome.decided_s),
                verdict_latency_ms=None
                if last_exit is None
                else round((outcome.decided_s - last_exit) * 1000, 1),
            ),
            devices=self._devices(),
            calibration=RecordCalibration(
                kg_per_count=self.config.scale.kg_per_count
                if isinstance(self.config.scale.kg_per_count, float)
                else list(self.config.scale.kg_per_count),
                static=dict(identity(cal)) if cal else None,
                static_overdue=is_overdue(cal) if cal else None,
                zero_source=judgement.zero_source,
                dynamic_correction_factor=judgement.correction_factor,
                drift_monitor=self._drift(),
            ),
            software=Software(version=__version__),
            attachments=[],
        )

    def make_failed(
        self, session: VehicleSession, error: Exception, lane_output: dict[str, str]
    ) -> EvidenceRecord:
        """The last-resort record of a vehicle that could not be judged: re-weigh, with what is known."""
        return EvidenceRecord(
            **self._base(session, session.last_exit_t_s or time.monotonic()),
            verdict=Verdict.REWEIGH,
            reasons=[f"internal error while judging: {error!r}", *session.problems],
            lane_output=lane_output,
            devices=self._devices(),
            software=Software(version=__version__),
            attachments=[],
        )

    async def store_record(self, record: EvidenceRecord) -> None:
        try:
            stored = await self.store.add(record.to_json_dict(), self.topic)
        except EvidenceError as exc:
            log.error("%s; the record is kept in memory and retried", exc)
            self._unstored.append(record)
            self._announce(record)
            return
        self._wake_uplink()
        self._announce(EvidenceRecord.from_json_dict(stored))

    def _announce(self, record: EvidenceRecord) -> None:
        """Tell the observer (the demo's table) once per record; its failure is logged, never taken for
        the vehicle's."""
        if self._on_record is None:
            return
        try:
            self._on_record(record)
        except Exception:
            log.exception("record observer failed")

    async def retry_unstored(self) -> None:
        while self._unstored:
            try:
                await self.store.add(self._unstored[0].to_json_dict(), self.topic)
            except EvidenceError:
                return
            self._unstored.pop(0)
            self._wake_uplink()

    async def attach_plate(
        self, record: EvidenceRecord, reading: dict[str, Any], evidence: Any
    ) -> EvidenceRecord:
        """The vehicle's plate, frame and crop join its record (the images by their sha256)."""
        from edge.plates.lane import write_attachments

        folder = Path(self.config.evidence.database).parent / "attachments"
        attachments: list[dict[str, Any]] = []
        try:
            attachments = await asyncio.to_thread(write_attachments, folder, record.id, evidence)
        except OSError as exc:  # a full disk loses the images, never the record
            log.error(
                "plate images of record %s not written (%s): free space on the evidence volume",
                record.id,
                exc,
            )
            reading = {**reading, "problem": f"images not stored: {exc}"}
        # A reading the reader is not sure of never names the vehicle: it stays in plate_reading, with
        # its status and alternatives, beside the images.
        plate = reading["text"] if not reading["unsure"] else None
        return record.model_copy(update={"plate": plate, "plate_reading": reading, "attachments": attachments})
