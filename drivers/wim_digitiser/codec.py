"""Codec of the WIM digitiser: raw load-cell samples and status.  See docs/protocols/wim_digitiser.md."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from drivers.messages import MessageCodec

__all__ = ["DigitiserStatus", "SampleBlock", "new_codec"]

_BLOCK = struct.Struct("<IQHBBH")  # seq, first_sample_index, sample_rate_hz, n_channels, n_samples, flags
_STATUS = struct.Struct("<IQhHI")  # seq, device_time_us, temperature_centi_c, flags, overload_mask


@dataclass(frozen=True, eq=False)
class SampleBlock:
    """``n_samples`` consecutive samples of every channel, raw ADC counts (int32).

    ``first_sample_index`` counts samples since the digitiser started; it is the digitiser's clock:
    sample k was taken at ``k / sample_rate_hz`` seconds of device time.
    """

    TYPE: ClassVar[int] = 0x01
    FLAG_ADC_OVERLOAD: ClassVar[int] = 0x0001
    FLAG_RESYNC: ClassVar[int] = 0x0002

    seq: int
    first_sample_index: int
    sample_rate_hz: int
    counts: npt.NDArray[np.int32]  # shape (n_samples, n_channels)
    flags: int = 0

    def pack_fields(self) -> bytes:
        raw = np.asarray(self.counts)
        if raw.ndim != 2 or raw.shape[0] == 0 or raw.shape[1] == 0:
            raise ValueError("counts must be a non-empty (n_samples, n_channels) array")
        if not np.issubdtype(raw.dtype, np.integer):
            raise ValueError(f"counts must be integers, not {raw.dtype}")
        if raw.min() < -(2**31) or raw.max() > 2**31 - 1:
            raise ValueError("counts out of the int32 range")
        if self.sample_rate_hz <= 0:
            raise ValueError("sample_rate_hz must be > 0")
        counts = np.ascontiguousarray(raw, dtype="<i4")
        n_samples, n_channels = counts.shape
        return (
            _BLOCK.pack(
                self.seq, self.first_sample_index, self.sample_rate_hz, n_channels, n_samples, self.flags
            )
            + counts.tobytes()
        )

    @classmethod
    def unpack_fields(cls, data: bytes) -> SampleBlock:
        seq, first, rate, n_channels, n_samples, flags = _BLOCK.unpack_from(data)
        payload = data[_BLOCK.size :]
        if n_channels == 0 or n_samples == 0 or rate == 0 or len(payload) != 4 * n_channels * n_samples:
            raise ValueError("sample block length does not match its header")
        counts = np.frombuffer(payload, dtype="<i4").reshape(n_samples, n_channels).astype(np.int32)
        return cls(seq, first, rate, counts, flags)


@dataclass(frozen=True)
class DigitiserStatus:
    """Sent once a second: device clock, board temperature and per-channel overload bits."""

    TYPE: ClassVar[int] = 0x02

    seq: int
    device_time_us: int
    temperature_c: float
    flags: int = 0
    overload_mask: int = 0

    def pack_fields(self) -> bytes:
        if not np.isfinite(self.temperature_c):
            raise ValueError("temperature must be finite")
        return _STATUS.pack(
            self.seq, self.device_time_us, round(self.temperature_c * 100), self.flags, self.overload_mask
        )

    @classmethod
    def unpack_fields(cls, data: bytes) -> DigitiserStatus:
        if len(data) != _STATUS.size:
            raise ValueError("bad status length")
        seq, t_us, temp, flags, mask = _STATUS.unpack(data)
        return cls(seq, t_us, temp / 100.0, flags, mask)


def new_codec() -> MessageCodec[SampleBlock | DigitiserStatus]:
    return MessageCodec((SampleBlock, DigitiserStatus))
