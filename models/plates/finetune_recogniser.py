"""Continue training the exported recogniser on freshly rendered crops (a second sitting of the schedule).

    python -m models.plates.finetune_recogniser               # the committed recogniser: see MODEL_CARD.md

It reads the float model (``plate_recogniser.fp32.onnx``).  The ONNX export folds batch norm into the
convolutions, so the network is rebuilt without batch norm (convolutions with biases) and starts from
the exported weights; it is fine-tuned at a lower learning rate on a new rendered set (another seed),
exported again in place, and quantised to the int8 ``plate_recogniser.onnx`` the lane runs
(:mod:`models.plates.quantize_recogniser`).  The layout classifier is not touched.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
from torch import nn

from edge.plates.preprocess import RECOGNISER_SIZE
from models.plates.dataset import cached_crops, render_crops
from models.plates.nets import Recogniser, folded_from_onnx
from models.plates.optim import OneCycle
from models.plates.quantize_recogniser import FLOAT_FILE, quantize
from models.plates.train_recogniser import MODEL_DIR, ROOT, _ctc_accuracy, _export, _jitter, _to_tensor


def recogniser_from_onnx(path: Path) -> Recogniser:
    """A :class:`Recogniser` without batch norm, holding the (folded) weights of an exported one."""
    return folded_from_onnx(Recogniser(), path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--validation", type=int, default=8_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR)
    parser.add_argument(
        "--mild-share",
        type=float,
        default=0.0,
        help="share of the training crops rendered legible (crop_sample(mild=True)); the rest are fully augmented",
    )
    parser.add_argument(
        "--warp-share",
        type=float,
        default=0.0,
        help="share of the training crops whose Chinese characters are warped (crop_sample(warp=True))",
    )
    parser.add_argument(
        "--extra-fonts",
        action="store_true",
        help="draw Chinese characters from more fonts too (needs fonts-noto-cjk-extra fonts-smiley-sans)",
    )
    args = parser.parse_args()
    for name in ("mild_share", "warp_share"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1, not {getattr(args, name)}")

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)
    started = time.monotonic()
    path = args.model_dir / FLOAT_FILE  # the float model; the int8 copy is made from it at the end
    model = recogniser_from_onnx(path)
    crops = cached_crops(
        ROOT
        / "var"
        / "train"
        / f"crops-{args.samples}-{args.seed}-mild{args.mild_share:g}-warp{args.warp_share:g}"
        f"{'-fonts' if args.extra_fonts else ''}.npz",
        args.samples,
        args.seed,
        args.workers,
        mild_share=args.mild_share,
        warp_share=args.warp_share,
        extra_fonts=args.extra_fonts,
    )
    report_path = args.model_dir / "plate_recogniser.train.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    # The held-out set of the run that trained the shipped recogniser from scratch, so sittings compare.
    held_out_seed = int(report.get("seed", 2026)) + 10_000
    held_out = render_crops(args.validation, held_out_seed, args.workers)
    # Legible crops of the same seed (the first plates match; later ones differ, as the capped sizes
    # change later draws): what a reader gets right when a person would.
    held_out_mild = render_crops(args.validation, held_out_seed, args.workers, mild_share=1.0)
    before, _ = _ctc_accuracy(model, held_out)
    before_mild, _ = _ctc_accuracy(model, held_out_mild)
    print(
        f"rendered in {time.monotonic() - started:.0f} s; held-out exact match before: {before:.2%}"
        f" (legible crops: {before_mild:.2%})",
        flush=True,
    )
    steps = math.ceil(len(crops) / args.batch)
    optimiser = OneCycle(model.parameters(), args.lr, args.epochs * steps, pct_start=0.1)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    labels, lengths = torch.from_numpy(crops.labels), torch.from_numpy(crops.lengths)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(crops), generator=generator)
        total = 0.0
        for step in range(steps):
            index = order[step * args.batch : (step + 1) * args.batch]
            log_probs = model(_jitter(_to_tensor(crops.recogniser[index.numpy()]), generator))
            loss = ctc(
                log_probs.permute(1, 0, 2),
                labels[index],
                torch.full((len(index),), log_probs.shape[1], dtype=torch.long),
                lengths[index],
            )
            optimiser.step(loss)
            total += float(loss.detach())
            if step % 200 == 0:
                print(f"epoch {epoch + 1} step {step}/{steps} loss {total / (step + 1):.4f}", flush=True)
        accuracy, _ = _ctc_accuracy(model, held_out)
        print(
            f"epoch {epoch + 1}/{args.epochs}: held-out exact match {accuracy:.2%}, {time.monotonic() - started:.0f} s",
            flush=True,
        )
    accuracy, per_layout = _ctc_accuracy(model, held_out)
    accuracy_mild, per_layout_mild = _ctc_accuracy(model, held_out_mild)
    _export(model, (1, 3, *RECOGNISER_SIZE), path, "probabilities")
    sitting = {
        "seed": args.seed,
        "samples": args.samples,
        "epochs": args.epochs,
        "mild_share": args.mild_share,
        "warp_share": args.warp_share,
        "extra_fonts": args.extra_fonts,
        "lr": args.lr,
        "threads": args.threads,
        "wall_time_s": round(time.monotonic() - started, 1),
        "held_out_exact_match_before": before,
        "held_out_exact_match": accuracy,
        "held_out_exact_match_by_layout": per_layout,
        "held_out_legible_exact_match_before": before_mild,
        "held_out_legible_exact_match": accuracy_mild,
        "held_out_legible_exact_match_by_layout": per_layout_mild,
    }
    report.setdefault("finetunes", []).append(sitting)  # one entry per sitting, in order
    report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(sitting, indent=2, ensure_ascii=False))
    # Last, so that a failure here keeps the float model and the sitting's report: run
    # `python -m models.plates.quantize_recogniser --model-dir DIR` again.
    quantize(args.model_dir, workers=args.workers)


if __name__ == "__main__":
    main()
