"""Mettler-Toledo MT-SICS (level 0): ASCII commands and replies, each line ending CR LF.

Commands the host sends: ``S`` (stable weight), ``SI`` (weight now), ``SIR`` (weight now, repeated
until another command), ``Z`` (zero), ``T`` (tare), ``@`` (reset, cancels ``SIR``).

Replies::

    S S     100.00 kg     stable weight (the value right-aligned in 10 characters)
    S D     100.02 kg     dynamic: the weight is moving (SI and SIR only)
    S I                   command understood, not executable now
    S +   /   S -         over / under load
    Z A / Z I / Z + / Z -         zeroed / not now / over / under the zero range
    T S     500.00 kg     tare taken (and its value); T I / T + / T - as for Z
    ES / ET / EL          syntax / transmission / logical error

The protocol has no checksum: a reply whose grammar is wrong is counted and dropped; a flipped bit that
keeps the grammar (a digit for a digit) cannot be seen.  Lines longer than 64 characters are garbage.
See docs/protocols/indicators.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from drivers.errors import FrameError
from drivers.indicator.stats import AsciiStats

__all__ = ["UNIT_KG", "SicsCodec", "SicsCommand", "SicsReply"]

EOL = b"\r\n"
MAX_LINE = 64
COMMANDS = ("S", "SI", "SIR", "Z", "T", "@")
#: kilograms per unit
UNIT_KG = {"kg": 1.0, "g": 0.001, "t": 1000.0, "lb": 0.45359237}

_WEIGHT_REPLY = re.compile(r"(S|T) (S|D) +(-?\d+(?:\.\d+)?) (kg|g|t|lb)")
_STATUS_REPLY = re.compile(r"(S|Z|T) ([IA+-])")
_ERROR_REPLY = re.compile(r"E[STL]")
#: statuses each command may answer with (besides the weight ones)
_STATUSES = {"S": "I+-", "Z": "AI+-", "T": "I+-"}


@dataclass(frozen=True)
class SicsCommand:
    name: str  # one of COMMANDS; the indicator answers anything else with ES

    def pack(self) -> bytes:
        if (
            not self.name
            or not self.name.isascii()
            or not self.name.isprintable()
            or len(self.name) > MAX_LINE
        ):
            raise FrameError(f"not a command line: {self.name!r}")
        return self.name.encode("ascii")


@dataclass(frozen=True)
class SicsReply:
    """``command`` is ``S`` (for S, SI and SIR), ``Z``, ``T`` or ``E`` (error); ``status`` is ``S``
    (stable), ``D`` (dynamic), ``I``, ``A``, ``+``, ``-`` or, for errors, ``S``/``T``/``L``."""

    command: Literal["S", "Z", "T", "E"]
    status: str
    value: Decimal | None = None
    unit: str | None = None

    @property
    def weight_kg(self) -> float | None:
        if self.value is None or self.unit is None:
            return None
        return float(self.value) * UNIT_KG[self.unit]

    def pack(self) -> bytes:
        if self.command == "E":
            if self.status not in "STL" or len(self.status) != 1 or self.value is not None:
                raise FrameError(f"no error reply E{self.status}")
            return f"E{self.status}".encode("ascii")
        if self.value is not None:
            if self.command not in "ST" or self.status not in ("S", "D") or self.unit not in UNIT_KG:
                raise FrameError(f"no weight reply {self.command} {self.status} with unit {self.unit!r}")
            if self.command == "T" and self.status == "D":
                raise FrameError("a tare reply is never dynamic")
            text = f"{self.value:>10f}"  # never an exponent: 1E+3 is sent as 1000
            if len(text) > 10 or not self.value.is_finite():
                raise FrameError(f"weight {self.value} does not fit ten characters")
            return f"{self.command} {self.status} {text} {self.unit}".encode("ascii")
        if len(self.status) != 1 or self.status not in _STATUSES.get(self.command, ""):
            raise FrameError(f"no status reply {self.command} {self.status}")
        return f"{self.command} {self.status}".encode("ascii")

    @classmethod
    def parse(cls, line: str) -> SicsReply | None:
        if m := _WEIGHT_REPLY.fullmatch(line):
            command, status, value, unit = m.groups()
            if command == "T" and status == "D":
                return None
            return cls(command, status, Decimal(value), unit)  # type: ignore[arg-type]
        if m := _STATUS_REPLY.fullmatch(line):
            command, status = m.groups()
            if status in _STATUSES[command]:
                return cls(command, status)  # type: ignore[arg-type]
            return None
        if _ERROR_REPLY.fullmatch(line):
            return cls("E", line[1])
        return None


SicsFrame = SicsCommand | SicsReply


@dataclass
class SicsCodec:
    """Pure line codec.  The host side reads replies; the indicator side (the simulator) reads commands
    (any printable line: unknown ones are for the indicator to answer with ``ES``)."""

    side: Literal["host", "indicator"] = "host"
    stats: AsciiStats = field(default_factory=AsciiStats)
    _buf: bytearray = field(default_factory=bytearray, init=False, repr=False)
    _overflow: bool = field(default=False, init=False, repr=False)

    def encode(self, frame: SicsFrame) -> bytes:
        return frame.pack() + EOL

    def feed(self, data: bytes) -> list[SicsFrame]:
        buf = self._buf
        buf += data
        frames: list[SicsFrame] = []
        while True:
            end = buf.find(EOL)
            if end < 0:
                if len(buf) > MAX_LINE + 1:  # keep a trailing CR: its LF may be in the next chunk
                    keep = 1 if buf[-1:] == b"\r" else 0
                    if not self._overflow:
                        self.stats.frames_bad += 1
                    self.stats.bytes_discarded += len(buf) - keep
                    del buf[: len(buf) - keep]
                    self._overflow = True
                return frames
            line = bytes(buf[:end])
            del buf[: end + 2]
            if self._overflow:  # the tail of an over-long line
                self._overflow = False
                self.stats.bytes_discarded += len(line) + 2
                continue
            frame = self._parse(line)
            if frame is None:
                self.stats.bad(len(line) + 2)
            else:
                self.stats.frames_ok += 1
                frames.append(frame)

    def _parse(self, line: bytes) -> SicsFrame | None:
        if not line or len(line) > MAX_LINE or not line.isascii():
            return None
        text = line.decode("ascii")
        if not text.isprintable():
            return None
        if self.side == "indicator":
            return SicsCommand(text.strip()) if text.strip() else None
        return SicsReply.parse(text)
