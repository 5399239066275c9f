"""Odd inputs to the plate reader and the folder camera: thin images, blank and 1 x 1 crops, half-written
and reused camera files, a camera that stops sending while vehicles pass."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edge.cli import main as cli
from edge.plates.camera import Camera
from edge.plates.preprocess import DETECTOR_SIZE, detector_input
from edge.plates.reader import PlateReader
from models.plates.render import PlateRenderer


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader()


def _jpeg(image: np.ndarray) -> bytes:
    return bytes(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes())


def _wait(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# -- image shapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3000), (3000, 2), (1, 1)])
def test_detector_input_of_an_extreme_shape_keeps_a_pixel(shape: tuple[int, int]) -> None:
    image, box = detector_input(np.full((*shape, 3), 90, np.uint8))
    assert image.shape == (*DETECTOR_SIZE, 3)
    assert box.new_h >= 1 and box.new_w >= 1


def test_reader_finds_nothing_in_a_thin_strip(reader: PlateReader) -> None:
    assert reader.read_frame(np.full((2, 3000, 3), 128, np.uint8)) == []


def test_cli_gives_a_thin_image_its_own_error_and_reads_the_rest(
    tmp_path: Path, renderer: PlateRenderer
) -> None:
    thin = tmp_path / "thin.png"
    thin.write_bytes(bytes(cv2.imencode(".png", np.full((2, 3000, 3), 128, np.uint8))[1].tobytes()))
    frame, _ = renderer.frame_sample(
        np.random.default_rng(3), size=(1920, 1080), plates=[("鲁C1234挂", "yellow_double")]
    )
    good = tmp_path / "frame.jpg"
    good.write_bytes(_jpeg(frame))
    result = CliRunner().invoke(cli, ["plate", "read", str(thin), str(good)])
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert result.exit_code == 1
    assert [entry["file"] for entry in lines] == [str(thin), str(good)]
    assert "3000 x 2 px" in lines[0]["error"]
    assert lines[1]["plates"], "the batch went on to the next file"


@pytest.fixture(scope="module")
def renderer() -> PlateRenderer:
    return PlateRenderer()


# -- blank crops ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "crop",
    [
        np.zeros((1, 1, 3), np.uint8),
        np.full((40, 140, 3), 255, np.uint8),
        np.full((40, 140, 3), (180, 60, 10), np.uint8),  # plate blue, no characters
        np.zeros((5, 200, 3), np.uint8),
    ],
    ids=["1x1", "white", "blue", "5px-high"],
)
def test_blank_or_tiny_crops_are_unreadable_not_a_plate(reader: PlateReader, crop: np.ndarray) -> None:
    result = reader.read_crop(crop)
    assert result.text == "" and result.status == "unreadable"
    assert not result.valid
    assert result.problems and result.problems[0].startswith("unreadable")
    assert result.as_dict()["status"] == "unreadable"


def test_unreadable_crops_do_not_disturb_a_batch(reader: PlateReader, renderer: PlateRenderer) -> None:
    plate = cv2.resize(renderer.render("皖A12345", "blue_single", np.random.default_rng(5))[0], (140, 45))
    blank = np.zeros((1, 1, 3), np.uint8)
    alone = reader.read_crop(plate)
    first, second, third = reader.read_crops([blank, plate, blank])
    assert first.status == third.status == "unreadable"
    assert second.text == alone.text and second.confidence == pytest.approx(alone.confidence, abs=1e-5)


# -- folder camera ----------------------------------------------------------------------------------


def test_folder_camera_waits_for_a_half_written_jpeg(tmp_path: Path) -> None:
    image = np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    data = _jpeg(image)
    camera = Camera("test", str(tmp_path), poll_s=0.02, decode_tries=50)
    camera.start()
    try:
        path = tmp_path / "0001.jpg"
        path.write_bytes(data[: len(data) // 2])  # the upload stalls half way for a while
        time.sleep(0.3)
        assert camera.frames_total == 0, "half a JPEG is no frame"
        with path.open("ab") as f:
            f.write(data[len(data) // 2 :])
        assert _wait(lambda: camera.frames_total == 1)
        (frame,) = camera.frames_between(0.0, time.monotonic())
        expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert np.array_equal(frame.image, expected), "the whole image, not its top half"
        assert camera.frames_bad == 0
    finally:
        camera.stop()


def test_folder_camera_gives_up_on_a_file_that_never_decodes(tmp_path: Path) -> None:
    camera = Camera("test", str(tmp_path), poll_s=0.01, decode_tries=3)
    camera.start()
    try:
        (tmp_path / "0001.jpg").write_bytes(b"\xff\xd8 not a jpeg, and it stays that way")
        assert _wait(lambda: camera.frames_bad == 1)
        time.sleep(0.1)
        assert camera.frames_bad == 1, "counted once, not once per poll"
        assert "3 tries" in camera.health()["last_error"]
    finally:
        camera.stop()


def test_folder_camera_reads_a_reused_file_name_again(tmp_path: Path) -> None:
    camera = Camera("test", str(tmp_path), poll_s=0.01)
    camera.start()
    try:
        path = tmp_path / "0001.jpg"
        path.write_bytes(_jpeg(np.full((20, 30, 3), 50, np.uint8)))
        assert _wait(lambda: camera.frames_total == 1)
        path.write_bytes(_jpeg(np.full((40, 60, 3), 200, np.uint8)))  # the camera's ring wrapped round
        assert _wait(lambda: camera.frames_total == 2), "a new file under an old name is a new frame"
        shapes = [f.image.shape for f in camera.frames_between(0.0, time.monotonic())]
        assert shapes == [(20, 30, 3), (40, 60, 3)]
    finally:
        camera.stop()


def test_folder_camera_is_stale_when_vehicles_pass_without_frames(tmp_path: Path) -> None:
    camera = Camera("test", str(tmp_path), poll_s=0.01, stale_s=0.2)
    camera.start()
    try:
        assert camera.health()["state"] == "up", "no vehicle yet: nothing is missing"
        (tmp_path / "0001.jpg").write_bytes(_jpeg(np.full((20, 30, 3), 50, np.uint8)))
        assert _wait(lambda: camera.frames_total == 1)
        camera.vehicle_passed(time.monotonic())
        assert camera.health()["state"] == "up", "a frame arrived just before the vehicle"
        time.sleep(0.3)
        camera.vehicle_passed(time.monotonic())
        assert camera.health()["state"] == "stale"
        (tmp_path / "0002.jpg").write_bytes(_jpeg(np.full((20, 30, 3), 90, np.uint8)))
        assert _wait(lambda: camera.health()["state"] == "up"), "a new frame ends the staleness"
    finally:
        camera.stop()


# -- colour proposals -------------------------------------------------------------------------------


def test_colour_proposals_find_a_tilted_yellow_plate_and_not_a_grey_scene() -> None:
    from edge.plates.proposals import colour_proposals

    scene = np.full((720, 1280, 3), 110, np.uint8)
    plate = np.array([[600, 400], [760, 380], [764, 460], [604, 480]], np.int32)  # sheared, 2:1
    cv2.fillConvexPoly(scene, plate, (0, 200, 240))  # GA 36 yellow in BGR
    cv2.putText(scene, "8888", (615, 455), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 3)
    (proposal,) = colour_proposals(scene)
    assert proposal.colour == "yellow"
    x0, y0 = proposal.corners.min(axis=0)
    x1, y1 = proposal.corners.max(axis=0)
    assert x0 <= 605 and x1 >= 760 and y0 <= 385 and y1 >= 475, "the grown quadrilateral holds the plate"
    assert proposal.contrast > 40
    assert colour_proposals(np.full((720, 1280, 3), 110, np.uint8)) == []


def test_cli_reports_a_blank_crop_unreadable(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    blank.write_bytes(bytes(cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes()))
    result = CliRunner().invoke(cli, ["plate", "read", "--crop", str(blank)])
    assert result.exit_code == 0, result.output
    (plate,) = json.loads(result.output)["plates"]
    assert plate["status"] == "unreadable" and plate["text"] == "" and not plate["valid"]
