"""The crossing estimator on load-cell counts from the simulator's physical model (no serial layer)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from edge.config import RulesConfig, ScaleConfig, WimConfig
from edge.lane.buffer import SampleWindow
from edge.wim import centre, edges, estimate, kernels, reference, span
from edge.wim import motion as wim_motion
from edge.wim.estimate import estimate_crossing, stability_problems, zero_from_preroll, zero_variance_kg2
from firmware_sim.physics import LaneGeometry, LoadCellModel, TruckMotion, cell_loads_kg, schedule
from firmware_sim.scenario import load_scenario

SCALE = ScaleConfig()
GEOMETRY = LaneGeometry()
RATE_HZ = 1000


def _crossing(motion: TruckMotion, cells: LoadCellModel, timing_jitter_s: float = 0.0, seed: int = 0):
    return estimate_crossing(*_crossing_input(motion, cells, timing_jitter_s, seed), SCALE)


def _crossing_input(motion: TruckMotion, cells: LoadCellModel, timing_jitter_s: float = 0.0, seed: int = 0):
    """(window, zero, entry times, exit times) of the motion's crossing, as the lane hands them over."""
    entry_t = motion.axle_crossing_times(GEOMETRY.entry_strip_x_m)
    exit_t = motion.axle_crossing_times(GEOMETRY.exit_x_m)
    t = (
        np.arange(np.floor((entry_t[0] - SCALE.preroll_s) * RATE_HZ), np.ceil((exit_t[-1] + 0.05) * RATE_HZ))
        / RATE_HZ
    )
    counts = cells.counts(t, cell_loads_kg([motion], t, GEOMETRY))
    rng = np.random.default_rng(seed)
    entry_t = entry_t + rng.uniform(-timing_jitter_s, timing_jitter_s, entry_t.size)
    exit_t = exit_t + rng.uniform(-timing_jitter_s, timing_jitter_s, exit_t.size)
    window = SampleWindow(t, counts, 0)
    zero = zero_from_preroll(window, float(entry_t[0]))
    assert zero is not None
    return window, zero, entry_t, exit_t


def _default_motions() -> list[TruckMotion]:
    return schedule(load_scenario("default"), GEOMETRY)


@pytest.mark.parametrize("jitter_s", [0.0, 0.005])
def test_default_scenario_gross_and_axles(jitter_s: float) -> None:
    """Noise-only model: gross within 1 %, axle loads within 3 % (timestamps jittered by serial latency)."""
    motions = _default_motions()
    cells = LoadCellModel(GEOMETRY.n_channels, seed=11)
    for number, motion in enumerate(motions):
        truck = motion.truck
        m = _crossing(motion, cells, jitter_s, seed=number)
        problems = stability_problems(m, RulesConfig())
        if truck.stop_on_scale_s > 0:
            assert problems, f"{truck.plate}: stop-and-go crossing must be sent to re-weigh"
            continue
        assert not problems, (truck.plate, problems)
        assert abs(m.gross_kg - truck.gross_kg) / truck.gross_kg <= 0.01, truck.plate
        np.testing.assert_allclose(m.axle_loads_kg, truck.axle_loads_kg, rtol=0.03, err_msg=truck.plate)
        np.testing.assert_allclose(m.axle_spacings_m, truck.axle_spacings_m, atol=0.1, err_msg=truck.plate)
        assert m.speed_kmh == pytest.approx(truck.speed_kmh, rel=0.02)


def test_drifting_zero_is_removed_by_the_preroll() -> None:
    motion = _default_motions()[0]
    truck = motion.truck
    drifting = LoadCellModel(GEOMETRY.n_channels, seed=3, drift_kg_per_min=50.0)
    m = _crossing(motion, drifting)
    assert abs(m.gross_kg - truck.gross_kg) / truck.gross_kg <= 0.01


def test_zero_needs_empty_scale_samples() -> None:
    window = SampleWindow(np.arange(10) / RATE_HZ, np.zeros((10, 12), dtype=np.int32), 0)
    assert zero_from_preroll(window, 1.0) is None


def test_sensor_fault_timings_give_a_reweigh_not_an_exception() -> None:
    """An exit stamped before its entry (a faulty strip) is judged re-weigh with a plain reason."""
    from edge.judge import judge
    from edge.lane.crossing import Crossing
    from edge.rules import LimitTable

    motion = _default_motions()[0]
    cells = LoadCellModel(GEOMETRY.n_channels, seed=5)
    entry_t = motion.axle_crossing_times(GEOMETRY.entry_strip_x_m)
    exit_t = motion.axle_crossing_times(GEOMETRY.exit_x_m)
    t = np.arange(np.floor((entry_t[0] - 1) * RATE_HZ), np.ceil((exit_t[-1] + 0.1) * RATE_HZ)) / RATE_HZ
    window = SampleWindow(t, cells.counts(t, cell_loads_kg([motion], t, GEOMETRY)), 0)
    config = _lane_config()
    broken_exit = exit_t.copy()
    broken_exit[1] = entry_t[1] - 0.1
    crossing = Crossing(1, window, RATE_HZ, entry_t, broken_exit, tuple(motion.truck.tyres), (), None)
    judgement = judge(crossing, config, LimitTable.load())
    assert judgement.decision.verdict.value == "reweigh"
    assert any("axle sensor fault" in r for r in judgement.decision.reasons)


def _lane_config():  # type: ignore[no-untyped-def]
    from edge.config import OFFLINE_DEVICES, Config

    return Config.model_validate({"site": {"id": "t", "lane": 1}, "devices": OFFLINE_DEVICES})


def test_a_busy_preroll_falls_back_to_the_tracked_zero() -> None:
    """Something still on the scale before the vehicle: its pre-roll cannot zero the scale."""
    from edge.judge import judge
    from edge.lane.crossing import Crossing
    from edge.rules import LimitTable

    motion = _default_motions()[0]
    cells = LoadCellModel(GEOMETRY.n_channels, seed=6)
    entry_t = motion.axle_crossing_times(GEOMETRY.entry_strip_x_m)
    exit_t = motion.axle_crossing_times(GEOMETRY.exit_x_m)
    t = np.arange(np.floor((entry_t[0] - 0.6) * RATE_HZ), np.ceil((exit_t[-1] + 0.05) * RATE_HZ)) / RATE_HZ
    loads = cell_loads_kg([motion], t, GEOMETRY)
    empty_counts = cells.counts(t[:50], np.zeros((50, GEOMETRY.n_channels)))
    tracked_zero = np.median(empty_counts, axis=0).astype(np.float64)
    busy = t < entry_t[0]
    loads[busy, 8:12] += np.linspace(3000.0, 0.0, int(busy.sum()))[:, None] / 4  # the last truck rolls off
    window = SampleWindow(t, cells.counts(t, loads), 0)
    tyres = tuple(motion.truck.tyres)
    limits = LimitTable.load()
    with_tracked = judge(
        Crossing(1, window, RATE_HZ, entry_t, exit_t, tyres, (), tracked_zero), _lane_config(), limits
    )
    assert with_tracked.zero_source == "tracked"
    assert abs(with_tracked.gross_kg - motion.truck.gross_kg) / motion.truck.gross_kg < 0.01
    without = judge(Crossing(1, window, RATE_HZ, entry_t, exit_t, tyres, (), None), _lane_config(), limits)
    assert without.decision.verdict.value == "reweigh"
    assert any("not empty and quiet" in r for r in without.decision.reasons)


def test_body_term_weights_follow_the_vehicle_units() -> None:
    """Heave weighs each axle by its load; pitch by load times distance from the unit's centroid."""
    from edge.wim.estimate import body_term_weights

    rigid = body_term_weights(np.array([7000.0, 11000.0, 11000.0]), np.array([3.4, 1.35]), 2.0)
    assert rigid.shape == (2, 3)  # one unit: heave and pitch
    np.testing.assert_allclose(rigid[0], [7000.0, 11000.0, 11000.0])
    assert rigid[1].sum() == pytest.approx(0.0, abs=1e-6)  # pitch moves load, it adds none
    loads = np.array([7000.0, 11000.0, 11000.0, 9000.0, 9000.0, 9000.0])
    combination = body_term_weights(loads, np.array([3.4, 1.35, 6.0, 1.31, 1.31]), 2.0)
    assert combination.shape == (4, 6)  # tractor and trailer, heave and pitch each
    np.testing.assert_array_equal(combination[2, :3], 0.0)  # the trailer's terms leave the tractor alone
    np.testing.assert_allclose(combination[2, 3:], 9000.0)
    np.testing.assert_allclose(combination[3, 3:] / 9000.0, [-1.2247, 0.0, 1.2247], atol=1e-4)


def test_body_terms_leave_a_steady_crossing_as_the_steady_fit_weighs_it() -> None:
    """Without dynamics the second fit has nothing to explain: it agrees with the constant-load fit."""
    from edge.config import WimConfig

    motion = _default_motions()[3]
    cells = LoadCellModel(GEOMETRY.n_channels, seed=12)
    entry_t = motion.axle_crossing_times(GEOMETRY.entry_strip_x_m)
    exit_t = motion.axle_crossing_times(GEOMETRY.exit_x_m)
    t = np.arange(np.floor((entry_t[0] - 0.6) * RATE_HZ), np.ceil((exit_t[-1] + 0.05) * RATE_HZ)) / RATE_HZ
    window = SampleWindow(t, cells.counts(t, cell_loads_kg([motion], t, GEOMETRY)), 0)
    zero = zero_from_preroll(window, float(entry_t[0]))
    assert zero is not None
    steady = estimate_crossing(window, zero, entry_t, exit_t, SCALE, WimConfig(dynamic_knot_m=0.0))
    with_body = estimate_crossing(window, zero, entry_t, exit_t, SCALE, WimConfig())
    np.testing.assert_allclose(with_body.axle_loads_kg, steady.axle_loads_kg, rtol=0.005)
    assert with_body.residual_rms_kg == steady.residual_rms_kg  # re-weigh judges the steady misfit


@pytest.mark.parametrize(
    ("accel_mps2", "flagged"), [(-1.2, "braked at 1.20"), (1.0, "accelerated at 1.00"), (-0.5, "")]
)
def test_harder_braking_than_the_scale_can_follow_is_reweighed(accel_mps2: float, flagged: str) -> None:
    """Two axles' strips cannot tell a steady 1.2 m/s² from a jump's brake pulse: re-weigh, saying so; 0.5
    passes."""
    from edge.wim.estimate import WimMeasurement

    m = WimMeasurement(
        axle_loads_kg=(6000.0, 10000.0),
        axle_spacings_m=(4.5,),
        axle_speeds_kmh=(30.0, 29.0),
        speed_kmh=29.5,
        gross_kg=16000.0,
        residual_rms_kg=50.0,
        samples_used=4000,
        samples_lost=0,
        problems=(),
        accel_mps2=accel_mps2,
        speed_change_fraction=0.05 if accel_mps2 > 0 else -0.05,
        gross_uncertainty_kg=100.0,
    )
    reasons = stability_problems(m, RulesConfig())
    about_accel = [r for r in reasons if "m/s² the scale can follow" in r]
    if flagged:
        assert len(about_accel) == 1 and flagged in about_accel[0], reasons
    else:
        assert reasons == []


#: Each kernel the estimator calls: the module that calls it, its name there, and the NumPy reference that
#: defines it.
REFERENCES: dict[str, tuple[Any, str, Callable[..., Any]]] = {
    "platform_loads": (estimate, "platform_loads", reference.platform_loads_ref),
    "axle_normal_equations": (estimate, "axle_normal_equations", reference.axle_normal_equations_ref),
    "axle_residuals": (estimate, "axle_residuals", reference.axle_residuals_ref),
    "crossing_kinematics": (estimate, "crossing_kinematics", reference.crossing_kinematics_ref),
    "dynamic_normal_equations": (
        estimate,
        "dynamic_normal_equations",
        reference.dynamic_normal_equations_ref,
    ),
    "dynamic_unit_responses": (estimate, "dynamic_unit_responses", reference.dynamic_unit_responses_ref),
    "body_knot_covariance": (estimate, "body_knot_covariance", reference.body_knot_covariance_ref),
    "warped_times": (estimate, "warped_times", reference.warped_times_ref),
    "residual_batch_means": (estimate, "residual_batch_means", reference.residual_batch_means_ref),
    "edge_reading": (edges, "edge_reading", reference.edge_reading_ref),
    "lone_runs": (centre, "kernel_lone_runs", reference.lone_runs_ref),
    "centre_events": (centre, "kernel_centre_events", reference.centre_events_ref),
    "ramp_search": (wim_motion, "ramp_search", reference.ramp_search_ref),
    "cross_ratios": (span, "kernel_cross_ratios", reference.cross_ratios_ref),
}
# Called by weigh, after the estimate (the span check): compared with its reference in
# tests/test_wim_span.py, not by the estimate below.
OUTSIDE_THE_ESTIMATE = {"cross_ratios"}


def test_every_kernel_the_estimator_calls_has_its_reference_here() -> None:
    kernel_names = {name for name in kernels.__all__ if name != "warm_up"}
    assert set(REFERENCES) == kernel_names
    for name, (module, there, _) in REFERENCES.items():
        assert getattr(module, there) is getattr(kernels, name), name


def test_estimate_crossing_is_the_same_on_the_kernels_and_on_their_references(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The estimator with every kernel swapped for its NumPy reference gives the same measurement: speed
    profile (warped clock, the ramp search of two throttle blips), the load edges and centre of load,
    steady and body-dynamics fits (with the pre-roll zero's responses), residual batch means and
    uncertainties."""
    cells = LoadCellModel(GEOMETRY.n_channels, seed=11)
    motions = _default_motions()
    blips = [
        TruckMotion(
            m.truck.model_copy(update={"blip_mps2": 0.8, "blip_s": 0.5, "blip_at_m": 2.0}),
            t_start_s=m.t_start_s,
            geometry=GEOMETRY,
        )
        for m in motions[:2]
    ]
    inputs = [_crossing_input(motion, cells, 0.004, seed=number) for number, motion in enumerate(motions[:8])]
    inputs += [_crossing_input(motion, cells, 0.004, seed=20 + number) for number, motion in enumerate(blips)]
    block_s = WimConfig().uncertainty_block_s
    options: list[dict[str, Any]] = [{} for _ in motions[:8]] + [
        {"zero_variance_kg2": zero_variance_kg2(w.counts[w.times_s < entry[0]], SCALE, block_s, RATE_HZ)}
        for w, _, entry, _ in inputs[8:]
    ]
    rules = RulesConfig()
    on_kernels = [
        estimate_crossing(*args, SCALE, rules=rules, **o) for args, o in zip(inputs, options, strict=True)
    ]
    called: Counter[str] = Counter()

    def counting(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            called[name] += 1
            return fn(*args)

        return call

    for name, (module, there, fn) in REFERENCES.items():
        monkeypatch.setattr(module, there, counting(name, fn))
    on_references = [
        estimate_crossing(*args, SCALE, rules=rules, **o) for args, o in zip(inputs, options, strict=True)
    ]
    # every reference ran, none left on its kernel
    assert set(called) == set(REFERENCES) - OUTSIDE_THE_ESTIMATE
    profiled = [m for m in on_kernels if m.accel_mps2 != 0.0 and np.isfinite(m.gross_uncertainty_kg)]
    assert len(profiled) >= 4  # the warped clock and the batch means were used, not skipped
    for k, r in zip(on_kernels, on_references, strict=True):
        assert k.problems == r.problems
        assert k.samples_used == r.samples_used
        # The misfit is sqrt((b^T b - 2 x^T A^T b + x^T A^T A x) / n): a difference of sums far larger than
        # it, so the sums' order (kernel or reference) shows at about 1e-9 (the bench allows 1e-7).
        assert np.isclose(k.residual_rms_kg, r.residual_rms_kg, rtol=1e-7, atol=0.0, equal_nan=True)
        for field in (
            "axle_loads_kg",
            "axle_spacings_m",
            "axle_speeds_kmh",
            "speed_kmh",
            "gross_kg",
            "accel_mps2",
            "speed_change_fraction",
            "profile_misfit_m",
            "axle_uncertainties_kg",
            "gross_uncertainty_kg",
        ):
            # A steady truck's acceleration is a few 1e-6 m/s² of nothing: the centre of load's event
            # times, summed in another order, move it by 1e-15 m/s², past 1e-9 of itself.
            atol = {"accel_mps2": 1e-12, "speed_change_fraction": 1e-12}.get(field, 0.0)
            assert np.allclose(getattr(k, field), getattr(r, field), rtol=1e-9, atol=atol, equal_nan=True), (
                field
            )


def test_short_median_is_numpys() -> None:
    """The centre-of-load checks' median by a sort is np.median's value exactly: odd and even counts,
    ties, one element, a NaN among them (NaN), none (NaN)."""
    rng = np.random.default_rng(44)
    for k in range(3000):
        n = int(rng.integers(1, 40))
        values = rng.normal(size=n) * 10 ** rng.uniform(-5, 5)
        if k % 5 == 0 and n > 2:
            values[: n // 2] = values[0]
        if k % 7 == 0:
            values[rng.integers(0, n)] = np.nan
            assert np.isnan(estimate._median(values))
            continue
        assert estimate._median(values) == float(np.median(values))
    assert np.isnan(estimate._median(np.zeros(0)))
