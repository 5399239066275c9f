"""The simulator's physical model: scenario files, truck kinematics, load sharing and load-cell signals."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import numpy as np
import pytest

from firmware_sim.physics import CORNERS, LaneGeometry, LoadCellModel, TruckMotion, cell_loads_kg, schedule
from firmware_sim.scenario import Scenario, ScenarioError, Truck, load_scenario

SCENARIO_TOML = """\
name = "physics-test"
description = "three trucks: a rigid 3-axle, a stop-and-go 6-axle combination, an off-centre 2-axle"
seed = 7
gap_s = 3.0

[[truck]]
plate = "冀A12345"
body = "rigid"
speed_kmh = 12.0
axle_spacings_m = [3.8, 1.35]
axle_loads_kg = [6500.0, 9000.0, 9000.0]
tyres = ["single", "dual", "dual"]
front_overhang_m = 1.4
rear_overhang_m = 1.8
expected_verdict = "pass"
note = "plain through-run"

[[truck]]
plate = "冀B67890"
body = "combination"
speed_kmh = 8
axle_spacings_m = [3.2, 1.35, 6.5, 1.31, 1.31]
axle_loads_kg = [7000, 10000, 10000, 8000, 8000, 8000]
tyres = ["single", "dual", "dual", "dual", "dual", "dual"]
front_overhang_m = 1.4
rear_overhang_m = 1.0
expected_verdict = "overweight"
stop_on_scale_s = 4.0

[[truck]]
plate = "冀C24680"
body = "rigid"
speed_kmh = 20.0
axle_spacings_m = [4.5]
axle_loads_kg = [6000.0, 11000.0]
tyres = ["single", "dual"]
front_overhang_m = 1.2
rear_overhang_m = 2.0
expected_verdict = "pass"
lateral_offset_m = 0.4
"""

GEOMETRY = LaneGeometry()
LEFT_CHANNELS = [4 * p + c for p in range(GEOMETRY.n_platforms) for c in (0, 2)]
RIGHT_CHANNELS = [4 * p + c for p in range(GEOMETRY.n_platforms) for c in (1, 3)]


def write_scenario(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    return load_scenario(write_scenario(tmp_path, SCENARIO_TOML))


@pytest.fixture
def motions(scenario: Scenario) -> list[TruckMotion]:
    return schedule(scenario, GEOMETRY)


def standing_time(motion: TruckMotion, geometry: LaneGeometry = GEOMETRY) -> float:
    """A time at which every axle's contact patch lies inside one platform, away from every edge."""
    half_footprint_m = geometry.tyre_footprint_m / 2
    t_all_on = motion.axle_crossing_times(half_footprint_m)[-1]
    t_first_off = motion.axle_crossing_times(geometry.scale_length_m - half_footprint_m)[0]
    assert t_all_on < t_first_off, "test truck must fit on the scale"
    for t in np.linspace(t_all_on, t_first_off, 2001):
        distances = np.abs(motion.axle_x(t)[:, np.newaxis] - geometry.edges_m)
        if distances.min() > half_footprint_m + 1e-3:
            return float(t)
    raise AssertionError("no time with every axle clear of the platform edges")


# ---- scenario files -------------------------------------------------------------------------------------


def test_scenario_loads_with_truck_properties(scenario: Scenario) -> None:
    assert scenario.name == "physics-test"
    assert scenario.gap_s == 3.0
    assert [truck.plate for truck in scenario.trucks] == ["冀A12345", "冀B67890", "冀C24680"]
    rigid, combination, offset = scenario.trucks
    assert rigid.n_axles == 3
    assert rigid.gross_kg == 24_500.0
    assert rigid.axle_offsets_m == pytest.approx((1.4, 5.2, 6.55))
    assert rigid.length_m == pytest.approx(1.4 + 5.15 + 1.8)
    assert rigid.stop_on_scale_s == 0.0
    assert rigid.lateral_offset_m == 0.0
    assert combination.n_axles == 6
    assert combination.gross_kg == 51_000.0
    assert combination.axle_loads_kg[0] == 7000.0  # TOML integers are accepted as floats
    assert combination.note == ""
    assert offset.lateral_offset_m == 0.4


def test_builtin_default_scenario_loads_by_name() -> None:
    scenario = load_scenario("default")
    assert scenario.trucks


def test_unknown_builtin_name_says_what_to_do() -> None:
    with pytest.raises(
        ScenarioError, match=r"no built-in scenario 'no-such-scenario'.*path of a \.toml file"
    ):
        load_scenario("no-such-scenario")


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    with pytest.raises(ScenarioError, match=r"absent\.toml: cannot read"):
        load_scenario(missing)


def _broken_copy(tmp_path: Path, old: str, new: str, *, occurrence: int = 0) -> Path:
    """SCENARIO_TOML with the ``occurrence``-th ``old`` replaced by ``new``."""
    parts = SCENARIO_TOML.split(old)
    assert len(parts) > occurrence + 1
    text = old.join(parts[: occurrence + 1]) + new + old.join(parts[occurrence + 1 :])
    return write_scenario(tmp_path, text)


def _line_of(path: Path, fragment: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if fragment in line)


def test_unknown_key_names_key_path_and_line(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, 'note = "plain through-run"', 'colour = "red"')
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert f"{path}:{_line_of(path, 'colour')}: truck[0].colour: unknown key" in message
    assert "remove it or correct its spelling" in message


def test_wrong_type_names_key_path_and_line(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, "speed_kmh = 20.0", 'speed_kmh = "fast"')
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert f"{path}:{_line_of(path, 'fast')}: truck[2].speed_kmh: " in str(caught.value)
    assert "'fast'" in str(caught.value)


def test_mismatched_list_lengths_name_key_path_and_line(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, "axle_spacings_m = [3.2, 1.35, 6.5, 1.31, 1.31]", "axle_spacings_m = [3.2]")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    line = _line_of(path, "axle_spacings_m = [3.2]")
    assert f"{path}:{line}: truck[1].axle_spacings_m: has 1 values but axle_loads_kg has 6 axles" in str(
        caught.value
    )

    path = _broken_copy(tmp_path, 'tyres = ["single", "dual"]', 'tyres = ["single"]')
    with pytest.raises(ScenarioError, match=r"truck\[2\]\.tyres: has 1 values but axle_loads_kg has 2"):
        load_scenario(path)


def test_out_of_range_and_missing_keys_are_reported_together(tmp_path: Path) -> None:
    text = SCENARIO_TOML.replace("speed_kmh = 12.0", "speed_kmh = 80.0")
    text = text.replace('expected_verdict = "pass"\nlateral', "lateral")
    path = write_scenario(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    problems = caught.value.problems
    assert len(problems) == 2
    assert f"{path}:{_line_of(path, 'speed_kmh = 80.0')}: truck[0].speed_kmh: " in problems[0]
    # A missing key is reported at the header of its table, where it has to be added.
    third_header = [n for n, line in enumerate(text.splitlines(), start=1) if line == "[[truck]]"][2]
    assert problems[1].startswith(
        f"{path}:{third_header}: truck[2].expected_verdict: required key is missing"
    )


def test_too_few_axles_and_bad_spacing_are_rejected(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, "axle_spacings_m = [4.5]", "axle_spacings_m = [-4.5]")
    with pytest.raises(
        ScenarioError, match=r"truck\[2\]\.axle_spacings_m\[0\]: Input should be greater than 0"
    ):
        load_scenario(path)
    path = _broken_copy(tmp_path, "axle_loads_kg = [6000.0, 11000.0]", "axle_loads_kg = [6000.0]")
    with pytest.raises(ScenarioError, match=r"truck\[2\]\.axle_loads_kg: List should have at least 2 items"):
        load_scenario(path)


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, "gap_s = 3.0", "gap_s = = 3.0")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert str(path) in message
    assert "TOML syntax error" in message
    assert f"line {_line_of(path, 'gap_s')}" in message


def test_scenario_error_is_a_value_error() -> None:
    assert issubclass(ScenarioError, ValueError)


# ---- geometry -------------------------------------------------------------------------------------------


def test_geometry_defaults() -> None:
    assert GEOMETRY.edges_m.tolist() == [0.0, 6.0, 12.0, 18.0]
    assert GEOMETRY.scale_length_m == 18.0
    assert GEOMETRY.n_platforms == 3
    assert GEOMETRY.n_channels == 12
    assert GEOMETRY.exit_x_m == 18.0
    assert LaneGeometry(exit_strip_x_m=18.5).exit_x_m == 18.5
    assert CORNERS == ("entry_left", "entry_right", "exit_left", "exit_right")
    with pytest.raises(ValueError, match="platform_lengths_m"):
        LaneGeometry(platform_lengths_m=())


# ---- loads on the cells ---------------------------------------------------------------------------------


def test_truck_standing_on_scale_loads_sum_to_gross_and_per_platform(motions: list[TruckMotion]) -> None:
    for motion in motions:
        t = standing_time(motion)
        loads = cell_loads_kg(motions, np.array([t]), GEOMETRY)[0]
        assert loads.shape == (GEOMETRY.n_channels,)
        assert loads.sum() == pytest.approx(motion.truck.gross_kg, abs=1e-6)

        platform_of_axle = np.searchsorted(GEOMETRY.edges_m, motion.axle_x(t), side="right") - 1
        for platform in range(GEOMETRY.n_platforms):
            expected = motion.axle_loads_kg[platform_of_axle == platform].sum()
            assert loads[4 * platform : 4 * platform + 4].sum() == pytest.approx(expected, abs=1e-6)


def test_corner_shares_follow_position_on_platform() -> None:
    truck = Truck(
        plate="测A00001",
        body="rigid",
        speed_kmh=10.0,
        axle_loads_kg=[4000.0, 8000.0],
        axle_spacings_m=[3.0],
        tyres=["single", "dual"],
        front_overhang_m=1.0,
        rear_overhang_m=1.0,
        expected_verdict="pass",
    )
    motion = TruckMotion(truck, t_start_s=0.0, geometry=GEOMETRY)
    # Rear axle 1.5 m into platform 1 (a quarter), front axle 4.5 m into it (three quarters).
    t = motion.axle_crossing_times(7.5)[1]
    loads = cell_loads_kg([motion], np.array([t]), GEOMETRY)[0]
    entry_kg = 0.75 * 8000.0 + 0.25 * 4000.0
    exit_kg = 0.25 * 8000.0 + 0.75 * 4000.0
    assert loads[4:8] == pytest.approx([entry_kg / 2, entry_kg / 2, exit_kg / 2, exit_kg / 2], abs=1e-6)
    assert loads[:4].sum() == pytest.approx(0.0, abs=1e-9)
    assert loads[8:].sum() == pytest.approx(0.0, abs=1e-9)


def test_lateral_offset_shifts_load_left_and_keeps_sums(scenario: Scenario) -> None:
    centred_truck = scenario.trucks[2].model_copy(update={"lateral_offset_m": 0.0})
    centred = TruckMotion(centred_truck, 0.0, GEOMETRY)
    offset = TruckMotion(scenario.trucks[2], 0.0, GEOMETRY)
    t = np.array([standing_time(centred)])
    centred_loads = cell_loads_kg([centred], t, GEOMETRY)[0]
    offset_loads = cell_loads_kg([offset], t, GEOMETRY)[0]

    assert centred_loads[LEFT_CHANNELS].sum() == pytest.approx(centred_loads[RIGHT_CHANNELS].sum())
    gross = scenario.trucks[2].gross_kg
    # Both wheels stay on the platform: the left share is 1/2 + offset / width.
    left_share = 0.5 + 0.4 / GEOMETRY.platform_width_m
    assert offset_loads[LEFT_CHANNELS].sum() == pytest.approx(left_share * gross, abs=1e-6)
    assert offset_loads[RIGHT_CHANNELS].sum() == pytest.approx((1 - left_share) * gross, abs=1e-6)
    assert offset_loads.sum() == pytest.approx(gross, abs=1e-6)
    for platform in range(GEOMETRY.n_platforms):
        cells = slice(4 * platform, 4 * platform + 4)
        assert offset_loads[cells].sum() == pytest.approx(centred_loads[cells].sum(), abs=1e-6)


def test_axle_ramps_in_and_out_over_the_tyre_footprint(motions: list[TruckMotion]) -> None:
    motion = motions[0]
    front, last = motion.axle_loads_kg[0], motion.axle_loads_kg[-1]
    half_footprint_m = GEOMETRY.tyre_footprint_m / 2

    def on_scale_kg(axle: int, x: float) -> float:
        t = motion.axle_crossing_times(x)[axle]
        return float(cell_loads_kg(motions, np.array([t]), GEOMETRY)[0].sum())

    assert on_scale_kg(0, -half_footprint_m) == pytest.approx(0.0, abs=1e-6)
    assert on_scale_kg(0, -half_footprint_m / 2) == pytest.approx(front / 4, abs=1e-6)
    assert on_scale_kg(0, 0.0) == pytest.approx(front / 2, abs=1e-6)
    assert on_scale_kg(0, half_footprint_m) == pytest.approx(front, abs=1e-6)

    # Only the last axle is still on the scale when it reaches the scale end.
    end = GEOMETRY.scale_length_m
    assert on_scale_kg(-1, end) == pytest.approx(last / 2, abs=1e-6)
    assert on_scale_kg(-1, end + half_footprint_m) == pytest.approx(0.0, abs=1e-6)

    # Crossing an inner platform edge moves the load without changing the total.
    t = motion.axle_crossing_times(6.0)[0]
    loads = cell_loads_kg(motions, np.array([t]), GEOMETRY)[0]
    assert loads[4:8].sum() == pytest.approx(front / 2, abs=1e-6)
    assert loads[0:4].sum() == pytest.approx(motion.truck.gross_kg - front / 2, abs=1e-6)


def test_chunked_calls_match_one_call(motions: list[TruckMotion]) -> None:
    # The pre-filter must never skip a truck that is on the scale: 10-sample blocks at 1 kHz equal one call.
    t = np.arange(0.0, motions[-1].t_last_axle_exit_s + 2.0, 0.001)
    whole = cell_loads_kg(motions, t, GEOMETRY)
    blocks = np.concatenate([cell_loads_kg(motions, t[k : k + 10], GEOMETRY) for k in range(0, t.size, 10)])
    np.testing.assert_allclose(blocks, whole, rtol=0, atol=1e-9)
    assert whole.dtype == np.float64
    assert whole.shape == (t.size, GEOMETRY.n_channels)
    assert whole.min() >= 0.0


def test_empty_time_array_gives_no_rows(motions: list[TruckMotion]) -> None:
    assert cell_loads_kg(motions, np.array([]), GEOMETRY).shape == (0, GEOMETRY.n_channels)


# ---- kinematics -----------------------------------------------------------------------------------------


def test_axle_crossing_times_are_consistent_with_positions(motions: list[TruckMotion]) -> None:
    for motion in motions:
        for x in (GEOMETRY.entry_strip_x_m, 0.0, 9.0, GEOMETRY.exit_x_m):
            times = motion.axle_crossing_times(x)
            assert times.shape == (motion.truck.n_axles,)
            assert np.all(np.diff(times) > 0)
            positions = motion.axle_x(times)
            assert positions.shape == (motion.truck.n_axles, motion.truck.n_axles)
            np.testing.assert_allclose(np.diag(positions), x, atol=1e-6)


def test_axles_at_constant_speed_are_spacing_over_speed_apart(motions: list[TruckMotion]) -> None:
    motion = motions[0]
    v = motion.truck.speed_kmh / 3.6
    times = motion.axle_crossing_times(GEOMETRY.entry_strip_x_m)
    np.testing.assert_allclose(np.diff(times), np.array(motion.truck.axle_spacings_m) / v, atol=1e-9)
    assert motion.time_at_front_x(0.0) == pytest.approx(motion.t_start_s, abs=1e-9)
    # Before t_start the truck approaches at v.
    assert motion.front_x(motion.t_start_s - 10.0) == pytest.approx(-10.0 * v)
    assert motion.speed_at(motion.t_start_s - 10.0) == pytest.approx(v)
    assert motion.stop_interval_s is None


def test_curtain_interval_spans_front_to_rear(motions: list[TruckMotion]) -> None:
    for motion in motions:
        x = GEOMETRY.separator_x_m
        t_front, t_rear = motion.curtain_interval(x)
        assert motion.front_x(t_front) == pytest.approx(x, abs=1e-6)
        assert motion.front_x(t_rear) - motion.truck.length_m == pytest.approx(x, abs=1e-6)
        assert t_front == pytest.approx(motion.t_start_s, abs=1e-9)

        t = np.linspace(t_front - 2.0, t_rear + 2.0, 4001)
        front = motion.front_x(t)
        body_spans_x = (front >= x) & (front - motion.truck.length_m <= x)
        inside = (t >= t_front) & (t <= t_rear)
        np.testing.assert_array_equal(body_spans_x, inside)


def test_stop_and_go_truck_stands_still_with_axles_centred(motions: list[TruckMotion]) -> None:
    motion = motions[1]
    truck = motion.truck
    v = truck.speed_kmh / 3.6
    dt = 0.001
    t = np.arange(motion.t_start_s - 5.0, motion.t_last_axle_exit_s + 5.0, dt)
    front = motion.front_x(t)
    speed = motion.speed_at(t)

    assert np.all(np.diff(front) >= 0.0)
    assert speed.min() == 0.0
    assert speed.max() == pytest.approx(v)
    assert speed[0] == pytest.approx(v) and speed[-1] == pytest.approx(v)
    standing = speed == 0.0
    assert standing.sum() * dt == pytest.approx(truck.stop_on_scale_s, abs=2 * dt)
    # Standing is one unbroken stretch.
    assert np.count_nonzero(np.diff(standing.astype(int)) == 1) == 1

    assert motion.stop_interval_s is not None
    start, end = motion.stop_interval_s
    assert end - start == pytest.approx(truck.stop_on_scale_s)
    axles = motion.axle_x((start + end) / 2)
    assert (axles[0] + axles[-1]) / 2 == pytest.approx(GEOMETRY.scale_length_m / 2, abs=1e-9)
    # Braking and pulling away at the documented rates.
    np.testing.assert_allclose(np.diff(speed)[(t[1:] < start) & (speed[1:] < v - 0.01)] / dt, -1.0, atol=1e-6)
    np.testing.assert_allclose(np.diff(speed)[(t[:-1] > end) & (speed[1:] < v - 0.01)] / dt, 0.8, atol=1e-6)

    # The stop position is reached at the first time, and standing on the scale keeps the gross there.
    x_stop = float(motion.front_x(start))
    assert motion.time_at_front_x(x_stop) == pytest.approx(start, abs=1e-6)
    mid_stop = np.linspace(start, end, 50)
    np.testing.assert_allclose(
        cell_loads_kg(motions, mid_stop, GEOMETRY).sum(axis=1), truck.gross_kg, atol=1e-6
    )
    for x in (0.0, 9.0, 18.0):
        times = motion.axle_crossing_times(x)
        np.testing.assert_allclose(np.diag(motion.axle_x(times)), x, atol=1e-6)


def test_schedule_keeps_the_gap_and_one_truck_on_the_scale(scenario: Scenario) -> None:
    motions = schedule(scenario, GEOMETRY, t0_s=5.0)
    assert len(motions) == len(scenario.trucks)
    assert motions[0].t_start_s == 5.0
    for previous, following in itertools.pairwise(motions):
        assert following.t_start_s - previous.t_last_axle_exit_s == pytest.approx(scenario.gap_s, abs=1e-9)
        exit_times = previous.axle_crossing_times(GEOMETRY.exit_x_m)
        assert previous.t_last_axle_exit_s == pytest.approx(exit_times[-1])

    t = np.arange(0.0, motions[-1].t_last_axle_exit_s + 5.0, 0.002)
    half_footprint_m = GEOMETRY.tyre_footprint_m / 2
    on_scale = np.zeros(t.size, dtype=int)
    for motion in motions:
        axles = motion.axle_x(t)
        touching = (axles > -half_footprint_m) & (axles < GEOMETRY.scale_length_m + half_footprint_m)
        on_scale += touching.any(axis=1)
    assert on_scale.max() == 1
    assert on_scale.min() == 0


# ---- load cells -----------------------------------------------------------------------------------------


def test_load_cell_counts_are_reproducible_and_blockwise_equal() -> None:
    t = np.arange(0.0, 2.0, 0.001)
    loads = np.full((t.size, 12), 1000.0)
    first = LoadCellModel(n_channels=12, seed=3).counts(t, loads)
    second_model = LoadCellModel(n_channels=12, seed=3)
    second = np.concatenate(
        [second_model.counts(t[k : k + 10], loads[k : k + 10]) for k in range(0, t.size, 10)]
    )
    assert first.dtype == np.int32
    assert first.shape == (t.size, 12)
    np.testing.assert_array_equal(first, second)
    other = LoadCellModel(n_channels=12, seed=4).counts(t, loads)
    assert not np.array_equal(first, other)


def test_load_cell_zero_scale_and_noise() -> None:
    model = LoadCellModel(n_channels=8, seed=11)
    assert model.zero_counts is not None
    assert np.all((model.zero_counts >= 20_000) & (model.zero_counts <= 60_000))
    t = np.arange(0.0, 20.0, 0.001)
    loads = np.zeros((t.size, 8))
    loads[:, 3] = 2500.0
    counts = model.counts(t, loads).astype(np.float64)
    signal_kg = (counts - model.zero_counts) / model.counts_per_kg - model.drift_kg(t)
    np.testing.assert_allclose(signal_kg.mean(axis=0), loads[0], atol=0.2)
    # Rounding to whole counts adds 1/12 count^2 of variance: negligible beside 200 counts of noise.
    np.testing.assert_allclose(signal_kg.std(axis=0) / model.noise_kg, 1.0, atol=0.03)

    fixed = LoadCellModel(n_channels=2, seed=1, zero_counts=np.array([100, 200]), noise_kg=0.0)
    np.testing.assert_array_equal(fixed.counts(0.0, np.array([[1.0, 2.0]])), [[150, 300]])


def test_load_cell_drift_is_bounded_and_slow() -> None:
    model = LoadCellModel(n_channels=12, seed=5, drift_kg_per_min=3.0)
    t = np.arange(0.0, 3600.0, 1.0)
    drift = model.drift_kg(t)
    assert drift.shape == (t.size, 12)
    np.testing.assert_array_equal(drift[0], 0.0)
    rate_kg_per_min = np.abs(np.diff(drift, axis=0)).max() * 60.0
    assert rate_kg_per_min <= 3.0
    assert rate_kg_per_min > 0.5  # it does drift, at roughly the stated rate
    assert np.abs(drift).max() < 60.0  # an hour at full rate would be 180 kg: the sinusoids turn back
    np.testing.assert_array_equal(model.drift_kg(t), drift)  # deterministic
