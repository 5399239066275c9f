"""Ring buffer of raw load-cell counts with the host time of every sample."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from drivers.wim_digitiser.driver import LoadSamples

__all__ = ["SampleBuffer", "SampleWindow"]


@dataclass(frozen=True)
class SampleWindow:
    times_s: npt.NDArray[np.float64]
    counts: npt.NDArray[np.int32]
    samples_lost: int  # samples the digitiser link dropped inside this window


class SampleBuffer:
    """Keeps the last ``capacity`` samples; ``window`` copies a time range out in order."""

    def __init__(self, n_channels: int, capacity: int) -> None:
        self.n_channels = n_channels
        self.capacity = capacity
        self._counts = np.zeros((capacity, n_channels), dtype=np.int32)
        self._times = np.full(capacity, -np.inf)
        self._lost = np.zeros(capacity, dtype=np.int64)
        self._written = 0  # total samples ever written

    @property
    def latest_time_s(self) -> float:
        if self._written == 0:
            return -np.inf
        return float(self._times[(self._written - 1) % self.capacity])

    def append(self, block: LoadSamples) -> None:
        n = block.counts.shape[0]
        if n > self.capacity:
            raise ValueError("block larger than the buffer")
        idx = (self._written + np.arange(n)) % self.capacity
        self._counts[idx] = block.counts
        first = block.host_time_first_s
        if self._written and block.samples_lost == 0:
            # The clock mapping can step back by a few ms when a faster-arriving block lowers the offset
            # estimate; consecutive samples must still be in order (windows are cut by time).
            first = max(first, self.latest_time_s + 1.0 / block.sample_rate_hz)
        self._times[idx] = first + np.arange(n) / block.sample_rate_hz
        self._lost[idx] = 0
        self._lost[idx[0]] = block.samples_lost
        self._written += n

    def window(self, start_s: float, end_s: float) -> SampleWindow:
        held = min(self._written, self.capacity)
        first = self._written - held
        order = (first + np.arange(held)) % self.capacity
        times = self._times[order]
        lo, hi = np.searchsorted(times, [start_s, end_s])
        chosen = order[lo:hi]
        # The first sample's loss count is about the gap before the window; only count inside it.
        lost = int(self._lost[chosen[1:]].sum()) if chosen.size > 1 else 0
        return SampleWindow(times[lo:hi].copy(), self._counts[chosen].copy(), lost)
