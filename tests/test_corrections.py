"""Speed-band correction factors: fitted from reference runs, applied by class and band."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from edge.cli import main
from edge.config import WimConfig, load_config
from edge.lane.buffer import SampleWindow
from edge.lane.crossing import Crossing
from edge.wim.capture import write_capture
from edge.wim.corrections import ReferenceRun, correction_factor, fit_speed_band_factors
from firmware_sim.physics import LaneGeometry, LoadCellModel, cell_loads_kg, schedule
from firmware_sim.scenario import load_scenario

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "lane.example.toml"


def test_fit_recovers_a_speed_dependent_bias() -> None:
    rng = np.random.default_rng(4)
    reference = 40_000.0
    runs = []
    for _ in range(200):
        speed = float(rng.uniform(3, 40))
        bias = 1.0 + 0.0005 * speed  # the scale reads high, more so when fast
        runs.append(ReferenceRun(speed, reference * bias * (1 + rng.normal(0, 0.002)), reference))
    fit = fit_speed_band_factors(runs, (0, 10, 20, 40, 100))
    assert fit.runs_per_band[-1] == 0 and fit.empty_bands == ["40-100 km/h"]
    assert fit.factors[-1] == 1.0
    assert fit.factors[0] == pytest.approx(1 / 1.0025, abs=0.001)
    assert fit.factors[2] == pytest.approx(1 / 1.015, abs=0.001)
    assert all(s is not None and s < 0.5 for s in fit.spread_pct[:3])


def test_config_applies_class_then_default_factors() -> None:
    wim = WimConfig(
        speed_band_edges_kmh=(0, 10, 40), corrections={"default": (1.01, 0.99), "6-combination": (1.02, 0.98)}
    )

    def factor(wim: WimConfig, vehicle_class: str, speed_kmh: float) -> float:
        return correction_factor(wim.corrections, wim.speed_band_edges_kmh, vehicle_class, speed_kmh)

    assert factor(wim, "2-rigid", 5.0) == 1.01
    assert factor(wim, "2-rigid", 25.0) == 0.99
    assert factor(wim, "6-combination", 10.5) == 0.98
    assert factor(wim, "6-combination", float("nan")) == 1.0
    assert factor(WimConfig(), "2-rigid", 12.0) == 1.0


def test_bad_factor_tables_are_refused() -> None:
    with pytest.raises(ValidationError, match="one factor per band"):
        WimConfig(speed_band_edges_kmh=(0, 10, 40), corrections={"default": (1.0,)})
    with pytest.raises(ValidationError, match="broken calibration"):
        WimConfig(speed_band_edges_kmh=(0, 10, 40), corrections={"default": (1.0, 1.5)})


def test_calibrate_dynamic_fits_factors_from_reference_captures(tmp_path: Path) -> None:
    """A scale reading 1.5 % high: reference-truck captures at several speeds give factors near 1/1.015."""
    geometry = LaneGeometry()
    config = load_config(EXAMPLE)
    scenario = load_scenario("default")
    reference = next(t for t in scenario.trucks if t.n_axles == 6 and t.stop_on_scale_s == 0)
    paths = []
    cells = LoadCellModel(geometry.n_channels, seed=5)
    for i, speed in enumerate((5.0, 8.0, 15.0, 18.0, 30.0)):
        truck = reference.model_copy(update={"speed_kmh": speed})
        (motion,) = schedule(scenario.model_copy(update={"trucks": [truck]}), geometry)
        entry = motion.axle_crossing_times(geometry.entry_strip_x_m)
        exit_ = motion.axle_crossing_times(geometry.exit_x_m)
        t = np.arange(np.floor((entry[0] - 0.7) * 1000), np.ceil((exit_[-1] + 0.1) * 1000)) / 1000
        counts = cells.counts(t, cell_loads_kg([motion], t, geometry) * 1.015)
        crossing = Crossing(
            i + 1, SampleWindow(t, counts, 0), 1000, entry, exit_, tuple(truck.tyres), (), None
        )
        path = tmp_path / f"run{i}.wlcap"
        write_capture(path, crossing, config)
        paths.append(str(path))
    (tmp_path / "broken.wlcap").write_bytes(b"not a zip")
    args = [
        "calibrate",
        "dynamic",
        "--config",
        str(EXAMPLE),
        "--reference-gross",
        str(reference.gross_kg),
        "--json",
    ]
    result = CliRunner().invoke(main, [*args, *paths, str(tmp_path / "broken.wlcap")])
    assert result.exit_code == 0, result.output
    fit = json.loads(result.output)
    assert fit["runs_per_band"][:3] == [2, 2, 1]
    for factor in fit["factors"][:3]:
        assert factor == pytest.approx(1 / 1.015, abs=0.003)
    assert fit["factors"][3] == 1.0  # 40-100 km/h: no runs
    assert len(fit["skipped"]) == 1 and "broken.wlcap" in fit["skipped"][0]
