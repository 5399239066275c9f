"""Site kind ``toll_entrance``: a weigh-in-motion lane at a toll-station entrance (称重检测、超限拒入).

One truck through the stages, in data order:

1. sensing (:class:`edge.lane.sensing.Sensing`): serial frames -> a vehicle session -> a ``Crossing``;
2. weighing (:class:`edge.wim.weighing.Weighing`): the crossing -> axle loads, speed, gross (``Weighed``);
3. judging (:func:`edge.judge.judge_weighed`): measurements + limits -> a ``Judgement`` with its verdict;
   then, on a lane with an outline gantry (``[outline]``), the outline (:class:`edge.outline.lane.LaneOutline`,
   prepared while the vehicle is still on the scale) joins it (:func:`edge.rules.verdict.apply_outline`),
   then the permit of the plate (:mod:`edge.rules.permits`); the registry (:mod:`edge.rules.registry`)
   adds its facts to the record;
4. acting (:class:`edge.actuate.LaneOutput`): the verdict on the LED board and the barrier;
5. recording (:class:`edge.evidence.recorder.Recorder`): the typed ``EvidenceRecord``, stored and signed;
6. shipping (``edge.uplink``, built by the station): the outbox to MQTT.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from drivers.barrier.driver import Barrier
from drivers.display.driver import LedDisplay
from edge.actuate import LaneOutput
from edge.config import Config
from edge.evidence.record import (
    EvidenceRecord,
    RecordOutline,
    RecordPermit,
    RecordRegistry,
    RecordWatchMatch,
)
from edge.evidence.recorder import Outcome, Recorder
from edge.judge import Judgement, judge_weighed, site_facts
from edge.lane.devices import build_driver
from edge.lane.sensing import Sensing
from edge.lane.session import VehicleSession
from edge.rules import LimitTable, VehicleFacts, Verdict
from edge.rules.permits import PermitFinding, apply_permit, check_permit, match_watchlist
from edge.rules.registry import RegisteredVehicle, RegistryFinding, by_plate, check_registry
from edge.rules.verdict import apply_outline, board_detail
from edge.wim.capture import CaptureWriter
from edge.wim.drift import DriftMonitor
from edge.wim.motion import fit_speed_profile
from edge.wim.weighing import Weighing, weigh

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from edge.outline.lane import LaneOutline, OutlineResult
    from edge.plates.lane import LanePlates, PlateEvidence

__all__ = ["ALERTS_KEPT", "TollEntrance"]

log = logging.getLogger(__name__)

#: Watch-list alerts kept for the lane staff's console (the newest; older ones are in the records).
ALERTS_KEPT = 20


class TollEntrance:
    """The stages of one toll-entrance lane and the loop that takes each vehicle through them."""

    def __init__(
        self,
        config: Config,
        limits: LimitTable,
        recorder_factory: Callable[[Callable[[], dict[str, Any]], Callable[[], dict[str, Any]]], Recorder],
        calibration_zero: npt.NDArray[np.float64] | None,
    ) -> None:
        self.config = config
        self.limits = limits
        devices = config.devices
        self.sensing = Sensing(config, self._vehicle_arriving)
        self.weighing = Weighing(config.scale, calibration_zero)
        self.drift = DriftMonitor(alarm_fraction=config.wim.drift_alarm_fraction)
        self.display = build_driver(devices.display, LedDisplay)
        self.barrier = build_driver(devices.barrier, Barrier)
        self.output = LaneOutput(self.display, self.barrier, config.lane.idle_lines, config.lane.idle_after_s)
        self.plates: LanePlates | None = None
        if config.plates.enabled:
            from edge.plates.lane import LanePlates  # OpenCV and onnxruntime load only when plates are on

            self.plates = LanePlates(config.plates)
        self.outline: LaneOutline | None = None
        if config.outline.enabled:
            from edge.outline.lane import LaneOutline  # the gantry's drivers load only when it is on

            self.outline = LaneOutline(config.outline)
        self.recorder = recorder_factory(self.device_health, self.drift.state)
        span = self.weighing.span
        if span is not None:
            self.recorder.span_check = span.state
        self.captures = CaptureWriter.from_config(config)
        self.vehicles = 0
        self._background: set[asyncio.Task[Any]] = set()
        # Wired by the station: the applied downlink documents (DownlinkService.current) and the
        # watch-list alert's publisher (Uplink.publish_alert).
        self.documents: Callable[[str], Any] = lambda kind: None
        self.alert: Callable[[dict[str, Any]], Awaitable[bool]] | None = None
        self._watches: dict[float, asyncio.Task[list[RecordWatchMatch]]] = {}  # by trigger time
        self._registry: tuple[int, dict[str, RegisteredVehicle]] = (0, {})  # (id of the document, by plate)
        # The last watch-list alerts, newest last, for the console (shown the moment the plate matches,
        # before the alert is published and long before the record); counted since start for metrics.
        self.alerts: deque[dict[str, Any]] = deque(maxlen=ALERTS_KEPT)
        self.alerts_raised = 0

    def apply_config(self, config: Config) -> None:
        """A downlink config document was applied: the next vehicle is judged with it."""
        self.config = config
        self.recorder.config = config
        self.output.idle_lines = config.lane.idle_lines
        self.output.idle_after_s = config.lane.idle_after_s

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.plates is not None:
            await self.plates.start()
        if self.outline is not None:  # compiled (or loaded from Numba's cache) now, not at the first vehicle
            from edge.outline import kernels as outline_kernels

            await asyncio.to_thread(outline_kernels.warm_up)

    def tasks(self, stop: asyncio.Event) -> dict[str, Any]:
        """The coroutines the station runs in its TaskGroup, by task name."""
        drivers: dict[str, Any] = {**self.sensing.drivers, "display": self.display, "barrier": self.barrier}
        if self.outline is not None:
            drivers.update({f"lidar-{name}": driver for name, driver in self.outline.drivers.items()})
        return {
            **{f"driver-{name}": driver.run(stop) for name, driver in drivers.items()},
            "weigh": self._vehicle_loop(stop),
            "display-initial": self._initial_display(),
        }

    async def close(self) -> None:
        if self.plates is not None:
            self.plates.stop()
        await self.output.close()
        if self.outline is not None:
            await self.outline.close()
        if self._background:
            await asyncio.wait(self._background, timeout=10)
        self.captures.close()

    async def finish(self, wait_s: float) -> int:
        """On SIGTERM, before the tasks stop: the vehicles crossing finish and are judged as usual (at most
        ``wait_s``); any still on the scale then get an interrupted record (re-weigh on the board).
        Returns how many were recorded as interrupted."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.sensing.busy.wait_idle(), wait_s)
        lane = self.sensing.lane
        left = [*lane.on_scale, *([lane.open] if lane.open is not None and lane.open.axles else [])]
        lane.on_scale.clear()
        lane.open = None
        while not self.sensing._sessions.empty():  # finished but not judged in time
            left.append(self.sensing._sessions.get_nowait())
        for session in left:
            log.warning("vehicle %d interrupted by the stop: recorded as re-weigh", session.number)
            output = await self.output.show_verdict(Verdict.REWEIGH, None, None, f"{session.number}号车")
            self.vehicles += 1
            await self.recorder.store_record(self.recorder.make_interrupted(session, output, wait_s))
        return len(left)

    def tick(self) -> None:
        """Once a second: expire stuck sessions, track the zero on the empty lane."""
        self.sensing.tick()
        self.weighing.between_vehicles(self.sensing.empty_window())

    # -- one vehicle -------------------------------------------------------------------------------

    def _vehicle_arriving(self, host_time_s: float) -> None:
        if self.outline is not None:  # the lane's open session is the one that just entered
            self.outline.vehicle_entered(self.sensing.lane.open, host_time_s)
        if self.plates is not None:
            self.plates.trigger(host_time_s)
            if self.documents("watchlist") is not None:  # alert the moment the plate is read
                self._watches[host_time_s] = self._spawn(self._watch(host_time_s), "watchlist")
                for key in sorted(self._watches)[:-8]:  # a session that never completes must not leak
                    self._watches.pop(key).cancel()
        self._spawn(self.output.vehicle_arriving(), "barrier-close")

    async def _initial_display(self) -> None:
        for _ in range(50):
            if self.display.link.is_up:
                break
            await asyncio.sleep(0.1)
        await self.output.show_idle()

    async def _vehicle_loop(self, stop: asyncio.Event) -> None:
        while (session := await self.sensing.next_session(stop)) is not None:
            try:
                await self._vehicle(session)
            except Exception as exc:  # one bad vehicle must never stop the lane
                log.exception("vehicle %d could not be judged", session.number)
                try:
                    output = await self.output.show_verdict(
                        Verdict.REWEIGH, None, None, f"{session.number}号车"
                    )
                    self.sensing.verdict_shown()
                    await self.recorder.store_record(self.recorder.make_failed(session, exc, output))
                except Exception:
                    log.exception("vehicle %d: even the fallback record failed", session.number)
            finally:
                self.sensing.verdict_shown()  # already, unless judging failed before the board

    async def _vehicle(self, session: VehicleSession) -> None:
        config = self.config  # one config for the whole vehicle, even if a downlink replaces it meanwhile
        crossing = self.weighing.prepare(await self.sensing.crossing(session))
        # Off the event loop: the kernels release the GIL, and serial reads go on meanwhile.
        weighed = await asyncio.to_thread(weigh, crossing, config)
        self.weighing.learn(weighed)
        judgement = judge_weighed(crossing, weighed, config, self.limits)
        if judgement.measurement is not None and judgement.decision.verdict is not Verdict.REWEIGH:
            self.drift.observe(
                judgement.vehicle_class.code, judgement.gross_kg, judgement.measurement.axle_loads_kg[0]
            )
        outline = None
        if self.outline is not None:
            # The motion the weighing fitted (wim.speed_profile: a throttle blip's ramp, not its 1.5 x); where
            # it fitted none, the constant acceleration of the entry and exit strips.
            fitted = weighed.measurement.speed_profile if weighed.measurement is not None else None
            profile = fitted or fit_speed_profile(
                crossing.entry_t_s, crossing.exit_t_s, config.scale.entry_strip_x_m, config.scale.exit_x_m
            )
            outline = await self.outline.measure(session, profile)
            judgement = _judged_outline(judgement, outline, config)
        # The plate names the vehicle on the board when it is already read; it is waited for (at most
        # plates.wait_s) only when a permit or the registry's facts could turn a refusal into a pass.
        plate = self.plates.ready(session.curtain_enter_t_s) if self.plates is not None else None
        permits = self._permits()
        if (
            plate is None
            and self.plates is not None
            and (permits or self._registered())
            and judgement.decision.verdict.refuses
        ):
            plate = await self.plates.result(session.curtain_enter_t_s)
        read = plate.result if plate is not None else None
        facts = self._registry_facts(plate, config) if plate is not None else None
        if facts is not None and facts != judgement.facts:
            # The registry knows what the scale cannot measure (air suspension, registered gross): judge
            # again on its word (the same weight; only the limit may move).
            judgement = judge_weighed(crossing, weighed, config, self.limits, facts=facts)
            if outline is not None:
                judgement = _judged_outline(judgement, outline, config)
        finding = None
        if read is not None and plate is not None:
            finding = self._permit_finding(permits, plate, judgement, config, outline)
            judgement = dataclasses.replace(judgement, decision=apply_permit(judgement.decision, finding))
        label = read.text if read is not None and read.valid else f"{session.number}号车"
        detail = "" if outline is None else board_detail(outline.verdict, not outline.measured)
        output = await self.output.show_verdict(
            judgement.decision.verdict, judgement.gross_kg, judgement.limit.limit_kg, label, detail
        )
        decided = time.monotonic()
        self.sensing.verdict_shown()  # the record, plate and capture below are no longer the lane's hurry
        self.vehicles += 1
        record = self.recorder.make(Outcome(session, judgement, output, decided))
        if finding is not None:
            record = _with_permit(record, finding, applied=True)
        record = _with_outline(record, outline, config, session.max_height_mm)
        if self.plates is not None:
            evidence = plate if plate is not None else await self.plates.result(session.curtain_enter_t_s)
            reading = evidence.as_record(config.plates.min_confidence)
            record = await self.recorder.attach_plate(record, reading, evidence)
            record = await self._watchlist(record, session.curtain_enter_t_s)
            if finding is None and evidence.result is not None and evidence.result.valid:
                # Read after the verdict: the permit cannot change it any more, but the record says it.
                late = self._permit_finding(permits, evidence, judgement, config, outline)
                if late is not None:
                    record = _with_permit(record, late, applied=False)
            record = self._with_registry(record, evidence, judgement, config, outline)
        await self.recorder.store_record(record)
        if self.captures.enabled:
            # In the background: a slow disk must never hold up the next vehicle.  The same config
            # object judge() used goes into the capture, so it replays to this very result.
            self._spawn(self.captures.save(crossing, config, record.live_result()), "capture")

    def _permits(self) -> tuple[Any, ...]:
        document = self.documents("permits")
        return () if document is None else tuple(document.permits)

    def _permit_finding(
        self,
        permits: tuple[Any, ...],
        evidence: PlateEvidence,
        judgement: Any,
        config: Config,
        outline: OutlineResult | None,
    ) -> PermitFinding | None:
        tractor, trailer = plates_read(evidence)
        m = judgement.measurement
        oversize = () if outline is None or outline.verdict is None else outline.verdict.dimensions
        return check_permit(
            permits,
            tractor,
            trailer_plate=trailer,
            when=datetime.now(UTC),
            site_id=config.site.id,
            axle_count=judgement.vehicle_class.axle_count,
            gross_kg=judgement.gross_kg,
            axle_loads_kg=() if m is None else tuple(m.axle_loads_kg),
            tolerance_factor=config.rules.tolerance_factor,
            outline_m=None if outline is None else outline.as_values_m(),
            outline_u_m=None if outline is None else outline.as_uncertainties_m(),
            oversize=tuple(d.name for d in oversize if d.state == "over"),
            coverage=config.outline.coverage,
        )

    def _registered(self) -> dict[str, RegisteredVehicle]:
        """The registry's vehicles by plate (empty without a registry document)."""
        document = self.documents("registry")
        if document is None:
            return {}
        if self._registry[0] != id(document):
            self._registry = (id(document), by_plate(document.vehicles))
        return self._registry[1]

    def _registry_facts(self, evidence: PlateEvidence, config: Config) -> VehicleFacts | None:
        """The registry's facts for the tractor's plate as read (None: not registered, or no facts)."""
        registry = self._registered()
        if not registry:
            return None
        tractor, _ = plates_read(evidence)
        vehicle = registry.get(tractor) if tractor else None
        if vehicle is None:
            return None
        return vehicle.facts(site_facts(config))

    def _with_registry(
        self,
        record: EvidenceRecord,
        evidence: PlateEvidence,
        judgement: Any,
        config: Config,
        outline: OutlineResult | None,
    ) -> EvidenceRecord:
        """The registry's facts about the plate read (the tractor's; else the trailer's) join the record,
        and a 非法改装 flag its reasons; the verdict is not changed."""
        registry = self._registered()
        if not registry:
            return record
        tractor, trailer = plates_read(evidence)
        found: RegistryFinding | None = None
        for plate in (tractor, trailer):
            found = check_registry(
                registry,
                plate,
                axle_count=judgement.vehicle_class.axle_count if plate == tractor else None,
                outline_m=None if outline is None or plate != tractor else outline.as_values_m(),
                outline_u_m=None if outline is None else outline.as_uncertainties_m(),
                coverage=config.outline.coverage,
            )
            if found is not None:
                break
        if found is None:
            return record
        return record.model_copy(
            update={
                "registry": RecordRegistry(**found.as_record()),
                "reasons": [*record.reasons, *found.reasons()],
            }
        )

    async def _watch(self, trigger_t_s: float) -> list[RecordWatchMatch]:
        """Once the plate of the vehicle triggered at ``trigger_t_s`` is read: match it against the
        watch-list and, on a match, publish the alert at once (long before the record)."""
        assert self.plates is not None
        evidence = await self.plates.reading(trigger_t_s)
        document = self.documents("watchlist")
        if evidence is None or evidence.result is None or document is None:
            return []
        reading = evidence.as_record(self.config.plates.min_confidence)
        matches = match_watchlist(
            document.entries, reading.get("text"), reading.get("alternatives") or (), when=datetime.now(UTC)
        )
        if not matches:
            return []
        alert_id = str(uuid.uuid4())
        log.warning(
            "watch-list: plate read as %s matches %s",
            reading.get("text"),
            ", ".join(f"{m.plate} ({m.reason})" for m in matches),
        )
        alert = {
            "type": "watchlist",
            "alert_id": alert_id,
            "site_id": self.config.site.id,
            "lane": self.config.site.lane,
            "curtain_enter_utc": self.recorder.clock.utc(trigger_t_s),
            "plate_read": reading.get("text"),
            "alternatives": reading.get("alternatives") or [],
            "matches": [m.as_record() for m in matches],
        }
        # For the lane staff (the console) before the publish, which may wait seconds for a PUBACK:
        # ``sent_to_central`` is None until the broker has answered (or the uplink gave up).
        shown = {
            "alert_id": alert_id,
            "raised_utc": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "curtain_enter_utc": alert["curtain_enter_utc"],
            "plate_read": alert["plate_read"],
            "alternatives": alert["alternatives"],
            "matches": alert["matches"],
            "reasons": [
                f"{m.plate}: {m.reason}{'' if m.exact else ' (an alternative reading)'}" for m in matches
            ],
            "sent_to_central": None,
        }
        self.alerts.append(shown)
        self.alerts_raised += 1
        sent = False
        try:
            if self.alert is not None:
                sent = await self.alert(alert)
        finally:
            shown["sent_to_central"] = sent
        return [RecordWatchMatch(**m.as_record(), alert_id=alert_id, alert_sent=sent) for m in matches]

    async def _watchlist(self, record: EvidenceRecord, trigger_t_s: float | None) -> EvidenceRecord:
        """The watch-list matches (and whether their alert went out) join the vehicle's record."""
        task = self._watches.pop(trigger_t_s, None) if trigger_t_s is not None else None
        if task is None:
            return record
        try:
            watch = await asyncio.wait_for(asyncio.shield(task), 10)
        except (TimeoutError, asyncio.CancelledError):
            return record
        if not watch:
            return record
        reasons = [*record.reasons, *(f"watch-list: {m.plate}: {m.reason}" for m in watch)]
        return record.model_copy(update={"watchlist": watch, "reasons": reasons})

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)
        return task

    # -- diagnostics -------------------------------------------------------------------------------

    def device_health(self) -> dict[str, Any]:
        drivers: dict[str, Any] = {**self.sensing.drivers, "display": self.display, "barrier": self.barrier}
        health = {name: driver.health() for name, driver in drivers.items()}
        if self.plates is not None:
            health["camera"] = self.plates.camera.health()
        if self.outline is not None:
            health.update({f"lidar_{name}": d.health() for name, d in self.outline.drivers.items()})
        return health

    def health(self) -> dict[str, Any]:
        return {
            "lane": {**self.sensing.lane.state(), "busy": self.sensing.busy.state()},
            "vehicles": self.vehicles,
            "drift_monitor": self.drift.state(),
            "auto_zero": self.weighing.state(),
            "captures": self.captures.health(),
            "plates": None if self.plates is None else self.plates.health(),
            "watchlist_alerts_raised": self.alerts_raised,
            **({} if self.outline is None else {"outline": self.outline.health()}),
        }


def _with_permit(record: EvidenceRecord, finding: PermitFinding, *, applied: bool) -> EvidenceRecord:
    permit = RecordPermit(**finding.as_record(), applied_to_verdict=applied)
    return record.model_copy(update={"permit": permit})


def plates_read(evidence: PlateEvidence | None) -> tuple[str | None, str | None]:
    """(tractor plate, trailer plate) as read: the chosen reading, and the valid readings of every frame
    (a rear camera sees the trailer's plate, which ends in 挂).  None where none was read validly."""
    if evidence is None:
        return None, None
    texts: list[str] = []
    if evidence.result is not None and evidence.result.valid and evidence.result.text:
        texts.append(evidence.result.text)
    texts += [s.text for s in evidence.sightings if s.status == "valid" and s.text]
    tractor = next((t for t in texts if not t.endswith("挂")), None)
    trailers = [t for t in texts if t.endswith("挂")]
    trailer = max(set(trailers), key=trailers.count) if trailers else None
    return tractor, trailer


def _with_outline(
    record: EvidenceRecord, outline: OutlineResult | None, config: Config, curtain_max_height_mm: int
) -> EvidenceRecord:
    """The outline (when the lane has a gantry) and the curtain's height (when it reports one)."""
    update: dict[str, Any] = {}
    if curtain_max_height_mm > 0:
        update["curtain_max_height_mm"] = curtain_max_height_mm
    if outline is not None:
        o, v = outline.outline, outline.verdict
        update["outline"] = RecordOutline(
            status=outline.status,
            reason=outline.reason or None,
            length_m=None if o is None or not outline.measured else round(o.length_m, 3),
            width_m=None if o is None or not outline.measured else round(o.width_m, 3),
            height_m=None if o is None or not outline.measured else round(o.height_m, 3),
            u_length_m=None if o is None or not outline.measured else round(o.u_length_m, 4),
            u_width_m=None if o is None or not outline.measured else round(o.u_width_m, 4),
            u_height_m=None if o is None or not outline.measured else round(o.u_height_m, 4),
            coverage=config.outline.coverage,
            states={} if v is None else {d.name: d.state for d in v.dimensions},
            limits_m={} if v is None else {f"{d.name}_m": d.limit_m for d in v.dimensions},
            source=None if v is None else v.source,
            oversize=None if v is None else v.oversize,
            uncertain_rule=config.outline.uncertain,
            scans=dict(outline.scans),
            points=None if o is None else o.points,
            rejected=None if o is None else o.rejected,
            **(
                {}  # set only when a speed pair corrected the speed: other records keep their text
                if o is None or not outline.measured or math.isnan(o.pair_speed_error)
                else {
                    "speed_correction": round(o.speed_correction, 5),
                    "u_speed_rel": round(o.u_speed_rel, 5),
                }
            ),
        )
    return record.model_copy(update=update) if update else record


def _judged_outline(judgement: Judgement, outline: OutlineResult, config: Config) -> Judgement:
    """The judgement with the outline's verdict (oversize, uncertain, unavailable) and notes applied."""
    decision = apply_outline(
        judgement.decision,
        outline.verdict,
        config.outline.uncertain,
        "" if outline.measured else outline.reason,
    )
    return dataclasses.replace(
        judgement, decision=dataclasses.replace(decision, reasons=(*decision.reasons, *outline.notes))
    )


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s failed: %r", task.get_name(), task.exception())
