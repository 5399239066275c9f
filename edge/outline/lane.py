"""The outline gantry in a lane: scans in, one outline per vehicle out (``[outline]`` in the config).

Every scanner's scans go into a ring of the last :data:`KEEP_S` seconds, stamped on the host's monotonic
clock (the driver maps the scanner's clock onto it).  The vehicle's scans are those from ``window_pad_s``
before the light curtain's ENTER to ``window_pad_s`` after its LEAVE (the gantry stands at the curtain),
cut short at the neighbouring vehicles' curtain events.

The measurement runs in two steps so that the verdict does not wait for it:

1. as soon as the curtain's LEAVE plus the pad has passed (the tail is past the gantry, seconds before
   the last axle leaves the scale), :func:`~edge.outline.measure.prepare_outline` runs in a thread:
   points, outlier tests, noise (all of the heavy work, which needs no speed);
2. at the verdict, the speed profile fitted to the WIM axle timing turns scan times into distance and
   :func:`~edge.outline.measure.finish_outline` gives length, width and height (a few ms).

Anything missing (no scans: a scanner unplugged; too few points; no speed profile; the wait past
``wait_s``) gives an outline with status ``unavailable`` and the reason: the verdict still goes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.lidar.driver import LidarScan, LidarScanner
from edge.config import OutlineConfig
from edge.lane.devices import build_lidar
from edge.lane.session import VehicleSession
from edge.outline.limits import ORDER_62_LIMITS, OversizeVerdict, judge_outline
from edge.outline.measure import (
    Outline,
    OutlineParams,
    PreparedScans,
    ScannerScans,
    finish_outline,
    prepare_outline,
)
from edge.wim.motion import SpeedProfile

__all__ = ["KEEP_S", "LaneOutline", "OutlineResult"]

log = logging.getLogger(__name__)

#: Seconds of scans kept per scanner (a vehicle crawling through the curtain takes less).
KEEP_S = 120.0
#: After the window's end, scans already sent may still be on the wire this long.
_SETTLE_S = 0.05
_POLL_S = 0.02
#: A speed scanner upstream of the gantry saw the vehicle earlier: its window starts this much earlier per
#: metre upstream (the slowest vehicle measured, 0.5 m/s).  Other vehicles in that window are left out by
#: position (edge/outline/measure.py).
_PAIR_S_PER_M = 2.0


@dataclass(frozen=True)
class _Prepared:
    prepared: PreparedScans | None
    scans: dict[str, int]  # scans of each scanner in the vehicle's window
    window: tuple[float, float]
    problem: str = ""


@dataclass(frozen=True)
class OutlineResult:
    """One vehicle's outline: measured (``outline`` and ``verdict`` set) or unavailable (``reason``)."""

    status: str  # "measured" or "unavailable"
    reason: str = ""
    outline: Outline | None = None
    verdict: OversizeVerdict | None = None
    scans: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def measured(self) -> bool:
        return self.status == "measured"

    def as_values_m(self) -> dict[str, float]:
        """Length, width and height (m) for the permit and registry checks; empty when unavailable."""
        o = self.outline
        if o is None or not self.measured:
            return {}
        return {"length_m": o.length_m, "width_m": o.width_m, "height_m": o.height_m}

    def as_uncertainties_m(self) -> dict[str, float]:
        o = self.outline
        if o is None or not self.measured:
            return {}
        return {"length_m": o.u_length_m, "width_m": o.u_width_m, "height_m": o.u_height_m}


class _Ring:
    """One scanner's recent scans: host times and ranges (uint16 mm, 0 = no echo)."""

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.ranges: deque[npt.NDArray[np.uint16]] = deque()
        self.start_angle_deg = 0.0
        self.angular_step_deg = 0.0

    def add(self, scan: LidarScan) -> None:
        if self.ranges and scan.ranges_mm.shape[0] != self.ranges[-1].shape[0]:
            self.times.clear()  # the scanner's resolution changed: the old scans do not stack with it
            self.ranges.clear()
        self.start_angle_deg = scan.start_angle_deg
        self.angular_step_deg = scan.angular_step_deg
        self.times.append(scan.host_time_s)
        self.ranges.append(np.clip(np.rint(scan.ranges_mm), 0, 65535).astype(np.uint16))
        while self.times and self.times[0] < scan.host_time_s - KEEP_S:
            self.times.popleft()
            self.ranges.popleft()

    def between(self, t0: float, t1: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint16]]:
        times = np.fromiter(self.times, dtype=np.float64, count=len(self.times))
        pick = np.flatnonzero((times >= t0) & (times <= t1))
        if pick.size == 0:
            width = self.ranges[-1].shape[0] if self.ranges else 1
            return np.zeros(0), np.zeros((0, width), dtype=np.uint16)
        rows = [self.ranges[int(i)] for i in pick]
        return times[pick], np.vstack(rows)


class LaneOutline:
    """The gantry's drivers, their scans, and the outline of each vehicle the curtain announces."""

    def __init__(self, config: OutlineConfig) -> None:
        self.config = config
        self.rings = {s.name: _Ring() for s in config.scanners}
        self.drivers: dict[str, LidarScanner] = {
            s.name: build_lidar(s, LidarScanner, on_scan=self.rings[s.name].add) for s in config.scanners
        }
        self._tasks: dict[float, asyncio.Task[_Prepared]] = {}  # by the curtain's ENTER time
        self._enters: deque[float] = deque(maxlen=16)
        self._leaves: deque[float] = deque(maxlen=16)
        self.measured = 0
        self.unavailable = 0
        self.last_reason = ""

    # -- per vehicle -------------------------------------------------------------------------------

    def vehicle_entered(self, session: VehicleSession | None, enter_t_s: float) -> None:
        """The curtain saw a vehicle enter (``session`` is the lane's open session for it): start
        collecting, and prepare the scans once its tail is past the gantry."""
        self._enters.append(enter_t_s)
        if session is None or session.curtain_enter_t_s != enter_t_s:
            return
        task = asyncio.get_running_loop().create_task(self._prepare(session), name="outline-prepare")
        self._tasks[enter_t_s] = task
        for key in sorted(self._tasks)[:-8]:  # a session that never completes must not leak
            self._tasks.pop(key).cancel()

    async def _prepare(self, session: VehicleSession) -> _Prepared:
        enter = session.curtain_enter_t_s
        assert enter is not None
        pad = self.config.window_pad_s
        while session.curtain_leave_t_s is None:
            if session.closed_t_s is not None:
                return _Prepared(None, {}, (enter, enter), "the curtain never reported the vehicle's LEAVE")
            await asyncio.sleep(_POLL_S)
        leave = session.curtain_leave_t_s
        self._leaves.append(leave)
        end = leave + pad
        start = max([enter - pad, *(t for t in self._leaves if t < enter)])
        await asyncio.sleep(max(0.0, end + _SETTLE_S - time.monotonic()))
        later = [t for t in self._enters if t > enter]
        if later:
            end = min(end, *later)
        scans: list[ScannerScans] = []
        counts: dict[str, int] = {}
        x_of = {spec.name: spec.x_m for spec in self.config.scanners}
        for spec in self.config.scanners:
            ring = self.rings[spec.name]
            if spec.speed_pair:
                early = (x_of[spec.speed_pair] - spec.x_m) * _PAIR_S_PER_M
                times, ranges = ring.between(enter - pad - early, leave + pad)
            else:
                times, ranges = ring.between(start, end)
            counts[spec.name] = int(times.size)
            if times.size:
                scans.append(
                    ScannerScans.from_device(
                        times,
                        ranges.astype(np.float64),
                        ring.start_angle_deg,
                        ring.angular_step_deg,
                        spec.mount_deg,
                        spec.y_m,
                        spec.z_m,
                        spec.x_m,
                        spec.name,
                        spec.speed_pair,
                    )
                )
        if not scans:
            return _Prepared(None, counts, (start, end), "no scans from " + self._states())
        prepared = await asyncio.to_thread(prepare_outline, scans)
        return _Prepared(prepared, counts, (start, end))

    def _states(self) -> str:
        return ", ".join(
            f"{name} ({'link up' if d.link.is_up else 'link down'}: {d.scans} scans so far)"
            for name, d in self.drivers.items()
        )

    async def measure(self, session: VehicleSession, profile: SpeedProfile | None) -> OutlineResult:
        """The vehicle's outline, judged against the oversize limits; waits at most ``wait_s``."""
        result = await self._measure(session, profile)
        if result.measured:
            self.measured += 1
        else:
            self.unavailable += 1
            self.last_reason = result.reason
            log.warning("vehicle %d: outline unavailable: %s", session.number, result.reason)
        return result

    async def _measure(self, session: VehicleSession, profile: SpeedProfile | None) -> OutlineResult:
        enter = session.curtain_enter_t_s
        task = self._tasks.pop(enter, None) if enter is not None else None
        if task is None:
            return OutlineResult("unavailable", "no curtain ENTER seen for this vehicle")
        try:
            ready = await asyncio.wait_for(asyncio.shield(task), self.config.wait_s)
        except TimeoutError:
            task.cancel()
            return OutlineResult(
                "unavailable", f"scans not ready within outline.wait_s ({self.config.wait_s:g} s)"
            )
        except asyncio.CancelledError:
            return OutlineResult("unavailable", "outline measurement cancelled")
        except Exception as exc:  # a failing measurement must never cost the lane its verdict
            log.exception("vehicle %d: outline measurement failed", session.number)
            return OutlineResult("unavailable", f"measurement failed: {exc!r}")
        if ready.prepared is None:
            return OutlineResult("unavailable", ready.problem, scans=ready.scans)
        if profile is None or not profile.monotone:
            return OutlineResult(
                "unavailable",
                "no speed profile from the axle timing (incomplete crossing)",
                scans=ready.scans,
            )
        t0, t1 = ready.window
        grid = np.linspace(min(t0, profile.t_start_s) - 1.0, max(t1, profile.t_end_s) + 1.0, 64)
        speeds = np.array([profile.speed_at(float(t)) for t in grid])
        params = OutlineParams(speed_rel_sigma=self.config.speed_rel_sigma)
        outline = finish_outline(ready.prepared, grid, speeds, params)
        if not outline.valid:
            return OutlineResult(
                "unavailable", f"too few points on the vehicle ({outline.points} echoes)", scans=ready.scans
            )
        notes = tuple(
            f"outline: scanner {name} sent no scans for this vehicle"
            for name, n in ready.scans.items()
            if n == 0
        )
        verdict = judge_outline(
            outline.length_m,
            outline.width_m,
            outline.height_m,
            outline.u_length_m,
            outline.u_width_m,
            outline.u_height_m,
            ORDER_62_LIMITS,
            self.config.coverage,
        )
        return OutlineResult("measured", "", outline, verdict, ready.scans, notes)

    # -- lifecycle and diagnostics -----------------------------------------------------------------

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def health(self) -> dict[str, Any]:
        return {
            "measured": self.measured,
            "unavailable": self.unavailable,
            "last_unavailable_reason": self.last_reason or None,
        }
