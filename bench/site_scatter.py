"""The site's own scatter (``wim.site_sd_fraction``): calibrated on one set of captures, checked on another.

A deck or an approach that is not flat moves load between a truck's axles by its shape under them. Each
axle is weighed over a few metres, so the error is nearly constant over one crossing, and no crossing's
own evidence shows it: its stated uncertainty misses it. ``edge calibrate dynamic`` reads the scatter
from reference-vehicle runs. This bench does the same with every capture of ``--calibrate`` as a
reference run (each truck its own reference vehicle: the captures must carry their true static gross in
``meta.extra.truth.gross_kg``, as ``bench/independent_wim_model.py`` writes it), then judges the
captures of ``--evaluate`` three ways: as they are, with the site scatter, and with the scatter and the
speed-band correction factors the same runs give (what the command prints for the lane). The runs'
true axle loads give the share moved between the axles too (``--reference-axles``); ``--gross-only``
leaves it out. Both sets are grouped by ``truth.scale`` (one calibration per scale) and reported by
``truth.population`` and speed band.

    python bench/independent_wim_model.py --normal-crossings 200 --crossings 100 --seed 1 --out /tmp/m1
    python bench/independent_wim_model.py --normal-crossings 200 --crossings 100 --seed 2 --out /tmp/m2
    python bench/site_scatter.py --calibrate /tmp/m1/*/steady --evaluate /tmp/m2 --json

Reports per scale the fitted figures and, per population and speed band (<= 10 km/h, 10-40 km/h, by the
true mean speed; trucks whose axles truly crossed above 40 km/h are left out): crossings, the share
re-weighed, and of the judged ones the share whose gross error is within its expanded (k = 2)
uncertainty (the coverage, 95 % by design), the median uncertainty and the gross error's spread, and the
same coverage for each judged axle load.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.config import Config
from edge.judge import judge
from edge.rules import LimitTable, Verdict
from edge.wim.capture import Capture, read_capture
from edge.wim.corrections import BandFit, ReferenceRun, fit_speed_band_factors

BANDS = ("<=10 km/h", "10-40 km/h")

#: --gross-only: fit the common share alone, as `edge calibrate dynamic` without --reference-axles.
AXLES = {"on": True}


def _captures(folders: list[str]) -> list[Path]:
    paths = sorted(p for folder in folders for p in Path(folder).rglob("*.wlcap"))
    if not paths:
        raise SystemExit(f"no .wlcap captures under {' '.join(folders)}")
    return paths


def _truth(capture: Capture) -> dict[str, Any]:
    truth = capture.meta.extra.get("truth")
    if not isinstance(truth, dict) or "gross_kg" not in truth:
        raise SystemExit(
            f"{capture.path}: no meta.extra.truth.gross_kg (the true static gross); this bench needs captures"
            " that carry it, as bench/independent_wim_model.py writes them"
        )
    return truth


def _with_wim(config: Config, **update: Any) -> Config:
    return config.model_copy(update={"wim": config.wim.model_copy(update=update)})


def calibrate(paths: list[Path], limits: LimitTable) -> dict[str, BandFit]:
    """One fit per scale: every judged capture a reference run of its own true gross."""
    runs: dict[str, list[ReferenceRun]] = defaultdict(list)
    edges: dict[str, tuple[float, ...]] = {}
    for path in paths:
        capture = read_capture(path)
        truth = _truth(capture)
        judgement = judge(capture.crossing, capture.config, limits)
        m = judgement.measurement
        scale = str(truth.get("scale", "all"))
        edges[scale] = tuple(capture.config.wim.speed_band_edges_kmh)
        if m is None or judgement.decision.verdict is Verdict.REWEIGH or not math.isfinite(m.gross_kg):
            continue
        runs[scale].append(
            ReferenceRun(
                m.speed_kmh,
                m.gross_kg,
                float(truth["gross_kg"]),
                m.gross_uncertainty_kg,
                *(
                    (m.axle_loads_kg, tuple(truth["axle_loads_kg"]), m.axle_uncertainties_kg)
                    if AXLES["on"] and len(truth.get("axle_loads_kg") or ()) == len(m.axle_loads_kg)
                    else ()
                ),
            )
        )
    return {scale: fit_speed_band_factors(r, edges[scale]) for scale, r in runs.items()}


def evaluate(paths: list[Path], fits: dict[str, BandFit], limits: LimitTable) -> list[dict[str, Any]]:
    """Each capture judged as it is, with the site scatter, and with the scatter and the factors."""
    cells: dict[tuple[str, str, str, str], list[tuple[bool, float, float]]] = defaultdict(list)
    axles: dict[tuple[str, str, str, str], list[bool]] = defaultdict(list)  # each judged axle within its U
    for path in paths:
        capture = read_capture(path)
        truth = _truth(capture)
        scale = str(truth.get("scale", "all"))
        speeds = truth.get("axle_speeds_kmh") or [truth.get("speed_kmh", math.nan)]
        speed = float(truth.get("speed_kmh", math.nan))
        if max(speeds) > 40.0 or not math.isfinite(speed):
            continue
        band = BANDS[0] if speed <= 10.0 else BANDS[1]
        fit = fits.get(scale)
        if fit is None:
            continue
        site = fit.site_sd_fraction()
        per_axle = fit.site_axle_sd_fraction() if AXLES["on"] else ()
        variants = {
            "as is": capture.config,
            "site scatter": _with_wim(capture.config, site_sd_fraction=site, site_axle_sd_fraction=per_axle),
            "site scatter + factors": _with_wim(
                capture.config,
                site_sd_fraction=site,
                site_axle_sd_fraction=per_axle,
                corrections={"default": fit.factors},
            ),
        }
        for name, config in variants.items():
            judgement = judge(capture.crossing, config, limits)
            m = judgement.measurement
            reweigh = judgement.decision.verdict is Verdict.REWEIGH
            gross = judgement.gross_kg
            if reweigh or m is None or gross is None or not math.isfinite(gross):
                cells[(scale, str(truth.get("population", "all")), band, name)].append(
                    (True, math.nan, math.nan)
                )
                continue
            error = (gross - float(truth["gross_kg"])) / float(truth["gross_kg"])
            key = (scale, str(truth.get("population", "all")), band, name)
            cells[key].append((False, error, m.gross_uncertainty_kg / gross))
            true_axles = truth.get("axle_loads_kg") or []
            if len(true_axles) == len(m.axle_loads_kg):
                axles[key] += [
                    abs(a - b) <= u
                    for a, b, u in zip(m.axle_loads_kg, true_axles, m.axle_uncertainties_kg, strict=True)
                ]
    rows = []
    for (scale, population, band, name), items in sorted(cells.items()):
        judged = [(e, u) for r, e, u in items if not r]
        errors = np.array([e for e, _ in judged])
        stated = np.array([u for _, u in judged])
        rows.append(
            {
                "scale": scale,
                "population": population,
                "speed_band": band,
                "variant": name,
                "crossings": len(items),
                "reweighed_pct": round(100 * sum(r for r, _, _ in items) / len(items), 2),
                "gross_coverage": round(float(np.mean(np.abs(errors) <= stated)), 3) if judged else None,
                "gross_u_pct_p50": round(float(np.median(stated)) * 100, 3) if judged else None,
                "gross_error_sd_pct": round(float(np.std(errors)) * 100, 3) if len(judged) > 1 else None,
                "axle_coverage": round(float(np.mean(axles[(scale, population, band, name)])), 3)
                if axles.get((scale, population, band, name))
                else None,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--calibrate", nargs="+", required=True, help="folders of the reference runs' captures"
    )
    parser.add_argument("--evaluate", nargs="+", required=True, help="folders of the captures to check")
    parser.add_argument(
        "--gross-only",
        action="store_true",
        help="reference grosses only (no axle loads): the common share of the scatter alone",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    AXLES["on"] = not args.gross_only
    limits = LimitTable.load()
    started = time.monotonic()
    fits = calibrate(_captures(args.calibrate), limits)
    rows = evaluate(_captures(args.evaluate), fits, limits)
    report = {
        "benchmark": "site_scatter",
        "calibrate": args.calibrate,
        "evaluate": args.evaluate,
        "fits": {
            scale: {
                "speed_band_edges_kmh": fit.edges_kmh,
                "runs_per_band": fit.runs_per_band,
                "factors": fit.factors,
                "site_sd_pct": fit.site_sd_pct,
                "site_sd_fraction": fit.site_sd_fraction(),
                "site_axle_sd_pct": fit.site_axle_sd_pct,
            }
            for scale, fit in sorted(fits.items())
        },
        "results": rows,
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "seconds": round(time.monotonic() - started, 1),
    }
    if args.json:
        print(json.dumps(report))
        return
    for scale, fit in report["fits"].items():
        print(
            f"{scale}: runs per band {fit['runs_per_band']}, site sd % {fit['site_sd_pct']}, factors {fit['factors']}"
        )
    print(
        f"{'scale':<12} {'population':<20} {'band':<11} {'variant':<23} {'n':>4} {'rw %':>6} {'cover':>6} {'U p50 %':>8} {'err sd %':>8}"
    )
    for row in rows:
        print(
            f"{row['scale']:<12} {row['population']:<20} {row['speed_band']:<11} {row['variant']:<23}"
            f" {row['crossings']:>4} {row['reweighed_pct']:>6} {row['gross_coverage']!s:>6}"
            f" {row['gross_u_pct_p50']!s:>8} {row['gross_error_sd_pct']!s:>8}"
        )


if __name__ == "__main__":
    main()
