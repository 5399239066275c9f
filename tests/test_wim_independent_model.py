"""The independent physics model of bench/independent_wim_model.py: its own physics, its captures passing the
reader, and the estimator's verdicts on a few fixed-seed crossings (issue 16)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from bench.independent_wim_model import (
    POPULATIONS,
    SCALES,
    SIM_HZ,
    VEHICLE_KINDS,
    G,
    Motion,
    evaluate,
    make_truck,
    simulate_crossing,
    tyre_forces,
    write_capture,
)
from edge.cli_wim import wim
from edge.config import WimConfig
from edge.judge import judge
from edge.rules import LimitTable
from edge.wim.capture import read_capture
from edge.wim.corrections import BandFit, ReferenceRun, fit_speed_band_factors
from edge.wim.estimate import centre_accelerations, load_centre


def _replay(paths: list[Path]) -> dict[str, dict[str, Any]]:
    result = CliRunner().invoke(wim, ["replay", "--json", "-q", *map(str, paths)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    return {str(Path(r["file"])): r for r in rows}


def _capture(tmp: Path, name: str, scale: str, population: str, seed: int, **kw: Any) -> tuple[Path, dict]:
    crossing = simulate_crossing(scale, population, np.random.default_rng(seed), **kw)
    path = write_capture(crossing, tmp / f"{name}.wlcap")
    return path, crossing.meta["extra"]["truth"]


def test_steady_braking_moves_m_a_h_over_l_from_rear_to_front() -> None:
    """Held braking on level ground: a 2-axle truck's axle loads settle to the rigid-body statics."""
    truck = make_truck("2-rigid", np.random.default_rng(5), 1.0)
    t = np.arange(30 * SIM_HZ) / SIM_HZ
    a = np.where(t > 2.0, -1.5, 0.0)
    v = 10.0 + np.cumsum(a) / SIM_HZ
    motion = Motion(t, np.cumsum(v) / SIM_HZ, v, a, {})
    force = tyre_forces(truck, motion, np.array([-1e3, 1e4]), np.zeros(2))
    body = truck.bodies[0]
    expected_n = body.unit_mass_kg * 1.5 * body.cg_height_m / truck.axle_d_m[1]
    shift = force[-1] - truck.static_kg * G
    assert shift[0] == pytest.approx(expected_n, rel=1e-3)
    assert shift[1] == pytest.approx(-expected_n, rel=1e-3)
    # The step of braking rings the body: the front axle overshoots its settled load.
    assert force[:, 0].max() - truck.static_kg[0] * G > 1.1 * expected_n


def test_semitrailer_statics_and_gross() -> None:
    """Axle loads sum to the gross drawn; a full load (120 % of the limit) is over the limit on every type."""
    rng = np.random.default_rng(2)
    for kind in VEHICLE_KINDS:
        full = make_truck(kind, rng, 1.0)
        empty = make_truck(kind, rng, 0.0)
        assert full.gross_kg == pytest.approx(1.2 * full.limit_kg, rel=1e-9)
        assert empty.gross_kg < 0.5 * empty.limit_kg
        assert (full.static_kg > 0).all()
        assert sum(b.mass_kg for b in full.bodies) + full.unsprung_kg.sum() == pytest.approx(
            full.gross_kg, rel=1e-6
        )


def test_every_capture_replays_and_the_estimator_meets_its_marks(tmp_path: Path) -> None:
    made: list[tuple[Path, dict, str]] = []
    # Every scale x population once: the reader accepts them all (exit status 0, one result each).
    for s_i, scale in enumerate(SCALES):
        for p_i, pop in enumerate(POPULATIONS):
            path, truth = _capture(tmp_path, f"any-{scale}-{pop}", scale, pop, 100 * s_i + p_i)
            made.append((path, truth, "any"))
    # Steady crossings on the full-length scale at 4-10 km/h, one of each vehicle type, half to full load.
    for k, kind in enumerate(VEHICLE_KINDS):
        path, truth = _capture(
            tmp_path, f"slow-{kind}", "full-length", "steady", 500 + k, kind=kind, v0_kmh=4.0 + 1.5 * k,
            load_fraction=0.4 + 0.1 * k,
        )  # fmt: skip
        made.append((path, truth, "slow"))
    # A hard brake pulse (-3 m/s² for 0.5 s) with the truck on the single 4.2 m platform.
    for k, kind in enumerate(("3-rigid", "5-semi", "6-semi")):
        path, truth = _capture(
            tmp_path, f"pulse-{kind}", "single", "jump", 700 + k, kind=kind, v0_kmh=12.0 + 6 * k,
            motion_overrides={"pulse_mps2": -3.0, "pulse_s": 0.5, "event_x_m": 1.0 + k},
        )  # fmt: skip
        made.append((path, truth, "pulse"))
    # 120 % of the legal limit, steady, on each scale.
    for s_i, scale in enumerate(SCALES):
        path, truth = _capture(
            tmp_path, f"over-{scale}", scale, "steady", 900 + s_i, v0_kmh=8.0, load_fraction=1.0
        )
        made.append((path, truth, "over"))

    results = _replay([p for p, _, _ in made])
    assert len(results) == len(made)
    for path, truth, group in made:
        row = evaluate(truth, results[str(path)])
        assert row["verdict"] in ("pass", "overweight", "reweigh"), path.name
        if group == "slow":
            assert row["verdict"] != "reweigh", (path.name, row["reasons"])
            assert abs(row["gross_err_pct"]) <= 0.5, (path.name, row["gross_err_pct"])
        elif group == "pulse":
            assert row["verdict"] == "reweigh" or abs(row["gross_err_pct"]) <= 2.5, (path.name, row)
        elif group == "over":
            assert truth["gross_kg"] > 1.05 * truth["limit_kg"]
            assert row["verdict"] != "pass", (path.name, row)


def test_twin_steer_trucks_measured_near_two_metres_keep_the_rigid_limit(tmp_path: Path) -> None:
    """8x4 trucks whose twin steer is 1.995-2.0 m apart, 20 % over the 31,000 kg limit: measured in motion
    the spacing comes out a few mm either side of 2.0 m, and each must still be a 4-axle rigid truck, refused
    (before the steer rule, every one measured over 2.0 m was a 4-axle combination, 36,000 kg, and passed).
    (1.985-2.0 m, as this test first drew, no longer measured over 2.0 m once the centre of load joined
    the speed profile.)"""
    seeds = [
        s for s in range(400) if make_truck("4-rigid", np.random.default_rng(s), 1.0).axle_d_m[1] >= 1.995
    ]
    made = []
    for k, seed in enumerate(seeds[:8]):
        path, truth = _capture(
            tmp_path, f"twin-{seed}", list(SCALES)[k % 2], "steady", seed, kind="4-rigid", v0_kmh=12.0 + 3 * k,
            load_fraction=1.0,
        )  # fmt: skip
        assert truth["gross_kg"] > 1.05 * 31000
        made.append(path)
    assert len(made) == 8
    results = _replay(made)
    spacings = [results[str(p)]["axle_spacings_m"][0] for p in made]
    assert max(spacings) > 2.0005  # the case this is about occurs in the sample
    for path in made:
        row = results[str(path)]
        assert row["vehicle_class"] == "4-rigid", (path.name, row["axle_spacings_m"])
        assert row["verdict"] != "pass", (path.name, row["reasons"])


def test_an_approach_strip_is_written_as_the_entry_strip_and_replays(tmp_path: Path) -> None:
    """With ``approach_strip_m`` the capture's entry strip is the approach strip and the old entry strip its
    intermediate strip (``mid_t_s.npy``); steady slow trucks on the single platform still weigh within 1 %."""
    made = []
    for k, kind in enumerate(("2-rigid", "3-rigid", "6-semi")):
        crossing = simulate_crossing(
            "single",
            "steady",
            np.random.default_rng(40 + k),
            kind=kind,
            v0_kmh=6.0 + 2 * k,
            approach_strip_m=2.5,
        )
        assert crossing.meta["scale"]["entry_strip_x_m"] == pytest.approx(-3.0)
        assert crossing.meta["scale"]["mid_strips_x_m"] == [-0.5]
        assert crossing.mid_t is not None and crossing.mid_t.shape == (len(crossing.entry_t), 1)
        assert (crossing.entry_t < crossing.mid_t[:, 0]).all() and (
            crossing.mid_t[:, 0] < crossing.exit_t
        ).all()
        made.append(
            (write_capture(crossing, tmp_path / f"approach-{kind}.wlcap"), crossing.meta["extra"]["truth"])
        )
    results = _replay([p for p, _ in made])
    for path, truth in made:
        row = evaluate(truth, results[str(path)])
        assert row["verdict"] != "reweigh", (path.name, row["reasons"])
        assert abs(row["gross_err_pct"]) <= 1.0, (path.name, row["gross_err_pct"])


@pytest.mark.parametrize(
    ("seed", "kind", "allowance"),
    [(3220, "6-semi", 0.02), (3027, "3-rigid", 0.025)],
    ids=["6-semi", "3-rigid"],
)
def test_a_steady_truck_on_a_rough_road_is_weighed_not_sent_back_for_its_bounce(
    tmp_path: Path, seed: int, kind: str, allowance: float
) -> None:
    """Steady trucks at 31-39 km/h on the single 4.2 m platform, the road class B: the body's bounce on the
    road's profile misfits the steady model by 12.3-15.1 % of the load the scale carried, past the 0.048
    allowance of the first sittings (12.1 and 13.5 % at their speeds), while the gross is within the class
    (+1.2 % and -0.2 %).  Found among 300 seeded steady crossings at 15-40 km/h (seeds 3000-3299).  With
    rules.max_residual_fraction 0.055 they are weighed; a stop-and-go crossing of the same model and
    scale is still re-weighed for its misfit."""
    limits = LimitTable.load(None)
    v0_kmh = 15.0 + 25.0 * ((seed * 0.618) % 1)
    crossing = simulate_crossing("single", "steady", np.random.default_rng(seed), v0_kmh=v0_kmh)
    capture = read_capture(write_capture(crossing, tmp_path / "steady.wlcap"))
    truth = capture.meta.extra["truth"]
    assert truth["kind"] == kind
    rules = capture.config.rules.model_copy(update={"max_gross_uncertainty_fraction": allowance})
    config = capture.config.model_copy(update={"rules": rules})
    judged = judge(capture.crossing, config, limits)
    assert judged.decision.verdict.value != "reweigh", judged.decision.reasons
    assert abs(judged.gross_kg / truth["gross_kg"] - 1) <= 0.025
    strict = config.model_copy(update={"rules": rules.model_copy(update={"max_residual_fraction": 0.048})})
    before = judge(capture.crossing, strict, limits)
    assert any("does not fit a steady crossing" in r for r in before.decision.reasons)  # what this is about
    stop = simulate_crossing("single", "stop-and-go", np.random.default_rng(seed), v0_kmh=12.0)
    stopped = read_capture(write_capture(stop, tmp_path / "stop.wlcap"))
    stop_reasons = judge(stopped.crossing, config, limits).decision.reasons
    assert any("does not fit a steady crossing" in r for r in stop_reasons), stop_reasons  # the misfit too


def test_a_brake_between_the_axles_weighings_on_a_short_platform_is_caught(tmp_path: Path) -> None:
    """2-axle trucks at 30 km/h that brake (0.3-2 m/s²) as the front axle leaves the single 4.2 m platform,
    before the rear is weighed: the strips' four events fit any such crossing exactly, and without the
    centre of load every one passed, 7 of 8 reading 2.9-8.1 % light.  The rear axle's own centre of load
    shows its braking: each is now re-weighed or weighed within the class (2.5 %)."""
    limits = LimitTable.load(None)
    without_out_of_class = 0
    for seed in range(8):
        crossing = simulate_crossing(
            "single", "braking", np.random.default_rng(seed), kind="2-rigid", v0_kmh=30.0,
            load_fraction=0.8, motion_overrides={"event_x_m": 4.0},
        )  # fmt: skip
        capture = read_capture(write_capture(crossing, tmp_path / f"brake-{seed}.wlcap"))
        truth = capture.meta.extra["truth"]
        judged = judge(capture.crossing, capture.config, limits)
        if judged.decision.verdict.value != "reweigh":
            assert abs(judged.gross_kg / truth["gross_kg"] - 1) <= 0.025, (seed, judged.gross_kg, truth)
        off = capture.config.model_copy(
            update={"wim": capture.config.wim.model_copy(update={"load_centre_sd_m": 0.0})}
        )
        before = judge(capture.crossing, off, limits)
        if (
            before.decision.verdict.value != "reweigh"
            and abs(before.gross_kg / truth["gross_kg"] - 1) > 0.025
        ):
            without_out_of_class += 1
    assert without_out_of_class >= 6  # the case this is about occurs in the sample


@pytest.mark.parametrize(("v0_kmh", "brake_at_x_m"), [(30.0, 5.5), (36.0, 5.8)], ids=["30 km/h", "36 km/h"])
def test_an_8x4_braking_after_its_steer_pair_left_a_short_platform_is_caught(
    tmp_path: Path, v0_kmh: float, brake_at_x_m: float
) -> None:
    """8x4 trucks that brake (0.35-2 m/s²) as the steer pair leaves the single 4.2 m platform, before the
    tandem is weighed: no axle stands alone long enough to show its own acceleration, and the constant
    acceleration that fits the events spreads the brake over the steers, so the tandem reads light.
    Before, 9 of 16 passed outside the class at each speed (2.6-6.5 % light; 14 and 16 of the 24 seeds
    in docs/benchmarks.md).
    The centre of load's few-mm places show the step: tested against the chi-squared quantile of their
    degrees of freedom, a ramp is found in most at 30 km/h; where it is not, the events' jerk shows the
    transfer between the axles' weighings, which goes into the gross's uncertainty.  Now at most one of
    16 passes outside the class (a 0.7 m/s² brake, 3.1-3.2 % light)."""
    limits = LimitTable.load(None)
    ramps = shown = out_of_class = 0
    for seed in range(16):
        crossing = simulate_crossing(
            "single", "braking", np.random.default_rng(seed), kind="4-rigid", v0_kmh=v0_kmh,
            load_fraction=0.8, motion_overrides={"event_x_m": brake_at_x_m},
        )  # fmt: skip
        capture = read_capture(write_capture(crossing, tmp_path / f"8x4-{seed}.wlcap"))
        judged = judge(capture.crossing, capture.config, limits)
        m = judged.measurement
        assert m is not None and m.speed_profile is not None
        ramps += bool(np.isfinite(m.speed_profile.ramp_start_s))
        shown += m.transfer_shown_kg > 0.01 * m.gross_kg
        error = judged.gross_kg / capture.meta.extra["truth"]["gross_kg"] - 1
        out_of_class += judged.decision.verdict.value != "reweigh" and abs(error) > 0.025
    assert out_of_class <= 1
    if v0_kmh == 30.0:
        assert ramps >= 8
    else:
        assert shown >= 8


def test_a_brake_pulse_under_a_trailer_that_never_stands_alone_keeps_its_shown_transfer(
    tmp_path: Path,
) -> None:
    """A 5-axle semi at 28 km/h brakes at 2.5 m/s² for 0.5 s while its tridem is on the single 4.2 m
    platform, after the tractor's axles were weighed each alone.  Their own accelerations (about 0) depart
    from the constant deceleration fitted to the events, so they replace the profile's; the tridem's,
    never alone, keep the profile's, which spreads the pulse over the crossing.  That is not every axle
    measured: the transfer the events' jerk shows between the axles' weighings still goes into the gross's
    uncertainty.  It did only where no axle's acceleration was measured, and this truck passed 2.6 % light."""
    crossing = simulate_crossing(
        "single", "jump", np.random.default_rng(3), kind="5-semi", v0_kmh=28.0, load_fraction=0.9,
        motion_overrides={"event_x_m": 12.0, "pulse_mps2": -2.5, "pulse_s": 0.5},
    )  # fmt: skip
    capture = read_capture(write_capture(crossing, tmp_path / "semi-pulse.wlcap"))
    c, config = capture.crossing, capture.config
    zero = c.window.counts[c.window.times_s < c.entry_t_s.min()].mean(axis=0)
    _, stretches = load_centre(c.window, zero, c.entry_t_s, c.exit_t_s, c.mid_t_s, config.scale, config.wim)
    assert {s.axle for s in stretches} == {0, 1}  # the tractor's axles stood alone; the tridem never
    judged = judge(c, config, LimitTable.load(None))
    m = judged.measurement
    assert m is not None and m.speed_profile is not None
    # The measured path: the tractor's own accelerations replaced the profile's, the tridem's did not.
    profile = m.speed_profile
    accels, accel_u = centre_accelerations(
        stretches,
        profile,
        profile.mean_accel_mps2(c.entry_t_s, c.exit_t_s),
        config.wim.load_centre_accel_tolerance_mps2,
    )
    assert np.all(accel_u[:2] > 0) and np.all(accel_u[2:] == 0)
    assert np.all(np.abs(accels[:2]) < 0.3) and np.all(accels[2:] < -0.2)
    assert m.transfer_shown_kg > 0.01 * m.gross_kg
    error = judged.gross_kg / capture.meta.extra["truth"]["gross_kg"] - 1
    assert error < -0.02  # the pulse's transfer: the crossing needed catching
    assert judged.decision.verdict.value == "reweigh"
    assert any("gross uncertain" in reason for reason in judged.decision.reasons)


def test_cells_that_break_the_lever_rule_give_no_centre_of_load(tmp_path: Path) -> None:
    """The independent model's cells follow the documented lever rule: its axles alone on the platform give
    centre-of-load events near where the strips put them.  The same crossing with the entry and exit
    corners swapped (cells wired in another order) misplaces every axle, so none is used, and it weighs
    as with the centre of load off."""
    crossing = simulate_crossing("single", "steady", np.random.default_rng(21), kind="3-rigid", v0_kmh=12.0)
    capture = read_capture(write_capture(crossing, tmp_path / "lever.wlcap"))
    c, config = capture.crossing, capture.config
    zero = c.window.counts[c.window.times_s < c.entry_t_s.min()].mean(axis=0)
    events, stretches = load_centre(
        c.window, zero, c.entry_t_s, c.exit_t_s, c.mid_t_s, config.scale, config.wim
    )
    assert events is not None and events.axle.size >= 8
    assert stretches
    swapped = [2, 3, 0, 1]
    window = replace(c.window, counts=c.window.counts[:, swapped])
    events, stretches = load_centre(
        window, zero[swapped], c.entry_t_s, c.exit_t_s, c.mid_t_s, config.scale, config.wim
    )
    assert events is None and stretches == []
    limits = LimitTable.load(None)
    rewired = judge(replace(c, window=window), config, limits)
    off = config.model_copy(update={"wim": config.wim.model_copy(update={"load_centre_sd_m": 0.0})})
    assert rewired.gross_kg == pytest.approx(judge(replace(c, window=window), off, limits).gross_kg, abs=1e-6)


def test_one_miswired_platform_of_three_gives_no_centre_of_load_the_others_do(tmp_path: Path) -> None:
    """The middle platform of the full-length scale with its entry and exit corners swapped: its own
    centre-of-load events are dropped, the other two platforms' kept, and the steady truck is weighed as
    before (with one median over the whole crossing the two good platforms outvoted the bad one and a
    steady 5-axle truck went to re-weigh 2.5 % light)."""
    crossing = simulate_crossing(
        "full-length", "steady", np.random.default_rng(0), kind="5-semi", v0_kmh=15.0
    )
    capture = read_capture(write_capture(crossing, tmp_path / "middle.wlcap"))
    c, config = capture.crossing, capture.config
    rewired = [0, 1, 2, 3, 6, 7, 4, 5, 8, 9, 10, 11]
    window = replace(c.window, counts=c.window.counts[:, rewired])
    zero = window.counts[window.times_s < c.entry_t_s.min()].mean(axis=0)
    events, stretches = load_centre(
        window, zero, c.entry_t_s, c.exit_t_s, c.mid_t_s, config.scale, config.wim
    )
    assert events is not None
    on = [int(np.searchsorted([6.0, 12.0], x)) for x in events.x_m]
    assert set(on) == {0, 2}
    assert {s.platform for s in stretches} <= {0, 2}
    judged = judge(replace(c, window=window), config, LimitTable.load(None))
    assert judged.decision.verdict.value != "reweigh", judged.decision.reasons
    assert judged.gross_kg == pytest.approx(capture.meta.extra["truth"]["gross_kg"], rel=0.005)


def test_the_site_scatter_from_reference_runs_covers_what_no_crossing_shows(tmp_path: Path) -> None:
    """On this model the platform carries the road's profile, so each axle's mean load over its few metres
    on a 4.2 m platform is off its static load by a share that is nearly constant over the crossing: the
    crossings' own uncertainty covers 73 % of the held-out crawls' gross errors, not 95 %. 30 reference
    runs (trucks of known static gross, 4-9 km/h) give the site's scatter, as `edge calibrate dynamic`
    fits it; with it, 30 held-out crawls' errors are within their uncertainty 93 % of the time. With the
    runs' static axle loads too (`--reference-axles`), a share per axle moved between the axles (1.35 %,
    the model's own residence-mean deviation is 1.34 % sd) brings the axle loads' coverage from 70 % (76 %
    with the common share alone) to 98 %; the gross's stays at 93 %, as that share sums to nothing."""
    limits = LimitTable.load(None)

    def crawls(first_seed: int) -> list[tuple[Any, dict]]:
        made = []
        for k in range(30):
            path, truth = _capture(
                tmp_path,
                f"crawl-{first_seed + k}",
                "single",
                "steady",
                first_seed + k,
                v0_kmh=4.0 + 5.0 * (k % 7) / 6,
            )
            made.append((read_capture(path), truth))
        return made

    gross_runs, axle_runs = [], []
    for capture, truth in crawls(1000):
        judgement = judge(capture.crossing, capture.config, limits)
        m = judgement.measurement
        assert m is not None and judgement.decision.verdict.value != "reweigh", judgement.decision.reasons
        run = ReferenceRun(m.speed_kmh, m.gross_kg, truth["gross_kg"], m.gross_uncertainty_kg)
        gross_runs.append(run)
        axle_runs.append(
            replace(
                run,
                measured_axles_kg=m.axle_loads_kg,
                reference_axles_kg=tuple(truth["axle_loads_kg"]),
                axle_uncertainties_kg=m.axle_uncertainties_kg,
            )
        )
    fit = fit_speed_band_factors(gross_runs, WimConfig().speed_band_edges_kmh)
    assert fit.runs_per_band[0] == 30
    scatter = fit.site_sd_pct[0]
    assert scatter is not None and 0.2 <= scatter <= 0.8, scatter
    with_axles = fit_speed_band_factors(axle_runs, WimConfig().speed_band_edges_kmh)
    each = with_axles.site_axle_sd_pct[0]
    assert each is not None and 0.8 <= each <= 2.0, each

    def coverage(site: BandFit | None, held_out: list[tuple[Any, dict]]) -> tuple[float, float]:
        gross, axles = [], []
        update = (
            {}
            if site is None
            else {
                "site_sd_fraction": site.site_sd_fraction(),
                "site_axle_sd_fraction": site.site_axle_sd_fraction(),
            }
        )
        for capture, truth in held_out:
            config = capture.config.model_copy(update={"wim": capture.config.wim.model_copy(update=update)})
            m = judge(capture.crossing, config, limits).measurement
            assert m is not None
            gross.append(abs(m.gross_kg - truth["gross_kg"]) <= m.gross_uncertainty_kg)
            axles += [
                abs(a - b) <= u
                for a, b, u in zip(
                    m.axle_loads_kg, truth["axle_loads_kg"], m.axle_uncertainties_kg, strict=True
                )
            ]
        return float(np.mean(gross)), float(np.mean(axles))

    held_out = crawls(2000)
    gross_before, axles_before = coverage(None, held_out)
    gross_after, _ = coverage(fit, held_out)
    both_gross, both_axles = coverage(with_axles, held_out)
    assert gross_before <= 0.8 and gross_after >= 0.9
    assert axles_before <= 0.8 and both_axles >= 0.9 and both_gross >= 0.9


def test_capture_variants_judges_each_capture_under_each_variant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bench/capture_variants.py: a misfit allowance no crossing can meet re-weighs every one, none
    judged; the lane's own settings judge these steady crawls, all within the class."""
    from bench.capture_variants import main as capture_variants

    (tmp_path / "steady").mkdir()
    for k in range(3):
        _capture(tmp_path / "steady", f"s{k}", "single", "steady", 40 + k, v0_kmh=6.0 + k)
    strict = '{"rules": {"max_residual_fraction": 1e-6}}'
    assert (
        capture_variants(
            [str(tmp_path), "--variant", f"strict={strict}", "--variant", "lane={}", "--jobs", "1"]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["captures"] == 3
    cell = out["results"]["single"]["steady"]
    assert cell["crossings"] == 3
    assert cell["strict"]["reweighed_pct"] == 100.0 and cell["strict"]["axle_loads_within_2pct_pct"] is None
    assert cell["lane"]["reweighed_pct"] == 0.0 and cell["lane"]["reweighed_or_within_class_pct"] == 100.0
    # With each scale's class as its allowance, the same crawls: still all judged.
    assert capture_variants([str(tmp_path), "--variant", "lane={}", "--class-allowance", "--jobs", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["results"]["single"]["steady"]["lane"]["reweighed_pct"] == 0.0
    # Judged crawls carry their gross coverage; a variant that judges none has none.
    assert cell["strict"]["gross_coverage_pct"] is None
    assert 0.0 <= cell["lane"]["gross_coverage_pct"] <= 100.0
    # --split-change: a blip of +1 m/s² for 0.8 s at 4 km/h (+70 %) lands apart from the crawls.
    (tmp_path / "blip").mkdir()
    _, blip = _capture(
        tmp_path / "blip",
        "b0",
        "single",
        "throttle-blip",
        50,
        v0_kmh=4.0,
        motion_overrides={"pulse_mps2": 1.0, "pulse_s": 0.8},
    )
    assert blip["span_speed_change"] > 0.1
    assert (
        capture_variants([str(tmp_path), "--variant", "lane={}", "--split-change", "0.1", "--jobs", "1"]) == 0
    )
    split = json.loads(capsys.readouterr().out)["results"]["single"]
    assert set(split) == {"steady (change <= 0.1)", "throttle-blip (change > 0.1)"}
    assert split["steady (change <= 0.1)"]["crossings"] == 3
    assert split["throttle-blip (change > 0.1)"]["crossings"] == 1
    with pytest.raises(SystemExit):
        capture_variants([str(tmp_path), "--variant", "lane={}", "--split-change", "5"])
    assert "fraction of the speed" in capsys.readouterr().err
    # A variant no lane config takes stops the run, saying which.
    for bad, says in (
        ("no-equals-sign", "NAME=JSON"),
        ('typo={"rules": {"max_residual_fracton": 0.1}}', "max_residual_fracton"),
        ('wide={"rules": {"max_residual_fraction": 2}}', "max_residual_fraction"),
        ("scale={}", "is taken"),
        ("speed_change={}", "is taken"),
        ('x={"rules": 1}', "sections of settings"),
    ):
        with pytest.raises(SystemExit):
            capture_variants([str(tmp_path), "--variant", bad])
        assert says in capsys.readouterr().err, bad


def test_judge_speed_times_each_capture_it_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bench/judge_speed.py on a folder of captures: one cell per scale and population the truths name,
    every crossing judged and timed (what it reports; how fast is the benchmark's business, not a test's)."""
    from bench.judge_speed import main as judge_speed

    for k in range(2):
        _capture(tmp_path, f"s{k}", "single", "steady", 60 + k, v0_kmh=8.0)
    _capture(tmp_path, "f0", "full-length", "steady", 70, v0_kmh=8.0)
    cpus = os.sched_getaffinity(0)
    status = judge_speed(["--captures", str(tmp_path), "--repeats", "2", "--json"])
    assert os.sched_getaffinity(0) == cpus  # pinned to one CPU while it timed, and no longer
    out = json.loads(capsys.readouterr().out)
    assert status in (0, 1) and status == int(not all(c["target_met"] for c in out["results"].values()))
    assert set(out["results"]) == {"single / steady", "full-length / steady"}
    single = out["results"]["single / steady"]
    assert single["crossings"] == 2 and single["ms_per_crossing"] > 0
    windows = [
        float(c.crossing.window.times_s[-1] - c.crossing.window.times_s[0])
        for c in (read_capture(tmp_path / f"s{k}.wlcap") for k in range(2))
    ]
    assert single["mean_window_s"] == pytest.approx(float(np.mean(windows)), abs=0.005)
    assert single["shortest_window_s"] == pytest.approx(min(windows), abs=0.005)
    assert sum(band["crossings"] for band in single["by_speed"].values()) == 2  # the truths' speeds
    with pytest.raises(SystemExit):
        judge_speed(["--captures", str(tmp_path / "none")])
    assert "no .wlcap captures" in capsys.readouterr().err
