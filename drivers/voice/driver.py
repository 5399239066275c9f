"""Driver of a SYN6288-class serial text-to-speech module: the weighbridge says out loud what its board
shows.

The driver owns one reconnecting :class:`drivers.link.SerialLink`; :meth:`VoiceModule.say` sends one
synthesise frame (drivers/voice/codec.py) and waits up to ``ack_timeout_s`` for the module's 41h.  A
voice is a courtesy beside the board, so :meth:`say` never raises: it returns whether the module took
the text, logs why not, and counts it for :meth:`health`.  Calls are sent one at a time (a module
answers one frame with one byte).  An idle module sends nothing, so its link is silent by design and
is not reopened for it.  See docs/protocols/voice.md.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from drivers.errors import DriverError
from drivers.link import LinkConfig, SerialLink
from drivers.voice.codec import HostCodec, Status, SynthesiseText, VoiceFrame, encode_text

__all__ = ["VoiceModule"]

log = logging.getLogger(__name__)

#: The silent-line reopen of the link, switched off: an idle module is silent by design.
_NEVER = 2**31


class VoiceModule:
    """A SYN6288 (or compatible) module, text sent as GBK, no background tune."""

    PROTOCOL = "syn6288"

    def __init__(self, name: str, link_config: LinkConfig, ack_timeout_s: float = 0.5) -> None:
        if ack_timeout_s <= 0:
            raise ValueError("ack_timeout_s must be > 0")
        self.name = name
        self.ack_timeout_s = ack_timeout_s
        self.link: SerialLink[VoiceFrame] = SerialLink(
            name, replace(link_config, reopen_after_silent_timeouts=_NEVER), HostCodec(), self._receive
        )
        self.said = 0
        self.failures = 0
        self.last_text: str | None = None
        self.last_error: str | None = None
        self.module_status: Status | None = None
        self._lock = asyncio.Lock()
        self._waiter: asyncio.Future[Status] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        await self.link.run(stop)

    def _receive(self, status: VoiceFrame, host_receive_s: float) -> None:
        if not isinstance(status, Status):
            return
        self.module_status = status
        if status in (Status.RECEIVED, Status.ERROR) and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(status)

    async def say(self, text: str) -> bool:
        """Speak ``text``: True when the module acknowledged it, False (logged, counted) otherwise."""
        try:
            encode_text(text)
        except ValueError as exc:
            return self._failed(str(exc))
        async with self._lock:
            waiter: asyncio.Future[Status] = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await self.link.send(SynthesiseText(text))
                answer = await asyncio.wait_for(waiter, self.ack_timeout_s)
            except DriverError as exc:
                return self._failed(str(exc))
            except TimeoutError:
                return self._failed(
                    f"no answer within {self.ack_timeout_s} s on {self.link.config.url} (link {self.link.state})"
                )
            finally:
                self._waiter = None
        if answer != Status.RECEIVED:
            return self._failed(f"the module refused the frame (status {answer:#04x})")
        self.said += 1
        self.last_text = text
        self.last_error = None
        return True

    def _failed(self, error: str) -> bool:
        self.failures += 1
        self.last_error = error
        log.warning("%s: not spoken: %s", self.name, error)
        return False

    def health(self) -> dict[str, Any]:
        return {
            **self.link.health(),
            "protocol": self.PROTOCOL,
            "said": self.said,
            "failures": self.failures,
            "last_text": self.last_text,
            "last_error": self.last_error,
            "module_status": None if self.module_status is None else self.module_status.name.lower(),
        }
