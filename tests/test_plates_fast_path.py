"""The fast path's sure crop made cheaper (issue 15: at most 3 ms a confident crop on one core) reads
exactly as before: every reading, confidence and status of ``PlateReader.read_crop`` against a reference
read by plain onnxruntime sessions on the shipped models and decoded step by step, as the decoder did
before it was vectorised."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import pytest

from edge.plates import ctc
from edge.plates.grammar import LAYOUTS, SUFFIXES, plate_type, validate
from edge.plates.preprocess import (
    classifier_input,
    province_input,
    recogniser_input,
    suffix_input,
    to_chw_float,
)
from edge.plates.reader import (
    CLASSIFIER_FILE,
    MIN_CROP_CONTRAST,
    MIN_READ_CHARS,
    MODEL_DIR,
    PROVINCE_FILE,
    RECOGNISER_FILE,
    SUFFIX_FILE,
    SURE_CONFIDENCE,
    SURE_LAYOUT,
    PlateReader,
    unreadable_reason,
)
from models.plates.render import PlateRenderer

# -- the reference: the decoder's step-by-step loop, plain sessions -------------------------------


def _segments_by_steps(best: npt.NDArray[np.intp]) -> list[tuple[int, int]]:
    """(first step, last step) of each emitted character: the decoder's loop before it was vectorised."""
    segments: list[tuple[int, int]] = []
    previous = 0
    for step, cls in enumerate(best.tolist()):
        if cls not in (0, previous):
            segments.append((step, step))
        elif cls != 0:
            segments[-1] = (segments[-1][0], step)
        previous = cls
    return segments


def _greedy_segments_by_steps(
    best: npt.NDArray[np.intp],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    segments = _segments_by_steps(best)
    return (
        np.array([a for a, _ in segments], dtype=np.intp),
        np.array([b for _, b in segments], dtype=np.intp),
    )


def _maxima_by_steps(
    probabilities: npt.NDArray[np.float32], best: npt.NDArray[np.intp], starts: npt.NDArray[np.intp]
) -> list[float]:
    return [float(probabilities[a : b + 1, best[a]].max()) for a, b in _segments_by_steps(best)]


def _decode_by_steps(*args: Any) -> ctc.Reading:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ctc, "greedy_segments", _greedy_segments_by_steps)
        patch.setattr(ctc, "_segment_maxima", _maxima_by_steps)
        return ctc.decode(*args)


def _softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    out: npt.NDArray[np.float32] = e / e.sum(axis=-1, keepdims=True)
    return out


class _Plain:
    """The shipped models in onnxruntime sessions with the library's default options (one thread)."""

    def __init__(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.sessions = {
            name: ort.InferenceSession(str(MODEL_DIR / name), options, providers=["CPUExecutionProvider"])
            for name in (CLASSIFIER_FILE, RECOGNISER_FILE, PROVINCE_FILE, SUFFIX_FILE)
        }

    def run(self, name: str, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        (out,) = self.sessions[name].run(None, {"image": to_chw_float(image[None])})[0]
        return np.asarray(out, dtype=np.float32)

    def read(self, crop: npt.NDArray[np.uint8]) -> tuple[str, str, tuple[float, ...], str, float]:
        """(text, status, character confidences, layout, rows confidence) as the fast path read before."""
        layout_p = _softmax(self.run(CLASSIFIER_FILE, classifier_input(crop)))
        layout = LAYOUTS[int(layout_p.argmax())]
        probabilities = self.run(RECOGNISER_FILE, recogniser_input(crop, layout.rows))
        province = _softmax(self.run(PROVINCE_FILE, province_input(crop, layout.rows)))
        suffix = _softmax(self.run(SUFFIX_FILE, suffix_input(crop, layout.rows)))
        reading = _decode_by_steps(probabilities, layout.name, None, province, suffix)
        if len(reading.text) < MIN_READ_CHARS:
            return "", "unreadable", (), "", 0.0
        rows_p = float(
            sum(p for p, other in zip(layout_p, LAYOUTS, strict=True) if other.rows == layout.rows)
        )
        sure = (
            not validate(reading.text, layout.name)
            and reading.confidence >= SURE_CONFIDENCE
            and rows_p >= SURE_LAYOUT
        )
        status = "valid" if sure else "uncertain"
        return reading.text, status, reading.char_confidences, layout.name, rows_p


def _crops() -> Iterator[npt.NDArray[np.uint8]]:
    """Rendered crops: legible and fully augmented, of every layout, and plates that end in a suffix."""
    renderer = PlateRenderer()
    rng = np.random.default_rng(2615)
    for layout in LAYOUTS:
        for mild in (True, True, False):
            yield renderer.crop_sample(rng, layout=layout.name, mild=mild)[0]
    for text in ("粤Z1234港", "京A1234学", "沪A0123警", "鲁C1234挂", "沪A0023领", "粤Z5678澳") * 2:
        yield renderer.crop_sample(rng, text=text, mild=True)[0]


# -- tests ------------------------------------------------------------------------------------------


def test_fast_path_reads_as_plain_sessions_and_the_step_by_step_decoder() -> None:
    reader = PlateReader(detector=False, second_opinion=False, cross_check=False)
    plain = _Plain()
    statuses, suffixes = [], 0
    for crop in _crops():
        got = reader.read_crop(crop)
        text, status, chars, layout, rows_p = plain.read(crop)
        assert (got.text, got.status) == (text, status)
        if text:
            assert got.layout == layout
            np.testing.assert_allclose(got.char_confidences, chars, rtol=0, atol=1e-6)
            assert got.rows_confidence == pytest.approx(rows_p, abs=1e-6)
        statuses.append(status)
        suffixes += text[-1:] in SUFFIXES
    # The crops reach both statuses and the suffix classifier, so the comparison covers them.
    assert statuses.count("valid") >= 10
    assert statuses.count("uncertain") >= 1
    assert suffixes >= 6


@pytest.mark.parametrize("seed", range(4))
def test_greedy_segments_match_the_step_by_step_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cases = [np.zeros(32, np.intp), np.full(32, 5, np.intp), np.array([5, 0, 5, 5, 7, 7, 0, 0, 7], np.intp)]
    cases += [rng.choice([0, 0, 0, 1, 5, 5, 40, 72], size=int(rng.integers(1, 40))) for _ in range(300)]
    for best in cases:
        starts, ends = ctc.greedy_segments(best)
        assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == _segments_by_steps(best)
        probabilities = rng.random((len(best), 73)).astype(np.float32)
        assert ctc._segment_maxima(probabilities, best, starts) == _maxima_by_steps(
            probabilities, best, starts
        )


def test_decoder_reads_random_matrices_as_the_step_by_step_loop() -> None:
    rng = np.random.default_rng(7)
    for _ in range(400):
        steps = 32
        probabilities = rng.random((steps, 73)).astype(np.float32)
        best = rng.choice([0, 0, 0, 1, 5, 5, 40, 33, 72, 70], size=steps)
        probabilities[np.arange(steps), best] += 2.0
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        province = rng.dirichlet(np.ones(31)).astype(np.float32)
        suffix = rng.dirichlet(np.ones(8)).astype(np.float32)
        for args in (
            (probabilities, "blue_single"),
            (probabilities, "yellow_single", None, province, suffix),
        ):
            assert ctc.decode(*args) == _decode_by_steps(*args)


@pytest.mark.parametrize("shape", [(32, 128, 3), (1, 32, 64, 3), (3, 40, 32, 3)])
def test_model_inputs_are_the_scaling_formula_to_the_bit(shape: tuple[int, ...]) -> None:
    images = np.random.default_rng(3).integers(0, 256, size=shape, dtype=np.uint8)
    expected = np.ascontiguousarray(np.moveaxis(images.astype(np.float32) * (2.0 / 255.0) - 1.0, -1, -3))
    got = to_chw_float(images)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)


def _unreadable_reason_with_numpy(crop: npt.NDArray[np.uint8]) -> str | None:
    """``unreadable_reason``'s contrast test as it was, with NumPy's standard deviation."""
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop[..., :3], cv2.COLOR_BGR2GRAY)
    contrast = float(np.std(grey))
    if contrast < MIN_CROP_CONTRAST:
        return f"unreadable: the crop is blank (grey level spread {contrast:.1f} < {MIN_CROP_CONTRAST:g})"
    return None


def test_blank_crops_found_as_with_numpy() -> None:
    rng = np.random.default_rng(11)
    for spread in np.linspace(0.0, 12.0, 200):
        noise = rng.normal(128.0, spread, size=(30, 100, 3))
        crop = np.clip(noise, 0, 255).astype(np.uint8)
        assert unreadable_reason(crop) == _unreadable_reason_with_numpy(crop)
    for crop in _crops():
        assert unreadable_reason(crop) is None is _unreadable_reason_with_numpy(crop)


def test_grammar_answers_are_fresh_and_remembered() -> None:
    problems = validate("皖A1234", "blue_single")
    assert problems == ["6 characters; plates have 7 (8 for new energy)"]
    problems.append("changed by the caller")
    assert validate("皖A1234", "blue_single") == ["6 characters; plates have 7 (8 for new energy)"]
    assert validate("皖A12345", "blue_single") == []
    assert plate_type("皖A12345", "blue_single") is plate_type("皖A12345", "blue_single")
