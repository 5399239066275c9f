"""How well :func:`edge.wim.motion.pulse_transfer_kg` sees the pitch transfer of a throttle blip, on a model
the estimator does not use: a rigid 5-axle truck with quasi-static pitch over one 4.2 m platform.

Each trial draws a speed (5-38 km/h), a blip (+2-10 % of the speed over 0.25-0.9 s, anywhere on the
crossing), strip times read off the exact path with normal timing noise, and the load the blip moved
onto each axle: the quasi-static pitch of the departure from the fitted profile's acceleration, averaged
over the axle's own time on the platform.  Reported: how often ``2 sqrt(e^2 + var)`` (the term's
expanded uncertainty of the gross) covers that transfer, overall and where it exceeds 150 kg, and the
term's 95th percentile as a share of the gross; the same for the misfit term the estimator uses by
default (``load x misfit x sqrt(2) / 4.2 m`` per axle, in quadrature), side by side, and the two in
quadrature (what ``wim.pulse_uncertainty`` gives: it adds the term).

    .venv/bin/python bench/pulse_transfer_model.py [--trials 400] [--seed 1] [--timing-sd-ms 1]
        [--truck-cg-m 1.5] [--term-cg-m 2.2]
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from edge.wim.motion import fit_speed_profile, pulse_transfer_kg

ENTRY_X, EXIT_X = -0.5, 4.2
OFFSETS = np.array([0.0, 3.6, 4.9, 11.8, 13.1])
LOADS = np.array([7000.0, 10500.0, 10500.0, 9000.0, 9000.0])


def per_mps2(cg_height_m: float) -> np.ndarray:
    """Rigid body on springs as stiff as their loads: load moved onto each axle per m/s²."""
    ahead = -(OFFSETS - np.dot(LOADS, OFFSETS) / LOADS.sum())
    return -LOADS.sum() * cg_height_m / 9.81 * LOADS * ahead / np.dot(LOADS, ahead**2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timing-sd-ms", type=float, default=1.0)
    parser.add_argument("--truck-cg-m", type=float, default=1.5)
    parser.add_argument("--term-cg-m", type=float, default=2.2)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    sd = args.timing_sd_ms / 1000
    truth_per, term_per = per_mps2(args.truck_cg_m), per_mps2(args.term_cg_m)
    covered, large, terms, old_covered, old_terms, both_covered = [], [], [], [], [], []
    for _ in range(args.trials):
        v = rng.uniform(5.0, 38.0) / 3.6
        at = rng.uniform(0.0, (EXIT_X - ENTRY_X + OFFSETS[-1]) / v)
        length = rng.uniform(0.25, 0.9)
        accel = v * rng.uniform(0.02, 0.10) / length
        fine = np.linspace(0.0, 1.0 + 30.0 / v, 200_001)
        tau = fine - 1.0
        ramp = np.clip(tau - at, 0.0, length)
        x = (
            ENTRY_X
            - v
            + v * tau
            + 0.5 * accel * ramp**2
            + accel * length * np.clip(tau - at - length, 0.0, None)
        )
        entry = np.interp(ENTRY_X + OFFSETS, x, fine) + rng.normal(0.0, sd, OFFSETS.size)
        exit_ = np.interp(EXIT_X + OFFSETS, x, fine) + rng.normal(0.0, sd, OFFSETS.size)
        profile = fit_speed_profile(entry, exit_, ENTRY_X, EXIT_X)
        assert profile is not None
        on, off = np.interp(OFFSETS, x, fine), np.interp(EXIT_X + OFFSETS, x, fine)
        moved = 0.0
        for i in range(OFFSETS.size):
            t = np.linspace(on[i], off[i], 2001) - 1.0
            blip = float(np.mean(np.where((t >= at) & (t < at + length), accel, 0.0)))
            moved += truth_per[i] * (blip - profile.accel_mps2)
        result = pulse_transfer_kg(entry, exit_, ENTRY_X, EXIT_X, (0.0, EXIT_X), profile, term_per, sd)
        assert result is not None
        estimate, covariance = result
        term = 2.0 * math.sqrt(max(float(covariance.sum()), 0.0) + float(estimate.sum()) ** 2)
        covered.append(abs(moved) <= term + 1e-6)
        # The misfit term the estimator uses by default, side by side: load x misfit x sqrt(2) / length
        # per axle, in quadrature.
        old = 2.0 * math.sqrt(float(np.sum((LOADS * profile.misfit_rms_m * math.sqrt(2.0) / EXIT_X) ** 2)))
        old_covered.append(abs(moved) <= old + 1e-6)
        old_terms.append(old / LOADS.sum())
        both_covered.append(abs(moved) <= math.hypot(old, term) + 1e-6)
        large.append(abs(moved) > 150.0)
        terms.append(term / LOADS.sum())
    hit, big, old_hit, both = (
        np.array(covered),
        np.array(large),
        np.array(old_covered),
        np.array(both_covered),
    )
    print(
        json.dumps(
            {
                "trials": args.trials,
                "timing_sd_ms": args.timing_sd_ms,
                "truck_cg_m": args.truck_cg_m,
                "term_cg_m": args.term_cg_m,
                "covered": round(float(hit.mean()), 3),
                "transfers_over_150_kg": int(big.sum()),
                "covered_over_150_kg": round(float(hit[big].mean()), 3) if big.any() else None,
                "term_p95_pct_of_gross": round(float(np.quantile(terms, 0.95)) * 100, 2),
                "misfit_term_covered": round(float(old_hit.mean()), 3),
                "misfit_term_covered_over_150_kg": round(float(old_hit[big].mean()), 3)
                if big.any()
                else None,
                "misfit_term_p95_pct_of_gross": round(float(np.quantile(old_terms, 0.95)) * 100, 2),
                "both_in_quadrature_covered_over_150_kg": round(float(both[big].mean()), 3)
                if big.any()
                else None,
            }
        )
    )


if __name__ == "__main__":
    main()
