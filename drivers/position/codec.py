"""Codec of the weighbridge position-beam controller, shared by the driver and the simulator.

The controller watches infrared beam pairs across the deck: one at each end (entry, exit) and, where a
site has them, one along each side.  A blocked end beam means a wheel is over the deck's edge (the
truck is not fully on: off-centre); a blocked beam while a truck already stands on the deck means
something else is coming on (a second vehicle, a person).  It sends a :class:`BeamState` on every change
and every 100 ms, in the project's lane-bus framing (COBS + CRC-32, docs/protocols/framing.md).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from drivers.messages import MessageCodec

__all__ = ["BEAM_NAMES", "BeamState", "new_codec"]

_STATE = struct.Struct("<IQBB")  # seq, device_time_us, blocked beams (bit mask), fault bits

#: Bit i of ``blocked`` is the beam named ``BEAM_NAMES[i]``.
BEAM_NAMES = ("entry", "exit", "left", "right")


@dataclass(frozen=True)
class BeamState:
    """Which beams are blocked now.  ``faults``: bit i set when beam i cannot see its reflector."""

    TYPE: ClassVar[int] = 0x60
    ENTRY: ClassVar[int] = 0x01
    EXIT: ClassVar[int] = 0x02
    LEFT: ClassVar[int] = 0x04
    RIGHT: ClassVar[int] = 0x08

    seq: int
    device_time_us: int
    blocked: int
    faults: int = 0

    def pack_fields(self) -> bytes:
        if not 0 <= self.blocked <= 0x0F or not 0 <= self.faults <= 0x0F:
            raise ValueError("blocked and faults are 4-bit masks")
        return _STATE.pack(self.seq, self.device_time_us, self.blocked, self.faults)

    @classmethod
    def unpack_fields(cls, data: bytes) -> BeamState:
        if len(data) != _STATE.size:
            raise ValueError("bad beam state length")
        state = cls(*_STATE.unpack(data))
        if state.blocked > 0x0F or state.faults > 0x0F:
            raise ValueError("beam masks beyond 4 beams")
        return state

    def names(self) -> tuple[str, ...]:
        """The blocked beams by name."""
        return tuple(name for i, name in enumerate(BEAM_NAMES) if self.blocked >> i & 1)


def new_codec() -> MessageCodec[BeamState]:
    return MessageCodec((BeamState,))
