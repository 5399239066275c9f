"""How well a stretch's standard error describes the error of the acceleration its centre of load shows.

Where an axle stands alone on a platform, the centre of load (``edge.wim.centre``) fits a quadratic to its
positions and reads its acceleration there, with a standard error. Where those accelerations depart from
the speed profile's, they replace it in the pitch load transfer, and their calibrated standard
uncertainties (``Stretch.accel_sd_mps2``) go into the axle loads' and the gross's uncertainty
(``edge.wim.estimate``). This bench checks that standard error
against the truth on two physics models: the project's simulator (``firmware_sim``) and the independent
one (``bench/independent_wim_model.py``, written without the estimator), on trucks that blip the throttle on
a single 4.2 m platform (where axles stand alone longest and blips fall between two axles' weighings).

Each stretch's acceleration is compared with the true mean acceleration over its time. Per band of the raw
standard error (the residuals' batch-means estimate, ``STRETCH_BLOCK_S``), it reports how many errors fall
within twice the raw standard error and within twice the calibrated standard uncertainty the estimator puts
in the pitch transfer's noise (``Stretch.accel_sd_mps2``: ``STRETCH_SE_SCALE`` of the raw, in quadrature
with ``STRETCH_ACCEL_FLOOR_MPS2``), the errors' 95th percentile and their RMS over each one's RMS:

    python bench/stretch_accel.py                       # 300 trucks a model, seeds 7 (simulator) and 2
    python bench/stretch_accel.py --simulator-seed 8 --independent-seed 3    # out of sample
    python bench/stretch_accel.py --trucks 100 --json

The default seeds are those the calibration was chosen on; the independent model's seed-2 stream is also
its own bench's "single, throttle blip" cell (``--scale single --seed 2``).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import independent_wim_model as independent  # noqa: E402

from edge.config import ScaleConfig, WimConfig  # noqa: E402
from edge.lane.buffer import SampleWindow  # noqa: E402
from edge.wim.capture import read_capture  # noqa: E402
from edge.wim.centre import STRETCH_ACCEL_FLOOR_MPS2, STRETCH_SE_SCALE  # noqa: E402
from edge.wim.estimate import load_centre, zero_from_preroll  # noqa: E402
from firmware_sim.physics import LaneGeometry, LoadCellModel, cell_loads_kg, schedule  # noqa: E402
from firmware_sim.population import random_scenario  # noqa: E402

LENGTH_M = 4.2
RATE_HZ = 1000
BANDS = ((0.0, 0.05), (0.05, 0.1), (0.1, 0.2), (0.2, 0.4), (0.4, math.inf))


def _stretch_errors(
    window: SampleWindow,
    entry: np.ndarray,
    exit_: np.ndarray,
    mid: np.ndarray | None,
    scale: ScaleConfig,
    speed_at: Any,
) -> list[tuple[float, float, float]]:
    """(error, raw standard error, standard uncertainty) of every stretch of one crossing, against
    ``speed_at``."""
    zero = zero_from_preroll(window, float(entry[0]) - 0.2)
    if zero is None:
        return []
    _, stretches = load_centre(window, zero, entry, exit_, mid, scale, WimConfig())
    out = []
    for s in stretches:
        true = (speed_at(s.t1_s) - speed_at(s.t0_s)) / (s.t1_s - s.t0_s)
        out.append((s.accel_mps2 - true, s.accel_se_mps2, s.accel_sd_mps2))
    return out


def simulator(trucks: int, seed: int) -> list[tuple[float, float, float]]:
    geometry = LaneGeometry(platform_lengths_m=(LENGTH_M,))
    scale = ScaleConfig(platform_lengths_m=(LENGTH_M,), kg_per_count=0.02)
    scenario = random_scenario(
        seed, trucks, speed_kmh=(3.0, 40.0), blip_mps2=(0.3, 1.0), speed_change_over_m=LENGTH_M
    )
    cells = LoadCellModel(geometry.n_channels, seed=seed)
    found: list[tuple[float, float, float]] = []
    for motion in schedule(scenario, geometry):
        entry = motion.axle_crossing_times(geometry.entry_strip_x_m)
        exit_ = motion.axle_crossing_times(geometry.exit_x_m)
        t = (
            np.arange(math.floor((entry[0] - 1.0) * RATE_HZ), math.ceil((exit_[-1] + 0.1) * RATE_HZ))
            / RATE_HZ
        )
        window = SampleWindow(t, cells.counts(t, cell_loads_kg([motion], t, geometry)), 0)
        found += _stretch_errors(
            window, entry, exit_, None, scale, lambda x, m=motion: float(np.asarray(m.speed_at(x)))
        )
    return found


def independent_model(trucks: int, seed: int) -> list[tuple[float, float, float]]:
    rng = np.random.default_rng(
        [seed, list(independent.SCALES).index("single"), independent.POPULATIONS.index("throttle-blip")]
    )
    found: list[tuple[float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(trucks):
            crossing = independent.simulate_crossing(
                "single", "throttle-blip", rng, vehicle_number=number + 1
            )
            capture = read_capture(independent.write_capture(crossing, Path(tmp) / f"{number}.wlcap"))
            c = capture.crossing
            motion = crossing.motion
            found += _stretch_errors(
                c.window,
                c.entry_t_s,
                c.exit_t_s,
                c.mid_t_s,
                capture.config.scale,
                lambda x, m=motion: float(np.interp(x, m.t, m.v)),
            )
    return found


def summarise(found: list[tuple[float, float, float]]) -> list[dict[str, Any]]:
    error = np.abs(np.array([e for e, _, _ in found]))
    raw = np.array([r for _, r, _ in found])
    se = np.array([s for _, _, s in found])
    rows = []
    for low, high in (*BANDS, (0.0, math.inf)):
        band = (raw >= low) & (raw < high)
        if not band.any():
            continue
        rows.append(
            {
                "raw_se_band_mps2": [low, None if math.isinf(high) else high],
                "stretches": int(band.sum()),
                "within_2_raw_se": round(float(np.mean(error[band] <= 2 * raw[band])), 3),
                "within_2_se": round(float(np.mean(error[band] <= 2 * se[band])), 3),
                "error_p95_mps2": round(float(np.percentile(error[band], 95)), 3),
                "error_rms_to_raw_se_rms": round(
                    float(np.sqrt(np.mean(error[band] ** 2) / np.mean(raw[band] ** 2))), 2
                ),
                "error_rms_to_se_rms": round(
                    float(np.sqrt(np.mean(error[band] ** 2) / np.mean(se[band] ** 2))), 2
                ),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trucks", type=int, default=300, help="throttle-blipping trucks per model")
    parser.add_argument("--simulator-seed", type=int, default=7)
    parser.add_argument("--independent-seed", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = {
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "trucks": args.trucks,
        "calibration": {"se_scale": STRETCH_SE_SCALE, "floor_mps2": STRETCH_ACCEL_FLOOR_MPS2},
        "simulator": summarise(simulator(args.trucks, args.simulator_seed)),
        "independent": summarise(independent_model(args.trucks, args.independent_seed)),
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"{args.trucks} throttle-blipping trucks a model on one {LENGTH_M} m platform; {report['machine']}")
    for model in ("simulator", "independent"):
        print(
            f"\n{model}: raw se band (m/s²) | stretches | within 2 raw se | within 2 se | error p95 | RMS/raw | RMS/se"
        )
        for row in report[model]:
            low, high = row["raw_se_band_mps2"]
            band = f"{low}-{high if high is not None else 'inf'}"
            print(
                f"  {band:10s} | {row['stretches']:5d} | {row['within_2_raw_se']:.3f} | {row['within_2_se']:.3f}"
                f" | {row['error_p95_mps2']:.3f} | {row['error_rms_to_raw_se_rms']:.2f}"
                f" | {row['error_rms_to_se_rms']:.2f}"
            )


if __name__ == "__main__":
    main()
