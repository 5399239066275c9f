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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.errors import EdgeError
from edge.plates.ctc import Reading, decode, province_prior
from edge.plates.grammar import LAYOUTS, PROVINCES, plate_type, validate
from edge.plates.preprocess import (
    CLASSIFIER_SIZE,
    DETECTOR_SIZE,
    DETECTOR_STRIDE,
    PROVINCE_SIZE,
    RECOGNISER_SIZE,
    classifier_input,
    detector_input,
    order_corners,
    province_input,
    recogniser_input,
    rectify,
    rows_side_by_side,
    suffix_input,
    to_chw_float,
)
from edge.plates.proposals import colour_proposals
from edge.plates.reread import consensus, variants
from edge.plates.second_opinion import Opinion, PaddleRecogniser

__all__ = ["MODEL_DIR", "PlateModelError", "PlateReader", "PlateResult"]

log = logging.getLogger(__name__)

#: The shipped models, package data of ``models.plates`` (the package is installed unzipped, as pip does).
MODEL_DIR = Path(str(resources.files("models.plates")))
RECOGNISER_FILE = "plate_recogniser.onnx"
CLASSIFIER_FILE = "plate_layout.onnx"
DETECTOR_FILE = "plate_detector.onnx"
PROVINCE_FILE = "plate_province.onnx"
SUFFIX_FILE = "plate_suffix.onnx"
#: Corner offsets are predicted in units of this many detector-input pixels.
CORNER_UNIT_PX = 16.0
#: A crop smaller than this (height, width) holds no legible plate: the smallest GA 36 character is
#: 45 x 90 mm on a 440 x 140 mm plate, under 2 px wide at 8 px of plate height.
MIN_CROP_PX = (8, 16)
#: A crop whose grey levels vary less than this (standard deviation, of 255) is blank: a wall, sky, glare.
MIN_CROP_CONTRAST = 6.0
#: A reading of fewer characters than this is no plate (the shortest, a 6-character one, losing half).
MIN_READ_CHARS = 3
#: A reading is sure, and needs no second opinion, when it is grammatical, its weakest character
#: (the province, mostly) is at least this confident and the layout classifier at least this sure of
#: the number of rows (the text is read by rows; a colour between blue and black does not change it).
#: The figures were chosen before measuring (round figures), not fitted to the real crops.
SURE_CONFIDENCE = 0.9
SURE_LAYOUT = 0.9
#: PP-OCR's reading replaces an unsure one of a different text when it is grammatical for the layout
#: and PP-OCR's mean character score is at least this.
PADDLE_SURE = 0.95
#: Character-level fusion of the two readers (:func:`fuse`).  Where they read a different character at
#: the same place, a reader's character wins when it is sure of it (ours >= ``SURE_CONFIDENCE``, PP-OCR
#: >= ``PADDLE_SURE``) and the other is not; both sure of different characters, or neither: the reading is
#: uncertain.  Each reader is confidently wrong on province glyphs in its own way: ours (trained on
#: renders) on real photos, 57 of the 66 real misses of issue 15 at mostly >= 0.9; PP-OCR on rendered
#: ones, with a pull towards 皖 (the held-out renders of ``bench/plates.py --only fusion``: 藏->冀 at
#: 0.97, 桂->皖 and 琼->皖 at 1.00).  So neither overrides the other there, and a sure province of ours is
#: kept only when PP-OCR gives its different province less than this (more likely not than so).
PADDLE_DOUBT = 0.5
#: The province probe on PP-OCR's output (:mod:`edge.plates.probe`: a softmax regression on its
#: log-probabilities at the province step, fitted on renders with every province equally often) settles a
#: province both readers are sure of differently when it agrees with one of them at least this sure.
#: Otherwise the reading stays uncertain.  Fixed (as ``PADDLE_SURE``) before the real crops were read.
PROBE_SURE = 0.95
#: Test-time re-reads (:mod:`edge.plates.reread`): a place where both readers' pooled readings agree
#: counts only when their pooled confidences there sum to at least this (each reader read that character
#: there at 0.5 on average over the variants); else it stays unresolved.  A round figure, not fitted.
REREAD_AGREE = 1.0
#: How many of the re-read variants PP-OCR reads as well (the first ones of
#: :data:`edge.plates.reread.VARIANTS`); ours reads every one (6 in 5-15 ms), PP-OCR takes 25-50 ms each.
#: On the held-out renders of ``bench/plates.py --only fusion`` (300 crops, cross-check on) re-reads turned
#: 6 uncertain readings valid and right with 1 variant read by PP-OCR, 7 with 2, 6 with all 6, 0 with none
#: (ours alone), and no wrong one valid with any: 1 keeps a re-read at the cost of one more PP-OCR read.
REREAD_PADDLE = 1
#: How many of a vehicle's text groups, best voted first, :meth:`PlateReader.vehicle_result` checks with
#: PP-OCR when the frames were not cross-checked (``cross_check_frames`` off): one that fails its check
#: (PP-OCR disputes it) gives way to the next one the frames read for sure.  Each check is one PP-OCR
#: read (25-50 ms); the lane's frames read 1-2 texts for most vehicles.
VEHICLE_CHECKS = 2
#: Weak detections down to this score are looked at (and kept only when read as a plate).
PROPOSAL_MIN_SCORE = 0.05
#: A weak detection or colour rectangle is a plate when read grammatically at least this sure.
PROPOSAL_MIN_CONFIDENCE = 0.6
#: A plate whose short side is under this many pixels is found but not read: its characters are under
#: 3 px wide, where the recogniser guesses.
MIN_LEGIBLE_PLATE_PX = 16.0
#: A colour rectangle too small to read is reported (unreadable) when its grey levels spread at least
#: this much: dark characters on a yellow or green plate, white ones on blue; a plain coloured patch
#: (a sign, a light) spreads less.
SMALL_PLATE_MIN_CONTRAST = 40.0


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
    rows_confidence: float = 1.0  # the layout classifier's share for layouts of this many rows
    alternatives: tuple[str, ...] = ()  # other readings of an uncertain plate, likeliest first
    second_opinion: str | None = None  # PP-OCR's reading when it was asked
    #: PP-OCR's reading with its per-character scores, for a later re-read (:meth:`PlateReader.reread_result`)
    opinion: Opinion | None = field(default=None, repr=False, compare=False)
    #: What settled a place both readers were sure of differently, e.g. "province probe 皖 0.98"
    settled_by: str | None = None

    @property
    def status(self) -> str:
        """``valid`` (a plate the reader is sure of), ``uncertain`` (read, but not sure: never to be
        taken as the vehicle's plate without a look) or ``unreadable`` (no text: too small, blank)."""
        if not self.text:
            return "unreadable"
        return "valid" if self.valid else "uncertain"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "text": self.text,
            "color": self.color,
            "type": self.type,
            "layout": self.layout,
            "rows": self.rows,
            "confidence": round(self.confidence, 4),
            "char_confidences": [round(c, 4) for c in self.char_confidences],
            "layout_confidence": round(self.layout_confidence, 4),
            "rows_confidence": round(self.rows_confidence, 4),
            "valid": self.valid,
            "problems": list(self.problems),
            "box": None if self.box is None else [round(v, 1) for v in self.box],
            "corners": None
            if self.corners is None
            else [[round(x, 1), round(y, 1)] for x, y in self.corners],
            "detection_score": None if self.detection_score is None else round(self.detection_score, 4),
            "alternatives": list(self.alternatives),
            "second_opinion": self.second_opinion,
            "settled_by": self.settled_by,
        }


def session_options(threads: int) -> Any:
    """onnxruntime options for every plate session (PP-OCR's too): ``threads`` intra-op threads, full
    graph optimisation, and neither the CPU memory arena nor memory patterns.  The arena keeps the
    largest working set each session ever needed, and a pattern is planned and kept for every new input
    shape (the batch is the number of crops, PP-OCR's width the crop's); without them each run allocates
    what it needs and frees it.  Issue 19: 38 MiB less resident after warm-up, reading time unchanged
    (``bench/plates_memory.py``, docs/benchmarks.md)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    return options


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    if not path.is_file():
        raise PlateModelError(
            f"plate model {path} is missing: reinstall the package, or train it with"
            " `python -m models.plates.train_recogniser` / `train_detector` / `train_province [--target suffix]`"
        )
    try:
        return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
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
        proposals: bool = True,
        second_opinion: bool = True,
        cross_check: bool = True,
        fusion: bool = True,
        reread: bool = True,
        reread_paddle: int | None = None,
        reread_frames: bool = False,
        cross_check_frames: bool = True,
        province_probe: bool = True,
    ) -> None:
        """``home_province``/``home_share``: the station's own province and the share of its traffic
        expected to carry it, a prior for the province character (:func:`edge.plates.ctc.province_prior`).
        ``province``: take the province classifier's second look at the first character (False: the
        recogniser alone, for comparisons); ``suffix``: the suffix classifier's on the last character;
        ``proposals``: look at weak detections and plate-coloured rectangles too (False: the detector's
        confident plates alone, as before issue 15); ``second_opinion``: ask PP-OCR
        (:mod:`edge.plates.second_opinion`) about unsure single-row readings when it is installed (False,
        or not installed: unsure readings are reported uncertain); ``cross_check``: ask PP-OCR about
        sure single-row readings too, and report them valid only when the two readers agree or their
        character-level fusion is sure (:func:`fuse`; 15-40 ms a crop: the lane's, once per vehicle with
        ``cross_check_frames`` off.  False is the fast path, 1-3 ms a sure crop on the Xeon VM of earlier
        sittings, 3-5 ms on an AVX2-only EPYC: ``edge plate read --fast``); ``fusion``: settle a
        disagreement character by character (False: the issue 15 rule, PP-OCR's whole text or uncertain;
        for comparisons);
        ``reread``: read a reading still uncertain after the second opinion again, from a few variants of
        its crop, with both readers, and settle their pooled readings the same way
        (:meth:`reread`; needs PP-OCR); ``reread_paddle``: how many of the variants PP-OCR reads too (20-60
        ms each; ours reads all of them in a few ms; default ``REREAD_PADDLE``); ``reread_frames``: re-read
        in :meth:`read_frame` too (False: a frame's uncertain readings are left for the caller, who may
        re-read the one that matters with :meth:`reread_result`: the lane, once per vehicle, so that no
        frame pays for it); ``cross_check_frames``: cross-check sure readings in :meth:`read_frame` too
        (False: a frame's sure readings are left valid as the fast path reads them, and the caller must
        settle the one that matters with :meth:`vehicle_result`, which cross-checks it then: the lane, once
        per vehicle; crops, :meth:`read_crops`, are always cross-checked at once when ``cross_check``);
        ``province_probe``: let the province probe on PP-OCR's output settle a province both readers are
        sure of differently (``PROBE_SURE``; False: such a reading stays uncertain, for comparisons)."""
        model_dir = model_dir or MODEL_DIR
        self.min_score = min_score
        self.proposals = proposals
        self.cross_check = cross_check
        self.fusion = fusion
        self.reread_uncertain = reread
        self.reread_paddle = REREAD_PADDLE if reread_paddle is None else reread_paddle
        self.reread_frames = reread_frames
        self.cross_check_frames = cross_check_frames
        self._prior = province_prior(home_province, home_share)
        self._recogniser = _session(model_dir / RECOGNISER_FILE, threads)
        self._classifier = _session(model_dir / CLASSIFIER_FILE, threads)
        self._province = _session(model_dir / PROVINCE_FILE, threads) if province else None
        self._suffix = _session(model_dir / SUFFIX_FILE, threads) if suffix else None
        self._detector = _session(model_dir / DETECTOR_FILE, threads) if detector else None
        self._warm_up()
        self._paddle: PaddleRecogniser | None = None
        if second_opinion:
            try:
                self._paddle = PaddleRecogniser(threads, probe=province_probe)
            except ModuleNotFoundError as exc:
                log.warning("no second opinion on unsure plates (%s): they are reported uncertain", exc)

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

    def read_crops(self, crops: list[npt.NDArray[np.uint8]], settle: bool = True) -> list[PlateResult]:
        """Read plate crops (BGR uint8, roughly cut around one plate each), batched.  A crop too small
        or too blank to hold a plate is reported unreadable (empty text), never read.  ``settle``: give
        unsure readings a second opinion (:meth:`settle`); False leaves them as read."""
        reasons = [unreadable_reason(c) for c in crops]
        legible = [c for c, why in zip(crops, reasons, strict=True) if why is None]
        read = iter(self._read_legible(legible))
        results = [
            next(read) if why is None else unreadable_result(crop, why)
            for crop, why in zip(crops, reasons, strict=True)
        ]
        return self.settle(results) if settle else results

    def settle(
        self, results: list[PlateResult], reread: bool | None = None, cross_check: bool | None = None
    ) -> list[PlateResult]:
        """Sure readings as they are (with ``cross_check``, default the reader's: single-row ones are
        checked against PP-OCR, :func:`cross_checked`); every other one asked of PP-OCR (when it is
        installed; a double-row plate as its two rows side by side) and then settled by
        :func:`_second_opinion`: valid when both read the same grammatical text or their fusion is sure,
        else uncertain with the alternatives; one still uncertain is then re-read (:meth:`reread`) when
        ``reread`` (default: the reader's ``reread``)."""
        unsure = [k for k, r in enumerate(results) if r.text and _unsure_because(r)]
        checked = []
        if self.cross_check if cross_check is None else cross_check:
            checked = [
                k
                for k, r in enumerate(results)
                if r.text and r.rows == 1 and r.crop is not None and not _unsure_because(r)
            ]
        askable = [k for k in unsure if results[k].crop is not None] + checked
        opinions: dict[int, Opinion] = {}
        if self._paddle is not None and askable:
            lines = []
            for k in askable:
                crop = results[k].crop
                assert crop is not None
                lines.append(rows_side_by_side(crop) if results[k].rows == 2 else crop)
            opinions = dict(zip(askable, self._paddle.read_chars(lines), strict=True))
        settled = list(results)
        for k in unsure:
            settled[k] = _second_opinion(results[k], opinions.get(k), self.fusion)
        for k in checked:
            if k in opinions:
                settled[k] = cross_checked(results[k], opinions[k])
        for k, opinion in opinions.items():
            settled[k] = dataclasses.replace(settled[k], opinion=opinion)
        if (self.reread_uncertain if reread is None else reread) and self.fusion:
            again = [k for k in opinions if settled[k].status == "uncertain"]
            for k, result in zip(
                again, self.reread([results[k] for k in again], [opinions[k] for k in again]), strict=True
            ):
                if result is not None:
                    settled[k] = result
        return settled

    def vehicle_result(self, readings: list[PlateResult]) -> tuple[PlateResult, PlateResult] | None:
        """One vehicle's readings (a frame's best each, from every camera) voted (:func:`vote`) and the
        winner settled once for the vehicle: (the reading as its frame read it, the settled result); None
        when there are no readings.

        Settled: with ``cross_check`` on and ``cross_check_frames`` off, a sure reading no frame had
        cross-checked is cross-checked now, on its own crop (:meth:`settle`); one that comes out of it
        uncertain gives way to the next text the frames read for sure, up to ``VEHICLE_CHECKS`` texts,
        and when none passes the first one is kept, uncertain.  A reading still uncertain is then
        re-read (:meth:`reread_result`).  The voted confidence is the settled one times the text's share of
        the vote, as :func:`vote` gives it."""
        pool = list(readings)
        first: tuple[PlateResult, PlateResult] | None = None
        for _ in range(VEHICLE_CHECKS):
            group = _vote_group(pool)
            if group is None:
                break
            best, share = group
            settled = best
            if self._deferred_check(best):
                (settled,) = self.settle([best], reread=False, cross_check=True)
            settled = self.reread_result(dataclasses.replace(settled, confidence=settled.confidence * share))
            if first is None:
                first = (best, settled)
            if settled.status == "valid" or not best.valid:
                return best, settled
            pool = [r for r in pool if r.text != best.text]
            if not any(r.valid for r in pool):
                break
        return first

    def _deferred_check(self, result: PlateResult) -> bool:
        """True when ``result`` is a sure reading that was not cross-checked but should be."""
        return (
            self.cross_check
            and not self.cross_check_frames
            and self._paddle is not None
            and result.status == "valid"
            and result.second_opinion is None
            and result.crop is not None
        )

    def reread_result(self, result: PlateResult) -> PlateResult:
        """``result`` re-read (:meth:`reread`) when it is uncertain and holds its crop, and PP-OCR's
        opinion of it (asked now when it was not); the re-read result when that is valid, else ``result``
        as it was."""
        if result.status != "uncertain" or result.crop is None or self._paddle is None or not self.fusion:
            return result
        opinion = result.opinion
        if opinion is None:
            line = rows_side_by_side(result.crop) if result.rows == 2 else result.crop
            (opinion,) = self._paddle.read_chars([line])
        (again,) = self.reread([result], [opinion])
        return result if again is None else again

    def reread(self, results: list[PlateResult], opinions: list[Opinion]) -> list[PlateResult | None]:
        """Each of ``results`` (our first readings, with their crops) read again from the variants of
        its crop (:func:`edge.plates.reread.variants`) by both readers; each reader's readings, the first
        ones (``opinions``: PP-OCR's) included, pooled per place (:func:`edge.plates.reread.consensus`) and
        the two pooled readings fused as a single read is (:func:`fuse`).  The settled result when that is
        valid, with every place the readers agree on held by both at ``REREAD_AGREE`` together; else None
        (the reading stays as it was: uncertain)."""
        if self._paddle is None or not results:
            return [None] * len(results)
        looks = [variants(r.crop) if r.crop is not None else [] for r in results]
        flat = [v for vs in looks for v in vs]
        ours_all = iter(self._read_legible(flat))
        asked = [vs[: self.reread_paddle] for vs in looks]
        lines = [
            rows_side_by_side(v) if r.rows == 2 else v
            for r, vs in zip(results, asked, strict=True)
            for v in vs
        ]
        theirs_all = iter(self._paddle.read_chars(lines))
        out: list[PlateResult | None] = []
        for result, opinion, vs, some in zip(results, opinions, looks, asked, strict=True):
            ours = [next(ours_all) for _ in vs]
            theirs = [next(theirs_all) for _ in some]
            out.append(_pooled(result, opinion, ours, theirs) if vs else None)
        return out

    def _read_legible(self, crops: list[npt.NDArray[np.uint8]]) -> list[PlateResult]:
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
        results = []
        for crop, k, layout_p, probs, province in zip(
            crops, layout_index, layout_probs, probabilities, provinces, strict=True
        ):
            layout = LAYOUTS[int(k)]
            # The suffix classifier is run for a crop only when the recogniser reads a suffix last (see
            # edge.plates.ctc): nearly no plate ends in one, and it cost every crop 0.5 ms of 3.5.
            suffix = None if self._suffix is None else self._suffix_look(crop, layout.rows)
            reading: Reading = decode(probs, layout.name, self._prior, province, suffix)
            if len(reading.text) < MIN_READ_CHARS:
                results.append(
                    unreadable_result(crop, f"unreadable: only {len(reading.text)} character(s) legible")
                )
                continue
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
                    rows_confidence=float(
                        sum(
                            p for p, other in zip(layout_p, LAYOUTS, strict=True) if other.rows == layout.rows
                        )
                    ),
                    valid=not problems,
                    problems=tuple(problems),
                    crop=crop,
                )
            )
        return results

    def _suffix_look(self, crop: npt.NDArray[np.uint8], rows: int) -> Callable[[], npt.NDArray[np.float32]]:
        """A function giving the suffix classifier's probabilities for ``crop``, run when called."""

        def look() -> npt.NDArray[np.float32]:
            (probs,) = self._second_looks(self._suffix, suffix_input, [crop], [rows])
            assert probs is not None
            return probs

        return look

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
        self, frame: npt.NDArray[np.uint8], max_plates: int = 4, min_score: float | None = None
    ) -> list[tuple[npt.NDArray[np.float32], float]]:
        """Plate quadrilaterals (4x2, frame pixels, TL TR BR BL) with their scores, best first."""
        if self._detector is None:
            raise PlateModelError("this reader was created without the detector")
        image, letterbox = detector_input(frame)
        output = self._detector.run(None, {"image": to_chw_float(image[None])})[0][0]
        score = self.min_score if min_score is None else min_score
        return decode_detections(output, letterbox, score, max_plates)

    def read_frame(self, frame: npt.NDArray[np.uint8], max_plates: int = 4) -> list[PlateResult]:
        """Find and read every plate in a camera frame.

        Two proposal stages: the detector, and plate-coloured rectangles
        (:func:`edge.plates.proposals.colour_proposals`).  A detection at or above ``min_score`` is a
        plate, read as well as it can be (its status says when the reading is uncertain).  A weaker
        detection or a colour rectangle is only a place to look: it is kept when the recogniser reads a
        grammatical plate there with at least ``PROPOSAL_MIN_CONFIDENCE``, or, when it is too small to
        read (under ``MIN_LEGIBLE_PLATE_PX`` high), when it holds the contrast of characters on a plate
        colour: then it is reported unreadable, with no text.
        """
        weak = self.proposals and self.min_score > PROPOSAL_MIN_SCORE
        detections = self.detect(frame, max_plates * 2, PROPOSAL_MIN_SCORE if weak else None)
        confident = [(q, s) for q, s in detections if s >= self.min_score][:max_plates]
        looks: list[tuple[npt.NDArray[np.float32], float | None, float | None]] = []
        if self.proposals:
            looks += [(p.corners, None, p.contrast) for p in colour_proposals(frame)]
            looks += [(q, s, None) for q, s in detections if s < self.min_score]
        results = self._read_quads(frame, confident)
        # Each place is looked at once: a proposal over a plate found already, or over an earlier
        # proposal (a colour rectangle and a weak peak on the same plate), is skipped.
        taken: list[npt.NDArray[np.float32]] = [q for q, _ in confident]
        candidates = []
        for corners, score, contrast in looks:
            if not _inside_any(corners, taken):
                taken.append(corners)
                candidates.append((corners, score, contrast))
        legible = [(c, s) for c, s, _ in candidates if _short_side(c) >= MIN_LEGIBLE_PLATE_PX]
        results += [
            r for r in self._read_quads(frame, legible) if r.valid and r.confidence >= PROPOSAL_MIN_CONFIDENCE
        ]
        # A plate too small to read is reported (unreadable, the likeliest one) only when nothing was read:
        # a lane camera frames one vehicle, and small coloured patches with characters (a sign, a plate
        # two lanes away) are otherwise many.
        small = [
            (contrast, corners)
            for corners, _, contrast in candidates
            if contrast is not None
            and contrast >= SMALL_PLATE_MIN_CONTRAST
            and _short_side(corners) < MIN_LEGIBLE_PLATE_PX
        ]
        if small and not any(r.text for r in results):
            _, corners = max(small, key=lambda item: item[0])
            h = _short_side(corners)
            why = f"unreadable: the plate is {h:.0f} px high, under {MIN_LEGIBLE_PLATE_PX:g}"
            results.append(_placed(unreadable_result(rectify(frame, corners), why), corners, None))
        # A plate found by a weak proposal is shown after the sure ones; at most max_plates in all, and
        # only those get a second opinion (PP-OCR is 10-30 times slower than the reader).
        return self.settle(
            results[:max_plates],
            reread=self.reread_uncertain and self.reread_frames,
            cross_check=self.cross_check and self.cross_check_frames,
        )

    def _read_quads(
        self, frame: npt.NDArray[np.uint8], quads: Sequence[tuple[npt.NDArray[np.float32], float | None]]
    ) -> list[PlateResult]:
        # Two cuts of each plate: the perspective-rectified quadrilateral, and a loose upright box around
        # it (the recogniser was trained on loose, tilted crops too, so it forgives corner errors); the
        # better reading wins.
        crops = [cut(frame, corners) for corners, _ in quads for cut in (rectify, loose_crop)]
        readings = self.read_crops(crops, settle=False)
        results = []
        for k, (corners, score) in enumerate(quads):
            result = max(readings[2 * k : 2 * k + 2], key=lambda r: (r.valid, r.confidence))
            results.append(_placed(result, corners, score))
        return results


def _unsure_because(result: PlateResult) -> str:
    """Why a reading is not sure (empty when it is)."""
    if not result.valid:
        return "grammar: " + "; ".join(result.problems)
    if result.rows_confidence < SURE_LAYOUT:
        return f"{result.rows}-row layout at {result.rows_confidence:.2f} < {SURE_LAYOUT:g}"
    if result.confidence < SURE_CONFIDENCE:
        weakest = int(np.argmin(result.char_confidences))
        what = "province" if weakest == 0 and result.text[0] in PROVINCES else f"character {weakest + 1}"
        return f"{what} at {result.confidence:.2f} < {SURE_CONFIDENCE:g}"
    return ""


def _as_opinion(opinion: tuple[str, float] | Opinion) -> Opinion:
    if isinstance(opinion, Opinion):
        return opinion
    text, score = opinion
    return Opinion(text, score, (score,) * len(text))


def fuse(result: PlateResult, opinion: Opinion) -> tuple[str, list[int]]:
    """Our reading and PP-OCR's, of the same length, merged character by character: the fused text
    and the places where neither reader wins (see ``PADDLE_DOUBT``).  At an unresolved
    place our character is kept.  A character of PP-OCR's that GA 36 does not allow in its place (our
    reading grammatical, with it not) is no evidence against a sure one of ours."""
    fused, unresolved = [], []
    grammatical = not validate(result.text, result.layout)
    for k, (ours, theirs, ours_p, theirs_p) in enumerate(
        zip(result.text, opinion.text, result.char_confidences, opinion.chars, strict=True)
    ):
        if ours == theirs:
            fused.append(ours)
            continue
        ours_sure, theirs_sure = ours_p >= SURE_CONFIDENCE, theirs_p >= PADDLE_SURE
        province = k == 0 and ours in PROVINCES and theirs in PROVINCES
        if (
            ours_sure
            and grammatical
            and validate(result.text[:k] + theirs + result.text[k + 1 :], result.layout)
        ):
            fused.append(
                ours
            )  # GA 36 allows no such character there (挂 read as 桂, an office letter Q as 0)
        elif theirs_sure and not ours_sure:
            fused.append(theirs)
        elif ours_sure and not theirs_sure and (not province or theirs_p < PADDLE_DOUBT):
            fused.append(ours)
        elif province and ours_sure and theirs_sure and (settled := _probe_province(opinion, ours, theirs)):
            fused.append(settled)
        else:
            fused.append(ours)
            unresolved.append(k)
    return "".join(fused), unresolved


def _probe_province(opinion: Opinion, ours: str, theirs: str) -> str | None:
    """The one of two disputed provinces that the province probe is at least ``PROBE_SURE`` of, or None."""
    guess = opinion.province
    if guess is not None and guess.probability >= PROBE_SURE and guess.province in (ours, theirs):
        return guess.province
    return None


def _fused_result(result: PlateResult, opinion: Opinion, why: str) -> PlateResult:
    """``result`` settled by its fusion with ``opinion`` (same length): valid when every differing
    character was won by one reader and the fused text is grammatical, else uncertain."""
    text, unresolved = fuse(result, opinion)
    # A character both read alike takes the higher of the two scores, a won one the winner's.
    chars = tuple(
        max(ours_p, theirs_p) if ours == theirs else ours_p if a == ours else theirs_p
        for a, ours, theirs, ours_p, theirs_p in zip(
            text, result.text, opinion.text, result.char_confidences, opinion.chars, strict=True
        )
    )
    alternatives = tuple(dict.fromkeys(t for t in (result.text, opinion.text) if t and t != text))
    problems = validate(text, result.layout)
    if unresolved or problems:
        where = ", ".join(f"{k + 1}: {result.text[k]}/{opinion.text[k]}" for k in unresolved)
        disagree = f"the readers disagree on character {where}" if unresolved else "; ".join(problems)
        reason = f"{why}; {disagree}" if why else disagree
        alternatives = tuple(dict.fromkeys(t for t in (result.text, opinion.text) if t and t != result.text))
        return dataclasses.replace(_uncertain(result, reason, alternatives), second_opinion=opinion.text)
    kind = plate_type(text, result.layout)
    probe = opinion.province
    both_sure = (
        probe is not None
        and text[:1] == probe.province
        and result.text[:1] != opinion.text[:1]
        and result.char_confidences[0] >= SURE_CONFIDENCE
        and opinion.chars[0] >= PADDLE_SURE
    )
    return dataclasses.replace(
        result,
        text=text,
        type=None if kind is None else kind.value,
        confidence=min(chars),
        char_confidences=chars,
        valid=True,
        problems=(),
        alternatives=alternatives,
        second_opinion=opinion.text,
        settled_by=f"province probe {probe.province} {probe.probability:.2f}"
        if both_sure and probe
        else None,
    )


def cross_checked(result: PlateResult, opinion: Opinion) -> PlateResult:
    """A sure reading checked against PP-OCR's: kept when PP-OCR agrees, or reads a different number of
    characters (it drops 挂/学/港 and the like, or a character: no evidence against ours); otherwise
    settled character by character (:func:`fuse`)."""
    if opinion.text == result.text or len(opinion.text) != len(result.text):
        return dataclasses.replace(result, second_opinion=opinion.text)
    return _fused_result(result, opinion, "")


def _second_opinion(
    result: PlateResult, opinion: tuple[str, float] | Opinion | None, fusion: bool = True
) -> PlateResult:
    """An unsure reading settled with PP-OCR's ``opinion`` (text, score[, per-character scores]), or
    marked uncertain.  With ``fusion`` a reading of the same length is merged character by character
    (:func:`fuse`); otherwise, and for other lengths, PP-OCR's whole text is taken when it is
    grammatical at a mean score >= ``PADDLE_SURE``."""
    why = _unsure_because(result)
    if opinion is None:
        return _uncertain(result, why, ())
    opinion = _as_opinion(opinion)
    text, score = opinion.text, opinion.score
    grammatical = not validate(text, result.layout)
    if text == result.text and grammatical:
        return dataclasses.replace(result, confidence=max(result.confidence, score), second_opinion=text)
    if fusion and len(text) == len(result.text):
        return _fused_result(result, opinion, why)
    if grammatical and score >= PADDLE_SURE:
        kind = plate_type(text, result.layout)
        return dataclasses.replace(
            result,
            text=text,
            type=None if kind is None else kind.value,
            confidence=score,
            char_confidences=(score,) * len(text),
            valid=True,
            problems=(),
            alternatives=(result.text,),
            second_opinion=text,
        )
    alternatives = (text,) if text and text != result.text else ()
    return dataclasses.replace(_uncertain(result, why, alternatives), second_opinion=text)


def _pooled(
    result: PlateResult, opinion: Opinion, ours: list[PlateResult], theirs: list[Opinion]
) -> PlateResult | None:
    """``result`` settled from both readers' readings of it and of its variants (:meth:`PlateReader.reread`),
    or None when that stays uncertain."""
    length = len(result.text)
    mine = consensus(
        [(result.text, result.char_confidences)] + [(r.text, r.char_confidences) for r in ours], length
    )
    other = consensus([(opinion.text, opinion.chars)] + [(o.text, o.chars) for o in theirs], length)
    if mine is None or other is None:
        return None
    text, chars = mine
    problems = validate(text, result.layout)
    pooled = dataclasses.replace(
        result,
        text=text,
        char_confidences=chars,
        confidence=min(chars),
        valid=not problems,
        problems=tuple(problems),
    )
    pooled_opinion = Opinion(other[0], float(np.mean(other[1])), other[1])
    settled = _fused_result(pooled, pooled_opinion, "")
    if settled.status != "valid":
        return None
    if any(
        a == b and pa + pb < REREAD_AGREE
        for a, b, pa, pb in zip(text, other[0], chars, other[1], strict=True)
    ):
        return None
    alternatives = tuple(dict.fromkeys(t for t in (result.text, opinion.text) if t and t != settled.text))
    return dataclasses.replace(settled, alternatives=alternatives, second_opinion=opinion.text)


def _uncertain(result: PlateResult, why: str, alternatives: tuple[str, ...]) -> PlateResult:
    problems = result.problems if not result.valid else (f"uncertain: {why}",)
    return dataclasses.replace(result, valid=False, problems=problems, alternatives=alternatives)


def _placed(result: PlateResult, corners: npt.NDArray[np.float32], score: float | None) -> PlateResult:
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    return dataclasses.replace(
        result,
        box=(float(x0), float(y0), float(x1 - x0), float(y1 - y0)),
        corners=tuple((float(x), float(y)) for x, y in corners),
        detection_score=score,
    )


def _short_side(corners: npt.NDArray[np.float32]) -> float:
    tl, tr, br, bl = order_corners(corners)
    return float(min(np.linalg.norm(bl - tl), np.linalg.norm(br - tr), np.linalg.norm(tr - tl)))


def _inside_any(corners: npt.NDArray[np.float32], quads: list[npt.NDArray[np.float32]]) -> bool:
    """True when the centre of ``corners`` lies in one of ``quads``, or one of theirs in it."""
    centre = corners.mean(axis=0)
    for q in quads:
        if cv2.pointPolygonTest(q.reshape(-1, 1, 2), (float(centre[0]), float(centre[1])), False) >= 0:
            return True
        c = q.mean(axis=0)
        if cv2.pointPolygonTest(corners.reshape(-1, 1, 2), (float(c[0]), float(c[1])), False) >= 0:
            return True
    return False


def unreadable_reason(crop: npt.NDArray[np.uint8]) -> str | None:
    """Why ``crop`` cannot hold a legible plate, or None when it may."""
    h, w = crop.shape[:2]
    if h < MIN_CROP_PX[0] or w < MIN_CROP_PX[1]:
        return f"unreadable: the crop is {w} x {h} px, under {MIN_CROP_PX[1]} x {MIN_CROP_PX[0]}"
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop[..., :3], cv2.COLOR_BGR2GRAY)
    # OpenCV's one pass over the pixels: 10 us where np.std's three took 50 (the same figure but for the
    # last bits of a double).
    contrast = float(cv2.meanStdDev(grey)[1][0, 0])
    if contrast < MIN_CROP_CONTRAST:
        return f"unreadable: the crop is blank (grey level spread {contrast:.1f} < {MIN_CROP_CONTRAST:g})"
    return None


def unreadable_result(crop: npt.NDArray[np.uint8], why: str) -> PlateResult:
    """The result for a plate that is there (or may be) but cannot be read: no text, never valid."""
    return PlateResult(
        text="",
        color="",
        layout="",
        type=None,
        rows=0,
        confidence=0.0,
        char_confidences=(),
        layout_confidence=0.0,
        valid=False,
        problems=(why,),
        crop=crop,
        rows_confidence=0.0,
    )


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
    """The plate read across several frames (and cameras) of one vehicle: readings grouped by text, each
    group scored by the sum of its confidences (valid readings only when there are any, else those with
    a text); the best group's most confident reading is returned with its confidence multiplied by the
    group's share of the total.  Only unreadable sightings: the first of them (its crop is evidence)."""
    if not any(r.text for r in readings):
        return readings[0] if readings else None
    group = _vote_group(readings)
    assert group is not None
    best, share = group
    return dataclasses.replace(best, confidence=best.confidence * share)


def _vote_group(readings: list[PlateResult]) -> tuple[PlateResult, float] | None:
    """:func:`vote`'s winner as read (its confidence untouched) and its text's share of the vote."""
    pool = [r for r in readings if r.valid] or [r for r in readings if r.text]
    if not pool:
        return (readings[0], 1.0) if readings else None
    scores: dict[str, float] = {}
    for r in pool:
        scores[r.text] = scores.get(r.text, 0.0) + max(r.confidence, 1e-6)
    text = max(scores, key=lambda t: scores[t])
    best = max((r for r in pool if r.text == text), key=lambda r: r.confidence)
    return best, scores[text] / sum(scores.values())
