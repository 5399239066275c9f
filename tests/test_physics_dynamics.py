"""The simulator's dynamic model: vehicle dynamics, acceleration and jump crossings, lateral wander, sensor
temperature and span effects, and the random truck population."""

from __future__ import annotations

import itertools
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edge.rules import LimitTable, Tyre, classify, decide, gross_limit
from firmware_sim.physics import (
    JUMP_BRAKE_DECELERATION_M_S2,
    JUMP_BRAKE_S,
    MIN_SPEED_KMH,
    RESTART_ACCELERATION_M_S2,
    Dynamics,
    LaneGeometry,
    LoadCellModel,
    TruckMotion,
    cell_loads_kg,
    dynamic_load_coefficient,
    schedule,
)
from firmware_sim.population import CLASS_CODES, expected_verdict, legal_limit_kg, random_scenario
from firmware_sim.scenario import DynamicsSettings, ScenarioError, Truck, load_scenario

GEOMETRY = LaneGeometry()
SHORT_GEOMETRY = LaneGeometry(platform_lengths_m=(3.6, 3.6))
TABLE = LimitTable.load()


def six_axle(speed_kmh: float = 10.0, **update: object) -> Truck:
    """6x4 tractor + tridem semi-trailer, 51 t; ``update`` sets further keys (dynamics, jump, ...)."""
    return Truck.model_validate(
        {
            "plate": "测A00006",
            "body": "combination",
            "speed_kmh": speed_kmh,
            "axle_loads_kg": [7000.0, 10000.0, 10000.0, 8000.0, 8000.0, 8000.0],
            "axle_spacings_m": [3.2, 1.35, 6.5, 1.31, 1.31],
            "tyres": ["single", "dual", "dual", "dual", "dual", "dual"],
            "front_overhang_m": 1.4,
            "rear_overhang_m": 1.0,
            "expected_verdict": "pass",
            **update,
        }
    )


def two_axle(speed_kmh: float = 10.0, **update: object) -> Truck:
    return Truck.model_validate(
        {
            "plate": "测A00002",
            "body": "rigid",
            "speed_kmh": speed_kmh,
            "axle_loads_kg": [6000.0, 11000.0],
            "axle_spacings_m": [4.5],
            "tyres": ["single", "dual"],
            "front_overhang_m": 1.2,
            "rear_overhang_m": 2.0,
            "expected_verdict": "pass",
            **update,
        }
    )


def with_dynamics(truck: Truck, **settings: object) -> Truck:
    return truck.model_copy(update={"dynamics": DynamicsSettings.model_validate(settings)})


def measured_dlc(motion: TruckMotion, duration_s: float = 600.0, rate_hz: float = 200.0) -> float:
    """Load-weighted RMS over the axles of std(dynamic / static), over a long constant-speed run."""
    t = np.arange(0.0, duration_s, 1.0 / rate_hz)
    per_axle = motion.dynamic_load_factors(t).std(axis=0)
    loads = motion.axle_loads_kg
    return float(np.sqrt(np.dot(loads, per_axle**2) / loads.sum()))


def all_axles_on(motion: TruckMotion, t: np.ndarray, geometry: LaneGeometry = GEOMETRY) -> np.ndarray:
    half_footprint_m = geometry.tyre_footprint_m / 2
    x = motion.axle_x(t)
    on: np.ndarray = (x > half_footprint_m).all(axis=1) & (
        x < geometry.scale_length_m - half_footprint_m
    ).all(axis=1)
    return on


def on_scale_shares(motion: TruckMotion, t: np.ndarray, geometry: LaneGeometry) -> np.ndarray:
    """Share of each axle's tyre footprint on the scale: ``(len(t), n_axles)``."""
    half_footprint_m = geometry.tyre_footprint_m / 2
    x = motion.axle_x(t)
    on_m = np.minimum(x + half_footprint_m, geometry.scale_length_m) - np.maximum(x - half_footprint_m, 0.0)
    shares: np.ndarray = np.clip(on_m / geometry.tyre_footprint_m, 0.0, 1.0)
    return shares


# ---- backward compatibility ----------------------------------------------------------------------------


def test_trucks_without_dynamics_carry_static_loads() -> None:
    motions = schedule(load_scenario("default"), GEOMETRY)
    assert not any(motion.has_dynamics for motion in motions)
    assert all(motion.dynamics is None and motion.jump_time_s is None for motion in motions)
    t = np.linspace(0.0, 100.0, 7)
    np.testing.assert_array_equal(motions[0].dynamic_load_factors(t), np.ones((7, 2)))
    np.testing.assert_array_equal(motions[0].axle_loads_at(t), np.tile(motions[0].axle_loads_kg, (7, 1)))


def test_default_load_cell_options_leave_counts_unchanged() -> None:
    t = np.arange(0.0, 1.0, 0.001)
    loads = np.full((t.size, 12), 2500.0)
    plain = LoadCellModel(12, seed=9).counts(t, loads)
    explicit = LoadCellModel(
        12,
        seed=9,
        span_error_fraction=0.0,
        zero_tc_kg_per_c=0.0,
        span_tc_per_c=0.0,
        temperature_amplitude_c=5.0,
    ).counts(t, loads)
    np.testing.assert_array_equal(plain, explicit)


# ---- determinism -------------------------------------------------------------------------------------------


def _mixed_scenario(seed: int = 5, n_trucks: int = 12):
    return random_scenario(
        seed, n_trucks, speed_kmh=(5.0, 30.0), jump_fraction=0.25, stop_fraction=0.25, accel_mps2=(-0.5, 0.5)
    )


def test_dynamics_are_repeatable_by_seed() -> None:
    scenario = _mixed_scenario()
    first = schedule(scenario, GEOMETRY)
    again = schedule(scenario, GEOMETRY)
    t = np.arange(0.0, first[-1].t_last_axle_exit_s, 0.01)
    np.testing.assert_array_equal(cell_loads_kg(first, t, GEOMETRY), cell_loads_kg(again, t, GEOMETRY))

    # Another scenario seed, same trucks: other random modes.
    reseeded = schedule(scenario.model_copy(update={"seed": scenario.seed + 1}), GEOMETRY)
    motion, other = first[0], reseeded[0]
    assert not np.allclose(motion.dynamic_load_factors(t), other.dynamic_load_factors(t))
    # A truck's own seed wins over the scenario's.
    truck = with_dynamics(six_axle(), seed=42)
    a = TruckMotion(truck, 0.0, GEOMETRY, seed=(1, 2)).dynamic_load_factors(t)
    b = TruckMotion(truck, 0.0, GEOMETRY, seed=(3, 4)).dynamic_load_factors(t)
    np.testing.assert_array_equal(a, b)


def test_blockwise_generation_equals_one_shot() -> None:
    scenario = _mixed_scenario(seed=6, n_trucks=8)
    assert any(truck.jump for truck in scenario.trucks)
    assert any(truck.stop_on_scale_s > 0 for truck in scenario.trucks)
    motions = schedule(scenario, GEOMETRY)
    t = np.arange(0.0, motions[-1].t_last_axle_exit_s + 1.0, 0.001)
    whole = cell_loads_kg(motions, t, GEOMETRY)
    blocks = np.concatenate([cell_loads_kg(motions, t[k : k + 10], GEOMETRY) for k in range(0, t.size, 10)])
    np.testing.assert_allclose(blocks, whole, rtol=0, atol=1e-6)

    cells_whole = LoadCellModel(GEOMETRY.n_channels, seed=2, span_error_fraction=0.01, span_tc_per_c=1e-4)
    cells_blocks = LoadCellModel(GEOMETRY.n_channels, seed=2, span_error_fraction=0.01, span_tc_per_c=1e-4)
    counts = cells_whole.counts(t, whole)
    block_counts = np.concatenate(
        [cells_blocks.counts(t[k : k + 10], whole[k : k + 10]) for k in range(0, t.size, 10)]
    )
    np.testing.assert_array_equal(block_counts, counts)


# ---- dynamic loads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("make_truck", [six_axle, two_axle])
def test_long_run_mean_load_is_static(make_truck) -> None:
    motion = TruckMotion(with_dynamics(make_truck(30.0), roughness=1.0), 0.0, GEOMETRY, seed=1)
    t = np.arange(0.0, 300.0, 0.005)
    loads = motion.axle_loads_at(t)
    np.testing.assert_allclose(loads.mean(axis=0), motion.axle_loads_kg, rtol=0.01)
    assert loads.std(axis=0).min() > 0.01 * motion.axle_loads_kg.min()  # it does move


def test_dlc_grows_with_speed_and_roughness_within_documented_ranges() -> None:
    table: dict[tuple[float, float], float] = {}
    for speed_kmh, roughness in itertools.product((3.0, 5.0, 10.0, 20.0, 40.0), (0.0, 0.5, 1.0)):
        motion = TruckMotion(with_dynamics(six_axle(speed_kmh), roughness=roughness), 0.0, GEOMETRY, seed=3)
        table[speed_kmh, roughness] = dlc = measured_dlc(motion)
        assert dlc == pytest.approx(float(dynamic_load_coefficient(speed_kmh, roughness)), rel=0.05)
    for roughness in (0.0, 0.5, 1.0):
        by_speed = [table[speed, roughness] for speed in (3.0, 5.0, 10.0, 20.0, 40.0)]
        assert by_speed == sorted(by_speed)
    for speed in (3.0, 5.0, 10.0, 20.0, 40.0):
        assert table[speed, 0.0] < table[speed, 0.5] < table[speed, 1.0]
    assert 0.01 <= table[5.0, 0.0] <= 0.03  # slow on a smooth approach: 1-3 %
    assert 0.05 <= table[40.0, 1.0] <= 0.10  # 40 km/h on a rough approach: 5-10 %


def test_dlc_scale_multiplies_the_amplitude() -> None:
    base = measured_dlc(TruckMotion(with_dynamics(two_axle(20.0)), 0.0, GEOMETRY, seed=4))
    scaled = measured_dlc(TruckMotion(with_dynamics(two_axle(20.0), dlc_scale=2.0), 0.0, GEOMETRY, seed=4))
    assert scaled == pytest.approx(2.0 * base, rel=1e-6)


def _band_power(signal: np.ndarray, rate_hz: float, low_hz: float, high_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(signal - signal.mean())) ** 2
    freqs = np.fft.rfftfreq(signal.size, 1.0 / rate_hz)
    return float(spectrum[(freqs >= low_hz) & (freqs < high_hz)].sum() / spectrum.sum())


def test_modes_are_narrow_band_random_processes_at_their_frequencies() -> None:
    truck = with_dynamics(two_axle(40.0), body_bounce_hz=2.0, axle_hop_hz=12.0)
    motion = TruckMotion(truck, 0.0, GEOMETRY, seed=8)
    rate_hz = 200.0
    t = np.arange(0.0, 600.0, 1.0 / rate_hz)
    factors = motion.dynamic_load_factors(t)
    gross = factors @ motion.axle_loads_kg / motion.axle_loads_kg.sum()
    # Body (bounce 2 Hz, pitch 2.2-2.8 Hz) and hop (12 Hz) bands; hop has 40 % of the variance at 40 km/h.
    hop_fraction = np.mean([_band_power(factors[:, axle], rate_hz, 6.0, 30.0) for axle in range(2)])
    assert 0.3 <= hop_fraction <= 0.55
    assert _band_power(gross, rate_hz, 0.5, 6.0) + _band_power(gross, rate_hz, 6.0, 30.0) > 0.99
    # Not a fixed sinusoid: no single spectral line dominates, and the envelope wanders.
    spectrum = np.abs(np.fft.rfft(gross - gross.mean())) ** 2
    assert spectrum.max() / spectrum.sum() < 0.2
    window = int(rate_hz)  # 1 s
    rolling_std = gross[: gross.size // window * window].reshape(-1, window).std(axis=1)
    assert rolling_std.max() / rolling_std.min() > 2.0


def test_pitch_moves_load_between_axles_and_keeps_the_unit_total() -> None:
    # One rigid unit, hop off: gross = static * (1 + bounce) exactly, pitch cancels between axles.
    motion = TruckMotion(with_dynamics(two_axle(5.0)), 0.0, GEOMETRY, seed=2)
    t = np.arange(0.0, 200.0, 0.01)
    factors = motion.dynamic_load_factors(t)
    front, rear = factors[:, 0] - 1, factors[:, 1] - 1
    # Front and rear share the bounce but pitch in opposite senses: correlated well below 1.
    assert np.corrcoef(front, rear)[0, 1] < 0.8
    assert front.std() > rear.std()  # the lighter front axle is further from the centre of gravity


# ---- acceleration on the scale --------------------------------------------------------------------------


@pytest.mark.parametrize("accel_mps2", [0.6, -0.15])
def test_acceleration_changes_the_speed_on_the_scale(accel_mps2: float) -> None:
    truck = six_axle(12.0, accel_mps2=accel_mps2)
    motion = TruckMotion(truck, 5.0, GEOMETRY)
    v0 = 12.0 / 3.6
    t_front_axle_on = motion.axle_crossing_times(0.0)[0]
    t_last_axle_off = motion.axle_crossing_times(GEOMETRY.scale_length_m)[-1]
    distance_m = GEOMETRY.scale_length_m + truck.axle_span_m
    v_end = math.sqrt(v0 * v0 + 2 * accel_mps2 * distance_m)
    assert motion.speed_at(t_front_axle_on - 0.5) == pytest.approx(v0)
    assert motion.speed_at(t_front_axle_on) == pytest.approx(v0)
    assert motion.speed_at(t_last_axle_off) == pytest.approx(v_end, rel=1e-9)
    assert motion.speed_at(t_last_axle_off + 5.0) == pytest.approx(v_end, rel=1e-9)
    mid = 0.5 * (t_front_axle_on + t_last_axle_off)
    assert motion.acceleration_at(mid) == accel_mps2
    assert motion.front_x(motion.t_start_s) == pytest.approx(0.0, abs=1e-9)

    for x in (GEOMETRY.entry_strip_x_m, 0.0, 9.0, GEOMETRY.scale_length_m, GEOMETRY.exit_x_m):
        times = motion.axle_crossing_times(x)
        assert np.all(np.diff(times) > 0)
        np.testing.assert_allclose(np.diag(motion.axle_x(times)), x, atol=1e-6)
    assert motion.t_last_axle_exit_s == pytest.approx(motion.axle_crossing_times(GEOMETRY.exit_x_m)[-1])

    # Axle pairs take spacing / mean speed to pass a point: longer when braking, shorter when accelerating.
    exit_times = motion.axle_crossing_times(GEOMETRY.scale_length_m)
    gaps = np.diff(exit_times)
    constant = np.array(truck.axle_spacings_m) / v0
    assert np.all(gaps < constant) if accel_mps2 > 0 else np.all(gaps > constant)

    # Without dynamics the static loads stay put: gross on the scale is exact while all axles are on it.
    t = np.arange(t_front_axle_on, t_last_axle_off, 0.005)
    on = all_axles_on(motion, t)
    assert on.any()
    np.testing.assert_allclose(
        cell_loads_kg([motion], t[on], GEOMETRY).sum(axis=1), truck.gross_kg, rtol=1e-9
    )


def test_hard_braking_never_drops_below_the_minimum_speed() -> None:
    motion = TruckMotion(two_axle(6.0, accel_mps2=-3.0), 0.0, GEOMETRY)
    t = np.arange(-2.0, motion.t_last_axle_exit_s + 2.0, 0.01)
    speed_kmh = motion.speed_at(t) * 3.6
    assert speed_kmh.min() == pytest.approx(MIN_SPEED_KMH)
    assert speed_kmh.max() == pytest.approx(6.0)
    assert np.all(np.diff(motion.front_x(t)) > 0)


def test_braking_with_dynamics_loads_the_front_axle_and_keeps_the_gross() -> None:
    truck = with_dynamics(two_axle(15.0, accel_mps2=-1.0), cg_height_m=1.5, dlc_scale=0.0)
    motion = TruckMotion(truck, 0.0, GEOMETRY)
    t_on = motion.axle_crossing_times(0.0)[0]
    t = np.arange(t_on + 2.8, t_on + 3.6, 0.01)  # still braking, the pitch transient has rung down
    assert motion.acceleration_at(t).max() == -1.0
    loads = motion.axle_loads_at(t)
    # m a h / wheelbase moves from the rear axle to the front axle.
    transfer_kg = truck.gross_kg * 1.0 / 9.81 * 1.5 / 4.5
    np.testing.assert_allclose(loads[:, 0], 6000.0 + transfer_kg, rtol=0.015)
    np.testing.assert_allclose(loads.sum(axis=1), truck.gross_kg, rtol=1e-9)
    # Before the brake the loads are static (no roughness excitation with dlc_scale 0).
    np.testing.assert_allclose(motion.axle_loads_at([t_on - 1.0])[0], [6000.0, 11000.0])


@pytest.mark.parametrize("accel_mps2", [0.5, -0.5])
def test_a_combination_speeding_up_pitches_its_tractor_alone(accel_mps2: float) -> None:
    """A tractor-semitrailer pulled by its drive axles: the whole combination's inertia at the coupling
    pitches the tractor alone (moment balance over the tractor's axles: G a h_c / g), the trailer's axles
    keep their loads; braking (each unit its own brakes) pitches the whole vehicle as one body, the
    trailer's axles too.  The gross never changes."""
    truck = with_dynamics(six_axle(15.0, accel_mps2=accel_mps2), dlc_scale=0.0, cg_height_m=1.5)
    motion = TruckMotion(truck, 0.0, GEOMETRY)
    t_on = motion.axle_crossing_times(0.0)[0]
    t = np.arange(t_on + 2.8, t_on + 3.6, 0.01)  # still accelerating, the pitch transient has rung down
    assert np.all(motion.acceleration_at(t) == accel_mps2)
    static = np.array(truck.axle_loads_kg)
    moved = motion.axle_loads_at(t).mean(axis=0) - static
    x_m = np.concatenate(([0.0], np.cumsum(truck.axle_spacings_m)))  # rearwards from the steer axle
    gross_kg = static.sum()
    assert abs(moved.sum()) < 1e-6 * gross_kg
    if accel_mps2 > 0:
        assert np.abs(moved[3:]).max() < 1.0  # the trailer's axles: nothing
        assert float(moved[:3] @ x_m[:3]) == pytest.approx(gross_kg * accel_mps2 * 1.2 / 9.81, rel=0.03)
        assert moved[0] < -0.06 * static[0]  # the steer axle: 7 % of its load off at 0.5 m/s^2
    else:
        assert np.all(moved[3:] < -50.0)  # the whole body pitches forward: the trailer's axles unload
        assert float(moved @ x_m) == pytest.approx(gross_kg * accel_mps2 * 1.5 / 9.81, rel=0.03)


def test_stop_and_go_with_dynamics_rocks_on_the_scale() -> None:
    plain = TruckMotion(two_axle(12.0, stop_on_scale_s=3.0), 0.0, GEOMETRY)
    rocking = TruckMotion(with_dynamics(two_axle(12.0, stop_on_scale_s=3.0)), 0.0, GEOMETRY)
    assert rocking.stop_interval_s == plain.stop_interval_s  # same kinematics
    assert rocking.stop_interval_s is not None
    start, _ = rocking.stop_interval_s
    t = np.linspace(start - 0.2, start + 0.3, 50)
    swing = np.abs(rocking.dynamic_load_factors(t)[:, 0] - 1.0).max()
    assert swing > 0.05  # the front axle dips as the truck comes to rest


# ---- jump crossings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("speed_kmh", "geometry"), [(10.0, GEOMETRY), (25.0, GEOMETRY), (8.0, SHORT_GEOMETRY)]
)
def test_jump_gives_a_large_transient_while_on_the_scale(speed_kmh: float, geometry: LaneGeometry) -> None:
    settings = {"roughness": 0.2, "seed": 11}
    plain = TruckMotion(with_dynamics(six_axle(speed_kmh), **settings), 0.0, geometry)
    jumping = TruckMotion(with_dynamics(six_axle(speed_kmh, jump=True), **settings), 0.0, geometry)
    t_jump = jumping.jump_time_s
    assert t_jump is not None and plain.jump_time_s is None
    # The brake starts with the axle-span midpoint over the middle of the scale: axles are on the platforms.
    axles = jumping.axle_x(t_jump)
    assert (axles[0] + axles[-1]) / 2 == pytest.approx(geometry.scale_length_m / 2, abs=1e-6)
    t_on, t_off = jumping.on_scale_interval(geometry)
    assert t_on < t_jump < t_off

    # Identical before the jump; 20-40 % of static and more afterwards.
    t = np.arange(t_on - 2.0, t_off + 8.0, 0.002)
    before = t < t_jump
    np.testing.assert_array_equal(
        jumping.dynamic_load_factors(t[before]), plain.dynamic_load_factors(t[before])
    )
    gross_share = jumping.dynamic_load_factors(t) @ jumping.axle_loads_kg / jumping.truck.gross_kg
    first_second = (t >= t_jump) & (t < t_jump + 1.0)
    assert 0.15 <= np.abs(gross_share[first_second] - 1).max() <= 0.5
    # It shows on the cells while the truck is on the scale: the weight there swings against its static value.
    on_scale_t = t[(t >= t_on) & (t <= t_off)]
    share = on_scale_shares(jumping, on_scale_t, geometry)
    cells_kg = cell_loads_kg([jumping], on_scale_t, geometry).sum(axis=1)
    np.testing.assert_allclose(cells_kg, (share * jumping.axle_loads_at(on_scale_t)).sum(axis=1), atol=1e-6)
    static_kg = share @ jumping.axle_loads_kg
    weighed = static_kg > 0.2 * jumping.truck.gross_kg
    ratio = cells_kg[weighed] / static_kg[weighed]
    after = on_scale_t[weighed] >= t_jump
    assert np.abs(ratio[after & (on_scale_t[weighed] < t_jump + 1.0)] - 1).max() > 0.15
    assert np.abs(ratio[~after] - 1).max() < 0.1
    # It rings down: long after the truck has left the scale the jump has died away.
    late = t > t_jump + 6.0
    assert np.abs(jumping.dynamic_load_factors(t[late]) - plain.dynamic_load_factors(t[late])).max() < 0.02

    # Kinematics: a hard brake pulse, then back to cruising speed.
    v0 = speed_kmh / 3.6
    v_low = max(v0 - JUMP_BRAKE_DECELERATION_M_S2 * JUMP_BRAKE_S, MIN_SPEED_KMH / 3.6)
    speed = jumping.speed_at(t)
    assert speed.min() >= v_low - 1e-9
    assert jumping.speed_at(t_jump + (v0 - v_low) / JUMP_BRAKE_DECELERATION_M_S2) == pytest.approx(v_low)
    assert speed[-1] == pytest.approx(v0)
    assert jumping.acceleration_at(t_jump + 1e-3) == -JUMP_BRAKE_DECELERATION_M_S2
    restart_s = (v0 - v_low) / RESTART_ACCELERATION_M_S2
    t_cruise = t_jump + (v0 - v_low) / JUMP_BRAKE_DECELERATION_M_S2 + restart_s
    assert jumping.speed_at(t_cruise) == pytest.approx(v0)
    for x in (0.0, geometry.scale_length_m / 2, geometry.exit_x_m):
        np.testing.assert_allclose(np.diag(jumping.axle_x(jumping.axle_crossing_times(x))), x, atol=1e-6)


def test_jump_without_a_dynamics_table_uses_default_dynamics() -> None:
    motion = TruckMotion(two_axle(10.0, jump=True), 0.0, GEOMETRY)
    assert motion.dynamics == Dynamics()
    assert motion.jump_time_s is not None


# ---- lateral wander ---------------------------------------------------------------------------------------

LEFT_CHANNELS = [4 * p + c for p in range(GEOMETRY.n_platforms) for c in (0, 2)]


def test_lateral_wander_is_small_slow_and_moves_load_sideways_only() -> None:
    truck = with_dynamics(two_axle(10.0, lateral_offset_m=0.2), lateral_wander_m=0.15, dlc_scale=0.0)
    motion = TruckMotion(truck, 0.0, GEOMETRY, seed=3)
    t = np.arange(0.0, 120.0, 0.01)
    offset = motion.lateral_offset_at(t)
    assert np.abs(offset - 0.2).max() <= 0.15 + 1e-12
    assert np.ptp(offset) > 0.1
    assert np.abs(np.diff(offset)).max() / 0.01 < 0.5  # m/s: a slow drift
    assert offset.mean() == pytest.approx(0.2, abs=0.03)

    straight = TruckMotion(with_dynamics(two_axle(10.0, lateral_offset_m=0.2), dlc_scale=0.0), 0.0, GEOMETRY)
    t_on, t_off = motion.on_scale_interval(GEOMETRY)
    t = np.linspace(t_on, t_off, 500)
    wandering_loads = cell_loads_kg([motion], t, GEOMETRY)
    straight_loads = cell_loads_kg([straight], t, GEOMETRY)
    for platform in range(GEOMETRY.n_platforms):
        cells = slice(4 * platform, 4 * platform + 4)
        np.testing.assert_allclose(
            wandering_loads[:, cells].sum(axis=1), straight_loads[:, cells].sum(axis=1)
        )
    assert not np.allclose(wandering_loads[:, LEFT_CHANNELS], straight_loads[:, LEFT_CHANNELS])


# ---- load cells: temperature and span ---------------------------------------------------------------------


def _quiet_cells(**options: object) -> LoadCellModel:
    return LoadCellModel(
        4, seed=1, noise_kg=0.0, drift_kg_per_min=0.0, zero_counts=np.full(4, 10_000), **options
    )


def test_span_errors_scale_the_counts() -> None:
    cells = _quiet_cells(span_errors=np.array([0.0, 0.01, -0.02, 0.05]))
    counts = cells.counts([0.0], np.full((1, 4), 1000.0))[0]
    np.testing.assert_array_equal(counts - 10_000, np.rint(50.0 * 1000.0 * np.array([1.0, 1.01, 0.98, 1.05])))

    drawn = LoadCellModel(400, seed=3, span_error_fraction=0.01)
    assert drawn.span_errors is not None
    assert drawn.span_errors.std() == pytest.approx(0.01, rel=0.15)
    again = LoadCellModel(400, seed=3, span_error_fraction=0.01)
    np.testing.assert_array_equal(again.span_errors, drawn.span_errors)
    other = LoadCellModel(400, seed=4, span_error_fraction=0.01)
    assert not np.array_equal(other.span_errors, drawn.span_errors)
    # The span stream is separate: zeros and noise are those of the model without span errors.
    t = np.arange(0.0, 0.1, 0.001)
    plain = LoadCellModel(400, seed=3).counts(t, np.zeros((t.size, 400)))
    np.testing.assert_array_equal(again.counts(t, np.zeros((t.size, 400))), plain)
    with pytest.raises(ValueError, match="not both"):
        LoadCellModel(4, seed=1, span_errors=np.zeros(4), span_error_fraction=0.01)
    with pytest.raises(ValueError, match="4 values"):
        LoadCellModel(4, seed=1, span_errors=np.zeros(3))


def test_temperature_shifts_zero_and_span_as_parameterised() -> None:
    cells = _quiet_cells(
        temperature_mean_c=25.0,
        temperature_amplitude_c=10.0,
        temperature_period_s=3600.0,
        zero_tc_kg_per_c=np.array([0.5, -0.5, 0.0, 1.0]),
        span_tc_per_c=1e-4,
    )
    t = np.array([0.0, 900.0, 1800.0, 2700.0])
    np.testing.assert_allclose(cells.temperature_c(t), [25.0, 35.0, 25.0, 15.0], atol=1e-9)
    load_kg = 2000.0
    counts = cells.counts(t, np.full((4, 4), load_kg)).astype(np.float64) - 10_000
    excess_c = cells.temperature_c(t)[:, np.newaxis] - 20.0
    expected = 50.0 * ((1.0 + 1e-4 * excess_c) * load_kg + np.array([0.5, -0.5, 0.0, 1.0]) * excess_c)
    np.testing.assert_allclose(counts, np.rint(expected), atol=0)
    np.testing.assert_allclose(cells.gain(t)[:, 0], 1.0 + 1e-4 * excess_c[:, 0])

    # At the calibration temperature the coefficients do nothing.
    calibrated = _quiet_cells(zero_tc_kg_per_c=3.0, span_tc_per_c=1e-3)
    np.testing.assert_array_equal(calibrated.counts([5.0], np.full((1, 4), 1000.0)), [[60_000] * 4])

    # A temperature profile replaces the sinusoid: a step from 20 to 40 °C.
    stepped = _quiet_cells(zero_tc_kg_per_c=2.0, temperature_profile=lambda t: np.where(t < 10.0, 20.0, 40.0))
    zero_kg = (stepped.counts([0.0, 20.0], np.zeros((2, 4))).astype(np.float64) - 10_000) / 50.0
    np.testing.assert_allclose(zero_kg, [[0.0] * 4, [40.0] * 4])


# ---- scenario files --------------------------------------------------------------------------------------

SCENARIO_TOML = """\
name = "dynamics"
seed = 3
gap_s = 2.0

[sensor]
temperature_amplitude_c = 8.0
span_error_fraction = 0.005
zero_tc_kg_per_c = 0.2

[[truck]]
plate = "冀A12345"
body = "rigid"
speed_kmh = 30.0
axle_spacings_m = [4.5]
axle_loads_kg = [6000.0, 11000.0]
tyres = ["single", "dual"]
front_overhang_m = 1.2
rear_overhang_m = 2.0
expected_verdict = "pass"
accel_mps2 = -0.8

[truck.dynamics]
roughness = 0.7
lateral_wander_m = 0.05

[[truck]]
plate = "冀B67890"
body = "rigid"
speed_kmh = 12.0
axle_spacings_m = [4.5]
axle_loads_kg = [6000.0, 11000.0]
tyres = ["single", "dual"]
front_overhang_m = 1.2
rear_overhang_m = 2.0
expected_verdict = "reweigh"
jump = true
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_scenario_keys_for_dynamics_and_sensor(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, SCENARIO_TOML))
    braking, jumping = scenario.trucks
    assert braking.accel_mps2 == -0.8 and not braking.jump
    assert braking.dynamics == DynamicsSettings(roughness=0.7, lateral_wander_m=0.05)
    assert jumping.jump and jumping.dynamics is None
    assert scenario.sensor.temperature_amplitude_c == 8.0

    motions = schedule(scenario, GEOMETRY)
    assert motions[0].dynamics == Dynamics(roughness=0.7, lateral_wander_m=0.05)
    assert motions[0].has_wander and motions[1].jump_time_s is not None

    cells = LoadCellModel.for_scenario(scenario, GEOMETRY.n_channels, noise_kg=1.0)
    assert cells.seed == 3 and cells.noise_kg == 1.0
    assert cells.temperature_amplitude_c == 8.0 and cells.zero_tc_kg_per_c == 0.2
    assert cells.span_errors is not None and 0.0 < np.abs(cells.span_errors).max() < 0.05


def test_dynamics_table_errors_name_the_line_and_the_allowed_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, SCENARIO_TOML.replace("roughness = 0.7", "roughnes = 0.7"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    line = path.read_text(encoding="utf-8").splitlines().index("roughnes = 0.7") + 1
    message = str(caught.value)
    assert f"{path}:{line}: truck[0].dynamics.roughnes: unknown key" in message
    assert "allowed here: roughness, body_bounce_hz" in message

    path = _write(tmp_path, SCENARIO_TOML.replace("roughness = 0.7", "roughness = 1.5"))
    with pytest.raises(ScenarioError, match=r"truck\[0\]\.dynamics\.roughness: Input should be less than"):
        load_scenario(path)

    path = _write(tmp_path, SCENARIO_TOML.replace("temperature_amplitude_c = 8.0", "temperature_swing = 8.0"))
    with pytest.raises(ScenarioError, match=r":6: sensor\.temperature_swing: unknown key"):
        load_scenario(path)


def test_one_speed_profile_per_truck(tmp_path: Path) -> None:
    path = _write(tmp_path, SCENARIO_TOML.replace("jump = true", "jump = true\nstop_on_scale_s = 3.0"))
    with pytest.raises(ScenarioError, match=r"truck\[1\]\.jump: cannot be combined with stop_on_scale_s"):
        load_scenario(path)
    path = _write(tmp_path, SCENARIO_TOML.replace("accel_mps2 = -0.8", "accel_mps2 = -0.8\njump = true"))
    with pytest.raises(ScenarioError, match=r"truck\[0\]\.jump: cannot be combined"):
        load_scenario(path)


def test_a_throttle_blip_in_a_scenario_file(tmp_path: Path) -> None:
    blip = "blip_mps2 = 0.8\nblip_s = 0.5\nblip_at_m = 3.0"
    path = _write(tmp_path, SCENARIO_TOML.replace("accel_mps2 = -0.8", blip))
    blipping = load_scenario(path).trucks[0]
    assert (blipping.blip_mps2, blipping.blip_s, blipping.blip_at_m) == (0.8, 0.5, 3.0)
    path = _write(tmp_path, SCENARIO_TOML.replace("jump = true", "jump = true\n" + blip))
    with pytest.raises(
        ScenarioError, match=r"truck\[1\]\.blip_mps2: cannot be combined with stop_on_scale_s"
    ):
        load_scenario(path)
    path = _write(tmp_path, SCENARIO_TOML.replace("accel_mps2 = -0.8", "blip_mps2 = 0.8"))
    with pytest.raises(ScenarioError, match=r"truck\[0\].*needs both blip_mps2 > 0 and blip_s > 0"):
        load_scenario(path)


# ---- random population ----------------------------------------------------------------------------------


def test_random_scenario_is_deterministic_by_seed() -> None:
    first = random_scenario(11, 40, jump_fraction=0.1, stop_fraction=0.1)
    assert first == random_scenario(11, 40, jump_fraction=0.1, stop_fraction=0.1)
    assert first.trucks != random_scenario(12, 40, jump_fraction=0.1, stop_fraction=0.1).trucks
    assert len(first.trucks) == 40 and first.seed == 11
    assert len({truck.plate for truck in first.trucks}) == 40


def test_random_scenario_covers_every_class_and_classifies_to_its_body() -> None:
    scenario = random_scenario(2026, 200)
    codes = [classify(truck.axle_spacings_m).code for truck in scenario.trucks]
    assert set(codes) == set(CLASS_CODES) == {rule.rule_id for rule in TABLE.rules if not rule.needs_facts}
    for truck, code in zip(scenario.trucks, codes, strict=True):
        assert classify(truck.axle_spacings_m).body.value == truck.body
        assert truck.note.startswith(code)


def _limit(truck: Truck):
    return gross_limit(classify(truck.axle_spacings_m), [Tyre(t) for t in truck.tyres], TABLE)


def test_random_scenario_verdicts_follow_the_rules() -> None:
    scenario = random_scenario(5, 240, jump_fraction=0.1, stop_fraction=0.1)
    verdicts = set()
    for truck in scenario.trucks:
        if truck.jump or truck.stop_on_scale_s > 0:
            assert truck.expected_verdict == "reweigh"
            continue
        decision = decide(truck.gross_kg, _limit(truck), tolerance_factor=1.05)
        assert truck.expected_verdict == decision.verdict.value, truck.note
        verdicts.add(truck.expected_verdict)
    assert verdicts == {"pass", "overweight"}
    assert sum(truck.jump for truck in scenario.trucks) > 10
    assert sum(truck.stop_on_scale_s > 0 for truck in scenario.trucks) > 10


@pytest.mark.parametrize(
    ("spacings", "tyres", "gross_kg", "limit_kg", "verdict"),
    [
        # Hand-written from 交通运输部令2016年第62号 article 3, not from either implementation.
        ((4.5,), ["single", "dual"], 18_900, 18_000, "pass"),  # 105 % of 18 t exactly passes
        ((4.5,), ["single", "dual"], 18_901, 18_000, "overweight"),
        ((4.8, 1.35), ["single", "dual", "dual"], 26_000, 25_000, "pass"),
        ((3.5, 7.0, 1.31, 1.31), ["single", "dual", "single", "single", "single"], 35_700, 34_000, "pass"),
        (
            (3.5, 7.0, 1.31, 1.31),
            ["single", "dual", "single", "single", "single"],
            35_701,
            34_000,
            "overweight",
        ),
        (
            (3.5, 7.0, 1.31, 1.31),
            ["single", "dual", "wide_single", "wide_single", "wide_single"],
            43_000,
            43_000,
            "pass",
        ),
        ((3.6, 1.35, 6.5, 1.31, 1.31), ["single"] + ["dual"] * 5, 51_450, 49_000, "pass"),
        ((3.6, 1.35, 6.5, 1.31, 1.31), ["single"] + ["dual"] * 5, 51_451, 49_000, "overweight"),
        ((1.9, 3.2, 6.5, 1.31, 1.31), ["single", "single"] + ["dual"] * 4, 48_300, 46_000, "pass"),
        ((1.9, 3.2, 6.5, 1.31, 1.31), ["single", "single"] + ["dual"] * 4, 48_301, 46_000, "overweight"),
    ],
)
def test_the_rules_and_the_simulator_each_match_hand_written_cases(
    spacings: tuple[float, ...], tyres: list[str], gross_kg: int, limit_kg: int, verdict: str
) -> None:
    limit = gross_limit(classify(spacings), [Tyre(t) for t in tyres], TABLE)
    assert limit.limit_kg == limit_kg
    assert decide(gross_kg, limit, tolerance_factor=1.05).verdict.value == verdict
    code = classify(spacings).code
    groups = classify(spacings).groups
    roles = [
        "steer" if g == 0 else "drive" if g == 1 else "trailer"
        for g, size in enumerate(groups)
        for _ in range(size)
    ]
    sim_limit = legal_limit_kg(code, roles, tyres)  # type: ignore[arg-type]
    assert sim_limit == limit_kg
    assert expected_verdict(gross_kg, sim_limit, unstable=False) == verdict


def test_random_scenario_geometry_loads_and_tyres_are_realistic() -> None:
    scenario = random_scenario(9, 400, speed_kmh=(4.0, 35.0), roughness=(0.2, 0.6))
    ratios = []
    heights: list[float] = []
    for truck in scenario.trucks:
        spacings = truck.axle_spacings_m
        vclass = classify(spacings)
        assert truck.axle_span_m <= 13.5 + 1e-9
        assert truck.length_m <= 18.1
        inner = [s for s in spacings if s <= 2.0]
        between = [s for s in spacings if s > 2.0]
        for spacing in inner:
            assert 1.3 <= spacing <= 1.4 or 1.8 <= spacing <= 1.95, spacings
        if vclass.body.value == "rigid":
            assert len(between) == 1 and 3.8 <= between[0] <= 5.5, spacings
        else:
            assert len(between) == 2, spacings
            assert 3.2 <= between[0] <= 3.8 and 5.5 <= between[1] <= 8.0, spacings
        if vclass.groups[-1] == 3 and vclass.body.value == "combination":
            assert spacings[-2:] == [1.31, 1.31]

        steer_axles = vclass.groups[0]
        assert truck.tyres[:steer_axles] == ["single"] * steer_axles
        assert all(4500.0 <= load <= 8000.0 for load in truck.axle_loads_kg[:steer_axles])
        assert min(truck.axle_loads_kg) >= 1000.0
        drive = truck.tyres[steer_axles : steer_axles + vclass.groups[1]]
        assert set(drive) == {"dual"}
        ratios.append(truck.gross_kg / _limit(truck).limit_kg)

        assert 4.0 <= truck.speed_kmh <= 35.0
        assert truck.dynamics is not None and 0.2 <= truck.dynamics.roughness <= 0.6
        # The centre of gravity rises with the load: about 1.0 m empty, 1.6-2.3 m full or over.
        height = truck.dynamics.cg_height_m
        laden = min(max((ratios[-1] - 0.4) / 0.6, 0.0), 1.0)
        assert 1.0 + 0.6 * laden - 0.02 <= height <= 1.0 + 1.3 * laden + 0.02, (ratios[-1], height)
        heights.append(height)
        assert 1.05 <= truck.dynamics.coupling_height_m <= 1.35
        assert truck.accel_mps2 == 0.0 and not truck.jump and truck.stop_on_scale_s == 0.0
    assert 0.38 <= min(ratios) < 0.5 and 1.8 < max(ratios) <= 2.02
    trailer_tyres = {truck.tyres[-1] for truck in scenario.trucks if truck.body == "combination"}
    assert trailer_tyres == {"single", "dual", "wide_single"}
    speeds = np.array([truck.speed_kmh for truck in scenario.trucks])
    assert speeds.min() < 6.0 and speeds.max() > 33.0
    assert min(heights) < 1.1 and max(heights) > 2.2 and float(np.std(heights)) > 0.2

    static = random_scenario(9, 16, dynamics=False)
    assert all(truck.dynamics is None for truck in static.trucks)


def test_random_scenario_runs_through_any_scale() -> None:
    scenario = random_scenario(3, 16, jump_fraction=0.2, stop_fraction=0.2, accel_mps2=(-0.5, 0.5))
    for geometry in (GEOMETRY, SHORT_GEOMETRY):
        motions = schedule(scenario, geometry)
        exits = [motion.t_last_axle_exit_s for motion in motions]
        assert all(np.isfinite(exits)) and exits == sorted(exits)
        t = np.arange(0.0, exits[-1], 0.02)
        loads = cell_loads_kg(motions, t, geometry)
        assert loads.shape == (t.size, geometry.n_channels) and loads.min() >= 0.0


def test_random_scenario_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_trucks"):
        random_scenario(1, 0)
    with pytest.raises(ValueError, match="sum <= 1"):
        random_scenario(1, 5, jump_fraction=0.6, stop_fraction=0.6)
    with pytest.raises(ValueError, match="loads"):
        random_scenario(1, 5, loads="heavy")  # type: ignore[arg-type]


def test_random_scenario_speed_changes_are_gentle_seeded_and_leave_the_trucks_alone() -> None:
    """Drivers who change speed by up to 10 % over an 18 m scale: the same trucks as without (their own
    random stream), each reaching the drawn change over the scale plus its axle span."""
    plain = random_scenario(31, 48)
    changing = random_scenario(31, 48, speed_change=(-0.1, 0.1), speed_change_over_m=18.0)
    assert changing == random_scenario(31, 48, speed_change=(-0.1, 0.1), speed_change_over_m=18.0)
    changes = []
    geometry = LaneGeometry()
    for before, after in zip(plain.trucks, changing.trucks, strict=True):
        assert before.model_copy(update={"accel_mps2": after.accel_mps2, "note": after.note}) == after
        motion = TruckMotion(after, 10.0, geometry)
        v0 = float(motion.speed_at(motion.time_at_front_x(0.0)))
        end = motion.time_at_front_x(after.front_overhang_m + 18.0 + after.axle_span_m)
        changes.append(float(motion.speed_at(end)) / v0 - 1.0)
    changes_array = np.array(changes)
    assert np.all(np.abs(changes_array) <= 0.1 + 1e-3)
    assert changes_array.min() < -0.05 and changes_array.max() > 0.05  # both braking and accelerating


# ---- throttle blips (issue 16) --------------------------------------------------------------------------


def test_a_throttle_blip_raises_the_speed_once_and_moves_load_to_the_rear_while_it_lasts() -> None:
    """A 2.5 s blip at 0.4 m/s² from 15 km/h: cruise, accelerate, cruise 1 m/s faster; while it lasts the
    pitch moves m a h / wheelbase from the front axle to the rear (the gross unchanged), after it the
    loads settle back to static (no roughness excitation with dlc_scale 0)."""
    blip = {"blip_mps2": 0.4, "blip_s": 2.5, "blip_at_m": 2.0}
    truck = with_dynamics(two_axle(15.0, **blip), cg_height_m=1.5, dlc_scale=0.0)
    motion = TruckMotion(truck, 0.0, GEOMETRY)
    start = motion.time_at_front_x(truck.front_overhang_m + 2.0)
    v0 = 15.0 / 3.6
    assert motion.speed_at(start - 0.5) == pytest.approx(v0)
    assert motion.acceleration_at(start + 1.0) == 0.4
    assert motion.speed_at(start + 3.5) == pytest.approx(v0 + 1.0)
    assert motion.acceleration_at(start + 3.5) == 0.0
    t = np.arange(start + 1.8, start + 2.45, 0.01)  # late in the blip: the pitch transient has rung down
    loads = motion.axle_loads_at(t)
    transfer_kg = truck.gross_kg * 0.4 / 9.81 * 1.5 / 4.5
    np.testing.assert_allclose(loads[:, 0], 6000.0 - transfer_kg, rtol=0.015)
    np.testing.assert_allclose(loads.sum(axis=1), truck.gross_kg, rtol=1e-9)
    np.testing.assert_allclose(motion.axle_loads_at([start + 8.0])[0], [6000.0, 11000.0], rtol=0.01)


def test_a_throttle_blip_is_one_speed_profile_and_needs_both_figures() -> None:
    with pytest.raises(ValueError, match="one speed profile"):
        two_axle(15.0, jump=True, blip_mps2=1.0, blip_s=0.5)
    with pytest.raises(ValueError, match="one speed profile"):
        two_axle(15.0, accel_mps2=0.5, blip_mps2=1.0, blip_s=0.5)
    with pytest.raises(ValueError, match="both blip_mps2"):
        two_axle(15.0, blip_s=0.5)
    with pytest.raises(ValueError, match="both blip_mps2"):
        two_axle(15.0, blip_mps2=0.5)


def test_random_scenario_throttle_blips_are_seeded_gentle_and_leave_the_trucks_alone() -> None:
    """Blipping drivers over a 4.2 m scale: the same trucks as without (their own random stream), each
    speeding up by at most 10 % within its engine's power, the blips starting anywhere from the scale
    entry to its end plus the span."""
    plain = random_scenario(31, 48)
    blipping = random_scenario(31, 48, blip_mps2=(0.3, 1.0), speed_change_over_m=4.2)
    assert blipping == random_scenario(31, 48, blip_mps2=(0.3, 1.0), speed_change_over_m=4.2)
    rises = []
    for before, after in zip(plain.trucks, blipping.trucks, strict=True):
        update = {key: getattr(after, key) for key in ("blip_mps2", "blip_s", "blip_at_m", "note")}
        assert before.model_copy(update=update) == after
        assert 0.0 < after.blip_mps2 <= 1.0 and 0.0 < after.blip_s <= 1.0
        # No blip asks more of the engine than a tractor's 280 kW at the wheels.
        assert after.blip_mps2 * after.gross_kg * after.speed_kmh / 3.6 <= 280e3 * 1.001
        assert 0.0 <= after.blip_at_m <= 4.2 + after.axle_span_m
        motion = TruckMotion(after, 10.0, GEOMETRY)
        v0 = float(motion.speed_at(motion.time_at_front_x(0.0)))
        rises.append(float(motion.speed_at(motion.t_last_axle_exit_s + 1.0)) / v0 - 1.0)
    assert min(rises) > 0.0 and max(rises) <= 0.1 + 1e-9
    assert max(rises) > 0.05
    with pytest.raises(ValueError, match="blip_mps2"):
        random_scenario(31, 4, blip_mps2=(1.0, 0.5))
