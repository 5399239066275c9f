"""Driver of a serial RFID / IC card reader: one typed :class:`CardReading` per card presented.

The reader owns one :class:`drivers.link.SerialLink` (open a pyserial URL, reconnect with back-off) and
decodes its ASCII frames with :class:`drivers.card.em4100.CardCodec`.  Many readers repeat the frame
while the card stays in the field (the RDM6300 about every 100-200 ms); a frame of the same card within
``hold_off_s`` of its previous one is a repeat, counted and not reported again.  A weighbridge flow
calls :meth:`CardReader.next_card` to wait for the driver's card, or passes ``on_card``.

An idle card reader sends nothing, so its link is "silent" most of the time; that is normal and the
driver does not reopen the port for it (a vanished USB adapter still shows as down and reconnects).
See docs/protocols/card_reader.md.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from drivers.card.em4100 import CardCodec, CardFrame
from drivers.errors import DeviceTimeout
from drivers.link import LinkConfig, SerialLink

__all__ = ["CardReader", "CardReading"]

#: The silent-line reopen of the link, switched off: an idle reader is silent by design.
_NEVER = 2**31


@dataclass(frozen=True)
class CardReading:
    """One card presented to the reader.

    ``card_id`` is the ID as the reader sends it (ten upper case hex digits: this is what a site's card
    registry and the record's ``card_id`` hold); ``printed_number`` the ten decimal digits printed on
    most cards; ``wiegand26`` their ``FFF,CCCCC`` form.  ``host_time_s`` is ``time.monotonic()`` on
    receipt.
    """

    card_id: str
    printed_number: str
    wiegand26: str
    host_time_s: float
    protocol: str = "em4100_ascii"


class CardReader:
    """A 125 kHz EM4100-family (or EM-compatible Mifare) reader with ASCII serial output."""

    PROTOCOL = "em4100_ascii"

    def __init__(
        self,
        name: str,
        link_config: LinkConfig,
        on_card: Callable[[CardReading], None] | None = None,
        hold_off_s: float = 1.5,
    ) -> None:
        if hold_off_s < 0:
            raise ValueError("hold_off_s must be >= 0")
        self.name = name
        self.link: SerialLink[CardFrame] = SerialLink(
            name, replace(link_config, reopen_after_silent_timeouts=_NEVER), CardCodec(), self._receive
        )
        self.hold_off_s = hold_off_s
        self._on_card = on_card
        self.latest: CardReading | None = None
        self.cards = 0
        self.repeats = 0
        self._last: tuple[str, float] | None = None  # the last frame's card and time, repeats included
        self._waiters: list[asyncio.Future[CardReading]] = []

    async def run(self, stop: asyncio.Event) -> None:
        await self.link.run(stop)

    def _receive(self, frame: CardFrame, host_receive_s: float) -> None:
        last = self._last
        self._last = (frame.card_id, host_receive_s)
        if last is not None and last[0] == frame.card_id and host_receive_s - last[1] < self.hold_off_s:
            self.repeats += 1
            return
        reading = CardReading(
            card_id=frame.card_id,
            printed_number=frame.printed_number,
            wiegand26=frame.wiegand26,
            host_time_s=host_receive_s,
            protocol=self.PROTOCOL,
        )
        self.latest = reading
        self.cards += 1
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(reading)
        if self._on_card is not None:
            self._on_card(reading)

    async def next_card(self, timeout_s: float) -> CardReading:
        """The next card presented after this call; :class:`DeviceTimeout` when none is within
        ``timeout_s`` (the driver has no card, or its link is down: :meth:`health` says which)."""
        waiter: asyncio.Future[CardReading] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError as exc:
            raise DeviceTimeout(
                f"{self.name}: no card read within {timeout_s} s on {self.link.config.url}"
                f" (link {self.link.state})"
            ) from exc
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def health(self) -> dict[str, Any]:
        latest = self.latest
        return {
            **self.link.health(),
            "protocol": self.PROTOCOL,
            "cards": self.cards,
            "repeats": self.repeats,
            "card_id": None if latest is None else latest.card_id,
            "card_age_s": None if latest is None else round(time.monotonic() - latest.host_time_s, 3),
        }
