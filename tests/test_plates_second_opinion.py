"""Uncertain readings and PP-OCR's second opinion (issue 15): a reading the reader is not sure of is
never reported valid unless a second reader agrees or is itself sure of a grammatical plate."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.plates import second_opinion
from edge.plates.reader import PADDLE_SURE, PlateReader, PlateResult, _second_opinion, _unsure_because
from models.plates.render import PlateRenderer


def _result(
    text: str, chars: tuple[float, ...], valid: bool = True, rows_confidence: float = 1.0
) -> PlateResult:
    return PlateResult(
        text=text,
        color="blue",
        layout="blue_single",
        type="standard",
        rows=1,
        confidence=min(chars),
        char_confidences=chars,
        layout_confidence=rows_confidence,
        valid=valid,
        problems=() if valid else ("second character '0' is not an office letter",),
        rows_confidence=rows_confidence,
    )


def test_a_sure_reading_needs_no_second_opinion() -> None:
    assert _unsure_because(_result("皖A12345", (0.99,) * 7)) == ""
    assert "province" in _unsure_because(_result("皖A12345", (0.5,) + (0.99,) * 6))
    assert "layout" in _unsure_because(_result("皖A12345", (0.99,) * 7, rows_confidence=0.6))
    assert "grammar" in _unsure_because(_result("皖012345", (0.99,) * 7, valid=False))


def test_agreement_makes_an_unsure_reading_valid() -> None:
    settled = _second_opinion(_result("皖A12345", (0.5,) + (0.99,) * 6), ("皖A12345", 0.8))
    assert settled.status == "valid" and settled.text == "皖A12345"
    assert settled.confidence == pytest.approx(0.8)
    assert settled.second_opinion == "皖A12345"


def test_a_sure_grammatical_second_opinion_replaces_the_reading_and_keeps_ours_as_alternative() -> None:
    settled = _second_opinion(_result("粤A12345", (0.4,) + (0.99,) * 6), ("皖A12345", PADDLE_SURE + 0.01))
    assert settled.status == "valid" and settled.text == "皖A12345"
    assert settled.alternatives == ("粤A12345",)


@pytest.mark.parametrize(
    "opinion",
    [("皖A12345", PADDLE_SURE - 0.05), ("皖A1234", 0.99), ("", 0.0), None],
    ids=["unsure", "ungrammatical", "empty", "not-installed"],
)
def test_disagreement_without_a_sure_second_reader_is_uncertain(opinion: tuple[str, float] | None) -> None:
    ours = _result("粤A12345", (0.4,) + (0.99,) * 6)
    settled = _second_opinion(ours, opinion)
    assert settled.status == "uncertain" and not settled.valid
    assert settled.text == "粤A12345"
    assert any(p.startswith("uncertain: province") for p in settled.problems)
    if opinion is not None and opinion[0]:
        assert settled.alternatives == (opinion[0],)
    else:
        assert settled.alternatives == ()


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("皖A·B166M", "皖AB166M"),
        ("皖AAIR81", "皖AA1R81"),
        ("苏E：0512", "苏E0512"),
        ("浙j 2k181", "浙J2K181"),
    ],
)
def test_pp_ocr_text_is_cleaned_to_the_plate_alphabet(raw: str, clean: str) -> None:
    assert second_opinion.clean(raw) == clean


def test_pp_ocr_loads_from_the_installed_package_and_reads_a_plate() -> None:
    assert second_opinion.available(), "rapidocr-onnxruntime is a dependency: its models ship in the wheel"
    plate, _ = PlateRenderer().render("皖A12345", "blue_single", np.random.default_rng(7))
    crop = cv2.resize(plate, (188, 60), interpolation=cv2.INTER_AREA)
    ((text, score),) = second_opinion.PaddleRecogniser().read([crop])
    assert text == "皖A12345" and score > 0.9


def test_without_a_second_opinion_unsure_crops_are_never_valid() -> None:
    reader = PlateReader(detector=False, second_opinion=False)
    rng = np.random.default_rng(11)
    renderer = PlateRenderer()
    crops = [
        cv2.GaussianBlur(cv2.resize(renderer.render("皖A12345", "blue_single", rng)[0], (47, 12)), (3, 3), 0)
        for _ in range(4)
    ]
    for result in reader.read_crops(crops):
        if result.valid:
            assert not _unsure_because(result)
        else:
            assert result.status in ("uncertain", "unreadable")


def test_pp_ocr_reads_double_row_plates_as_their_rows_side_by_side() -> None:
    """PP-OCR reads text lines: a whole double-row plate gives it the bottom row only (0 of 40 legible
    synthetic plates in the issue 15 session), the rows side by side most of them (29 of 40)."""
    from edge.plates.preprocess import rows_side_by_side

    renderer = PlateRenderer()
    rng = np.random.default_rng(99)
    samples = [renderer.crop_sample(rng, layout="yellow_double", mild=True) for _ in range(10)]
    line = rows_side_by_side(samples[0][0])
    assert line.shape[0] == 48 and line.shape[1] > 2 * 48
    recogniser = second_opinion.PaddleRecogniser()
    side_by_side = recogniser.read([rows_side_by_side(crop) for crop, _, _ in samples])
    whole = recogniser.read([crop for crop, _, _ in samples])
    texts = [text for _, text, _ in samples]
    assert sum(read == t for (read, _), t in zip(side_by_side, texts, strict=True)) >= 6
    assert sum(read == t for (read, _), t in zip(whole, texts, strict=True)) <= 2
