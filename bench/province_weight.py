"""How much the recogniser's own province reading should count against the province classifier's.

    python bench/province_weight.py                    # 3,000 synthetic tuning crops and the real crops
    python bench/province_weight.py --crops 6000 --json

The reader picks the province character by the product of the recogniser's probabilities over the
provinces, raised to ``edge.plates.ctc.RECOGNISER_PROVINCE_WEIGHT``, and the classifier's.  This reads
the same crops at several exponents and reports, for each, the share of plates whose province is right
and the share read exactly.  The exponent is chosen on the synthetic tuning crops (seed 555,001: used by
no training script and not by bench/plates.py; every other crop is legible, ``crop_sample(mild=True)``);
the real crops are shown beside them, not used to choose.  Exponent 0 is the classifier alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# bench.plates pins this process to one core and one thread before numpy loads, as for its own figures.
from bench.plates import _imread  # noqa: E402

# isort: split
import numpy as np  # noqa: E402

from edge.plates import ctc  # noqa: E402
from edge.plates.reader import PlateReader  # noqa: E402
from models.plates.render import PlateRenderer, locate_shared_dir  # noqa: E402

TUNING_SEED = 555_001
EXPONENTS = (1.0, 0.7, 0.5, 0.35, 0.25, 0.0)


def _rates(reader: PlateReader, crops: list[np.ndarray], texts: list[str]) -> dict[str, float]:
    results = reader.read_crops(crops)
    return {
        "province_right": float(np.mean([r.text[:1] == t[:1] for r, t in zip(results, texts, strict=True)])),
        "exact_match": float(np.mean([r.text == t for r, t in zip(results, texts, strict=True)])),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--crops", type=int, default=3000, help="synthetic tuning crops")
    parser.add_argument("--model-dir", type=Path, default=None, help="plate models (default: the packaged)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    renderer = PlateRenderer()
    rng = np.random.default_rng(TUNING_SEED)
    synthetic, synthetic_texts = [], []
    for i in range(args.crops):
        crop, text, _ = renderer.crop_sample(rng, mild=bool(i % 2))
        synthetic.append(crop)
        synthetic_texts.append(text)
    files = sorted((locate_shared_dir() / "plates" / "real_crops").glob("*.jpg"))
    real = [_imread(path) for path in files]
    real_texts = [path.stem for path in files]

    reader = PlateReader(args.model_dir, detector=False)
    shipped = ctc.RECOGNISER_PROVINCE_WEIGHT
    rows: dict[str, Any] = {}
    try:
        for exponent in EXPONENTS:
            ctc.RECOGNISER_PROVINCE_WEIGHT = exponent  # read by the decoder at each call
            rows[f"{exponent:g}"] = {
                "synthetic": _rates(reader, synthetic, synthetic_texts),
                "real": _rates(reader, real, real_texts),
            }
    finally:
        ctc.RECOGNISER_PROVINCE_WEIGHT = shipped
    alone = PlateReader(args.model_dir, detector=False, province=False, suffix=False)
    report = {
        "synthetic_crops": args.crops,
        "real_crops": len(real),
        "shipped_exponent": shipped,
        "by_exponent": rows,
        "recogniser_alone": {
            "synthetic": _rates(alone, synthetic, synthetic_texts),
            "real": _rates(alone, real, real_texts),
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"{'exponent':>8}  synthetic province / exact   real province / exact   ({args.crops} / {len(real)} crops)"
    )
    for exponent, row in rows.items():
        s, r = row["synthetic"], row["real"]
        mark = "  <- shipped" if float(exponent) == shipped else ""
        print(
            f"{exponent:>8}  {s['province_right']:>17.2%} / {s['exact_match']:.2%}"
            f"   {r['province_right']:>13.2%} / {r['exact_match']:.2%}{mark}"
        )
    s, r = report["recogniser_alone"]["synthetic"], report["recogniser_alone"]["real"]
    print(
        f"{'no clf':>8}  {s['province_right']:>17.2%} / {s['exact_match']:.2%}"
        f"   {r['province_right']:>13.2%} / {r['exact_match']:.2%}   (the recogniser alone)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
