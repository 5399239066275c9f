"""Driver of the lane LED message board."""

from __future__ import annotations

import zlib
from typing import Any, Literal

from drivers.commanded import CommandedDriver
from drivers.display.codec import DisplayAck, DisplayStatus, ShowText, new_codec
from drivers.errors import DeviceRejected
from drivers.link import LinkConfig

__all__ = ["Colour", "LedDisplay"]

Colour = Literal["green", "red", "yellow"]
_COLOURS = {"green": ShowText.GREEN, "red": ShowText.RED, "yellow": ShowText.YELLOW}


class LedDisplay(CommandedDriver[ShowText | DisplayAck | DisplayStatus]):
    def __init__(self, name: str, link_config: LinkConfig, ack_timeout_s: float = 0.5) -> None:
        super().__init__(name, link_config, new_codec(), ack_timeout_s)
        self.shown_crc32: int | None = None
        self.fault_flags = 0
        self.wanted_lines: tuple[str, ...] = ()

    async def show(self, lines: tuple[str, ...], colour: Colour) -> None:
        """Show ``lines``; raises DeviceUnavailable / DeviceTimeout, keeping them to re-send on reconnect."""
        self.wanted_lines = lines
        message = ShowText(self._next_seq(), _COLOURS[colour], lines)
        result = await self._command(message)
        if result != DisplayAck.OK:
            raise DeviceRejected(
                f"{self.name}: the board refused the text (result {result}); check the board's character"
                " set and line length (docs/protocols/display.md)"
            )

    def _handle(self, message: ShowText | DisplayAck | DisplayStatus, host_receive_s: float) -> None:
        if isinstance(message, DisplayAck):
            self._acknowledge(message.seq, message.result)
        elif isinstance(message, DisplayStatus):
            self._observe_clock(message.device_time_us / 1e6, host_receive_s)
            self.shown_crc32 = message.shown_text_crc32
            self.fault_flags = message.fault_flags

    @property
    def shows_wanted_text(self) -> bool | None:
        if self.shown_crc32 is None:
            return None
        return self.shown_crc32 == zlib.crc32("\n".join(self.wanted_lines).encode("utf-8"))

    def health(self) -> dict[str, Any]:
        return {
            **super().health(),
            "fault_flags": self.fault_flags,
            "shows_wanted_text": self.shows_wanted_text,
        }
