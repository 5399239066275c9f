"""Recording: one vehicle's outcome to its :class:`EvidenceRecord`, stored and queued for upload.

The only place a record is made.  A record that cannot be written (a full or failing disk) goes to the
disk-full spool (:mod:`edge.evidence.spool`: a file reserved at start, fsync'd per record, so a power cut
loses nothing) and is replayed into the store, in order, by :meth:`Recorder.retry_unstored` (the
station's housekeeping, once a second).  Only when the spool itself is full is a record held in memory.
The heartbeat counts both.
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
    RecordAxleGroup,
    RecordCalibration,
    RecordLimit,
    RecordTiming,
    RecordWim,
    Software,
)
from edge.evidence.spool import Spool, SpoolFull, spool_path
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


def _limit_extras(limit: Any) -> dict[str, Any]:
    """The limit's optional record fields, only when they say something (older records keep their text)."""
    extras: dict[str, Any] = {}
    if limit.row_source and limit.row_source != limit.source:
        extras["row_source"] = limit.row_source
    if limit.axle_sum_kg is not None:
        extras["axle_sum_kg"] = limit.axle_sum_kg
        extras["axle_sum_applied"] = limit.axle_sum_applied
    return extras


def _axle_extras(judgement: Judgement) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if judgement.axle_groups:
        extras["axle_limits"] = [RecordAxleGroup(**g.as_record()) for g in judgement.axle_groups]
    if judgement.facts is not None:
        extras["vehicle_facts"] = judgement.facts.as_record()
    return extras


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
        spool: Spool | None = None,
    ) -> None:
        self.config = config  # replaced when a downlink config applies
        self.store = store
        self.topic = topic
        self.clock = HostClock()
        self._devices = devices
        self._drift = drift
        # The lane's span check (edge.wim.span), read at the verdict; set by a site that has one.
        self.span_check: Callable[[], dict[str, Any] | None] = lambda: None
        self._calibration = calibration
        self._wake_uplink = wake_uplink
        self._on_record = on_record
        self.spool = spool if spool is not None else Spool(spool_path(config.evidence.database))
        self._spool_open = False
        self._unstored: list[EvidenceRecord] = []  # only when the spool is full (or not open)
        self._disk_lock = asyncio.Lock()  # one spool user at a time (the lane, the housekeeping)

    async def open(self) -> None:
        """Reserve the spool's room and find records a previous run left in it (replayed by
        :meth:`retry_unstored`)."""
        try:
            await asyncio.to_thread(self.spool.open)
        except OSError as exc:  # the lane still decides; failed writes are then held in memory
            log.error(
                "cannot open the disk-full spool %s (%s): check the evidence folder", self.spool.path, exc
            )
            return
        self._spool_open = True

    def close(self) -> None:
        if self._spool_open:
            self.spool.close()
            self._spool_open = False

    @property
    def waiting_for_disk(self) -> int:
        return (len(self.spool) if self._spool_open else 0) + len(self._unstored)

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
                **_limit_extras(limit),
            ),
            verdict=decision.verdict,
            reasons=list(decision.reasons),
            **_axle_extras(judgement),
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
                **self._span_check(),
            ),
            software=Software(version=__version__),
            attachments=[],
        )

    def _span_check(self) -> dict[str, Any]:
        """``span_check`` for the record's calibration part, only when the lane has a span check (so a
        record of a site without one reads as before)."""
        state = self.span_check()
        return {} if state is None else {"span_check": state}

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

    def make_interrupted(
        self, session: VehicleSession, lane_output: dict[str, str], waited_s: float
    ) -> EvidenceRecord:
        """The record of a vehicle still crossing when the daemon was told to stop (SIGTERM) and did not
        finish within ``lane.stop_wait_s``: re-weigh, with what the sensors said, and an ``interrupted``
        section (an extra field: the record schema allows them)."""
        return EvidenceRecord(
            **self._base(session, session.last_exit_t_s or time.monotonic()),
            tyres=[a.tyre for a in session.axles],
            verdict=Verdict.REWEIGH,
            reasons=[
                f"interrupted: the lane service was stopped while the vehicle was crossing, and it did not"
                f" finish within {waited_s:g} s; weigh it again",
                *session.problems,
            ],
            lane_output=lane_output,
            devices=self._devices(),
            software=Software(version=__version__),
            attachments=[],
            interrupted={
                "status": "interrupted",
                "cause": "service stop",
                "waited_s": waited_s,
                "axles_entered": len(session.axles),
                "axles_exited": sum(1 for a in session.axles if a.exit_t_s is not None),
                "curtain_left": session.curtain_leave_t_s is not None,
            },
        )

    async def store_record(self, record: EvidenceRecord) -> None:
        async with self._disk_lock:
            if self.waiting_for_disk:
                await self._replay()  # older records first: the chain keeps the lane's order
            if not self.waiting_for_disk:
                try:
                    stored = await self.store.add(record.to_json_dict(), self.topic)
                except EvidenceError as exc:
                    log.error("%s; the record goes to the disk-full spool and is retried", exc)
                else:
                    self._wake_uplink()
                    log.info(
                        "vehicle %d: %s, record %s stored",
                        record.vehicle_number,
                        record.verdict.value,
                        record.id,
                        extra=_fields(record),
                    )
                    self._announce(EvidenceRecord.from_json_dict(stored))
                    return
            await self._keep(record)
        self._announce(record)

    async def _keep(self, record: EvidenceRecord) -> None:
        """Into the spool (durable), or memory when the spool has no room left."""
        if self._spool_open and not self._unstored:
            try:
                await asyncio.to_thread(self.spool.append, record.to_json_dict())
                return
            except SpoolFull as exc:
                log.error(
                    "%s; record %s is held in memory until the disk has room",
                    exc,
                    record.id,
                    extra=_fields(record),
                )
        self._unstored.append(record)

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
        """Replay the spool, then the records in memory, into the store, oldest first, while it takes
        them."""
        if not self.waiting_for_disk:
            return
        async with self._disk_lock:
            await self._replay()

    async def _replay(self) -> None:
        if self._spool_open and len(self.spool):
            replayed = 0
            for record in await asyncio.to_thread(self.spool.records):
                try:
                    # A crash during an earlier replay may have stored it already: never twice.
                    if not await self.store.holds(str(record["id"])):
                        await self.store.add(record, self.topic)
                except EvidenceError:
                    return
                replayed += 1
            await asyncio.to_thread(self.spool.clear)
            log.info("%d records from the disk-full spool are stored", replayed)
            self._wake_uplink()
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
        return record.model_copy(
            update={"plate": plate, "plate_reading": reading, "attachments": attachments}
        )


def _fields(record: EvidenceRecord) -> dict[str, Any]:
    """The journal fields of a log line about one record (RECORD_ID, ...; see edge/service.py)."""
    return {"record_id": record.id, "vehicle_number": record.vehicle_number, "verdict": record.verdict.value}
