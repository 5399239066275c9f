"""What every family driver shares: a serial link, a device-clock mapper and sequence-gap counting."""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

from drivers.clock import ClockMapper
from drivers.link import LinkConfig, SerialLink
from drivers.messages import StreamCodec

__all__ = ["ClockedDriver"]

M = TypeVar("M")

#: A device clock that steps back by more than this (seconds) means the device restarted.
_RESTART_STEP_S = 1.0


class ClockedDriver(Generic[M]):
    """Base of the family drivers.  Subclasses implement :meth:`_handle`."""

    def __init__(self, name: str, link_config: LinkConfig, codec: StreamCodec[M]) -> None:
        self.name = name
        self.clock = ClockMapper()
        self.link: SerialLink[M] = SerialLink(name, link_config, codec, self._receive, self._on_connect)
        self.seq_gaps = 0
        self.device_restarts = 0
        self._last_seq: int | None = None
        self._last_device_s: float | None = None

    async def run(self, stop: asyncio.Event) -> None:
        await self.link.run(stop)

    async def _on_connect(self) -> None:
        """Called each time the port (re)opens; drivers with state to restore override it."""

    def _receive(self, message: M, host_receive_s: float) -> None:
        seq = getattr(message, "seq", None)
        if seq is not None and not getattr(message, "ECHOES_HOST_SEQ", False):
            if self._last_seq is not None and seq != (self._last_seq + 1) & 0xFFFFFFFF:
                self.seq_gaps += 1
            self._last_seq = seq
        self._handle(message, host_receive_s)

    def _observe_clock(self, device_s: float, host_receive_s: float) -> None:
        if self._last_device_s is not None and device_s < self._last_device_s - _RESTART_STEP_S:
            self.device_restarts += 1
            self.clock.reset()
        self._last_device_s = device_s
        self.clock.update(device_s, host_receive_s)

    def _handle(self, message: M, host_receive_s: float) -> None:
        raise NotImplementedError

    def health(self) -> dict[str, Any]:
        return {
            **self.link.health(),
            "seq_gaps": self.seq_gaps,
            "device_restarts": self.device_restarts,
            "clock_offset_s": round(self.clock.offset_s, 6) if self.clock.ready else None,
        }
