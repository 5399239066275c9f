"""The lane daemon: wires drivers -> lane -> wim -> rules -> actuate -> evidence -> uplink.

One ``asyncio.TaskGroup`` holds every long-running task, each named; one stop event ends them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from drivers.axle_sensor.driver import AxlePassage, TyreRecogniser
from drivers.barrier.driver import Barrier
from drivers.display.driver import LedDisplay
from drivers.separator.driver import LightCurtain, VehicleEdge
from drivers.wim_digitiser.driver import LoadSamples, WimDigitiser
from edge import __version__
from edge.actuate import LaneOutput
from edge.calibration import active_calibration, apply_calibration, identity, is_overdue
from edge.config import Config
from edge.downlink import DownlinkService
from edge.evidence import EvidenceError, EvidenceStore, Retention
from edge.judge import Judgement, judge
from edge.lane import LaneBusy, LaneStateMachine, SampleBuffer, VehicleSession
from edge.lane.crossing import build_crossing
from edge.lane.devices import build_driver
from edge.query import QueryService
from edge.rules import LimitTable, Verdict
from edge.uplink import Uplink, record_topic
from edge.wim import kernels
from edge.wim.autozero import AutoZeroTracker
from edge.wim.capture import CaptureWriter, live_result_from_record
from edge.wim.drift import DriftMonitor
from edge.wim.estimate import span_per_cell

if TYPE_CHECKING:
    from edge.plates.lane import LanePlates

__all__ = ["LaneDaemon"]

log = logging.getLogger(__name__)
RECORD_SCHEMA = "weighlane.record/1"


class LaneDaemon:
    """One weigh lane.  ``on_record`` is called with every stored record (the demo's live table)."""

    def __init__(self, config: Config, on_record: Callable[[dict[str, Any]], None] | None = None) -> None:
        # The active static calibration (edge calibrate) replaces the configured spans and starting zero.
        self.calibration = active_calibration(config.evidence.database)
        if self.calibration is not None:
            config = apply_calibration(config, self.calibration)
        self.config = config
        self._on_record = on_record
        scale = config.scale
        devices = config.devices
        self.limits = LimitTable.load(config.rules.limits_table or None)
        self.buffer = SampleBuffer(scale.n_channels, capacity=int(scale.sample_rate_hz * 240))
        self.lane = LaneStateMachine(
            self._session_complete,
            config.lane.session_timeout_s,
            strip_distance_m=config.scale.exit_x_m - config.scale.entry_strip_x_m,
        )
        self.wim = build_driver(
            devices.wim, WimDigitiser, on_samples=self._on_samples, expected_channels=scale.n_channels
        )
        self.curtain = build_driver(devices.separator, LightCurtain, on_edge=self._on_edge)
        self.axles = build_driver(devices.axle_sensor, TyreRecogniser, on_axle=self._on_axle)
        self.display = build_driver(devices.display, LedDisplay)
        self.barrier = build_driver(devices.barrier, Barrier)
        self.output = LaneOutput(self.display, self.barrier, config.lane.idle_lines, config.lane.idle_after_s)
        self.store = EvidenceStore(config.evidence.database)
        self.retention = Retention.from_config(self.store, config)  # evidence.budget_mb
        # Set while a vehicle crosses and until its verdict is shown: the uplink holds back a backlog.
        self.lane_busy = LaneBusy()
        self._judging = False
        self.uplink = Uplink(config, self.store, health=self.status_summary, lane_busy=self.lane_busy)
        self.query = QueryService(config, health=self.health)  # answers central requests (edge/query)
        self.downlink = DownlinkService(config, on_config=self._apply_remote_config)  # edge/downlink
        self._sessions: asyncio.Queue[VehicleSession] = asyncio.Queue()
        self._unstored: list[tuple[dict[str, Any], str]] = []  # records waiting for a writable disk
        self._zero_counts: np.ndarray | None = None
        if self.calibration is not None:
            self._zero_counts = np.asarray(self.calibration.zero_counts, dtype=np.float64)
        self.drift = DriftMonitor(alarm_fraction=config.wim.drift_alarm_fraction)
        self.captures = CaptureWriter.from_config(config)
        self.plates: LanePlates | None = None
        if config.plates.enabled:
            from edge.plates.lane import LanePlates  # OpenCV and onnxruntime load only when plates are on

            self.plates = LanePlates(config.plates)
        self.autozero = AutoZeroTracker(
            span_per_cell(config.scale),
            config.scale.cells_per_platform,
            reference_counts=None if self._zero_counts is None else self._zero_counts.copy(),
        )
        self._last_activity_s = -math.inf
        self._rate_warned = False
        self._background: set[asyncio.Task[Any]] = set()
        self._utc_minus_mono = time.time() - time.monotonic()
        self.vehicles = 0
        self.ready = asyncio.Event()
        self._samples_arrived = asyncio.Event()

    # -- driver callbacks (synchronous, on the event loop) -----------------------------------------

    def _on_samples(self, block: LoadSamples) -> None:
        if block.sample_rate_hz != self.config.scale.sample_rate_hz and not self._rate_warned:
            self._rate_warned = True
            log.warning(
                "digitiser sends %d Hz but scale.sample_rate_hz is %d: correct the config (weighing uses the"
                " device's rate)",
                block.sample_rate_hz,
                self.config.scale.sample_rate_hz,
            )
        self.buffer.append(block)
        self._samples_arrived.set()

    def _on_edge(self, edge: VehicleEdge) -> None:
        self._last_activity_s = time.monotonic()
        self.lane.on_edge(edge)
        self._update_busy()
        if edge.kind == "enter":
            if self.plates is not None:
                self.plates.trigger(edge.host_time_s)
            task = asyncio.get_running_loop().create_task(
                self.output.vehicle_arriving(), name="barrier-close"
            )
            task.add_done_callback(_log_failure)

    def _on_axle(self, axle: AxlePassage) -> None:
        self._last_activity_s = time.monotonic()
        self.lane.on_axle(axle)
        self._update_busy()

    def _session_complete(self, session: VehicleSession) -> None:
        self._sessions.put_nowait(session)

    def _update_busy(self) -> None:
        """Busy while a vehicle is open or on the scale, and until every finished one has its verdict."""
        self.lane_busy.set(
            self.lane.open is not None
            or bool(self.lane.on_scale)
            or not self._sessions.empty()
            or self._judging
        )

    def _verdict_shown(self) -> None:
        self._judging = False
        self._update_busy()

    # -- lifecycle ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        started = time.monotonic()
        await asyncio.to_thread(kernels.warm_up)
        await self.store.open()
        await self.downlink.load()  # a stored remote config applies from the first vehicle
        if self.plates is not None:
            await self.plates.start()
        # Tools and tests wait for this line: keep its words.
        log.info("kernels and evidence ready in %.2f s", time.monotonic() - started)
        try:
            async with asyncio.TaskGroup() as tasks:
                for name, driver in (
                    ("wim", self.wim),
                    ("separator", self.curtain),
                    ("axle_sensor", self.axles),
                    ("display", self.display),
                    ("barrier", self.barrier),
                ):
                    tasks.create_task(driver.run(stop), name=f"driver-{name}")
                tasks.create_task(self._weigh_loop(stop), name="weigh")
                tasks.create_task(self._housekeeping(stop), name="housekeeping")
                tasks.create_task(self.uplink.run(stop), name="uplink")
                # evidence.budget_mb; its own task, as a pass over a large database may take seconds
                tasks.create_task(self.retention.run(stop), name="retention")
                tasks.create_task(self.query.run(stop), name="query")
                tasks.create_task(self.downlink.run(stop), name="downlink")
                tasks.create_task(self._initial_display(), name="display-initial")
                self.ready.set()
        finally:
            if self.plates is not None:
                self.plates.stop()
            await self.output.close()
            if self._background:
                await asyncio.wait(self._background, timeout=10)
            self.captures.close()
            await self.store.close()

    def _apply_remote_config(self, config: Config) -> None:
        """A downlink config document was applied: the next vehicle is judged with it."""
        self.config = config
        self.output.idle_lines = config.lane.idle_lines
        self.output.idle_after_s = config.lane.idle_after_s

    async def _initial_display(self) -> None:
        for _ in range(50):
            if self.display.link.is_up:
                break
            await asyncio.sleep(0.1)
        await self.output.show_idle()

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            self.lane.expire(time.monotonic())
            self._update_busy()
            self._track_zero()
            self._utc_minus_mono = time.time() - time.monotonic()
            if self._unstored:
                await self._retry_unstored()

    def _track_zero(self) -> None:
        """Auto-zero between vehicles: only on an empty, quiet lane."""
        now = time.monotonic()
        if self.lane.open is not None or self.lane.on_scale or now - self._last_activity_s < 3.0:
            return
        if self.curtain.occupied:
            return
        window = self.buffer.window(now - 1.0, now)
        if window.samples_lost == 0 and self.autozero.observe(window.counts):
            self._zero_counts = self.autozero.zero_counts

    async def _weigh_loop(self, stop: asyncio.Event) -> None:
        stop_wait = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                get = asyncio.ensure_future(self._sessions.get())
                done, _ = await asyncio.wait({get, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    return
                session = get.result()
                self._judging = True
                try:
                    await self._judge(session)
                except Exception as exc:  # one bad vehicle must never stop the lane
                    log.exception("vehicle %d could not be judged", session.number)
                    try:
                        await self._judge_failed(session, exc)
                    except Exception:
                        log.exception("vehicle %d: even the fallback record failed", session.number)
                finally:
                    self._verdict_shown()  # already, unless judging failed before the board
        finally:
            stop_wait.cancel()

    # -- one vehicle -------------------------------------------------------------------------------

    def _utc(self, host_s: float | None) -> str | None:
        if host_s is None:
            return None
        wall = self._utc_minus_mono + host_s
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{int((wall % 1) * 1000):03d}Z"

    async def _wait_for_samples(self, until_s: float) -> None:
        """Wait (bounded by lane.data_wait_s) until the buffer holds samples up to ``until_s``."""
        deadline = time.monotonic() + self.config.lane.data_wait_s
        while self.buffer.latest_time_s < until_s:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._samples_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._samples_arrived.wait(), remaining)

    async def _judge(self, session: VehicleSession) -> None:
        if session.last_exit_t_s is not None:
            # Samples up to the last exit suffice (after it the scale is empty); waiting for the post-roll
            # too would add its length to every verdict's latency.
            await self._wait_for_samples(session.last_exit_t_s)
        crossing = build_crossing(
            session,
            self.buffer,
            self.config.scale.sample_rate_hz,
            self.config.scale.preroll_s,
            self._zero_counts,
        )
        # Off the event loop: the kernels release the GIL, and serial reads go on meanwhile.
        judgement = await asyncio.to_thread(judge, crossing, self.config, self.limits)
        if judgement.zero_source == "preroll":
            self._zero_counts = judgement.zero_counts  # auto-zero: the last empty-scale zero
        if judgement.measurement is not None and judgement.decision.verdict.value != "reweigh":
            self.drift.observe(
                judgement.vehicle_class.code, judgement.gross_kg, judgement.measurement.axle_loads_kg[0]
            )
        # The plate names the vehicle on the board when it is already read; it is never waited for here.
        plate = self.plates.ready(session.curtain_enter_t_s) if self.plates is not None else None
        read = plate.result if plate is not None else None
        label = read.text if read is not None and read.valid else f"{session.number}号车"
        output = await self.output.show_verdict(
            judgement.decision.verdict, judgement.gross_kg, judgement.limit.limit_kg, label
        )
        decided = time.monotonic()
        self._verdict_shown()  # the record, plate and capture below are no longer the lane's hurry
        self.vehicles += 1
        record = self._record(session, judgement, output, decided)
        if self.plates is not None:
            await self._add_plate(record, session)
        await self._store(record)
        if self.captures.enabled:
            # In the background: a slow disk must never hold up the next vehicle.  The same config
            # object judge() used goes into the capture, so it replays to this very result.
            self._spawn(self.captures.save(crossing, self.config, live_result_from_record(record)), "capture")

    async def _add_plate(self, record: dict[str, Any], session: VehicleSession) -> None:
        """The vehicle's plate, frame and crop join its record (the images by their sha256)."""
        from edge.plates.lane import write_attachments

        assert self.plates is not None
        evidence = await self.plates.result(session.curtain_enter_t_s)
        reading = evidence.as_record(self.config.plates.min_confidence)
        record["plate"] = reading["text"]
        record["plate_reading"] = reading
        folder = Path(self.config.evidence.database).parent / "attachments"
        try:
            record["attachments"] = await asyncio.to_thread(write_attachments, folder, record["id"], evidence)
        except OSError as exc:  # a full disk loses the images, never the record
            log.error(
                "plate images of record %s not written (%s): free space on the evidence volume",
                record["id"],
                exc,
            )
            reading["problem"] = f"images not stored: {exc}"

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    async def _judge_failed(self, session: VehicleSession, error: Exception) -> None:
        """Last resort: tell the driver to re-weigh and keep what is known as evidence."""
        output = await self.output.show_verdict(Verdict.REWEIGH, None, None, f"{session.number}号车")
        self._verdict_shown()
        now = time.monotonic()
        await self._store(
            {
                "schema": RECORD_SCHEMA,
                "id": str(uuid.uuid4()),
                "site_id": self.config.site.id,
                "lane": self.config.site.lane,
                "vehicle_number": session.number,
                "time_utc": self._utc(session.last_exit_t_s or now),
                "plate": None,
                "axle_count": len(session.axles),
                "verdict": "reweigh",
                "reasons": [f"internal error while judging: {error!r}", *session.problems],
                "lane_output": output,
                "devices": self.device_health(),
                "software": {"name": "weighlane-edge", "version": __version__},
                "attachments": [],
            }
        )

    def _record(
        self, session: VehicleSession, judgement: Judgement, output: dict[str, str], decided_s: float
    ) -> dict[str, Any]:
        m, vclass, limit, decision = (
            judgement.measurement,
            judgement.vehicle_class,
            judgement.limit,
            judgement.decision,
        )
        last_exit = session.last_exit_t_s or session.closed_t_s
        return {
            "schema": RECORD_SCHEMA,
            "id": str(uuid.uuid4()),
            "site_id": self.config.site.id,
            "lane": self.config.site.lane,
            "vehicle_number": session.number,
            "time_utc": self._utc(last_exit),
            "plate": None,
            "axle_count": len(session.axles),
            "tyres": [a.tyre for a in session.axles],
            "vehicle_class": vclass.code,
            "body": vclass.body.value,
            "axle_groups": list(vclass.groups),
            "wim": m.as_dict() if m is not None else None,
            "limit": {
                "limit_kg": limit.limit_kg,
                "base_limit_kg": limit.base_limit_kg,
                "rule_id": limit.rule_id,
                "rule_text": limit.rule_text,
                "source": limit.source,
                "deductions": list(limit.deductions),
                "notes": list(limit.notes),
                "tolerance_factor": decision.tolerance_factor,
                "threshold_kg": round(decision.threshold_kg, 1),
            },
            "verdict": decision.verdict.value,
            "reasons": list(decision.reasons),
            "lane_output": output,
            "timing": {
                "curtain_enter_utc": self._utc(session.curtain_enter_t_s),
                "curtain_leave_utc": self._utc(session.curtain_leave_t_s),
                "last_axle_exit_utc": self._utc(last_exit),
                "decided_utc": self._utc(decided_s),
                "verdict_latency_ms": None if last_exit is None else round((decided_s - last_exit) * 1000, 1),
            },
            "devices": self.device_health(),
            "calibration": {
                "kg_per_count": self.config.scale.kg_per_count,
                "static": identity(self.calibration) if self.calibration else None,
                "static_overdue": is_overdue(self.calibration) if self.calibration else None,
                "zero_source": judgement.zero_source,
                "dynamic_correction_factor": judgement.correction_factor,
                "drift_monitor": self.drift.state(),
            },
            "software": {"name": "weighlane-edge", "version": __version__},
            "attachments": [],
        }

    async def _store(self, record: dict[str, Any]) -> None:
        try:
            stored = await self.store.add(record, record_topic(self.config))
        except EvidenceError as exc:
            log.error("%s; the record is kept in memory and retried", exc)
            self._unstored.append((record, record_topic(self.config)))
            self._notify({**record, "seq": None})
            return
        self.uplink.wake.set()
        self._notify(stored)

    def _notify(self, record: dict[str, Any]) -> None:
        """Tell the observer (the demo's table); its failure is logged, never taken for the vehicle's."""
        if self._on_record is None:
            return
        try:
            self._on_record(record)
        except Exception:
            log.exception("record observer failed")

    async def _retry_unstored(self) -> None:
        while self._unstored:
            record, topic = self._unstored[0]
            try:
                await self.store.add(record, topic)
            except EvidenceError:
                return
            self._unstored.pop(0)
            self.uplink.wake.set()

    # -- diagnostics -------------------------------------------------------------------------------

    def device_health(self) -> dict[str, Any]:
        health = {
            "wim": self.wim.health(),
            "separator": self.curtain.health(),
            "axle_sensor": self.axles.health(),
            "display": self.display.health(),
            "barrier": self.barrier.health(),
        }
        if self.plates is not None:
            health["camera"] = self.plates.camera.health()
        return health

    def status_summary(self) -> dict[str, Any]:
        """What the station's heartbeat tells the central office: link states, bad frames, calibration due,
        disk, clock."""
        devices = {
            name: {
                "state": dev.get("state"),
                "frames_bad": dev.get("frames_bad"),
                "last_error": dev.get("last_error") or None,
            }
            for name, dev in self.device_health().items()
        }
        disk: dict[str, Any]
        try:
            usage = shutil.disk_usage(Path(self.config.evidence.database).resolve().parent)
            disk = {"free_mb": round(usage.free / 1e6), "used_fraction": round(usage.used / usage.total, 3)}
        except OSError as exc:
            disk = {"error": str(exc)}
        return {
            "vehicles": self.vehicles,
            "devices": devices,
            "calibration": None
            if self.calibration is None
            else {
                "id": self.calibration.calibration_id,
                "valid_until_utc": self.calibration.valid_until_utc,
                "overdue": is_overdue(self.calibration),
            },
            "disk": disk,
            "clock_synchronised": _clock_synchronised(),
            "drift_alarm": self.drift.alarm,
            "evidence_write_errors": self.store.write_errors,
            "records_waiting_for_disk": len(self._unstored),
            "records_refused_by_broker": self.uplink.refused,  # MQTT 5 PUBACK >= 0x80; the rows stay unsent
            "evidence_budget_alarm": self.retention.alarm,
            "downlink_versions": self.downlink.versions(),
        }

    def health(self) -> dict[str, Any]:
        return {
            "devices": self.device_health(),
            "lane": {**self.lane.state(), "busy": self.lane_busy.state()},
            "uplink": self.uplink.health(),
            "query": self.query.health(),
            "downlink": self.downlink.health(),
            "evidence": {
                "database": str(self.store.path),
                "signing_key_id": self.store.key_id,
                "write_errors": self.store.write_errors,
                "last_error": self.store.last_error,
                "records_waiting_for_disk": len(self._unstored),
                "retention": self.retention.health(),
            },
            "vehicles": self.vehicles,
            "drift_monitor": self.drift.state(),
            "auto_zero": self.autozero.state(),
            "captures": self.captures.health(),
            "plates": None if self.plates is None else self.plates.health(),
        }


def _clock_synchronised() -> bool | None:
    """systemd-timesyncd / chrony via the kernel: True when NTP discipline is active, None if unknown."""
    if Path("/run/systemd/timesync/synchronized").exists():
        return True
    try:
        import ctypes

        class _Timex(ctypes.Structure):
            _fields_ = [("modes", ctypes.c_uint), ("_rest", ctypes.c_byte * 204)]

        libc = ctypes.CDLL(None, use_errno=True)
        state = libc.adjtimex(ctypes.byref(_Timex()))
    except (OSError, AttributeError):
        return None
    return bool(state != 5)  # TIME_ERROR (5): the clock is not synchronised


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s failed: %r", task.get_name(), task.exception())
