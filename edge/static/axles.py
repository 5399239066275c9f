"""How many axles the truck on a static weighbridge has, and who says so.

The legal limit depends on the axle count (GB 1589-2016), and a weighbridge deck cannot count axles by
itself.  Three sources, in the order the weighbridge trusts them:

1. ``sensor``: a tyre/axle recogniser (``devices.axle_sensor``) whose *entry* strip lies at the deck's
   entry end counts the axles that rolled on: forward passages add one, reverse passages (a truck that
   backs off to unload) take one away.  Its tyre kinds go to the limit too (single tyres lower it).
2. ``config``: the site's own table (``weighbridge.vehicles``, per plate).
3. ``registry``: the vehicle registry the central office sends (downlink kind ``registry``).

Otherwise ``default`` (``weighbridge.default_axles``).  A measured count that differs from what the
table or the registry says is stated on the record: it may be a misread plate, a lifted axle, or a
different trailer behind the same tractor.

Pure code except :class:`AxleCounter`, which the site feeds from the recogniser's driver.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

__all__ = ["AxleCount", "AxleCounter", "AxleSource", "Counted", "resolve_axles"]

AxleSource = Literal["sensor", "config", "registry", "default"]


@dataclass(frozen=True)
class Counted:
    """What the entry strip saw of one truck: its axles in driving order (front first)."""

    tyres: tuple[str, ...]
    passages: int  # forward and reverse passages seen, for the record's explanation

    @property
    def axles(self) -> int:
        return len(self.tyres)


class AxleCounter:
    """The entry strip's passages since the deck was last empty (fed from the driver's thread or loop)."""

    def __init__(self, keep: int = 256) -> None:
        self._passages: deque[tuple[float, str, bool]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def add(self, host_time_s: float, tyre: str, reverse: bool) -> None:
        with self._lock:
            self._passages.append((host_time_s, tyre, reverse))

    def since(self, t_s: float) -> Counted | None:
        """The axles on the deck from passages after ``t_s`` (host monotonic seconds); None when the strip
        saw nothing (no sensor, or the truck came on while it was down)."""
        with self._lock:
            seen = [p for p in self._passages if p[0] > t_s]
        if not seen:
            return None
        on: list[str] = []
        for _, tyre, reverse in sorted(seen, key=lambda p: p[0]):
            if reverse:
                if on:
                    on.pop()  # the last axle on is the first to roll back off the entry end
            else:
                on.append(tyre)
        return Counted(tuple(on), len(seen)) if on else None


@dataclass(frozen=True)
class AxleCount:
    axles: int
    groups: tuple[int, ...]  # () = the default grouping for the count
    tyres: tuple[str, ...]  # one per axle (single, dual, wide_single); dual where nothing measured them
    source: AxleSource
    notes: tuple[str, ...]  # disagreements between the sources, for the record's reasons


def resolve_axles(
    counted: Counted | None,
    configured: tuple[int | None, tuple[int, ...]] | None,
    registered: tuple[int | None, tuple[int, ...] | None] | None,
    default_axles: int,
) -> AxleCount:
    """Choose the axle count (and groups, tyres) for the limit.

    ``configured``: (axles, groups) from ``weighbridge.vehicles`` for the plate; ``registered``: (axle
    count, groups) from the registry; either None when the plate is not listed.  Groups are kept only from
    a source whose count agrees with the count chosen.
    """
    claims: list[tuple[AxleSource, int, tuple[int, ...]]] = []
    source: AxleSource
    notes: tuple[str, ...]
    if configured is not None and configured[0]:
        claims.append(("config", configured[0], tuple(configured[1])))
    if registered is not None and registered[0]:
        claims.append(("registry", registered[0], tuple(registered[1] or ())))
    if counted is not None and counted.axles >= 2:
        axles, source = counted.axles, "sensor"
        tyres = counted.tyres
        notes = tuple(
            f"axles_differ: the axle sensor counted {axles} axles, the {name} says {count}"
            for name, count, _ in claims
            if count != axles
        )
    elif claims:
        source, axles, _ = claims[0]
        tyres = ("dual",) * axles
        notes = tuple(
            f"axles_differ: the {source} says {axles} axles, the {name} says {count}"
            for name, count, _ in claims[1:]
            if count != axles
        )
        if counted is not None:  # one axle counted: the strip missed the truck's other axles
            notes += (f"axle sensor counted {counted.axles} axle; the {source}'s {axles} are used",)
    else:
        source, axles, tyres = "default", default_axles, ("dual",) * default_axles
        notes = ()
        if counted is not None:
            notes = (f"axle sensor counted {counted.axles} axle; weighbridge.default_axles is used",)
    groups = next((g for _, count, g in claims if count == axles and g and sum(g) == axles), ())
    return AxleCount(axles, groups, tyres, source, notes)
