"""Train the plate recogniser (CTC) and the layout classifier on synthetic crops; export both to ONNX.

    python -m models.plates.train_recogniser                 # the committed models (seed 2026)
    python -m models.plates.train_recogniser --samples 20000 --epochs 2 --out /tmp/try   # a quick try

Everything is rendered here from ../shared/plates templates and fonts (no download).  The run prints
its wall time; docs/models/plates.md records the time and metrics of the committed models.  Real crops
(../shared/plates/real_crops) are read only by the benchmark, never here.
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

from edge.plates.ctc import decode
from edge.plates.grammar import LAYOUTS
from edge.plates.preprocess import CLASSIFIER_SIZE, RECOGNISER_SIZE
from models.plates.dataset import CropSet, cached_crops, render_crops
from models.plates.nets import LayoutClassifier, Recogniser
from models.plates.optim import OneCycle
from models.plates.quantize_recogniser import FLOAT_FILE, quantize

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = Path(__file__).resolve().parent


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images).float().mul_(2.0 / 255.0).sub_(1.0)
    return x.permute(0, 3, 1, 2).contiguous()


def _jitter(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Cheap per-batch augmentation on top of the rendered set: brightness/contrast, channel order
    (colour casts and inverted plates), and a shift of up to 2 px."""
    n = x.shape[0]
    gain = 1.0 + 0.3 * (torch.rand(n, 1, 1, 1, generator=generator) - 0.5)
    bias = 0.3 * (torch.rand(n, 1, 1, 1, generator=generator) - 0.5)
    x = (x * gain + bias).clamp_(-1, 1)
    if torch.rand(1, generator=generator).item() < 0.3:
        x = x[:, torch.randperm(3, generator=generator)]
    dx = int(torch.randint(-2, 3, (1,), generator=generator))
    return torch.roll(x, dx, dims=3)


def _ctc_accuracy(model: nn.Module, crops: CropSet) -> tuple[float, dict[str, float]]:
    model.eval()
    correct = np.zeros(len(crops), dtype=bool)
    with torch.no_grad():
        for start in range(0, len(crops), 512):
            probs = model(_to_tensor(crops.recogniser[start : start + 512])).exp().numpy()
            for i, p in enumerate(probs):
                j = start + i
                correct[j] = decode(p, LAYOUTS[crops.layouts[j]].name).text == crops.texts[j]
    per_layout = {
        layout.name: float(correct[crops.layouts == k].mean())
        for k, layout in enumerate(LAYOUTS)
        if (crops.layouts == k).any()
    }
    return float(correct.mean()), per_layout


def _classifier_accuracy(model: nn.Module, crops: CropSet) -> float:
    model.eval()
    with torch.no_grad():
        predicted = torch.cat(
            [model(_to_tensor(crops.classifier[s : s + 1024])).argmax(1) for s in range(0, len(crops), 1024)]
        )
    return float((predicted.numpy() == crops.layouts).mean())


def train(args: argparse.Namespace) -> dict[str, object]:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)
    started = time.monotonic()
    cache = ROOT / "var" / "train"
    train_set = cached_crops(
        cache / f"crops-{args.samples}-{args.seed}.npz", args.samples, args.seed, args.workers
    )
    held_out = render_crops(args.validation, args.seed + 10_000, args.workers)
    rendered_s = time.monotonic() - started
    print(
        f"rendered {len(train_set)} training and {len(held_out)} held-out crops in {rendered_s:.0f} s",
        flush=True,
    )

    recogniser = Recogniser()
    classifier = LayoutClassifier()
    if args.init is not None:  # continue from a checkpoint (a longer schedule in several sittings)
        state = torch.load(args.init, weights_only=True)
        recogniser.load_state_dict(state["recogniser"])
        classifier.load_state_dict(state["classifier"])
        print(f"continuing from {args.init}")
    parameters = list(recogniser.parameters()) + list(classifier.parameters())
    steps_per_epoch = math.ceil(len(train_set) / args.batch)
    optimiser = OneCycle(parameters, args.lr, args.epochs * steps_per_epoch, pct_start=0.15)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    xent = nn.CrossEntropyLoss(label_smoothing=0.05)
    labels = torch.from_numpy(train_set.labels)
    lengths = torch.from_numpy(train_set.lengths)
    layouts = torch.from_numpy(train_set.layouts)
    for epoch in range(args.epochs):
        recogniser.train()
        classifier.train()
        order = torch.randperm(len(train_set), generator=generator)
        total, seen = 0.0, 0
        for step in range(steps_per_epoch):
            index = order[step * args.batch : (step + 1) * args.batch]
            numpy_index = index.numpy()
            x = _jitter(_to_tensor(train_set.recogniser[numpy_index]), generator)
            log_probs = recogniser(x)  # N, T, C
            t = log_probs.shape[1]
            loss = ctc(
                log_probs.permute(1, 0, 2),
                labels[index],
                torch.full((len(index),), t, dtype=torch.long),
                lengths[index],
            )
            c = _jitter(_to_tensor(train_set.classifier[numpy_index]), generator)
            loss = loss + 0.5 * xent(classifier(c), layouts[index])
            optimiser.step(loss)
            total += float(loss.detach()) * len(index)
            seen += len(index)
            if step % 200 == 0:
                print(f"epoch {epoch + 1} step {step}/{steps_per_epoch} loss {total / seen:.4f}", flush=True)
        checkpoint = cache / f"recogniser-{args.seed}.pt"  # the ONNX files fold batch norm: keep the weights
        torch.save({"recogniser": recogniser.state_dict(), "classifier": classifier.state_dict()}, checkpoint)
        accuracy, _ = _ctc_accuracy(recogniser, held_out)
        print(
            f"epoch {epoch + 1}/{args.epochs}: loss {total / seen:.4f}, held-out exact match {accuracy:.2%},"
            f" layout {_classifier_accuracy(classifier, held_out):.2%}, {time.monotonic() - started:.0f} s",
            flush=True,
        )
    accuracy, per_layout = _ctc_accuracy(recogniser, held_out)
    layout_accuracy = _classifier_accuracy(classifier, held_out)
    args.out.mkdir(parents=True, exist_ok=True)
    _export(recogniser, (1, 3, *RECOGNISER_SIZE), args.out / FLOAT_FILE, "probabilities")
    quantize(args.out, workers=args.workers)  # the lane runs the int8 copy: plate_recogniser.onnx
    _export(classifier, (1, 3, *CLASSIFIER_SIZE), args.out / "plate_layout.onnx", "logits")
    report = {
        "seed": args.seed,
        "samples": args.samples,
        "epochs": args.epochs,
        "batch": args.batch,
        "threads": args.threads,
        "wall_time_s": round(time.monotonic() - started, 1),
        "held_out": len(held_out),
        "held_out_exact_match": accuracy,
        "held_out_exact_match_by_layout": per_layout,
        "held_out_layout_accuracy": layout_accuracy,
        "torch": torch.__version__,
    }
    (args.out / "plate_recogniser.train.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    )
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return report


class _Probabilities(nn.Module):
    def __init__(self, model: nn.Module, kind: str) -> None:
        super().__init__()
        self.model = model
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        return y.exp() if self.kind == "probabilities" else y


def _export(model: nn.Module, shape: tuple[int, ...], path: Path, output: str) -> None:
    model.eval()
    torch.onnx.export(
        _Probabilities(model, output),
        torch.zeros(shape),
        str(path),
        input_names=["image"],
        output_names=[output],
        dynamic_axes={"image": {0: "batch"}, output: {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=240_000, help="rendered training crops")
    parser.add_argument("--validation", type=int, default=8_000, help="held-out synthetic crops")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="rendering processes")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument(
        "--init", type=Path, default=None, help="continue from a checkpoint (var/train/recogniser-SEED.pt)"
    )
    train(parser.parse_args())


if __name__ == "__main__":
    main()
