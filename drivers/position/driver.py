"""Driver of the weighbridge position-beam controller, on the reconnecting serial link."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.base import ClockedDriver
from drivers.link import LinkConfig
from drivers.position.codec import BEAM_NAMES, BeamState, new_codec

__all__ = ["BeamReading", "PositionBeams"]


@dataclass(frozen=True)
class BeamReading:
    """The beams blocked at ``host_time_s`` (host monotonic), by name."""

    blocked: frozenset[str]
    faults: frozenset[str]
    host_time_s: float

    @property
    def ends_clear(self) -> bool:
        return not ({"entry", "exit"} & self.blocked)


class PositionBeams(ClockedDriver[BeamState]):
    """Keeps the latest beam state; ``on_beams`` hears every change (not the repeats)."""

    def __init__(
        self,
        name: str,
        link_config: LinkConfig,
        on_beams: Callable[[BeamReading], None] | None = None,
        stale_after_s: float = 0.5,
    ) -> None:
        super().__init__(name, link_config, new_codec())
        self._on_beams = on_beams
        self.stale_after_s = stale_after_s
        self.latest: BeamReading | None = None
        self.changes = 0

    def _handle(self, message: BeamState, host_receive_s: float) -> None:
        device_s = message.device_time_us / 1e6
        self._observe_clock(device_s, host_receive_s)
        reading = BeamReading(
            frozenset(message.names()),
            frozenset(n for i, n in enumerate(BEAM_NAMES) if message.faults >> i & 1),
            host_receive_s,
        )
        previous = self.latest
        self.latest = reading
        if previous is None or previous.blocked != reading.blocked or previous.faults != reading.faults:
            self.changes += 1
            if self._on_beams is not None:
                self._on_beams(reading)

    def current(self, now_s: float | None = None) -> BeamReading | None:
        """The latest state, or None when the controller has been silent longer than ``stale_after_s``
        (a deck whose beams nobody reports is never taken as clear)."""
        now = time.monotonic() if now_s is None else now_s
        latest = self.latest
        if latest is None or now - latest.host_time_s > self.stale_after_s:
            return None
        return latest

    def health(self) -> dict[str, Any]:
        latest = self.latest
        return {
            **super().health(),
            "blocked": None if latest is None else sorted(latest.blocked),
            "faults": None if latest is None else sorted(latest.faults),
            "changes": self.changes,
        }
