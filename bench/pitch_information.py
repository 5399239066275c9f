"""What a 2-axle truck's crossing of one short platform can tell about its pitch load transfer, and the gross
error left when everything is known: an oracle, on both physics models.

Under acceleration ``a`` a rigid 2-axle truck moves ``G h a / (g W)`` (``G`` gross, ``h`` its centre of
gravity's height, ``W`` the wheelbase) from the front axle to the rear. On a platform shorter than the
wheelbase the two axles are weighed at different moments, so where the acceleration differs between them
(a throttle blip) the gross is off by the difference of their transfers unless it is corrected; the
estimator corrects it at a typical height (``edge.wim.estimate.CG_HEIGHT_TYPICAL_M``) and takes the spread
of real heights (``CG_HEIGHT_SPREAD_M``, standard) as uncertainty. A better correction would measure ``h``
from the crossing itself.

This bench gives an oracle far more than the lane has: each axle's exact force (no tyre footprint, load
cells or noise) while it is on the platform, and the exact acceleration at every instant. It fits, by least
squares over both axles' time on the platform, ``F_i(t) = L_i + c_i h a(t)`` (``c`` from the statics above;
the axles' static loads ``L_i`` and ``h`` unknown) and reports, per speed band:

* how well the fit measures ``h`` (where the acceleration varied within some axle's time on the
  platform): the median miss and the share within the estimator's prior spread, beside the share whose
  true height is within that spread of the typical one;
* the gross error of the oracle's loads (``L_1 + L_2`` against the true static gross) with ``h``
  measured, ``h`` known exactly, ``h`` at the typical height, and no correction: its RMS, its 95th
  percentile, and the share beyond class 5's 2.5 %.

The fit's transfer follows the acceleration at once; both models pass it through the body's pitch and
suspension, so their lag stays in the residual. With ``h`` known the error is what the truck's bounce,
pitch, hop and that lag leave in the mean force over each axle's time on the platform (0.4 s at 35 km/h on
4.2 m): the floor of an estimator that weighs each axle by its mean force and corrects the transfer at the
mean acceleration, as the lane's does. ``prior_within`` is the share of the trucks whose true height is
within the prior's spread of the typical one: what taking the typical height achieves.

The project's simulator (``firmware_sim``) and the independent model (``bench/independent_wim_model.py``:
its own suspensions and road) each give 2-axle rigid trucks at 3-40 km/h, steady and blipping the
throttle (0.3-1.0 m/s² for 0.3-1.0 s); each draws ``h`` by its own rule, from 1.0 m empty to 1.6-2.3 m
laden. Only 2-axle trucks: their transfer follows from statics alone.

    python bench/pitch_information.py                    # 400 crossings per model and population
    python bench/pitch_information.py --crossings 800 --json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import independent_wim_model as independent

from edge.wim.estimate import CG_HEIGHT_SPREAD_M, CG_HEIGHT_TYPICAL_M
from firmware_sim.physics import GRAVITY_M_S2, LaneGeometry, schedule
from firmware_sim.population import random_scenario

FloatArray = npt.NDArray[np.float64]

PLATFORM_M = 4.2
#: An axle counts as on the platform while its centre is this far inside both ends (half a tyre
#: footprint): the whole patch is on it.
MARGIN_M = 0.15
SPEED_BANDS_KMH = ((3.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, 40.0))
CLASS_5_PCT = 2.5
POPULATIONS = ("steady", "throttle-blip")


@dataclass(frozen=True)
class Oracle:
    """One crossing's oracle fit."""

    speed_kmh: float
    h_true_m: float
    h_fit_m: float  # NaN where the acceleration did not vary while the axles were on the platform
    error_pct: dict[str, float]  # gross error (% of the static gross) by how h was taken


def oracle_fit(
    forces_kg: FloatArray,
    on: npt.NDArray[np.bool_],
    accel_mps2: FloatArray,
    static_kg: FloatArray,
    wheelbase_m: float,
    h_true_m: float,
    speed_kmh: float,
) -> Oracle:
    """The oracle's fit of one 2-axle crossing: ``forces_kg`` (samples, 2) each axle's exact force, ``on``
    (samples, 2) where it stood on the platform, ``accel_mps2`` (samples,) the exact acceleration."""
    gross = float(static_kg.sum())
    per_h = np.array([-1.0, 1.0]) * gross / (GRAVITY_M_S2 * wheelbase_m)  # kg per (m/s² x m of height)
    blocks = []
    targets = []
    for axle in range(2):
        rows = on[:, axle]
        block = np.zeros((int(rows.sum()), 3))
        block[:, axle] = 1.0
        block[:, 2] = per_h[axle] * accel_mps2[rows]
        blocks.append(block)
        targets.append(forces_kg[rows, axle])
    design = np.vstack(blocks)
    target = np.concatenate(targets)
    h_fit = math.nan
    # h is measurable only where the acceleration varied within some axle's time on the platform: a
    # constant acceleration over each axle's rows makes the height's column a sum of the intercepts'.
    solution, _, rank, _ = np.linalg.lstsq(design, target, rcond=None)
    if rank == 3:
        h_fit = float(solution[2])

    def error(h_m: float) -> float:
        loads = np.linalg.lstsq(design[:, :2], target - h_m * design[:, 2], rcond=None)[0]
        return float((loads.sum() - gross) / gross * 100.0)

    errors = {"h known": error(h_true_m), "h typical": error(CG_HEIGHT_TYPICAL_M), "uncorrected": error(0.0)}
    errors["h measured"] = error(h_fit) if math.isfinite(h_fit) else math.nan
    return Oracle(speed_kmh, h_true_m, h_fit, errors)


def simulator_crossings(
    seed: int, crossings: int, population: str, speed_kmh: tuple[float, float] = (3.0, 40.0)
) -> list[Oracle]:
    """The project simulator's 2-axle trucks among ``crossings`` of one seeded population."""
    geometry = LaneGeometry(platform_lengths_m=(PLATFORM_M,))
    blips = {"blip_mps2": (0.3, 1.0)} if population == "throttle-blip" else {}
    scenario = random_scenario(seed, crossings, speed_kmh=speed_kmh, speed_change_over_m=PLATFORM_M, **blips)
    results = []
    for motion in schedule(scenario, geometry):
        truck = motion.truck
        if len(truck.axle_loads_kg) != 2 or motion.dynamics is None:
            continue
        start, end = motion.on_scale_interval(geometry)
        t = np.arange(start, end, 0.001)
        x = np.asarray(motion.axle_x(t))
        results.append(
            oracle_fit(
                np.asarray(motion.axle_loads_at(t)),
                (x >= MARGIN_M) & (x <= PLATFORM_M - MARGIN_M),
                np.asarray(motion.acceleration_at(t), dtype=np.float64),
                np.asarray(truck.axle_loads_kg, dtype=np.float64),
                float(truck.axle_spacings_m[0]),
                motion.dynamics.cg_height_m,
                truck.speed_kmh,
            )
        )
    return results


def independent_crossings(
    seed: int,
    crossings: int,
    population: str,
    speed_kmh: tuple[float, float] = (3.0, 40.0),
    road_gd_max: float = 64e-6,
) -> list[Oracle]:
    """``crossings`` 2-axle rigid trucks of the independent model, speeds uniform in ``speed_kmh``, on its
    road (``road_gd_max``: the roughest ISO 8608 level it draws, m³)."""
    rng = np.random.default_rng([seed, POPULATIONS.index(population)])
    results = []
    for _ in range(crossings):
        truck = independent.make_truck("2-rigid", rng)
        speed = float(rng.uniform(*speed_kmh))
        motion = independent.make_motion(population, rng, speed, truck.span_m, PLATFORM_M)
        first = float(motion.x_front[0])
        road_x, road_z, _ = independent.make_road(
            rng, first - truck.span_m, first + 0.5, float(motion.x_front[-1]) + 1.0, 0.0, road_gd_max
        )
        forces = independent.tyre_forces(truck, motion, road_x, road_z) / GRAVITY_M_S2
        x = motion.x_front[:, None] - truck.axle_d_m[None, :]
        body = truck.bodies[0]
        results.append(
            oracle_fit(
                forces,
                (x >= MARGIN_M) & (x <= PLATFORM_M - MARGIN_M),
                motion.a,
                truck.static_kg,
                float(truck.axle_d_m[1]),
                body.cg_height_m,
                speed,
            )
        )
    return results


def summarise(results: list[Oracle]) -> list[dict[str, Any]]:
    rows = []
    for low, high in SPEED_BANDS_KMH:
        band = [r for r in results if low <= r.speed_kmh < high]
        if not band:
            continue
        row: dict[str, Any] = {"speed_kmh": f"{low:g}-{high:g}", "crossings": len(band)}
        measured = np.array([r.h_fit_m - r.h_true_m for r in band if math.isfinite(r.h_fit_m)])
        row["h_measurable"] = int(measured.size)
        row["prior_within"] = round(
            float(np.mean([abs(r.h_true_m - CG_HEIGHT_TYPICAL_M) <= CG_HEIGHT_SPREAD_M for r in band])), 3
        )
        if measured.size:
            row["h_miss_median_m"] = round(float(np.median(np.abs(measured))), 3)
            row["h_within_prior"] = round(float(np.mean(np.abs(measured) <= CG_HEIGHT_SPREAD_M)), 3)
        for how in ("h measured", "h known", "h typical", "uncorrected"):
            errors = np.array([r.error_pct[how] for r in band])
            errors = errors[np.isfinite(errors)]
            if errors.size == 0:
                continue
            row[how] = {
                "rms_pct": round(float(np.sqrt(np.mean(errors**2))), 3),
                "p95_pct": round(float(np.percentile(np.abs(errors), 95)), 3),
                "beyond_class_5": round(float(np.mean(np.abs(errors) > CLASS_5_PCT)), 3),
                "beyond_class_5_n": int(np.sum(np.abs(errors) > CLASS_5_PCT)),
            }
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--crossings", type=int, default=400, help="per model and population")
    parser.add_argument("--simulator-seed", type=int, default=2026)
    parser.add_argument("--independent-seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    for population in POPULATIONS:
        # One simulator class in eight has 2 axles: draw eight times as many crossings.
        report[f"simulator, {population}"] = summarise(
            simulator_crossings(args.simulator_seed, 8 * args.crossings, population)
        )
        report[f"independent, {population}"] = summarise(
            independent_crossings(args.independent_seed, args.crossings, population)
        )
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(
        f"2-axle trucks on one {PLATFORM_M} m platform; the oracle reads each axle's exact force and the exact "
        f"acceleration. h within prior: |h fitted - h| <= {CG_HEIGHT_SPREAD_M} m. Gross error: RMS / p95 % / "
        f"share beyond {CLASS_5_PCT} %."
    )
    for name, rows in report.items():
        print(f"\n{name}")
        for row in rows:
            h = (
                f"h miss p50 {row['h_miss_median_m']:.2f} m, within prior {row['h_within_prior']:.0%}"
                f" of {row['h_measurable']} (typical {row['prior_within']:.0%})"
                if row["h_measurable"]
                else "h not measurable"
            )
            cells = "  ".join(
                f"{how}: {row[how]['rms_pct']:.2f} / {row[how]['p95_pct']:.2f} / {row[how]['beyond_class_5']:.1%}"
                for how in ("h measured", "h known", "h typical", "uncorrected")
                if how in row
            )
            print(f"  {row['speed_kmh']:>5} km/h n={row['crossings']:3d}  {h}  |  {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
