"""Frames of the SYN6288-class serial text-to-speech modules, shared by the driver and the simulator.

Host to module, 9600 8N1 by default::

    FD | length: u16 big-endian | command | [parameter] | [data] | XOR

``length`` counts every byte after itself (command, parameter, data and the XOR byte); the XOR is of
every byte before it, the FD included.  Command 01h synthesises text: its parameter's bits 7-3 choose
a background tune (0 = none) and bits 2-0 the text encoding (0 GB2312, 1 GBK, 2 BIG5, 3 Unicode); the
text follows, at most 200 bytes.  Other commands carry no parameter (02h stop, 21h status query, 88h
sleep).

Module to host: single status bytes, 41h (a frame received and understood), 45h (a frame it could not
read), 4Eh (busy: speaking), 4Fh (idle), 4Ah (initialised, after power-up).

Source followed: LibDriver's SYN6288 driver (github.com/libdriver/syn6288, ``src/driver_syn6288.c``:
``syn6288_synthesis_text`` builds FD, (len+3) as the two length bytes, 01h, ``mode|type``, text, XOR of
all preceding bytes, refuses text over 200 bytes and takes 41h as success; ``syn6288_get_status``
reads 41h 4Fh as idle and 41h 4Eh as busy; ``src/driver_syn6288.h``: GB2312 = 0, GBK = 1, BIG5 = 2,
UNICODE = 3; background music ``n << 3``).  The 45h and 4Ah bytes are from the vendor's datasheet as
the brief quoted it, not from that driver.  XFS5152-class modules use the same FD/length/command
layout without the trailing XOR; this codec writes and reads the SYN6288 form only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from functools import reduce

from drivers.indicator.stats import AsciiStats

__all__ = [
    "MAX_TEXT_BYTES",
    "HostCodec",
    "ModuleCodec",
    "ModuleCommand",
    "Status",
    "SynthesiseText",
    "TextEncoding",
    "VoiceFrame",
    "encode_text",
]

HEADER = 0xFD
SYNTHESISE = 0x01
#: The longest text one synthesise frame carries (bytes, after encoding).
MAX_TEXT_BYTES = 200
#: The longest length field a frame can have: command, parameter, text, XOR.
_MAX_LENGTH = MAX_TEXT_BYTES + 3


class TextEncoding(IntEnum):
    GB2312 = 0
    GBK = 1
    BIG5 = 2
    UNICODE = 3


class Status(IntEnum):
    """The module's one-byte answers."""

    RECEIVED = 0x41
    ERROR = 0x45
    INITIALISED = 0x4A
    BUSY = 0x4E
    IDLE = 0x4F


_PYTHON_CODECS = {
    TextEncoding.GB2312: "gb2312",
    TextEncoding.GBK: "gbk",
    TextEncoding.BIG5: "big5",
    TextEncoding.UNICODE: "utf-16-be",
}


def encode_text(text: str, encoding: TextEncoding = TextEncoding.GBK) -> bytes:
    """``text`` in the module's encoding; :class:`ValueError` saying why when it cannot be sent."""
    if not text:
        raise ValueError("nothing to say: the text is empty")
    try:
        raw = text.encode(_PYTHON_CODECS[encoding])
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{text!r} cannot be spoken: {text[exc.start : exc.end]!r} has no {encoding.name} code"
        ) from None
    if len(raw) > MAX_TEXT_BYTES:
        raise ValueError(
            f"{text!r} is {len(raw)} bytes in {encoding.name}; the module takes at most {MAX_TEXT_BYTES}"
        )
    return raw


def _xor(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


@dataclass(frozen=True)
class SynthesiseText:
    """Host -> module: speak ``text`` (command 01h), no background tune."""

    text: str
    encoding: TextEncoding = TextEncoding.GBK
    background: int = 0

    def to_bytes(self) -> bytes:
        if not 0 <= self.background <= 15:
            raise ValueError("background tune is 0-15")
        raw = encode_text(self.text, self.encoding)
        body = bytes((SYNTHESISE, (self.background << 3) | self.encoding)) + raw
        head = bytes((HEADER,)) + (len(body) + 1).to_bytes(2, "big") + body
        return head + bytes((_xor(head),))


@dataclass(frozen=True)
class ModuleCommand:
    """Host -> module: any other command (02h stop, 21h status query, 88h sleep), with its data."""

    command: int
    data: bytes = b""

    def to_bytes(self) -> bytes:
        if self.command == SYNTHESISE or not 0 <= self.command <= 0xFF:
            raise ValueError(f"command {self.command:#x}: use SynthesiseText for 01h")
        head = bytes((HEADER,)) + (len(self.data) + 2).to_bytes(2, "big") + bytes((self.command,)) + self.data
        return head + bytes((_xor(head),))


#: What a link with a voice module carries, either way.
VoiceFrame = SynthesiseText | ModuleCommand | Status


def _encode(message: VoiceFrame) -> bytes:
    if isinstance(message, Status):
        return bytes((message,))
    return message.to_bytes()


@dataclass
class HostCodec:
    """The driver's side: writes frames, reads the module's status bytes (anything else is noise)."""

    stats: AsciiStats = field(default_factory=AsciiStats)

    def encode(self, message: VoiceFrame) -> bytes:
        return _encode(message)

    def feed(self, data: bytes) -> list[VoiceFrame]:
        out: list[VoiceFrame] = []
        for byte in data:
            try:
                out.append(Status(byte))
            except ValueError:
                self.stats.bytes_discarded += 1
            else:
                self.stats.frames_ok += 1
        return out


@dataclass
class ModuleCodec:
    """The module's side (the simulator): reads frames, writes status bytes.

    Resynchronises on the next FD after a frame whose length is impossible, whose XOR fails or whose
    text does not decode, and skips a frame still incomplete when a whole valid frame already follows
    it (a stray FD must not swallow the next command); ``stats.frames_bad`` counts them (the simulator
    answers 45h to each)."""

    stats: AsciiStats = field(default_factory=AsciiStats)
    _buf: bytearray = field(default_factory=bytearray, init=False, repr=False)

    def encode(self, message: VoiceFrame) -> bytes:
        return _encode(message)

    def feed(self, data: bytes) -> list[VoiceFrame]:
        self._buf += data
        buf = self._buf
        out: list[VoiceFrame] = []
        while True:
            start = buf.find(HEADER)
            if start < 0:
                self.stats.bytes_discarded += len(buf)
                buf.clear()
                return out
            if start:
                self.stats.bytes_discarded += start
                del buf[:start]
            if len(buf) < 3:
                return out
            length = int.from_bytes(buf[1:3], "big")
            if not 2 <= length <= _MAX_LENGTH:
                self.stats.bad(1)
                del buf[:1]
                continue
            if len(buf) < 3 + length:
                later = _complete_frame_after(buf)
                if later < 0:
                    return out  # wait for the rest
                self.stats.bad(later)  # a stray FD's "length" would swallow the frame behind it
                del buf[:later]
                continue
            raw = bytes(buf[: 3 + length])
            frame = _parse(raw)
            if frame is None:
                self.stats.bad(1)
                del buf[:1]  # the FD may have been noise: look for the next one inside
                continue
            del buf[: 3 + length]
            self.stats.frames_ok += 1
            out.append(frame)


def _complete_frame_after(buf: bytearray) -> int:
    """Where a later FD starts a whole, valid frame already in ``buf``; -1 when none does."""
    k = buf.find(HEADER, 1)
    while k > 0 and k + 3 <= len(buf):
        length = int.from_bytes(buf[k + 1 : k + 3], "big")
        if (
            2 <= length <= _MAX_LENGTH
            and k + 3 + length <= len(buf)
            and _parse(bytes(buf[k : k + 3 + length]))
        ):
            return k
        k = buf.find(HEADER, k + 1)
    return -1


def _parse(raw: bytes) -> VoiceFrame | None:
    if _xor(raw[:-1]) != raw[-1]:
        return None
    command, rest = raw[3], raw[4:-1]
    if command != SYNTHESISE:
        return ModuleCommand(command, rest)
    if not rest or rest[0] & 0x07 > TextEncoding.UNICODE:
        return None
    encoding = TextEncoding(rest[0] & 0x07)
    try:
        text = rest[1:].decode(_PYTHON_CODECS[encoding])
    except UnicodeDecodeError:
        return None
    if not text:
        return None
    return SynthesiseText(text, encoding, rest[0] >> 3)
