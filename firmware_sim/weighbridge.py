"""A simulated static weighbridge: indicator, position beams, LED board, exit barrier and two LPR cameras.

Each serial device is on its own pty and speaks the codec its driver uses; the cameras push JPEGs named
``<ms>_<plate>.jpg`` into two folders, as FTP-push LPR cameras do.  :class:`SimulatedWeighbridge` moves
trucks through a visit with blocking calls (``drive_on``, ``back_off``, ``drive_off``), so a test or the
demo scripts a scenario in a thread::

    bridge = SimulatedWeighbridge(link_dir)
    bridge.start()
    bridge.drive_on("京A12345", 52_000)   # the entry camera fires, beams, the deck load ramps up
    bridge.wait_display("超载")          # the daemon decided
    bridge.back_off()                     # reverses off to unload
    bridge.drive_on("京A12345", 48_500)   # ... and is weighed again
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from drivers.axle_sensor.codec import AxleEvent, AxleHeartbeat
from drivers.axle_sensor.codec import new_codec as axle_codec
from drivers.barrier.codec import BarrierCommand, BarrierState
from drivers.barrier.codec import new_codec as barrier_codec
from drivers.display.codec import DisplayAck, DisplayStatus, ShowText
from drivers.display.codec import new_codec as display_codec
from firmware_sim.camera import plate_layout_for
from firmware_sim.indicator import Protocol, SimulatedIndicator
from firmware_sim.position import SimulatedBeams
from firmware_sim.pty import PtyPort

__all__ = ["BoardShown", "SimulatedAxleStrip", "SimulatedGate", "SimulatedWeighbridge", "Step", "run_steps"]

BARRIER_TRAVEL_S = 0.6
_TYRES = {
    "single": AxleEvent.TYRE_SINGLE,
    "dual": AxleEvent.TYRE_DUAL,
    "wide_single": AxleEvent.TYRE_WIDE_SINGLE,
}


@dataclass(frozen=True)
class BoardShown:
    t_s: float
    colour: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " / ".join(line for line in self.lines if line)


class SimulatedBarrier:
    """One barrier controller on its own pty: it answers each command with its state, travels
    ``BARRIER_TRAVEL_S`` and reports its state every 0.5 s (served by :class:`SimulatedGate`'s thread)."""

    def __init__(
        self, name: str, link_dir: Path | None, next_seq: Callable[[], int], us: Callable[[], int]
    ) -> None:
        self.port = PtyPort(name, link_dir)
        self.log: list[tuple[float, str]] = []
        self.position = BarrierState.CLOSED
        self._codec = barrier_codec()
        self._next_seq = next_seq
        self._us = us
        self._target_t: float | None = None
        self._last_cmd = 0
        self.silent = False  # a hung controller: it swallows commands, never answers nor moves

    def state(self) -> None:
        if self.silent:
            return
        self.port.write(
            self._codec.encode(BarrierState(self._next_seq(), self._us(), self._last_cmd, self.position))
        )

    def tick(self, now: float) -> None:
        received = self.port.read()
        if self.silent:
            return
        for command in self._codec.feed(received):
            if isinstance(command, BarrierCommand):
                self._last_cmd = command.seq
                opening = command.action == BarrierCommand.OPEN
                self.log.append((now, "open" if opening else "close"))
                target = BarrierState.OPEN if opening else BarrierState.CLOSED
                if self.position != target:
                    self.position = BarrierState.OPENING if opening else BarrierState.CLOSING
                    self._target_t = now + BARRIER_TRAVEL_S
                self.state()
        if self._target_t is not None and now >= self._target_t:
            self._target_t = None
            self.position = (
                BarrierState.OPEN if self.position == BarrierState.OPENING else BarrierState.CLOSED
            )
            self.state()


class SimulatedGate:
    """The LED board, the exit barrier and (``entry_barrier``) an entry barrier, each on its own pty (one
    thread serves them all)."""

    def __init__(self, link_dir: Path | None = None, *, entry_barrier: bool = False) -> None:
        self.display_port = PtyPort("display", link_dir)
        self._display = display_codec()
        self.display_log: list[BoardShown] = []
        self._crc = 0
        self._seq = 0
        self._origin = time.monotonic()
        self.exit = SimulatedBarrier("barrier", link_dir, self._next, self._us)
        self.entry = (
            SimulatedBarrier("entry_barrier", link_dir, self._next, self._us) if entry_barrier else None
        )
        self._next_status = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def barrier_port(self) -> PtyPort:
        return self.exit.port

    @property
    def barrier_position(self) -> int:
        return self.exit.position

    @property
    def barrier_log(self) -> list[tuple[float, str]]:
        return self.exit.log

    def _us(self) -> int:
        return round((time.monotonic() - self._origin) * 1e6)

    def _next(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        return self._seq

    def tick(self) -> None:
        now = time.monotonic()
        for message in self._display.feed(self.display_port.read()):
            if isinstance(message, ShowText):
                self._crc = zlib.crc32("\n".join(message.lines).encode("utf-8"))
                self.display_log.append(BoardShown(now, message.colour, tuple(message.lines)))
                self.display_port.write(self._display.encode(DisplayAck(message.seq, DisplayAck.OK)))
        barriers = [self.exit] if self.entry is None else [self.exit, self.entry]
        for barrier in barriers:
            barrier.tick(now)
        if now >= self._next_status:
            self._next_status = now + 0.5
            for barrier in barriers:
                barrier.state()
            status = DisplayStatus(self._next(), self._us(), self._crc)
            self.display_port.write(self._display.encode(status))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="weighbridge-gate", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(0.005)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.display_port.close()
        self.exit.port.close()
        if self.entry is not None:
            self.entry.port.close()


class SimulatedAxleStrip:
    """A tyre/axle recogniser whose entry strip lies at the deck's entry end, on its own pty.

    It speaks :mod:`drivers.axle_sensor.codec`: an :class:`AxleEvent` per axle that rolls over the strip
    (forward onto the deck, reverse off it) and an :class:`AxleHeartbeat` every 100 ms.  ``paused`` stops
    everything it sends (a strip whose cable is cut)."""

    def __init__(self, link_dir: Path | None = None) -> None:
        self.port = PtyPort("axle_sensor", link_dir)
        self.paused = False
        self.passages = 0
        self._codec = axle_codec()
        self._seq = 0
        self._origin = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _send(self, make: Callable[[int, int], AxleEvent | AxleHeartbeat]) -> None:
        with self._lock:
            self._seq = (self._seq + 1) & 0xFFFFFFFF
            frame = self._codec.encode(make(self._seq, round((time.monotonic() - self._origin) * 1e6)))
            if not self.paused:
                self.port.write(frame)

    def axle(self, tyre: str, reverse: bool = False) -> None:
        """One axle with ``tyre`` (single, dual, wide_single) rolls over the strip."""
        code, direction = _TYRES[tyre], AxleEvent.REVERSE if reverse else AxleEvent.FORWARD
        width = {"single": 300, "dual": 560, "wide_single": 445}[tyre]
        self._send(lambda seq, us: AxleEvent(seq, us, AxleEvent.STRIP_ENTRY, code, direction, width))
        self.passages += 1

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="weighbridge-axles", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.port.read()  # output only: keep the buffer empty
            self._send(lambda seq, us: AxleHeartbeat(seq, us, 0))
            self._stop.wait(0.1)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.port.close()


def _jpeg(plate: str) -> bytes:
    """A small picture of a yellow plate (the camera's own recognition names the file, not the pixels)."""
    image = np.full((120, 320, 3), (40, 40, 40), np.uint8)
    cv2.rectangle(image, (40, 40), (280, 100), (0, 200, 255), -1)
    cv2.putText(image, plate[1:] if plate else "-", (60, 85), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


class SimulatedWeighbridge:
    """The whole weighbridge; ``ports`` maps each device role to the pty path the daemon opens."""

    def __init__(
        self,
        link_dir: Path,
        protocol: Protocol = "toledo",
        *,
        ramp_s: float = 2.0,
        noise_kg: float = 3.0,
        seed: int = 1,
        plain_cameras: bool = False,
        axle_sensor: bool = False,
        entry_barrier: bool = False,
    ) -> None:
        """``plain_cameras``: the cameras are plain IP cameras that recognise nothing: each picture is a
        rendered lane scene with the plate (the project's plate renderer), named ``<ms>.jpg``.
        ``axle_sensor``: a tyre/axle recogniser's strip at the deck's entry end counts the axles that
        ``drive_on(..., axles=...)`` rolls on and ``back_off`` rolls off.  ``entry_barrier``: a barrier
        before the entry end; ``entry_refusals`` counts the times a truck found it closed, driving on or
        backing off (it moves anyway, as the scenario says, so a test sees the daemon's handling)."""
        self.link_dir = link_dir
        self.plain_cameras = plain_cameras
        self._renderer: Any = None
        self._rng = np.random.default_rng(seed)
        self.indicator = SimulatedIndicator(
            protocol, PtyPort("indicator", link_dir), noise_kg=noise_kg, seed=seed, rate_hz=10.0
        )
        self.beams = SimulatedBeams(PtyPort("position", link_dir))
        self.gate = SimulatedGate(link_dir, entry_barrier=entry_barrier)
        self.entry_refusals = 0
        self.axle_strip = SimulatedAxleStrip(link_dir) if axle_sensor else None
        self._axles: tuple[str, ...] = ()
        self.entry_camera = link_dir / "camera-entry"
        self.exit_camera = link_dir / "camera-exit"
        for folder in (self.entry_camera, self.exit_camera):
            folder.mkdir(parents=True, exist_ok=True)
        self.ramp_s = ramp_s
        self.on_deck_kg = 0.0  # what the trucks, people and residue on the deck weigh now
        self._truck_kg = 0.0
        self._shots = 0

    @property
    def ports(self) -> dict[str, str]:
        return {
            "indicator": self.indicator.port.path,
            "position": self.beams.port.path,
            "display": self.gate.display_port.path,
            "barrier": self.gate.barrier_port.path,
            **({"axle_sensor": self.axle_strip.port.path} if self.axle_strip is not None else {}),
            **({"entry_barrier": self.gate.entry.port.path} if self.gate.entry is not None else {}),
        }

    def start(self) -> None:
        self.indicator.start()
        self.beams.start()
        self.gate.start()
        if self.axle_strip is not None:
            self.axle_strip.start()

    def stop(self) -> None:
        self.indicator.stop()
        self.beams.stop()
        self.gate.stop()
        if self.axle_strip is not None:
            self.axle_strip.stop()

    # -- the cameras ---------------------------------------------------------------------------------

    def shoot(self, camera: str, plate: str | None) -> Path:
        """The ``entry`` or ``exit`` camera pushes a picture (``plate`` None: it read no plate)."""
        folder = self.entry_camera if camera == "entry" else self.exit_camera
        self._shots += 1
        if self.plain_cameras:
            name = f"{int(time.time() * 1000)}{self._shots:03d}.jpg"
            picture = self._scene(plate)
        else:
            name = f"{int(time.time() * 1000)}{self._shots:03d}_{plate or '无车牌'}.jpg"
            picture = _jpeg(plate or "")
        temporary = folder / f".{name}.part"
        temporary.write_bytes(picture)
        path = folder / name
        temporary.replace(path)
        return path

    def _scene(self, plate: str | None) -> bytes:
        """A 1280 x 720 scene with ``plate`` rendered in it (none: an empty approach)."""
        if self._renderer is None:
            from models.plates.render import PlateRenderer  # package data and a CJK font

            self._renderer = PlateRenderer()
        plates = [(plate, plate_layout_for(plate))] if plate else []
        frame, _ = self._renderer.frame_sample(self._rng, size=(1280, 720), plates=plates)
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        return bytes(data.tobytes())

    # -- trucks --------------------------------------------------------------------------------------

    def _load(self, delta_kg: float, ramp_s: float) -> None:
        self.indicator.drive_on(delta_kg, ramp_s)
        self.on_deck_kg += delta_kg

    def drive_on(
        self,
        plate: str | None,
        mass_kg: float,
        *,
        exit_plate: str | None = "",
        stop_short: bool = False,
        axles: Sequence[str] = (),
    ) -> None:
        """A truck of ``mass_kg`` drives on through the entry end and stops on the deck.  The entry
        camera reads ``plate``; the exit camera ``exit_plate`` ("" = the same).  ``stop_short``: it stops
        with its rear wheels over the entry end (the entry beam stays blocked: off-centre).  ``axles``:
        its tyres per axle, front first (single, dual, wide_single), for the axle strip if there is one."""
        if self.gate.entry is not None and self.gate.entry.position != BarrierState.OPEN:
            self.entry_refusals += 1
        self.shoot("entry", plate)
        self.beams.block("entry")
        time.sleep(0.2)
        self._load(mass_kg, self.ramp_s)
        self._truck_kg = mass_kg
        self._axles = tuple(axles)
        if self.axle_strip is not None and axles:
            for tyre in axles:  # the axles roll over the entry strip while the load comes on
                self.axle_strip.axle(tyre)
                time.sleep(self.ramp_s / len(axles))
        else:
            time.sleep(self.ramp_s)
        if not stop_short:
            self.beams.clear("entry")
        self.shoot("exit", plate if exit_plate == "" else exit_plate)

    def move_up(self) -> None:
        """The truck that stopped short moves fully onto the deck."""
        self.beams.clear("entry")

    def drive_off(self) -> None:
        """The weighed truck leaves through the exit end."""
        self._leave("exit")

    def back_off(self) -> None:
        """The truck reverses off through the entry end (to unload an overload)."""
        if self.gate.entry is not None and self.gate.entry.position != BarrierState.OPEN:
            self.entry_refusals += 1
        if self.axle_strip is not None:
            for tyre in reversed(self._axles):
                self.axle_strip.axle(tyre, reverse=True)
        self._leave("entry")

    def _leave(self, end: str) -> None:
        self.beams.block(end)
        self._load(-self._truck_kg, self.ramp_s)
        time.sleep(self.ramp_s + 0.2)
        self.beams.clear(end)
        self._truck_kg = 0.0

    def person_on_deck(self, kg: float = 75.0, beam: str = "left", seconds: float = 2.0) -> None:
        """Someone walks onto the deck beside the truck, stays ``seconds`` and walks off."""
        self.beams.block(beam)
        self._load(kg, 0.3)
        time.sleep(seconds)
        self._load(-kg, 0.3)
        time.sleep(0.4)
        self.beams.clear(beam)

    def leave_residue(self, kg: float) -> None:
        """Mud, stones (or a weight hidden under the deck) stay on the empty deck."""
        self._load(kg, 0.2)

    def remote_jump(self, jump_kg: float, seconds: float = 30.0) -> None:
        """A remote control makes the indicator show ``jump_kg`` more (negative: less), claiming stable."""
        self.indicator.cheat_jump(jump_kg, seconds)

    # -- watching --------------------------------------------------------------------------------------

    def wait_display(self, text: str, timeout_s: float = 15.0, after: int = 0) -> BoardShown:
        """The first board message (from index ``after``) containing ``text``; raises TimeoutError."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for shown in self.gate.display_log[after:]:
                if text in shown.text:
                    return shown
            time.sleep(0.02)
        shown_texts = [s.text for s in self.gate.display_log[after:]]
        raise TimeoutError(f"the board never showed {text!r}; it showed {shown_texts}")


@dataclass(frozen=True)
class Step:
    """One scripted action for :func:`run_steps`: a method name of the simulator and its arguments, or
    ``wait`` (seconds) / ``board`` (text to wait for)."""

    action: str
    args: tuple[object, ...] = ()
    kwargs: tuple[tuple[str, object], ...] = ()


def run_steps(
    bridge: SimulatedWeighbridge,
    steps: Sequence[Step],
    stop: threading.Event,
    on_step: Callable[[Step], None] | None = None,
) -> None:
    """Play ``steps`` (the demo's scenario) until done or ``stop``."""
    for step in steps:
        if stop.is_set():
            return
        if on_step is not None:
            on_step(step)
        if step.action == "wait":
            stop.wait(float(step.args[0]))  # type: ignore[arg-type]
        elif step.action == "board":
            bridge.wait_display(str(step.args[0]), after=len(bridge.gate.display_log) - 1)
        else:
            getattr(bridge, step.action)(*step.args, **dict(step.kwargs))


#: The demo's visits (two-pass weighing): a tare, an overloaded gross that unloads and is weighed again,
#: then a truck whose plates differ between the entry and exit cameras (docs/weighbridge.md).  Each truck
#: rolls its axles over the axle strip at the deck entry (the demo's weighbridge has one).
_SIX_AXLES = (("axles", ("single", "dual", "dual", "dual", "dual", "dual")),)
DEMO_STEPS: tuple[Step, ...] = (
    Step("drive_on", ("晋A12345", 15_200.0), _SIX_AXLES),
    Step("board", ("皮重",)),
    Step("wait", (1.0,)),
    Step("drive_off"),
    Step("wait", (4.0,)),
    Step("drive_on", ("晋A12345", 56_000.0), _SIX_AXLES),
    Step("board", ("超载",)),
    Step("wait", (2.0,)),
    Step("back_off"),
    Step("wait", (4.0,)),
    Step("drive_on", ("晋A12345", 48_600.0), _SIX_AXLES),
    Step("board", ("请通行",)),
    Step("wait", (1.0,)),
    Step("drive_off"),
    Step("wait", (4.0,)),
    Step("drive_on", ("晋B67890", 14_100.0), (("exit_plate", "晋B67899"), ("axles", ("single", "dual")))),
    Step("board", ("异常",)),
    Step("wait", (2.0,)),
    Step("back_off"),
    Step("wait", (2.0,)),
)
