"""Drivers of weighing indicators: typed readings, host-stamped, from the three protocol codecs.

Each driver owns one :class:`drivers.link.SerialLink` (open a pyserial URL, reconnect with back-off,
silent-line timeouts) and calls ``on_reading`` with an :class:`IndicatorReading` per weight the indicator
sends.  Polled protocols (XK3190-A9 command mode, MT-SICS) also run a poll loop that asks for the weight
every ``poll_interval_s`` and offer the indicator's commands (tare, zero) as coroutines that wait for
the reply.  See docs/protocols/indicators.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from drivers.errors import DeviceRejected, DeviceTimeout, DeviceUnavailable, DriverError, FrameError
from drivers.indicator.sics import SicsCodec, SicsCommand, SicsFrame, SicsReply
from drivers.indicator.toledo import ToledoCodec, ToledoFrame
from drivers.indicator.xk3190 import (
    Xk3190Codec,
    Xk3190Command,
    Xk3190Frame,
    Xk3190Reply,
    Xk3190Weight,
)
from drivers.link import LinkConfig, SerialLink
from drivers.messages import StreamCodec

__all__ = ["Indicator", "IndicatorDriver", "IndicatorReading", "MtSics", "ToledoContinuous", "Xk3190"]

F = TypeVar("F")
_LB_KG = 0.45359237


@dataclass(frozen=True)
class IndicatorReading:
    """One weight as the indicator reported it.

    ``weight_kg`` is None when the indicator gave no number (MT-SICS over- or underload).  ``stable`` and
    ``motion`` are None when the protocol does not say (XK3190-A9): then only the host's own stability
    detection (edge.static.stability) can judge.  ``host_time_s`` is ``time.monotonic()`` on receipt.
    """

    weight_kg: float | None
    host_time_s: float
    stable: bool | None
    motion: bool | None
    net: bool = False
    over_range: bool = False
    under_range: bool = False
    tare_kg: float | None = None
    protocol: str = ""


class Indicator(Protocol):
    """What a weighing site needs of an indicator driver, whatever carries its readings: the serial
    drivers below (:class:`IndicatorDriver`) and the Modbus RTU transmitter (drivers.indicator.modbus),
    which polls through pymodbus and so owns no :class:`SerialLink`."""

    PROTOCOL: str
    latest: IndicatorReading | None

    async def run(self, stop: asyncio.Event) -> None: ...

    def health(self) -> dict[str, Any]: ...


class IndicatorDriver(Generic[F]):
    """What the indicator drivers share: the link, the reading callback, a poll loop and replies."""

    PROTOCOL = ""

    def __init__(
        self,
        name: str,
        link_config: LinkConfig,
        codec: StreamCodec[F],
        on_reading: Callable[[IndicatorReading], None] | None = None,
        poll_interval_s: float | None = None,
        reply_timeout_s: float = 0.5,
    ) -> None:
        self.name = name
        self.link: SerialLink[F] = SerialLink(name, link_config, codec, self._receive, self._on_connect)
        self._on_reading = on_reading
        self.poll_interval_s = poll_interval_s
        self.reply_timeout_s = reply_timeout_s
        self.latest: IndicatorReading | None = None
        self.readings = 0
        self.over_range_readings = 0
        self.polls_failed = 0
        self.commands_failed = 0
        self._waiting: tuple[str, asyncio.Future[F]] | None = None
        self._lock = asyncio.Lock()

    async def run(self, stop: asyncio.Event) -> None:
        if self.poll_interval_s is None:
            await self.link.run(stop)
            return
        async with asyncio.TaskGroup() as tasks:  # a crash in either is raised here, not lost
            tasks.create_task(self.link.run(stop), name=f"{self.name}-link")
            tasks.create_task(self._poll_loop(stop), name=f"{self.name}-poll")

    async def _on_connect(self) -> None:
        """Called each time the port (re)opens; a driver that must start the indicator's output does it."""

    async def _poll_loop(self, stop: asyncio.Event) -> None:
        assert self.poll_interval_s is not None
        while not stop.is_set():
            if self.link.is_up:
                try:
                    await self._poll()
                except (DeviceTimeout, DeviceUnavailable, DeviceRejected):
                    self.polls_failed += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_interval_s)

    async def _poll(self) -> None:
        raise NotImplementedError

    async def _ask(self, request: F, reply_key: str) -> F:
        """Send ``request`` and wait for the first frame whose :meth:`_reply_key` is ``reply_key``."""
        async with self._lock:
            future: asyncio.Future[F] = asyncio.get_running_loop().create_future()
            self._waiting = (reply_key, future)
            try:
                await self.link.send(request)
                return await asyncio.wait_for(future, self.reply_timeout_s)
            except TimeoutError as exc:
                raise DeviceTimeout(
                    f"{self.name}: no reply within {self.reply_timeout_s} s on {self.link.config.url};"
                    " check the cable, the indicator's power and its output mode"
                ) from exc
            finally:
                self._waiting = None

    def _reply_key(self, frame: F) -> str | None:
        return None

    def _receive(self, frame: F, host_receive_s: float) -> None:
        waiting = self._waiting
        key = self._reply_key(frame)
        if waiting is not None and key == waiting[0] and not waiting[1].done():
            waiting[1].set_result(frame)
        reading = self._reading(frame, host_receive_s)
        if reading is not None:
            self._emit(reading)

    def _reading(self, frame: F, host_receive_s: float) -> IndicatorReading | None:
        raise NotImplementedError

    def _emit(self, reading: IndicatorReading) -> None:
        self.latest = reading
        self.readings += 1
        if reading.over_range or reading.under_range:
            self.over_range_readings += 1
        if self._on_reading is not None:
            self._on_reading(reading)

    def health(self) -> dict[str, Any]:
        latest = self.latest
        return {
            **self.link.health(),
            "protocol": self.PROTOCOL,
            "readings": self.readings,
            "over_range_readings": self.over_range_readings,
            "polls_failed": self.polls_failed,
            "commands_failed": self.commands_failed,
            "weight_kg": None if latest is None else latest.weight_kg,
            "stable": None if latest is None else latest.stable,
            "reading_age_s": None if latest is None else round(time.monotonic() - latest.host_time_s, 3),
        }


class Xk3190(IndicatorDriver[Xk3190Frame]):
    """Yaohua XK3190-A9.  ``mode="continuous"`` (tF=0) listens; ``mode="command"`` (tF=1) polls the gross
    weight at ``address``.  ``unit_kg`` is the indicator's unit in kg (1000 when it shows tonnes)."""

    PROTOCOL = "xk3190"

    def __init__(
        self,
        name: str,
        link_config: LinkConfig,
        on_reading: Callable[[IndicatorReading], None] | None = None,
        mode: Literal["continuous", "command"] = "continuous",
        address: str = "A",
        poll_interval_s: float = 0.1,
        reply_timeout_s: float = 0.5,
        unit_kg: float = 1.0,
    ) -> None:
        if mode not in ("continuous", "command"):
            raise ValueError(f"mode must be continuous or command, not {mode!r}")
        Xk3190Command(address, Xk3190Command.GROSS).pack()  # FrameError now for a bad address
        super().__init__(
            name,
            link_config,
            Xk3190Codec("host"),
            on_reading,
            poll_interval_s if mode == "command" else None,
            reply_timeout_s,
        )
        self.mode = mode
        self.address = address
        self.unit_kg = unit_kg
        self.tare_kg: float | None = None

    def _reply_key(self, frame: Xk3190Frame) -> str | None:
        return frame.command if isinstance(frame, Xk3190Reply) and frame.address == self.address else None

    def _reading(self, frame: Xk3190Frame, host_receive_s: float) -> IndicatorReading | None:
        if isinstance(frame, Xk3190Weight):
            if self.mode != "continuous":
                return None
            return self._weight(frame, host_receive_s, net=False)
        if not isinstance(frame, Xk3190Reply) or frame.address != self.address or frame.weight is None:
            return None
        if frame.command == Xk3190Command.TARE:
            self.tare_kg = frame.weight.weight * self.unit_kg
            return None
        return self._weight(frame.weight, host_receive_s, net=frame.command == Xk3190Command.NET)

    def _weight(self, weight: Xk3190Weight, host_receive_s: float, net: bool) -> IndicatorReading:
        return IndicatorReading(
            weight_kg=weight.weight * self.unit_kg,
            host_time_s=host_receive_s,
            stable=None,
            motion=None,
            net=net,
            tare_kg=self.tare_kg,
            protocol=self.PROTOCOL,
        )

    async def command(self, command: str) -> Xk3190Reply:
        """Send one command-mode command (``A``-``D``) and return the indicator's reply."""
        try:
            reply = await self._ask(Xk3190Command(self.address, command), command)
        except (DeviceTimeout, DeviceUnavailable):
            self.commands_failed += 1
            raise
        assert isinstance(reply, Xk3190Reply)
        return reply

    async def handshake(self) -> None:
        await self.command(Xk3190Command.HANDSHAKE)

    async def read_tare_kg(self) -> float:
        reply = await self.command(Xk3190Command.TARE)
        assert reply.weight is not None
        return reply.weight.weight * self.unit_kg

    async def _poll(self) -> None:
        await self._ask(Xk3190Command(self.address, Xk3190Command.GROSS), Xk3190Command.GROSS)


class ToledoContinuous(IndicatorDriver[ToledoFrame]):
    """Mettler Toledo continuous output: listens; every frame is a reading."""

    PROTOCOL = "toledo"

    def __init__(
        self,
        name: str,
        link_config: LinkConfig,
        on_reading: Callable[[IndicatorReading], None] | None = None,
    ) -> None:
        super().__init__(name, link_config, ToledoCodec(), on_reading)

    def _reading(self, frame: ToledoFrame, host_receive_s: float) -> IndicatorReading:
        unit = 1.0 if frame.kg else _LB_KG
        return IndicatorReading(
            weight_kg=frame.weight * unit,
            host_time_s=host_receive_s,
            stable=not frame.motion and not frame.over_range,
            motion=frame.motion,
            net=frame.net,
            over_range=frame.over_range and not frame.negative,
            under_range=frame.over_range and frame.negative,
            tare_kg=frame.tare * unit,
            protocol=self.PROTOCOL,
        )


class MtSics(IndicatorDriver[SicsFrame]):
    """MT-SICS.  ``mode="poll"`` asks ``SI`` (the weight now, stable or dynamic) every
    ``poll_interval_s``; ``mode="stream"`` sends ``SIR`` on every (re)connect and listens, as the
    indicator then repeats ``SI`` at its own rate.  :meth:`zero` and :meth:`tare` send ``Z`` and ``T``
    (any command ends ``SIR``: the stream is restarted after them)."""

    PROTOCOL = "mt_sics"

    def __init__(
        self,
        name: str,
        link_config: LinkConfig,
        on_reading: Callable[[IndicatorReading], None] | None = None,
        poll_interval_s: float = 0.1,
        reply_timeout_s: float = 0.5,
        mode: Literal["poll", "stream"] = "poll",
    ) -> None:
        if mode not in ("poll", "stream"):
            raise ValueError(f"mode must be poll or stream, not {mode!r}")
        super().__init__(
            name,
            link_config,
            SicsCodec("host"),
            on_reading,
            poll_interval_s if mode == "poll" else None,
            reply_timeout_s,
        )
        self.mode = mode
        self.tare_kg: float | None = None

    async def _on_connect(self) -> None:
        if self.mode == "stream":
            with contextlib.suppress(DriverError):
                await self.link.send(SicsCommand("SIR"))

    def _reply_key(self, frame: SicsFrame) -> str | None:
        if not isinstance(frame, SicsReply):
            return None
        if frame.command == "E":  # an error answers whatever was asked
            return self._waiting[0] if self._waiting is not None else None
        return frame.command

    def _reading(self, frame: SicsFrame, host_receive_s: float) -> IndicatorReading | None:
        if not isinstance(frame, SicsReply) or frame.command != "S" or frame.status in ("I",):
            return None
        return IndicatorReading(
            weight_kg=frame.weight_kg,
            host_time_s=host_receive_s,
            stable=frame.status == "S",
            motion=frame.status == "D",
            net=self.tare_kg is not None and self.tare_kg != 0.0,
            over_range=frame.status == "+",
            under_range=frame.status == "-",
            tare_kg=self.tare_kg,
            protocol=self.PROTOCOL,
        )

    async def _send_command(self, name: str, reply_key: str) -> SicsReply:
        reply = await self._ask(SicsCommand(name), reply_key)
        assert isinstance(reply, SicsReply)
        return reply

    async def _poll(self) -> None:
        await self._send_command("SI", "S")

    async def _checked(self, name: str) -> SicsReply:
        try:
            reply = await self._send_command(name, name)
        except (DeviceTimeout, DeviceUnavailable):
            self.commands_failed += 1
            raise
        finally:
            await self._on_connect()  # stream mode: the command ended SIR; start it again
        if reply.command == "E" or reply.status not in ("A", "S"):
            self.commands_failed += 1
            why = {"I": "not executable now (the scale is moving?)", "+": "over range", "-": "under range"}
            reason = f"error E{reply.status}" if reply.command == "E" else why.get(reply.status, reply.status)
            raise DeviceRejected(f"{self.name}: {name} refused: {reason}")
        return reply

    async def zero(self) -> None:
        await self._checked("Z")
        self.tare_kg = None

    async def tare(self) -> float:
        """Take the tare; returns its weight in kg."""
        reply = await self._checked("T")
        self.tare_kg = reply.weight_kg
        if self.tare_kg is None:
            raise FrameError(f"{self.name}: tare reply without a weight")
        return self.tare_kg
