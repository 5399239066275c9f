"""One serial link: opens a pyserial URL, reads frames, reconnects with jittered back-off.

Every family driver owns one :class:`SerialLink`.  The link knows nothing about message meaning: it
feeds received bytes to the family codec and hands decoded messages, stamped with the host's
monotonic receive time, to the driver's callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

import serial
import serial_asyncio_fast

from drivers.errors import DeviceUnavailable
from drivers.messages import StreamCodec

__all__ = ["LinkConfig", "LinkState", "SerialLink"]

log = logging.getLogger(__name__)
M = TypeVar("M")


class LinkState(StrEnum):
    """Link states as shown to technicians (the values are what health and heartbeats show)."""

    CONNECTING = "connecting"
    UP = "up"
    SILENT = "silent"  # port open, but nothing received within the read timeout
    DOWN = "down"  # port could not be opened or vanished; retrying


@dataclass(frozen=True)
class LinkConfig:
    url: str
    baudrate: int = 115200
    read_timeout_s: float = 1.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    #: Reopen the port after this many consecutive silent read timeouts (a wedged USB adapter
    #: often recovers only on reopen).
    reopen_after_silent_timeouts: int = 5


class SerialLink(Generic[M]):
    """Owns one port.  ``run`` loops until ``stop`` is set; ``send`` writes one message."""

    def __init__(
        self,
        name: str,
        config: LinkConfig,
        codec: StreamCodec[M],
        on_message: Callable[[M, float], None],
        on_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.codec = codec
        self._on_message = on_message
        self._on_connect = on_connect
        self._writer: asyncio.StreamWriter | None = None
        self.state = LinkState.CONNECTING
        self.last_error = ""
        self.connects = 0
        self.disconnects = 0
        self.last_rx_host_s: float | None = None
        self.handler_errors = 0
        self._rng = random.Random()

    async def run(self, stop: asyncio.Event) -> None:
        backoff = self.config.backoff_initial_s
        while not stop.is_set():
            try:
                # exclusive: a second process opening the same device is refused by the kernel (flock)
                reader, writer = await serial_asyncio_fast.open_serial_connection(
                    url=self.config.url, baudrate=self.config.baudrate, exclusive=True
                )
            except (OSError, serial.SerialException, ValueError) as exc:
                self._mark_down(f"cannot open {self.config.url}: {exc}")
                await self._sleep_backoff(stop, backoff)
                backoff = min(backoff * 2, self.config.backoff_max_s)
                continue
            self._writer = writer
            self.state = LinkState.UP
            self.connects += 1
            self.last_error = ""
            log.info("%s: opened %s", self.name, self.config.url)
            try:
                if self._on_connect is not None:
                    await self._on_connect()
                got_data = await self._read_until_lost(reader, stop)
            finally:
                self._writer = None
                writer.close()
            if got_data:
                backoff = self.config.backoff_initial_s
            if not stop.is_set():
                self.disconnects += 1
                await self._sleep_backoff(stop, backoff)
                backoff = min(backoff * 2, self.config.backoff_max_s)

    async def _read_until_lost(self, reader: asyncio.StreamReader, stop: asyncio.Event) -> bool:
        got_data = False
        silent = 0
        stop_wait = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                read = asyncio.ensure_future(reader.read(65536))
                done, _ = await asyncio.wait(
                    {read, stop_wait}, timeout=self.config.read_timeout_s, return_when=asyncio.FIRST_COMPLETED
                )
                if read not in done:
                    read.cancel()
                    if stop.is_set():
                        return got_data
                    silent += 1
                    self.state = LinkState.SILENT
                    self.last_error = f"no data for {silent * self.config.read_timeout_s:.1f} s"
                    if silent >= self.config.reopen_after_silent_timeouts:
                        log.warning("%s: %s; reopening %s", self.name, self.last_error, self.config.url)
                        return got_data
                    continue
                try:
                    data = read.result()
                except (OSError, serial.SerialException) as exc:
                    self._mark_down(f"{self.config.url} lost: {exc}")
                    return got_data
                if not data:
                    self._mark_down(f"{self.config.url} closed by the device side")
                    return got_data
                now = time.monotonic()
                self.last_rx_host_s = now
                got_data = True
                silent = 0
                self.state = LinkState.UP
                for message in self.codec.feed(data):
                    try:
                        self._on_message(message, now)
                    except Exception:  # a bug in one reading's handling must not take the port down
                        self.handler_errors += 1
                        log.exception("%s: handling %r failed", self.name, message)
        finally:
            stop_wait.cancel()
        return got_data

    def _mark_down(self, error: str) -> None:
        if self.state != LinkState.DOWN or error != self.last_error:
            log.warning("%s: %s (retrying with back-off)", self.name, error)
        self.state = LinkState.DOWN
        self.last_error = error

    async def _sleep_backoff(self, stop: asyncio.Event, base_s: float) -> None:
        delay = base_s * (
            0.5 + self._rng.random()
        )  # jitter so a cabinet of devices does not reconnect in lockstep
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)

    @property
    def is_up(self) -> bool:
        return self._writer is not None and self.state in (LinkState.UP, LinkState.SILENT)

    async def send(self, message: M) -> None:
        """Write one message; raises :class:`DeviceUnavailable` when the port is not open."""
        writer = self._writer
        if writer is None:
            raise DeviceUnavailable(f"{self.name}: port {self.config.url} is not open ({self.last_error})")
        try:
            writer.write(self.codec.encode(message))
            await writer.drain()
        except (OSError, serial.SerialException, ConnectionError) as exc:
            raise DeviceUnavailable(f"{self.name}: write to {self.config.url} failed: {exc}") from exc

    def health(self) -> dict[str, Any]:
        return {
            "port": self.config.url,
            "state": self.state,
            "last_error": self.last_error,
            "connects": self.connects,
            "disconnects": self.disconnects,
            "handler_errors": self.handler_errors,
            "last_rx_age_s": None
            if self.last_rx_host_s is None
            else round(time.monotonic() - self.last_rx_host_s, 3),
            **self.codec.stats.as_dict(),
        }
