"""Diagnostic: on one 4.2 m platform, does a blipping truck's gross uncertainty follow its gross error where
the pitch correction moved its gross, and where it did not?

Where the speed profile or the centre of load gave the axles different accelerations, the estimator
corrects each axle for its pitch load transfer and joins the correction's terms (its gross shift, bounded by
the body's lag; the spread of heights; the measured accelerations' noise) to the gross's expanded
uncertainty. This bench wraps the private function that gives the correction's gross shift
(``edge.wim.estimate._transfer_shift_kg``: a diagnostic that reads the estimator's internals, and breaks if
it is renamed), weighs throttle-blipping trucks of both physics models through ``edge.judge.judge``, and
reports per speed band (the speed before the blip), for the crossings the correction moved (its shift over
0.1 % of the gross; for a combination, the larger of that and the whole-vehicle rule's, as the estimator
takes it) and the rest: the gross error's RMS and 95th percentile, the uncertainty's median, the share of errors within the
uncertainty, and the share whose uncertainty exceeds class 5 (2.5 %: such a crossing is re-weighed).

    python bench/uncertainty_terms.py                        # 900 simulator and 600 independent crossings
    python bench/uncertainty_terms.py --simulator 300 --independent 200 --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import independent_wim_model as independent
import wim_accuracy

from edge.cli_wim import _TableCache
from edge.judge import Judgement, judge
from edge.rules import LimitTable
from edge.wim import estimate
from edge.wim.capture import read_capture

SCALE = "single 1x4.2 m"
SPEED_BANDS_KMH = ((3.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, 40.0))
CLASS_5_PCT = 2.5
MOVED_PCT = 0.1

_seen: dict[str, float] = {}
_shift = estimate._transfer_shift_kg


def _recorded_shift(*args: Any, **kwargs: Any) -> float:
    result = _shift(*args, **kwargs)
    _seen["shift_kg"] = float(result)
    return result


def _recording() -> contextlib.AbstractContextManager[Any]:
    """``edge.wim.estimate._transfer_shift_kg`` recorded while the block runs (``_estimate`` looks it up in
    its module's globals at each call)."""
    return mock.patch.object(estimate, "_transfer_shift_kg", _recorded_shift)


def _row(judgement: Judgement, true_gross_kg: float, speed_kmh: float) -> dict[str, Any] | None:
    m = judgement.measurement
    if m is None or not math.isfinite(m.gross_kg) or not math.isfinite(m.gross_uncertainty_kg):
        return None
    percent = m.gross_kg / 100.0
    return {
        "speed_kmh": speed_kmh,
        "error_pct": (m.gross_kg - true_gross_kg) / true_gross_kg * 100.0,
        "u_pct": m.gross_uncertainty_kg / percent,
        "moved": _seen.get("shift_kg", 0.0) / percent > MOVED_PCT,
    }


def simulator_rows(seed: int, crossings: int, population: str = "throttle-blip") -> list[dict[str, Any]]:
    config, trucks = wim_accuracy.driving_crossings(SCALE, population, crossings, seed, 1000)
    limits = LimitTable.load()
    rows = []
    with _recording():
        for _, motion, crossing in trucks:
            _seen.clear()
            row = _row(judge(crossing, config, limits), motion.truck.gross_kg, motion.truck.speed_kmh)
            if row is not None:
                rows.append(row)
    return rows


def independent_rows(seed: int, crossings: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(
        [seed, list(independent.SCALES).index("single"), independent.POPULATIONS.index("throttle-blip")]
    )
    tables = _TableCache()
    rows = []
    with tempfile.TemporaryDirectory() as folder, _recording():
        for number in range(crossings):
            simulated = independent.simulate_crossing(
                "single", "throttle-blip", rng, vehicle_number=number + 1
            )
            capture = read_capture(independent.write_capture(simulated, Path(folder) / f"{number:04d}.wlcap"))
            limits, _ = tables.for_capture(capture)
            _seen.clear()
            truth = simulated.meta["extra"]["truth"]
            # Banded by the speed before the blip, as the simulator's trucks are.
            cruise_kmh = float(simulated.motion.params["v0_kmh"])
            row = _row(judge(capture.crossing, capture.config, limits), truth["gross_kg"], cruise_kmh)
            if row is not None:
                rows.append(row)
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = []
    for low, high in SPEED_BANDS_KMH:
        for moved in (True, False):
            band = [r for r in rows if low <= r["speed_kmh"] < high and r["moved"] == moved]
            if not band:
                continue
            error = np.abs([r["error_pct"] for r in band])
            u = np.array([r["u_pct"] for r in band])
            table.append(
                {
                    "speed_kmh": f"{low:g}-{high:g}",
                    "correction_moved_the_gross": moved,
                    "crossings": len(band),
                    "error_rms_pct": round(float(np.sqrt(np.mean(error**2))), 2),
                    "error_p95_pct": round(float(np.percentile(error, 95)), 2),
                    "u_p50_pct": round(float(np.median(u)), 2),
                    "covered": round(float(np.mean(error <= u)), 3),
                    "u_beyond_class_5": round(float(np.mean(u > CLASS_5_PCT)), 3),
                }
            )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--simulator", type=int, default=900, help="simulator crossings")
    parser.add_argument("--simulator-seed", type=int, default=7)
    parser.add_argument("--independent", type=int, default=600, help="independent-model crossings")
    parser.add_argument("--independent-seed", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = {
        "simulator": summarise(simulator_rows(args.simulator_seed, args.simulator)),
        "independent": summarise(independent_rows(args.independent_seed, args.independent)),
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(
        f"Throttle blips on one 4.2 m platform, judged (not re-weighed for a missing weight); class 5 {CLASS_5_PCT} %"
    )
    for model, table in report.items():
        print(f"\n{model}")
        print("  km/h   moved  n    err RMS  err p95  U p50  covered  U > 2.5 %")
        for row in table:
            print(
                f"  {row['speed_kmh']:>5}  {'yes' if row['correction_moved_the_gross'] else 'no ':>5}"
                f"  {row['crossings']:3d}  {row['error_rms_pct']:7.2f}  {row['error_p95_pct']:7.2f}"
                f"  {row['u_p50_pct']:5.2f}  {row['covered']:7.3f}"
                f"  {row['u_beyond_class_5']:8.1%}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
