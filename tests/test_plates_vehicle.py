"""The lane's cross-check once per vehicle (issue 15): frames are read on the fast path, and the voted
reading is checked with PP-OCR before it is handed over, with the same outcome as checking every frame."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from edge.config import PlatesConfig
from edge.plates.camera import Frame
from edge.plates.lane import LanePlates, reader_for
from edge.plates.reader import REREAD_PADDLE, PlateReader, PlateResult
from edge.plates.second_opinion import Opinion
from models.plates.render import PlateRenderer

#: Rendered vehicles: (text, layout), single-row ones (the cross-check's) and a double-row one.
VEHICLES = [
    ("苏E12345", "blue_single"),
    ("浙A3B215", "blue_single"),
    ("粤B88C61", "yellow_single"),
    ("皖K50917", "yellow_single"),
    ("鲁C1234挂", "yellow_double"),
    ("京AD12345", "green_small"),
]


class _PaddleCalls:
    """Counts the crops PP-OCR is asked about, the real recogniser answering."""

    def __init__(self, reader: PlateReader, monkeypatch: pytest.MonkeyPatch) -> None:
        assert reader._paddle is not None, "rapidocr-onnxruntime is a dependency"
        self.crops = 0
        real = reader._paddle.read_chars

        def counted(crops: list[np.ndarray]) -> list[Opinion]:
            self.crops += len(crops)
            return real(crops)

        monkeypatch.setattr(reader._paddle, "read_chars", counted)


def _lane(reader: PlateReader, tmp_path: Path) -> LanePlates:
    lane = LanePlates(PlatesConfig(enabled=True, camera=str(tmp_path)))
    lane.reader = reader
    return lane


def test_the_lane_reader_checks_per_vehicle_not_per_frame() -> None:
    reader = reader_for(PlatesConfig())
    assert reader.cross_check and not reader.cross_check_frames and not reader.reread_frames


def test_per_vehicle_cross_check_reads_as_the_per_frame_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Three frames a vehicle, rendered: the vehicle's final reading (text and status) is the same whether
    every frame's sure readings were cross-checked or only the voted one, which asks PP-OCR about fewer
    crops."""
    renderer = PlateRenderer()
    rng = np.random.default_rng(1515)
    vehicles = [
        [
            ("front", Frame.from_image(float(k), renderer.frame_sample(rng, plates=[plate])[0], f"f{k}.jpg"))
            for k in range(3)
        ]
        for plate in VEHICLES
    ]
    per_frame = PlateReader(cross_check_frames=True)
    per_vehicle = PlateReader(cross_check_frames=False)
    calls = {"frame": _PaddleCalls(per_frame, monkeypatch), "vehicle": _PaddleCalls(per_vehicle, monkeypatch)}
    right = 0
    for (text, _), frames in zip(VEHICLES, vehicles, strict=True):
        old = _lane(per_frame, tmp_path)._read_frames(frames).result
        new = _lane(per_vehicle, tmp_path)._read_frames(frames).result
        assert old is not None and new is not None, text
        assert (new.text, new.status) == (old.text, old.status), (text, old.as_dict(), new.as_dict())
        right += new.text == text and new.status == "valid"
        if new.status == "valid" and new.rows == 1:
            assert new.second_opinion is not None, "a valid single-row reading was cross-checked"
    assert right >= 4, f"{right} of {len(VEHICLES)} vehicles read valid and right"
    assert calls["vehicle"].crops < calls["frame"].crops, {k: c.crops for k, c in calls.items()}


def _confused(reader: PlateReader, text: str, seed: int, wrong: str) -> PlateResult:
    """The fast path's sure reading of a rendered plate, its province swapped for ``wrong`` at 0.99 (what
    our reader did on real photos): valid, not cross-checked."""
    crop, drawn, _ = PlateRenderer().crop_sample(
        np.random.default_rng(seed), text=text, layout="blue_single", mild=True
    )
    assert drawn == text
    (first,) = reader.read_crops([crop], settle=False)
    assert first.text == text
    confused = dataclasses.replace(
        first, text=wrong + text[1:], char_confidences=(0.99, *first.char_confidences[1:]), confidence=0.9
    )
    assert confused.status == "valid" and confused.second_opinion is None
    return confused


@pytest.mark.parametrize(("text", "seed"), [("苏E12345", 91), ("浙A3B215", 80), ("粤B88C61", 83)])
def test_a_sure_but_wrong_frame_reading_is_caught_once_per_vehicle(
    text: str, seed: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every frame reads the plate sure and wrong (the fast path: nobody asked): the vehicle's reading is
    cross-checked once and is never reported valid with the wrong province."""
    reader = reader_for(PlatesConfig())
    wrong = _confused(reader, text, seed, "湘")
    calls = _PaddleCalls(reader, monkeypatch)
    monkeypatch.setattr(reader, "read_frame", lambda image, max_plates=4: [wrong])
    image = np.zeros((720, 1280, 3), np.uint8)
    frames = [("front", Frame.from_image(float(k), image, f"f{k}.jpg")) for k in range(4)]
    evidence = _lane(reader, tmp_path)._read_frames(frames)
    assert [s.status for s in evidence.sightings] == ["valid"] * 4  # each frame as the fast path read it
    result = evidence.result
    assert result is not None and result.second_opinion is not None, "the vehicle's reading was checked"
    assert not (result.status == "valid" and result.text != text), result.as_dict()
    assert result.text == text or text in result.alternatives, result.as_dict()
    assert 1 <= calls.crops <= 1 + REREAD_PADDLE  # the check, then a re-read's variants


def test_a_reading_that_fails_its_check_gives_way_to_the_next_sure_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Frames read two texts for sure; the one most frames read fails PP-OCR's check and stays
    uncertain after its re-read: the vehicle takes the other one, which passes."""
    reader = reader_for(PlatesConfig())
    right = _confused(reader, "苏E12345", 91, "苏")
    wrong = _confused(reader, "苏E12345", 91, "湘")
    monkeypatch.setattr(reader, "reread_result", lambda result: result)  # no re-read rescues it
    won, settled = reader.vehicle_result([wrong, wrong, wrong, right]) or (None, None)
    assert won is right and settled is not None
    assert settled.text == "苏E12345" and settled.status == "valid", settled.as_dict()
    # A vehicle every frame read wrongly stays uncertain, with the checked alternatives.
    won, settled = reader.vehicle_result([wrong, wrong]) or (None, None)
    assert won is wrong and settled is not None and settled.status == "uncertain", settled
