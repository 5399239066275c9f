"""The speed profile (edge.wim.motion) and weighing trucks whose speed changes on the scale.

The crossings here come from a small physics model written in this file, not from firmware_sim: rigid
trucks whose front axle follows a given path X(t), tyre footprints of uniform pressure, four cells a
platform.  It checks the estimator against a model it was not written with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from edge.config import Config
from edge.judge import Judgement, judge
from edge.lane.buffer import SampleWindow
from edge.lane.crossing import Crossing
from edge.rules import LimitTable
from edge.wim import motion
from edge.wim.edges import joint_positions, load_edge_times
from edge.wim.estimate import span_per_cell, zero_from_preroll
from edge.wim.kernels import platform_loads
from edge.wim.motion import PointEvents, SpeedProfile, fit_speed_profile, transfer_change_kg
from tests.support.configs import loop_devices

RATE_HZ = 1000
LENGTHS = (6.0, 6.0, 6.0)
ENTRY_X, EXIT_X = -0.5, 18.0
FOOTPRINT_M = 0.25
KG_PER_COUNT = 0.02

# A 5-axle tractor and tandem semi-trailer (1 + 2 + 2): offsets behind the front axle (m), static loads (kg).
OFFSETS = np.array([0.0, 3.6, 4.95, 12.0, 13.31])
LOADS = np.array([6500.0, 9000.0, 9000.0, 8500.0, 8500.0])


def _config(**wim: object) -> Config:
    return Config.model_validate(
        {
            "site": {"id": "motion", "lane": 1},
            "scale": {"platform_lengths_m": list(LENGTHS), "kg_per_count": KG_PER_COUNT},
            "wim": wim,
            "devices": loop_devices(),
        }
    )


def _times_at(path: Callable[[np.ndarray], np.ndarray], x: float, t_grid: np.ndarray) -> float:
    """When the monotone path first reaches x (linear interpolation on a fine grid)."""
    positions = path(t_grid)
    return float(np.interp(x, positions, t_grid))


COUPLING_M = 1.2  # the tractor's fifth wheel (and its own centre of gravity, about as high)


def _pitch_moved_kg(accel_mps2: np.ndarray, cg_height_m: float) -> np.ndarray:
    """Load moved onto each axle (samples x axles) by the pitch of the 5-axle tractor-semitrailer, shared
    in proportion to load x distance ahead of the load centroid (stiffness as load): braking, the moment
    M a h on the whole body; speeding up, the drive axles pull the trailer at the fifth wheel, so the
    moment M a COUPLING_M pitches the tractor (axles 0-2) alone."""
    ahead = -(OFFSETS - np.dot(LOADS, OFFSETS) / LOADS.sum())
    share = LOADS * ahead / np.dot(LOADS, ahead**2)
    tractor = slice(0, 3)
    tractor_ahead = -(OFFSETS[tractor] - np.dot(LOADS[tractor], OFFSETS[tractor]) / LOADS[tractor].sum())
    tractor_share = np.zeros(LOADS.size)
    tractor_share[tractor] = LOADS[tractor] * tractor_ahead / np.dot(LOADS[tractor], tractor_ahead**2)
    braking = np.outer(-LOADS.sum() * np.minimum(accel_mps2, 0.0) * cg_height_m / 9.81, share)
    pulling = np.outer(-LOADS.sum() * np.maximum(accel_mps2, 0.0) * COUPLING_M / 9.81, tractor_share)
    return braking + pulling


def _crossing(
    path: Callable[[np.ndarray], np.ndarray],
    t_end_s: float,
    seed: int = 3,
    cg_height_m: float = 0.0,
    offsets: np.ndarray = OFFSETS,
    loads: np.ndarray = LOADS,
    footprint_m: float = FOOTPRINT_M,
) -> Crossing:
    """Samples and strip times of the 5-axle truck (or the one of ``offsets`` and ``loads``) whose front
    axle is at path(t); noise 2 kg a cell.  With ``cg_height_m`` (the 5-axle truck only) the axle loads
    carry the pitch load transfer of the path's acceleration.  Each tyre's contact patch is
    ``footprint_m`` long, with uniform pressure."""
    rng = np.random.default_rng(seed)
    t = np.arange(0, round(t_end_s * RATE_HZ)) / RATE_HZ
    accel = np.gradient(np.gradient(path(t), t), t)
    moved = _pitch_moved_kg(accel, cg_height_m) if cg_height_m else np.zeros((t.size, offsets.size))
    fine = np.linspace(0.0, t_end_s, 400_001)
    entry = np.array([_times_at(lambda s, d=d: path(s) - d, ENTRY_X, fine) for d in offsets])
    exit_ = np.array([_times_at(lambda s, d=d: path(s) - d, EXIT_X, fine) for d in offsets])
    edges = np.concatenate(([0.0], np.cumsum(LENGTHS)))
    platform_kg = np.zeros((t.size, len(LENGTHS)))
    front = path(t)
    half = footprint_m / 2
    for axle, (offset, load) in enumerate(zip(offsets, loads, strict=True)):
        x = front - offset
        for p in range(len(LENGTHS)):
            overlap = np.clip(np.minimum(x + half, edges[p + 1]) - np.maximum(x - half, edges[p]), 0, None)
            platform_kg[:, p] += (load + moved[:, axle]) * overlap / footprint_m
    cell_kg = np.repeat(platform_kg / 4, 4, axis=1) + rng.normal(0.0, 2.0, (t.size, 4 * len(LENGTHS)))
    zero = rng.integers(20_000, 40_000, 4 * len(LENGTHS))
    counts = np.rint(zero + cell_kg / KG_PER_COUNT).astype(np.int32)
    window = SampleWindow(t, counts, 0)
    assert entry[0] > 0.6 and exit_[-1] < t_end_s - 0.1  # a quiet pre-roll, the whole crossing
    tyres = ("single",) + ("dual",) * (offsets.size - 1)
    return Crossing(1, window, RATE_HZ, entry, exit_, tyres, (), None)


def _steady_change(speed_kmh: float, change: float) -> tuple[Callable[[np.ndarray], np.ndarray], float]:
    """A front axle at speed_kmh that, from 1 s before the scale on, changes speed at constant
    acceleration by `change` over the 18 m scale plus the truck's axle span."""
    v = speed_kmh / 3.6
    distance = sum(LENGTHS) + OFFSETS[-1] + 0.5
    accel = v * v * ((1 + change) ** 2 - 1) / (2 * distance)
    start_x = ENTRY_X - 1.0 * v

    def path(t: np.ndarray) -> np.ndarray:
        t0 = 1.0  # the front axle is at start_x at t = 1 s, at constant speed before
        tau = np.asarray(t) - t0
        return np.where(tau < 0, start_x + v * tau, start_x + v * tau + 0.5 * accel * tau * tau)

    travel = distance + 1.0 * v + 2.0
    duration = (math.sqrt(v * v + 2 * accel * travel) - v) / accel if accel else travel / v
    return path, 1.0 + duration


def _judge(crossing: Crossing, **wim: object) -> Judgement:
    return judge(crossing, _config(**wim), LimitTable.load())


@pytest.mark.parametrize(("speed_kmh", "change"), [(5.0, -0.10), (8.0, 0.10), (25.0, -0.08)])
def test_a_truck_changing_speed_gently_is_weighed_not_reweighed(speed_kmh: float, change: float) -> None:
    path, end = _steady_change(speed_kmh, change)
    crossing = _crossing(path, end, cg_height_m=1.8)
    profiled = _judge(crossing)
    assert profiled.decision.verdict.value == "pass", profiled.decision.reasons
    m = profiled.measurement
    assert m is not None
    assert m.gross_kg == pytest.approx(LOADS.sum(), rel=0.002)
    np.testing.assert_allclose(m.axle_loads_kg, LOADS, rtol=0.01)
    np.testing.assert_allclose(m.axle_spacings_m, np.diff(OFFSETS), atol=0.02)
    if change < 0:  # slowing: read between the first and the last event, as the change was set
        assert m.speed_change_fraction == pytest.approx(change, abs=0.03)
    else:  # speeding up: over one scale length of travel (v^2 grows in proportion to the distance)
        v = speed_kmh / 3.6
        distance = sum(LENGTHS) + OFFSETS[-1] + 0.5
        accel = v * v * ((1 + change) ** 2 - 1) / (2 * distance)
        over_scale = math.sqrt(1 + 2 * accel * (EXIT_X - ENTRY_X) / (v * v)) - 1
        assert m.speed_change_fraction == pytest.approx(over_scale, abs=0.015)
    # Each axle at its own constant speed (the estimator before profiles) misfits far more.
    constant = _judge(crossing, speed_profile="per_axle_constant").measurement
    assert constant is not None
    assert constant.residual_rms_kg > 3 * m.residual_rms_kg


def test_the_profile_recovers_a_constant_acceleration_exactly() -> None:
    v0, accel, t0 = 2.0, -0.05, 5.0
    offsets = np.array([0.0, 3.2, 4.5, 10.1])

    # X(t) = ENTRY_X + v0 (t - t0) + accel (t - t0)^2 / 2: solve X(t) = x + d for t.
    def when(x: float) -> float:
        return t0 + (-v0 + math.sqrt(v0 * v0 + 2 * accel * (x - ENTRY_X))) / accel

    entry = np.array([when(ENTRY_X + d) for d in offsets])
    exit_ = np.array([when(EXIT_X + d) for d in offsets])
    profile = fit_speed_profile(entry, exit_, ENTRY_X, EXIT_X)
    assert profile is not None
    assert profile.accel_mps2 == pytest.approx(accel, rel=1e-6)
    np.testing.assert_allclose(profile.offsets_m, offsets, atol=1e-6)
    assert profile.speed_at(t0) == pytest.approx(v0, rel=1e-6)
    assert profile.misfit_rms_m < 1e-6
    assert profile.monotone
    np.testing.assert_allclose(profile.front_x(entry) - offsets, ENTRY_X, atol=1e-6)


def test_the_profile_extends_at_its_end_speeds_and_flags_a_standstill() -> None:
    profile = SpeedProfile(
        t_c_s=0.0,
        x0_m=0.0,
        v0_mps=1.0,
        accel_mps2=-0.5,
        offsets_m=np.zeros(1),
        t_start_s=-1.0,
        t_end_s=3.0,
        misfit_rms_m=0.0,
    )
    assert profile.end_speed_mps == pytest.approx(-0.5)
    assert not profile.monotone
    x = profile.front_x(np.array([-2.0, -1.0, 3.0, 4.0]))
    # before: slope of the start speed 1.5 m/s; after: the end speed -0.5 m/s
    assert x[0] == pytest.approx(x[1] - 1.5)
    assert x[3] == pytest.approx(x[2] - 0.5)


def test_stop_and_go_is_reweighed_and_named() -> None:
    """The truck brakes to a stop for 2 s with its axles on the scale, then pulls away."""
    v = 6 / 3.6

    def path(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        brake_t, decel, stop_s, accel = 5.0, 0.8, 2.0, 0.5
        stop_t = brake_t + v / decel
        go_t = stop_t + stop_s
        x_brake = ENTRY_X - 1.0 * v + v * (brake_t - 1.0)
        x_stop = x_brake + v * v / (2 * decel)
        cruise = ENTRY_X - 1.0 * v + v * (t - 1.0)
        braking = x_brake + v * (t - brake_t) - 0.5 * decel * (t - brake_t) ** 2
        pulling = (
            x_stop
            + 0.5 * accel * np.clip(t - go_t, 0, v / accel) ** 2
            + v * np.clip(t - go_t - v / accel, 0, None)
            - 0.0
        )
        x = np.where(t < brake_t, cruise, np.where(t < stop_t, braking, np.where(t < go_t, x_stop, pulling)))
        return x + 1e-6 * t  # strictly monotone for the test's own inversion

    judgement = _judge(_crossing(path, 30.0))
    assert judgement.decision.verdict.value == "reweigh"
    reasons = " ".join(judgement.decision.reasons)
    assert "steady change of speed" in reasons or "standstill" in reasons or "slowed" in reasons, reasons


def test_a_large_speed_change_is_reweighed_saying_how_much() -> None:
    path, end = _steady_change(8.0, -0.45)
    judgement = _judge(_crossing(path, end))
    assert judgement.decision.verdict.value == "reweigh"
    allowed = f"more than the {_config().rules.max_speed_change_fraction:.0%}"
    assert any("slowed by" in r and allowed in r for r in judgement.decision.reasons), (
        judgement.decision.reasons
    )


# -- expanded uncertainty -----------------------------------------------------------------------------


def _short_scale_crossing(
    speed_kmh: float, pulse_kg: float, seed: int = 4, loads_kg: tuple[float, float] = (6000.0, 10000.0)
) -> tuple[Crossing, Config, np.ndarray]:
    """A 2-axle truck (6 t + 10 t, 4.5 m) over one 4.2 m platform at constant speed; with ``pulse_kg`` the
    driver brakes hard for 0.3 s while the front axle is on the platform: its load rises by pulse_kg and
    the rear's falls by as much (a jump's pitch), so the gross is right but the axles are not."""
    rng = np.random.default_rng(seed)
    v = speed_kmh / 3.6
    loads = np.array(loads_kg)
    offsets = np.array([0.0, 4.5])
    entry = 1.0 + offsets / v
    exit_ = entry + (4.2 + 0.5) / v
    t = np.arange(0, round((exit_[-1] + 0.5) * RATE_HZ)) / RATE_HZ
    pulse = np.where(np.abs(t - (entry[0] + 2.5 / v)) < 0.15, pulse_kg, 0.0)
    platform_kg = np.zeros(t.size)
    for axle, (offset, load) in enumerate(zip(offsets, loads, strict=True)):
        x = -0.5 + v * (t - entry[0]) - offset
        overlap = np.clip(
            np.minimum(x + FOOTPRINT_M / 2, 4.2) - np.maximum(x - FOOTPRINT_M / 2, 0.0), 0, None
        )
        platform_kg += (load + (pulse if axle == 0 else -pulse)) * overlap / FOOTPRINT_M
    cell_kg = np.repeat(platform_kg[:, None] / 4, 4, axis=1) + rng.normal(0.0, 2.0, (t.size, 4))
    counts = np.rint(30_000 + cell_kg / KG_PER_COUNT).astype(np.int32)
    config = _config().model_copy(
        update={"scale": _config().scale.model_copy(update={"platform_lengths_m": (4.2,)})}
    )
    return (
        Crossing(1, SampleWindow(t, counts, 0), RATE_HZ, entry, exit_, ("single", "dual"), (), None),
        config,
        loads,
    )


def test_a_clean_crossing_carries_a_small_uncertainty_that_covers_its_error() -> None:
    crossing, config, loads = _short_scale_crossing(8.0, 0.0)
    judgement = judge(crossing, config, LimitTable.load())
    m = judgement.measurement
    assert m is not None and judgement.decision.verdict.value == "pass", judgement.decision.reasons
    assert 0 < m.gross_uncertainty_kg < 0.01 * m.gross_kg
    assert abs(m.gross_kg - loads.sum()) <= m.gross_uncertainty_kg
    assert np.all(np.abs(np.array(m.axle_loads_kg) - loads) <= np.array(m.axle_uncertainties_kg))
    assert m.as_dict()["gross_uncertainty_kg"] == pytest.approx(m.gross_uncertainty_kg, abs=0.1)


def test_a_brake_pulse_on_a_short_platform_is_reweighed_for_its_misfit() -> None:
    """One platform sees each axle alone for a moment: a brake pulse there cannot be told from load (the
    body terms trade against the loads, so the uncertainty stays near 2 %), and the misfit catches it."""
    crossing, config, loads = _short_scale_crossing(8.0, 2500.0)
    judgement = judge(crossing, config, LimitTable.load())
    m = judgement.measurement
    assert m is not None
    assert abs(m.gross_kg - loads.sum()) > 0.02 * loads.sum()  # what would pass unseen
    assert judgement.decision.verdict.value == "reweigh"
    assert any("load signal does not fit" in r for r in judgement.decision.reasons), (
        judgement.decision.reasons
    )
    assert m.gross_uncertainty_kg > 0.015 * m.gross_kg  # far above a clean crossing's (below)


@pytest.mark.parametrize(
    ("rule", "verdict"),
    [("measured", None), ("refuse", "overweight"), ("pass", "pass"), ("reweigh", "reweigh")],
)
def test_a_gross_within_its_uncertainty_of_the_threshold_gets_the_sites_rule(
    rule: str, verdict: str | None
) -> None:
    """A 2-axle truck at exactly its refusal threshold (18,000 kg x 1.05 = 18,900 kg)."""
    crossing, config, _ = _short_scale_crossing(8.0, 0.0, loads_kg=(7000.0, 11900.0))
    config = config.model_copy(update={"rules": config.rules.model_copy(update={"near_threshold": rule})})
    judgement = judge(crossing, config, LimitTable.load())
    m = judgement.measurement
    assert m is not None and abs(m.gross_kg - 18_900) < m.gross_uncertainty_kg
    if verdict is None:  # the measured gross decides, as without uncertainty
        expected = "overweight" if m.gross_kg > judgement.decision.threshold_kg else "pass"
        assert judgement.decision.verdict.value == expected
        assert not any("site's rule" in r for r in judgement.decision.reasons)
    else:
        assert judgement.decision.verdict.value == verdict
        assert any(
            "within its uncertainty" in r and f"rule for such trucks: {rule}" in r
            for r in judgement.decision.reasons
        )
    far, config_far, _ = _short_scale_crossing(8.0, 0.0, loads_kg=(6000.0, 10000.0))
    config_far = config_far.model_copy(
        update={"rules": config_far.rules.model_copy(update={"near_threshold": rule})}
    )
    assert judge(far, config_far, LimitTable.load()).decision.verdict.value == "pass"  # 16 t: far below


def test_load_transfer_of_a_two_axle_truck_is_the_textbook_moment() -> None:
    """Braking at 1 m/s^2 moves M a h / (g W) from the rear axle to the front (M 16 t, h 2 m, W 4.5 m)."""
    from edge.wim.estimate import pitch_transfer_kg

    moved = pitch_transfer_kg(np.array([6000.0, 10000.0]), np.array([4.5]), -1.0, 2.0)
    expected = 16000 * 1.0 * 2.0 / (9.81 * 4.5)
    np.testing.assert_allclose(moved, [expected, -expected], rtol=1e-9)
    assert not pitch_transfer_kg(np.array([6000.0, 10000.0]), np.array([4.5]), 0.0, 2.0).any()


def test_a_combination_speeding_up_moves_load_within_its_towing_unit_only() -> None:
    """A 4x2 tractor pulling a tridem semitrailer at 0.5 m/s^2: the drive axle pulls the whole 40 t at the
    fifth wheel, so M a h_c / (g W) moves from the steer axle to the drive axle (W the tractor's 3.6 m
    wheelbase), three times what the whole-vehicle rule gives the steer axle; the trailer's axles keep
    theirs.  Braking keeps the whole-vehicle rule (each unit brakes its own mass)."""
    from edge.wim.estimate import COUPLING_HEIGHT_M, pitch_transfer_kg, towing_axles

    loads = np.array([6000.0, 11000.0, 7700.0, 7700.0, 7600.0])
    spacings = np.array([3.6, 7.2, 1.3, 1.3])
    towing = towing_axles(spacings, 2.0, 2.4)
    assert towing == [0, 1]
    pulled = pitch_transfer_kg(loads, spacings, 0.5, 1.5, towing)
    textbook = loads.sum() * 0.5 * COUPLING_HEIGHT_M / (9.81 * 3.6)
    np.testing.assert_allclose(pulled, [-textbook, textbook, 0.0, 0.0, 0.0], rtol=1e-9, atol=1e-9)
    whole = pitch_transfer_kg(loads, spacings, 0.5, 1.5)
    assert pulled[0] < 2.5 * whole[0] < 0  # the steer axle: far more than the whole-body rule
    braked = pitch_transfer_kg(loads, spacings, -0.5, 1.5, towing)
    np.testing.assert_array_equal(braked, pitch_transfer_kg(loads, spacings, -0.5, 1.5))
    assert braked[2:].max() < 0  # braking: the trailer's axles unload too


def test_towing_unit_is_the_rules_combination() -> None:
    """Where the rules' classifier calls a vehicle rigid there is no towing unit; where it calls it a
    combination the towing unit is its first two axle groups, joined by the next while they span less
    than a towing unit's shortest wheelbase (a twin steer read over the group limit), and none when that
    leaves no group for a trailer."""
    from edge.rules import Body, classify
    from edge.wim.estimate import MIN_TOWING_WHEELBASE_M, towing_axles

    rng = np.random.default_rng(8)
    kinds = {"rigid": 0, "two groups": 0, "joined": 0}
    for _ in range(3000):
        n = int(rng.integers(1, 6))
        spacings = rng.choice([1.3, 1.4, 1.9, 2.0, 2.1, 2.3, 2.5, 3.2, 4.0, 7.0], size=n)
        towing = towing_axles(spacings, 2.0, 2.4)
        vehicle = classify(list(spacings), group_max_spacing_m=2.0, steer_group_max_spacing_m=2.4)
        positions = np.concatenate(([0.0], np.cumsum(spacings)))
        if vehicle.body == Body.RIGID:
            assert towing is None, spacings
            kinds["rigid"] += 1
            continue
        first_two = vehicle.groups[0] + vehicle.groups[1]
        if positions[first_two - 1] >= MIN_TOWING_WHEELBASE_M:
            assert towing == list(range(first_two)), spacings
            kinds["two groups"] += 1
        elif towing is not None:
            assert len(towing) > first_two and towing == list(range(len(towing)))
            assert positions[towing[-1]] >= MIN_TOWING_WHEELBASE_M
            assert towing[-1] < n  # a trailer's axle is left
            kinds["joined"] += 1
    assert min(kinds.values()) > 20, kinds
    # A 6x2 twin-steer tractor whose steer pair reads 5 cm over the group limit, with a tridem: the drive
    # axle joins the steer pair, the transfer does not go between the steer axles.
    assert towing_axles(np.array([2.05, 2.9, 5.5, 1.31, 1.31]), 2.0, 2.4) == [0, 1, 2]
    assert towing_axles(np.array([1.95, 2.9, 5.5, 1.31, 1.31]), 2.0, 2.4) == [0, 1, 2]


def test_combination_pitch_uncertainty_terms() -> None:
    """Speeding up, a combination's uncertainty keeps what the correction leaves out: the trailer's own
    pitch about the coupling moves load between the trailer's axles and the tractor's rear group (and
    leaves the gross); a measured acceleration's noise reaches every axle at the larger of the two rules
    (the trailer's axles too); under a ramp the gross's shift is at least the whole-vehicle rule's."""
    from edge.wim import estimate

    loads = np.array([6500.0, 9000.0, 9000.0, 8000.0, 8000.0, 8000.0])
    spacings = np.array([3.2, 1.35, 6.5, 1.31, 1.31])
    towing = estimate.towing_axles(spacings, 2.0, 2.4)
    assert towing == [0, 1, 2]
    trailing = estimate._trailer_pitch_per_mps2(loads, spacings, towing)
    assert abs(trailing.sum()) < 1e-9 * loads.sum()
    assert trailing[0] == 0.0 and np.all(trailing[1:3] < 0) and np.all(trailing[3:] > 0)
    # W dh / (g L): the trailer's 24 t, 0.5 m, the 6.5 m + 1.31 m - 0.675 m between the groups' centroids.
    assert trailing[3:].sum() == pytest.approx(24000 * 0.5 / (9.81 * (0.675 + 6.5 + 1.31)), rel=1e-9)
    rigid = np.abs(estimate.pitch_transfer_kg(loads, spacings, 1.0, estimate.CG_HEIGHT_TYPICAL_M))
    se = np.full(6, 0.1)
    # Clearly speeding up: the traction rule (the trailer's axles take none); clearly braking: the
    # whole-vehicle rule; within twice its error of zero: the larger of the two, every axle.
    pulling = estimate._pitch_noise_per_mps2(loads, spacings, np.full(6, 0.5), se, towing)
    assert np.all(pulling[3:] == 0) and pulling[0] > rigid[0]
    braking = estimate._pitch_noise_per_mps2(loads, spacings, np.full(6, -0.5), se, towing)
    np.testing.assert_array_equal(braking, rigid)
    either = estimate._pitch_noise_per_mps2(loads, spacings, np.full(6, 0.1), se, towing)
    np.testing.assert_array_equal(either, np.maximum(rigid, pulling))
    assert np.all(either[3:] > 0)
    accels = np.array([0.4, 0.4, 0.4, 0.0, 0.0, 0.0])  # a blip that ended before the trailer was weighed
    moved = (
        estimate._pitch_transfer_per_mps2(
            loads, spacings, accels, (estimate.CG_HEIGHT_TYPICAL_M, estimate.COUPLING_HEIGHT_M), towing
        )
        * accels
    )
    assert abs(moved.sum()) < 1e-6  # the traction rule moves load within the tractor only
    whole = float(
        np.sum(estimate.pitch_transfer_kg(loads, spacings, 1.0, estimate.CG_HEIGHT_TYPICAL_M) * accels)
    )
    assert abs(whole) > 100.0
    assert estimate._transfer_shift_kg(moved, loads, spacings, accels, towing) == pytest.approx(abs(whole))
    assert estimate._transfer_shift_kg(moved, loads, spacings, accels, None) == pytest.approx(
        abs(moved.sum())
    )


@pytest.mark.parametrize("cg_height_m", [1.0, 1.5, 2.1])
def test_axle_loads_under_braking_are_corrected_for_pitch_or_marked_uncertain(cg_height_m: float) -> None:
    """Slowing by 10 % at 25 km/h (about -0.15 m/s^2) moves about 0.4 % of the steer axle's load per metre
    of centre-of-gravity height: each axle is within 1 % after the correction, and within its uncertainty."""
    path, end = _steady_change(25.0, -0.10)
    m = _judge(_crossing(path, end, cg_height_m=cg_height_m)).measurement
    assert m is not None and m.accel_mps2 < -0.1
    errors = np.abs(np.array(m.axle_loads_kg) - LOADS)
    assert np.all(errors <= np.array(m.axle_uncertainties_kg)), (errors, m.axle_uncertainties_kg)
    assert np.all(errors / LOADS <= 0.01), errors / LOADS
    moved = np.abs(_pitch_moved_kg(np.array([m.accel_mps2]), cg_height_m)[0])
    assert moved[0] / LOADS[0] > 0.004 * cg_height_m  # what was corrected for: not a negligible effect


def test_axle_uncertainties_widen_under_measured_acceleration() -> None:
    path, end = _steady_change(5.0, -0.10)
    changing = _judge(_crossing(path, end)).measurement
    steady_path, steady_end = _steady_change(5.0, 0.0)
    steady = _judge(_crossing(steady_path, steady_end)).measurement
    assert changing is not None and steady is not None
    assert changing.accel_mps2 < -0.005
    assert changing.axle_uncertainties_kg[0] > steady.axle_uncertainties_kg[0]


def test_a_misfit_near_the_allowance_is_not_explained_away_by_the_body_terms() -> None:
    """The brake pulse of the short-scale crossing: the body terms fit much of it, but with the rules
    given (as weigh() gives them) and ``wim.uncertainty_misfit_floor`` on, the uncertainty keeps at least
    the misfit's share of the allowance."""
    from edge.wim.estimate import estimate_crossing, residual_allowance_fraction, zero_from_preroll

    crossing, config, _ = _short_scale_crossing(8.0, 2500.0)
    zero = zero_from_preroll(crossing.window, float(crossing.entry_t_s.min()))
    assert zero is not None
    wim = config.wim.model_copy(update={"uncertainty_misfit_floor": True})
    args = (crossing.window, zero, crossing.entry_t_s, crossing.exit_t_s, config.scale, wim, 2.0)
    free = estimate_crossing(*args)
    bounded = estimate_crossing(*args, config.rules)
    assert bounded.gross_kg == free.gross_kg and bounded.axle_loads_kg == free.axle_loads_kg
    ratio = bounded.residual_rms_kg / (
        residual_allowance_fraction(config.rules, bounded.speed_kmh) * bounded.carried_load_kg()
    )
    assert ratio > 0.5
    assert bounded.gross_uncertainty_kg > free.gross_uncertainty_kg


# -- throttle blips: a slow truck's small step in speed ------------------------------------------------


def _blip(
    speed_kmh: float, rise: float, blip_s: float, at_s: float
) -> tuple[Callable[[np.ndarray], np.ndarray], float]:
    """A front axle at speed_kmh whose driver blips the throttle ``at_s`` after the truck is 1 s before the
    scale: the speed rises by ``rise`` (a fraction) at constant acceleration over ``blip_s``, then holds."""
    v = speed_kmh / 3.6
    accel = v * rise / blip_s
    start_x = ENTRY_X - 1.0 * v

    def path(t: np.ndarray) -> np.ndarray:
        tau = np.asarray(t, dtype=np.float64) - 1.0
        ramp = np.clip(tau - at_s, 0.0, blip_s)
        after = np.clip(tau - at_s - blip_s, 0.0, None)
        return start_x + v * tau + 0.5 * accel * ramp * ramp + accel * blip_s * after

    return path, 1.0 + (sum(LENGTHS) + OFFSETS[-1] + 0.5 + 1.0 * v + 2.0) / v


@pytest.mark.parametrize(("speed_kmh", "rise", "at_s"), [(5.0, 0.06, 6.0), (8.0, 0.08, 5.0)])
def test_a_slow_truck_blipping_the_throttle_is_weighed_not_reweighed(
    speed_kmh: float, rise: float, at_s: float
) -> None:
    """A step of 6-8 % in 0.5 s misfits the constant-acceleration profile (the estimator before ramps) by
    16-31 ms, over the 12 ms of max_profile_misfit_s, but by under 6 cm: inside half a tyre footprint, so it
    places every axle as well as the footprint allows, and the gross is right.  Re-weighed before the
    footprint floor."""
    path, end = _blip(speed_kmh, rise, 0.5, at_s)
    judgement = _judge(_crossing(path, end, cg_height_m=1.8), speed_profile="constant_acceleration")
    m = judgement.measurement
    assert m is not None
    assert m.profile_misfit_m / (m.speed_kmh / 3.6) > _config().rules.max_profile_misfit_s
    assert m.profile_misfit_m < _config().scale.tyre_footprint_m / 2
    assert judgement.decision.verdict.value == "pass", judgement.decision.reasons
    assert m.gross_kg == pytest.approx(LOADS.sum(), rel=0.005)


def test_a_jump_misfitting_by_more_than_half_a_footprint_is_still_reweighed_for_it() -> None:
    """At 10 km/h the driver brakes at 2.5 m/s² for 0.5 s and pulls away at 0.8 m/s² back to speed (a
    jump): the strip times misfit the profile by about 20 cm, more than half a footprint, and say so."""
    v = 10.0 / 3.6
    brake_s, pull_s = 0.5, 2.5 * 0.5 / 0.8
    start_x = ENTRY_X - 1.0 * v

    def path(t: np.ndarray) -> np.ndarray:
        tau = np.asarray(t, dtype=np.float64) - 1.0
        braking = np.clip(tau - 5.0, 0.0, brake_s)
        pulling = np.clip(tau - 5.0 - brake_s, 0.0, pull_s)
        after = np.clip(tau - 5.0 - brake_s - pull_s, 0.0, None)
        dip = -2.5 * brake_s
        return (
            start_x
            + v * tau
            - 1.25 * braking * braking
            + dip * (pulling + after)
            + 0.4 * pulling * pulling
            + 0.8 * pull_s * after
        )

    judgement = _judge(_crossing(path, 1.0 + (sum(LENGTHS) + OFFSETS[-1] + 0.5 + v + 2.0) / v + 4.0))
    m = judgement.measurement
    assert m is not None and m.profile_misfit_m > _config().scale.tyre_footprint_m / 2
    assert judgement.decision.verdict.value == "reweigh"
    assert any("steady change of speed" in r and "12.5 cm" in r for r in judgement.decision.reasons), (
        judgement.decision.reasons
    )


@pytest.mark.parametrize(
    ("speed_kmh", "rise", "at_s"), [(5.0, 0.06, 6.0), (8.0, 0.08, 5.0), (12.0, 0.10, 2.5)]
)
def test_a_throttle_blip_is_followed_by_a_ramp_of_its_own_size(
    speed_kmh: float, rise: float, at_s: float
) -> None:
    """The default profile finds the step: two cruises joined by a ramp around the blip, the change of speed
    read at its size (the constant acceleration reads it up to 1.5 x), the strip times fitted within their
    noise, every axle load within 1 % after the pitch transfer of its own moment, and no re-weigh."""
    path, end = _blip(speed_kmh, rise, 0.5, at_s)
    crossing = _crossing(path, end, cg_height_m=1.8)
    judgement = _judge(crossing)
    m = judgement.measurement
    assert m is not None
    assert judgement.decision.verdict.value == "pass", judgement.decision.reasons
    mean_rise = rise / (1 + rise / 2)  # the change over the mean speed
    assert m.speed_change_fraction == pytest.approx(mean_rise, abs=0.01)
    assert m.profile_misfit_m < 0.01
    np.testing.assert_allclose(m.axle_loads_kg, LOADS, rtol=0.01)
    assert m.gross_kg == pytest.approx(LOADS.sum(), rel=0.003)
    scale = _config().scale
    profile = fit_speed_profile(
        crossing.entry_t_s,
        crossing.exit_t_s,
        scale.entry_strip_x_m,
        scale.exit_x_m,
        ramp_timing_sd_s=scale.strip_timing_sd_s,
    )
    assert profile is not None
    start, end_s = profile.ramp_s
    blip_start = 1.0 + at_s
    # The ramp lies around the blip (its ends are known only to the nearest events on either side).
    assert (
        start - 1.5 < blip_start + 0.25 < end_s + 1.5 and end_s - start < profile.t_end_s - profile.t_start_s
    )
    constant = _judge(crossing, speed_profile="constant_acceleration").measurement
    assert constant is not None
    assert abs(constant.speed_change_fraction - mean_rise) > abs(m.speed_change_fraction - mean_rise)


def test_a_steady_truck_keeps_its_constant_acceleration() -> None:
    """Strip times of steady or gently accelerating 5-7 axle trucks with +/-4 ms of jitter: the ramp is
    almost never taken (it needs a misfit beyond the strips' noise), and the profile reads the true change
    of speed within 3 %: slowing, between the first and the last event; speeding up, between the mean
    entry and the mean exit time."""
    rng = np.random.default_rng(5)
    taken = 0
    for _ in range(200):
        n = int(rng.integers(5, 8))
        offsets = np.concatenate(([0.0], np.cumsum(rng.uniform(1.3, 6.0, n - 1))))
        v0 = float(rng.uniform(1.0, 11.0))
        accel = float(rng.uniform(-0.2, 0.2)) * v0 * v0 / (2 * 50.0)  # the speed changes by up to ~10 %

        def when(x: float, v0: float = v0, accel: float = accel) -> float:
            return x / v0 if accel == 0 else (math.sqrt(v0 * v0 + 2 * accel * x) - v0) / accel

        entry = np.array([when(ENTRY_X + 1.0 + d) for d in offsets]) + rng.uniform(-0.004, 0.004, n)
        exit_ = np.array([when(EXIT_X + 1.0 + d) for d in offsets]) + rng.uniform(-0.004, 0.004, n)
        profile = fit_speed_profile(entry, exit_, ENTRY_X, EXIT_X, ramp_timing_sd_s=0.0023)
        assert profile is not None
        taken += not math.isnan(profile.ramp_start_s)
        # The true change between the first and the last event (slowing) or between the mean entry and the
        # mean exit time (speeding up), over the mean speed between the first and the last event.
        first, last = float(entry.min()), float(exit_.max())
        no_ramp = math.isnan(profile.ramp_start_s)
        assert (not math.isnan(profile.entry_mean_s)) == (no_ramp and profile.accel_mps2 > 0)
        over_scale = not math.isnan(profile.entry_mean_s)
        lo, hi = (float(entry.mean()), float(exit_.mean())) if over_scale else (first, last)
        true_change = accel * (hi - lo) / (v0 + accel * (first + last) / 2)
        assert profile.speed_change_fraction == pytest.approx(true_change, abs=0.03)
    assert taken <= 1


def test_many_precise_events_of_a_steady_truck_find_no_ramp(monkeypatch: pytest.MonkeyPatch) -> None:
    """2-4 axle trucks, steady or gently changing speed, on a 4.2 m platform: strip times with +/-4 ms of
    uniform jitter plus four places per axle 2 mm sure (Gaussian), weighted as the estimator weighs the
    centre of load.  The ramp's first test is against the chi-squared quantile (one-sided 0.03 %) of the
    8, 13 or 18 degrees of freedom they give: noise of the stated size passes it (no ramp is even tried,
    where a test at the quantile's median would try half of them), and none is taken."""
    tried = []
    search = motion._fit_ramp

    def spy(*args: object, **kwargs: object) -> SpeedProfile | None:
        tried.append(1)
        return search(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(motion, "_fit_ramp", spy)
    rng = np.random.default_rng(8)
    entry_x, exit_x, sd_s, centre_sd_m = -0.5, 4.2, 0.0023, 0.002
    taken = 0
    for _ in range(200):
        n = int(rng.integers(2, 5))
        offsets = np.concatenate(([0.0], np.cumsum(rng.uniform(1.3, 4.5, n - 1))))
        v0 = float(rng.uniform(3.0, 11.0))
        accel = float(rng.uniform(-0.2, 0.2)) * v0 * v0 / (2 * 12.0)

        def when(x: np.ndarray | float, v0: float = v0, accel: float = accel) -> np.ndarray:
            x = np.asarray(x, dtype=float)
            return x / v0 if accel == 0 else (np.sqrt(v0 * v0 + 2 * accel * x) - v0) / accel

        entry = when(entry_x + 1.0 + offsets) + rng.uniform(-0.004, 0.004, n)
        exit_ = when(exit_x + 1.0 + offsets) + rng.uniform(-0.004, 0.004, n)
        places = np.tile([0.8, 1.6, 2.4, 3.2], n)
        axle = np.repeat(np.arange(n), 4)
        times = when(places + 1.0 + offsets[axle])
        speed = (exit_x - entry_x) / float(np.mean(exit_ - entry))
        weight = np.full(times.size, sd_s * speed / centre_sd_m)
        events = PointEvents(axle, times, places + rng.normal(0.0, centre_sd_m, times.size), weight)
        profile = fit_speed_profile(entry, exit_, entry_x, exit_x, ramp_timing_sd_s=sd_s, point_events=events)
        assert profile is not None
        taken += not math.isnan(profile.ramp_start_s)
    assert taken == 0
    assert len(tried) <= 2


def _step_brake_events(
    rng: np.random.Generator, brake_mps2: float, centre_sd_m: float = 0.002
) -> tuple[np.ndarray, np.ndarray, PointEvents, np.ndarray]:
    """An 8x4 truck at 10 m/s on a 4.2 m platform that brakes at ``brake_mps2`` from when its front axle is
    at 5.8 m: strip times (2.3 ms Gaussian) and the places of each axle while it stands alone (2 mm), and
    the acceleration each axle is under, averaged over its time on the platform."""
    offsets = np.array([0.0, 1.9, 5.4, 6.75])
    v0, x_brake = 10.0, 5.8 + 1.0
    t_brake = x_brake / v0

    def front(t: np.ndarray) -> np.ndarray:
        late = np.maximum(t - t_brake, 0.0)
        return v0 * t + 0.5 * brake_mps2 * late * late

    grid = np.linspace(0.0, 3.0, 300_001)
    path = front(grid)

    def when(x: np.ndarray) -> np.ndarray:
        return np.interp(x, path, grid)

    entry = when(-0.5 + 1.0 + offsets) + rng.normal(0.0, 0.0023, 4)
    exit_ = when(4.2 + 1.0 + offsets) + rng.normal(0.0, 0.0023, 4)
    lone = {0: [0.5, 0.9, 1.3], 1: [3.0, 3.4, 3.8], 2: [0.5, 0.8], 3: [3.5, 3.9]}
    axle = np.concatenate([np.full(len(v), k) for k, v in lone.items()])
    places = np.concatenate([np.array(v) for v in lone.values()])
    times = when(places + 1.0 + offsets[axle])
    weight = np.full(times.size, 0.0023 * v0 / centre_sd_m)
    events = PointEvents(axle, times, places + rng.normal(0.0, centre_sd_m, times.size), weight)
    t_in, t_out = when(-0.5 + 1.0 + offsets), when(4.2 + 1.0 + offsets)
    under = np.array(
        [
            np.mean(np.where(np.linspace(a, b, 200) > t_brake, brake_mps2, 0.0))
            for a, b in zip(t_in, t_out, strict=True)
        ]
    )
    return entry, exit_, events, under


def test_each_axle_is_weighed_about_the_middle_of_its_strip_times() -> None:
    """An acceleration changing exactly linearly (a cubic path, no noise): the jerk comes out exact, and the
    gross transfer is it times sum_i T_i t_i, each axle's weighing time t_i the mean of its entry and exit
    strip times.  The centre of load's places, early in the steers' time on the platform and late in the
    tandem's, do not move those times (with them in the means the transfer would read 1.31 times)."""
    v0, a0, jerk = 9.0, -0.3, -1.2
    offsets = np.array([0.0, 1.9, 5.4, 6.75])
    grid = np.linspace(0.0, 3.0, 600_001)
    path = v0 * grid + a0 * grid**2 / 2 + jerk * grid**3 / 6

    def when(x: np.ndarray) -> np.ndarray:
        return np.interp(x, path, grid)

    entry, exit_ = when(-0.5 + 1.0 + offsets), when(4.2 + 1.0 + offsets)
    places = np.r_[np.tile([0.3, 0.7, 1.1], 2), np.tile([3.1, 3.5, 3.9], 2)]
    axle = np.repeat(np.arange(4), 3)
    times = when(places + 1.0 + offsets[axle])
    events = PointEvents(axle, times, places, np.full(times.size, 10.0))
    per_mps2 = np.array([-700.0, -450.0, 450.0, 700.0])
    change = transfer_change_kg(entry, exit_, -0.5, 4.2, per_mps2, 0.0023, point_events=events)
    assert change is not None
    expected = jerk * float(per_mps2 @ ((entry + exit_) / 2))
    assert change[0] == pytest.approx(expected, rel=1e-4)
    all_events = np.array([np.mean(np.r_[entry[i], exit_[i], times[axle == i]]) for i in range(4)])
    assert abs(jerk * float(per_mps2 @ all_events)) > 1.25 * abs(expected)


def test_the_centre_of_load_shows_the_transfer_of_a_brake_between_the_axles_weighings() -> None:
    """A brake that starts as an 8x4 truck's steer pair leaves a 4.2 m platform: the tandem is weighed under
    it, the steers are not, and the gross is off by the transfer onto the tandem.  The strips alone (8
    events, 1 degree of freedom) leave the jerk 4 times as uncertain as with the centre of load's places;
    with them, the estimate is on average within a quarter of the true shift and more than 2 standard
    uncertainties from zero in nearly every draw (at 1 and 1.5 m/s²).  A steady truck's is within 2 of zero in about 95 % of draws,
    as a standard normal is."""
    per_mps2 = np.array([-700.0, -450.0, 450.0, 700.0])  # kg the pitch moves onto each axle per m/s²
    rng = np.random.default_rng(3)
    for brake in (-1.0, -1.5):
        estimates, shown = [], 0
        for _ in range(40):
            entry, exit_, events, under = _step_brake_events(rng, brake)
            strips = transfer_change_kg(entry, exit_, -0.5, 4.2, per_mps2, 0.0023)
            change = transfer_change_kg(entry, exit_, -0.5, 4.2, per_mps2, 0.0023, point_events=events)
            assert strips is not None and change is not None
            assert strips[1] > 3 * change[1]
            estimates.append(change[0])
            shown += abs(change[0]) > 2 * change[1]
        true_kg = float(per_mps2 @ under)
        assert float(np.mean(estimates)) == pytest.approx(true_kg, rel=0.25)
        assert shown >= 36
    shown = 0
    for _ in range(200):
        entry, exit_, events, under = _step_brake_events(rng, 0.0)
        change = transfer_change_kg(entry, exit_, -0.5, 4.2, per_mps2, 0.0023, point_events=events)
        assert change is not None
        shown += abs(change[0]) > 2 * change[1]
    assert shown <= 18  # 4.6 % expected: 9 of 200


@pytest.mark.parametrize("offsets", [(0.0, 4.0), (0.0, 1.3, 4.5, 5.8)], ids=["2 axles", "4 axles"])
def test_too_few_axles_for_a_ramp_measure_a_step_between_their_entry_and_exit(
    offsets: tuple[float, ...],
) -> None:
    """A 2- or 4-axle truck whose speed steps up 10 % halfway: its strip times leave too few degrees of
    freedom to test a ramp (0 and 2), and the constant acceleration extrapolated to the first and the last
    event reads far more (the steady change that gives the same times).  Where the strips see the speed,
    between the mean entry and the mean exit time, it reads the step."""
    v, rise = 3.0, 0.10
    travel = EXIT_X - ENTRY_X

    def when(x: float) -> float:  # front at x: at v until 9 m past the entry strip, then 10 % faster
        switch = ENTRY_X + 9.0
        return x / v if x <= switch else switch / v + (x - switch) / (v * (1 + rise))

    entry = np.array([when(ENTRY_X + d) for d in offsets])
    exit_ = np.array([when(ENTRY_X + travel + d) for d in offsets])
    plain = fit_speed_profile(entry, exit_, ENTRY_X, EXIT_X)
    profile = fit_speed_profile(entry, exit_, ENTRY_X, EXIT_X, ramp_timing_sd_s=0.0023)
    assert plain is not None and profile is not None
    mean_rise = rise / (1 + rise / 2)
    assert plain.speed_change_fraction > 1.15 * mean_rise
    assert profile.speed_change_fraction == pytest.approx(mean_rise, abs=0.015)


@pytest.mark.parametrize("rise", [0.10, -0.10], ids=["speeds up", "slows"])
def test_a_hidden_step_that_speeds_up_is_measured_where_the_strips_see_the_speed(rise: float) -> None:
    """A 5-axle truck at 20 km/h on a 7.7 m scale whose speed steps by 10 % 8 m past the entry strip, its
    strips taken as noisy enough (5 ms) that the constant acceleration fits within their noise and no
    ramp is tried.  Extrapolated to the first and the last event it reads about 1.5 times the step, past
    the 13 % limit.  Speeding up, the change is measured between the mean entry and exit times instead
    (below the step: the benefit of the doubt); slowing keeps the span's reading (a jump's brake pulse)."""
    entry_x, exit_x, v = -0.5, 7.2, 5.5
    switch = entry_x + 8.0

    def when(x: float) -> float:
        return x / v if x <= switch else switch / v + (x - switch) / (v * (1 + rise))

    offsets = np.array([0.0, 3.6, 4.95, 12.0, 13.31])
    entry = np.array([when(entry_x + d) for d in offsets])
    exit_ = np.array([when(exit_x + d) for d in offsets])
    plain = fit_speed_profile(entry, exit_, entry_x, exit_x)
    profile = fit_speed_profile(entry, exit_, entry_x, exit_x, ramp_timing_sd_s=0.005)
    assert plain is not None and profile is not None
    assert math.isnan(profile.ramp_start_s), "the noise hides the step: no ramp"
    mean_rise = rise / (1 + rise / 2)
    assert abs(plain.speed_change_fraction) > 1.4 * abs(mean_rise) > 0.13
    if rise > 0:
        assert 0.4 * mean_rise < profile.speed_change_fraction < mean_rise
    else:
        assert profile.speed_change_fraction == pytest.approx(plain.speed_change_fraction)


@pytest.mark.parametrize(("n_axles", "dip"), [(5, 0.4), (4, 0.2)])
def test_a_ramp_that_explains_nothing_is_refused(n_axles: int, dip: float) -> None:
    """A truck at 3 m/s dips by ``dip`` for 2 s and comes back to speed (a jump's dip).  On 5 axles no
    single ramp fits its events within the noise; on 4, some ramp fits any axles' events exactly (this one:
    a 7.5 % step, misfit 0) and none is tried.  Either way the constant acceleration stays, with the misfit
    that shows the jerky driving."""
    v, t0 = 3.0, 4.0 if n_axles == 5 else 6.0

    def speed(t: np.ndarray) -> np.ndarray:  # down over 1 s from t0, held 1 s, back up over 1 s
        return v * (1 - dip * np.clip(t - t0, 0, 1) + dip * np.clip(t - t0 - 2.0, 0, 1))

    fine = np.linspace(0.0, 60.0, 600_001)
    front = np.concatenate(([0.0], np.cumsum(speed(fine[1:]) * np.diff(fine))))
    offsets = OFFSETS[:n_axles]
    entry = np.interp(ENTRY_X + 10.0 + offsets, front, fine)
    exit_ = np.interp(EXIT_X + 10.0 + offsets, front, fine)
    profile = fit_speed_profile(entry, exit_, ENTRY_X, EXIT_X, ramp_timing_sd_s=0.0023)
    assert profile is not None
    assert math.isnan(profile.ramp_start_s)
    assert profile.misfit_rms_m > 0.05
    if n_axles == 5:
        # Its constant acceleration speeds up, but the events lie beyond the noise and the ramp tried was
        # refused: jerky driving, whose change keeps the span's (higher) reading.
        assert profile.accel_mps2 > 0
        assert math.isnan(profile.entry_mean_s)


def test_each_axle_is_weighed_at_the_mean_acceleration_of_its_own_time_on_the_scale() -> None:
    """A ramp from 2 to 3 s at 0.5 m/s²: an axle on the scale from 1 to 5 s saw 0.5 m/s² for 1 s of its
    4 (0.125 m/s² on average), one from 2.5 to 2.7 s all of it, one from 4 to 6 s none."""
    profile = SpeedProfile(
        t_c_s=2.5,
        x0_m=0.0,
        v0_mps=3.0,
        accel_mps2=0.5,
        offsets_m=np.zeros(1),
        t_start_s=0.0,
        t_end_s=8.0,
        misfit_rms_m=0.0,
        ramp_start_s=2.0,
        ramp_end_s=3.0,
    )
    got = profile.mean_accel_mps2(np.array([1.0, 2.5, 4.0]), np.array([5.0, 2.7, 6.0]))
    np.testing.assert_allclose(got, [0.125, 0.5, 0.0], atol=1e-12)
    assert profile.start_speed_mps == pytest.approx(2.75) and profile.end_speed_mps == pytest.approx(3.25)


def test_a_braking_ramp_harder_than_the_scale_can_follow_is_reweighed_as_a_step() -> None:
    """A ramp is a change of acceleration, never shown steady: one that brakes harder than
    rules.max_accel_mps2 (how a jump starts) is re-weighed, and the reason says the strip times show a step
    (not that they cannot show it).  The same acceleration fitted as a constant one, with strip times that
    show it steady, is judged.  A ramp that speeds up as hard (a throttle blip) is judged on its gross
    uncertainty: re-weighed only when that exceeds the class's."""
    from dataclasses import replace

    from edge.wim.estimate import WimMeasurement, stability_problems

    ramp = SpeedProfile(
        t_c_s=5.0,
        x0_m=0.0,
        v0_mps=3.5,
        accel_mps2=-1.2,
        offsets_m=OFFSETS,
        t_start_s=0.0,
        t_end_s=12.0,
        misfit_rms_m=0.002,
        ramp_start_s=4.75,
        ramp_end_s=5.25,
    )
    m = WimMeasurement(
        tuple(LOADS),
        tuple(np.diff(OFFSETS)),
        (12.6,) * 5,
        12.6,
        float(LOADS.sum()),
        100.0,
        5000,
        0,
        (),
        accel_mps2=-1.2,
        profile_misfit_m=0.002,
        gross_uncertainty_kg=200.0,
        transfer_change_kg=math.nan,
        speed_profile=ramp,
    )
    rules = _config().rules
    reasons = stability_problems(m, rules)
    assert any("braked at 1.20 m/s²" in r and "show a step of speed" in r for r in reasons), reasons
    steady = replace(m, transfer_change_kg=100.0, speed_profile=replace(ramp, ramp_start_s=math.nan))
    assert not any("m/s²" in r for r in stability_problems(steady, rules))
    blip = replace(m, accel_mps2=1.2, speed_profile=replace(ramp, accel_mps2=1.2))
    assert stability_problems(blip, rules) == []
    allowed_kg = rules.max_gross_uncertainty_fraction * float(LOADS.sum())
    uncertain = replace(blip, gross_uncertainty_kg=1.1 * allowed_kg)
    (reason,) = stability_problems(uncertain, rules)
    assert reason.startswith("gross uncertain by"), reason


# -- load edges: the joints' times read from the platform signals -----------------------------------------


def _platform_kg(crossing: Crossing) -> np.ndarray:
    config = _config()
    zero = zero_from_preroll(crossing.window, 0.5)
    assert zero is not None
    return platform_loads(
        crossing.window.counts, zero, span_per_cell(config.scale), config.scale.cells_per_platform
    )


@pytest.mark.parametrize(
    ("footprint_m", "offsets"),
    [(0.25, OFFSETS), (0.35, OFFSETS), (0.25, np.array([0.0, 4.7, 6.0]))],
    ids=["5 axles", "5 axles, longer patch", "3 axles, tandem on the other joint"],
)
def test_load_edges_read_when_each_axle_crossed_each_joint(footprint_m: float, offsets: np.ndarray) -> None:
    """A truck blips 10 % while every axle is on the 3 x 6 m scale.  The constant acceleration its strip
    times give misplaces the axles at the joints by 20 ms or more; the times read from the platform
    signals are within 2 ms of when each axle's centre was over each joint, whatever the contact patch's
    length (0.25 m assumed, 0.35 m here too), and where the 3-axle truck's tandem crosses the first joint
    as its front axle crosses the second (the platform between them, whose signal carries the tandem's
    misplaced share, is left out)."""
    loads = LOADS[: offsets.size]
    path, end = _blip(6.0, 0.10, 0.5, 8.5)
    crossing = _crossing(path, end, offsets=offsets, loads=loads, footprint_m=footprint_m)
    profile = fit_speed_profile(crossing.entry_t_s, crossing.exit_t_s, ENTRY_X, EXIT_X)
    assert profile is not None
    edges = np.concatenate(([0.0], np.cumsum(LENGTHS)))
    joints = joint_positions(edges, (), 0.2)
    np.testing.assert_allclose(joints, [6.0, 12.0])
    read = load_edge_times(
        crossing.window.times_s, _platform_kg(crossing), edges, joints, profile, loads, FOOTPRINT_M, 0.2
    )
    fine = np.linspace(0.0, end, 400_001)
    truth = np.array([[_times_at(lambda s, d=d: path(s) - d, x, fine) for x in joints] for d in offsets])
    predicted = np.array(
        [
            [_times_at(lambda s, d=d: profile.front_x(s) - d, x, fine) for x in joints]
            for d in profile.offsets_m
        ]
    )
    assert np.all(np.isfinite(read))
    assert np.max(np.abs(predicted - truth)) > 0.02
    assert np.max(np.abs(read - truth)) < 0.002


def test_load_edges_are_not_read_where_another_axle_shares_the_joint_or_the_samples_end() -> None:
    """Axles 1.0 m apart with a 0.8 m reading window: another axle's patch is at the joint while each is
    read, so none is; and a recording cut before the last axle reaches the last joint gives none there."""
    offsets = np.array([0.0, 1.0])
    path, end = _blip(6.0, 0.0, 0.5, 5.0)
    crossing = _crossing(path, end, offsets=offsets, loads=np.array([8000.0, 8000.0]))
    profile = fit_speed_profile(crossing.entry_t_s, crossing.exit_t_s, ENTRY_X, EXIT_X)
    assert profile is not None
    edges = np.concatenate(([0.0], np.cumsum(LENGTHS)))
    joints = np.array([6.0, 12.0])
    platform_kg = _platform_kg(crossing)
    times = crossing.window.times_s
    loads = np.array([8000.0, 8000.0])
    wide = load_edge_times(times, platform_kg, edges, joints, profile, loads, FOOTPRINT_M, 0.8)
    assert np.all(np.isnan(wide))
    last = float(np.interp(12.0 + 1.0, profile.front_x(times), times))
    cut = int(np.searchsorted(times, last))
    narrow = load_edge_times(times[:cut], platform_kg[:cut], edges, joints, profile, loads, FOOTPRINT_M, 0.2)
    assert np.all(np.isfinite(narrow[:, 0])) and np.isfinite(narrow[0, 1]) and np.isnan(narrow[1, 1])


THREE_AXLES = np.array([0.0, 4.0, 5.3])
THREE_LOADS = np.array([7000.0, 9500.0, 9500.0])


def test_a_three_axle_blip_between_the_strips_is_followed_with_the_load_edges() -> None:
    """A 3-axle truck at 8 km/h blips 10 % in 0.6 s while all its axles are on the scale.  Its six strip
    times cannot show a step (a ramp is never tried with them alone): the constant acceleration misplaces
    the axles between the strips, and an axle load comes out more than 2 % off.  With the six joint times
    from the load signals the profile is a ramp of the blip's size and every axle load is within 1 %."""
    v = 8.0 / 3.6
    at_s = (10.0 - (ENTRY_X - v)) / v  # the front axle is 10 m along the scale when the blip starts
    path, _ = _blip(8.0, 0.10, 0.6, at_s)
    end = 1.0 + (sum(LENGTHS) + THREE_AXLES[-1] + 0.5 + 1.0 * v + 2.0) / v
    crossing = _crossing(path, end, offsets=THREE_AXLES, loads=THREE_LOADS)
    without = _judge(crossing, load_edge_timing_sd_s=0.0)
    assert without.measurement is not None and without.measurement.speed_profile is not None
    assert math.isnan(without.measurement.speed_profile.ramp_start_s)
    assert np.max(np.abs(np.array(without.measurement.axle_loads_kg) / THREE_LOADS - 1)) > 0.02
    judgement = _judge(crossing)
    m = judgement.measurement
    assert m is not None and m.speed_profile is not None
    assert judgement.decision.verdict.value == "pass", judgement.decision.reasons
    assert not math.isnan(m.speed_profile.ramp_start_s)
    assert m.speed_change_fraction == pytest.approx(0.10 / 1.05, abs=0.01)
    np.testing.assert_allclose(m.axle_loads_kg, THREE_LOADS, rtol=0.01)


def test_load_edges_of_no_weight_count_for_nothing_and_a_joint_must_be_an_inner_edge() -> None:
    """Joint events weighted 0 leave the profile the strips' alone, degrees of freedom included (a 3-axle
    truck keeps the entry-exit speed change that too few events call for); a joint that is not between two
    platforms is refused, not read against the wrong ones."""
    v = 8.0 / 3.6
    path, _ = _blip(8.0, 0.10, 0.6, (10.0 - (ENTRY_X - v)) / v)
    end = 1.0 + (sum(LENGTHS) + THREE_AXLES[-1] + 0.5 + 1.0 * v + 2.0) / v
    crossing = _crossing(path, end, offsets=THREE_AXLES, loads=THREE_LOADS)
    strips = fit_speed_profile(
        crossing.entry_t_s, crossing.exit_t_s, ENTRY_X, EXIT_X, ramp_timing_sd_s=0.0023
    )
    edges = np.concatenate(([0.0], np.cumsum(LENGTHS)))
    joints = joint_positions(edges, (), 0.2)
    assert strips is not None and not math.isnan(strips.entry_mean_s)
    read = load_edge_times(
        crossing.window.times_s, _platform_kg(crossing), edges, joints, strips, THREE_LOADS, FOOTPRINT_M, 0.2
    )
    assert np.all(np.isfinite(read))
    unweighted = fit_speed_profile(
        crossing.entry_t_s,
        crossing.exit_t_s,
        ENTRY_X,
        EXIT_X,
        ramp_timing_sd_s=0.0023,
        edge_t_s=read,
        edge_x_m=joints,
        edge_weight=0.0,
    )
    assert unweighted is not None
    fields = ("x0_m", "v0_mps", "accel_mps2", "misfit_rms_m", "entry_mean_s", "exit_mean_s", "ramp_start_s")
    for name in fields:
        assert getattr(unweighted, name) == pytest.approx(getattr(strips, name), nan_ok=True), name
    np.testing.assert_allclose(unweighted.offsets_m, strips.offsets_m)
    with pytest.raises(ValueError, match="must be inner edges"):
        load_edge_times(
            crossing.window.times_s,
            _platform_kg(crossing),
            edges,
            np.array([6.5]),
            strips,
            THREE_LOADS,
            FOOTPRINT_M,
            0.2,
        )


def _ramp_problem(rng: np.random.Generator, n_axles: int, n_events: int, step: float) -> tuple:
    """Events of a truck whose speed steps by ``step`` m/s halfway (each axle's entry and exit strips and
    some weighted events between), 1 cm of noise, on a clock that starts 0-500 s into the window."""
    start = rng.uniform(0.0, 500.0)
    offsets = np.concatenate(([0.0], np.cumsum(rng.uniform(1.3, 5.0, n_axles - 1))))
    axle = np.concatenate(
        (np.arange(n_axles), np.arange(n_axles), rng.integers(0, n_axles, n_events - 2 * n_axles))
    )
    times = start + rng.uniform(0.0, 8.0, n_events)
    v, t_step = rng.uniform(1.0, 11.0), start + 4.0
    front = v * (times - start) + step * np.maximum(times - t_step, 0.0)
    weights = np.where(np.arange(n_events) < 2 * n_axles, 1.0, rng.uniform(0.3, 3.0, n_events))
    targets = (front - offsets[axle] + rng.normal(0.0, 0.01, n_events)) * weights
    offsets_design = np.zeros((n_events, n_axles - 1))
    behind = np.nonzero(axle > 0)[0]
    offsets_design[behind, axle[behind] - 1] = -1.0
    grid = np.linspace(times.min() - 1.0, times.max() + 1.0, 13)  # knots beyond the events too: singular
    t_a, t_b = np.meshgrid(grid, grid, indexing="ij")
    keep = t_b > t_a
    return times, targets, offsets_design, t_a[keep], t_b[keep], weights


def test_ramp_search_by_projection_matches_the_batched_qr_reference() -> None:
    """The ramp search's least squares (the shared columns projected out once, one column left per knot
    pair) gives the batched QR of each pair's whole design: the same singular pairs, misfits to 1e-9 of
    their size, coefficients to a micrometre or a micrometre per second."""
    rng = np.random.default_rng(16)
    for k in range(60):
        n_axles = int(rng.integers(2, 7))
        problem = _ramp_problem(rng, n_axles, int(rng.integers(2 * n_axles + 3, 80)), rng.uniform(-1.0, 1.0))
        sse, coef = motion._ramp_solutions(*problem)
        sse_qr, coef_qr = motion._ramp_solutions_qr(*problem)
        singular = np.isnan(sse_qr)
        assert np.array_equal(np.isnan(sse), singular), k
        assert singular.any() and not singular.all()
        np.testing.assert_allclose(sse[~singular], sse_qr[~singular], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(coef[~singular], coef_qr[~singular], rtol=0, atol=1e-6)
        # The best pair is the same pair, its misfit the noise's (1 cm over the events).
        best = int(np.nanargmin(sse_qr))
        assert sse[best] == pytest.approx(float(np.nanmin(sse)), rel=1e-9)


def test_ramp_pairs_kernel_matches_its_numpy_reference() -> None:
    """The ramp search's per-pair least squares (edge.wim.kernels.ramp_pairs) against its NumPy reference,
    on the same problems as above: the same singular pairs, misfits and coefficients to rounding."""
    from edge.wim import kernels, reference

    rng = np.random.default_rng(61)
    for k in range(60):
        n_axles = int(rng.integers(2, 7))
        times, targets, offsets_design, t_a, t_b, weights = _ramp_problem(
            rng, n_axles, int(rng.integers(2 * n_axles + 3, 80)), rng.uniform(-1.0, 1.0)
        )
        t0 = float(times.mean())
        shared = np.column_stack((np.ones(times.size), times - t0, offsets_design)) * weights[:, None]
        q, r = np.linalg.qr(shared)
        y_shared = q.T @ targets
        args = (times, weights, q, r, y_shared, targets - q @ y_shared, t0, t_a, t_b, 1e-9)
        sse, coef = kernels.ramp_pairs(*args)
        sse_ref, coef_ref = reference.ramp_pairs_ref(*args)
        singular = np.isnan(sse_ref)
        assert np.array_equal(np.isnan(sse), singular), k
        assert singular.any() and not singular.all()
        np.testing.assert_allclose(sse[~singular], sse_ref[~singular], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(coef[~singular], coef_ref[~singular], rtol=1e-9, atol=1e-9)
        assert np.isnan(coef[singular]).all()


def _ramp_shared_args(problem: tuple) -> tuple:
    """``_ramp_problem``'s events as the ramp kernels take them: times, weights, the shared columns' QR,
    the targets on it and off it, the time origin."""
    times, targets, offsets_design, _, _, weights = problem
    t0 = float(times.mean())
    shared = np.column_stack((np.ones(times.size), times - t0, offsets_design)) * weights[:, None]
    q, r = np.linalg.qr(shared)
    y_shared = q.T @ targets
    return times, weights, q, r, y_shared, targets - q @ y_shared, t0


def test_ramp_search_kernel_is_the_reference_grid_loop_over_its_pairs_kernel() -> None:
    """The ramp search's grid and two refinements in one kernel (edge.wim.kernels.ramp_search) try the
    very pairs the reference's loop (edge.wim.reference.knot_grid_search) tries around the pairs kernel,
    with the same misfits and coefficients, bit for bit; and against the whole reference
    (ramp_search_ref, each pass by ramp_pairs_ref) they find the same best ramp to rounding, on the
    problems where rounding does not change which near-tie refines."""
    from edge.wim import kernels, reference

    rng = np.random.default_rng(62)
    same_path = 0
    for k in range(80):
        n_axles = int(rng.integers(2, 7))
        problem = _ramp_problem(rng, n_axles, int(rng.integers(2 * n_axles + 3, 80)), rng.uniform(-1.0, 1.0))
        args = _ramp_shared_args(problem)
        times = args[0]
        found = kernels.ramp_search(*args, motion.RAMP_GRID, motion.RAMP_REFINE, 1e-9)
        looped = reference.knot_grid_search(
            lambda t_a, t_b, args=args: kernels.ramp_pairs(*args, t_a, t_b, 1e-9),
            float(times.min()),
            float(times.max()),
            motion.RAMP_GRID,
            motion.RAMP_REFINE,
        )
        assert found[4] is looped[4] is True, k
        for got, want in zip(found[:4], looped[:4], strict=True):
            np.testing.assert_array_equal(got, want)
        # 78 pairs on the grid, then two refinements of up to 81 each.
        assert 78 < found[0].size <= 78 + 2 * 81
        ref = reference.ramp_search_ref(*args, motion.RAMP_GRID, motion.RAMP_REFINE, 1e-9)
        if (
            ref[1].size == found[1].size
            and np.array_equal(ref[1], found[1])
            and np.array_equal(ref[2], found[2])
        ):
            same_path += 1
            np.testing.assert_allclose(found[0], ref[0], rtol=1e-9, atol=1e-12)
            # The reference's best pair is the kernel's best too (clipped knots repeat pairs: exact ties).
            assert found[0][np.nanargmin(ref[0])] == pytest.approx(float(np.nanmin(found[0])), rel=1e-9)
    assert same_path >= 70


def test_ramp_search_gives_up_where_no_pair_fits() -> None:
    """Two events of one axle leave no pair a finite misfit (every ramp column is singular): the search
    says so (found False) after its first pass, in the kernel and the reference alike."""
    from edge.wim import kernels, reference

    times = np.array([10.0, 12.0])
    weights = np.ones(2)
    q, r = np.linalg.qr(np.column_stack((np.ones(2), times - 11.0)))
    args = (
        times,
        weights,
        q,
        r,
        q.T @ np.array([0.0, 8.0]),
        np.zeros(2),
        11.0,
        motion.RAMP_GRID,
        motion.RAMP_REFINE,
        1e-9,
    )
    found = kernels.ramp_search(*args)
    ref = reference.ramp_search_ref(*args)
    assert found[4] is False and ref[4] is False
    assert found[0].size == ref[0].size == 78  # the first grid's pairs, then no refinement
    assert np.isnan(found[0]).all()


def _smooth_step_path(v0: float, rise: float, at_s: float, over_s: float) -> tuple[np.ndarray, np.ndarray]:
    """A front axle's (t, x) on a fine grid: speed v0, rising by ``rise`` (a fraction) along a smoothstep
    (3u^2 - 2u^3) over ``over_s`` from ``at_s``: no straight ramp."""
    t = np.linspace(0.0, (sum(LENGTHS) + OFFSETS[-1] + 6.0) / v0, 200_001)
    u = np.clip((t - at_s) / over_s, 0.0, 1.0)
    speed = v0 * (1.0 + rise * u * u * (3.0 - 2.0 * u))
    x = ENTRY_X - 1.0 + np.concatenate(([0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * np.diff(t))))
    return t, x


@pytest.mark.parametrize(("speed_kmh", "rise"), [(7.0, 0.10), (12.0, 0.09), (10.0, -0.10)])
def test_a_step_that_no_straight_ramp_fits_is_read_at_its_size_when_speeding_up(
    speed_kmh: float, rise: float
) -> None:
    """A slow truck's smooth 9-10 % step: a straight ramp explains its events far better than a constant
    acceleration, but not within strips timed to 0.02 ms, so the constant acceleration stays.  Speeding
    up, the change read is the ramp's, at the step's size (the constant acceleration extrapolated to the
    span's ends reads it 1.3 x or more, past rules.max_speed_change_fraction); slowing keeps that
    extrapolation, the higher reading that catches a jump's brake pulse."""
    v0 = speed_kmh / 3.6
    t, x = _smooth_step_path(v0, rise, at_s=0.5 * (sum(LENGTHS) + OFFSETS[-1]) / v0, over_s=1.2)
    mid_x = (6.0, 12.0)

    def when(place: float) -> np.ndarray:
        return np.array([float(np.interp(place + d, x, t)) for d in OFFSETS])

    entry, exit_ = when(ENTRY_X), when(EXIT_X)
    mid = np.stack([when(place) for place in mid_x], axis=1)
    profile = fit_speed_profile(entry, exit_, ENTRY_X, EXIT_X, mid, mid_x, ramp_timing_sd_s=0.00002)
    assert profile is not None
    assert math.isnan(profile.ramp_start_s)  # no ramp taken: the constant acceleration
    assert profile.misfit_rms_m > 0.01  # far beyond the strips' noise (0.02 ms: well under a mm)
    size = rise / (1.0 + rise / 2.0)  # the change over the mean speed
    extrapolated = abs(replace(profile, step_change_fraction=math.nan).speed_change_fraction)
    assert extrapolated > 1.3 * abs(size)
    if rise > 0:
        assert profile.step_change_fraction == pytest.approx(size, abs=0.01)
        assert profile.speed_change_fraction == profile.step_change_fraction
    else:
        assert math.isnan(profile.step_change_fraction)
        assert abs(profile.speed_change_fraction) == extrapolated
