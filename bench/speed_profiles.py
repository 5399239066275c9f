"""Which speed profile to fit to the axle-strip events: constant acceleration or a richer one?

For the driving populations of bench/wim_accuracy.py (``--driving``), on the two multi-platform scales with an
intermediate strip at every platform joint, fits to each crossing's strip events (+/-4 ms jitter, as the
accuracy bench) and compares the front axle's fitted position with the simulator's true motion over the
events' span (largest error of the crossing, mm; median and p95 over the crossings):

* ``constant_accel_entry_exit``: the estimator's profile (edge.wim.motion) on the entry and exit strips only;
* ``constant_accel_all``: the same profile on every strip, intermediate ones included;
* ``linear_accel_all``: acceleration changing linearly in time (a cubic path, one more unknown), every strip;
* ``ramp_entry_exit``: the estimator's default profile (``wim.speed_profile = "ramp"``: the constant
  acceleration, or two cruises joined by a ramp where the events show a step) on the entry and exit strips.

    python bench/speed_profiles.py --crossings 150 --seed 11
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.wim_accuracy import POPULATIONS  # noqa: E402
from edge.wim.motion import fit_speed_profile  # noqa: E402
from firmware_sim.physics import LaneGeometry, TruckMotion, schedule  # noqa: E402
from firmware_sim.population import random_scenario  # noqa: E402

SCALES = {"full-length 3x6 m": (6.0, 6.0, 6.0), "axle-group 2x3.6 m": (3.6, 3.6)}
JITTER_S = 0.004


def _polynomial_path(times: np.ndarray, x_m: np.ndarray, axle: np.ndarray, n_axles: int, degree: int) -> Any:
    """Least-squares path X(t) = sum_k c_k tau^k / k! with per-axle offsets, as edge.wim.motion but of any
    degree; returns X as a function of t."""
    t_c = float(times.mean())
    tau = times - t_c
    design = np.zeros((times.size, degree + n_axles))
    for k in range(degree + 1):
        design[:, k] = tau**k / math.factorial(k)
    for i in range(1, n_axles):
        design[axle == i, degree + i] = -1.0
    norms = np.linalg.norm(design, axis=0)
    coef = np.linalg.lstsq(design / norms, x_m, rcond=None)[0] / norms

    def path(t: np.ndarray) -> np.ndarray:
        return sum(coef[k] * (t - t_c) ** k / math.factorial(k) for k in range(degree + 1))  # type: ignore[no-any-return]

    return path


def _errors(motion: TruckMotion, geometry: LaneGeometry, rng: np.random.Generator) -> dict[str, float] | None:
    strips = np.array([geometry.entry_strip_x_m, *geometry.mid_strips_x_m, geometry.exit_x_m])
    times = np.stack([motion.axle_crossing_times(float(x)) for x in strips], axis=1)
    times = times + rng.uniform(-JITTER_S, JITTER_S, times.shape)
    n = times.shape[0]
    t = np.linspace(float(times.min()), float(times.max()), 200)
    truth = np.asarray(motion.axle_x(t))[:, 0]
    entry, mids, exit_ = times[:, 0], times[:, 1:-1], times[:, -1]
    ends = fit_speed_profile(entry, exit_, strips[0], strips[-1])
    every = fit_speed_profile(entry, exit_, strips[0], strips[-1], mids, geometry.mid_strips_x_m)
    ramp = fit_speed_profile(entry, exit_, strips[0], strips[-1], ramp_timing_sd_s=JITTER_S / math.sqrt(3))
    if ends is None or every is None or ramp is None:
        return None
    cubic = _polynomial_path(times.ravel(), np.tile(strips, n), np.repeat(np.arange(n), strips.size), n, 3)
    return {
        "constant_accel_entry_exit": float(np.max(np.abs(ends.front_x(t) - truth))),
        "constant_accel_all": float(np.max(np.abs(every.front_x(t) - truth))),
        "linear_accel_all": float(np.max(np.abs(cubic(t) - truth))),
        "ramp_entry_exit": float(np.max(np.abs(ramp.front_x(t) - truth))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--crossings", type=int, default=150)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rows = []
    for name, lengths in SCALES.items():
        geometry = LaneGeometry(platform_lengths_m=lengths, mid_strips_x_m=tuple(np.cumsum(lengths)[:-1]))
        for population in ("steady", "speed-change-10pct", "throttle-blip", "braking", "jump"):
            scenario = random_scenario(
                args.seed,
                args.crossings,
                speed_kmh=(3.0, 40.0),
                speed_change_over_m=sum(lengths),
                **POPULATIONS[population],
            )
            rng = np.random.default_rng(args.seed)
            found: dict[str, list[float]] = {}
            for motion in schedule(scenario, geometry):
                errors = _errors(motion, geometry, rng)
                for key, value in (errors or {}).items():
                    found.setdefault(key, []).append(value)
            rows.append(
                {
                    "geometry": name,
                    "population": population,
                    **{
                        f"{key}_mm_p50_p95": [
                            round(float(np.median(values)) * 1000, 1),
                            round(float(np.percentile(values, 95)) * 1000, 1),
                        ]
                        for key, values in found.items()
                    },
                }
            )
    print(json.dumps({"benchmark": "speed_profiles", "seed": args.seed, "results": rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
