"""Plates for the lane: on each separator trigger, read the frames of the approaching vehicle, vote, and
hand the daemon a :class:`PlateEvidence` (the plate, its frame JPEG and crop JPEG) for the record.

Reading runs in a worker thread, never on the event loop, and never holds up the verdict: the board is
driven from the weighing alone; the plate joins the record (and the board text when it is already known).
The models are loaded and every vehicle read on one thread of the lane's own (``plates``), not on
asyncio's shared pool: onnxruntime's working buffers come from the calling thread's malloc arena, and
reads spread over the pool's threads left each one holding its own copy, a resident set that kept
growing (issue 19, ``bench/plates_memory.py --rotate``).  The reader is not thread-safe either: one
thread reads one vehicle after another.

Creating a :class:`LanePlates` also fixes glibc's mmap threshold for the whole process at 2 MiB
(:func:`fix_mmap_threshold`): see there.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import logging
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.config import PlatesConfig
from edge.plates.camera import Camera, Frame
from edge.plates.reader import PlateModelError, PlateReader, PlateResult

__all__ = ["LanePlates", "PlateEvidence", "Sighting"]
__all__ = ["LanePlates", "PlateEvidence", "Sighting", "fix_mmap_threshold", "reader_for"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sighting:
    """One frame's best reading, and where it came from."""

    camera: str  # "front" or "rear"
    frame: str  # the frame's file name, or "stream"
    t_s: float  # host monotonic time the frame arrived
    text: str  # empty: no plate found, or found but unreadable
    status: str  # "valid", "uncertain", "unreadable" or "none"
    confidence: float

    def as_record(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "frame": self.frame,
            "text": self.text,
            "status": self.status,
            "confidence": round(self.confidence, 4),
        }


@dataclass(frozen=True)
class PlateEvidence:
    result: PlateResult | None
    frames_read: int
    readings: tuple[str, ...]  # every frame's reading, in order (empty text: no plate found)
    frame_jpeg: bytes | None
    crop_jpeg: bytes | None
    problem: str = ""
    sightings: tuple[Sighting, ...] = ()  # every frame's reading with its camera and frame
    camera: str | None = None  # where the chosen reading came from
    frame: str | None = None

    def as_record(self, min_confidence: float) -> dict[str, Any]:
        r = self.result
        return {
            "status": "none" if r is None else r.status,
            "text": None if r is None or not r.text else r.text,
            "color": None if r is None else r.color,
            "type": None if r is None else r.type,
            "layout": None if r is None else r.layout,
            "rows": None if r is None else r.rows,
            "confidence": None if r is None else round(r.confidence, 4),
            "char_confidences": [] if r is None else [round(c, 4) for c in r.char_confidences],
            "valid": None if r is None else r.valid,
            "unsure": r is None or r.confidence < min_confidence or not r.valid,
            "alternatives": [] if r is None else list(r.alternatives),
            "frames_read": self.frames_read,
            "readings": list(self.readings),
            "sightings": [x.as_record() for x in self.sightings],
            "camera": self.camera,
            "frame": self.frame,
            "box": None if r is None or r.box is None else [round(v, 1) for v in r.box],
            "problem": self.problem or None,
        }


def _jpeg(image: np.ndarray, quality: int = 90) -> bytes | None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return data.tobytes() if ok else None


#: Heap blocks at least this large are mapped on their own and unmapped when freed (issue 19).
MMAP_THRESHOLD_BYTES = 2 * 1024 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


def reader_for(config: PlatesConfig) -> PlateReader:
    """The plate reader ``config`` asks for (the packaged models unless ``model_dir``).  Build it on the
    thread that will read with it: onnxruntime's working memory comes from that thread's malloc arena.
    It neither re-reads uncertain readings nor cross-checks sure ones per frame (``reread_frames`` and
    ``cross_check_frames`` are off): a frame costs the fast path, and the lane settles the vehicle's voted
    reading once (:meth:`PlateReader.vehicle_result`: PP-OCR's cross-check of a sure one, a re-read of an
    uncertain one) before the reading is handed over (issue 15)."""
    return PlateReader(
        Path(config.model_dir) if config.model_dir else None,
        config.threads,
        home_province=config.home_province,
        home_share=config.home_province_share,
        cross_check_frames=False,
    )


def fix_mmap_threshold(size: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``size`` for this process; True when it was set.

    glibc starts at 128 KiB and raises the threshold to the size of each mapped block that is freed, up
    to 32 MiB.  After the first camera frame (2.6 MiB at 1280x720) was freed, frames, decode buffers and
    onnxruntime's larger tensors came from the heaps instead, interleaved with small long-lived blocks,
    and the heaps could never shrink: the daemon's resident set grew by 85-130 MiB over the first 20
    trucks and about 10 MiB per 100 after (``bench/rss.py``).  A fixed threshold also turns the dynamic
    adjustment off.  Not set (False) when ``MALLOC_MMAP_THRESHOLD_`` is in the environment (the
    operator's own choice) or the C library is not glibc."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, size))


class LanePlates:
    """The camera, the reader and the per-vehicle reading tasks of one lane."""

    def __init__(self, config: PlatesConfig) -> None:
        fix_mmap_threshold()  # before the models and the first frames are allocated
        self.config = config
        self.camera = Camera("front", config.camera)
        self.rear_camera = Camera("rear", config.rear_camera) if config.rear_camera else None
        self.reader: PlateReader | None = None
        self.load_error = ""
        self._tasks: dict[float, asyncio.Task[PlateEvidence]] = {}
        #: The one thread that loads the models and reads every vehicle (see the module docstring).
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plates")
        self.vehicles_read = 0
        self.vehicles_unread = 0

    @property
    def cameras(self) -> list[Camera]:
        return [self.camera] if self.rear_camera is None else [self.camera, self.rear_camera]

    async def start(self) -> None:
        for camera in self.cameras:
            camera.start()
        try:
            self.reader = await asyncio.get_running_loop().run_in_executor(
                self._worker,
                reader_for,
                self.config,
            )
        except PlateModelError as exc:
            self.load_error = str(exc)
            log.error("plate reading is off: %s", exc)
        else:
            log.info("plate models loaded; camera %s", self.camera.health()["source"])

    def stop(self) -> None:
        for camera in self.cameras:
            camera.stop()
        for task in self._tasks.values():
            task.cancel()
        self._worker.shutdown(wait=False, cancel_futures=True)

    def health(self) -> dict[str, Any]:
        return {
            "camera": self.camera.health(),
            "cameras": {camera.name: camera.health() for camera in self.cameras},
            "models_loaded": self.reader is not None,
            "model_error": self.load_error or None,
            "vehicles_read": self.vehicles_read,
            "vehicles_unread": self.vehicles_unread,
        }

    def trigger(self, trigger_t_s: float) -> None:
        """The separator saw a vehicle at host time ``trigger_t_s``: start reading its frames."""
        self.camera.vehicle_passed(trigger_t_s)
        if self.rear_camera is not None:
            self.rear_camera.vehicle_passed(trigger_t_s + self.config.rear_offset_s)
        task = asyncio.get_running_loop().create_task(self._read(trigger_t_s), name="plate-read")
        self._tasks[trigger_t_s] = task
        # Keep the last few vehicles only: a session that never completes must not leak its task.
        for key in sorted(self._tasks)[:-8]:
            self._tasks.pop(key).cancel()

    async def reading(self, trigger_t_s: float) -> PlateEvidence | None:
        """Wait for the reading of the vehicle triggered at ``trigger_t_s`` without taking it (``result``
        still hands it over): the watch-list check, the moment the plate is read.  None when there is no
        such reading, or it failed or was given up."""
        task = self._tasks.get(trigger_t_s)
        if task is None:
            return None
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # this waiter was cancelled, not the reading
            return None
        except Exception:
            return None  # result() logs it

    def ready(self, trigger_t_s: float | None) -> PlateEvidence | None:
        """The plate of the vehicle triggered at ``trigger_t_s`` if it is already read, else None."""
        task = self._tasks.get(trigger_t_s) if trigger_t_s is not None else None
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()

    async def result(self, trigger_t_s: float | None) -> PlateEvidence:
        """The plate of the vehicle, waiting at most ``wait_s``; never raises."""
        task = self._tasks.pop(trigger_t_s, None) if trigger_t_s is not None else None
        if task is None:
            return PlateEvidence(None, 0, (), None, None, "no separator trigger for this vehicle")
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.config.wait_s)
        except TimeoutError:
            task.cancel()
            return PlateEvidence(
                None, 0, (), None, None, f"plate not read within plates.wait_s={self.config.wait_s:g} s"
            )
        except Exception as exc:  # a reading failure must never cost the vehicle its record
            log.exception("plate reading failed")
            return PlateEvidence(None, 0, (), None, None, f"plate reading failed: {exc!r}")

    async def _read(self, trigger_t_s: float) -> PlateEvidence:
        offset = self.config.rear_offset_s if self.rear_camera is not None else 0.0
        wait = trigger_t_s + offset + self.config.post_trigger_s - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frames = [
            (camera.name, frame)
            for camera, shift in ((self.camera, 0.0), (self.rear_camera, offset))
            if camera is not None
            for frame in self._pick(
                camera.frames_between(
                    trigger_t_s + shift - self.config.pre_trigger_s,
                    trigger_t_s + shift + self.config.post_trigger_s,
                )
            )
        ]
        if self.reader is None:
            self.vehicles_unread += 1
            return PlateEvidence(None, 0, (), None, None, f"plate models not loaded: {self.load_error}")
        if not frames:
            self.vehicles_unread += 1
            return PlateEvidence(
                None,
                0,
                (),
                None,
                None,
                "no camera frames ("
                + "; ".join(f"{c.name} {c.state}: {c.last_error or 'none arrived'}" for c in self.cameras)
                + ")",
            )
        evidence = await asyncio.get_running_loop().run_in_executor(self._worker, self._read_frames, frames)
        if evidence.result is None:
            self.vehicles_unread += 1
        else:
            self.vehicles_read += 1
        return evidence

    def _pick(self, frames: list[Frame]) -> list[Frame]:
        """At most ``max_frames``, spread evenly, the latest (closest, largest plate) always included."""
        n = self.config.max_frames
        if len(frames) <= n:
            return frames
        index = np.linspace(len(frames) - 1, 0, n).round().astype(int)
        return [frames[i] for i in sorted(set(index.tolist()))]

    def _read_frames(self, frames: list[tuple[str, Frame]]) -> PlateEvidence:
        """Read each (camera name, frame), vote across all of them (both cameras), and keep where each
        reading came from."""
        assert self.reader is not None
        readings: list[PlateResult] = []
        sightings: list[Sighting] = []
        source: dict[int, tuple[str, Frame]] = {}
        for camera, frame in frames:
            # Decoded here, one frame at a time, and dropped after its reading (camera.Frame).
            results = self.reader.read_frame(frame.image, max_plates=2)
            best = max(results, key=lambda r: (r.valid, bool(r.text), r.confidence), default=None)
            sightings.append(
                Sighting(
                    camera,
                    frame.source_name,
                    frame.t_s,
                    "" if best is None else best.text,
                    "none" if best is None else best.status,
                    0.0 if best is None else best.confidence,
                )
            )
            if best is not None:
                source[id(best)] = (camera, frame)
                readings.append(best)
        per_frame = tuple(x.text for x in sightings)
        # The vote, and once for the vehicle (not per frame, see reader_for): PP-OCR's cross-check of the
        # winning sure reading on its crop, or a re-read of an uncertain one from variants of its crop
        # (issue 15).  The evidence is complete, and the reading final, only after it.
        decided = self.reader.vehicle_result(readings)
        if decided is None:
            return PlateEvidence(
                None, len(frames), per_frame, None, None, "no plate found in the frames", tuple(sightings)
            )
        won, chosen = decided
        # The frame whose reading won goes into the evidence.
        camera, frame = source.get(id(won), frames[-1])
        crop_jpeg = _jpeg(chosen.crop) if chosen.crop is not None else None
        return PlateEvidence(
            chosen,
            len(frames),
            per_frame,
            frame.jpeg or _jpeg(frame.image),  # the camera's own JPEG, unchanged, when it sent one
            crop_jpeg,
            sightings=tuple(sightings),
            camera=camera,
            frame=frame.source_name,
        )


def write_attachments(folder: Path, record_id: str, evidence: PlateEvidence) -> list[dict[str, Any]]:
    """Store the frame and crop JPEGs under ``folder/record_id/``; their hashes go into the signed record."""
    items = []
    for name, data in (("frame.jpg", evidence.frame_jpeg), ("plate.jpg", evidence.crop_jpeg)):
        if data is None:
            continue
        target = folder / record_id
        target.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(data)
        items.append(
            {
                "name": name,
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "media_type": "image/jpeg",
            }
        )
    return items
