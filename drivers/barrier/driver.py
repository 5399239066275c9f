"""Driver of the barrier (boom gate) controller."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from drivers.barrier.codec import BarrierCommand, BarrierState, new_codec
from drivers.commanded import CommandedDriver
from drivers.link import LinkConfig

__all__ = ["Barrier"]


class Barrier(CommandedDriver[BarrierCommand | BarrierState]):
    def __init__(self, name: str, link_config: LinkConfig, ack_timeout_s: float = 0.5) -> None:
        super().__init__(name, link_config, new_codec(), ack_timeout_s)
        self.position: str | None = None
        self.fault_flags = 0

    async def open(self) -> None:
        await self._command(BarrierCommand(self._next_seq(), BarrierCommand.OPEN))

    async def close(self) -> None:
        await self._command(BarrierCommand(self._next_seq(), BarrierCommand.CLOSE))

    async def _on_connect(self) -> None:
        if self._desired is not None:
            self._desired = replace(self._desired, seq=self._next_seq())
        await super()._on_connect()

    def _handle(self, message: BarrierCommand | BarrierState, host_receive_s: float) -> None:
        if isinstance(message, BarrierState):
            self._observe_clock(message.device_time_us / 1e6, host_receive_s)
            self.position = message.position_name
            self.fault_flags = message.fault_flags
            self._acknowledge(message.last_command_seq, 0)

    def health(self) -> dict[str, Any]:
        return {**super().health(), "position": self.position, "fault_flags": self.fault_flags}
