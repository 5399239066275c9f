"""Driver of the light-curtain vehicle separator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from drivers.base import ClockedDriver
from drivers.link import LinkConfig
from drivers.separator.codec import CurtainEvent, CurtainHeartbeat, new_codec

__all__ = ["LightCurtain", "VehicleEdge"]


@dataclass(frozen=True)
class VehicleEdge:
    kind: Literal["enter", "leave"]
    host_time_s: float
    blocked_beams: int
    max_height_mm: int


class LightCurtain(ClockedDriver[CurtainEvent | CurtainHeartbeat]):
    def __init__(self, name: str, link_config: LinkConfig, on_edge: Callable[[VehicleEdge], None]) -> None:
        super().__init__(name, link_config, new_codec())
        self._on_edge = on_edge
        self.occupied: bool | None = None
        self.fault_flags = 0

    def _handle(self, message: CurtainEvent | CurtainHeartbeat, host_receive_s: float) -> None:
        device_s = message.device_time_us / 1e6
        self._observe_clock(device_s, host_receive_s)
        if isinstance(message, CurtainHeartbeat):
            self.occupied = message.occupied
            self.fault_flags = message.fault_flags
            return
        self.occupied = message.kind == CurtainEvent.ENTER
        self._on_edge(
            VehicleEdge(
                kind="enter" if message.kind == CurtainEvent.ENTER else "leave",
                host_time_s=self.clock.to_host(device_s),
                blocked_beams=message.blocked_beams,
                max_height_mm=message.max_height_mm,
            )
        )

    def health(self) -> dict[str, Any]:
        return {**super().health(), "occupied": self.occupied, "fault_flags": self.fault_flags}
