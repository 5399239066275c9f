"""Devices that take commands: the desired state is kept and re-sent whenever the port reopens."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from typing import Any, Generic, TypeVar

from drivers.base import ClockedDriver
from drivers.errors import DeviceTimeout, DeviceUnavailable, DriverError
from drivers.link import LinkConfig
from drivers.messages import MessageCodec

__all__ = ["CommandedDriver"]

M = TypeVar("M")


class CommandedDriver(ClockedDriver[M], Generic[M]):
    """Sends one command at a time and waits for the device to acknowledge its sequence number."""

    def __init__(
        self, name: str, link_config: LinkConfig, codec: MessageCodec[M], ack_timeout_s: float
    ) -> None:
        super().__init__(name, link_config, codec)
        self.ack_timeout_s = ack_timeout_s
        self._command_seq = 0
        self._desired: M | None = None
        self._acks: dict[int, asyncio.Future[int]] = {}
        self._lock = asyncio.Lock()
        self.commands_sent = 0
        self.commands_failed = 0
        self.last_ack_latency_s: float | None = None

    def _next_seq(self) -> int:
        self._command_seq = (self._command_seq + 1) & 0xFFFFFFFF
        return self._command_seq

    async def _command(self, message: M) -> int:
        """Send and wait for the acknowledgement; returns the device's result code."""
        self.link.codec.encode(message)  # raises FrameError now, before it becomes the state to restore
        self._desired = message
        async with self._lock:
            seq: int = message.seq  # type: ignore[attr-defined]
            future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._acks[seq] = future
            started = time.monotonic()
            try:
                await self.link.send(message)
                self.commands_sent += 1
                result = await asyncio.wait_for(future, self.ack_timeout_s)
            except TimeoutError as exc:
                self.commands_failed += 1
                raise DeviceTimeout(
                    f"{self.name}: no acknowledgement within {self.ack_timeout_s} s on {self.link.config.url};"
                    " check the cable and the device's power"
                ) from exc
            except DeviceUnavailable:
                self.commands_failed += 1
                raise
            finally:
                self._acks.pop(seq, None)
            self.last_ack_latency_s = time.monotonic() - started
            return result

    def _acknowledge(self, seq: int, result: int) -> None:
        future = self._acks.get(seq)
        if future is not None and not future.done():
            future.set_result(result)

    async def _on_connect(self) -> None:
        if self._desired is not None:
            # A fresh sequence number: the device may keep the old one as already done.
            self._desired = replace(self._desired, seq=self._next_seq())  # type: ignore[type-var]
            # Re-apply the last wanted state: the device may have rebooted while the link was down.
            # Without waiting for the ack: the read loop that delivers it is not running yet.
            with contextlib.suppress(DriverError):
                await self.link.send(self._desired)

    def health(self) -> dict[str, Any]:
        return {
            **super().health(),
            "commands_sent": self.commands_sent,
            "commands_failed": self.commands_failed,
            "last_ack_latency_s": None
            if self.last_ack_latency_s is None
            else round(self.last_ack_latency_s, 4),
        }
