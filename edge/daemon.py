"""The station daemon: builds the stages of its site kind and the shared services, and wires them.

Wiring only.  One truck's way through the stages is told in ``edge/sites/toll_entrance.py``; the typed
hand-offs are ``Crossing`` (sensing -> weighing), ``Weighed`` (weighing -> judging), ``Judgement``
(judging -> acting, recording) and ``EvidenceRecord`` (recording -> store -> shipping).  One
``asyncio.TaskGroup`` holds every long-running task, each named; one stop event ends them all.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from edge import health as _health
from edge.actuate.lane_output import DISK_FULL_LINE
from edge.calibration import active_calibration, apply_calibration
from edge.config import Config
from edge.counters import StationCounters
from edge.downlink import DownlinkService
from edge.evidence import EvidenceStore, Retention
from edge.evidence.record import EvidenceRecord
from edge.evidence.recorder import Recorder
from edge.evidence.store import outbox_backlog
from edge.lock import StationLock
from edge.metrics import Metrics
from edge.query import QueryService
from edge.residency import release_clean_library_pages
from edge.rules import LimitTable
from edge.service import Notifier, watchdog_interval_s
from edge.sites.static_weighbridge import StaticWeighbridge
from edge.sites.toll_entrance import TollEntrance
from edge.uplink import Uplink, record_topic
from edge.wim import kernels

if TYPE_CHECKING:
    from edge.console import Console

__all__ = ["SITE_KINDS", "LaneDaemon"]

log = logging.getLogger(__name__)

#: On SIGTERM, how long the uplink may go on sending the records the stop itself made (s).
FLUSH_ON_STOP_S = 3.0

#: Site kinds by ``site.kind``: each is a composition of stages (see edge/sites/).
SITE_KINDS: dict[str, type[TollEntrance] | type[StaticWeighbridge]] = {
    "toll_entrance": TollEntrance,
    "static_weighbridge": StaticWeighbridge,
}


class LaneDaemon:
    """One station.  ``on_record`` is called with every record once it is stored (the demo's table)."""

    def __init__(self, config: Config, on_record: Callable[[EvidenceRecord], None] | None = None) -> None:
        # The active static calibration (edge calibrate) replaces the configured spans and starting zero.
        self.calibration = active_calibration(config.evidence.database)
        if self.calibration is not None:
            config = apply_calibration(config, self.calibration)
        self.config = config
        self.lock = StationLock(
            config.evidence.database,
            {role: device.port for role, device in config.devices if device is not None},
        )
        self.store = EvidenceStore(config.evidence.database)
        self.retention = Retention.from_config(self.store, config)  # evidence.budget_mb
        self.counters = StationCounters(config.evidence.database)  # kept across restarts (edge/counters.py)
        zero = None if self.calibration is None else np.asarray(self.calibration.zero_counts, np.float64)
        # Prometheus (off by default): verdicts and latency per record, the rest from the status snapshot.
        self.metrics = Metrics(config.site.id, config.site.lane) if config.metrics.enabled else None

        def announce(record: EvidenceRecord) -> None:
            if self.metrics is not None:
                latency = None if record.timing is None else record.timing.verdict_latency_ms
                self.metrics.observe(str(record.verdict.value), latency)
            if on_record is not None:
                on_record(record)

        def recorder(devices: Callable[[], dict[str, Any]], drift: Callable[[], dict[str, Any]]) -> Recorder:
            return Recorder(
                config,
                self.store,
                record_topic(config),
                devices,
                drift,
                self.calibration,
                wake_uplink=lambda: self.uplink.wake.set(),
                on_record=announce,
            )

        self.site = SITE_KINDS[config.site.kind](
            config, LimitTable.load(config.rules.limits_table or None), recorder, zero
        )
        self.recorder = self.site.recorder
        # The lane's busy signal holds back a backlog: the lane first (see README, "The lane first").
        self.uplink = Uplink(config, self.store, health=self.status_summary, lane_busy=self.site.sensing.busy)
        self.query = QueryService(config, health=self.health)  # answers central requests (edge/query)
        self.downlink = DownlinkService(config, on_config=self._apply_remote_config)  # edge/downlink
        self.site.documents = self.downlink.current  # permits and watch-list in the verdict
        self.site.alert = self.uplink.publish_alert  # watch-list alerts, ahead of the record
        self.ready = asyncio.Event()
        self.notifier = Notifier()  # systemd Type=notify: READY, WATCHDOG, STOPPING (edge/service.py)
        self.console: Console | None = None  # the technician's web console (off by default; edge/console)
        if config.console.enabled:
            from edge.console import Console  # aiohttp loads only when the console is on

            self.console = Console(self)
        # While records wait in the disk-full spool, the board says so under every verdict (and idle text).
        self.site.output.notice = lambda: DISK_FULL_LINE if self.recorder.waiting_for_disk else None

    async def run(self, stop: asyncio.Event, *, finish_vehicles: bool = False) -> None:
        """Run until ``stop``.  With ``finish_vehicles`` (``edge run``: SIGTERM, SIGINT) a vehicle crossing
        at the stop finishes first, or is recorded as interrupted (``lane.stop_wait_s``)."""
        started = time.monotonic()
        with self.lock:  # refuses to start when another daemon holds the database or a port
            await asyncio.to_thread(kernels.warm_up)
            release_clean_library_pages()  # LLVM's code, needed only to load the kernels (edge/residency.py)
            await self.store.open()
            try:
                await self.recorder.open()  # the disk-full spool: reserved now, while there is room
                # The heartbeat's vehicle count goes on from the last run: every vehicle has a record.
                self.site.vehicles = (await self.store.counts())["records"] + self.recorder.waiting_for_disk
                # Refusal and write-error counts and the drift monitor go on from the last run too.
                self.counters.restore(self, await asyncio.to_thread(self.counters.load))
                await self.downlink.load()  # a stored remote config applies from the first vehicle
                await self.site.start()
                # Tools and tests wait for this line: keep its words.
                log.info("kernels and evidence ready in %.2f s", time.monotonic() - started)
                self._start_metrics()
                await self._start_console()
                self.notifier.ready(
                    f"site {self.config.site.id} lane {self.config.site.lane} deciding; {self.site.vehicles} vehicles so far"
                )
                try:
                    # Two steps on SIGTERM: ``stop`` ends the services at once; the lane's own tasks go on
                    # until ``halt``, once the vehicle crossing has finished or is recorded as interrupted.
                    halt = asyncio.Event()
                    # The uplink stops last: a record the stop itself made (the finished or interrupted
                    # vehicle) still goes out while the broker is there (_finish_on).
                    uplink_stop = asyncio.Event()
                    async with asyncio.TaskGroup() as tasks:
                        for name, coro in self.site.tasks(halt).items():
                            tasks.create_task(coro, name=name)
                        tasks.create_task(
                            self._finish_on(stop, halt, uplink_stop, finish_vehicles), name="finish-on-stop"
                        )
                        tasks.create_task(self._housekeeping(halt), name="housekeeping")
                        tasks.create_task(self.uplink.run(uplink_stop), name="uplink")
                        # its own task, as a pass over a large database may take seconds
                        tasks.create_task(self.retention.run(stop), name="retention")
                        tasks.create_task(self.query.run(stop), name="query")
                        tasks.create_task(self.downlink.run(stop), name="downlink")
                        self.ready.set()
                finally:
                    self.notifier.stopping()
                    if self.console is not None:
                        await self.console.stop()
                    await self.site.close()
                    await self._write_status("stopped")
                    if self.metrics is not None:
                        self.metrics.stop()
            finally:
                self.recorder.close()
                await self.store.close()

    def _apply_remote_config(self, config: Config) -> None:
        """A downlink config document was applied: the next vehicle is judged with it."""
        self.config = config
        self.site.apply_config(config)

    async def _finish_on(
        self, stop: asyncio.Event, halt: asyncio.Event, uplink_stop: asyncio.Event, finish_vehicles: bool
    ) -> None:
        """Once ``stop`` is set: the vehicle crossing finishes (bounded by lane.stop_wait_s), then ``halt``;
        the uplink sends what is left (at most :data:`FLUSH_ON_STOP_S`, while connected), then stops."""
        try:
            await stop.wait()
            if not finish_vehicles:
                return
            self.notifier.stopping()
            try:
                interrupted = await self.site.finish(self.config.lane.stop_wait_s)
                if interrupted:
                    log.warning("%d vehicles recorded as interrupted by the stop", interrupted)
            finally:
                halt.set()
            await self._flush_uplink(FLUSH_ON_STOP_S)
        finally:
            halt.set()
            uplink_stop.set()

    async def _flush_uplink(self, wait_s: float) -> None:
        """Wait (at most ``wait_s``) until the outbox is empty, while the uplink is connected; rows left
        stay in the outbox for the next start: nothing is lost either way."""
        deadline = time.monotonic() + wait_s
        self.uplink.wake.set()
        while time.monotonic() < deadline and self.uplink.state == "connected":
            if (await self.store.counts())["outbox_pending"] == 0:
                return
            await asyncio.sleep(0.05)

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        # The watchdog hears from this loop, so a stuck event loop (or housekeeping) gets the service
        # restarted; WatchdogSec= is far above the 1 s beat.
        watchdog = watchdog_interval_s() is not None
        status_at = 0.0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            self.site.tick()
            self.recorder.clock.refresh()
            await self.recorder.retry_unstored()
            await self.site.output.refresh_notice()  # "disk full" on the idle board, or gone again
            if watchdog:
                self.notifier.watchdog()
            if time.monotonic() - status_at >= _health.STATUS_EVERY_S:
                status_at = time.monotonic()
                await self._write_status("running")

    def _start_metrics(self) -> None:
        if self.metrics is None:
            return
        bind, port = self.config.metrics.bind, self.config.metrics.port
        try:
            self.metrics.start(bind, port)
        except OSError as exc:  # the lane first: it decides without its metrics
            log.error(
                "metrics not served on %s:%d (%s): give this lane its own metrics.port", bind, port, exc
            )
        else:
            log.info("Prometheus metrics on http://%s:%d/metrics", bind, port)

    async def _start_console(self) -> None:
        if self.console is None:
            return
        try:
            await self.console.start()
        except OSError as exc:  # port taken, unreadable certificate: the lane decides without its console
            console = self.config.console
            log.error("console not served on %s:%d (%s)", console.bind, console.port, exc)
        else:
            log.info("technician console on %s", self.console.url)

    async def _write_status(self, state: str) -> None:
        """The status file ``edge status`` reads (beside the database), and the metrics' snapshot."""
        document = _health.status_document(self, state)
        await asyncio.to_thread(self.counters.save, self.counters.collect(self))
        try:
            outbox = await asyncio.to_thread(outbox_backlog, self.config.evidence.database)
        except Exception as exc:  # a read-only look; never the lane's problem
            outbox = {"error": str(exc)}
        oldest = outbox.get("oldest_unsent_queued_utc")
        if oldest:
            with contextlib.suppress(ValueError):
                queued = calendar.timegm(time.strptime(str(oldest), "%Y-%m-%dT%H:%M:%SZ"))
                outbox["oldest_unsent_age_s"] = round(max(0.0, time.time() - queued), 1)
        document["outbox"] = outbox
        if self.metrics is not None:
            self.metrics.update(document)
        try:
            await asyncio.to_thread(
                _health.write_status_file, _health.status_path(self.config.evidence.database), document
            )
        except OSError as exc:
            log.debug("status file not written: %s", exc)

    # -- views (edge/health.py) --------------------------------------------------------------------

    @property
    def vehicles(self) -> int:
        return self.site.vehicles

    def health(self) -> dict[str, Any]:
        return _health.health(self)

    def status_summary(self) -> dict[str, Any]:
        return _health.status_summary(self)
