"""How fast the lane judges realistic crossings, on one core: ``edge.judge.judge`` (what the lane and
``edge wim replay`` run: zero choice, the estimator with its speed profile, load edges, centre of load,
moment split and uncertainties, the span check, classification and rules) on crossings of the
independent physics model (``bench/independent_wim_model.py``), against the time they took to happen.

``bench/wim_kernels.py`` times ``estimate_crossing`` on its own synthetic stream (a 2 x 3.6 m scale, 8
cells at 2 kHz); this times the whole judgement on every scale the model has, for the normal driving
populations (the trucks a lane sees all day), from crossings written in the documented capture format
and read back, as a site's captures would be:

    python bench/judge_speed.py                          # 30 crossings per scale and population
    python bench/judge_speed.py --crossings 60 --json
    python bench/judge_speed.py --captures /tmp/indep_run1   # judge existing .wlcap captures instead

Each crossing is judged ``--repeats`` times and its fastest time counts (the others measure the
machine's other work). Per cell: the real time of its crossings over their CPU time (a stream of such
trucks; the slowest pass beside it), and per crossing the 5th percentile and the least: the cost grows
more slowly than the window, so the fastest trucks are the tail. The process runs on one CPU
(``os.sched_setaffinity``) with BLAS held to one thread, as the daemon sets it. Real time is each
capture's window, from its first sample to its last (pre-roll included). Target (issue 16): at least
500 x real time on one core in every cell, over its crossings; the exit status is 1 where a cell misses
it.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # as the daemon does (edge/__init__.py)
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.independent_wim_model import SCALES, simulate_crossing, write_capture  # noqa: E402
from edge.judge import judge  # noqa: E402
from edge.rules import LimitTable  # noqa: E402
from edge.wim.capture import Capture, read_capture  # noqa: E402

TARGET_X = 500.0
#: Speed bands of the per-speed breakdown (km/h, low exclusive, high inclusive).
SPEED_BANDS_KMH = ((0.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, 40.0), (40.0, math.inf))
#: The normal driving populations: what a lane judges all day.
POPULATIONS = ("steady", "speed-change-10pct", "throttle-blip")


@contextmanager
def _one_core() -> Iterator[str]:
    """Pin this process to one CPU where the system allows it (and unpin it after: a test runs this in
    its own process); yield which."""
    if not hasattr(os, "sched_setaffinity"):
        yield "not pinned (no sched_setaffinity)"
        return
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield f"CPU {cpu}"
    finally:
        os.sched_setaffinity(0, before)


def simulated(crossings: int, seed: int, folder: Path) -> dict[tuple[str, str], list[Capture]]:
    """``crossings`` captures per scale and population from the independent model, written and read back."""
    cells: dict[tuple[str, str], list[Capture]] = {}
    for s, scale in enumerate(SCALES):
        for p, population in enumerate(POPULATIONS):
            rng = np.random.default_rng([seed, s, p])
            captures = []
            for k in range(crossings):
                path = write_capture(
                    simulate_crossing(scale, population, rng, vehicle_number=k + 1),
                    folder / f"{scale}-{population}-{k}.wlcap",
                )
                captures.append(read_capture(path))
            cells[(scale, population)] = captures
    return cells


def from_folders(folders: list[Path]) -> dict[tuple[str, str], list[Capture]]:
    """Existing captures, grouped by the scale and population their truth names (else one cell)."""
    cells: dict[tuple[str, str], list[Capture]] = defaultdict(list)
    for path in sorted(p for folder in folders for p in folder.rglob("*.wlcap")):
        capture = read_capture(path)
        truth = capture.meta.extra.get("truth")
        key = (
            (str(truth.get("scale")), str(truth.get("population")))
            if isinstance(truth, dict)
            else ("captures", "all")
        )
        cells[key].append(capture)
    return dict(cells)


def time_cell(captures: list[Capture], limits: LimitTable, repeats: int) -> dict[str, Any]:
    """Judge each capture ``repeats`` times; each one's fastest time counts (the others measure the
    machine's other work)."""
    windows = np.array(
        [float(c.crossing.window.times_s[-1] - c.crossing.window.times_s[0]) for c in captures]
    )
    times = np.empty((repeats, len(captures)))
    for r in range(repeats):
        for k, capture in enumerate(captures):
            started = time.process_time()
            judge(capture.crossing, capture.config, limits)
            times[r, k] = time.process_time() - started
    fastest = times.min(axis=0)
    per_crossing = windows / fastest
    by_speed: dict[str, dict[str, float]] = {}
    speeds = np.array([_truth_speed_kmh(c) for c in captures])
    for low, high in SPEED_BANDS_KMH:
        band = (speeds > low) & (speeds <= high)
        if band.any():
            by_speed[f"{low:g}-{high:g} km/h"] = {
                "crossings": int(band.sum()),
                "mean_window_s": round(float(windows[band].mean()), 2),
                "ms_per_crossing": round(1000 * float(fastest[band].mean()), 2),
                "crossing_realtime_x_mean": round(float(per_crossing[band].mean())),
                "crossing_realtime_x_min": round(float(per_crossing[band].min())),
            }
    return {
        "crossings": len(captures),
        "mean_window_s": round(float(windows.mean()), 2),
        "ms_per_crossing": round(1000 * float(fastest.mean()), 2),
        "realtime_x": round(float(windows.sum() / fastest.sum())),
        "realtime_x_slowest_pass": round(float(windows.sum() / times.sum(axis=1).max())),
        # Per crossing: the cost grows more slowly than the window, so the fastest trucks are the tail.
        "crossing_realtime_x_p5": round(float(np.percentile(per_crossing, 5))),
        "crossing_realtime_x_min": round(float(per_crossing.min())),
        "shortest_window_s": round(float(windows.min()), 2),
        "target_met": float(windows.sum() / fastest.sum()) >= TARGET_X,
        # Where the captures carry the model's truth: the same per speed band.
        "by_speed": by_speed,
    }


def _truth_speed_kmh(capture: Capture) -> float:
    truth = capture.meta.extra.get("truth")
    speed = truth.get("speed_kmh") if isinstance(truth, dict) else None
    return float(speed) if isinstance(speed, int | float) else math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--crossings", type=int, default=30, help="per scale and population (default 30)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--captures", type=Path, nargs="+", help="judge these folders' .wlcap captures instead"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.crossings < 2 or args.repeats < 1:
        parser.error("--crossings must be at least 2 and --repeats at least 1")
    limits = LimitTable.load(None)
    with tempfile.TemporaryDirectory(prefix="judge-speed-") as folder:
        cells = (
            from_folders(args.captures)
            if args.captures
            else simulated(args.crossings, args.seed, Path(folder))
        )
    if not cells:
        parser.error(f"no .wlcap captures under {', '.join(map(str, args.captures))}")
    with _one_core() as pinned:
        # The first judgement loads the compiled kernels (Numba's cache): not timed.
        first = next(iter(cells.values()))[0]
        judge(first.crossing, first.config, limits)
        results = {
            f"{scale} / {population}": time_cell(c, limits, args.repeats)
            for (scale, population), c in cells.items()
        }
    out = {
        "benchmark": "judge_speed",
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip()
        + f", {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "pinned": pinned,
        "seed": None if args.captures else args.seed,
        "repeats": args.repeats,
        "target_x": TARGET_X,
        "results": results,
    }
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(
            f"judge() on one core ({pinned}), each crossing's fastest of {args.repeats}; target {TARGET_X:g}x real time"
        )
        for name, r in results.items():
            print(
                f"  {name:36s} {r['crossings']:4d} crossings, window {r['mean_window_s']:5.1f} s:"
                f" {r['ms_per_crossing']:6.2f} ms each, {r['realtime_x']:5d}x real time"
                f" (slowest pass {r['realtime_x_slowest_pass']}x; per crossing p5 {r['crossing_realtime_x_p5']}x,"
                f" min {r['crossing_realtime_x_min']}x){'' if r['target_met'] else '  BELOW TARGET'}"
            )
    return 0 if all(r["target_met"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
