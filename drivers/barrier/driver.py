"""Driver of the barrier (boom gate) controller."""

from __future__ import annotations

from typing import Any

from drivers.barrier.codec import BarrierCommand, BarrierState, new_codec
from drivers.commanded import CommandedDriver
from drivers.errors import DeviceRejected
from drivers.link import LinkConfig

__all__ = ["Barrier"]


class Barrier(CommandedDriver[BarrierCommand | BarrierState]):
    def __init__(self, name: str, link_config: LinkConfig, ack_timeout_s: float = 0.5) -> None:
        super().__init__(name, link_config, new_codec(), ack_timeout_s)
        self.position: str | None = None
        self.fault_flags = 0

    async def open(self) -> None:
        await self._command(BarrierCommand(self._next_seq(), BarrierCommand.OPEN))
        self._check_faults("open")

    async def close(self) -> None:
        await self._command(BarrierCommand(self._next_seq(), BarrierCommand.CLOSE))
        self._check_faults("close")

    def _check_faults(self, action: str) -> None:
        if self.fault_flags:
            faults = [
                name
                for bit, name in (
                    (BarrierState.FAULT_OBSTRUCTED, "obstructed"),
                    (BarrierState.FAULT_MOTOR, "motor"),
                )
                if self.fault_flags & bit
            ] or [f"0x{self.fault_flags:04x}"]
            raise DeviceRejected(
                f"{self.name}: acknowledged {action} but reports a fault ({', '.join(faults)}); inspect the boom"
            )

    def _handle(self, message: BarrierCommand | BarrierState, host_receive_s: float) -> None:
        if isinstance(message, BarrierState):
            self._observe_clock(message.device_time_us / 1e6, host_receive_s)
            self.position = message.position_name
            self.fault_flags = message.fault_flags
            self._acknowledge(message.last_command_seq, 0)

    def health(self) -> dict[str, Any]:
        return {**super().health(), "position": self.position, "fault_flags": self.fault_flags}
