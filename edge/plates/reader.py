"""Plate reading at run time: detector -> rectified crop -> layout classifier -> CTC recogniser, with a
province classifier's second look at the first character.

Four ONNX models trained by ``models/plates/`` and shipped in that folder.  Each onnxruntime session is
created once, pinned to one thread by default (the lane PC's other core weighs) and warmed with a dummy
input, so the first truck does not pay for graph optimisation.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.errors import EdgeError
from edge.plates.ctc import Reading, decode, province_prior
from edge.plates.grammar import LAYOUTS, plate_type, validate
from edge.plates.preprocess import (
    CLASSIFIER_SIZE,
    DETECTOR_SIZE,
    DETECTOR_STRIDE,
    PROVINCE_SIZE,
    RECOGNISER_SIZE,
    classifier_input,
    detector_input,
    province_input,
    recogniser_input,
    rectify,
    suffix_input,
    to_chw_float,
)

__all__ = ["MODEL_DIR", "PlateModelError", "PlateReader", "PlateResult"]

log = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "plates"
RECOGNISER_FILE = "plate_recogniser.onnx"
CLASSIFIER_FILE = "plate_layout.onnx"
DETECTOR_FILE = "plate_detector.onnx"
PROVINCE_FILE = "plate_province.onnx"
SUFFIX_FILE = "plate_suffix.onnx"
#: Corner offsets are predicted in units of this many detector-input pixels.
CORNER_UNIT_PX = 16.0


class PlateModelError(EdgeError, RuntimeError):
    """Raised when a plate model file is missing or cannot be loaded."""


@dataclass(frozen=True)
class PlateResult:
    text: str
    color: str
    layout: str
    type: str | None  # PlateType value, or None when the text follows no GA 36 pattern
    rows: int
    confidence: float
    char_confidences: tuple[float, ...]
    layout_confidence: float
    valid: bool
    problems: tuple[str, ...]
    box: tuple[float, float, float, float] | None = None  # x, y, width, height in the image
    corners: tuple[tuple[float, float], ...] | None = None  # TL, TR, BR, BL
    detection_score: float | None = None
    crop: npt.NDArray[np.uint8] | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "color": self.color,
            "type": self.type,
            "layout": self.layout,
            "rows": self.rows,
            "confidence": round(self.confidence, 4),
            "char_confidences": [round(c, 4) for c in self.char_confidences],
            "layout_confidence": round(self.layout_confidence, 4),
            "valid": self.valid,
            "problems": list(self.problems),
            "box": None if self.box is None else [round(v, 1) for v in self.box],
            "corners": None
            if self.corners is None
            else [[round(x, 1), round(y, 1)] for x, y in self.corners],
            "detection_score": None if self.detection_score is None else round(self.detection_score, 4),
        }


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    if not path.is_file():
        raise PlateModelError(
            f"plate model {path} is missing: reinstall the package, or train it with"
            " `python -m models.plates.train_recogniser` / `train_detector` / `train_province [--target suffix]`"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise PlateModelError(f"plate model {path} cannot be loaded ({exc}): reinstall the package") from exc


def _softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    out: npt.NDArray[np.float32] = e / e.sum(axis=-1, keepdims=True)
    return out


class PlateReader:
    """Reads plates from crops or whole frames.  Not thread-safe: one reader per thread."""

    def __init__(
        self,
        model_dir: Path | None = None,
        threads: int = 1,
        detector: bool = True,
        min_score: float = 0.35,
        home_province: str = "",
        home_share: float = 0.5,
        province: bool = True,
        suffix: bool = True,
    ) -> None:
        """``home_province``/``home_share``: the station's own province and the share of its traffic
        expected to carry it, a prior for the province character (:func:`edge.plates.ctc.province_prior`).
        ``province``: take the province classifier's second look at the first character (False: the
        recogniser alone, for comparisons); ``suffix``: the suffix classifier's on the last character."""
        model_dir = model_dir or MODEL_DIR
        self.min_score = min_score
        self._prior = province_prior(home_province, home_share)
        self._recogniser = _session(model_dir / RECOGNISER_FILE, threads)
        self._classifier = _session(model_dir / CLASSIFIER_FILE, threads)
        self._province = _session(model_dir / PROVINCE_FILE, threads) if province else None
        self._suffix = _session(model_dir / SUFFIX_FILE, threads) if suffix else None
        self._detector = _session(model_dir / DETECTOR_FILE, threads) if detector else None
        self._warm_up()

    def _warm_up(self) -> None:
        started = time.perf_counter()
        self._recogniser.run(None, {"image": np.zeros((1, 3, *RECOGNISER_SIZE), np.float32)})
        self._classifier.run(None, {"image": np.zeros((1, 3, *CLASSIFIER_SIZE), np.float32)})
        for glyph in (self._province, self._suffix):
            if glyph is not None:
                glyph.run(None, {"image": np.zeros((1, 3, *PROVINCE_SIZE), np.float32)})
        if self._detector is not None:
            self._detector.run(None, {"image": np.zeros((1, 3, *DETECTOR_SIZE), np.float32)})
        log.debug("plate models warm in %.0f ms", (time.perf_counter() - started) * 1000)

    # -- crops ------------------------------------------------------------------------------------

    def read_crops(self, crops: list[npt.NDArray[np.uint8]]) -> list[PlateResult]:
        """Read plate crops (BGR uint8, roughly cut around one plate each), batched."""
        if not crops:
            return []
        layout_probs = _softmax(
            self._classifier.run(
                None, {"image": to_chw_float(np.stack([classifier_input(c) for c in crops]))}
            )[0]
        )
        layout_index = layout_probs.argmax(axis=1)
        rows = [LAYOUTS[k].rows for k in layout_index]
        lines = np.stack([recogniser_input(c, r) for c, r in zip(crops, rows, strict=True)])
        probabilities = self._recogniser.run(None, {"image": to_chw_float(lines)})[0]
        provinces = self._second_looks(self._province, province_input, crops, rows)
        suffixes = self._second_looks(self._suffix, suffix_input, crops, rows)
        results = []
        for crop, k, layout_p, probs, province, suffix in zip(
            crops, layout_index, layout_probs, probabilities, provinces, suffixes, strict=True
        ):
            layout = LAYOUTS[int(k)]
            reading: Reading = decode(probs, layout.name, self._prior, province, suffix)
            problems = validate(reading.text, layout.name)
            kind = plate_type(reading.text, layout.name)
            results.append(
                PlateResult(
                    text=reading.text,
                    color=layout.color.value,
                    layout=layout.name,
                    type=None if kind is None else kind.value,
                    rows=layout.rows,
                    confidence=reading.confidence,
                    char_confidences=reading.char_confidences,
                    layout_confidence=float(layout_p[k]),
                    valid=not problems,
                    problems=tuple(problems),
                    crop=crop,
                )
            )
        return results

    @staticmethod
    def _second_looks(
        session: Any,
        region: Callable[[npt.NDArray[np.uint8], int], npt.NDArray[np.uint8]],
        crops: list[npt.NDArray[np.uint8]],
        rows: list[int],
    ) -> list[npt.NDArray[np.float32] | None]:
        """A glyph classifier's probabilities for each crop's region, or Nones when it is off."""
        if session is None:
            return [None] * len(crops)
        regions = np.stack([region(c, r) for c, r in zip(crops, rows, strict=True)])
        return list(_softmax(session.run(None, {"image": to_chw_float(regions)})[0]))

    def read_crop(self, crop: npt.NDArray[np.uint8]) -> PlateResult:
        return self.read_crops([crop])[0]

    # -- frames -----------------------------------------------------------------------------------

    def detect(
        self, frame: npt.NDArray[np.uint8], max_plates: int = 4
    ) -> list[tuple[npt.NDArray[np.float32], float]]:
        """Plate quadrilaterals (4x2, frame pixels, TL TR BR BL) with their scores, best first."""
        if self._detector is None:
            raise PlateModelError("this reader was created without the detector")
        image, letterbox = detector_input(frame)
        output = self._detector.run(None, {"image": to_chw_float(image[None])})[0][0]
        return decode_detections(output, letterbox, self.min_score, max_plates)

    def read_frame(self, frame: npt.NDArray[np.uint8], max_plates: int = 4) -> list[PlateResult]:
        """Find and read every plate in a camera frame."""
        detections = self.detect(frame, max_plates)
        # Two cuts of each plate: the perspective-rectified quadrilateral, and a loose upright box around
        # it (the recogniser was trained on loose, tilted crops too, so it forgives corner errors); the
        # better reading wins.
        crops = [cut(frame, corners) for corners, _ in detections for cut in (rectify, loose_crop)]
        readings = self.read_crops(crops)
        results = []
        for k, (corners, score) in enumerate(detections):
            result = max(readings[2 * k : 2 * k + 2], key=lambda r: (r.valid, r.confidence))
            x0, y0 = corners.min(axis=0)
            x1, y1 = corners.max(axis=0)
            results.append(
                dataclasses.replace(
                    result,
                    box=(float(x0), float(y0), float(x1 - x0), float(y1 - y0)),
                    corners=tuple((float(x), float(y)) for x, y in corners),
                    detection_score=score,
                )
            )
        return results


def loose_crop(
    frame: npt.NDArray[np.uint8], corners: npt.NDArray[np.float32], margin: float = 0.12
) -> npt.NDArray[np.uint8]:
    """The upright box around the quadrilateral, grown by ``margin`` of its height on every side."""
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    pad = margin * float(y1 - y0)
    h, w = frame.shape[:2]
    left, top = max(int(x0 - pad), 0), max(int(y0 - pad), 0)
    right, bottom = min(int(np.ceil(x1 + pad)), w), min(int(np.ceil(y1 + pad)), h)
    if right - left < 4 or bottom - top < 4:
        return rectify(frame, corners)
    return frame[top:bottom, left:right]


def decode_detections(
    output: npt.NDArray[np.float32], letterbox: Any, min_score: float, max_plates: int
) -> list[tuple[npt.NDArray[np.float32], float]]:
    """Peaks of the centre heat map (3x3 local maxima above ``min_score``) with their corner quads."""
    heat = 1.0 / (1.0 + np.exp(-output[0]))
    peaks = (heat >= min_score) & (heat == cv2.dilate(heat, np.ones((3, 3), np.uint8)))
    ys, xs = np.nonzero(peaks)
    order = np.argsort(-heat[ys, xs])
    found: list[tuple[npt.NDArray[np.float32], float]] = []
    for i in order:
        y, x = int(ys[i]), int(xs[i])
        cell = np.array([(x + 0.5) * DETECTOR_STRIDE, (y + 0.5) * DETECTOR_STRIDE], dtype=np.float32)
        offsets = output[1:9, y, x].reshape(4, 2) * CORNER_UNIT_PX
        corners = letterbox.to_frame(cell + offsets)
        centre = corners.mean(axis=0)
        # Suppress a second peak inside a plate already found.
        if any(
            cv2.pointPolygonTest(q.reshape(-1, 1, 2), (float(centre[0]), float(centre[1])), False) >= 0
            for q, _ in found
        ):
            continue
        found.append((corners.astype(np.float32), float(heat[y, x])))
        if len(found) >= max_plates:
            break
    return found


def vote(readings: list[PlateResult]) -> PlateResult | None:
    """The plate read across several frames of one vehicle: readings grouped by text, each group scored
    by the sum of its confidences (valid readings only when there are any); the best group's most
    confident reading is returned with its confidence raised to the group's share of the total."""
    pool = [r for r in readings if r.valid] or list(readings)
    if not pool:
        return None
    scores: dict[str, float] = {}
    for r in pool:
        scores[r.text] = scores.get(r.text, 0.0) + max(r.confidence, 1e-6)
    text = max(scores, key=lambda t: scores[t])
    best = max((r for r in pool if r.text == text), key=lambda r: r.confidence)
    share = scores[text] / sum(scores.values())
    return dataclasses.replace(best, confidence=best.confidence * share)
