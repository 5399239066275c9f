"""Plates for the lane: on each separator trigger, read the frames of the approaching vehicle, vote, and
hand the daemon a :class:`PlateEvidence` (the plate, its frame JPEG and crop JPEG) for the record.

Reading runs in a worker thread, never on the event loop, and never holds up the verdict: the board is
driven from the weighing alone; the plate joins the record (and the board text when it is already known).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.config import PlatesConfig
from edge.plates.camera import Camera, Frame
from edge.plates.reader import PlateModelError, PlateReader, PlateResult, vote

__all__ = ["LanePlates", "PlateEvidence"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlateEvidence:
    result: PlateResult | None
    frames_read: int
    readings: tuple[str, ...]  # every frame's reading, in order (empty text: no plate found)
    frame_jpeg: bytes | None
    crop_jpeg: bytes | None
    problem: str = ""

    def as_record(self, min_confidence: float) -> dict[str, Any]:
        r = self.result
        return {
            "status": "none" if r is None else r.status,
            "text": None if r is None else r.text,
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
            "box": None if r is None or r.box is None else [round(v, 1) for v in r.box],
            "problem": self.problem or None,
        }


def _jpeg(image: np.ndarray, quality: int = 90) -> bytes | None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return data.tobytes() if ok else None


class LanePlates:
    """The camera, the reader and the per-vehicle reading tasks of one lane."""

    def __init__(self, config: PlatesConfig) -> None:
        self.config = config
        self.camera = Camera("lane", config.camera)
        self.reader: PlateReader | None = None
        self.load_error = ""
        self._tasks: dict[float, asyncio.Task[PlateEvidence]] = {}
        self.vehicles_read = 0
        self.vehicles_unread = 0

    async def start(self) -> None:
        self.camera.start()
        try:
            self.reader = await asyncio.to_thread(
                PlateReader,
                Path(self.config.model_dir) if self.config.model_dir else None,
                self.config.threads,
                home_province=self.config.home_province,
                home_share=self.config.home_province_share,
            )
        except PlateModelError as exc:
            self.load_error = str(exc)
            log.error("plate reading is off: %s", exc)
        else:
            log.info("plate models loaded; camera %s", self.camera.health()["source"])

    def stop(self) -> None:
        self.camera.stop()
        for task in self._tasks.values():
            task.cancel()

    def health(self) -> dict[str, Any]:
        return {
            "camera": self.camera.health(),
            "models_loaded": self.reader is not None,
            "model_error": self.load_error or None,
            "vehicles_read": self.vehicles_read,
            "vehicles_unread": self.vehicles_unread,
        }

    def trigger(self, trigger_t_s: float) -> None:
        """The separator saw a vehicle at host time ``trigger_t_s``: start reading its frames."""
        self.camera.vehicle_passed(trigger_t_s)
        task = asyncio.get_running_loop().create_task(self._read(trigger_t_s), name="plate-read")
        self._tasks[trigger_t_s] = task
        # Keep the last few vehicles only: a session that never completes must not leak its task.
        for key in sorted(self._tasks)[:-8]:
            self._tasks.pop(key).cancel()

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
        wait = trigger_t_s + self.config.post_trigger_s - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frames = self.camera.frames_between(
            trigger_t_s - self.config.pre_trigger_s, trigger_t_s + self.config.post_trigger_s
        )
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
                f"no camera frames ({self.camera.state}: {self.camera.last_error or 'none arrived'})",
            )
        evidence = await asyncio.to_thread(self._read_frames, self._pick(frames))
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

    def _read_frames(self, frames: list[Frame]) -> PlateEvidence:
        assert self.reader is not None
        readings: list[PlateResult] = []
        per_frame: list[str] = []
        source: dict[int, Frame] = {}
        for frame in frames:
            results = self.reader.read_frame(frame.image, max_plates=2)
            best = max(results, key=lambda r: (r.valid, r.confidence), default=None)
            per_frame.append("" if best is None else best.text)
            if best is not None:
                source[id(best)] = frame
                readings.append(best)
        chosen = vote(readings)
        if chosen is None:
            return PlateEvidence(
                None, len(frames), tuple(per_frame), None, None, "no plate found in the frames"
            )
        # The frame whose reading won (the vote keeps the reading's corners) goes into the evidence.
        frame = next(
            (source[id(r)] for r in readings if r.text == chosen.text and r.corners == chosen.corners),
            frames[-1],
        )
        crop_jpeg = _jpeg(chosen.crop) if chosen.crop is not None else None
        return PlateEvidence(chosen, len(frames), tuple(per_frame), _jpeg(frame.image), crop_jpeg)


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
