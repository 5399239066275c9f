"""Train the province classifier: a second, closer look at a plate's first character; export it to ONNX.

    python -m models.plates.train_province                   # the committed model: see MODEL_CARD.md
    python -m models.plates.train_province --samples 20000 --epochs 1 --out /tmp/try   # a quick try
    python -m models.plates.train_province --init models/plates/plate_province.fp32.onnx --seed 2036 --lr 1e-3
                                                             # another sitting, continuing the export

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
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge.plates.grammar import PROVINCES
from edge.plates.preprocess import PROVINCE_SIZE
from models.plates.dataset import CropSet, render_crops
from models.plates.nets import ProvinceClassifier, folded_from_onnx
from models.plates.optim import OneCycle
from models.plates.quantize_recogniser import PROVINCE_FLOAT_FILE, quantize
from models.plates.train_recogniser import MODEL_DIR, _export, _jitter, _to_tensor


def province_labels(crops: CropSet) -> np.ndarray:
    """Index into ``PROVINCES`` of each crop's first character."""
    return np.array([PROVINCES.index(text[0]) for text in crops.texts], dtype=np.int64)


def accuracy(model: nn.Module, crops: CropSet) -> float:
    model.eval()
    with torch.no_grad():
        predicted = torch.cat(
            [model(_to_tensor(crops.province[s : s + 1024])).argmax(1) for s in range(0, len(crops), 1024)]
        )
    return float((predicted.numpy() == province_labels(crops)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
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

    model = ProvinceClassifier()
    previous = None  # the report of the run this one continues
    if args.init is not None:
        model = folded_from_onnx(model, args.init)
        previous = json.loads((args.init.parent / "plate_province.train.json").read_text())
        print(
            f"continuing from {args.init}: held-out province accuracy {accuracy(model, held_out):.2%}"
            f" (legible {accuracy(model, held_out_mild):.2%})",
            flush=True,
        )
    steps = math.ceil(len(train_set) / args.batch)
    optimiser = OneCycle(model.parameters(), args.lr, args.epochs * steps, pct_start=0.15)
    xent = nn.CrossEntropyLoss(label_smoothing=0.05)
    labels = torch.from_numpy(province_labels(train_set))
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_set), generator=generator)
        total = 0.0
        for step in range(steps):
            index = order[step * args.batch : (step + 1) * args.batch]
            x = _jitter(_to_tensor(train_set.province[index.numpy()]), generator)
            loss = xent(model(x), labels[index])
            optimiser.step(loss)
            total += float(loss.detach())
            if step % 200 == 0:
                print(f"epoch {epoch + 1} step {step}/{steps} loss {total / (step + 1):.4f}", flush=True)
        print(
            f"epoch {epoch + 1}/{args.epochs}: held-out province accuracy {accuracy(model, held_out):.2%}"
            f" (legible {accuracy(model, held_out_mild):.2%}), {time.monotonic() - started:.0f} s",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    _export(model, (1, 3, *PROVINCE_SIZE), args.out / PROVINCE_FLOAT_FILE, "logits")
    report = {
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
        "held_out_province_accuracy": accuracy(model, held_out),
        "held_out_legible_province_accuracy": accuracy(model, held_out_mild),
        "torch": torch.__version__,
    }
    if previous is not None:
        report["continues"] = previous  # the run this one started from
    (args.out / "plate_province.train.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    )
    print(json.dumps(report, indent=2, ensure_ascii=False))
    # The lane runs the int8 copy, plate_province.onnx.  Last, so that a failure here keeps the float model
    # and the report: run `python -m models.plates.quantize_recogniser --province --model-dir DIR` again.
    quantize(args.out, workers=args.workers, province=True)


if __name__ == "__main__":
    main()
