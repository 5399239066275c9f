"""Mettler Toledo continuous output, 18 bytes, about 7 frames a second::

    STX | SWA | SWB | SWC | six weight digits | six tare digits | CR | checksum

The checksum is the two's complement of the 7-bit sum of every earlier byte (STX and CR included), so
the 7-bit sum of the whole frame is zero.  Status words (bit 5 always set, bit 7 always clear):

- SWA bits 0-2: decimal point code, 0 = ``XXXX00`` (x100), 1 = ``XXXXX0`` (x10), 2 = ``XXXXXX``,
  3 = ``XXXXX.X`` ... 7 = ``X.XXXXX``; bits 3-4: increment (1 = x1, 2 = x2, 3 = x5).
- SWB bit 0 net, 1 negative, 2 out of range, 3 motion, 4 kg (clear: lb).
- SWC: passed through (bit 5 set; bit 3 print request on most models).

The digits are unsigned; the sign is SWB bit 1.  No valid frame holds STX before its checksum byte, so
the decoder resynchronises on the next STX after a frame that fails.  See docs/protocols/indicators.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.errors import FrameError
from drivers.indicator.stats import AsciiStats

__all__ = ["FRAME_BYTES", "ToledoCodec", "ToledoFrame"]

STX = 0x02
CR = 0x0D
FRAME_BYTES = 18
_ALWAYS = 0x20  # bit 5 of every status word
_INCREMENTS = {1: 1, 2: 2, 3: 5}


def checksum(data: bytes) -> int:
    return -sum(data) & 0x7F


@dataclass(frozen=True)
class ToledoFrame:
    weight_digits: int  # 0..999999, unsigned
    tare_digits: int = 0
    decimal_code: int = 2  # 2: the digits are the weight itself
    increment_code: int = 1  # 1: x1
    net: bool = False
    negative: bool = False
    over_range: bool = False
    motion: bool = False
    kg: bool = True
    swc: int = 0  # the low five bits of SWC

    @property
    def scale(self) -> float:
        """Value of one digit: 100 for code 0, 1 for code 2, 0.1 for code 3."""
        return float(10 ** (2 - self.decimal_code))

    @property
    def weight(self) -> float:
        value = self.weight_digits * self.scale
        return -value if self.negative else value

    @property
    def tare(self) -> float:
        return self.tare_digits * self.scale

    @property
    def increment(self) -> int:
        return _INCREMENTS[self.increment_code]

    def pack(self) -> bytes:
        if not (0 <= self.weight_digits <= 999_999 and 0 <= self.tare_digits <= 999_999):
            raise FrameError("weight and tare must fit six unsigned digits")
        if not 0 <= self.decimal_code <= 7 or self.increment_code not in _INCREMENTS:
            raise FrameError("decimal code must be 0..7 and increment code 1..3")
        if not 0 <= self.swc <= 0x1F:
            raise FrameError("swc holds five bits")
        swa = _ALWAYS | self.decimal_code | self.increment_code << 3
        swb = _ALWAYS | self.net | self.negative << 1 | self.over_range << 2 | self.motion << 3 | self.kg << 4
        body = (
            bytes((STX, swa, swb, _ALWAYS | self.swc))
            + f"{self.weight_digits:06d}{self.tare_digits:06d}".encode("ascii")
            + bytes((CR,))
        )
        return body + bytes((checksum(body),))

    @classmethod
    def unpack(cls, frame: bytes) -> ToledoFrame:
        if len(frame) != FRAME_BYTES or frame[0] != STX or frame[16] != CR or frame[17] > 0x7F:
            raise ValueError("not a Toledo frame")
        if checksum(frame[:17]) != frame[17]:
            raise ValueError("checksum")
        swa, swb, swc = frame[1:4]
        if any(b & 0xA0 != _ALWAYS for b in (swa, swb, swc)) or swa & 0x40:
            raise ValueError("status word")
        digits = frame[4:16]
        if not digits.isdigit():
            raise ValueError("digits")
        increment = (swa >> 3) & 0x03
        if increment not in _INCREMENTS:
            raise ValueError("increment code 0")
        return cls(
            weight_digits=int(digits[:6]),
            tare_digits=int(digits[6:]),
            decimal_code=swa & 0x07,
            increment_code=increment,
            net=bool(swb & 0x01),
            negative=bool(swb & 0x02),
            over_range=bool(swb & 0x04),
            motion=bool(swb & 0x08),
            kg=bool(swb & 0x10),
            swc=swc & 0x1F,
        )


@dataclass
class ToledoCodec:
    """Pure codec; output only (the indicator sends, the host listens)."""

    stats: AsciiStats = field(default_factory=AsciiStats)
    _buf: bytearray = field(default_factory=bytearray, init=False, repr=False)

    def encode(self, frame: ToledoFrame) -> bytes:
        return frame.pack()

    def feed(self, data: bytes) -> list[ToledoFrame]:
        buf = self._buf
        buf += data
        frames: list[ToledoFrame] = []
        while True:
            start = buf.find(STX)
            if start < 0:
                self.stats.bytes_discarded += len(buf)
                buf.clear()
                return frames
            if start:
                self.stats.bytes_discarded += start
                del buf[:start]
            if len(buf) < FRAME_BYTES:
                return frames
            try:
                frames.append(ToledoFrame.unpack(bytes(buf[:FRAME_BYTES])))
            except ValueError:
                # Cut short by the next frame's STX or corrupted: drop up to the next STX, look again.
                nxt = buf.find(STX, 1, FRAME_BYTES)
                drop = nxt if nxt > 0 else 1
                self.stats.bad(drop)
                del buf[:drop]
                continue
            self.stats.frames_ok += 1
            del buf[:FRAME_BYTES]
