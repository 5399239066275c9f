"""Codec of the lane LED message board.  See docs/protocols/display.md."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from drivers.messages import MessageCodec

__all__ = ["DisplayAck", "DisplayStatus", "ShowText", "new_codec"]

_SHOW = struct.Struct("<IB")  # seq, colour; then per line: u8 length + UTF-8
_ACK = struct.Struct("<IB")  # seq echoed, result
_STATUS = struct.Struct("<IQIH")  # seq, device_time_us, shown_text_crc32, fault_flags
MAX_LINE_BYTES = 64
MAX_LINES = 4


@dataclass(frozen=True)
class ShowText:
    """Host -> board: show these lines in this colour until told otherwise."""

    TYPE: ClassVar[int] = 0x30
    GREEN: ClassVar[int] = 0
    RED: ClassVar[int] = 1
    YELLOW: ClassVar[int] = 2

    seq: int
    colour: int
    lines: tuple[str, ...]

    def pack_fields(self) -> bytes:
        if self.colour not in (self.GREEN, self.RED, self.YELLOW):
            raise ValueError(f"unknown colour {self.colour}")
        if len(self.lines) > MAX_LINES:
            raise struct.error(f"at most {MAX_LINES} lines")
        out = bytearray(_SHOW.pack(self.seq, self.colour))
        out.append(len(self.lines))
        for line in self.lines:
            raw = line.encode("utf-8")
            if len(raw) > MAX_LINE_BYTES:
                raise struct.error(f"line longer than {MAX_LINE_BYTES} UTF-8 bytes: {line!r}")
            out.append(len(raw))
            out += raw
        return bytes(out)

    @classmethod
    def unpack_fields(cls, data: bytes) -> ShowText:
        seq, colour = _SHOW.unpack_from(data)
        if colour > 2:
            raise ValueError("unknown colour")
        pos = _SHOW.size
        if pos >= len(data):
            raise ValueError("line count missing")
        count = data[pos]
        pos += 1
        lines = []
        for _ in range(count):
            if pos >= len(data):
                raise ValueError("line length missing")
            length = data[pos]
            pos += 1
            if length > MAX_LINE_BYTES or pos + length > len(data):
                raise ValueError("line too long or runs past the frame")
            lines.append(data[pos : pos + length].decode("utf-8"))
            pos += length
        if pos != len(data) or count > MAX_LINES:
            raise ValueError("trailing bytes after the last line")
        return cls(seq, colour, tuple(lines))


@dataclass(frozen=True)
class DisplayAck:
    """Board -> host: the ShowText with this seq was shown (result 0) or rejected (non-zero)."""

    TYPE: ClassVar[int] = 0x31
    ECHOES_HOST_SEQ: ClassVar[bool] = True  # seq is the host's command number, not the board's counter
    OK: ClassVar[int] = 0

    seq: int
    result: int = 0

    def pack_fields(self) -> bytes:
        return _ACK.pack(self.seq, self.result)

    @classmethod
    def unpack_fields(cls, data: bytes) -> DisplayAck:
        if len(data) != _ACK.size:
            raise ValueError("bad ack length")
        return cls(*_ACK.unpack(data))


@dataclass(frozen=True)
class DisplayStatus:
    """Board -> host, once a second: CRC-32 of the shown text (UTF-8 lines joined by LF), faults."""

    TYPE: ClassVar[int] = 0x32
    FAULT_LED_MODULE: ClassVar[int] = 0x0001

    seq: int
    device_time_us: int
    shown_text_crc32: int
    fault_flags: int = 0

    def pack_fields(self) -> bytes:
        return _STATUS.pack(self.seq, self.device_time_us, self.shown_text_crc32, self.fault_flags)

    @classmethod
    def unpack_fields(cls, data: bytes) -> DisplayStatus:
        if len(data) != _STATUS.size:
            raise ValueError("bad status length")
        return cls(*_STATUS.unpack(data))


def new_codec() -> MessageCodec[ShowText | DisplayAck | DisplayStatus]:
    return MessageCodec((ShowText, DisplayAck, DisplayStatus))
