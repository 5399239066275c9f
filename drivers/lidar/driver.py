"""Driver of a SICK LMS5xx-class scanner: CoLa B over TCP, one typed :class:`LidarScan` per telegram.

The port is a pyserial URL, normally ``socket://192.168.0.1:2112`` (the LMS5xx's CoLa B port); the link
reconnects with jittered back-off like every serial device of the lane.  On every (re)connect the driver
asks for continuous scans (``sEN LMDscandata 1``), since a scanner forgets the subscription with the TCP
session.  The scanner's microsecond clock is mapped onto the host's monotonic clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.base import ClockedDriver
from drivers.errors import DeviceUnavailable
from drivers.lidar.codec import START_SCANS, ColaBCodec, ColaCommand, ScanTelegram
from drivers.link import LinkConfig

__all__ = ["LidarScan", "LidarScanner"]

#: The scanner's time stamp is a 32-bit microsecond counter: it wraps after 71.6 minutes.
_WRAP_US = 1 << 32


@dataclass(frozen=True)
class LidarScan:
    """One scan, ranges in mm (0 = no echo) at angles ``start_angle_deg + k * angular_step_deg`` of the
    scanner's own frame, stamped with the host's monotonic time."""

    scanner: str
    scan_counter: int
    device_time_s: float
    host_time_s: float
    start_angle_deg: float
    angular_step_deg: float
    ranges_mm: npt.NDArray[np.float64]
    scans_lost: int  # scans missing between the previous one and this one (0 normally)


class LidarScanner(ClockedDriver[ScanTelegram | ColaCommand]):
    def __init__(self, name: str, link_config: LinkConfig, on_scan: Callable[[LidarScan], None]) -> None:
        super().__init__(name, link_config, ColaBCodec())
        self._on_scan = on_scan
        self.scans = 0
        self.scans_lost = 0
        self.subscribed = False
        self.device_status = 0
        self.scan_frequency_hz: float | None = None
        self._last_counter: int | None = None
        self._wraps = 0
        self._last_raw_us: int | None = None

    async def _on_connect(self) -> None:
        self.subscribed = False
        self._last_counter = None
        # DeviceUnavailable: the link went down at once; it will reconnect and ask again
        with contextlib.suppress(DeviceUnavailable):
            await self.link.send(START_SCANS)

    def _device_s(self, raw_us: int) -> float:
        if (
            self._last_raw_us is not None
            and raw_us < self._last_raw_us
            and self._last_raw_us - raw_us > _WRAP_US // 2
        ):
            self._wraps += 1
        self._last_raw_us = raw_us
        return (raw_us + self._wraps * _WRAP_US) / 1e6

    def _handle(self, message: ScanTelegram | ColaCommand, host_receive_s: float) -> None:
        if isinstance(message, ColaCommand):
            if message.command_type == "sEA" and message.name == "LMDscandata":
                self.subscribed = message.args[:1] == b"\x01"
            return
        lost = 0
        if self._last_counter is not None:
            lost = (message.scan_counter - self._last_counter - 1) & 0xFFFF
            self.scans_lost += lost
        self._last_counter = message.scan_counter
        self.scans += 1
        self.device_status = message.device_status
        self.scan_frequency_hz = message.scan_frequency_centi_hz / 100.0
        device_s = self._device_s(message.time_since_startup_us)
        self._observe_clock(device_s, host_receive_s)
        self._on_scan(
            LidarScan(
                scanner=self.name,
                scan_counter=message.scan_counter,
                device_time_s=device_s,
                host_time_s=self.clock.to_host(device_s),
                start_angle_deg=message.start_angle_deg,
                angular_step_deg=message.angular_step_deg,
                ranges_mm=message.ranges_mm(),
                scans_lost=lost,
            )
        )

    def health(self) -> dict[str, Any]:
        return {
            **super().health(),
            "subscribed": self.subscribed,
            "scans": self.scans,
            "scans_lost": self.scans_lost,
            "scan_frequency_hz": self.scan_frequency_hz,
            "device_status": self.device_status,
        }
