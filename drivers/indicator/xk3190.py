"""Yaohua XK3190-A9 serial output: continuous mode (tF=0) and command mode (tF=1).

Continuous frame, 12 bytes::

    02 | sign | six weight digits | decimals | XOR high | XOR low | 03

The XOR runs over the bytes between STX and the XOR pair; each nibble is sent as an ASCII hex digit
(``0``-``9``, ``A``-``F``).  ``02 2B 30 30 31 35 36 30 30 31 39 03`` is +1560 with 0 decimals.

Command mode: the host sends ``02 | address | command | XOR high | XOR low | 03`` with address ``A``-``Z``
and command ``A`` handshake, ``B`` gross, ``C`` tare, ``D`` net.  The indicator answers a handshake with
the same six bytes and a weight command with ``02 | address | command | sign | six digits | decimals |
XOR high | XOR low | 03`` (14 bytes; the A9 manual's tF=1 reply).  The XOR of a command-mode frame runs
over address to decimals.

No byte of a valid frame between STX and ETX is 0x02 or 0x03, so the decoder resynchronises on the next
STX after anything it cannot read.  See docs/protocols/indicators.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from typing import ClassVar, Literal

from drivers.errors import FrameError
from drivers.indicator.stats import AsciiStats

__all__ = ["Xk3190Codec", "Xk3190Command", "Xk3190Reply", "Xk3190Weight"]

STX = 0x02
ETX = 0x03
_HEX = b"0123456789ABCDEF"
#: Longest frame (the 14-byte command reply); a candidate longer than this without ETX is garbage.
_MAX_FRAME = 14
COMMANDS = "ABCD"


def _xor(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


def _nibbles(value: int) -> bytes:
    return bytes((_HEX[value >> 4], _HEX[value & 0x0F]))


@dataclass(frozen=True)
class Xk3190Weight:
    """A signed six-digit reading with its number of decimal places (the unit is the indicator's)."""

    value: int  # the displayed digits as an integer, signed: -001560 -> -1560
    decimals: int = 0

    @property
    def weight(self) -> float:
        return self.value / 10.0**self.decimals

    def pack(self) -> bytes:
        if not -999_999 <= self.value <= 999_999:
            raise FrameError(f"weight {self.value} does not fit six digits")
        if not 0 <= self.decimals <= 9:
            raise FrameError(f"decimals must be 0..9, not {self.decimals}")
        return f"{'-' if self.value < 0 else '+'}{abs(self.value):06d}{self.decimals}".encode("ascii")

    @classmethod
    def unpack(cls, data: bytes) -> Xk3190Weight:
        if len(data) != 8 or data[0] not in b"+-" or not data[1:].isdigit():
            raise ValueError("not a sign, six digits and a decimals digit")
        value = int(data[1:7])
        return cls(-value if data[0] == ord("-") else value, data[7] - 0x30)


@dataclass(frozen=True)
class Xk3190Command:
    """Host to indicator in command mode (tF=1)."""

    HANDSHAKE: ClassVar[str] = "A"
    GROSS: ClassVar[str] = "B"
    TARE: ClassVar[str] = "C"
    NET: ClassVar[str] = "D"

    address: str
    command: str

    def pack(self) -> bytes:
        _check_address_command(self.address, self.command)
        return (self.address + self.command).encode("ascii")


@dataclass(frozen=True)
class Xk3190Reply:
    """Indicator to host in command mode: ``weight`` is None for the handshake."""

    address: str
    command: str
    weight: Xk3190Weight | None = None

    def pack(self) -> bytes:
        _check_address_command(self.address, self.command)
        if (self.weight is None) != (self.command == Xk3190Command.HANDSHAKE):
            raise FrameError("a handshake reply carries no weight; a weight reply must")
        head = (self.address + self.command).encode("ascii")
        return head if self.weight is None else head + self.weight.pack()


def _check_address_command(address: str, command: str) -> None:
    if len(address) != 1 or not "A" <= address <= "Z":
        raise FrameError(f"address must be one letter A-Z, not {address!r}")
    if len(command) != 1 or command not in COMMANDS:
        raise FrameError(f"command must be one of {COMMANDS}, not {command!r}")


Xk3190Frame = Xk3190Weight | Xk3190Command | Xk3190Reply


@dataclass
class Xk3190Codec:
    """Pure codec.  ``side`` says which end this is: the host reads weights and replies, the indicator
    (the simulator) reads commands.  ``encode`` takes any frame kind."""

    side: Literal["host", "indicator"] = "host"
    stats: AsciiStats = field(default_factory=AsciiStats)
    _buf: bytearray = field(default_factory=bytearray, init=False, repr=False)

    def encode(self, frame: Xk3190Frame) -> bytes:
        body = frame.pack()
        return bytes((STX,)) + body + _nibbles(_xor(body)) + bytes((ETX,))

    def feed(self, data: bytes) -> list[Xk3190Frame]:
        self._buf += data
        frames: list[Xk3190Frame] = []
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
            frame = self._parse(raw[1:-1])
            if frame is None:
                self.stats.bad(len(raw))
            else:
                self.stats.frames_ok += 1
                frames.append(frame)
        return frames

    def _parse(self, inner: bytes) -> Xk3190Frame | None:
        if len(inner) < 4:
            return None
        body, check = inner[:-2], inner[-2:]
        if check != _nibbles(_xor(body)):
            return None
        try:
            if len(body) == 8 and self.side == "host":
                return Xk3190Weight.unpack(body)
            address, command = chr(body[0]), chr(body[1]) if len(body) > 1 else ""
            if not ("A" <= address <= "Z" and command in tuple(COMMANDS)):
                return None
            if len(body) == 2:
                if self.side == "indicator":
                    return Xk3190Command(address, command)
                return Xk3190Reply(address, command) if command == Xk3190Command.HANDSHAKE else None
            if len(body) == 10 and self.side == "host" and command != Xk3190Command.HANDSHAKE:
                return Xk3190Reply(address, command, Xk3190Weight.unpack(body[2:]))
        except ValueError:
            return None
        return None
