"""How far a lagging body pitch leaves an axle's weighed load transfer from the quasi-static correction.

The estimator corrects each axle load for the pitch load transfer of the mean acceleration it was weighed
under, as if the body's pitch followed the acceleration at once (``edge.wim.estimate.pitch_transfer_kg``).
A real body follows a step of acceleration as a damped oscillator, so over an axle's weighing time ``T``
the transfer it carried departs from the correction's. This bench draws steps of acceleration at random
moments (from ``T`` before the axle's weighing to its end) and pitch modes (natural frequency and damping
ratio, uniform in the given bands), integrates the exact step response (the simulator's,
``firmware_sim.physics``) over the window, and reports, per ``T``, the departure per unit step: its RMS over the draws relative to the RMS of the correction's own
share (the window-mean acceleration), its 95th percentile and its largest, with the bound the estimator
takes as the gross's expanded uncertainty (``edge.wim.estimate.pitch_lag_share``: half the slowest mode's
period over ``T``, for a blip's or a brake pulse's two steps).

    python bench/pitch_lag.py                       # 1.5-4 Hz, damping 0.08-0.3, 4,000 draws per T
    python bench/pitch_lag.py --min-hz 1.2 --damping 0.05 0.3 --json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.wim.estimate import pitch_lag_share
from firmware_sim.physics import _damped_step

WINDOWS_S = (0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0)


def departures(
    window_s: float,
    draws: int,
    frequency_hz: tuple[float, float],
    damping: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Per draw: the window-mean departure of the dynamic transfer from the quasi-static one (per unit
    step), and the quasi-static share itself (the window-mean of the step)."""
    t = np.linspace(0.0, window_s, 400)
    f = rng.uniform(*frequency_hz, draws)
    z = rng.uniform(*damping, draws)
    tau = rng.uniform(-window_s, window_s, draws)
    u = t[None, :] - tau[:, None]
    on = u >= 0.0
    response = np.stack(
        [_damped_step(row, 2.0 * math.pi * fk, zk) for row, fk, zk in zip(u, f, z, strict=True)]
    )
    return np.mean(response - on, axis=1), np.mean(on, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--min-hz", type=float, default=1.5, help="slowest pitch mode (wim.body_min_frequency_hz)"
    )
    parser.add_argument("--max-hz", type=float, default=4.0)
    parser.add_argument("--damping", type=float, nargs=2, default=(0.08, 0.3))
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    for window_s in WINDOWS_S:
        error, share = departures(window_s, args.draws, (args.min_hz, args.max_hz), tuple(args.damping), rng)
        rows.append(
            {
                "window_s": window_s,
                "rms_to_correction_rms": round(float(np.sqrt(np.mean(error**2) / np.mean(share**2))), 3),
                "p95_per_step": round(float(np.percentile(np.abs(error), 95)), 3),
                "max_per_step": round(float(np.abs(error).max()), 3),
                # The estimator's bound for two steps (a blip's or a brake pulse's), at 1 m of scale.
                "estimator_share": round(pitch_lag_share(1.0, 1.0 / window_s, args.min_hz), 3),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    damping = f"damping {args.damping[0]}-{args.damping[1]}"
    print(f"pitch modes {args.min_hz}-{args.max_hz} Hz, {damping}, {args.draws} draws")
    print("window  rms/correction  p95/step  max/step  estimator's share (two steps)")
    for row in rows:
        print(
            f"{row['window_s']:5.1f} s  {row['rms_to_correction_rms']:13.3f}  {row['p95_per_step']:8.3f}"
            f"  {row['max_per_step']:8.3f}  {row['estimator_share']:8.3f}"
        )


if __name__ == "__main__":
    main()
