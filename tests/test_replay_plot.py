"""``edge wim replay --plot``: a PNG of the crossing that OpenCV decodes, with the measured signals and the
fitted loads drawn in the plot area; a path it cannot write is a clear error."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edge.cli_wim import wim
from edge.judge import judge
from edge.wim.capture import write_capture
from firmware_sim.physics import TruckMotion, schedule
from firmware_sim.scenario import load_scenario
from tests.test_capture import CONFIG, GEOMETRY, LIMITS, physics_crossing


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    motion: TruckMotion = next(
        m for m in schedule(load_scenario("default"), GEOMETRY) if m.truck.stop_on_scale_s == 0
    )
    crossing = physics_crossing(motion, number=3)
    path = tmp_path_factory.mktemp("plot") / "3.wlcap"
    write_capture(path, crossing, CONFIG)
    assert judge(crossing, CONFIG, LIMITS).measurement is not None
    return path


def _colour_pixels(image: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    bgr = np.array(rgb[::-1], dtype=np.int16)
    return int(np.sum(np.all(np.abs(image.astype(np.int16) - bgr) <= tolerance, axis=2)))


def test_plot_draws_signals_fit_and_strips(capture: Path, tmp_path: Path) -> None:
    out = tmp_path / "crossing.png"
    result = CliRunner().invoke(wim, ["replay", str(capture), "--plot", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"plot: {out}" in result.output
    image = cv2.imread(str(out), cv2.IMREAD_COLOR)
    assert image is not None, "OpenCV cannot decode the PNG"
    height, width = image.shape[:2]
    assert width >= 800 and height >= 500
    plot_area = image[height // 8 : height * 7 // 8, width // 10 : width * 9 // 10]
    background = np.all(plot_area >= 250, axis=2)
    assert background.mean() < 0.97, "the plot area is blank"
    assert _colour_pixels(plot_area, (31, 119, 180)) > 500, "no measured signal (blue)"
    assert _colour_pixels(plot_area, (255, 127, 14)) > 200, "no fitted axle loads (orange)"
    assert _colour_pixels(plot_area, (44, 160, 44)) > 100, "no entry strip events (green)"
    assert _colour_pixels(plot_area, (214, 39, 40)) > 100, "no exit strip events (red)"


def test_json_output_names_the_plot(capture: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.png"
    result = CliRunner().invoke(wim, ["replay", str(capture), "--json", "--plot", str(out)])
    assert result.exit_code == 0
    assert '"plot":' in result.stdout and out.stat().st_size > 10_000


def test_a_missing_folder_is_a_clear_error(capture: Path, tmp_path: Path) -> None:
    out = tmp_path / "nowhere" / "c.png"
    result = CliRunner().invoke(wim, ["replay", str(capture), "--plot", str(out)])
    assert result.exit_code == 2
    assert f"the folder {out.parent} does not exist" in result.output
    assert "Traceback" not in result.output


def test_an_unknown_picture_format_is_a_clear_error(capture: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(wim, ["replay", str(capture), "--plot", str(tmp_path / "c.xyz")])
    assert result.exit_code == 1
    assert "cannot write the plot" in result.output and "xyz" in result.output


def test_plot_takes_one_capture(capture: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        wim, ["replay", str(capture), str(capture), "--plot", str(tmp_path / "c.png")]
    )
    assert result.exit_code == 2
    assert "give one capture" in result.output
