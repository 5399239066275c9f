"""Counters shared by the indicator codecs (the link shows them in ``health()``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AsciiStats"]


@dataclass
class AsciiStats:
    """Frame counters a technician reads to judge a serial line.

    ``frames_bad`` counts frames that began but failed a check (checksum, length, field syntax, cut off by
    the next frame); ``bytes_discarded`` counts every byte dropped, including line noise between frames.
    """

    frames_ok: int = 0
    frames_bad: int = 0
    bytes_discarded: int = 0

    def bad(self, n_bytes: int) -> None:
        self.frames_bad += 1
        self.bytes_discarded += n_bytes

    def as_dict(self) -> dict[str, int]:
        return {
            "frames_ok": self.frames_ok,
            "frames_bad": self.frames_bad,
            "bytes_discarded": self.bytes_discarded,
        }
