"""Speed-band correction factors: fitted from reference runs, applied by class and band."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from edge.config import WimConfig
from edge.wim.corrections import ReferenceRun, fit_speed_band_factors


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
    assert wim.correction("2-rigid", 5.0) == 1.01
    assert wim.correction("2-rigid", 25.0) == 0.99
    assert wim.correction("6-combination", 10.5) == 0.98
    assert wim.correction("6-combination", float("nan")) == 1.0
    assert WimConfig().correction("2-rigid", 12.0) == 1.0


def test_bad_factor_tables_are_refused() -> None:
    with pytest.raises(ValidationError, match="one factor per band"):
        WimConfig(speed_band_edges_kmh=(0, 10, 40), corrections={"default": (1.0,)})
    with pytest.raises(ValidationError, match="broken calibration"):
        WimConfig(speed_band_edges_kmh=(0, 10, 40), corrections={"default": (1.0, 1.5)})
