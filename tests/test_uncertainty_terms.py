"""bench/uncertainty_terms.py: the diagnostic that reads the pitch correction's gross shift out of the
estimator while it weighs trucks on one 4.2 m platform."""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import uncertainty_terms as bench


def test_blips_move_the_gross_through_the_correction_and_steady_trucks_do_not() -> None:
    steady = bench.simulator_rows(7, 24, "steady")
    blips = bench.simulator_rows(7, 40) + bench.independent_rows(5, 6)
    assert len(steady) >= 20 and len(blips) >= 35
    assert not any(row["moved"] for row in steady)
    moved = [row for row in blips if row["moved"]]
    assert len(moved) >= 5, "no blip moved the gross through the pitch correction"
    for row in steady + blips:
        assert math.isfinite(row["error_pct"]) and row["u_pct"] > 0.0
    table = bench.summarise(blips)
    assert sum(entry["crossings"] for entry in table) == len(blips)
