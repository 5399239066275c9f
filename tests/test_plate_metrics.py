"""How detections are scored (models/plates/metrics.py): the rule behind the detector's recall figures."""

from __future__ import annotations

import numpy as np

from models.plates.metrics import box_iou, match_detection


def _quad(x: float, y: float, w: float, h: float) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


def test_match_needs_every_corner_within_half_the_height() -> None:
    truth = _quad(100, 100, 120, 40)
    assert match_detection(truth, [truth + 19.0], set())[0] == 0  # 19 px < 20 px
    assert match_detection(truth, [truth + 21.0], set())[0] == -1
    moved = truth.copy()
    moved[2, 0] += 25  # one corner off: not found, whatever the others do
    assert match_detection(truth, [moved], set())[0] == -1


def test_match_takes_the_nearest_and_not_one_already_taken() -> None:
    truth = _quad(100, 100, 120, 40)
    quads = [truth + 15.0, truth + 2.0]
    best, error = match_detection(truth, quads, set())
    assert best == 1 and abs(error - 2.0 / 40.0) < 1e-6
    assert match_detection(truth, quads, {1})[0] == -1  # the nearest is another plate's


def test_box_iou() -> None:
    a = _quad(0, 0, 100, 40)
    assert box_iou(a, a) == 1.0
    assert box_iou(a, _quad(200, 0, 100, 40)) == 0.0
    assert abs(box_iou(a, _quad(50, 0, 100, 40)) - 2000 / 6000) < 1e-6
    # Off by more than half the height at one corner: no match, yet the boxes still overlap well.
    off = a + np.array([0, 21], np.float32)
    assert match_detection(a, [off], set())[0] == -1 and box_iou(a, off) > 0.3
