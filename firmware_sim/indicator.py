"""A simulated weighing indicator on a static weighbridge, speaking XK3190-A9, Toledo or MT-SICS on a pty.

The deck load comes from physics (:class:`DeckLoad`): a truck driving on ramps the load up as its axles
roll on, the deck then rings as a damped oscillation, and the load cells add noise.  The indicator
(:class:`SimulatedIndicator`) samples it, rounds it to its division, judges motion the way an indicator
does (the spread of the last second), and sends it in its protocol through the codecs of
:mod:`drivers.indicator`.  Faults for tests: unplug the port, line noise, silence, and the
remote-control cheat: a weight that jumps while the indicator keeps claiming it is stable.

Standalone, for a technician's bench::

    python -m firmware_sim.indicator --protocol toledo --link-dir /tmp/weighlane-sim
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np

from drivers.indicator.sics import SicsCodec, SicsCommand, SicsReply
from drivers.indicator.toledo import ToledoCodec, ToledoFrame
from drivers.indicator.xk3190 import Xk3190Codec, Xk3190Command, Xk3190Reply, Xk3190Weight
from firmware_sim.pty import PtyPort

__all__ = ["DeckLoad", "SimulatedIndicator", "main"]

Protocol = Literal["xk3190", "xk3190_command", "toledo", "mt_sics", "modbus_rtu"]
PROTOCOLS: tuple[str, ...] = ("xk3190", "xk3190_command", "toledo", "mt_sics", "modbus_rtu")


@dataclass(frozen=True)
class _Step:
    t_s: float
    delta_kg: float
    ramp_s: float

    def ring_kg(self, fraction: float) -> float:
        return self.delta_kg * fraction


@dataclass
class DeckLoad:
    """The true load on the deck as a function of time (seconds on the simulator's clock).

    Each change of load (a truck driving on or off, cargo unloaded) is a step of ``delta_kg`` spread over
    ``ramp_s`` as a raised cosine (the axles rolling on one after another); when it ends, the deck and
    the truck's suspension ring at ``ring_hz`` with an amplitude of ``ring_fraction`` of the step,
    decaying with time constant ``ring_tau_s``.
    """

    ring_hz: float = 1.6
    ring_fraction: float = 0.04
    ring_tau_s: float = 0.8
    steps: list[_Step] = field(default_factory=list)

    def add_step(self, t_s: float, delta_kg: float, ramp_s: float = 3.0) -> None:
        if ramp_s < 0:
            raise ValueError("ramp_s must be >= 0")
        self.steps.append(_Step(t_s, delta_kg, ramp_s))

    def load_kg(self, t_s: float | np.ndarray) -> np.ndarray:
        t = np.asarray(t_s, dtype=np.float64)
        total = np.zeros_like(t)
        for step in self.steps:
            u = t - step.t_s
            if step.ramp_s > 0:
                frac = np.clip(u / step.ramp_s, 0.0, 1.0)
                total += step.delta_kg * 0.5 * (1.0 - np.cos(np.pi * frac))
            else:
                total += np.where(u >= 0, step.delta_kg, 0.0)
            after = u - step.ramp_s
            ring = (
                step.ring_kg(self.ring_fraction)
                * np.exp(-np.clip(after, 0, None) / self.ring_tau_s)
                * np.sin(2 * np.pi * self.ring_hz * after)
            )
            total += np.where(after > 0, ring, 0.0)
        return total

    def settled_after_s(self, band_kg: float) -> float:
        """Time after the last step's ramp when the ringing stays within ``band_kg``."""
        if not self.steps:
            return 0.0
        amp = abs(self.steps[-1].ring_kg(self.ring_fraction))
        return 0.0 if amp <= band_kg else self.ring_tau_s * math.log(amp / band_kg)


class SimulatedIndicator:
    """One indicator on one pty, run by a thread (``start``/``stop``) or stepped by hand (``tick``)."""

    def __init__(
        self,
        protocol: Protocol,
        port: PtyPort | None = None,
        *,
        division_kg: float = 20.0,
        max_kg: float = 100_000.0,
        noise_kg: float = 3.0,
        rate_hz: float = 10.0,
        address: str = "A",
        motion_window_s: float = 1.0,
        seed: int = 1,
        link_dir: Path | None = None,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
        self.protocol = protocol
        self.port = port if port is not None else PtyPort(f"indicator-{protocol}", link_dir)
        self.deck = DeckLoad()
        self.division_kg = division_kg
        self.max_kg = max_kg
        self.noise_kg = noise_kg
        self.rate_hz = rate_hz
        self.address = address
        self.motion_window_s = motion_window_s
        self.zero_kg = 0.0  # set by zeroing
        self.tare_kg = 0.0
        self.frames_sent = 0
        self.paused = False
        self._rng = np.random.default_rng(seed)
        self._history: deque[tuple[float, float]] = deque()
        self._garbage = b""
        self._cheat: tuple[float, float, float] | None = None  # (start, end, jump_kg)
        self._sir = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._origin = time.monotonic()
        self._next_emit = 0.0
        self._xk_codec = Xk3190Codec("indicator")
        self._sics_codec = SicsCodec("indicator")
        self._toledo_codec = ToledoCodec()
        # Modbus RTU: pymodbus's server on an inner pty, bridged byte for byte to ``port`` by tick().
        self.device_id = 1
        self._inner: PtyPort | None = None
        self._modbus_loop: asyncio.AbstractEventLoop | None = None
        self._modbus_server: Any = None
        self._modbus_thread: threading.Thread | None = None
        if protocol == "modbus_rtu":
            self._inner = PtyPort(f".{self.port.name}-server")

    # -- the world -----------------------------------------------------------------------------------

    @property
    def now_s(self) -> float:
        return time.monotonic() - self._origin

    def drive_on(self, mass_kg: float, ramp_s: float = 3.0, at_s: float | None = None) -> float:
        """A truck of ``mass_kg`` drives on; returns when its ramp ends (simulator seconds)."""
        t = self.now_s if at_s is None else at_s
        with self._lock:
            self.deck.add_step(t, mass_kg, ramp_s)
        return t + ramp_s

    def drive_off(self, mass_kg: float, ramp_s: float = 3.0, at_s: float | None = None) -> float:
        return self.drive_on(-mass_kg, ramp_s, at_s)

    def cheat_jump(self, jump_kg: float, duration_s: float, at_s: float | None = None) -> None:
        """Remote-control cheating: the reading jumps by ``jump_kg`` for ``duration_s`` while the
        indicator keeps claiming a stable weight (its motion flag stays clear)."""
        t = self.now_s if at_s is None else at_s
        with self._lock:
            self._cheat = (t, t + duration_s, jump_kg)

    def inject_garbage(self, data: bytes) -> None:
        with self._lock:
            self._garbage += data

    def unplug(self) -> None:
        self.port.unplug()

    def stop_stream(self) -> None:
        """MT-SICS: end an ``SIR`` repetition, as a power cycle does."""
        self._sir = False

    def plug(self) -> None:
        self.port.plug()

    # -- the indicator -------------------------------------------------------------------------------

    def gross_kg(self, t_s: float) -> tuple[float, bool]:
        """The gross weight the indicator shows at ``t_s`` and whether it claims it is stable."""
        raw = float(self.deck.load_kg(t_s)) + float(self._rng.normal(0.0, self.noise_kg)) - self.zero_kg
        with self._lock:
            self._history.append((t_s, raw))
            while self._history and self._history[0][0] < t_s - self.motion_window_s:
                self._history.popleft()
            values = [v for _, v in self._history]
            cheat = self._cheat
        moving = max(values) - min(values) > 1.5 * self.division_kg
        if cheat is not None and cheat[0] <= t_s < cheat[1]:
            raw += cheat[2]
            moving = False
        shown = round(raw / self.division_kg) * self.division_kg
        return shown, not moving

    def _over(self, gross: float) -> bool:
        return gross > self.max_kg + 9 * self.division_kg

    def _under(self, gross: float) -> bool:
        return gross < -20 * self.division_kg

    def tick(self) -> None:
        """Answer commands and send what is due; the thread calls this every few milliseconds."""
        t = self.now_s
        if self._inner is not None:  # modbus_rtu: the wire between pymodbus's server and the host
            to_host = self._inner.read()
            from_host = self.port.read()
            if not self.paused:
                if to_host:
                    self.port.write(to_host)
                if from_host:
                    self._inner.write(from_host)
            return
        if self.protocol == "xk3190_command":
            for command in self._xk_codec.feed(self.port.read()):
                if isinstance(command, Xk3190Command) and command.address == self.address:
                    self._answer_xk(command, t)
            return
        if self.protocol == "mt_sics":
            for request in self._sics_codec.feed(self.port.read()):
                if isinstance(request, SicsCommand):
                    self._answer_sics(request, t)
            if not (self._sir and t >= self._next_emit):
                return
            self._next_emit = t + 1.0 / self.rate_hz
            self._send(self._sics_codec.encode(self._sics_weight(t)))
            return
        self.port.read()  # nobody should write to an output-only indicator; keep the buffer empty
        if t < self._next_emit:
            return
        self._next_emit = t + 1.0 / self.rate_hz
        gross, stable = self.gross_kg(t)
        if self.protocol == "xk3190":
            frame = self._xk_codec.encode(Xk3190Weight(self._digits(gross)))
        else:
            net = self.tare_kg != 0.0
            shown = gross - self.tare_kg
            frame = self._toledo_codec.encode(
                ToledoFrame(
                    weight_digits=min(abs(round(shown)), 999_999),
                    tare_digits=min(round(self.tare_kg), 999_999),
                    net=net,
                    negative=shown < 0,
                    over_range=self._over(gross) or self._under(gross),
                    motion=not stable,
                )
            )
        self._send(frame)

    @staticmethod
    def _digits(kg: float) -> int:
        return max(-999_999, min(999_999, round(kg)))

    def _send(self, data: bytes) -> None:
        if self.paused:
            return
        with self._lock:
            garbage, self._garbage = self._garbage, b""
        self.port.write(garbage + data)
        self.frames_sent += 1

    def _answer_xk(self, command: Xk3190Command, t: float) -> None:
        if command.command == Xk3190Command.HANDSHAKE:
            reply = Xk3190Reply(self.address, command.command)
        else:
            gross, _ = self.gross_kg(t)
            value = {"B": gross, "C": self.tare_kg, "D": gross - self.tare_kg}[command.command]
            reply = Xk3190Reply(self.address, command.command, Xk3190Weight(self._digits(value)))
        self._send(self._xk_codec.encode(reply))

    def _sics_weight(self, t: float, stable_only: bool = False) -> SicsReply:
        gross, stable = self.gross_kg(t)
        if self._over(gross):
            return SicsReply("S", "+")
        if self._under(gross):
            return SicsReply("S", "-")
        if stable_only and not stable:
            return SicsReply("S", "I")
        shown = Decimal(round(gross - self.tare_kg)).quantize(Decimal("0.0"))
        return SicsReply("S", "S" if stable else "D", shown, "kg")

    def _answer_sics(self, command: SicsCommand, t: float) -> None:
        name = command.name
        reply: SicsReply | None
        if name != "SIR":
            self._sir = False  # any other command ends the repetition
        if name == "S":
            reply = self._sics_weight(t, stable_only=True)
        elif name == "SI":
            reply = self._sics_weight(t)
        elif name == "SIR":
            self._sir = True
            self._next_emit = t
            reply = None
        elif name in ("Z", "T"):
            gross, stable = self.gross_kg(t)
            if not stable:
                reply = SicsReply(name, "I")  # type: ignore[arg-type]
            elif self._over(gross):
                reply = SicsReply(name, "+")  # type: ignore[arg-type]
            elif name == "Z" and abs(gross + self.zero_kg) > 0.04 * self.max_kg:
                reply = SicsReply("Z", "+" if gross > 0 else "-")
            elif name == "Z":
                self.zero_kg += gross
                self.tare_kg = 0.0
                reply = SicsReply("Z", "A")
            else:
                self.tare_kg = gross
                reply = SicsReply("T", "S", Decimal(round(gross)).quantize(Decimal("0.0")), "kg")
        elif name == "@":
            reply = None
        else:
            reply = SicsReply("E", "S")
        if reply is not None:
            self._send(self._sics_codec.encode(reply))

    def modbus_registers(self, t: float) -> list[int]:
        """The transmitter's four holding registers at ``t`` (docs/protocols/indicators.md)."""
        from pymodbus.client import ModbusSerialClient

        gross, stable = self.gross_kg(t)
        over, under = self._over(gross), self._under(gross)
        status = (stable and not (over or under)) | over << 1 | under << 2 | (self.tare_kg != 0.0) << 3
        weight = max(-(2**31), min(2**31 - 1, round(gross - self.tare_kg)))
        words = ModbusSerialClient.convert_to_registers(weight, ModbusSerialClient.DATATYPE.INT32)
        return [*words, int(status), 0]

    async def _modbus_action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> None:
        for i, value in enumerate(self.modbus_registers(self.now_s)):
            if 0 <= i - start_address < len(current_registers):
                current_registers[i - start_address] = value

    def _serve_modbus(self) -> None:
        asyncio.run(self._modbus_main())

    async def _modbus_main(self) -> None:
        from pymodbus.server import ModbusSerialServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        assert self._inner is not None
        self._modbus_loop = asyncio.get_running_loop()
        device = SimDevice(
            id=self.device_id,
            simdata=[SimData(0, count=4, values=0, datatype=DataType.REGISTERS)],
            action=self._modbus_action,
        )
        self._modbus_server = ModbusSerialServer(device, port=self._inner.slave_path, baudrate=9600)
        await self._modbus_server.serve_forever()

    # -- running -------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._inner is not None:
            self._modbus_thread = threading.Thread(
                target=self._serve_modbus, name="modbus-server", daemon=True
            )
            self._modbus_thread.start()
        self._thread = threading.Thread(target=self._run, name=f"indicator-{self.protocol}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(0.005)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._modbus_loop is not None and self._modbus_server is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._modbus_server.shutdown(), self._modbus_loop).result(5)
        if self._modbus_thread is not None:
            self._modbus_thread.join(timeout=5)
        if self._inner is not None:
            self._inner.close()
        self.port.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m firmware_sim.indicator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--protocol", choices=PROTOCOLS, default="xk3190")
    parser.add_argument("--link-dir", type=Path, default=Path("/tmp/weighlane-sim"))
    parser.add_argument("--truck-kg", type=float, default=49_000.0, help="mass of each simulated truck")
    parser.add_argument("--period-s", type=float, default=20.0, help="a truck drives on every so often")
    parser.add_argument("--noise-kg", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: Ctrl-C)")
    args = parser.parse_args(argv)
    indicator = SimulatedIndicator(args.protocol, link_dir=args.link_dir, noise_kg=args.noise_kg)
    print(f"{args.protocol}: {indicator.port.path} -> {indicator.port.slave_path}", flush=True)
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, lambda *_: done.set())
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    if args.seconds is not None:
        threading.Timer(args.seconds, done.set).start()
    indicator.start()
    while not done.wait(args.period_s / 2):
        indicator.drive_on(args.truck_kg)
        if done.wait(args.period_s / 2):
            break
        indicator.drive_off(args.truck_kg)
    indicator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
