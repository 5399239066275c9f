"""The ASCII serial output of 125 kHz EM4100-family card readers: one frame per card read.

Frame, 9600 8N1, reader to host only::

    STX 02h | 10 ASCII hex digits: 5 data bytes | 2 ASCII hex digits: checksum | [CR LF] | ETX 03h

The checksum is the XOR of the five data bytes.  This is the "ASCII" output of the ID Innovations
ID-2LA/ID-12LA/ID-20LA readers (datasheet "ID-2/12/20 LA Series", section 4 "Data Formats": STX, DATA
(10 ASCII), CHECK SUM (2 ASCII), CR, LF, ETX, with the worked example data ``0C000621A5`` whose XOR is
``8E``; the datasheet's prose misprints it as 6E, its bit table gives 8E), and, without CR LF, of the
RDM6300/RDM630 modules and most Chinese 125 kHz serial readers (14 bytes: 02, 10 hex, 2 hex, 03).  Many
13.56 MHz Mifare readers with an "EM4100-compatible" serial output send a 4-byte UID the same way,
zero-padded in front.  The decoder takes both lengths; the encoder writes the one it is told.

The five data bytes are the card's EM4100 ID: a version or customer byte, then a 32-bit number.  The
number printed on most cards is that 32-bit number in decimal, ten digits (``0000401829``), often beside
its Wiegand-26 form, facility (the second byte) and card (the last two), ``006,08613``.

Only hex digits, CR and LF lie between STX and ETX, so the decoder resynchronises on the next STX after
anything it cannot read, as the indicator codecs do (drivers/indicator/xk3190.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce

from drivers.errors import FrameError
from drivers.indicator.stats import AsciiStats

__all__ = ["CardCodec", "CardFrame"]

STX = 0x02
ETX = 0x03
_CRLF = b"\r\n"
_HEX = frozenset(b"0123456789ABCDEFabcdef")
#: STX, 12 hex digits, CR LF, ETX: the longest frame.
_MAX_FRAME = 16


def _xor(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


@dataclass(frozen=True)
class CardFrame:
    """One card read: the five data bytes of its ID."""

    data: bytes

    def __post_init__(self) -> None:
        if len(self.data) != 5:
            raise FrameError(f"a card ID is 5 bytes, not {len(self.data)}")

    @classmethod
    def from_hex(cls, text: str) -> CardFrame:
        """From ten hex digits (``0C000621A5``); :class:`FrameError` otherwise."""
        try:
            data = bytes.fromhex(text)
        except ValueError:
            raise FrameError(f"not hex: {text!r}") from None
        return cls(data)

    @property
    def card_id(self) -> str:
        """The ID as the reader sends it: ten upper case hex digits."""
        return self.data.hex().upper()

    @property
    def number(self) -> int:
        """The 32-bit card number (the last four bytes)."""
        return int.from_bytes(self.data[1:], "big")

    @property
    def printed_number(self) -> str:
        """The number as printed on most cards: ten decimal digits."""
        return f"{self.number:010d}"

    @property
    def wiegand26(self) -> str:
        """Facility and card number of the Wiegand-26 form, ``FFF,CCCCC``."""
        return f"{self.data[2]:03d},{int.from_bytes(self.data[3:], 'big'):05d}"


@dataclass
class CardCodec:
    """Pure codec.  ``crlf`` chooses what :meth:`encode` writes (ID-12LA style with CR LF, or the 14-byte
    RDM6300 frame); :meth:`feed` reads both."""

    crlf: bool = True
    stats: AsciiStats = field(default_factory=AsciiStats)
    _buf: bytearray = field(default_factory=bytearray, init=False, repr=False)

    def encode(self, frame: CardFrame) -> bytes:
        body = frame.card_id.encode("ascii") + f"{_xor(frame.data):02X}".encode("ascii")
        return bytes((STX,)) + body + (_CRLF if self.crlf else b"") + bytes((ETX,))

    def feed(self, data: bytes) -> list[CardFrame]:
        self._buf += data
        frames: list[CardFrame] = []
        buf = self._buf
        while True:
            start = buf.find(STX)
            if start < 0:
                self.stats.bytes_discarded += len(buf)
                buf.clear()
                break
            if start:
                self.stats.bytes_discarded += start
                del buf[:start]
            end = next((k for k in range(1, min(len(buf), _MAX_FRAME)) if buf[k] in (STX, ETX)), -1)
            if end < 0:
                if len(buf) >= _MAX_FRAME:  # no ETX where one must be: drop this STX, look again
                    self.stats.bad(1)
                    del buf[:1]
                    continue
                break  # wait for the rest
            if buf[end] == STX:  # cut off by the next frame's start
                self.stats.bad(end)
                del buf[:end]
                continue
            raw = bytes(buf[: end + 1])
            del buf[: end + 1]
            frame = _parse(raw[1:-1])
            if frame is None:
                self.stats.bad(len(raw))
            else:
                self.stats.frames_ok += 1
                frames.append(frame)
        return frames


def _parse(inner: bytes) -> CardFrame | None:
    if inner.endswith(_CRLF):
        inner = inner[:-2]
    if len(inner) != 12 or not _HEX.issuperset(inner):
        return None
    raw = bytes.fromhex(inner.decode("ascii"))
    data, check = raw[:5], raw[5]
    return CardFrame(data) if _xor(data) == check else None
