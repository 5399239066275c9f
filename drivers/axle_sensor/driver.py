"""Driver of the tyre/axle recogniser (entry and exit strips, and any intermediate strips)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from drivers.axle_sensor.codec import AxleEvent, AxleHeartbeat, new_codec
from drivers.base import ClockedDriver
from drivers.link import LinkConfig

__all__ = ["AxlePassage", "TyreRecogniser"]

log = logging.getLogger(__name__)

_TYRES = {
    AxleEvent.TYRE_SINGLE: "single",
    AxleEvent.TYRE_DUAL: "dual",
    AxleEvent.TYRE_WIDE_SINGLE: "wide_single",
}


@dataclass(frozen=True)
class AxlePassage:
    strip: Literal["entry", "exit", "mid"]
    host_time_s: float
    tyre: str  # single | dual | wide_single
    reverse: bool
    tyre_width_mm: int
    mid_index: int = -1  # for strip "mid": 0 = the first intermediate strip (AxleEvent strip 2), ...


class TyreRecogniser(ClockedDriver[AxleEvent | AxleHeartbeat]):
    """``mid_strips``: how many intermediate strips the lane is configured with (``scale.mid_strips_x_m``);
    an event from a strip beyond them is dropped and counted in ``unknown_strip``, since the lane would
    not know where that strip lies (docs/protocols/axle_sensor.md)."""

    def __init__(
        self,
        name: str,
        link_config: LinkConfig,
        on_axle: Callable[[AxlePassage], None],
        mid_strips: int = 0,
    ) -> None:
        super().__init__(name, link_config, new_codec())
        self._on_axle = on_axle
        self.mid_strips = mid_strips
        self.fault_flags = 0
        self.axles_seen = 0
        self.unknown_strip = 0

    def _handle(self, message: AxleEvent | AxleHeartbeat, host_receive_s: float) -> None:
        device_s = message.device_time_us / 1e6
        self._observe_clock(device_s, host_receive_s)
        if isinstance(message, AxleHeartbeat):
            self.fault_flags = message.fault_flags
            return
        mid = message.mid_index
        if mid is not None and mid >= self.mid_strips:
            self.unknown_strip += 1
            if self.unknown_strip == 1:
                log.warning(
                    "%s: the sensor reports intermediate strip %d but scale.mid_strips_x_m lists %d: its"
                    " events are dropped; add the strips' positions to scale.mid_strips_x_m",
                    self.name,
                    mid + 1,
                    self.mid_strips,
                )
            return
        self.axles_seen += 1
        self._on_axle(
            AxlePassage(
                strip="entry" if message.strip == AxleEvent.STRIP_ENTRY else "exit" if mid is None else "mid",
                host_time_s=self.clock.to_host(device_s),
                tyre=_TYRES[message.tyre],
                reverse=message.direction == AxleEvent.REVERSE,
                tyre_width_mm=message.tyre_width_mm,
                mid_index=-1 if mid is None else mid,
            )
        )

    def health(self) -> dict[str, Any]:
        return {
            **super().health(),
            "fault_flags": self.fault_flags,
            "axles_seen": self.axles_seen,
            "unknown_strip": self.unknown_strip,
        }
