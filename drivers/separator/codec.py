"""Codec of the light-curtain vehicle separator.  See docs/protocols/separator.md."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from drivers.messages import MessageCodec

__all__ = ["CurtainEvent", "CurtainHeartbeat", "new_codec"]

_EVENT = struct.Struct("<IQBBH")  # seq, device_time_us, kind, blocked_beams, max_height_mm
_HEARTBEAT = struct.Struct("<IQBH")  # seq, device_time_us, occupied, fault_flags


@dataclass(frozen=True)
class CurtainEvent:
    """A vehicle starts (``ENTER``) or stops (``LEAVE``) interrupting the curtain."""

    TYPE: ClassVar[int] = 0x10
    ENTER: ClassVar[int] = 1
    LEAVE: ClassVar[int] = 2

    seq: int
    device_time_us: int
    kind: int
    blocked_beams: int = 0
    max_height_mm: int = 0

    def pack_fields(self) -> bytes:
        if self.kind not in (self.ENTER, self.LEAVE):
            raise ValueError(f"unknown curtain event kind {self.kind}")
        return _EVENT.pack(self.seq, self.device_time_us, self.kind, self.blocked_beams, self.max_height_mm)

    @classmethod
    def unpack_fields(cls, data: bytes) -> CurtainEvent:
        if len(data) != _EVENT.size:
            raise ValueError("bad event length")
        event = cls(*_EVENT.unpack(data))
        if event.kind not in (cls.ENTER, cls.LEAVE):
            raise ValueError("unknown curtain event kind")
        return event


@dataclass(frozen=True)
class CurtainHeartbeat:
    """Sent every 100 ms: device clock, whether any beam is blocked, and fault bits."""

    TYPE: ClassVar[int] = 0x11
    FAULT_DIRTY_LENS: ClassVar[int] = 0x0001
    FAULT_MISALIGNED: ClassVar[int] = 0x0002

    seq: int
    device_time_us: int
    occupied: bool
    fault_flags: int = 0

    def pack_fields(self) -> bytes:
        return _HEARTBEAT.pack(self.seq, self.device_time_us, int(self.occupied), self.fault_flags)

    @classmethod
    def unpack_fields(cls, data: bytes) -> CurtainHeartbeat:
        if len(data) != _HEARTBEAT.size:
            raise ValueError("bad heartbeat length")
        seq, t_us, occupied, faults = _HEARTBEAT.unpack(data)
        return cls(seq, t_us, bool(occupied), faults)


def new_codec() -> MessageCodec[CurtainEvent | CurtainHeartbeat]:
    return MessageCodec((CurtainEvent, CurtainHeartbeat))
