"""How a detection is scored against the true plate: shared by the detector's training and bench/plates.py."""

from __future__ import annotations

import numpy as np


def match_detection(truth: np.ndarray, quads: list[np.ndarray], taken: set[int]) -> tuple[int, float]:
    """Index of the detected quad that finds the true plate ``truth`` (4x2 corners), or -1, and its worst
    corner error as a fraction of the plate height.

    A plate is found when the detection nearest to it (worst corner error) is not already taken by
    another plate and all its corners are within half the plate's height of the true ones.
    """
    height = float(np.linalg.norm(truth[3] - truth[0]))
    errors = [float(np.abs(q - truth).max()) for q in quads]
    best = int(np.argmin(errors)) if errors else -1
    if best < 0 or best in taken or errors[best] >= max(0.5 * height, 2.0):
        return -1, float("nan")
    return best, errors[best] / max(height, 1.0)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of the upright boxes around two quads (4x2 corners each)."""
    a0, a1 = a.min(axis=0), a.max(axis=0)
    b0, b1 = b.min(axis=0), b.max(axis=0)
    inter = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None).prod()
    union = (a1 - a0).prod() + (b1 - b0).prod() - inter
    return float(inter / union) if union > 0 else 0.0
