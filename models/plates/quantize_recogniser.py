"""Quantise the trained recogniser to int8 for the lane: ``plate_recogniser.fp32.onnx`` -> ``plate_recogniser.onnx``;
likewise the province and suffix classifiers (``plate_province.fp32.onnx`` -> ``plate_province.onnx``,
``plate_suffix.fp32.onnx`` -> ``plate_suffix.onnx``).

    python -m models.plates.quantize_recogniser            # the committed models (seed 2031)
    python -m models.plates.quantize_recogniser --glyph suffix

onnxruntime's static quantisation (QDQ, weights int8 per output channel, activations uint8), with the
activation ranges calibrated on freshly rendered crops of a seed no training run uses.  The float model
stays beside it: ``finetune_recogniser`` continues training from it, and this script runs after each
training run (``train_recogniser`` and ``finetune_recogniser`` call it).  On this machine's CPU the int8
recogniser runs about 2.7x faster than the float one, with the same exact-match rate (MODEL_CARD.md).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from edge.plates.preprocess import to_chw_float
from models.plates.dataset import render_crops

MODEL_DIR = Path(__file__).resolve().parent
FLOAT_FILE = "plate_recogniser.fp32.onnx"
INT8_FILE = "plate_recogniser.onnx"
#: The glyph classifiers' float file, int8 file and training report, by target.
GLYPH_FILES = {
    "province": ("plate_province.fp32.onnx", "plate_province.onnx", "plate_province.train.json"),
    "suffix": ("plate_suffix.fp32.onnx", "plate_suffix.onnx", "plate_suffix.train.json"),
}
CALIBRATION_SEED = 2031  # never a training or held-out seed (2026-2030, +10,000, bench 777,001)


def quantize(
    model_dir: Path,
    samples: int = 600,
    seed: int = CALIBRATION_SEED,
    workers: int = 1,
    glyph: str | None = None,
) -> Path:
    """Write ``model_dir/plate_recogniser.onnx`` (int8) from ``model_dir/plate_recogniser.fp32.onnx``;
    with ``glyph`` ("province" or "suffix"), that classifier's int8 file from its float one."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    float_file, int8_file = GLYPH_FILES[glyph][:2] if glyph else (FLOAT_FILE, INT8_FILE)
    source = model_dir / float_file
    if not source.is_file():
        script = f"train_province --target {glyph}" if glyph else "train_recogniser"
        raise SystemExit(f"{source} is missing: train the model first (models.plates.{script})")
    crops = render_crops(samples, seed, workers)
    inputs = {"province": crops.province, "suffix": crops.suffix, None: crops.recogniser}[glyph]

    class Crops(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.index = 0

        def get_next(self) -> dict[str, Any] | None:
            if self.index >= len(crops):
                return None
            batch = to_chw_float(inputs[self.index : self.index + 1])
            self.index += 1
            return {"image": batch}

    target = model_dir / int8_file
    with tempfile.TemporaryDirectory() as work:
        prepared = Path(work) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared))
        quantize_static(
            str(prepared),
            str(target),
            Crops(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB) from {source}, {samples} calibration crops")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR)
    parser.add_argument("--samples", type=int, default=600, help="calibration crops")
    parser.add_argument("--seed", type=int, default=CALIBRATION_SEED)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--glyph", choices=tuple(GLYPH_FILES), help="that glyph classifier instead")
    args = parser.parse_args()
    quantize(args.model_dir, args.samples, args.seed, args.workers, glyph=args.glyph)


if __name__ == "__main__":
    main()
