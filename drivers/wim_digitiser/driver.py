"""Driver of the WIM digitiser: turns sample blocks into time-stamped load-cell counts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.base import ClockedDriver
from drivers.link import LinkConfig
from drivers.wim_digitiser.codec import DigitiserStatus, SampleBlock, new_codec

__all__ = ["LoadSamples", "WimDigitiser"]


@dataclass(frozen=True)
class LoadSamples:
    """A block of raw counts with the host time of its first sample."""

    first_sample_index: int
    sample_rate_hz: int
    counts: npt.NDArray[np.int32]  # (n_samples, n_channels)
    host_time_first_s: float
    samples_lost: int  # samples missing between the previous block and this one (0 normally)
    flags: int


class WimDigitiser(ClockedDriver[SampleBlock | DigitiserStatus]):
    def __init__(
        self,
        name: str,
        link_config: LinkConfig,
        on_samples: Callable[[LoadSamples], None],
        expected_channels: int,
    ) -> None:
        super().__init__(name, link_config, new_codec())
        self._on_samples = on_samples
        self.expected_channels = expected_channels
        self._next_index: int | None = None
        self.samples_lost = 0
        self.wrong_shape_blocks = 0
        self.temperature_c: float | None = None
        self.overload_mask = 0

    def _handle(self, message: SampleBlock | DigitiserStatus, host_receive_s: float) -> None:
        if isinstance(message, DigitiserStatus):
            self.temperature_c = message.temperature_c
            self.overload_mask = message.overload_mask
            return
        n_samples, n_channels = message.counts.shape
        if n_channels != self.expected_channels:
            self.wrong_shape_blocks += 1
            return
        rate = message.sample_rate_hz
        end_device_s = (message.first_sample_index + n_samples) / rate
        self._observe_clock(end_device_s, host_receive_s)
        lost = 0
        if self._next_index is not None and message.first_sample_index > self._next_index:
            lost = message.first_sample_index - self._next_index
            self.samples_lost += lost
        self._next_index = message.first_sample_index + n_samples
        self._on_samples(
            LoadSamples(
                first_sample_index=message.first_sample_index,
                sample_rate_hz=rate,
                counts=message.counts,
                host_time_first_s=self.clock.to_host(message.first_sample_index / rate),
                samples_lost=lost,
                flags=message.flags,
            )
        )

    def health(self) -> dict[str, Any]:
        return {
            **super().health(),
            "samples_lost": self.samples_lost,
            "wrong_shape_blocks": self.wrong_shape_blocks,
            "temperature_c": self.temperature_c,
            "overload_mask": self.overload_mask,
        }
