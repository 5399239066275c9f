"""Codec of the barrier (boom gate) controller.  See docs/protocols/barrier.md."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from drivers.messages import MessageCodec

__all__ = ["BarrierCommand", "BarrierState", "new_codec"]

_COMMAND = struct.Struct("<IB")  # seq, action
_STATE = struct.Struct("<IQIBH")  # seq, device_time_us, last_command_seq, position, fault_flags


@dataclass(frozen=True)
class BarrierCommand:
    """Host -> controller: open or close the boom."""

    TYPE: ClassVar[int] = 0x40
    OPEN: ClassVar[int] = 1
    CLOSE: ClassVar[int] = 2

    seq: int
    action: int

    def pack_fields(self) -> bytes:
        if self.action not in (self.OPEN, self.CLOSE):
            raise ValueError(f"unknown barrier action {self.action}")
        return _COMMAND.pack(self.seq, self.action)

    @classmethod
    def unpack_fields(cls, data: bytes) -> BarrierCommand:
        if len(data) != _COMMAND.size:
            raise ValueError("bad command length")
        command = cls(*_COMMAND.unpack(data))
        if command.action not in (cls.OPEN, cls.CLOSE):
            raise ValueError("unknown barrier action")
        return command


@dataclass(frozen=True)
class BarrierState:
    """Controller -> host: sent on every change and every 500 ms."""

    TYPE: ClassVar[int] = 0x41
    CLOSED: ClassVar[int] = 0
    OPENING: ClassVar[int] = 1
    OPEN: ClassVar[int] = 2
    CLOSING: ClassVar[int] = 3
    FAULT_OBSTRUCTED: ClassVar[int] = 0x0001
    FAULT_MOTOR: ClassVar[int] = 0x0002

    seq: int
    device_time_us: int
    last_command_seq: int
    position: int
    fault_flags: int = 0

    POSITION_NAMES: ClassVar[dict[int, str]] = {0: "closed", 1: "opening", 2: "open", 3: "closing"}

    @property
    def position_name(self) -> str:
        return self.POSITION_NAMES.get(self.position, "unknown")

    def pack_fields(self) -> bytes:
        if self.position not in self.POSITION_NAMES:
            raise ValueError(f"unknown barrier position {self.position}")
        return _STATE.pack(
            self.seq, self.device_time_us, self.last_command_seq, self.position, self.fault_flags
        )

    @classmethod
    def unpack_fields(cls, data: bytes) -> BarrierState:
        if len(data) != _STATE.size:
            raise ValueError("bad state length")
        state = cls(*_STATE.unpack(data))
        if state.position > 3:
            raise ValueError("unknown barrier position")
        return state


def new_codec() -> MessageCodec[BarrierCommand | BarrierState]:
    return MessageCodec((BarrierCommand, BarrierState))
