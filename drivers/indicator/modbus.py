"""Modbus RTU weighing transmitters (称重变送器), through pymodbus: no Modbus is written here.

A transmitter keeps its reading in holding registers; the driver polls them with function 0x03 every
``poll_interval_s``.  Register maps differ between makers, so the map is the ``register_map`` argument
(not yet a configuration key); the default (:class:`RegisterMap`) is the common one::

    start + 0, 1   gross weight, signed 32-bit, in units of 10**-decimals of the transmitter's unit
    start + 2      status bits: 0 stable, 1 over range, 2 under range, 3 net
    start + 3      decimals

See docs/protocols/indicators.md.  pymodbus is imported here only: a site without it loses this
driver, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusException

from drivers.indicator.driver import Indicator, IndicatorReading
from drivers.link import LinkConfig

__all__ = ["ModbusTransmitter", "RegisterMap", "decode_registers"]

log = logging.getLogger(__name__)

STABLE = 0x01
OVER_RANGE = 0x02
UNDER_RANGE = 0x04
NET = 0x08


@dataclass(frozen=True)
class RegisterMap:
    start: int = 0
    word_order: Literal["big", "little"] = "big"  # "big": the high word at the lower address
    count: int = 4


def decode_registers(
    registers: list[int], word_order: Literal["big", "little"], unit_kg: float, host_time_s: float
) -> IndicatorReading:
    """The reading held by the four registers of the default map."""
    if len(registers) < 4:
        raise ValueError(f"need 4 registers, got {len(registers)}")
    weight = AsyncModbusSerialClient.convert_from_registers(
        registers[:2], AsyncModbusSerialClient.DATATYPE.INT32, word_order=word_order
    )
    status, decimals = registers[2], registers[3]
    if decimals > 6:
        raise ValueError(f"decimals register holds {decimals}")
    assert isinstance(weight, int)
    over, under = bool(status & OVER_RANGE), bool(status & UNDER_RANGE)
    return IndicatorReading(
        weight_kg=None if over or under else weight / 10.0**decimals * unit_kg,
        host_time_s=host_time_s,
        stable=bool(status & STABLE) and not (over or under),
        motion=not status & STABLE,
        net=bool(status & NET),
        over_range=over,
        under_range=under,
        protocol="modbus_rtu",
    )


class ModbusTransmitter:
    """Polls one transmitter on ``link_config.url`` (a pyserial URL) with pymodbus's client; reconnects
    with the link's jittered back-off.  The constructor matches the other indicator drivers'."""

    PROTOCOL = "modbus_rtu"

    def __init__(
        self,
        name: str,
        link_config: LinkConfig,
        on_reading: Callable[[IndicatorReading], None] | None = None,
        *,
        device_id: int = 1,
        poll_interval_s: float = 0.1,
        reply_timeout_s: float = 0.5,
        register_map: RegisterMap | None = None,
        unit_kg: float = 1.0,
    ) -> None:
        if not 1 <= device_id <= 247:
            raise ValueError(f"device_id must be 1..247, not {device_id}")
        self.name = name
        self.config = link_config
        self.url = link_config.url
        self.device_id = device_id
        self.poll_interval_s = poll_interval_s
        self.reply_timeout_s = reply_timeout_s
        self.map = register_map or RegisterMap()
        self.unit_kg = unit_kg
        self._on_reading = on_reading
        self.latest: IndicatorReading | None = None
        self.readings = 0
        self.polls_failed = 0
        self.connects = 0
        self.state = "connecting"
        self.last_error = ""
        self._rng = random.Random()

    async def run(self, stop: asyncio.Event) -> None:
        backoff = self.config.backoff_initial_s
        while not stop.is_set():
            client = AsyncModbusSerialClient(
                self.url,
                baudrate=self.config.baudrate,
                timeout=self.reply_timeout_s,
                retries=0,
                reconnect_delay=0,  # the loop below reconnects, with back-off
            )
            try:
                if not await client.connect():
                    self._down(f"cannot open {self.url}")
                else:
                    self.connects += 1
                    backoff = self.config.backoff_initial_s
                    await self._poll_until_lost(client, stop)
            finally:
                client.close()
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff * (0.5 + self._rng.random()))
                backoff = min(backoff * 2, self.config.backoff_max_s)

    async def _poll_until_lost(self, client: AsyncModbusSerialClient, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                response = await client.read_holding_registers(
                    self.map.start, count=self.map.count, device_id=self.device_id
                )
                if response.isError():
                    raise ModbusException(f"exception response {response}")
                reading = decode_registers(
                    list(response.registers), self.map.word_order, self.unit_kg, time.monotonic()
                )
            except (ModbusException, ValueError, OSError) as exc:
                self.polls_failed += 1
                failures += 1
                self.state = "silent"
                self.last_error = f"poll failed: {exc}"
                if failures >= 5 or not client.connected:  # reopen, as a wedged adapter needs
                    self._down(f"{self.url}: {failures} polls failed ({exc})")
                    return
            else:
                failures = 0
                self.state = "up"
                self.last_error = ""
                self.latest = reading
                self.readings += 1
                if self._on_reading is not None:
                    self._on_reading(reading)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_interval_s)

    def _down(self, error: str) -> None:
        if self.state != "down" or error != self.last_error:
            log.warning("%s: %s (retrying with back-off)", self.name, error)
        self.state = "down"
        self.last_error = error

    def health(self) -> dict[str, Any]:
        latest = self.latest
        return {
            "port": self.url,
            "protocol": self.PROTOCOL,
            "state": self.state,
            "last_error": self.last_error,
            "connects": self.connects,
            "readings": self.readings,
            "polls_failed": self.polls_failed,
            "weight_kg": None if latest is None else latest.weight_kg,
            "stable": None if latest is None else latest.stable,
            "reading_age_s": None if latest is None else round(time.monotonic() - latest.host_time_s, 3),
        }


if TYPE_CHECKING:  # mypy checks that a weighbridge can take this driver as its indicator
    _INDICATOR: type[Indicator] = ModbusTransmitter
