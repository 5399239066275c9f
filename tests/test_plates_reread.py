"""Test-time re-reads of uncertain plates (issue 15, third sitting): a reading the two readers could not
settle is read again from variants of its crop, and becomes valid only when the pooled readings settle."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from edge.config import PlatesConfig
from edge.plates.camera import Frame
from edge.plates.lane import LanePlates
from edge.plates.reader import REREAD_AGREE, PlateReader, PlateResult, _pooled
from edge.plates.reread import VARIANTS, consensus, variants
from edge.plates.second_opinion import Opinion
from models.plates.render import PlateRenderer


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


def _opinion(text: str, chars: tuple[float, ...]) -> Opinion:
    return Opinion(text, sum(chars) / len(chars), chars)


def _legible(text: str, seed: int) -> npt.NDArray[np.uint8]:
    crop, drawn, _ = PlateRenderer().crop_sample(
        np.random.default_rng(seed), text=text, layout="blue_single", mild=True
    )
    assert drawn == text
    return crop


def test_variants_keep_the_crop_size_and_change_its_pixels() -> None:
    crop = _legible("皖A12345", 3)
    looks = variants(crop)
    assert len(looks) == len(VARIANTS)
    for look in looks:
        assert look.shape == crop.shape and look.dtype == np.uint8
        assert np.abs(look.astype(int) - crop.astype(int)).mean() > 1.0
    (same,) = variants(crop, [(1.0, 0.0, 0.0, 1.0)])
    assert np.array_equal(same, crop)
    # A brighter tone curve (gamma < 1) raises the mean grey level, a darker one lowers it.
    bright, dark = variants(crop, [(1.0, 0.0, 0.0, 0.7), (1.0, 0.0, 0.0, 1.4)])
    assert bright.mean() > crop.mean() > dark.mean()


def test_consensus_averages_each_place_over_every_reading() -> None:
    pooled = consensus(
        [
            ("湘A12345", (0.98,) + (1.0,) * 6),
            ("浙A12345", (0.9,) + (1.0,) * 6),
            ("浙A12345", (0.9,) + (1.0,) * 6),
        ],
        7,
    )
    assert pooled is not None
    text, chars = pooled
    assert text == "浙A12345"
    assert chars[0] == pytest.approx(0.6) and chars[1] == pytest.approx(1.0)


def test_a_reading_of_another_length_lowers_every_place() -> None:
    pooled = consensus([("皖A12345", (1.0,) * 7), ("A12345", (1.0,) * 6)], 7)
    assert pooled == ("皖A12345", (0.5,) * 7)
    assert consensus([("A12345", (1.0,) * 6)], 7) is None


def test_an_unstable_sure_province_of_ours_gives_way_to_a_stable_sure_one_of_pp_ocr() -> None:
    """Ours read 湘 at 0.98 once, then 浙 in most variants; PP-OCR read 浙 every time at 0.99."""
    ours = _result("湘A12345", (0.98,) + (0.99,) * 6)
    again = [_result("浙A12345", (0.9,) + (0.99,) * 6)] * 5 + [_result("湘A12345", (0.95,) + (0.99,) * 6)]
    theirs = [_opinion("浙A12345", (0.99,) * 7)] * 2
    settled = _pooled(ours, _opinion("浙A12345", (0.99,) * 7), again, theirs)
    assert settled is not None and settled.status == "valid" and settled.text == "浙A12345"
    assert "湘A12345" in settled.alternatives


def test_two_readers_each_stable_on_another_province_stay_uncertain() -> None:
    ours = _result("湘A12345", (0.98,) + (0.99,) * 6)
    again = [ours] * 6
    theirs = [_opinion("浙A12345", (0.99,) * 7)] * 2
    assert _pooled(ours, _opinion("浙A12345", (0.99,) * 7), again, theirs) is None


def test_agreement_by_a_thin_vote_is_not_enough() -> None:
    """Both readers' likeliest province is 浙, but each read it in few of the looks."""
    ours = _result("浙A12345", (0.7,) + (0.99,) * 6)
    again = [_result(p + "A12345", (0.6,) + (0.99,) * 6) for p in "湘苏沪鄂赣闽"]
    opinion = _opinion("浙A12345", (0.9,) + (0.99,) * 6)
    theirs = [_opinion("皖A12345", (0.5,) + (0.99,) * 6), _opinion("苏A12345", (0.5,) + (0.99,) * 6)]
    pooled_ours = consensus([(r.text, r.char_confidences) for r in [ours, *again]], 7)
    assert pooled_ours is not None and pooled_ours[0][0] == "浙"  # 浙 leads, read in 1 of the 7 looks
    assert pooled_ours[1][0] + 0.9 / 3 < REREAD_AGREE
    assert _pooled(ours, opinion, again, theirs) is None


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader(detector=False)


def test_a_one_off_province_misread_is_outvoted_by_the_re_reads(reader: PlateReader) -> None:
    """A rendered plate whose first reading we swap for a confident wrong province (as ours reads some real
    photos): the variants, read by both readers, put it right or leave it uncertain, never valid and
    wrong."""
    right = 0
    for k, text in enumerate(["浙A3B215", "苏E12345", "粤B88C61"]):
        crop = _legible(text, 90 + k)
        (first,) = reader.read_crops([crop], settle=False)
        assert first.text == text
        confused = dataclasses.replace(
            first, text="湘" + text[1:], char_confidences=(0.97, *first.char_confidences[1:])
        )
        assert reader._paddle is not None
        (opinion,) = reader._paddle.read_chars([crop])
        (settled,) = reader.reread([confused], [opinion])
        assert settled is None or settled.text == text, settled.as_dict()
        right += settled is not None and settled.status == "valid"
    assert right >= 2


def test_without_pp_ocr_there_is_no_re_read() -> None:
    alone = PlateReader(detector=False, second_opinion=False)
    crop = _legible("皖A12345", 7)
    (first,) = alone.read_crops([crop], settle=False)
    assert alone.reread([first], [_opinion(first.text, first.char_confidences)]) == [None]


def test_settle_re_reads_only_what_stays_uncertain(
    reader: PlateReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sure reading PP-OCR agrees with is not re-read; one the readers dispute (two sure provinces) is,
    and takes the re-read's result when there is one."""
    asked: list[str] = []
    real = reader.reread

    def spy(results: list[PlateResult], opinions: list[Opinion]) -> list[PlateResult | None]:
        asked.extend(r.text for r in results)
        return real(results, opinions)

    monkeypatch.setattr(reader, "reread", spy)
    crop = _legible("苏E12345", 91)
    (first,) = reader.read_crops([crop], settle=False)
    assert first.text == "苏E12345"
    (settled,) = reader.settle([first])
    assert settled.status == "valid" and asked == []
    confused = dataclasses.replace(
        first, text="湘E12345", char_confidences=(0.99, *first.char_confidences[1:])
    )
    (settled,) = reader.settle([confused])
    assert asked == ["湘E12345"]
    assert settled.text == "苏E12345" or settled.status == "uncertain", settled.as_dict()
    off = PlateReader(detector=False, reread=False)
    (kept,) = off.settle([confused])
    assert kept.status == "uncertain" and kept.text == "湘E12345"


def _held_back(reader: PlateReader, text: str, seed: int) -> tuple[npt.NDArray[np.uint8], PlateResult]:
    """A rendered plate whose first reading has a sure wrong province, settled without a re-read: the
    readers dispute it, so it is uncertain (PP-OCR's opinion kept with it)."""
    crop = _legible(text, seed)
    (first,) = reader.read_crops([crop], settle=False)
    assert first.text == text
    confused = dataclasses.replace(
        first, text="湘" + text[1:], char_confidences=(0.99, *first.char_confidences[1:])
    )
    (held,) = reader.settle([confused], reread=False)
    assert held.status == "uncertain" and held.opinion is not None
    return crop, held


def test_reread_result_settles_a_held_back_reading_once(reader: PlateReader) -> None:
    _, held = _held_back(reader, "苏E12345", 91)
    again = reader.reread_result(held)
    assert again.text == "苏E12345" and again.status == "valid", again.as_dict()
    assert "湘E12345" in again.alternatives
    # Without PP-OCR's opinion kept, it is asked now; a valid reading is returned as it is.
    assert reader.reread_result(dataclasses.replace(held, opinion=None)).text == "苏E12345"
    assert reader.reread_result(again) is again


def test_frames_are_not_re_read_unless_asked(reader: PlateReader, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lane's reader leaves a frame's uncertain readings for the one re-read per vehicle."""
    asked: list[bool | None] = []
    checked: list[bool | None] = []
    real = PlateReader.settle

    def spy(
        self: PlateReader,
        results: list[PlateResult],
        reread: bool | None = None,
        cross_check: bool | None = None,
    ) -> list[PlateResult]:
        asked.append(reread)
        checked.append(cross_check)
        return real(self, results, reread, cross_check)

    monkeypatch.setattr(PlateReader, "settle", spy)
    frame, _ = PlateRenderer().frame_sample(np.random.default_rng(4), size=(1280, 720))
    framed = PlateReader(detector=True)
    framed.read_frame(frame)
    assert asked[-1] is False and checked[-1] is True
    PlateReader(detector=True, reread_frames=True).read_frame(frame)
    assert asked[-1] is True
    # The lane's reader (edge.plates.lane.reader_for) cross-checks a frame's sure readings no more.
    PlateReader(detector=True, cross_check_frames=False).read_frame(frame)
    assert checked[-1] is False


def test_the_lane_re_reads_the_vehicle_reading_no_frame_was_sure_of(
    reader: PlateReader, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    crop, held = _held_back(reader, "苏E12345", 91)
    lane = LanePlates(PlatesConfig(enabled=True, camera=str(tmp_path)))
    lane.reader = reader
    monkeypatch.setattr(reader, "read_frame", lambda image, max_plates=4: [held])
    frames = [("front", Frame.from_image(float(k), crop, f"f{k}.jpg")) for k in range(2)]
    evidence = lane._read_frames(frames)
    assert [s.status for s in evidence.sightings] == ["uncertain", "uncertain"]  # each frame as read
    assert evidence.result is not None
    assert evidence.result.text == "苏E12345" and evidence.result.status == "valid", evidence.result.as_dict()
    assert evidence.camera == "front"
