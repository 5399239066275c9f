"""A whole simulated lane: WIM digitiser, light curtain, tyre recogniser, LED board and barrier,
each on its own pseudo-terminal, all driven by one physical model and one world clock.

The devices use the very codecs the drivers use (drivers/*/codec.py), so the two cannot drift apart.
World time is ``time.monotonic()`` minus the moment the lane started; each device has its own clock
(world time plus a random offset), as real devices do.
"""

from __future__ import annotations

import heapq
import logging
import random
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from drivers.axle_sensor.codec import AxleEvent, AxleHeartbeat
from drivers.axle_sensor.codec import new_codec as axle_codec
from drivers.barrier.codec import BarrierCommand, BarrierState
from drivers.barrier.codec import new_codec as barrier_codec
from drivers.display.codec import DisplayAck, DisplayStatus, ShowText
from drivers.display.codec import new_codec as display_codec
from drivers.messages import MessageCodec
from drivers.separator.codec import CurtainEvent, CurtainHeartbeat
from drivers.separator.codec import new_codec as curtain_codec
from drivers.wim_digitiser.codec import DigitiserStatus, SampleBlock
from drivers.wim_digitiser.codec import new_codec as wim_codec
from firmware_sim.physics import LaneGeometry, LoadCellModel, TruckMotion, cell_loads_kg, schedule
from firmware_sim.pty import PtyPort
from firmware_sim.scenario import Scenario, Truck

__all__ = ["DEVICE_NAMES", "DisplayShown", "SimulatedLane"]

log = logging.getLogger(__name__)
DEVICE_NAMES = ("wim", "separator", "axle_sensor", "display", "barrier")
_TYRE_CODES = {
    "single": AxleEvent.TYRE_SINGLE,
    "dual": AxleEvent.TYRE_DUAL,
    "wide_single": AxleEvent.TYRE_WIDE_SINGLE,
}
_TYRE_WIDTH_MM = {"single": 315, "dual": 560, "wide_single": 445}
BARRIER_TRAVEL_S = 1.2


@dataclass(frozen=True)
class DisplayShown:
    world_t_s: float
    colour: int
    lines: tuple[str, ...]


@dataclass(order=True)
class _Event:
    world_t_s: float
    order: int
    device: str = field(compare=False)
    build: Callable[[int, int], object] = field(compare=False)  # (seq, device_time_us) -> message


class SimulatedLane:
    """Runs in its own thread; ``ports[name].path`` is what the daemon's config points at."""

    def __init__(
        self,
        scenario: Scenario,
        geometry: LaneGeometry | None = None,
        *,
        sample_rate_hz: int = 1000,
        block_samples: int = 10,
        counts_per_kg: float = 50.0,
        noise_kg: float = 4.0,
        drift_kg_per_min: float = 3.0,
        t0_s: float = 2.0,
        repeat: int = 1,
        link_dir: Path | None = None,
        cell_gain_errors: Sequence[float] | None = None,
        camera_dir: Path | None = None,
    ) -> None:
        self.geometry = geometry or LaneGeometry()
        n_channels = self.geometry.n_channels
        # Installation gain error of each cell (fraction): the cell sees load * (1 + error), so the nominal
        # span is wrong until the lane is calibrated (``edge calibrate static``).
        self._cell_gains = np.ones(n_channels)
        if cell_gain_errors is not None:
            errors = np.asarray(cell_gain_errors, dtype=np.float64)
            if errors.shape != (n_channels,) or not np.all(errors > -1.0):
                raise ValueError(
                    f"cell_gain_errors must be {n_channels} fractions > -1 (one per cell), got {list(errors)}"
                )
            self._cell_gains = 1.0 + errors
        self._test_loads_kg = np.zeros(n_channels)  # static test weights standing on the platforms
        trucks = list(scenario.trucks) * max(repeat, 1)
        self.scenario = scenario.model_copy(update={"trucks": trucks})
        self.motions: list[TruckMotion] = schedule(self.scenario, self.geometry, t0_s)
        # On-scale intervals in schedule order: each block looks only at the trucks that can be on the
        # scale (a --repeat 1000 schedule holds 10,000 trucks; scanning them all every 10 ms fell behind
        # real time at 100 % CPU and the daemon then weighed late, bunched-up samples).
        self._on_scale = [motion.on_scale_interval(self.geometry) for motion in self.motions]
        self._first_motion = 0
        # The light curtain's occupied intervals, once (in schedule order, one truck after another): the
        # 10 Hz heartbeat scanned every truck's interval afresh, 20 ms a beat for a 1,000-truck schedule,
        # and the lane thread fell behind real time on a busy machine (bench/rss.py --trucks 1000).
        self._curtain = [motion.curtain_interval(self.geometry.separator_x_m) for motion in self.motions]
        self._first_curtain = 0
        self.sample_rate_hz = sample_rate_hz
        self.block_samples = block_samples
        self.cells = LoadCellModel(
            self.geometry.n_channels,
            seed=scenario.seed,
            counts_per_kg=counts_per_kg,
            noise_kg=noise_kg,
            drift_kg_per_min=drift_kg_per_min,
        )
        self._tmp = None
        if link_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="weighlane-sim-")
            link_dir = Path(self._tmp.name)
        self.link_dir = link_dir
        self.ports = {name: PtyPort(name, link_dir) for name in DEVICE_NAMES}
        rng = random.Random(scenario.seed)
        self._clock_offset_s = {name: rng.uniform(100.0, 5000.0) for name in DEVICE_NAMES}
        self._seq = dict.fromkeys(DEVICE_NAMES, 0)
        self._events = self._build_events()
        self._codecs: dict[str, MessageCodec[Any]] = {"display": display_codec(), "barrier": barrier_codec()}
        self._encoders: dict[str, MessageCodec[Any]] = {
            "wim": wim_codec(),
            "separator": curtain_codec(),
            "axle_sensor": axle_codec(),
            "display": self._codecs["display"],
            "barrier": self._codecs["barrier"],
        }
        self.display_log: list[DisplayShown] = []
        self.barrier_log: list[tuple[float, str]] = []
        self.barrier_position = BarrierState.CLOSED
        self._barrier_target_t: float | None = None
        self._barrier_last_cmd = 0
        self._display_crc = 0
        self._next_sample = 0
        self._origin = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.paused_devices: set[str] = set()
        # The lane camera writes JPEG frames of each approaching truck into camera_dir (firmware_sim.camera).
        self.camera = None
        if camera_dir is not None:
            from firmware_sim.camera import SimulatedCamera

            self.camera = SimulatedCamera(
                self.motions, camera_dir, lambda: self.world_time_s, seed=scenario.seed
            )

    # -- schedule ----------------------------------------------------------------------------------

    def _build_events(self) -> list[_Event]:
        events: list[_Event] = []
        order = 0
        geo = self.geometry
        for motion in self.motions:
            truck = motion.truck
            enter_t, leave_t = motion.curtain_interval(geo.separator_x_m)
            events.append(_Event(enter_t, order, "separator", _curtain(CurtainEvent.ENTER)))
            events.append(
                _Event(
                    leave_t, order + 1, "separator", _curtain(CurtainEvent.LEAVE, curtain_height_mm(truck))
                )
            )
            order += 2
            strips = [(AxleEvent.STRIP_ENTRY, geo.entry_strip_x_m), (AxleEvent.STRIP_EXIT, geo.exit_x_m)]
            strips += [(AxleEvent.STRIP_MID_1 + k, x) for k, x in enumerate(geo.mid_strips_x_m)]
            for strip, x in strips:
                for tyre, t in zip(truck.tyres, motion.axle_crossing_times(x), strict=True):
                    events.append(_Event(float(t), order, "axle_sensor", _axle(strip, tyre)))
                    order += 1
        heapq.heapify(events)
        return events

    @property
    def world_time_s(self) -> float:
        return time.monotonic() - self._origin

    def truth(self) -> list[dict[str, object]]:
        """What really happened, for tests and benchmarks (world times)."""
        return [
            {
                "plate": m.truck.plate,
                "expected_verdict": m.truck.expected_verdict,
                "gross_kg": float(sum(m.truck.axle_loads_kg)),
                "axle_loads_kg": list(m.truck.axle_loads_kg),
                "t_last_axle_exit_s": m.t_last_axle_exit_s,
            }
            for m in self.motions
        ]

    @property
    def duration_s(self) -> float:
        return self.motions[-1].t_last_axle_exit_s + 1.0

    # -- running -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._origin = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="simulated-lane", daemon=True)
        self._thread.start()
        if self.camera is not None:
            self.camera.start()

    def stop(self) -> None:
        self._stop.set()
        if self.camera is not None:
            self.camera.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for port in self.ports.values():
            port.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def place_test_weight(self, platform: int, kg: float, u: float = 0.5, w: float = 0.5) -> None:
        """Put a static test weight of ``kg`` on ``platform`` (0 = entry), ``u`` along it from the entry
        edge and ``w`` across it from the left edge, both fractions 0..1; the corners share it bilinearly
        as in :func:`firmware_sim.physics.cell_loads_kg`.  Weights add up until :meth:`clear_test_weights`."""
        if not 0 <= platform < self.geometry.n_platforms:
            raise ValueError(f"platform must be 0..{self.geometry.n_platforms - 1}, got {platform}")
        if not (0.0 <= u <= 1.0 and 0.0 <= w <= 1.0) or kg < 0.0:
            raise ValueError(f"need 0 <= u, w <= 1 and kg >= 0, got u={u}, w={w}, kg={kg}")
        # Corner order entry-left, entry-right, exit-left, exit-right (physics.CORNERS).
        shares = np.array([(1.0 - u) * (1.0 - w), (1.0 - u) * w, u * (1.0 - w), u * w])
        with self._lock:
            self._test_loads_kg[4 * platform : 4 * platform + 4] += kg * shares

    def clear_test_weights(self) -> None:
        """Take every test weight off the scale."""
        with self._lock:
            self._test_loads_kg[:] = 0.0

    def _run(self) -> None:
        tick = self.block_samples / self.sample_rate_hz
        next_heartbeat = 0.0
        next_status = 0.0
        next_barrier = 0.0
        while not self._stop.is_set():
            now = self.world_time_s
            self._emit_samples(now)
            self._emit_events(now)
            self._serve_commands(now)
            self._move_barrier(now)
            if now >= next_heartbeat:
                self._heartbeats(now)
                next_heartbeat = now + 0.1
            if now >= next_status:
                self._status(now)
                next_status = now + 1.0
            if now >= next_barrier:
                self._send_barrier_state(now)
                next_barrier = now + 0.5
            sleep = tick - (self.world_time_s - now)
            if sleep > 0:
                self._stop.wait(sleep)

    def _send(self, device: str, message: object) -> None:
        if device in self.paused_devices:
            return
        self.ports[device].write(self._encoders[device].encode(message))

    def _next_seq(self, device: str) -> int:
        self._seq[device] = (self._seq[device] + 1) & 0xFFFFFFFF
        return self._seq[device]

    def _device_us(self, device: str, world_t_s: float) -> int:
        return round((world_t_s + self._clock_offset_s[device]) * 1e6)

    def _emit_samples(self, now: float) -> None:
        rate = self.sample_rate_hz
        device_start = round(self._clock_offset_s["wim"] * rate)  # sample index counts device time
        while (self._next_sample + self.block_samples) / rate <= now:
            index = self._next_sample + np.arange(self.block_samples)
            t = index / rate
            loads = cell_loads_kg(self._motions_between(float(t[0]), float(t[-1])), t, self.geometry)
            with self._lock:
                loads += self._test_loads_kg
            counts = self.cells.counts(t, loads * self._cell_gains)
            block = SampleBlock(self._next_seq("wim"), device_start + int(index[0]), rate, counts)
            self._send("wim", block)
            self._next_sample += self.block_samples

    def _motions_between(self, t_first: float, t_last: float) -> list[TruckMotion]:
        """The trucks that can be on the scale between the two times (blocks come in time order)."""
        n = len(self.motions)
        while self._first_motion < n and self._on_scale[self._first_motion][1] < t_first:
            self._first_motion += 1
        end = self._first_motion
        while end < n and self._on_scale[end][0] <= t_last:
            end += 1
        return self.motions[self._first_motion : end]

    def _emit_events(self, now: float) -> None:
        while self._events and self._events[0].world_t_s <= now:
            event = heapq.heappop(self._events)
            message = event.build(
                self._next_seq(event.device), self._device_us(event.device, event.world_t_s)
            )
            self._send(event.device, message)

    def _heartbeats(self, now: float) -> None:
        while self._first_curtain < len(self._curtain) and self._curtain[self._first_curtain][1] < now:
            self._first_curtain += 1
        occupied = any(
            start <= now <= end for start, end in self._curtain[self._first_curtain : self._first_curtain + 2]
        )
        self._send(
            "separator",
            CurtainHeartbeat(self._next_seq("separator"), self._device_us("separator", now), occupied),
        )
        self._send(
            "axle_sensor", AxleHeartbeat(self._next_seq("axle_sensor"), self._device_us("axle_sensor", now))
        )

    def _status(self, now: float) -> None:
        self._send("wim", DigitiserStatus(self._next_seq("wim"), self._device_us("wim", now), 21.5))
        self._send(
            "display",
            DisplayStatus(self._next_seq("display"), self._device_us("display", now), self._display_crc),
        )

    def _send_barrier_state(self, now: float) -> None:
        self._send(
            "barrier",
            BarrierState(
                self._next_seq("barrier"),
                self._device_us("barrier", now),
                self._barrier_last_cmd,
                self.barrier_position,
            ),
        )

    def _serve_commands(self, now: float) -> None:
        for message in self._codecs["display"].feed(self.ports["display"].read()):
            if isinstance(message, ShowText):
                self._display_crc = zlib.crc32("\n".join(message.lines).encode("utf-8"))
                self.display_log.append(DisplayShown(self.world_time_s, message.colour, message.lines))
                self._send("display", DisplayAck(message.seq, DisplayAck.OK))
        for message in self._codecs["barrier"].feed(self.ports["barrier"].read()):
            if isinstance(message, BarrierCommand):
                self._barrier_last_cmd = message.seq
                opening = message.action == BarrierCommand.OPEN
                self.barrier_log.append((now, "open" if opening else "close"))
                target = BarrierState.OPEN if opening else BarrierState.CLOSED
                if self.barrier_position != target:
                    self.barrier_position = BarrierState.OPENING if opening else BarrierState.CLOSING
                    self._barrier_target_t = now + BARRIER_TRAVEL_S
                self._send_barrier_state(now)

    def _move_barrier(self, now: float) -> None:
        if self._barrier_target_t is not None and now >= self._barrier_target_t:
            self._barrier_target_t = None
            self.barrier_position = (
                BarrierState.OPEN if self.barrier_position == BarrierState.OPENING else BarrierState.CLOSED
            )
            self._send_barrier_state(now)


#: The simulated light curtain's beam pitch (mm): its beams are at 25, 50, 75 ... mm above the road.
CURTAIN_PITCH_MM = 25


def curtain_height_mm(truck: Truck) -> int:
    """What the curtain reports as the highest blocked beam for ``truck`` (0: the scenario gives no
    height, as a curtain without height output): the highest beam at or below the truck's top."""
    if truck.height_m is None:
        return 0
    return int(round(truck.height_m * 1000.0, 6) // CURTAIN_PITCH_MM) * CURTAIN_PITCH_MM


def _curtain(kind: int, max_height_mm: int = 0) -> Callable[[int, int], object]:
    """A curtain event; the highest blocked beam over the passage goes with the LEAVE."""
    return lambda seq, t_us: CurtainEvent(seq, t_us, kind, blocked_beams=48, max_height_mm=max_height_mm)


def _axle(strip: int, tyre: str) -> Callable[[int, int], object]:
    return lambda seq, t_us: AxleEvent(
        seq, t_us, strip, _TYRE_CODES[tyre], AxleEvent.FORWARD, _TYRE_WIDTH_MM[tyre]
    )
