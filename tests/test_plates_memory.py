"""The plate path's resident memory (issue 19): the lane loads its models and reads every vehicle on one
thread of its own, and every onnxruntime session runs without the CPU arena and memory patterns (the
figures: ``bench/plates_memory.py``, docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import platform
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import edge.plates.lane as lane_module
from edge.config import PlatesConfig
from edge.plates.lane import LanePlates
from edge.plates.reader import PlateReader
from models.plates.render import PlateRenderer


async def test_the_lane_loads_and_reads_every_vehicle_on_one_thread_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []

    class Recorded(PlateReader):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            threads.append(threading.current_thread().name)
            super().__init__(*args, **kwargs)

        def read_frame(self, *args: Any, **kwargs: Any) -> Any:
            threads.append(threading.current_thread().name)
            return super().read_frame(*args, **kwargs)

    monkeypatch.setattr(lane_module, "PlateReader", Recorded)
    camera = tmp_path / "camera"
    config = PlatesConfig(
        enabled=True, camera=str(camera), pre_trigger_s=1.0, post_trigger_s=0.2, wait_s=30.0
    )
    lane = LanePlates(config)
    await lane.start()
    renderer = PlateRenderer()
    rng = np.random.default_rng(19)
    texts = []
    try:
        for k, plate in enumerate(("冀B3K721", "晋B52816")):
            image, _ = renderer.frame_sample(rng, size=(1280, 720), plates=[(plate, "yellow_single")])
            (camera / f"{k}.jpg").write_bytes(cv2.imencode(".jpg", image)[1].tobytes())
            for _ in range(500):  # the camera thread decodes the file
                if lane.camera.frames_total > k:
                    break
                await asyncio.sleep(0.02)
            trigger = time.monotonic()
            lane.trigger(trigger)
            evidence = await lane.result(trigger)
            texts.append(None if evidence.result is None else evidence.result.text)
            await asyncio.sleep(1.5)  # the next vehicle's window starts after this frame
    finally:
        lane.stop()
    assert texts == ["冀B3K721", "晋B52816"]
    assert len(threads) == 3, threads  # the load, and one frame per vehicle
    assert len(set(threads)) == 1 and threads[0].startswith("plates"), threads


def test_every_plate_session_runs_without_the_cpu_arena_and_memory_patterns() -> None:
    reader = PlateReader()
    sessions = [reader._recogniser, reader._classifier, reader._province, reader._suffix, reader._detector]
    assert reader._paddle is not None, "rapidocr-onnxruntime is a dependency: PP-OCR must load"
    sessions.append(reader._paddle._recogniser.session.session)
    for session in sessions:
        options = session.get_session_options()
        assert (options.enable_cpu_mem_arena, options.enable_mem_pattern) == (False, False)


def test_the_mmap_threshold_is_fixed_unless_the_operator_set_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert lane_module.fix_mmap_threshold() is (platform.libc_ver()[0] == "glibc")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert lane_module.fix_mmap_threshold() is False


async def test_frames_are_kept_encoded_and_the_evidence_frame_is_the_cameras_own_jpeg(tmp_path: Path) -> None:
    camera = tmp_path / "camera"
    config = PlatesConfig(
        enabled=True, camera=str(camera), pre_trigger_s=2.0, post_trigger_s=0.2, wait_s=30.0
    )
    lane = LanePlates(config)
    await lane.start()
    image, _ = PlateRenderer().frame_sample(
        np.random.default_rng(7), size=(1280, 720), plates=[("冀B3K721", "yellow_single")]
    )
    sent = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 88])[1].tobytes()
    try:
        (camera / "0001.jpg").write_bytes(sent)
        for _ in range(500):
            if lane.camera.frames_total:
                break
            await asyncio.sleep(0.02)
        (frame,) = lane.camera.frames_between(0.0, time.monotonic())
        assert frame.data == sent, "kept as the camera's bytes, not a 2.6 MiB decoded array"
        assert len(frame.data) < image.nbytes / 5
        assert frame.image.shape == image.shape and frame.image is not frame.image, "decoded on demand"
        trigger = time.monotonic()
        lane.trigger(trigger)
        evidence = await lane.result(trigger)
    finally:
        lane.stop()
    assert evidence.result is not None and evidence.result.text == "冀B3K721"
    assert evidence.frame_jpeg == sent, "the evidence frame is the camera's JPEG, not a re-encoding"


def test_a_stream_frame_is_kept_as_jpeg() -> None:
    from edge.plates.camera import Frame

    image = np.zeros((72, 128, 3), np.uint8)
    image[:, :, 1] = np.linspace(0, 255, 128, dtype=np.uint8)  # a smooth picture, as a camera sees
    image[20:50, 30:90] = (40, 200, 230)
    frame = Frame.from_image(1.0, image, "stream")
    assert frame.jpeg is not None and frame.jpeg[:2] == b"\xff\xd8"
    assert frame.image.shape == image.shape
    assert np.abs(frame.image.astype(int) - image.astype(int)).mean() < 3  # a JPEG of it, quality 95
    png = Frame(2.0, cv2.imencode(".png", image)[1].tobytes(), "x.png")
    assert png.jpeg is None and np.array_equal(png.image, image), "a PNG frame is lossless, not a JPEG"
