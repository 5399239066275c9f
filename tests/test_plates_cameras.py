"""Front and rear camera of one lane (issue 15): both cameras' frames are read and voted on, and every
reading keeps the camera and the frame it came from."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import cv2
import numpy as np

from edge.config import PlatesConfig
from edge.plates.lane import LanePlates
from edge.plates.reader import PlateResult, vote
from models.plates.render import PlateRenderer


def _write(folder: Path, name: str, image: np.ndarray) -> None:
    (folder / name).write_bytes(
        bytes(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes())
    )


async def _frames_arrived(lane: LanePlates, count: int) -> None:
    for _ in range(500):  # the camera threads decode the files: poll their counters, 10 s at most
        if sum(c.frames_total for c in lane.cameras) >= count:
            return
        await asyncio.sleep(0.02)


async def test_front_and_rear_cameras_vote_and_record_where_each_reading_came_from(tmp_path: Path) -> None:
    front, rear = tmp_path / "front", tmp_path / "rear"
    config = PlatesConfig(
        enabled=True,
        camera=str(front),
        rear_camera=str(rear),
        pre_trigger_s=5.0,
        post_trigger_s=0.2,
        wait_s=30.0,
    )
    lane = LanePlates(config)
    await lane.start()
    try:
        assert set(lane.health()["cameras"]) == {"front", "rear"}
        renderer = PlateRenderer()
        rng = np.random.default_rng(15)
        # A truck: the single-row yellow plate in front, the double-row one at the rear, the same text.
        for k in range(2):
            image, _ = renderer.frame_sample(rng, size=(1280, 720), plates=[("冀B3K721", "yellow_single")])
            _write(front, f"f{k}.jpg", image)
            image, _ = renderer.frame_sample(rng, size=(1280, 720), plates=[("冀B3K721", "yellow_double")])
            _write(rear, f"r{k}.jpg", image)
        await _frames_arrived(lane, 4)
        trigger = time.monotonic()
        lane.trigger(trigger)
        evidence = await lane.result(trigger)
    finally:
        lane.stop()
    assert evidence.result is not None and evidence.result.text == "冀B3K721", evidence.readings
    record = evidence.as_record(config.min_confidence)
    sightings = record["sightings"]
    assert {s["camera"] for s in sightings} == {"front", "rear"}
    assert {s["frame"] for s in sightings} == {"f0.jpg", "f1.jpg", "r0.jpg", "r1.jpg"}
    assert record["camera"] in ("front", "rear")
    assert record["frame"] in {s["frame"] for s in sightings if s["camera"] == record["camera"]}
    assert sum(s["text"] == "冀B3K721" for s in sightings) >= 3, sightings


def _reading(text: str, confidence: float, valid: bool = True) -> PlateResult:
    return PlateResult(text, "yellow", "yellow_single", None, 1, confidence, (confidence,), 1.0, valid, ())


def test_vote_keeps_an_unreadable_sighting_only_when_nothing_was_read() -> None:
    unreadable = _reading("", 0.0, valid=False)
    assert vote([unreadable]) is unreadable
    uncertain = _reading("冀B3K721", 0.4, valid=False)
    assert vote([unreadable, uncertain]).text == "冀B3K721"  # type: ignore[union-attr]
    assert vote([uncertain, _reading("冀B3K727", 0.95)]).text == "冀B3K727"  # type: ignore[union-attr]
