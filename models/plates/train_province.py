"""Train the province classifier: a second, closer look at a plate's first character; export it to ONNX.
With ``--target suffix``, the suffix classifier: the same look at the last character (挂学警港澳领 or none).
With ``--target layout``, another sitting of the layout classifier (colour and rows, the whole crop), which
``train_recogniser`` first trains beside the recogniser; it ships in float (``plate_layout.onnx``).

    python -m models.plates.train_province                   # the committed model: see MODEL_CARD.md
    python -m models.plates.train_province --target suffix --seed 2042   # the suffix classifier
    python -m models.plates.train_province --samples 20000 --epochs 1 --out /tmp/try   # a quick try
    python -m models.plates.train_province --init models/plates/plate_province.fp32.onnx --seed 2036 --lr 1e-3
                                                             # another sitting, continuing the export
    python -m models.plates.train_province --target layout --init models/plates/plate_layout.onnx --seed 2045

Why: on legible synthetic blue plates of one province (皖), the CTC recogniser read the province
character wrong in about one plate in ten, and most of its misreads of the real crops are that
character.  This network reads only the region around it (:func:`edge.plates.preprocess.province_input`)
and the reader combines the two (:func:`edge.plates.ctc.decode`).

The crops are rendered here (no download); ``--warp-share`` of them have their Chinese characters warped
(``PlateRenderer.crop_sample(warp=True)``), because no installed font is the plate typeface.  Real crops
are read only by the benchmark, never here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge.plates.grammar import PROVINCES, SUFFIXES
from edge.plates.preprocess import CLASSIFIER_SIZE, PROVINCE_SIZE
from models.plates.dataset import CropSet, render_crops
from models.plates.nets import LayoutClassifier, ProvinceClassifier, SuffixClassifier, folded_from_onnx
from models.plates.optim import OneCycle
from models.plates.quantize_recogniser import GLYPH_FILES, quantize
from models.plates.train_recogniser import MODEL_DIR, _export, _jitter, _to_tensor

#: The label of a crop that a classifier does not learn from: an embassy plate (使 first) has no province.
IGNORE = -100  # nn.CrossEntropyLoss's ignore_index


def province_labels(crops: CropSet) -> np.ndarray:
    """Index into ``PROVINCES`` of each crop's first character; ``IGNORE`` for an embassy plate."""
    return np.array(
        [PROVINCES.index(text[0]) if text[0] in PROVINCES else IGNORE for text in crops.texts], dtype=np.int64
    )


def suffix_labels(crops: CropSet) -> np.ndarray:
    """Index into ``SUFFIXES`` of each crop's last character, ``len(SUFFIXES)`` when it is none of them."""
    return np.array(
        [SUFFIXES.index(t[-1]) if t[-1] in SUFFIXES else len(SUFFIXES) for t in crops.texts], dtype=np.int64
    )


def layout_labels(crops: CropSet) -> np.ndarray:
    """Index into ``LAYOUTS`` of each crop's layout."""
    return crops.layouts.astype(np.int64)


@dataclass(frozen=True)
class _Task:
    """What one ``--target`` trains: its network, labels and inputs, the input size, and its files (float,
    int8 or None when the lane runs the float file, training report)."""

    network: type[nn.Module]
    labels: Callable[[CropSet], np.ndarray]
    inputs: Callable[[CropSet], np.ndarray]
    size: tuple[int, int]
    files: tuple[str, str | None, str]


_TASKS = {
    "province": _Task(
        ProvinceClassifier, province_labels, lambda c: c.province, PROVINCE_SIZE, GLYPH_FILES["province"]
    ),
    "suffix": _Task(
        SuffixClassifier, suffix_labels, lambda c: c.suffix, PROVINCE_SIZE, GLYPH_FILES["suffix"]
    ),
    # Shipped in float; its first run is in plate_recogniser.train.json (held_out_layout_accuracy).
    "layout": _Task(
        LayoutClassifier,
        layout_labels,
        lambda c: c.classifier,
        CLASSIFIER_SIZE,
        ("plate_layout.onnx", None, "plate_layout.train.json"),
    ),
}


def accuracy(model: nn.Module, crops: CropSet, target: str = "province") -> float:
    task = _TASKS[target]
    model.eval()
    with torch.no_grad():
        x = task.inputs(crops)
        predicted = torch.cat(
            [model(_to_tensor(x[s : s + 1024])).argmax(1) for s in range(0, len(crops), 1024)]
        )
    truth = task.labels(crops)
    counted = truth != IGNORE
    return float((predicted.numpy()[counted] == truth[counted]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", choices=tuple(_TASKS), default="province")
    parser.add_argument("--samples", type=int, default=160_000, help="rendered training crops")
    parser.add_argument("--validation", type=int, default=8_000, help="held-out synthetic crops")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=2035)
    parser.add_argument("--warp-share", type=float, default=0.5)
    parser.add_argument(
        "--extra-fonts",
        action="store_true",
        help="draw Chinese characters from more fonts too (needs fonts-noto-cjk-extra fonts-smiley-sans)",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="rendering processes")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument(
        "--init", type=Path, default=None, help="continue from this exported float model (batch norm folded)"
    )
    args = parser.parse_args()
    if not 0.0 <= args.warp_share <= 1.0:
        parser.error(f"--warp-share must be between 0 and 1, not {args.warp_share}")

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)
    started = time.monotonic()
    train_set = render_crops(
        args.samples, args.seed, args.workers, warp_share=args.warp_share, extra_fonts=args.extra_fonts
    )
    # The shipped recogniser's held-out seed (its training seed 2030 + 10,000), fully augmented and legible.
    held_out = render_crops(args.validation, 12_030, args.workers)
    held_out_mild = render_crops(args.validation, 12_030, args.workers, mild_share=1.0)
    print(f"rendered in {time.monotonic() - started:.0f} s", flush=True)

    task = _TASKS[args.target]
    float_file, int8_file, report_file = task.files
    model = task.network()
    previous = None  # the report of the run this one continues
    if args.init is not None:
        model = folded_from_onnx(model, args.init)
        report_path = args.init.parent / report_file
        previous = (
            json.loads(report_path.read_text())
            if report_path.is_file()
            else {"trained_by": "train_recogniser, beside the recogniser (plate_recogniser.train.json)"}
        )
        print(
            f"continuing from {args.init}: held-out {args.target} accuracy"
            f" {accuracy(model, held_out, args.target):.2%}"
            f" (legible {accuracy(model, held_out_mild, args.target):.2%})",
            flush=True,
        )
    steps = math.ceil(len(train_set) / args.batch)
    optimiser = OneCycle(model.parameters(), args.lr, args.epochs * steps, pct_start=0.15)
    xent = nn.CrossEntropyLoss(label_smoothing=0.05, ignore_index=IGNORE)
    labels = torch.from_numpy(task.labels(train_set))
    train_inputs = task.inputs(train_set)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_set), generator=generator)
        total = 0.0
        for step in range(steps):
            index = order[step * args.batch : (step + 1) * args.batch]
            x = _jitter(_to_tensor(train_inputs[index.numpy()]), generator)
            loss = xent(model(x), labels[index])
            optimiser.step(loss)
            total += float(loss.detach())
            if step % 200 == 0:
                print(f"epoch {epoch + 1} step {step}/{steps} loss {total / (step + 1):.4f}", flush=True)
        print(
            f"epoch {epoch + 1}/{args.epochs}: held-out {args.target} accuracy"
            f" {accuracy(model, held_out, args.target):.2%}"
            f" (legible {accuracy(model, held_out_mild, args.target):.2%}), {time.monotonic() - started:.0f} s",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    _export(model, (1, 3, *task.size), args.out / float_file, "logits")
    report = {
        "target": args.target,
        "seed": args.seed,
        "samples": args.samples,
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "warp_share": args.warp_share,
        "extra_fonts": args.extra_fonts,
        "threads": args.threads,
        "wall_time_s": round(time.monotonic() - started, 1),
        "held_out": len(held_out),
        f"held_out_{args.target}_accuracy": accuracy(model, held_out, args.target),
        f"held_out_legible_{args.target}_accuracy": accuracy(model, held_out_mild, args.target),
        "torch": torch.__version__,
    }
    if previous is not None:
        report["continues"] = previous  # the run this one started from
    (args.out / report_file).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report, indent=2, ensure_ascii=False))
    # The lane runs the glyph classifiers' int8 copies.  Last, so that a failure here keeps the float model
    # and the report: run `python -m models.plates.quantize_recogniser --glyph TARGET --model-dir DIR` again.
    if int8_file is not None:
        quantize(args.out, workers=args.workers, glyph=args.target)


if __name__ == "__main__":
    main()
