"""The limits on the lane's hot path: the cost of one judgement's rules, old path against new, same run.

    python bench/limits.py            # 20,000 calls of each, over the eight classes of the default scenario

``gross_limit`` is what the judge called before (the gross row and the deductions only); ``assess`` is
what it calls now (the row with the 124号 variants, each axle group's GB 1589 row, the sum rule, the
per-group findings). Both are pure and read no file; the table is loaded once, as the daemon does.
Prints one JSON object: microseconds per call (median of 5 rounds) for each, and the difference.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.rules import LimitTable, Tyre, VehicleFacts, classify, gross_limit
from edge.rules.axles import assess

S, D = Tyre.SINGLE, Tyre.DUAL
TRUCKS = [
    ([4.5], [S, D], [6000.0, 11000.0]),
    ([4.3, 1.35], [S, D, D], [7000.0, 9000.0, 9000.0]),
    ([3.6, 7.2], [S, D, D], [6000.0, 10000.0, 10000.0]),
    ([1.9, 4.4, 1.35], [S, S, D, D], [7000.0, 7000.0, 8500.0, 8500.0]),
    ([3.6, 7.0, 1.36], [S, D, D, D], [6000.0, 11000.0, 9000.0, 9000.0]),
    ([3.6, 6.8, 1.31, 1.31], [S, D, D, D, D], [6500.0, 11000.0, 8000.0, 8000.0, 8000.0]),
    ([3.2, 1.35, 5.8, 1.31, 1.31], [S, D, D, D, D, D], [7000.0, 9000.0, 9000.0, 8000.0, 8000.0, 8000.0]),
    ([1.9, 3.2, 5.6, 1.31, 1.31], [S, S, D, D, D, D], [6000.0, 6000.0, 11000.0, 7500.0, 7500.0, 7500.0]),
]


def _round(fn: object, calls: int) -> float:
    start = time.perf_counter()
    for i in range(calls):
        fn(*CASES[i % len(CASES)])  # type: ignore[operator]
    return (time.perf_counter() - start) / calls * 1e6


TABLE = LimitTable.load()
FACTS = VehicleFacts(air_suspension=False, articulated=False, source="config")
CASES = [(classify(s), t, s, loads) for s, t, loads in TRUCKS]


def old(vclass, tyres, spacings, loads):  # type: ignore[no-untyped-def]
    return gross_limit(vclass, tyres, TABLE)


def new(vclass, tyres, spacings, loads):  # type: ignore[no-untyped-def]
    return assess(vclass, tyres, TABLE, spacings_m=spacings, loads_kg=loads, facts=FACTS)


def main() -> None:
    calls = 20_000
    rounds: dict[str, list[float]] = {"gross_limit_us": [], "assess_us": []}
    for _ in range(5):  # interleaved, so both see the same machine load
        rounds["gross_limit_us"].append(_round(old, calls))
        rounds["assess_us"].append(_round(new, calls))
    result = {key: round(statistics.median(values), 2) for key, values in rounds.items()}
    result["added_us"] = round(result["assess_us"] - result["gross_limit_us"], 2)
    result["calls"] = calls
    result["machine"] = f"{platform.machine()} {platform.python_version()}"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
