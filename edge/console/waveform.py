"""The live load waveform the console pushes: each platform's load, decimated, and the axle events.

A :class:`WaveformTap` is read by the console's own task a few times a second, and only while a console
is open.  It copies the samples written since its last read out of the lane's ring buffer (a few hundred
rows), sums each platform's four cells, takes off the scale's current zero and averages bins of
``sample_rate / points_per_s`` samples.  Nothing in the lane waits for it or is changed by it.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from edge.lane.buffer import SampleBuffer
    from edge.lane.session import LaneStateMachine, VehicleSession

__all__ = ["WaveformTap"]

#: At most this much history is sent on a first read or after a pause (s).
_BACKLOG_S = 10.0


class WaveformTap:
    """Incremental reader of the sample buffer (by its write counter) and of the lane's axle events."""

    def __init__(
        self,
        buffer: SampleBuffer,
        lane: LaneStateMachine,
        sample_rate_hz: int,
        cells_per_platform: int,
        kg_per_count: float | tuple[float, ...],
        points_per_s: int,
        epoch_s: float,
    ) -> None:
        self._buffer = buffer
        self._lane = lane
        self._cells = cells_per_platform
        self._platforms = buffer.n_channels // cells_per_platform
        self._kpc = np.broadcast_to(np.asarray(kg_per_count, dtype=np.float64), (buffer.n_channels,))
        self._bin = max(1, round(sample_rate_hz / points_per_s))
        self._rate = sample_rate_hz
        self._epoch = epoch_s  # times are sent relative to this (monotonic) instant
        self._read = 0  # the buffer's write counter at the last read
        self._events_sent: set[tuple[int, int, str]] = set()
        # Sessions seen on earlier reads: one may leave the scale between two reads with its last exit
        # still unsent (the session objects are the lane's own, updated in place).
        self._recent: deque[VehicleSession] = deque(maxlen=4)

    @property
    def platforms(self) -> int:
        return self._platforms

    def read(self, zero_counts: npt.NDArray[np.float64] | None) -> dict[str, Any]:
        """What was written since the last read: ``t`` (s since the epoch), ``kg`` (one list per platform)
        and ``axles`` (new entry and exit events)."""
        buf = self._buffer
        written = buf._written  # the ring buffer's own counter: read, never changed
        backlog = min(int(_BACKLOG_S * self._rate), buf.capacity - 1)
        start = max(self._read, written - backlog)  # after a pause: only the last seconds
        n = ((written - start) // self._bin) * self._bin  # whole bins only; the rest waits for the next read
        times: list[float] = []
        loads: list[list[float]] = [[] for _ in range(self._platforms)]
        if n > 0:
            idx = (start + np.arange(n)) % buf.capacity
            counts = buf._counts[idx].astype(np.float64)
            t = buf._times[idx]
            if zero_counts is not None and zero_counts.shape == (buf.n_channels,):
                counts -= zero_counts
            kg = counts * self._kpc
            per_platform = kg.reshape(n, self._platforms, self._cells).sum(axis=2)
            binned = per_platform.reshape(n // self._bin, self._bin, self._platforms).mean(axis=1)
            t_binned = t.reshape(n // self._bin, self._bin).mean(axis=1) - self._epoch
            times = np.round(t_binned, 3).tolist()
            loads = [np.round(binned[:, k], 1).tolist() for k in range(self._platforms)]
            self._read = start + n
        return {"t": times, "kg": loads, "axles": self._axle_events()}

    def _axle_events(self) -> list[dict[str, Any]]:
        current = [*([] if self._lane.open is None else [self._lane.open]), *self._lane.on_scale]
        for session in current:
            if not any(seen is session for seen in self._recent):
                self._recent.append(session)
        events = []
        for session in self._recent:
            for i, axle in enumerate(session.axles):
                for kind, at in (("entry", axle.entry_t_s), ("exit", axle.exit_t_s)):
                    key = (session.number, i, kind)
                    if at is None or key in self._events_sent:
                        continue
                    self._events_sent.add(key)
                    events.append(
                        {
                            "t": round(at - self._epoch, 3),
                            "kind": kind,
                            "vehicle": session.number,
                            "axle": i + 1,
                        }
                    )
        if len(self._events_sent) > 4096:  # old vehicles' keys: forget them
            newest = max(key[0] for key in self._events_sent)
            self._events_sent = {key for key in self._events_sent if key[0] >= newest - 4}
        return events
