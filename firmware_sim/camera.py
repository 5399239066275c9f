"""A simulated lane camera: JPEG frames of each approaching truck, showing its scenario plate, written
into a folder at the moments the truck's front passes chosen points before the light curtain.

The daemon reads the folder exactly as it reads an FTP-push camera (``edge.plates.camera``, folder
source).  Frames are rendered by the project's plate renderer (``models.plates.render``), composited
into a lane-camera scene; each file is written under a temporary name and renamed, so a reader never
sees half a JPEG.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from firmware_sim.physics import TruckMotion

__all__ = ["CameraShot", "SimulatedCamera", "plate_layout_for"]

log = logging.getLogger(__name__)

#: Front-of-truck positions (m, lane x; the curtain is at 0) at which a frame is taken.
DEFAULT_SHOT_X_M = (-6.0, -4.5, -3.0, -1.5)


def plate_layout_for(plate: str, layout: str | None = None) -> str:
    """The plate layout a truck carries: as given, else from its text (trucks carry yellow plates;
    trailers' 挂 plates are double-row; 8 characters are large new-energy)."""
    if layout:
        return layout
    if plate.endswith("挂"):
        return "yellow_double"
    if len(plate) == 8:
        return "green_large"
    return "yellow_single"


@dataclass(frozen=True)
class CameraShot:
    world_t_s: float
    truck_index: int
    shot: int
    plate: str
    layout: str


class SimulatedCamera:
    """Writes each truck's frames into ``folder`` on the lane's world clock (in its own thread)."""

    def __init__(
        self,
        motions: Sequence[TruckMotion],
        folder: Path,
        world_time_s: Callable[[], float],
        *,
        seed: int = 0,
        size: tuple[int, int] = (1280, 720),
        shot_x_m: Sequence[float] = DEFAULT_SHOT_X_M,
        jpeg_quality: int = 90,
    ) -> None:
        from models.plates.render import PlateRenderer  # package data and a CJK font (PlateAssetsMissing)

        self.renderer = PlateRenderer()
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._world_time_s = world_time_s
        self._rng = np.random.default_rng(seed)
        self.size = size
        self.jpeg_quality = jpeg_quality
        self.shots = sorted(
            (
                CameraShot(
                    max(motion.time_at_front_x(x), 0.0),
                    index,
                    k,
                    motion.truck.plate,
                    plate_layout_for(motion.truck.plate, getattr(motion.truck, "plate_layout", None)),
                )
                for index, motion in enumerate(motions)
                for k, x in enumerate(shot_x_m)
            ),
            key=lambda s: s.world_t_s,
        )
        self.written: list[tuple[CameraShot, Path]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="simulated-camera", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        for shot in self.shots:
            if self._stop.is_set():
                return
            frame, _ = self.renderer.frame_sample(
                self._rng, size=self.size, plates=[(shot.plate, shot.layout)]
            )
            ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if not ok:  # pragma: no cover - OpenCV always encodes a valid BGR frame
                continue
            wait = shot.world_t_s - self._world_time_s()
            if wait > 0 and self._stop.wait(wait):
                return
            name = f"{int(shot.world_t_s * 1000):010d}-{shot.truck_index:04d}-{shot.shot}.jpg"
            path = self.folder / name
            temporary = self.folder / f".{name}.part"
            temporary.write_bytes(jpeg.tobytes())
            os.replace(temporary, path)
            self.written.append((shot, path))
