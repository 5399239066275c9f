"""Sensing: the lane's input devices to one :class:`~edge.lane.crossing.Crossing` per vehicle.

The stage owns the WIM digitiser, the light curtain and the tyre/axle recogniser, the sample buffer, the
vehicle state machine and the lane's busy signal.  Its callbacks run on the event loop; a finished
vehicle session waits in a queue until :meth:`Sensing.next_crossing` cuts its load samples out of the
buffer.  ``on_vehicle_arriving`` is told (synchronously) when the curtain sees a vehicle enter: the
acting stage closes the barrier and the plate reader starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable

from drivers.axle_sensor.driver import AxlePassage, TyreRecogniser
from drivers.separator.driver import LightCurtain, VehicleEdge
from drivers.wim_digitiser.driver import LoadSamples, WimDigitiser
from edge.config import Config
from edge.lane.buffer import SampleBuffer, SampleWindow
from edge.lane.busy import LaneBusy
from edge.lane.crossing import Crossing, build_crossing
from edge.lane.devices import build_driver
from edge.lane.session import LaneStateMachine, VehicleSession

__all__ = ["QUIET_AFTER_ACTIVITY_S", "Sensing"]

log = logging.getLogger(__name__)

#: The lane counts as empty this long after the last curtain or axle event (s).
QUIET_AFTER_ACTIVITY_S = 3.0


class Sensing:
    """Drivers -> vehicle sessions -> crossings.  ``busy`` is set from a vehicle's arrival until the
    acting stage calls :meth:`verdict_shown` for it."""

    def __init__(self, config: Config, on_vehicle_arriving: Callable[[float], None]) -> None:
        scale, devices = config.scale, config.devices
        self._scale = scale
        self._data_wait_s = config.lane.data_wait_s
        self._on_vehicle_arriving = on_vehicle_arriving
        self.buffer = SampleBuffer(scale.n_channels, capacity=int(scale.sample_rate_hz * 240))
        self.lane = LaneStateMachine(
            self._sessions_put,
            config.lane.session_timeout_s,
            strip_distance_m=scale.exit_x_m - scale.entry_strip_x_m,
            mid_fractions=tuple(
                (x - scale.entry_strip_x_m) / (scale.exit_x_m - scale.entry_strip_x_m)
                for x in scale.mid_strips_x_m
            ),
        )
        # Each device's configured type selects its driver class (drivers/registry.py).
        self.wim = build_driver(
            devices.wim, WimDigitiser, on_samples=self._on_samples, expected_channels=scale.n_channels
        )
        self.curtain = build_driver(devices.separator, LightCurtain, on_edge=self._on_edge)
        self.axles = build_driver(
            devices.axle_sensor, TyreRecogniser, on_axle=self._on_axle, mid_strips=len(scale.mid_strips_x_m)
        )
        self.busy = LaneBusy()
        self._sessions: asyncio.Queue[VehicleSession] = asyncio.Queue()
        self._judging = False
        self._last_activity_s = -math.inf
        self._rate_warned = False
        self._samples_arrived = asyncio.Event()

    @property
    def drivers(self) -> dict[str, WimDigitiser | LightCurtain | TyreRecogniser]:
        return {"wim": self.wim, "separator": self.curtain, "axle_sensor": self.axles}

    # -- driver callbacks (synchronous, on the event loop) -----------------------------------------

    def _on_samples(self, block: LoadSamples) -> None:
        if block.sample_rate_hz != self._scale.sample_rate_hz and not self._rate_warned:
            self._rate_warned = True
            log.warning(
                "digitiser sends %d Hz but scale.sample_rate_hz is %d: correct the config (weighing uses the"
                " device's rate)",
                block.sample_rate_hz,
                self._scale.sample_rate_hz,
            )
        self.buffer.append(block)
        self._samples_arrived.set()

    def _on_edge(self, edge: VehicleEdge) -> None:
        self._last_activity_s = time.monotonic()
        self.lane.on_edge(edge)
        self._update_busy()
        if edge.kind == "enter":
            self._on_vehicle_arriving(edge.host_time_s)

    def _on_axle(self, axle: AxlePassage) -> None:
        self._last_activity_s = time.monotonic()
        self.lane.on_axle(axle)
        self._update_busy()

    def _sessions_put(self, session: VehicleSession) -> None:
        self._sessions.put_nowait(session)

    def _update_busy(self) -> None:
        """Busy while a vehicle is open or on the scale, and until every finished one has its verdict."""
        self.busy.set(
            self.lane.open is not None
            or bool(self.lane.on_scale)
            or not self._sessions.empty()
            or self._judging
        )

    def verdict_shown(self) -> None:
        """The vehicle being judged has its verdict on the board: the lane is no longer busy for it."""
        self._judging = False
        self._update_busy()

    # -- for the other stages ----------------------------------------------------------------------

    def tick(self) -> None:
        """Once a second: expire sessions that never finish."""
        self.lane.expire(time.monotonic())
        self._update_busy()

    def empty_window(self, length_s: float = 1.0) -> SampleWindow | None:
        """The last ``length_s`` of samples when the lane is provably empty: no vehicle open or on the
        scale, nothing in the curtain, and no event for :data:`QUIET_AFTER_ACTIVITY_S`; else None."""
        now = time.monotonic()
        if self.lane.open is not None or self.lane.on_scale or self.curtain.occupied:
            return None
        if now - self._last_activity_s < QUIET_AFTER_ACTIVITY_S:
            return None
        window = self.buffer.window(now - length_s, now)
        return window if window.samples_lost == 0 else None

    async def next_session(self, stop: asyncio.Event) -> VehicleSession | None:
        """The next finished vehicle session, or None once ``stop`` is set."""
        if stop.is_set():
            return None
        get = asyncio.ensure_future(self._sessions.get())
        stop_wait = asyncio.ensure_future(stop.wait())
        try:
            done, _ = await asyncio.wait({get, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
        if get not in done:
            get.cancel()
            return None
        self._judging = True
        return get.result()

    async def crossing(self, session: VehicleSession) -> Crossing:
        """The session's crossing, once the buffer holds samples up to its last exit (bounded wait)."""
        if session.last_exit_t_s is not None:
            # Samples up to the last exit suffice (after it the scale is empty); waiting for the post-roll
            # too would add its length to every verdict's latency.
            await self._wait_for_samples(session.last_exit_t_s)
        return build_crossing(session, self.buffer, self._scale.sample_rate_hz, self._scale.preroll_s, None)

    async def _wait_for_samples(self, until_s: float) -> None:
        """Wait (bounded by lane.data_wait_s) until the buffer holds samples up to ``until_s``."""
        deadline = time.monotonic() + self._data_wait_s
        while self.buffer.latest_time_s < until_s:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._samples_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._samples_arrived.wait(), remaining)
