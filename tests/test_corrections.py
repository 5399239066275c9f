"""Speed-band correction factors: fitted from reference runs, applied by class and band."""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from edge.cli import main
from edge.config import Config, ConfigError, WimConfig, load_config
from edge.evidence.explain import explain
from edge.evidence.record import EvidenceRecord, RecordWim, Software
from edge.judge import judge
from edge.lane.buffer import SampleWindow
from edge.lane.crossing import Crossing
from edge.rules import LimitTable, Verdict
from edge.wim.capture import write_capture
from edge.wim.corrections import (
    ReferenceRun,
    correction_factor,
    fit_speed_band_factors,
    redistribution_shares,
    site_sd_fraction,
)
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
    # Bands of 2 runs give the site's scatter beyond what they stated; the others take the largest.
    assert all(v is not None and v >= 0 for v in fit["site_sd_pct"][:2])
    assert fit["site_sd_pct"][2:] == [None, None]
    assert (
        fit["site_sd_fraction"]
        == [pytest.approx(v / 100, abs=1e-5) for v in (*fit["site_sd_pct"][:2],)]
        + [pytest.approx(max(fit["site_sd_pct"][:2]) / 100, abs=1e-5)] * 2
    )
    # The printed lines paste into a lane config as they are.
    text = CliRunner().invoke(main, [a for a in args if a != "--json"] + paths)
    assert text.exit_code == 0, text.output
    assert "take the largest site scatter of the others" in text.output
    pasted = tomllib.loads(text.output[text.output.index("[wim]") :])
    lane_wim = WimConfig.model_validate(pasted["wim"])
    assert lane_wim.site_sd_fraction == pytest.approx(fit["site_sd_fraction"])
    assert lane_wim.corrections["default"] == pytest.approx(fit["factors"])
    assert "site_axle_sd_fraction" not in pasted["wim"] and fit["site_axle_sd_pct"] == [None] * 4
    # With the reference vehicle's static axle loads, the per-axle share too.
    axles = ",".join(f"{load:.1f}" for load in reference.axle_loads_kg)
    with_axles = CliRunner().invoke(main, [*args, "--reference-axles", axles, *paths])
    assert with_axles.exit_code == 0, with_axles.output
    per_axle = json.loads(with_axles.output)
    assert all(v is not None and v >= 0 for v in per_axle["site_axle_sd_pct"][:2])
    assert per_axle["factors"] == fit["factors"]
    text = CliRunner().invoke(main, [a for a in args if a != "--json"] + ["--reference-axles", axles, *paths])
    assert text.exit_code == 0, text.output
    assert "moved between the axles" in text.output
    pasted = tomllib.loads(text.output[text.output.index("[wim]") :])
    assert WimConfig.model_validate(pasted["wim"]).site_axle_sd_fraction == pytest.approx(
        per_axle["site_axle_sd_fraction"]
    )
    # Axle loads of another vehicle: every run's gross is used, none of its axles, and the command says so.
    thirds = ",".join([f"{reference.gross_kg / 3:.1f}"] * 3)
    other = json.loads(CliRunner().invoke(main, [*args, "--reference-axles", thirds, *paths]).output)
    assert len(other["axles_left_out"]) == 5 and other["site_axle_sd_pct"] == [None] * 4
    assert other["factors"] == fit["factors"] and other["skipped"] == []  # not skipped: their grosses count
    text = CliRunner().invoke(
        main, [a for a in args if a != "--json"] + ["--reference-axles", thirds, *paths]
    )
    assert "moved between the axles is unknown and left at 0" in text.output
    garbled = CliRunner().invoke(main, [*args, "--reference-axles", "6000,abc", *paths])
    assert garbled.exit_code != 0 and "separated by commas" in garbled.output
    # Axle loads that do not add up to the gross are refused, saying why.
    wrong = CliRunner().invoke(main, [*args, "--reference-axles", "6000,6000", *paths])
    assert (
        wrong.exit_code != 0
        and "weigh the vehicle's axles and its gross on the same static scale" in wrong.output
    )


def test_fit_finds_the_scatter_beyond_what_the_runs_stated() -> None:
    """Runs that spread 0.5 % while each states 0.3 % (standard) leave 0.4 % to the site; runs that
    spread as they state leave next to nothing; runs that state nothing give no figure."""
    rng = np.random.default_rng(7)
    reference = 30_000.0
    runs = []
    for _ in range(600):
        low = float(rng.uniform(3, 10))
        runs.append(
            ReferenceRun(low, reference * 1.01 * (1 + rng.normal(0, 0.005)), reference, 2 * 0.003 * reference)
        )
        fast = float(rng.uniform(10.5, 20))
        runs.append(
            ReferenceRun(fast, reference * (1 + rng.normal(0, 0.003)), reference, 2 * 0.003 * reference)
        )
        runs.append(
            ReferenceRun(float(rng.uniform(21, 39)), reference * (1 + rng.normal(0, 0.003)), reference)
        )
    fit = fit_speed_band_factors(runs, (0, 10, 20, 40, 100))
    slow, medium, unstated, empty = fit.site_sd_pct
    assert slow == pytest.approx(0.4, abs=0.04)  # the band's 1 % bias is the factor's, not the scatter's
    assert medium is not None and medium < 0.12
    assert unstated is None and empty is None
    # Bands without a figure take the largest of the others for the lane (their runs are still to come).
    assert fit.site_sd_fraction() == pytest.approx(
        (slow / 100, medium / 100, slow / 100, slow / 100), abs=1e-5
    )


def test_site_scatter_tables_are_checked() -> None:
    with pytest.raises(ValidationError, match="one per band"):
        WimConfig(speed_band_edges_kmh=(0, 10, 40), site_sd_fraction=(0.001,))
    with pytest.raises(ValidationError, match="broken scale"):
        WimConfig(speed_band_edges_kmh=(0, 10, 40), site_sd_fraction=(0.001, 0.08))
    assert WimConfig(speed_band_edges_kmh=(0, 10, 40), site_sd_fraction=(0.0, 0.002)).site_sd_fraction == (
        0.0,
        0.002,
    )


def _reference_crossing(speed_kmh: float, number: int = 1) -> tuple[Crossing, float]:
    geometry = LaneGeometry()
    scenario = load_scenario("default")
    reference = next(t for t in scenario.trucks if t.n_axles == 6 and t.stop_on_scale_s == 0)
    truck = reference.model_copy(update={"speed_kmh": speed_kmh})
    (motion,) = schedule(scenario.model_copy(update={"trucks": [truck]}), geometry)
    entry = motion.axle_crossing_times(geometry.entry_strip_x_m)
    exit_ = motion.axle_crossing_times(geometry.exit_x_m)
    t = np.arange(np.floor((entry[0] - 0.7) * 1000), np.ceil((exit_[-1] + 0.1) * 1000)) / 1000
    counts = LoadCellModel(geometry.n_channels, seed=5).counts(t, cell_loads_kg([motion], t, geometry))
    crossing = Crossing(number, SampleWindow(t, counts, 0), 1000, entry, exit_, tuple(truck.tyres), (), None)
    return crossing, truck.gross_kg


def test_the_site_scatter_widens_every_load_by_its_band_and_can_send_to_reweigh() -> None:
    """wim.site_sd_fraction adds 2 f L to each load's expanded uncertainty in quadrature, fully correlated
    (the gross's 2 f G), at the band of the crossing's speed; the loads stay as they were; one that takes
    the gross past the class's allowance re-weighs the truck, and says so."""
    config = load_config(EXAMPLE)
    limits = LimitTable.load(None)
    crossing, _ = _reference_crossing(15.0)
    plain = judge(crossing, config, limits).measurement
    assert plain is not None
    site = (0.001, 0.004, 0.002, 0.003)  # 10-20 km/h: 0.4 %
    wider = judge(
        crossing, _wim(config, speed_band_edges_kmh=(0, 10, 20, 40, 100), site_sd_fraction=site), limits
    )
    m = wider.measurement
    assert m is not None and wider.decision.verdict is not Verdict.REWEIGH
    assert m.axle_loads_kg == plain.axle_loads_kg and m.gross_kg == plain.gross_kg
    assert m.gross_uncertainty_kg == pytest.approx(
        math.hypot(plain.gross_uncertainty_kg, 0.008 * plain.gross_kg)
    )
    for u, u0, load in zip(
        m.axle_uncertainties_kg, plain.axle_uncertainties_kg, m.axle_loads_kg, strict=True
    ):
        assert u == pytest.approx(math.hypot(u0, 0.008 * load))
    # Fully correlated: the covariance gives the gross's uncertainty as the sum of all axles.
    assert m.load_uncertainty_kg(range(len(m.axle_loads_kg))) == pytest.approx(
        m.gross_uncertainty_kg, rel=1e-6
    )
    # A scatter under half the class's allowance (a lane config may hold it) that takes this gross past it.
    allowed = config.rules.max_gross_uncertainty_fraction
    own = plain.gross_uncertainty_kg / plain.gross_kg
    f = (math.sqrt(allowed**2 - own**2) / 2 + allowed / 2) / 2  # between the two
    assert 2 * f < allowed < math.hypot(own, 2 * f)
    past = judge(crossing, _wim(config, site_sd_fraction=(f,) * 4), limits)
    assert past.decision.verdict is Verdict.REWEIGH
    (reason,) = [r for r in past.decision.reasons if r.startswith("gross uncertain by")]
    assert "the site's own scatter" in reason and "wim.site_sd_fraction" in reason


def _wim(config: Config, **update: object) -> Config:
    return config.model_copy(update={"wim": WimConfig.model_validate({**config.wim.model_dump(), **update})})


def test_a_few_runs_that_stated_much_do_not_hide_the_others_excess() -> None:
    """Nine runs in ten state 0.1 % and scatter 0.3 %; one in ten states 2 % and scatters as little. The
    mean of the stated variances (0.41 %²) exceeds the errors' (0.09 %²) and would find nothing; each
    run weighed against its own finds about 0.28 %. A run that stated nothing is left out, not the band."""
    rng = np.random.default_rng(11)
    reference = 20_000.0
    runs = []
    for i in range(2000):
        stated = 0.02 if i % 10 == 0 else 0.001
        runs.append(
            ReferenceRun(5.0, reference * (1 + rng.normal(0, 0.003)), reference, 2 * stated * reference)
        )
    runs.append(ReferenceRun(5.0, reference * 1.05, reference))  # stated NaN
    fit = fit_speed_band_factors(runs, (0, 10, 100))
    assert fit.site_sd_pct[0] == pytest.approx(math.sqrt(0.3**2 - 0.1**2), abs=0.02)
    assert fit.site_sd_pct[1] is None and fit.site_sd_fraction()[1] == fit.site_sd_fraction()[0]


def test_the_scatter_of_the_crossing_s_band_and_the_largest_when_its_speed_is_unknown() -> None:
    edges = (0, 10, 20, 40, 100)
    site = (0.001, 0.004, 0.002, 0.003)
    assert [site_sd_fraction(site, edges, v) for v in (5.0, 10.0, 10.5, 39.0, 41.0)] == [
        0.001,
        0.001,
        0.004,
        0.002,
        0.003,
    ]
    assert site_sd_fraction(site, edges, math.nan) == 0.004
    assert site_sd_fraction((), edges, 15.0) == 0.0


def test_a_scatter_that_would_re_weigh_every_truck_is_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    lane = tmp_path / "lane.toml"
    lane.write_text(text + "\n[wim]\nsite_sd_fraction = [0.002, 0.011, 0.003, 0.003]\n")
    with pytest.raises(ConfigError, match="every truck would be re-weighed"):
        load_config(lane)
    lane.write_text(text + "\n[wim]\nsite_sd_fraction = [0.002, 0.009, 0.003, 0.003]\n")
    assert load_config(lane).wim.site_sd_fraction == (0.002, 0.009, 0.003, 0.003)


def test_the_share_moved_between_the_axles_is_fitted_from_the_axle_references() -> None:
    """Five equal axles: each run off by a common 0.3 % of its gross, and by 1.0 % per axle moved
    between the axles (summing to nothing), each axle stating 0.5 % and the gross 0.2 %. Both come
    back: the gross's share from the grosses, the moved share from the axles given it."""
    rng = np.random.default_rng(5)
    axles = np.full(5, 6_000.0)
    centring = np.eye(5) - 1.0 / 5
    runs = []
    for _ in range(800):
        moved = centring @ (0.010 * axles * rng.normal(0, 1, 5))
        measured = axles * (1 + rng.normal(0, 0.003) + rng.normal(0, 0.005, 5)) + moved
        gross = float(axles.sum() * (1 + rng.normal(0, 0.002))) + float(np.sum(measured - axles))
        runs.append(
            ReferenceRun(
                6.0,
                gross,
                float(axles.sum()),
                2 * 0.002 * gross,
                tuple(measured),
                tuple(axles),
                tuple(2 * 0.005 * measured),
            )
        )
    fit = fit_speed_band_factors(runs, (0, 10, 100))
    common, each = fit.site_sd_pct[0], fit.site_axle_sd_pct[0]
    assert common is not None and each is not None
    # The gross here also carries the axles' 0.5 % noise in quadrature: 0.5 / sqrt(5) % more than stated.
    assert common == pytest.approx(math.sqrt(0.3**2 + 0.5**2 / 5), abs=0.06)
    # That extra share, counted on each axle as common, comes off the moved share: sqrt(1 - 0.05 / 0.8).
    assert each == pytest.approx(math.sqrt(1 - 0.05 / 0.8), abs=0.06)
    assert fit.site_axle_sd_fraction()[1] == fit.site_axle_sd_fraction()[0]  # the empty band takes it
    # Without axle references there is no moved share; the gross's is the same (the moved one sums to 0).
    gross_only = fit_speed_band_factors([replace(r, measured_axles_kg=()) for r in runs], (0, 10, 100))
    assert gross_only.site_axle_sd_pct == (None, None) and gross_only.site_axle_sd_fraction() == (0.0, 0.0)
    assert gross_only.site_sd_pct[0] == common


def test_the_moved_share_widens_each_axle_and_group_not_the_gross() -> None:
    config = load_config(EXAMPLE)
    limits = LimitTable.load(None)
    crossing, _ = _reference_crossing(15.0)
    plain = judge(crossing, config, limits).measurement
    assert plain is not None
    f, a = 0.001, 0.004
    m = judge(
        crossing, _wim(config, site_sd_fraction=(f,) * 4, site_axle_sd_fraction=(a,) * 4), limits
    ).measurement
    assert m is not None
    loads = np.array(m.axle_loads_kg)
    shares = redistribution_shares(loads)
    for u, u0, load, c in zip(
        m.axle_uncertainties_kg, plain.axle_uncertainties_kg, loads, shares, strict=True
    ):
        assert u == pytest.approx(math.sqrt(u0**2 + 4 * (f**2 + a**2 * c) * load**2))
    assert m.gross_uncertainty_kg == pytest.approx(
        math.hypot(plain.gross_uncertainty_kg, 2 * f * loads.sum())
    )
    assert m.site_error_kg == pytest.approx(2 * f * loads.sum())
    assert m.load_uncertainty_kg(range(loads.size)) == pytest.approx(m.gross_uncertainty_kg, rel=1e-6)
    # A pair of axles: its block of the moved share, (I - 11ᵀ/n) diag((a L)²) (I - 11ᵀ/n), summed.
    centring = np.eye(loads.size) - 1.0 / loads.size
    block = (centring @ np.diag((a * loads) ** 2) @ centring)[:2, :2].sum()
    pair = range(2)
    added = 4 * (f**2 * loads[:2].sum() ** 2 + block)
    assert m.load_uncertainty_kg(pair) == pytest.approx(
        math.sqrt(plain.load_uncertainty_kg(pair) ** 2 + added)
    )
    # The moved share alone leaves the gross exactly as it was (its sum is 0 only within rounding).
    moved = judge(crossing, _wim(config, site_axle_sd_fraction=(a,) * 4), limits).measurement
    assert moved is not None and moved.gross_uncertainty_kg == pytest.approx(plain.gross_uncertainty_kg)
    assert moved.axle_uncertainties_kg[0] > plain.axle_uncertainties_kg[0]
    assert moved.site_error_kg == 0.0  # no "site's own scatter 0 kg" in a reason
    # Whatever the loads: the moved share's sum, 0 within rounding, never fails the gross.
    rng = np.random.default_rng(1)
    for _ in range(50):
        loads_kg = tuple(rng.uniform(2_000, 12_000, len(plain.axle_loads_kg)))
        other = replace(plain, axle_loads_kg=loads_kg, gross_kg=sum(loads_kg)).with_site_error(0.0, a)
        assert other.gross_uncertainty_kg == pytest.approx(plain.gross_uncertainty_kg)


def test_the_record_and_explain_show_the_site_scatter_only_where_the_site_has_one() -> None:
    config = load_config(EXAMPLE)
    limits = LimitTable.load(None)
    crossing, _ = _reference_crossing(15.0)
    plain = judge(crossing, config, limits).measurement
    f, a = 0.003, 0.008
    m = judge(
        crossing, _wim(config, site_sd_fraction=(f,) * 4, site_axle_sd_fraction=(a,) * 4), limits
    ).measurement
    assert plain is not None and m is not None
    stored = RecordWim.model_validate(m.as_dict()).model_dump(mode="json", exclude_unset=True)
    assert stored["site_sd_fraction"] == f and stored["site_axle_sd_fraction"] == a
    assert stored["site_error_kg"] == pytest.approx(2 * f * m.gross_kg, abs=0.05)
    # A site without one: its records read as before, no key added.
    before = RecordWim.model_validate(plain.as_dict()).model_dump(mode="json", exclude_unset=True)
    assert not {"site_sd_fraction", "site_axle_sd_fraction", "site_error_kg"} & set(before)

    def lines(wim: RecordWim) -> list[str]:
        record = EvidenceRecord(
            id="r-1",
            site_id="s",
            lane=1,
            vehicle_number=1,
            time_utc="2026-12-06T10:00:00.000Z",
            axle_count=len(m.axle_loads_kg),
            vehicle_class="x",
            body="rigid",
            axle_groups=[1] * len(m.axle_loads_kg),
            wim=wim,
            verdict=Verdict.PASS,
            software=Software(version="test"),
        )
        return explain(EvidenceRecord.from_json_dict(record.to_json_dict()))

    scatter = [line for line in lines(RecordWim.model_validate(m.as_dict())) if line.startswith("现场散布")]
    expected = f"adds ±{2 * f * m.gross_kg:,.0f} kg to the gross's uncertainty"
    assert len(scatter) == 1 and "0.30 % common" in scatter[0] and "0.80 % moved" in scatter[0]
    assert expected in scatter[0]
    # The moved share alone: it leaves the gross alone, and the line says so.
    moved = judge(crossing, _wim(config, site_axle_sd_fraction=(a,) * 4), limits).measurement
    assert moved is not None
    alone = [line for line in lines(RecordWim.model_validate(moved.as_dict())) if line.startswith("现场散布")]
    assert len(alone) == 1 and "common" not in alone[0] and "0.80 % moved" in alone[0]
    assert "not the gross's" in alone[0] and "kg" not in alone[0]
    assert not any(line.startswith("现场散布") for line in lines(RecordWim.model_validate(plain.as_dict())))
