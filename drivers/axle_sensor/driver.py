"""Driver of the tyre/axle recogniser (entry and exit strips)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from drivers.axle_sensor.codec import AxleEvent, AxleHeartbeat, new_codec
from drivers.base import ClockedDriver
from drivers.link import LinkConfig

__all__ = ["AxlePassage", "TyreRecogniser"]

_TYRES = {
    AxleEvent.TYRE_SINGLE: "single",
    AxleEvent.TYRE_DUAL: "dual",
    AxleEvent.TYRE_WIDE_SINGLE: "wide_single",
}


@dataclass(frozen=True)
class AxlePassage:
    strip: Literal["entry", "exit"]
    host_time_s: float
    tyre: str  # single | dual | wide_single
    reverse: bool
    tyre_width_mm: int


class TyreRecogniser(ClockedDriver[AxleEvent | AxleHeartbeat]):
    def __init__(self, name: str, link_config: LinkConfig, on_axle: Callable[[AxlePassage], None]) -> None:
        super().__init__(name, link_config, new_codec())
        self._on_axle = on_axle
        self.fault_flags = 0
        self.axles_seen = 0

    def _handle(self, message: AxleEvent | AxleHeartbeat, host_receive_s: float) -> None:
        device_s = message.device_time_us / 1e6
        self._observe_clock(device_s, host_receive_s)
        if isinstance(message, AxleHeartbeat):
            self.fault_flags = message.fault_flags
            return
        self.axles_seen += 1
        self._on_axle(
            AxlePassage(
                strip="entry" if message.strip == AxleEvent.STRIP_ENTRY else "exit",
                host_time_s=self.clock.to_host(device_s),
                tyre=_TYRES[message.tyre],
                reverse=message.direction == AxleEvent.REVERSE,
                tyre_width_mm=message.tyre_width_mm,
            )
        )

    def health(self) -> dict[str, Any]:
        return {**super().health(), "fault_flags": self.fault_flags, "axles_seen": self.axles_seen}
