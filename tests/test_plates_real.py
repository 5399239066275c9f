"""Real photographs (issue 15): the scenes in ``../shared/plates/real_scenes`` (validation only, never
trained on).  Every readable plate found and read exactly, the unreadable truck plate found and reported
unreadable, nothing else reported.  Under CI=true a missing shared folder fails the test."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from edge.plates.reader import PlateReader
from models.plates.render import locate_shared_dir

SCENES = locate_shared_dir() / "plates" / "real_scenes"


def _labels() -> dict[str, list[dict[str, object]]]:
    path = SCENES / "labels.json"
    if not path.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: the real scenes must be there under CI")
        pytest.skip(f"{path} is missing (the shared folder is not next to this checkout)")
    scenes: dict[str, list[dict[str, object]]] = json.loads(path.read_text(encoding="utf-8"))["scenes"]
    return scenes


def _iou(a: tuple[float, float, float, float], b: list[float]) -> float:
    ax0, ay0, aw, ah = a
    ax1, ay1 = ax0 + aw, ay0 + ah
    bx0, by0, bx1, by1 = b
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    return inter / (aw * ah + (bx1 - bx0) * (by1 - by0) - inter)


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader()


@pytest.mark.parametrize(
    "name", ["blue_close_up.jpg", "green_8char_parked_car.jpg", "truck_front_traffic_camera.jpg"]
)
def test_real_scene_plates_are_found_and_read_or_reported_unreadable(reader: PlateReader, name: str) -> None:
    labels = _labels()[name]
    image = cv2.imdecode(np.fromfile(SCENES / name, dtype=np.uint8), cv2.IMREAD_COLOR)
    results = reader.read_frame(image)
    assert len(results) == len(labels), [r.as_dict() for r in results]
    for label in labels:
        box = label["box"]
        assert isinstance(box, list)
        (match,) = [r for r in results if r.box is not None and _iou(r.box, box) >= 0.3]
        if label["text"] is None:
            assert match.status == "unreadable" and match.text == ""
        else:
            assert match.status == "valid"
            assert match.text == label["text"]
