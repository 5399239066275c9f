"""Typed messages over the lane-bus framing: the generic part of every family codec.

A family declares its message classes, each with a one-byte ``TYPE`` and a fixed ``struct`` layout
(plus an optional variable tail).  :class:`MessageCodec` turns bytes into messages and messages into
bytes for one family; it never raises on bad input and counts what it rejects.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from drivers.errors import FrameError
from drivers.framing import FrameDecoder, FrameStats, encode_frame

__all__ = ["CodecStats", "Message", "MessageCodec", "StreamCodec"]


class Message(Protocol):
    """What every family message class provides."""

    TYPE: ClassVar[int]

    def pack_fields(self) -> bytes: ...

    @classmethod
    def unpack_fields(cls, data: bytes) -> Any: ...


M = TypeVar("M")


class _Stats(Protocol):
    def as_dict(self) -> dict[str, int]: ...


class StreamCodec(Protocol[M]):
    """What a serial link needs of a codec: the lane-bus :class:`MessageCodec`, or a vendor protocol's own
    codec (the LiDAR scanners' CoLa B)."""

    @property
    def stats(self) -> _Stats: ...

    def feed(self, data: bytes) -> list[M]: ...

    def encode(self, message: M) -> bytes: ...


@dataclass
class CodecStats(FrameStats):
    """Frame counters plus message-level rejections (unknown type, wrong length)."""

    unknown_type: int = 0
    bad_length: int = 0

    @property
    def frames_bad(self) -> int:
        return super().frames_bad + self.unknown_type + self.bad_length

    def as_dict(self) -> dict[str, int]:
        out = super().as_dict()
        out.update(unknown_type=self.unknown_type, bad_length=self.bad_length)
        return out


@dataclass
class MessageCodec(Generic[M]):
    """Pure codec of one device family: ``feed`` bytes to get messages, ``encode`` to get bytes."""

    message_types: tuple[type[M], ...]
    stats: CodecStats = field(default_factory=CodecStats)
    _by_type: dict[int, type[M]] = field(init=False)
    _frames: FrameDecoder = field(init=False)

    def __post_init__(self) -> None:
        self._by_type = {cls.TYPE: cls for cls in self.message_types}  # type: ignore[attr-defined]
        if len(self._by_type) != len(self.message_types):
            raise ValueError("two message classes share a TYPE byte")
        self._frames = FrameDecoder(stats=self.stats)

    def feed(self, data: bytes) -> list[M]:
        messages: list[M] = []
        for body in self._frames.feed(data):
            cls = self._by_type.get(body[0])
            if cls is None:
                self.stats.unknown_type += 1
                continue
            try:
                messages.append(cls.unpack_fields(body[1:]))  # type: ignore[attr-defined]
            except (struct.error, ValueError, IndexError, UnicodeDecodeError):
                self.stats.bad_length += 1
        return messages

    def encode(self, message: M) -> bytes:
        cls = type(message)
        if self._by_type.get(cls.TYPE) is not cls:  # type: ignore[attr-defined]
            raise FrameError(f"{cls.__name__} is not a message of this family")
        try:
            fields = message.pack_fields()  # type: ignore[attr-defined]
            return encode_frame(bytes([cls.TYPE]) + fields)  # type: ignore[attr-defined]
        except (struct.error, ValueError, OverflowError, TypeError, UnicodeEncodeError) as exc:
            raise FrameError(f"{cls.__name__} cannot be encoded: {exc}") from exc
