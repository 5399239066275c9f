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
