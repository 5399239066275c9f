"""A gantry of simulated SICK LMS5xx-class scanners serving CoLa B telegrams over TCP on localhost.

Each scanner listens on its own port (as each real scanner has its own IP address).  Like the real device,
it sends scans only after a client asks with ``sEN LMDscandata 1`` (answered ``sEA LMDscandata 1``), and
forgets the subscription when the TCP session ends.  Vehicles drive through one after another; every
telegram is encoded with the driver's own codec (:mod:`drivers.lidar.codec`).

Run standalone for a bench::

    python -m firmware_sim.lidar [--faults all] [--vehicles 20] [--time-scale 1] [--speed-pair 4]

``--speed-pair D`` adds a fourth scanner, ``upstream``, D m before the gantry plane looking down like
``overhead`` (:func:`~firmware_sim.lidar_scene.speed_pair_gantry`; docs/outline.md, the speed pair).

``time_scale`` > 1 plays faster than real time (tests).  :meth:`LidarGantry.truth` lists each vehicle's
shape, true dimensions, speed profile and the device time its front was ``approach_m`` before the gantry.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drivers.lidar.codec import ColaBCodec, ColaCommand, ScanTelegram
from firmware_sim.lidar_scene import (
    FAULTS,
    SHAPES,
    Faults,
    Passage,
    ScannerMount,
    default_gantry,
    simulate_passage,
    speed_pair_gantry,
)

__all__ = ["LidarGantry", "VehicleTruth"]


@dataclass(frozen=True)
class VehicleTruth:
    shape: str
    length_m: float
    width_m: float
    height_m: float
    speed_m_s: float
    accel_m_s2: float
    approach_m: float
    start_device_s: float  # the passage's t = 0 on every scanner's clock


@dataclass
class _Scanner:
    mount: ScannerMount
    server: asyncio.Server | None = None
    port: int = 0
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    subscribed: set[asyncio.StreamWriter] = field(default_factory=set)
    counter: int = 0


class LidarGantry:
    """``async with LidarGantry(...) as gantry`` serves ``gantry.ports`` until the block ends."""

    def __init__(
        self,
        passages: list[Passage],
        faults: Faults = FAULTS["clean"],
        mounts: tuple[ScannerMount, ...] | None = None,
        time_scale: float = 1.0,
        seed: int = 0,
        gap_s: float = 1.0,
        host: str = "127.0.0.1",
        autoplay: bool = True,
    ) -> None:
        self.passages = passages
        self.autoplay = autoplay
        self.faults = faults
        self.mounts = mounts or default_gantry()
        self.time_scale = time_scale
        self.gap_s = gap_s
        self.host = host
        self._rng = np.random.default_rng(seed)
        self._scanners = {m.name: _Scanner(m) for m in self.mounts}
        self._codec = ColaBCodec()
        self._truth: list[VehicleTruth] = []
        self._task: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()
        self._clock_offset_s = 1.0  # every scanner's clock reads 1 s when the gantry starts

    @property
    def ports(self) -> dict[str, int]:
        return {name: s.port for name, s in self._scanners.items()}

    def url(self, name: str) -> str:
        return f"socket://{self.host}:{self._scanners[name].port}"

    def truth(self) -> list[VehicleTruth]:
        return list(self._truth)

    async def __aenter__(self) -> LidarGantry:
        for scanner in self._scanners.values():
            scanner.server = await asyncio.start_server(
                lambda r, w, s=scanner: self._serve(s, r, w), self.host, 0
            )
            scanner.port = scanner.server.sockets[0].getsockname()[1]
        if self.autoplay:
            self.play()
        return self

    def play(self) -> None:
        """Start the passages (and the scanners' clocks) now; ``autoplay=False`` leaves that to the
        caller, so that a test can let a slow daemon start with the scanners listening but idle."""
        if self._task is None:
            self._task = asyncio.create_task(self._play(), name="lidar-gantry")

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for scanner in self._scanners.values():
            self._close_clients(scanner)
            if scanner.server is not None:
                scanner.server.close()
                await scanner.server.wait_closed()

    def drop_connections(self, name: str) -> None:
        """Close every TCP session of one scanner (a cable pulled, a switch rebooted)."""
        self._close_clients(self._scanners[name])

    def inject_garbage(self, name: str, data: bytes) -> None:
        for writer in list(self._scanners[name].subscribed):
            writer.write(data)

    @staticmethod
    def _close_clients(scanner: _Scanner) -> None:
        for writer in list(scanner.writers):
            writer.close()
        scanner.writers.clear()
        scanner.subscribed.clear()

    async def _serve(
        self, scanner: _Scanner, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        scanner.writers.add(writer)
        codec = ColaBCodec()
        try:
            while data := await reader.read(4096):
                for message in codec.feed(data):
                    if isinstance(message, ColaCommand) and message.name == "LMDscandata":
                        on = message.command_type == "sEN" and message.args[:1] == b"\x01"
                        (scanner.subscribed.add if on else scanner.subscribed.discard)(writer)
                        writer.write(self._codec.encode(ColaCommand("sEA", "LMDscandata", message.args[:1])))
                        await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            scanner.writers.discard(writer)
            scanner.subscribed.discard(writer)
            writer.close()

    async def _play(self) -> None:
        loop = asyncio.get_running_loop()
        start_host = loop.time()
        device_s = 0.0  # world time, s since the gantry started
        for passage in self.passages:
            sim = await asyncio.to_thread(simulate_passage, passage, self.mounts, self.faults, self._rng)
            length, width, height = passage.shape.truth_m
            self._truth.append(
                VehicleTruth(
                    passage.shape.name,
                    length,
                    width,
                    height,
                    passage.speed_m_s,
                    passage.accel_m_s2,
                    passage.approach_m,
                    device_s + self._clock_offset_s,
                )
            )
            # merge every scanner's scans in time order
            events = sorted(
                (float(t), name, i) for name, times in sim.times_s.items() for i, t in enumerate(times)
            )
            for t, name, i in events:
                due = start_host + (device_s + t) / self.time_scale
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self._send(name, device_s + t, sim.ranges_mm[name][i])
            device_s += passage.duration_s() + self.gap_s
        self.finished.set()

    def _send(self, name: str, world_s: float, ranges: np.ndarray[Any, np.dtype[np.uint16]]) -> None:
        scanner = self._scanners[name]
        mount = scanner.mount
        scanner.counter = (scanner.counter + 1) & 0xFFFF
        telegram = ScanTelegram(
            scan_counter=scanner.counter,
            time_since_startup_us=round((world_s + self._clock_offset_s) * 1e6) & 0xFFFFFFFF,
            start_angle_udeg=mount.start_angle_udeg,
            angular_step_udeg=mount.angular_step_udeg,
            ranges=ranges,
            telegram_counter=scanner.counter,
            scan_frequency_centi_hz=round(mount.scan_hz * 100),
            serial_number=mount.serial_number,
        )
        wire = self._codec.encode(telegram)
        for writer in list(scanner.subscribed):
            if writer.is_closing():
                scanner.subscribed.discard(writer)
                continue
            writer.write(wire)


def random_passages(n: int, seed: int, approach_m: float = 2.0) -> list[Passage]:
    rng = np.random.default_rng(seed)
    names = list(SHAPES)
    return [
        Passage(
            SHAPES[names[i % len(names)]](rng),
            speed_m_s=float(rng.uniform(1.4, 5.6)),  # 5-20 km/h, a toll-entrance lane
            accel_m_s2=float(rng.uniform(-0.3, 0.3)),
            approach_m=approach_m,
        )
        for i in range(n)
    ]


async def _main(args: argparse.Namespace) -> None:
    gantry = LidarGantry(
        random_passages(args.vehicles, args.seed, 2.0 + args.speed_pair),
        FAULTS[args.faults],
        mounts=speed_pair_gantry(args.speed_pair) if args.speed_pair > 0 else default_gantry(),
        time_scale=args.time_scale,
        seed=args.seed,
    )
    async with gantry:
        for mount in gantry.mounts:
            print(
                f"{mount.name:9s} {gantry.url(mount.name)}  x={mount.x_m} m y={mount.y_m} m z={mount.z_m} m"
                f" mount={mount.mount_deg} deg"
            )
        sys.stdout.flush()
        await gantry.finished.wait()
        for truth in gantry.truth():
            print(truth)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_sim.lidar", description=__doc__)
    parser.add_argument("--faults", default="clean", choices=sorted(FAULTS))
    parser.add_argument("--vehicles", type=int, default=20)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--speed-pair",
        type=float,
        default=0.0,
        help="add an upstream speed scanner this far before the gantry (m)",
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
