"""Train a linear probe on PP-OCRv4's output at the province step (:mod:`edge.plates.probe`).

    python -m models.plates.train_province_probe                 # the committed head: see MODEL_CARD.md
    python -m models.plates.train_province_probe --per-province 20 --out /tmp/try   # a quick try

Why: PP-OCRv4 (``rapidocr-onnxruntime``) reads real plates far better than our reader but pulls rare
provinces to common ones on renders, at high confidence; its features come from real text, its last
layer's prior from real text's frequencies.  A softmax regression on its log-probabilities at the
province step, fitted on renders with every province equally often, is a linear probe on those
features with a flat prior.

Deterministic: every crop is drawn from its own generator ``default_rng((seed, k))`` (province
``PROVINCES[k % 31]``), so the set does not depend on ``--workers``; the fit is full-batch Adam from
zeros.  Training crops use ``--seed`` (2050, used by no other script), the validation split that chooses
the feature set and the L2 weight ``--seed`` + 1.  Single-row layouts only (PP-OCR reads double-row
plates badly and is not asked about their provinces); 30 % legible (``mild``), half with warped Chinese
glyphs (no installed font is the plate typeface).  Real crops are never read here.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.plates.grammar import PROVINCES
from edge.plates.probe import PROBE_FILE, province_step, step_features

MODEL_DIR = Path(__file__).resolve().parent
REPORT_FILE = "paddle_province_probe.train.json"
#: Single-row layouts and their shares; a province leads every plate of these.
LAYOUT_SHARES = {"blue_single": 0.35, "yellow_single": 0.35, "green_small": 0.15, "green_large": 0.15}
MILD_SHARE = 0.3
WARP_SHARE = 0.5
#: Feature sets tried on the validation split: PP-OCR's 31 province columns, those and every column in
#: PP-OCR's top 5 at the province step of some training crop, or every column.
FEATURE_SETS = ("provinces", "top5", "all")
L2_WEIGHTS = (1e-4, 1e-3, 1e-2, 1e-1)

_worker: dict[str, Any] = {}


def _init_worker() -> None:
    from edge.plates.second_opinion import PaddleRecogniser
    from models.plates.render import PlateRenderer

    _worker["renderer"] = PlateRenderer()
    _worker["paddle"] = PaddleRecogniser(threads=1)
    _worker["characters"] = _worker["paddle"].characters


def draw_crop(renderer: Any, seed: int, k: int) -> tuple[npt.NDArray[np.uint8], str, dict[str, Any]]:
    """Crop ``k`` of the set drawn with ``seed``: province ``PROVINCES[k % 31]``, a single-row layout."""
    rng = np.random.default_rng((seed, k))
    layouts = list(LAYOUT_SHARES)
    layout = layouts[int(rng.choice(len(layouts), p=list(LAYOUT_SHARES.values())))]
    text, _ = renderer.random_text(rng, layout)
    text = PROVINCES[k % len(PROVINCES)] + text[1:]
    options = {"mild": bool(rng.random() < MILD_SHARE), "warp": bool(rng.random() < WARP_SHARE)}
    crop, text, layout = renderer.crop_sample(rng, text, layout, **options)
    return crop, text, options


def _sample(job: tuple[int, int]) -> tuple[int, npt.NDArray[np.float32] | None, str]:
    """(province index, log-probabilities at the province step or None, PP-OCR's character there)."""
    seed, k = job
    crop, _, _ = draw_crop(_worker["renderer"], seed, k)
    probs = _worker["paddle"].outputs(crop)
    step = province_step(probs, _worker["characters"])
    if step is None:
        return k % len(PROVINCES), None, ""
    return (
        k % len(PROVINCES),
        step_features(probs, step),
        str(_worker["characters"][int(probs[step].argmax())]),
    )


def read_set(
    seed: int, count: int, workers: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], list[str]]:
    """Features, labels and PP-OCR's own province of ``count`` crops (those where PP-OCR emits a plate
    character; the others are dropped and counted in the report)."""
    jobs = [(seed, k) for k in range(count)]
    with mp.get_context("fork").Pool(workers, initializer=_init_worker) as pool:
        rows = pool.map(_sample, jobs, chunksize=16)
    kept = [(label, x, raw) for label, x, raw in rows if x is not None]
    features = np.stack([x for _, x, _ in kept])
    labels = np.array([label for label, _, _ in kept], dtype=np.int64)
    return features, labels, [raw for _, _, raw in kept]


def fit(
    x: npt.NDArray[np.float32], y: npt.NDArray[np.int64], l2: float, iterations: int = 600, lr: float = 0.05
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Softmax regression by full-batch Adam from zeros, its step size decayed to 0 on a half cosine (at
    a constant step Adam's per-weight steps do not shrink near the optimum, and with thousands of
    columns the logits then swing: an early version came out more confident with more L2): mean
    cross-entropy + ``l2`` / 2 * |W|^2."""
    n, f = x.shape
    classes = len(PROVINCES)
    onehot = np.eye(classes, dtype=np.float32)[y]
    w = np.zeros((f, classes), np.float32)
    b = np.zeros(classes, np.float32)
    moments = [np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)]
    for t in range(1, iterations + 1):
        logits = x @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - onehot) / n
        gw = x.T @ grad + l2 * w
        gb = grad.sum(axis=0)
        step = lr * 0.5 * (1 + np.cos(np.pi * (t - 1) / iterations))
        _adam(w, gw, moments[0], moments[1], t, step)
        _adam(b, gb, moments[2], moments[3], t, step)
    return w, b


def _adam(
    param: npt.NDArray[np.float32],
    grad: npt.NDArray[np.float32],
    first: npt.NDArray[np.float32],
    second: npt.NDArray[np.float32],
    t: int,
    lr: float,
) -> None:
    """One Adam step (betas 0.9, 0.999), in place."""
    first *= 0.9
    first += 0.1 * grad
    second *= 0.999
    second += 0.001 * grad * grad
    param -= lr * (first / (1 - 0.9**t)) / (np.sqrt(second / (1 - 0.999**t)) + 1e-8)


def _columns(kind: str, x: npt.NDArray[np.float32], characters: list[str]) -> npt.NDArray[np.int64]:
    province_columns = [characters.index(p) for p in PROVINCES]
    if kind == "provinces":
        return np.array(province_columns, dtype=np.int64)
    if kind == "top5":
        top = np.argsort(-x, axis=1)[:, :5]
        return np.array(sorted(set(province_columns) | set(top.ravel().tolist())), dtype=np.int64)
    return np.arange(x.shape[1], dtype=np.int64)


def _predict(head: dict[str, npt.NDArray[Any]], x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    z = (x[:, head["columns"]] - head["mean"]) / head["scale"]
    logits = z @ head["weights"] + head["bias"]
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def train_head(
    x: npt.NDArray[np.float32], y: npt.NDArray[np.int64], columns: npt.NDArray[np.int64], l2: float
) -> dict[str, npt.NDArray[Any]]:
    picked = x[:, columns]
    mean = picked.mean(axis=0)
    # At least 1 (a log-probability unit): a column nearly always at the floor is not blown up.
    scale = np.maximum(picked.std(axis=0), 1.0)
    weights, bias = fit((picked - mean) / scale, y, l2)
    return {"columns": columns, "mean": mean, "scale": scale, "weights": weights, "bias": bias}


def province_scores(p: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> dict[str, float]:
    """Accuracy, balanced accuracy (mean over provinces) and accuracy at >= 0.95, with its coverage."""
    predicted = p.argmax(axis=1)
    right = predicted == y
    sure = p.max(axis=1) >= 0.95
    per_class = [float(right[y == c].mean()) for c in range(len(PROVINCES)) if (y == c).any()]
    return {
        "accuracy": round(float(right.mean()), 4),
        "balanced_accuracy": round(float(np.mean(per_class)), 4),
        "sure_share": round(float(sure.mean()), 4),
        "sure_accuracy": round(float(right[sure].mean()) if sure.any() else 0.0, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-province", type=int, default=120, help="training crops per province")
    parser.add_argument("--validation-per-province", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2050)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="keep the PP-OCR features here (.npz) and reuse them (refits)",
    )
    args = parser.parse_args()

    from edge.plates.second_opinion import PaddleRecogniser

    characters = PaddleRecogniser(threads=1).characters
    started = time.monotonic()
    n_train = args.per_province * len(PROVINCES)
    n_val = args.validation_per_province * len(PROVINCES)
    if args.cache is not None and args.cache.is_file():
        with np.load(args.cache) as cached:
            x_train, y_train, x_val, y_val = (cached[k] for k in ("x_train", "y_train", "x_val", "y_val"))
            raw_val = [str(r) for r in cached["raw_val"]]
    else:
        x_train, y_train, _ = read_set(args.seed, n_train, args.workers)
        x_val, y_val, raw_val = read_set(args.seed + 1, n_val, args.workers)
        if args.cache is not None:
            np.savez(args.cache, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, raw_val=raw_val)
    print(f"read {len(y_train)} + {len(y_val)} crops in {time.monotonic() - started:.0f} s", flush=True)

    raw_right = np.array([r == PROVINCES[c] for r, c in zip(raw_val, y_val, strict=True)])
    report: dict[str, Any] = {
        "command": "python -m models.plates.train_province_probe "
        + f"--per-province {args.per_province} --validation-per-province {args.validation_per_province} "
        + f"--seed {args.seed}",
        "training_crops": n_train,
        "training_crops_with_a_plate_character": len(y_train),
        "validation_crops": n_val,
        "validation_crops_with_a_plate_character": len(y_val),
        "layouts": LAYOUT_SHARES,
        "mild_share": MILD_SHARE,
        "warp_share": WARP_SHARE,
        "validation_paddle_raw_province_accuracy": round(float(raw_right.mean()), 4),
        "choices": {},
    }
    best: tuple[float, str, float] | None = None
    heads: dict[tuple[str, float], dict[str, npt.NDArray[Any]]] = {}
    for kind in FEATURE_SETS:
        columns = _columns(kind, x_train, characters)
        for l2 in L2_WEIGHTS:
            head = train_head(x_train, y_train, columns, l2)
            scores = province_scores(_predict(head, x_val), y_val)
            report["choices"][f"{kind}/{l2:g}"] = {"columns": len(columns), **scores}
            print(f"{kind:9s} ({len(columns)} columns) l2={l2:g}: {scores}", flush=True)
            heads[(kind, l2)] = head
            key = scores["balanced_accuracy"]
            if best is None or key > best[0]:
                best = (key, kind, l2)
    assert best is not None
    _, kind, l2 = best
    head = heads[(kind, l2)]
    report["chosen"] = {
        "features": kind,
        "l2": l2,
        "by": "balanced province accuracy on the validation split",
    }
    report["seconds"] = round(time.monotonic() - started)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out / PROBE_FILE,
        columns=head["columns"].astype(np.int32),
        mean=head["mean"].astype(np.float32),
        scale=head["scale"].astype(np.float32),
        weights=head["weights"].astype(np.float32),
        bias=head["bias"].astype(np.float32),
        provinces=np.array(PROVINCES),
    )
    (args.out / REPORT_FILE).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(report["chosen"]), f"-> {args.out / PROBE_FILE}")


if __name__ == "__main__":
    main()
