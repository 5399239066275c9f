"""The fast path's sure crop (``PlateReader.read_crop`` with no cross-check) of this tree against an
earlier revision's, in one process on one core, taking turns crop by crop.

    python bench/plates_fast_path.py --base c31865b --json

The earlier revision's ``edge`` package is taken from git (``git archive``) into a temporary folder and
imported first, under the same name; both readers load the same model files.  The crops are those of
``bench/plates.py``'s ``sure_crop_latency`` (legible rendered single-row crops, seed ``SEED + 6``); a
crop counts when both readers are sure of it (valid, no second opinion asked).  Per reader: the first
read of each crop and the fastest of ``--repeats``, p50 / p99, for all sure crops and for those read with
a suffix last (the suffix classifier runs only for them: the slowest sure crops).  The two readers take
turns on every read, the first of them alternating from crop to crop, so a load that comes and goes on a
shared machine falls on both alike; the median of the crop-by-crop differences of the fastest reads is the
figure least moved by it.  It also counts the crops on which the two read differently (text,
status, or a confidence off by more than 1e-6): 0 is the only right answer.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
if hasattr(os, "sched_setaffinity"):
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {0})

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEED = 777_001  # bench/plates.py's: the sure crops are its seed + 6
LAYOUTS = ("blue_single", "yellow_single", "green_small")


def _base_reader_class(revision: str, work: Path) -> Any:
    """``PlateReader`` as ``revision`` had it; the ``edge`` modules it imported are then forgotten, so
    that the next ``import edge`` is this tree's."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "edge"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(work, filter="data")
    sys.path.insert(0, str(work))
    try:
        reader_class = importlib.import_module("edge.plates.reader").PlateReader
    finally:
        sys.path.remove(str(work))
        for name in [n for n in sys.modules if n == "edge" or n.startswith("edge.")]:
            del sys.modules[name]
    return reader_class


def _percentiles(values_ms: list[float]) -> dict[str, float] | None:
    if not values_ms:
        return None
    a = np.asarray(values_ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p99_ms": round(float(np.percentile(a, 99)), 3)}


def _same(a: Any, b: Any) -> bool:
    return (
        a.text == b.text
        and a.status == b.status
        and a.layout == b.layout
        and a.second_opinion == b.second_opinion
        and len(a.char_confidences) == len(b.char_confidences)
        and bool(np.allclose(a.char_confidences, b.char_confidences, rtol=0, atol=1e-6))
        and abs(a.rows_confidence - b.rows_confidence) <= 1e-6
    )


def paired(readers: dict[str, Any], crops: list[Any], repeats: int) -> dict[str, Any]:
    from edge.plates.grammar import SUFFIXES

    first: dict[str, list[float]] = {name: [] for name in readers}
    fastest: dict[str, list[float]] = {name: [] for name in readers}
    suffix_first: dict[str, list[float]] = {name: [] for name in readers}
    suffix_fastest: dict[str, list[float]] = {name: [] for name in readers}
    differ = 0
    for k, crop in enumerate(crops):
        order = list(readers) if k % 2 == 0 else list(reversed(readers))
        times: dict[str, list[float]] = {name: [] for name in readers}
        results: dict[str, Any] = {}
        for _ in range(repeats):
            for name in order:
                started = time.perf_counter()
                results[name] = readers[name].read_crop(crop)
                times[name].append((time.perf_counter() - started) * 1000)
        a, b = results.values()
        differ += not _same(a, b)
        if all(r.status == "valid" and r.second_opinion is None for r in results.values()):
            for name in readers:
                first[name].append(times[name][0])
                fastest[name].append(min(times[name]))
                if a.text[-1] in SUFFIXES:
                    suffix_first[name].append(times[name][0])
                    suffix_fastest[name].append(min(times[name]))
    base, this = (np.asarray(fastest[name]) for name in readers)
    return {
        "crops": len(crops),
        "sure": len(first[next(iter(readers))]),
        "read_differently": differ,
        # Crop by crop, the second reader's fastest read less the first's: the load falls on both alike.
        "fastest_difference_p50_ms": round(float(np.median(this - base)), 3) if len(base) else None,
        "second_faster_share": round(float(np.mean(this < base)), 3) if len(base) else None,
        **{
            name: {
                "first_read": _percentiles(first[name]),
                "fastest_of_repeats": _percentiles(fastest[name]),
                "suffix_crops": len(suffix_first[name]),
                "suffix_first_read": _percentiles(suffix_first[name]),
                "suffix_fastest_of_repeats": _percentiles(suffix_fastest[name]),
            }
            for name in readers
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="the earlier revision (a commit, a branch)")
    parser.add_argument("--crops", type=int, default=100, help="legible rendered single-row crops")
    parser.add_argument("--repeats", type=int, default=5, help="reads of each crop by each reader")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        base_class = _base_reader_class(args.base, Path(work))
        from edge.plates.reader import PlateReader
        from models.plates.render import PlateRenderer

        options = {"threads": 1, "detector": False, "cross_check": False}
        readers = {f"base {args.base}": base_class(**options), "this tree": PlateReader(**options)}
        renderer = PlateRenderer()
        rng = np.random.default_rng(SEED + 6)
        crops = [renderer.crop_sample(rng, layout=LAYOUTS[k % 3], mild=True)[0] for k in range(args.crops)]
        started = time.monotonic()
        report = {
            "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores,"
            f" Python {platform.python_version()}",
            "one_core": True,
            "sure_crop_latency_paired": paired(readers, crops, args.repeats),
            "wall_s": round(time.monotonic() - started, 1),
        }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
