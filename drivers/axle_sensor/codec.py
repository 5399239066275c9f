"""Codec of the tyre/axle recogniser (strips at the scale entry and exit, and any between the platforms).

See docs/protocols/axle_sensor.md.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from drivers.messages import MessageCodec

__all__ = ["MAX_MID_STRIPS", "AxleEvent", "AxleHeartbeat", "new_codec"]

#: Intermediate strips a sensor may have (one in each gap between 8 platforms): ``strip`` 2 .. 8.
MAX_MID_STRIPS = 7
_STRIPS = range(2 + MAX_MID_STRIPS)

_AXLE = struct.Struct("<IQBBBH")  # seq, device_time_us, strip, tyre, direction, tyre_width_mm
_HEARTBEAT = struct.Struct("<IQH")  # seq, device_time_us, fault_flags


@dataclass(frozen=True)
class AxleEvent:
    """One axle crossing one strip."""

    TYPE: ClassVar[int] = 0x20
    STRIP_ENTRY: ClassVar[int] = 0
    STRIP_EXIT: ClassVar[int] = 1
    STRIP_MID_1: ClassVar[int] = 2  # the first intermediate strip; the k-th is STRIP_MID_1 + k - 1
    TYRE_SINGLE: ClassVar[int] = 1
    TYRE_DUAL: ClassVar[int] = 2
    TYRE_WIDE_SINGLE: ClassVar[int] = 3
    FORWARD: ClassVar[int] = 0
    REVERSE: ClassVar[int] = 1

    seq: int
    device_time_us: int
    strip: int
    tyre: int
    direction: int = 0
    tyre_width_mm: int = 0

    @property
    def mid_index(self) -> int | None:
        """0 for the first intermediate strip, 1 for the next ...; None for the entry and exit strips."""
        return self.strip - self.STRIP_MID_1 if self.strip >= self.STRIP_MID_1 else None

    def pack_fields(self) -> bytes:
        if self.strip not in _STRIPS or self.tyre not in (1, 2, 3) or self.direction not in (0, 1):
            raise ValueError("axle event strip, tyre or direction out of range")
        return _AXLE.pack(
            self.seq, self.device_time_us, self.strip, self.tyre, self.direction, self.tyre_width_mm
        )

    @classmethod
    def unpack_fields(cls, data: bytes) -> AxleEvent:
        if len(data) != _AXLE.size:
            raise ValueError("bad axle event length")
        event = cls(*_AXLE.unpack(data))
        if event.strip not in _STRIPS or event.tyre not in (1, 2, 3) or event.direction not in (0, 1):
            raise ValueError("axle event field out of range")
        return event


@dataclass(frozen=True)
class AxleHeartbeat:
    """Sent every 100 ms: device clock and fault bits (bit 0 entry strip, bit 1 exit strip)."""

    TYPE: ClassVar[int] = 0x21

    seq: int
    device_time_us: int
    fault_flags: int = 0

    def pack_fields(self) -> bytes:
        return _HEARTBEAT.pack(self.seq, self.device_time_us, self.fault_flags)

    @classmethod
    def unpack_fields(cls, data: bytes) -> AxleHeartbeat:
        if len(data) != _HEARTBEAT.size:
            raise ValueError("bad heartbeat length")
        return cls(*_HEARTBEAT.unpack(data))


def new_codec() -> MessageCodec[AxleEvent | AxleHeartbeat]:
    return MessageCodec((AxleEvent, AxleHeartbeat))
