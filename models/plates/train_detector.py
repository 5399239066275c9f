"""Train the plate detector on synthetic lane-camera frames; export it to ONNX.

    python -m models.plates.train_detector --frames 600 --epochs 1 --out /tmp/try   # a quick try
    python -m models.plates.train_detector --seed 2026 --frames 6000                 # the first model
    python -m models.plates.train_detector --init models/plates/plate_detector.onnx \
        --seed 2027 --frames 4000 --epochs 2 --lr 1e-3 --small-plate-px 24           # one sitting
    # the shipped detector: the first model, then sittings with seeds 2027, 2028, 2029 (MODEL_CARD.md)

``--init`` continues from an exported detector (its batch norm folded into the convolutions) instead
of starting from scratch; the report then keeps the previous run's under ``continues``.
``--small-plate-px H`` weights the corner regression of a plate h pixels high (in the 512 x 288
input) by H / h, at most 4x: a plate counts as found only when every corner is within half its
height, so a small plate needs proportionally finer corners than a large one.

The detector is CenterNet-like: a heat map of plate centres at stride 4 and, at each centre, the offsets
of the plate's four corners (so tilted and perspective plates are cut out exactly).  Frames are 1280x720
and 1920x1080 renders from :mod:`models.plates.render`, letter-boxed as the runtime does
(:func:`edge.plates.preprocess.detector_input`).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edge.plates.preprocess import DETECTOR_SIZE, DETECTOR_STRIDE, detector_input
from edge.plates.reader import CORNER_UNIT_PX, decode_detections
from models.plates.metrics import match_detection
from models.plates.nets import Detector, folded_from_onnx
from models.plates.optim import OneCycle

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = Path(__file__).resolve().parent
FRAME_SIZES = ((1280, 720), (1920, 1080))
MAX_PLATES = 4

_worker: dict[str, Any] = {}  # the renderer of this worker process


def _render_chunk(args: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames letter-boxed to the detector input, with corners (detector-input px) and plate counts."""
    seed, count = args
    if "renderer" not in _worker:
        import cv2

        from models.plates.render import PlateRenderer

        cv2.setNumThreads(1)  # the pool already uses every core

        _worker["renderer"] = PlateRenderer()
    renderer = _worker["renderer"]
    rng = np.random.default_rng(seed)
    images = np.empty((count, *DETECTOR_SIZE, 3), np.uint8)
    corners = np.zeros((count, MAX_PLATES, 4, 2), np.float32)
    counts = np.zeros(count, np.int64)
    for i in range(count):
        size = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
        frame, plates = renderer.frame_sample(rng, size=size)
        images[i], letterbox = detector_input(frame)
        plates = plates[:MAX_PLATES]
        counts[i] = len(plates)
        for j, plate in enumerate(plates):
            corners[i, j] = letterbox.to_input(np.asarray(plate["corners"], np.float32))
    return images, corners, counts


def render_frames(
    count: int, seed: int, workers: int, chunk: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    jobs = [(seed * 1_000_003 + i, min(chunk, count - s)) for i, s in enumerate(range(0, count, chunk))]
    if workers > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_render_chunk, jobs, chunksize=1)
    else:
        parts = [_render_chunk(job) for job in jobs]
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))  # type: ignore[return-value]


def targets(
    corners: np.ndarray,
    counts: np.ndarray,
    size: tuple[int, int] = DETECTOR_SIZE,
    small_plate_px: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heat map (N, H, W) with a Gaussian per plate centre, corner offsets (N, 8, H, W) and their mask,
    for inputs of ``size`` (height, width).  The mask is each cell's weight in the corner regression:
    1, or ``small_plate_px / h`` (1 to 4) for a plate h input pixels high when ``small_plate_px`` is set."""
    n = corners.shape[0]
    out_h, out_w = size[0] // DETECTOR_STRIDE, size[1] // DETECTOR_STRIDE
    heat = np.zeros((n, out_h, out_w), np.float32)
    offsets = np.zeros((n, 8, out_h, out_w), np.float32)
    mask = np.zeros((n, 1, out_h, out_w), np.float32)
    ys, xs = np.mgrid[0:out_h, 0:out_w]
    for i in range(n):
        for j in range(counts[i]):
            quad = corners[i, j]
            centre = quad.mean(axis=0) / DETECTOR_STRIDE - 0.5
            if not (0 <= centre[0] < out_w - 0.5 and 0 <= centre[1] < out_h - 0.5):
                continue  # its centre is outside this input: nothing to learn here
            width = np.linalg.norm(quad[1] - quad[0]) / DETECTOR_STRIDE
            height = np.linalg.norm(quad[3] - quad[0]) / DETECTOR_STRIDE
            weight = (
                float(np.clip(small_plate_px / max(height * DETECTOR_STRIDE, 1e-3), 1.0, 4.0))
                if small_plate_px > 0
                else 1.0
            )
            sigma_x, sigma_y = max(width / 6, 0.8), max(height / 6, 0.6)
            gauss = np.exp(
                -((xs - centre[0]) ** 2 / (2 * sigma_x**2) + (ys - centre[1]) ** 2 / (2 * sigma_y**2))
            )
            heat[i] = np.maximum(heat[i], gauss)
            cx, cy = round(centre[0]), round(centre[1])
            # Offsets are learned on the cells around the centre, so a peak one cell off still cuts well.
            for y in range(cy - 1, cy + 2):
                for x in range(cx - 1, cx + 2):
                    if 0 <= y < out_h and 0 <= x < out_w:
                        cell = np.array([(x + 0.5) * DETECTOR_STRIDE, (y + 0.5) * DETECTOR_STRIDE])
                        offsets[i, :, y, x] = ((quad - cell) / CORNER_UNIT_PX).reshape(8)
                        mask[i, 0, y, x] = weight
            if 0 <= cy < out_h and 0 <= cx < out_w:
                heat[i, cy, cx] = 1.0
    return heat, offsets, mask


def focal_loss(logits: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss on the centre heat map."""
    p = logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    positive = heat.eq(1.0).float()
    negative_weight = (1 - heat) ** 4
    pos_loss = -(torch.log(p) * (1 - p) ** 2 * positive).sum()
    neg_loss = -(torch.log(1 - p) * p**2 * negative_weight * (1 - positive)).sum()
    return (pos_loss + neg_loss) / positive.sum().clamp(min=1.0)


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).float().mul_(2.0 / 255.0).sub_(1.0).permute(0, 3, 1, 2).contiguous()


class _Identity:
    scale, pad_x, pad_y = 1.0, 0, 0

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        return points


def evaluate(
    model: nn.Module, images: np.ndarray, corners: np.ndarray, counts: np.ndarray
) -> dict[str, float]:
    """Recall (a true plate matched by a detection whose corners are all within half the plate's height
    of the true ones), false detections per frame, and the matched corner error."""
    model.eval()
    found = missed = false = 0
    corner_errors = []
    with torch.no_grad():
        for s in range(0, len(images), 32):
            outputs = model(_to_tensor(images[s : s + 32])).numpy()
            for k, output in enumerate(outputs):
                i = s + k
                detections = decode_detections(output, _Identity(), 0.35, MAX_PLATES)
                used = set()
                for j in range(counts[i]):
                    best, error = match_detection(corners[i, j], [q for q, _ in detections], used)
                    if best >= 0:
                        used.add(best)
                        found += 1
                        corner_errors.append(error)
                    else:
                        missed += 1
                false += len(detections) - len(used)
    plates = found + missed
    return {
        "plates": plates,
        "recall": found / plates if plates else math.nan,
        "false_per_frame": false / len(images),
        "corner_error_p95_of_height": float(np.percentile(corner_errors, 95)) if corner_errors else math.nan,
    }


def train(args: argparse.Namespace) -> dict[str, object]:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)
    started = time.monotonic()
    cache = ROOT / "var" / "train" / f"frames-{args.frames}-{args.seed}.npz"
    if cache.exists():
        data = np.load(cache)
        images, corners, counts = data["images"], data["corners"], data["counts"]
    else:
        images, corners, counts = render_frames(args.frames, args.seed, args.workers)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, images=images, corners=corners, counts=counts)
    val_images, val_corners, val_counts = render_frames(args.validation, args.seed + 10_000, args.workers)
    print(
        f"rendered {len(images)} + {len(val_images)} frames in {time.monotonic() - started:.0f} s", flush=True
    )
    heat, offsets, mask = (
        torch.from_numpy(a) for a in targets(corners, counts, small_plate_px=args.small_plate_px)
    )

    model = Detector() if args.init is None else folded_from_onnx(Detector(), args.init)
    previous = None
    if args.init is not None:
        report_path = args.init.with_name("plate_detector.train.json")
        previous = json.loads(report_path.read_text()) if report_path.exists() else None
        before = evaluate(model, val_images, val_corners, val_counts)
        print(f"continuing from {args.init}: {before}", flush=True)
    steps_per_epoch = math.ceil(len(images) / args.batch)
    optimiser = OneCycle(model.parameters(), args.lr, args.epochs * steps_per_epoch, pct_start=0.1, clip=10.0)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for step in range(steps_per_epoch):
            index = order[step * args.batch : (step + 1) * args.batch]
            x = _to_tensor(images[index.numpy()])
            if torch.rand(1, generator=generator).item() < 0.3:
                x = x[:, torch.randperm(3, generator=generator)]
            output = model(x)
            m = mask[index]
            regression = (
                nn.functional.smooth_l1_loss(output[:, 1:], offsets[index], reduction="none", beta=0.1) * m
            ).sum()
            loss = focal_loss(output[:, 0], heat[index]) + regression / m.sum().clamp(min=1.0)
            optimiser.step(loss)
            total += float(loss.detach())
            if step % 50 == 0:
                print(
                    f"epoch {epoch + 1} step {step}/{steps_per_epoch} loss {total / (step + 1):.4f}",
                    flush=True,
                )
        metrics = evaluate(model, val_images, val_corners, val_counts)
        print(f"epoch {epoch + 1}/{args.epochs}: {metrics}, {time.monotonic() - started:.0f} s", flush=True)
    metrics = evaluate(model, val_images, val_corners, val_counts)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "plate_detector.onnx"
    model.eval()
    torch.onnx.export(
        model,
        torch.zeros(1, 3, *DETECTOR_SIZE),
        str(path),
        input_names=["image"],
        output_names=["maps"],
        dynamic_axes={"image": {0: "batch"}, "maps": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    report = {
        "seed": args.seed,
        "frames": args.frames,
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "small_plate_px": args.small_plate_px,
        "threads": args.threads,
        "wall_time_s": round(time.monotonic() - started, 1),
        "validation_frames": args.validation,
        **metrics,
        "torch": torch.__version__,
    }
    if args.init is not None:
        report["continues"] = previous
    (args.out / "plate_detector.train.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    print(json.dumps(report, indent=2))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=6000)
    parser.add_argument("--validation", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--init", type=Path, default=None, help="continue from this exported detector")
    parser.add_argument(
        "--small-plate-px",
        type=float,
        default=0.0,
        help="weight small plates' corner regression by this height (input px) / theirs, at most 4x",
    )
    train(parser.parse_args())


if __name__ == "__main__":
    main()
