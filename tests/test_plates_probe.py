"""The province probe on PP-OCR's output (issue 15, fifth sitting): the packaged head loads and reads
rendered provinces, and it settles a province both readers are sure of differently only when it is sure
of one of the two."""

from __future__ import annotations

import numpy as np
import pytest

from edge.plates import second_opinion
from edge.plates.grammar import PROVINCES
from edge.plates.probe import PROBE_FILE, ProvinceGuess, ProvinceProbe, province_step
from edge.plates.reader import MODEL_DIR, PROBE_SURE, PlateResult, cross_checked
from models.plates.render import PlateRenderer


def test_the_packaged_probe_reads_fresh_renders_of_rare_provinces() -> None:
    """Legible renders (seed 777,012: used by no training) of provinces PP-OCR alone pulls to common ones
    on renders, read through PP-OCR's output and the probe."""
    probe = ProvinceProbe(MODEL_DIR / PROBE_FILE)
    assert probe.weights.shape == (len(probe.columns), len(PROVINCES))
    paddle = second_opinion.PaddleRecogniser()
    renderer = PlateRenderer()
    rng = np.random.default_rng(777_012)
    provinces = "藏桂琼青宁甘贵蒙新黑吉闽"
    right = 0
    for province in provinces:
        crop, text, _ = renderer.crop_sample(rng, province + "A12345", "blue_single", mild=True)
        (opinion,) = paddle.read_chars([crop])
        probs = paddle.outputs(crop)
        assert province_step(probs, paddle.characters) is not None
        assert opinion.province is not None
        right += opinion.province.province == text[0]
    assert right >= 9, f"{right} of {len(provinces)}"


def _result(text: str, chars: tuple[float, ...]) -> PlateResult:
    return PlateResult(
        text=text,
        color="blue",
        layout="blue_single",
        type="standard",
        rows=1,
        confidence=min(chars),
        char_confidences=chars,
        layout_confidence=1.0,
        valid=True,
        problems=(),
    )


def _opinion(text: str, chars: tuple[float, ...], guess: ProvinceGuess | None) -> second_opinion.Opinion:
    return second_opinion.Opinion(text, sum(chars) / len(chars), chars, guess)


@pytest.mark.parametrize("winner", ["浙", "湘"])
def test_a_sure_probe_settles_a_province_both_readers_are_sure_of(winner: str) -> None:
    ours = _result("湘A12345", (0.98,) + (0.99,) * 6)
    settled = cross_checked(ours, _opinion("浙A12345", (0.97,) + (0.99,) * 6, ProvinceGuess(winner, 0.99)))
    assert settled.status == "valid" and settled.text == winner + "A12345"
    loser = "浙A12345" if winner == "湘" else "湘A12345"
    assert settled.alternatives == (loser,)
    assert settled.settled_by == f"province probe {winner} 0.99"
    assert settled.as_dict()["settled_by"] == settled.settled_by


@pytest.mark.parametrize(
    "guess", [None, ProvinceGuess("浙", PROBE_SURE - 0.01), ProvinceGuess("皖", 0.999)], ids=str
)
def test_an_unsure_probe_or_a_third_province_leaves_the_dispute_uncertain(
    guess: ProvinceGuess | None,
) -> None:
    ours = _result("湘A12345", (0.98,) + (0.99,) * 6)
    settled = cross_checked(ours, _opinion("浙A12345", (0.97,) + (0.99,) * 6, guess))
    assert settled.status == "uncertain" and settled.text == "湘A12345"
    assert settled.alternatives == ("浙A12345",)
    assert settled.settled_by is None


def test_the_probe_does_not_overrule_a_province_only_one_reader_is_sure_of() -> None:
    """The fusion's other rules stand: ours sure, PP-OCR under ``PADDLE_DOUBT``: ours, whatever the probe."""
    ours = _result("湘A12345", (0.98,) + (0.99,) * 6)
    settled = cross_checked(ours, _opinion("浙A12345", (0.3,) + (0.99,) * 6, ProvinceGuess("浙", 0.99)))
    assert settled.status == "valid" and settled.text == "湘A12345"
    assert settled.settled_by is None
