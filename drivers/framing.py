"""Lane-bus framing shared by every binary device family of this project.

A frame on the wire is ``0x00 || COBS(body || CRC-32(body)) || 0x00`` where the CRC-32 is the IEEE 802.3
polynomial (zlib.crc32) sent little-endian.  COBS removes every zero byte from the encoded part, so
the ``0x00`` delimiters mark frame boundaries and a decoder resynchronises after garbage by waiting
for the next delimiter.  The leading delimiter ends any garbage before the frame, so a good frame
right after line noise is still received; empty chunks between delimiters are idle fill.  See docs/protocols/framing.md.

The decoder is pure: bytes in, bodies out.  It never raises on bad input; it counts it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from cobs import cobs

__all__ = ["MAX_BODY_BYTES", "FrameDecoder", "FrameStats", "encode_frame"]

#: Largest body (message type byte plus fields, without CRC) a decoder accepts.  Anything longer
#: between two delimiters is garbage and is dropped whole.
MAX_BODY_BYTES = 4096
_DELIMITER = b"\x00"
_CRC = struct.Struct("<I")


def encode_frame(body: bytes) -> bytes:
    """Return the wire bytes of one frame carrying ``body``."""
    if not body:
        raise ValueError("a frame body must hold at least the message type byte")
    if len(body) > MAX_BODY_BYTES:
        raise ValueError(f"frame body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    return _DELIMITER + bytes(cobs.encode(body + _CRC.pack(zlib.crc32(body)))) + _DELIMITER


@dataclass
class FrameStats:
    """Counters a technician reads to judge a serial link's health."""

    frames_ok: int = 0
    bad_crc: int = 0
    bad_cobs: int = 0
    oversize: int = 0
    bytes_discarded: int = 0

    @property
    def frames_bad(self) -> int:
        return self.bad_crc + self.bad_cobs + self.oversize

    def as_dict(self) -> dict[str, int]:
        return {
            "frames_ok": self.frames_ok,
            "frames_bad": self.frames_bad,
            "bad_crc": self.bad_crc,
            "bad_cobs": self.bad_cobs,
            "oversize": self.oversize,
            "bytes_discarded": self.bytes_discarded,
        }


@dataclass
class FrameDecoder:
    """Splits a byte stream into verified frame bodies.

    ``feed`` may be called with any chunking of the stream; partial frames are kept until their
    delimiter arrives.  The first frame after start-up is usually cut (the port was opened mid-frame);
    it fails its CRC and is counted, like any other garbage.
    """

    stats: FrameStats = field(default_factory=FrameStats)
    _pending: bytearray = field(default_factory=bytearray)
    _overflowed: bool = False

    def feed(self, data: bytes) -> list[bytes]:
        bodies: list[bytes] = []
        start = 0
        while True:
            end = data.find(_DELIMITER, start)
            if end < 0:
                self._keep(data[start:])
                return bodies
            chunk = data[start:end]
            start = end + 1
            if self._overflowed:
                self.stats.bytes_discarded += len(chunk) + 1
                self._overflowed = False
                self._pending.clear()
                continue
            if self._pending:
                self._pending += chunk
                encoded = bytes(self._pending)
                self._pending.clear()
            else:
                encoded = chunk
            body = self._verify(encoded)
            if body is not None:
                bodies.append(body)

    def _keep(self, tail: bytes) -> None:
        if self._overflowed:
            self.stats.bytes_discarded += len(tail)
            return
        self._pending += tail
        # An encoded frame is at most body + CRC + COBS overhead (1 byte per 254) + 1.
        if len(self._pending) > MAX_BODY_BYTES + 4 + MAX_BODY_BYTES // 254 + 2:
            self.stats.oversize += 1
            self.stats.bytes_discarded += len(self._pending)
            self._pending.clear()
            self._overflowed = True

    def _verify(self, encoded: bytes) -> bytes | None:
        if not encoded:
            return None  # back-to-back delimiters are idle fill, not an error
        try:
            raw = cobs.decode(encoded)
        except cobs.DecodeError:
            self.stats.bad_cobs += 1
            self.stats.bytes_discarded += len(encoded) + 1
            return None
        if len(raw) < 5:
            self.stats.bad_crc += 1
            self.stats.bytes_discarded += len(encoded) + 1
            return None
        body, (crc,) = bytes(raw[:-4]), _CRC.unpack(raw[-4:])
        if zlib.crc32(body) != crc:
            self.stats.bad_crc += 1
            self.stats.bytes_discarded += len(encoded) + 1
            return None
        if len(body) > MAX_BODY_BYTES:
            self.stats.oversize += 1
            self.stats.bytes_discarded += len(encoded) + 1
            return None
        self.stats.frames_ok += 1
        return body
