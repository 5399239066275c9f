"""Maps a device's own clock onto the host's monotonic clock.

Every reading carries the device's timestamp.  The host stamps the moment the bytes arrive.  Serial
transport only ever delays a message, so ``host_receive - device_time`` is the true clock offset plus a
non-negative latency; its minimum over a sliding window estimates the offset to within the latency
floor (well under a millisecond on a pseudo-terminal, one character time on RS-485).  Two buckets
make the window slide, so the estimate follows slow crystal drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ClockMapper"]


@dataclass
class ClockMapper:
    """Sliding-minimum estimate of ``host_time - device_time`` (seconds)."""

    bucket_s: float = 30.0
    _current_min: float = math.inf
    _previous_min: float = math.inf
    _bucket_start_host_s: float = -math.inf
    updates: int = 0

    def update(self, device_s: float, host_receive_s: float) -> None:
        if host_receive_s - self._bucket_start_host_s > self.bucket_s:
            self._previous_min = self._current_min
            self._current_min = math.inf
            self._bucket_start_host_s = host_receive_s
        self._current_min = min(self._current_min, host_receive_s - device_s)
        self.updates += 1

    @property
    def ready(self) -> bool:
        return self.updates > 0

    @property
    def offset_s(self) -> float:
        return min(self._current_min, self._previous_min)

    def to_host(self, device_s: float) -> float:
        return device_s + self.offset_s

    def reset(self) -> None:
        """Forget the estimate (the device restarted and its clock began again)."""
        self._current_min = self._previous_min = math.inf
        self._bucket_start_host_s = -math.inf
        self.updates = 0
