"""The lane state machine: separator edges and axle passages become one vehicle session each.

Layout (x along the lane, 0 = scale entry): the tyre recogniser's ENTRY strip lies just before the
scale, the light curtain at the scale entry, the EXIT strip at the scale end.  So a vehicle's axle
count is known when the curtain reports LEAVE (its rear end has passed the scale entry, after its
last axle crossed the entry strip), and the vehicle is complete when that many axles have crossed
the EXIT strip.  The last exit is the moment the lane must decide quickly.

A site may have intermediate strips between the platforms (``scale.mid_strips_x_m``).  Their events only
add timing: each is given to the axle whose crossing of that strip it most plausibly is, and an axle a
strip missed keeps NaN there (the speed fit uses the events it has); they never open, complete or fail
a vehicle.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.axle_sensor.driver import AxlePassage
from drivers.separator.driver import VehicleEdge

__all__ = ["AxleTiming", "LaneStateMachine", "VehicleSession"]

log = logging.getLogger(__name__)


@dataclass
class AxleTiming:
    entry_t_s: float
    tyre: str
    tyre_width_mm: int
    exit_t_s: float | None = None
    exit_missed: bool = False  # the exit strip missed this axle's pulse (judged from the vehicle's speed)
    mid_t_s: list[float] = field(default_factory=list)  # per intermediate strip; NaN: not (yet) seen


@dataclass
class VehicleSession:
    """Everything the lane sensors said about one vehicle."""

    number: int
    opened_t_s: float
    curtain_enter_t_s: float | None = None
    curtain_leave_t_s: float | None = None
    max_height_mm: int = 0
    axles: list[AxleTiming] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # reasons this crossing cannot be judged
    closed_t_s: float | None = None

    @property
    def exits_pending(self) -> int:
        return sum(1 for axle in self.axles if axle.exit_t_s is None and not axle.exit_missed)

    def _transit_s(self) -> float | None:
        """Median entry-to-exit time of this vehicle's axles so far (its speed over the scale)."""
        transits = sorted(a.exit_t_s - a.entry_t_s for a in self.axles if a.exit_t_s is not None)
        return transits[len(transits) // 2] if transits else None

    @property
    def complete(self) -> bool:
        return self.curtain_leave_t_s is not None and bool(self.axles) and self.exits_pending == 0

    @property
    def last_exit_t_s(self) -> float | None:
        exits = [axle.exit_t_s for axle in self.axles if axle.exit_t_s is not None]
        return max(exits) if exits else None

    def add_problem(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)


class LaneStateMachine:
    """Feeds on driver readings (in arrival order) and hands out finished sessions.

    ``on_complete`` is called synchronously with each finished session; the caller queues it for
    weighing.  Nothing here blocks or does I/O.
    """

    #: Exit pulses are paired with axles by plausibility, not only by order: an axle's transit over
    #: the scale may differ from its vehicle's median transit by this factor before the pulse is taken
    #: for a missed one (too late: the axle's own pulse was lost) or a spurious one (too early).
    TRANSIT_TOLERANCE = 1.8
    #: Pulses closer than this to the vehicle's previous exit pulse are contact bounce.
    DEBOUNCE_S = 0.03

    def __init__(
        self,
        on_complete: Callable[[VehicleSession], None],
        session_timeout_s: float,
        strip_distance_m: float = 18.5,
        max_speed_kmh: float = 80.0,
        mid_fractions: tuple[float, ...] = (),
    ) -> None:
        """``mid_fractions``: where each intermediate strip lies, as the fraction of the way from the entry
        strip to the exit strip (empty: none)."""
        self.min_transit_s = strip_distance_m / (max_speed_kmh / 3.6)
        self.mid_fractions = mid_fractions
        self.stray_mids = 0
        self._on_complete = on_complete
        self.session_timeout_s = session_timeout_s
        self._numbers = itertools.count(1)
        self.open: VehicleSession | None = None  # taking entry axles
        self.on_scale: deque[VehicleSession] = deque()  # axle count known, waiting for exits
        self.stray_exits = 0
        self.ghost_sessions = 0  # curtain interrupted, no axle (a person, a bird, spray)

    # -- readings -------------------------------------------------------------------------------

    def on_edge(self, edge: VehicleEdge) -> None:
        if edge.kind == "enter":
            if self.open is not None and self.open.curtain_leave_t_s is None:
                self.open.add_problem("light curtain reported two entries without a leave")
                return
            self.open = VehicleSession(
                next(self._numbers), edge.host_time_s, curtain_enter_t_s=edge.host_time_s
            )
            self.open.max_height_mm = edge.max_height_mm
            return
        session = self.open
        if session is None:
            log.warning("light curtain LEAVE without ENTER; ignored")
            return
        session.curtain_leave_t_s = edge.host_time_s
        session.max_height_mm = max(session.max_height_mm, edge.max_height_mm)
        self.open = None
        if not session.axles:
            self.ghost_sessions += 1
            return
        self.on_scale.append(session)
        self._maybe_complete()

    def on_axle(self, axle: AxlePassage) -> None:
        if axle.strip == "entry":
            self._on_entry(axle)
        elif axle.strip == "mid":
            self._on_mid(axle)
        else:
            self._on_exit(axle)

    def _new_axle(self, axle: AxlePassage) -> AxleTiming:
        return AxleTiming(
            axle.host_time_s, axle.tyre, axle.tyre_width_mm, mid_t_s=[math.nan] * len(self.mid_fractions)
        )

    def _on_entry(self, axle: AxlePassage) -> None:
        session = self.open
        if session is None and self.on_scale:
            latest = self.on_scale[-1]
            if latest.curtain_leave_t_s is not None and axle.host_time_s < latest.curtain_leave_t_s:
                # The ports deliver independently: this axle crossed before the curtain cleared.
                latest.axles.append(self._new_axle(axle))
                return
        if session is None:
            session = VehicleSession(next(self._numbers), axle.host_time_s)
            session.add_problem("axle crossed the entry strip without the light curtain reporting a vehicle")
            self.open = session
        if axle.reverse:
            session.add_problem("vehicle reversed over the entry strip")
        if not session.axles:
            for earlier in self.on_scale:
                if earlier.exits_pending:
                    note = "another vehicle entered the scale before the previous one had left"
                    earlier.add_problem(note)
                    session.add_problem(note)
        session.axles.append(self._new_axle(axle))

    def _on_mid(self, axle: AxlePassage) -> None:
        """An intermediate strip's pulse: the time of the first axle that has passed the entry strip, not
        yet this strip, and not yet the exit strip; skipping an axle whose own pulse this strip plainly
        missed (the pulse is nearer the next axle's expected time than to its own)."""
        strip = axle.mid_index
        if not 0 <= strip < len(self.mid_fractions):
            self.stray_mids += 1
            return
        t = axle.host_time_s
        fraction = self.mid_fractions[strip]
        for session in itertools.chain(self.on_scale, [self.open] if self.open else []):
            waiting = [
                a
                for a in session.axles
                if a.entry_t_s < t and math.isnan(a.mid_t_s[strip]) and (a.exit_t_s is None or a.exit_t_s > t)
            ]
            if not waiting:
                continue
            transit = self._full_transit_s(session)
            if transit is not None:
                expected = [a.entry_t_s + fraction * transit for a in waiting]
                # The nearest expected time; ties (and earlier axles) go to the front.
                chosen = waiting[min(range(len(waiting)), key=lambda i: abs(t - expected[i]))]
            else:
                chosen = waiting[0]
            chosen.mid_t_s[strip] = t
            if axle.reverse:
                session.add_problem("vehicle reversed over an intermediate strip")
            return
        self.stray_mids += 1

    def _on_exit(self, axle: AxlePassage) -> None:
        for session in itertools.chain(self.on_scale, [self.open] if self.open else []):
            pending = next((a for a in session.axles if a.exit_t_s is None and not a.exit_missed), None)
            if pending is None:
                continue
            transit = axle.host_time_s - pending.entry_t_s
            if transit <= 0:
                continue  # a pulse before this axle reached the entry strip cannot be its exit
            last_exit = session.last_exit_t_s
            if last_exit is not None and axle.host_time_s - last_exit < self.DEBOUNCE_S:
                # Two axles cannot cross one strip this close together (1 m at 80 km/h is 45 ms).
                self.stray_exits += 1
                session.add_problem("the exit strip gave a spurious pulse")
                return
            typical = session._transit_s()
            if transit < (self.min_transit_s if typical is None else typical / self.TRANSIT_TOLERANCE):
                # Too early for this axle: a doubled or spurious pulse.  Dropping it keeps the pairing.
                self.stray_exits += 1
                session.add_problem("the exit strip gave a spurious pulse")
                return
            while typical is not None and transit > typical * self.TRANSIT_TOLERANCE:
                # Too late for this axle: its own pulse was lost.  Mark it and try the next axle, so
                # one lost pulse does not shift every later axle (and vehicle) by one.
                pending.exit_missed = True
                session.add_problem("the exit strip missed an axle")
                pending = next((a for a in session.axles if a.exit_t_s is None and not a.exit_missed), None)
                if pending is None:
                    self._maybe_complete()
                    self._on_exit(axle)  # the pulse belongs to a later vehicle
                    return
                transit = axle.host_time_s - pending.entry_t_s
            if pending is not None:
                pending.exit_t_s = axle.host_time_s
                if axle.reverse:
                    session.add_problem("vehicle reversed over the exit strip")
                if axle.host_time_s <= pending.entry_t_s:
                    session.add_problem("axle exit before its entry (sensor fault)")
                self._maybe_complete()
                return
        self.stray_exits += 1
        log.warning("axle crossed the exit strip with no vehicle on the scale (%d so far)", self.stray_exits)

    def _full_transit_s(self, session: VehicleSession) -> float | None:
        """The vehicle's median time from the entry strip to the exit strip so far, from its exits and
        from its intermediate strips' pulses (scaled by where each strip lies); None before any."""
        transits = [a.exit_t_s - a.entry_t_s for a in session.axles if a.exit_t_s is not None]
        transits += [
            (t - a.entry_t_s) / fraction
            for a in session.axles
            for t, fraction in zip(a.mid_t_s, self.mid_fractions, strict=False)
            if not math.isnan(t) and fraction > 0
        ]
        transits.sort()
        return transits[len(transits) // 2] if transits else None

    def _maybe_complete(self) -> None:
        while self.on_scale and self.on_scale[0].complete:
            session = self.on_scale.popleft()
            session.closed_t_s = session.last_exit_t_s
            self._on_complete(session)

    # -- time -----------------------------------------------------------------------------------

    def expire(self, now_s: float) -> None:
        """Close sessions that have been open too long (the vehicle backed out, a sensor failed)."""
        candidates = list(self.on_scale) + ([self.open] if self.open else [])
        for session in candidates:
            if now_s - session.opened_t_s <= self.session_timeout_s:
                continue
            session.add_problem(
                f"vehicle did not complete the crossing within {self.session_timeout_s:.0f} s"
                f" ({session.exits_pending} of {len(session.axles)} axles still on the scale)"
            )
            session.closed_t_s = now_s
            if session is self.open:
                self.open = None
            else:
                self.on_scale.remove(session)
            if session.axles:
                self._on_complete(session)
            else:
                self.ghost_sessions += 1

    def state(self) -> dict[str, object]:
        return {
            "open_session": None if self.open is None else self.open.number,
            "vehicles_on_scale": len(self.on_scale),
            "stray_exits": self.stray_exits,
            "stray_mid_strip_pulses": self.stray_mids,
            "ghost_sessions": self.ghost_sessions,
        }
