"""Judge the independent model's captures under [rules] / [wim] variants, side by side (issue 16).

Every capture written by ``bench/independent_wim_model.py --out DIR`` carries its truth
(``meta.extra.truth``). Each is judged through ``edge.judge.judge`` (as ``edge wim replay`` does) once per
variant. Trucks truly above 40 km/h are left out of every figure (the lane re-weighs them for their speed,
rightly), and so is a capture without the model's truth (counted as skipped). The report gives per scale
and driving population, in percent: the share re-weighed; the share re-weighed or weighed within the
scale's class limit (``bench/wim_accuracy.py``'s ``CLASS_LIMIT_PCT``: single 4.2 m and axle-group 2.5 %,
full-length 1 %); of the judged crossings, the share whose gross error is within their own expanded
uncertainty (its coverage); and of their axle loads, the share within 2 % of the truth.

``--split-change F`` splits each population by the truth's speed change over the scale and the axle span
(``span_speed_change``): ``POP (change <= F)`` and ``POP (change > F)``. The model's throttle blips are
not capped (+0.3-1.0 m/s² for 0.3-1.0 s: +120 % at 3 km/h), so most are jerky driving; the issue's normal
crossings change speed by at most 10 %, and ``--split-change 0.1`` shows the blips that stay within it.

    python bench/capture_variants.py /tmp/indep_run1 /tmp/indep_run2 \\
        --variant 'before={"rules": {"max_residual_fraction": 0.048}}' --variant 'after={}' --class-allowance

A variant's settings are merged over each capture's own configuration and validated as a lane config is
(a misspelt key or a value out of range stops the run). ``--class-allowance`` sets
``rules.max_gross_uncertainty_fraction`` to each scale's class limit first, as ``bench/wim_accuracy.py``
does (a site sets it to what its scale's class allows); without it the captures keep the default.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from functools import cache, partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.config import Config
from edge.judge import judge
from edge.rules import LimitTable
from edge.wim.capture import read_capture

#: The scale names the independent model writes, and their class limits (%), as bench/wim_accuracy.py.
CLASS_LIMIT_PCT = {"single": 2.5, "axle-group": 2.5, "full-length": 1.0}
#: Keys of a row that a variant's name must not take.
RESERVED = frozenset({"scale", "population", "too_fast", "speed_change"})

Variants = dict[str, dict[str, dict[str, Any]]]


def with_settings(config: Config, update: dict[str, dict[str, Any]]) -> Config:
    """``config`` with ``update``'s sections merged in, validated as a lane config is (a misspelt key or a
    value out of range raises ``pydantic.ValidationError``)."""
    data = config.model_dump()
    for section, values in update.items():
        data[section] = {**data[section], **values}
    return Config.model_validate(data)


@cache
def _limits() -> LimitTable:
    """The packaged limits table, read once per process (not once per capture)."""
    return LimitTable.load(None)


def judge_one(path: Path, variants: Variants, class_allowance: bool) -> dict[str, Any] | None:
    """One capture's row, or None where it carries no truth of the independent model's."""
    capture = read_capture(path)
    truth = capture.meta.extra.get("truth")
    if not isinstance(truth, dict) or truth.get("scale") not in CLASS_LIMIT_PCT:
        return None
    base = capture.config
    if class_allowance:
        limit = CLASS_LIMIT_PCT[truth["scale"]] / 100
        base = with_settings(base, {"rules": {"max_gross_uncertainty_fraction": limit}})
    change = truth.get("span_speed_change")
    row: dict[str, Any] = {
        "scale": truth["scale"],
        "population": truth["population"],
        "too_fast": max(truth["axle_speeds_kmh"]) > 40.0,
        "speed_change": abs(float(change)) if isinstance(change, int | float) else None,
    }
    for tag, update in variants.items():
        judged = judge(capture.crossing, with_settings(base, update), _limits())
        m = judged.measurement
        reweigh = judged.decision.verdict.value == "reweigh"
        error = None if reweigh or m is None else 100 * (m.gross_kg / truth["gross_kg"] - 1)
        axles = (
            [100 * (a / b - 1) for a, b in zip(m.axle_loads_kg, truth["axle_loads_kg"], strict=True)]
            if error is not None and m is not None and len(m.axle_loads_kg) == len(truth["axle_loads_kg"])
            else []
        )
        covered = (
            None
            if error is None or m is None
            else abs(m.gross_kg - truth["gross_kg"]) <= m.gross_uncertainty_kg
        )
        row[tag] = {"reweigh": reweigh, "error_pct": error, "axle_errors_pct": axles, "covered": covered}
    return row


def _cell(row: dict[str, Any], split_change: float | None) -> str:
    """The report's population key of ``row``: its population, split by its speed change where asked."""
    if split_change is None or row["speed_change"] is None:
        return str(row["population"])
    side = "<=" if row["speed_change"] <= split_change else ">"
    return f"{row['population']} (change {side} {split_change:g})"


def report(rows: list[dict[str, Any]], tags: list[str], split_change: float | None = None) -> dict[str, Any]:
    cells: dict[str, dict[str, Any]] = defaultdict(dict)
    for scale, class_pct in CLASS_LIMIT_PCT.items():
        for population in sorted({_cell(r, split_change) for r in rows}):
            some = [
                r
                for r in rows
                if r["scale"] == scale and _cell(r, split_change) == population and not r["too_fast"]
            ]
            if not some:
                continue
            entry: dict[str, Any] = {"crossings": len(some)}
            for tag in tags:
                reweighed = sum(r[tag]["reweigh"] for r in some)
                outside = sum(
                    r[tag]["error_pct"] is not None and abs(r[tag]["error_pct"]) > class_pct for r in some
                )
                axles = [abs(e) <= 2.0 for r in some for e in r[tag]["axle_errors_pct"]]
                covered = [r[tag]["covered"] for r in some if r[tag]["covered"] is not None]
                entry[tag] = {
                    "reweighed_pct": round(100 * reweighed / len(some), 2),
                    "reweighed_or_within_class_pct": round(100 * (len(some) - outside) / len(some), 2),
                    "gross_coverage_pct": round(100 * sum(covered) / len(covered), 2) if covered else None,
                    "axle_loads_within_2pct_pct": round(100 * sum(axles) / len(axles), 2) if axles else None,
                }
            cells[scale][population] = entry
    return cells


def _variants(parser: argparse.ArgumentParser, texts: list[str]) -> Variants:
    variants: Variants = {}
    for text in texts:
        name, _, settings = text.partition("=")
        if not name or not settings:
            parser.error(f"--variant must be NAME=JSON, got {text!r}")
        if name in RESERVED or name in variants:
            parser.error(f"--variant name {name!r} is taken; choose another")
        try:
            update = json.loads(settings)
        except json.JSONDecodeError as e:
            parser.error(f"--variant {name}: not JSON ({e}): {settings!r}")
        if not isinstance(update, dict) or not all(isinstance(v, dict) for v in update.values()):
            parser.error(
                f'--variant {name}: give sections of settings, e.g. {{"rules": {{...}}}}, got {settings!r}'
            )
        variants[name] = update
    return variants


def _check(parser: argparse.ArgumentParser, variants: Variants, config: Config) -> None:
    """Stop on a variant that no lane config takes (checked over the first capture's own)."""
    for name, update in variants.items():
        try:
            with_settings(config, update)
        except (ValidationError, KeyError) as e:
            parser.error(f"--variant {name}: not a valid lane config setting: {e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "dirs", nargs="+", type=Path, help="directories of .wlcap captures (searched recursively)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        required=True,
        help='NAME={"rules": {...}, "wim": {...}}: settings over the captures\' own; repeatable',
    )
    parser.add_argument("--class-allowance", action="store_true", help="allowance = each scale's class limit")
    parser.add_argument(
        "--split-change",
        type=float,
        metavar="F",
        help="split each population by the truth's speed change over the scale (a fraction, e.g. 0.1)",
    )
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    variants = _variants(parser, args.variant)
    if args.split_change is not None and not 0.0 < args.split_change <= 1.0:
        parser.error(
            f"--split-change is a fraction of the speed (0.1 for 10 %), at most 1; got {args.split_change}"
        )
    paths = sorted(p for d in args.dirs for p in d.rglob("*.wlcap"))
    if not paths:
        parser.error(f"no .wlcap captures under {', '.join(map(str, args.dirs))}")
    _check(parser, variants, read_capture(paths[0]).config)
    with ProcessPoolExecutor(args.jobs) as pool:
        judged = list(
            pool.map(
                partial(judge_one, variants=variants, class_allowance=args.class_allowance),
                paths,
                chunksize=8,
            )
        )
    rows = [r for r in judged if r is not None]
    out = {
        "captures": len(rows),
        "skipped_without_truth": len(judged) - len(rows),
        "class_allowance": args.class_allowance,
        "split_change": args.split_change,
        "variants": variants,
        "results": report(rows, list(variants), args.split_change),
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
