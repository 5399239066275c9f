"""Static weighing: how long after the deck settles a weight is taken, and how right it is.

Each truck (15-55 t, a 1.5-4 s ramp as its axles roll on, deck ringing of 2-5 % decaying with
0.5-1.2 s, 3 kg of cell noise) drives onto the simulated indicator (firmware_sim.indicator), read at
``--rate-hz`` like a Toledo continuous output.  Two ways of taking the weight are compared on the same
readings:

* baseline: the first reading after the ramp where the indicator's own stable flag is set (what a
  weighbridge program that trusts the indicator does);
* host: the first instant ``edge.static.stability.StabilityMonitor.judge`` accepts (OIML R76 window and
  band over ``--window-s``), judged at every reading.

For each: the delay from the moment the true deck load is settled within half a division (known from
the physics) and the error of the weight taken against the truck's true mass, in divisions.  Also the
cost of one ``judge`` call.  The target of issue 18 is arrival-to-barrier within 1 s of the reading
becoming stable; the judge's cost is the stability part of that budget.

    python bench/static_stability.py --trucks 200
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from drivers.indicator.driver import IndicatorReading
from edge.static.stability import StabilityMonitor, StabilityParams
from firmware_sim.indicator import SimulatedIndicator
from firmware_sim.pty import PtyPort


def one_truck(seed: int, params: StabilityParams, rate_hz: float) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    port = PtyPort(f"bench-{seed}")  # never read: the readings are taken in-process
    sim = SimulatedIndicator("toledo", port, division_kg=params.division_kg, noise_kg=3.0, seed=seed)
    sim.deck.ring_fraction = float(rng.uniform(0.02, 0.05))
    sim.deck.ring_tau_s = float(rng.uniform(0.5, 1.2))
    mass = float(rng.uniform(15_000, 55_000))
    ramp = float(rng.uniform(1.5, 4.0))
    on_at = 3.0
    sim.drive_on(mass, ramp_s=ramp, at_s=on_at)
    settled = on_at + ramp + sim.deck.settled_after_s(params.division_kg / 2)
    monitor = StabilityMonitor(params)
    baseline_t = host_t = math.nan
    baseline_w = host_w = math.nan
    judge_s = 0.0
    judges = 0
    for t in np.arange(0.0, on_at + ramp + 15.0, 1.0 / rate_hz):
        gross, stable = sim.gross_kg(float(t))
        monitor.add(IndicatorReading(gross, float(t), stable, not stable))
        if t <= on_at + ramp:
            continue
        if math.isnan(baseline_t) and stable:
            baseline_t, baseline_w = float(t), gross
        started = time.perf_counter()
        verdict = monitor.judge(float(t))
        judge_s += time.perf_counter() - started
        judges += 1
        if verdict.accepted and verdict.weight_kg is not None:
            host_t, host_w = float(t), verdict.weight_kg
            break
    port.close()
    return {
        "baseline_delay_s": baseline_t - settled,
        "host_delay_s": host_t - settled,
        "baseline_error_e": abs(baseline_w - mass) / params.division_kg,
        "host_error_e": abs(host_w - mass) / params.division_kg,
        "judge_us": 1e6 * judge_s / max(judges, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trucks", type=int, default=200)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--window-s", type=float, default=1.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    params = StabilityParams(division_kg=20.0, max_kg=100_000.0, window_s=args.window_s)
    rows = [one_truck(seed, params, args.rate_hz) for seed in range(args.trucks)]
    out: dict[str, dict[str, float]] = {}
    for key in rows[0]:
        values = np.array([r[key] for r in rows])
        out[key] = {
            "p50": float(np.nanpercentile(values, 50)),
            "p90": float(np.nanpercentile(values, 90)),
            "max": float(np.nanmax(values)),
            "missing": int(np.isnan(values).sum()),
        }
    out["within_1e"] = {
        "baseline": float(np.mean([r["baseline_error_e"] <= 1.0 for r in rows])),
        "host": float(np.mean([r["host_error_e"] <= 1.0 for r in rows])),
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{args.trucks} trucks, {args.rate_hz:g} readings/s, window {args.window_s:g} s, e = 20 kg")
    for key, stats in out.items():
        print(f"{key:20s} " + "  ".join(f"{k} {v:.3g}" for k, v in stats.items()))


if __name__ == "__main__":
    main()
