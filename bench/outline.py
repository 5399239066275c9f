"""Outline dimensions: accuracy per shape and fault against the simulator's truth, and the Numba kernels'
speed against their NumPy references in the same run.

Accuracy: ``--per-shape`` vehicles of each of the six shapes (cab, box van, tanker, flatbed with an
overhanging load, car carrier, side load) drive through the default gantry (overhead scanner at 6.5 m,
one on each post at 1.6 m, 100 Hz, 0.5 deg) at 5-20 km/h, braking or accelerating up to 0.3 m/s^2, under
each fault set of :data:`firmware_sim.lidar_scene.FAULTS`.  The speed profile handed to the measurement
is the true one scaled by (1 + e), e ~ N(0, s) for each s of ``--speed-errors`` (the same draw of
N(0, 1) per vehicle for every s): what WIM axle timing gives, not the truth.  Each vehicle is measured
twice on the same scans: ``wim`` (the three gantry scanners and the speed profile alone) and ``pair``
(plus a fourth, overhead scanner ``--baseline`` m upstream whose copy of the height profile corrects the
speed, docs/outline.md), both told the profile's uncertainty s (at least 0.1 %).
Reported: the share of vehicles within GB 21861-2014's registration tolerance (+/-1 % or +/-50 mm,
whichever is larger, per dimension, all three at once), within +/-2 cm width and height and +/-10 cm
length, the 95th percentile and maximum absolute errors, and how often the true value lay within the
reported +/-2u.

Speed: each step (point cloud, beam support, neighbour counts, noise estimate, extents) and the whole
measurement on the scans of one car carrier with every fault on, Numba (after a warm-up whose time is
reported) against the reference, median of ``--repeat`` runs.  Numba and the reference must agree.

    python bench/outline.py                      # 5 vehicles per shape and fault
    python bench/outline.py --per-shape 20 --json
    python bench/outline.py --only accuracy --faults all --per-shape 10

Targets: >= 95 % of vehicles within GB 21861 with every fault on (issue 17), with the speed pair, at
every speed-profile error; Numba >= 10x the reference on the whole measurement.  Exits 1 if a target
fails.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edge.outline import kernels, reference
from edge.outline.measure import (
    OutlineParams,
    ScannerScans,
    finish_outline,
    measure_outline,
    prepare_outline,
)
from firmware_sim.lidar_scene import (
    FAULTS,
    SHAPES,
    Passage,
    SimulatedScans,
    default_gantry,
    simulate_passage,
    speed_pair_gantry,
)

DIMS = ("length", "width", "height")


def _scans(sim: SimulatedScans, pair: bool = True) -> list[ScannerScans]:
    """The gantry's scans; the scanner named ``upstream`` forms a speed pair with ``overhead``."""
    return [
        ScannerScans(
            sim.times_s[m.name],
            sim.ranges_mm[m.name],
            m.beam_angles_rad(),
            m.y_m,
            m.z_m,
            m.x_m,
            m.name,
            "overhead" if m.name == "upstream" else "",
        )
        for m in sim.mounts
        if pair or m.name != "upstream"
    ]


Row = tuple[str, tuple[float, ...], tuple[float, ...], tuple[float, ...]]


def accuracy(
    per_shape: int, speed_errors: list[float], baseline_m: float, faults: list[str], seed: int
) -> dict[str, Any]:
    """{speed error: {mode: {fault: summary}}}, modes ``wim`` and (with a baseline) ``pair``."""
    gantry = speed_pair_gantry(baseline_m) if baseline_m > 0 else default_gantry()
    modes = ("wim", "pair") if baseline_m > 0 else ("wim",)
    rows: dict[tuple[float, str, str], list[Row]] = {}
    profile_t = np.linspace(0.0, 60.0, 241)
    for fault_name in faults:
        for shape_index, shape_name in enumerate(SHAPES):
            for k in range(per_shape):
                rng = np.random.default_rng([seed, shape_index, k])
                shape = SHAPES[shape_name](rng)
                passage = Passage(
                    shape,
                    speed_m_s=float(rng.uniform(1.4, 5.6)),
                    accel_m_s2=float(rng.uniform(-0.3, 0.3)),
                    approach_m=2.0 + baseline_m,
                )
                z = float(rng.normal())
                sim = simulate_passage(passage, gantry, FAULTS[fault_name], rng)
                prepared = {mode: prepare_outline(_scans(sim, mode == "pair")) for mode in modes}
                for error in speed_errors:
                    profile_v = passage.speed_at(profile_t) * (1.0 + z * error)
                    params = OutlineParams(speed_rel_sigma=max(error, 0.001))
                    for mode in modes:
                        o = finish_outline(prepared[mode], profile_t, profile_v, params)
                        got = (o.length_m, o.width_m, o.height_m)
                        u = (o.u_length_m, o.u_width_m, o.u_height_m)
                        rows.setdefault((error, mode, fault_name), []).append(
                            (shape_name, shape.truth_m, got, u)
                        )
    return {
        f"{100 * error:g} %": {
            mode: {fault: _summarise(rows[(error, mode, fault)]) for fault in faults} for mode in modes
        }
        for error in speed_errors
    }


def _summarise(
    rows: list[tuple[str, tuple[float, ...], tuple[float, ...], tuple[float, ...]]],
) -> dict[str, Any]:
    truth = np.array([r[1] for r in rows])
    got = np.array([r[2] for r in rows])
    u = np.array([r[3] for r in rows])
    err = got - truth
    gb = np.all(np.abs(err) <= np.maximum(0.05, 0.01 * truth), axis=1)
    tight = (np.abs(err[:, 0]) <= 0.10) & (np.abs(err[:, 1]) <= 0.02) & (np.abs(err[:, 2]) <= 0.02)
    covered = np.abs(err) <= 2 * u
    per_shape = {}
    for name in SHAPES:
        sel = np.array([r[0] == name for r in rows])
        per_shape[name] = {
            "max_abs_err_mm": {
                d: round(float(np.abs(err[sel, i]).max()) * 1000, 1) for i, d in enumerate(DIMS)
            },
            "gb21861": f"{int(gb[sel].sum())}/{int(sel.sum())}",
        }
    return {
        "vehicles": len(rows),
        "within_gb21861_pct": round(100 * float(gb.mean()), 1),
        "within_2cm_10cm_pct": round(100 * float(tight.mean()), 1),
        "p95_abs_err_mm": {
            d: round(float(np.percentile(np.abs(err[:, i]), 95)) * 1000, 1) for i, d in enumerate(DIMS)
        },
        "max_abs_err_mm": {d: round(float(np.abs(err[:, i]).max()) * 1000, 1) for i, d in enumerate(DIMS)},
        "truth_within_2u_pct": {d: round(100 * float(covered[:, i].mean()), 1) for i, d in enumerate(DIMS)},
        "per_shape": per_shape,
    }


def _median_s(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def speed(repeat: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    passage = Passage(SHAPES["car_carrier"](rng), speed_m_s=4.0, accel_m_s2=-0.1)
    sim = simulate_passage(passage, default_gantry(), FAULTS["all"], rng)
    scans = _scans(sim)
    profile_t = np.linspace(0.0, 60.0, 241)
    profile_v = passage.speed_at(profile_t)
    t0 = time.perf_counter()
    kernels.warm_up()
    warm_s = time.perf_counter() - t0
    s0 = scans[0]
    point_args = (
        s0.ranges_mm,
        s0.times_s,
        s0.angles_rad,
        s0.mount_y_m,
        s0.mount_z_m,
        0.0,
        profile_t,
        profile_v,
        3.0,
        0.15,
    )
    pts, scan = kernels.scan_points(*point_args)
    space = np.column_stack([pts[:, 4] * 4.0, pts[:, 1], pts[:, 2]])
    keep = kernels.neighbour_counts(space, 0.15, 10) >= 10
    ext_args = (pts, scan, keep, 3, 2, 0.04, 2, np.zeros(scan.size, dtype=np.int64), 2)
    steps: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "scan_points (overhead)": (
            lambda: kernels.scan_points(*point_args),
            lambda: reference.scan_points_ref(*point_args),
        ),
        "beam_support (overhead)": (
            lambda: kernels.beam_support(s0.ranges_mm, s0.angles_rad, 2, 0.08),
            lambda: reference.beam_support_ref(s0.ranges_mm, s0.angles_rad, 2, 0.08),
        ),
        "neighbour_counts (overhead)": (
            lambda: kernels.neighbour_counts(space, 0.15, 10),
            lambda: reference.neighbour_counts_ref(space, 0.15, 10),
        ),
        "range_noise_sigma (overhead)": (
            lambda: kernels.range_noise_sigma(s0.ranges_mm),
            lambda: reference.range_noise_sigma_ref(s0.ranges_mm),
        ),
        "extents (overhead)": (lambda: kernels.extents(*ext_args), lambda: reference.extents_ref(*ext_args)),
        "measure_outline (3 scanners)": (
            lambda: measure_outline(scans, profile_t, profile_v),
            lambda: measure_outline(scans, profile_t, profile_v, use_reference=True),
        ),
    }
    pair_sim = simulate_passage(
        Passage(passage.shape, speed_m_s=4.0, accel_m_s2=-0.1, approach_m=6.0),
        speed_pair_gantry(4.0),
        FAULTS["all"],
        rng,
    )
    pair = prepare_outline(_scans(pair_sim)).pairs[0]
    xa = kernels.travel(np.ascontiguousarray(pair.rows_a[:, 0]), profile_t, profile_v) - pair.x_a_m
    xb = kernels.travel(np.ascontiguousarray(pair.rows_b[:, 0]), profile_t, profile_v) - pair.x_b_m
    shift_args = (
        xa,
        np.ascontiguousarray(pair.rows_a[:, 3]),
        xb,
        np.ascontiguousarray(pair.rows_b[:, 3]),
        0.15,
        0.005,
        0.0005,
        0.3,
    )
    steps["profile_shift (speed pair)"] = (
        lambda: kernels.profile_shift(*shift_args),
        lambda: reference.profile_shift_ref(*shift_args),
    )
    pair_scans = _scans(pair_sim)
    steps["measure_outline (3 + speed pair)"] = (
        lambda: measure_outline(pair_scans, profile_t, profile_v),
        lambda: measure_outline(pair_scans, profile_t, profile_v, use_reference=True),
    )
    fast_o = measure_outline(scans, profile_t, profile_v)
    slow_o = measure_outline(scans, profile_t, profile_v, use_reference=True)
    if not np.allclose(
        [fast_o.length_m, fast_o.width_m, fast_o.height_m], [slow_o.length_m, slow_o.width_m, slow_o.height_m]
    ):
        print("Numba and reference disagree", fast_o, slow_o, file=sys.stderr)
        sys.exit(2)
    result: dict[str, Any] = {
        "input": f"car carrier {passage.shape.truth_m[0]:.1f} m at 4 m/s, faults 'all', "
        f"{sum(s.ranges_mm.shape[0] for s in scans)} scans x 381 beams, {fast_o.points} points",
        "warm_up_s": round(warm_s, 2),
        "steps": {},
    }
    for name, (fast, slow) in steps.items():
        f = _median_s(fast, repeat)
        s = _median_s(slow, max(1, repeat // 3))
        result["steps"][name] = {
            "numba_ms": round(f * 1000, 2),
            "reference_ms": round(s * 1000, 1),
            "speedup": round(s / f, 1),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-shape", type=int, default=5)
    parser.add_argument(
        "--speed-errors",
        default="0,0.002,0.005,0.01",
        help="1-sigma relative speed profile errors, comma-separated",
    )
    parser.add_argument(
        "--speed-error", type=float, help="one 1-sigma speed profile error (the older form of --speed-errors)"
    )
    parser.add_argument(
        "--baseline", type=float, default=4.0, help="speed pair: upstream scanner's distance (m); 0: none"
    )
    parser.add_argument("--faults", nargs="+", default=list(FAULTS), choices=list(FAULTS))
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--only", choices=("speed", "accuracy"), help="run one half")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "speed": speed(args.repeat, args.seed) if args.only != "accuracy" else None,
        "accuracy": accuracy(
            args.per_shape,
            [args.speed_error]
            if args.speed_error is not None
            else [float(e) for e in args.speed_errors.split(",")],
            args.baseline,
            args.faults,
            args.seed,
        )
        if args.only != "speed"
        else None,
    }
    mode = "pair" if args.baseline > 0 else "wim"
    ok_acc = (
        report["accuracy"] is None
        or "all" not in args.faults
        or all(by_mode[mode]["all"]["within_gb21861_pct"] >= 95.0 for by_mode in report["accuracy"].values())
    )
    ok_speed = (
        report["speed"] is None or report["speed"]["steps"]["measure_outline (3 scanners)"]["speedup"] >= 10.0
    )
    if args.json:
        print(json.dumps(report, indent=1, ensure_ascii=False))
    else:
        _print(report)
    print(
        f"target >= 95 % within GB 21861 with every fault, {mode}, every speed error: {'PASS' if ok_acc else 'FAIL'}"
    )
    print(f"target Numba >= 10x reference (whole measurement): {'PASS' if ok_speed else 'FAIL'}")
    return 0 if ok_acc and ok_speed else 1


def _print(report: dict[str, Any]) -> None:
    if report["speed"] is not None:
        sp = report["speed"]
        print(f"speed: {sp['input']}; warm-up {sp['warm_up_s']} s")
        for name, row in sp["steps"].items():
            print(
                f"  {name:30s} numba {row['numba_ms']:9.2f} ms  reference {row['reference_ms']:9.1f} ms  x{row['speedup']}"
            )
    if report["accuracy"] is not None:
        print("accuracy (GB 21861 = all three within +/-1 % or 50 mm; tight = +/-10 cm L, +/-2 cm W and H):")
        for error, by_mode in report["accuracy"].items():
            for mode, by_fault in by_mode.items():
                print(f" speed profile error {error} (1 sigma), {mode}:")
                for fault, row in by_fault.items():
                    print(
                        f"  {fault:9s} n={row['vehicles']:3d}  GB21861 {row['within_gb21861_pct']:5.1f} %  tight {row['within_2cm_10cm_pct']:5.1f} %"
                        f"  p95 |err| L/W/H {row['p95_abs_err_mm']['length']}/{row['p95_abs_err_mm']['width']}/{row['p95_abs_err_mm']['height']} mm"
                        f"  max {row['max_abs_err_mm']['length']}/{row['max_abs_err_mm']['width']}/{row['max_abs_err_mm']['height']} mm"
                        f"  truth in 2u L/W/H {row['truth_within_2u_pct']['length']}/{row['truth_within_2u_pct']['width']}/{row['truth_within_2u_pct']['height']} %"
                    )
                if "all" in by_fault:
                    print(
                        "   per shape, faults 'all': "
                        + ", ".join(
                            f"{k} {v['gb21861']} max {v['max_abs_err_mm']}"
                            for k, v in by_fault["all"]["per_shape"].items()
                        )
                    )


if __name__ == "__main__":
    sys.exit(main())
