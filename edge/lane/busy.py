"""The lane's busy signal: a vehicle is on its way over the scale and its verdict is not on the board yet.

The lane daemon sets it; work that can wait (the uplink draining a backlog) holds back meanwhile, so
the crossing and its verdict have the CPU.  Only the event loop's thread touches it.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["LaneBusy"]


class LaneBusy:
    """Busy from the first sign of a vehicle (light curtain or entry strip) until its verdict is shown.

    ``since_s`` (monotonic) is when the current busy period began, so a waiter can bound its wait: a
    sensor stuck on "vehicle present" must not hold others back for good.
    """

    def __init__(self) -> None:
        self._idle = asyncio.Event()
        self._idle.set()
        self.since_s: float | None = None
        self.periods = 0  # busy periods so far
        self.busy_total_s = 0.0  # time spent busy in finished periods

    @property
    def busy(self) -> bool:
        return not self._idle.is_set()

    def set(self, busy: bool) -> None:
        if busy and not self.busy:
            self.since_s = time.monotonic()
            self.periods += 1
            self._idle.clear()
        elif not busy and self.busy:
            if self.since_s is not None:
                self.busy_total_s += time.monotonic() - self.since_s
            self.since_s = None
            self._idle.set()

    def busy_for_s(self) -> float:
        """How long the current busy period has lasted; 0 when idle."""
        return 0.0 if self.since_s is None else time.monotonic() - self.since_s

    async def wait_idle(self) -> None:
        await self._idle.wait()

    def state(self) -> dict[str, object]:
        return {
            "busy": self.busy,
            "busy_for_s": round(self.busy_for_s(), 2),
            "periods": self.periods,
            "busy_total_s": round(self.busy_total_s, 1),
        }
