"""Intermediate axle strips between the platforms (issue 16): configuration, protocol, lane pairing, the
speed-profile fit, captures, and one crossing over real pseudo-terminals from the simulator to a record."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

import edge.wim.weighing
from drivers.axle_sensor.codec import AxleEvent, new_codec
from drivers.axle_sensor.driver import AxlePassage, TyreRecogniser
from drivers.link import LinkConfig
from drivers.separator.driver import VehicleEdge
from edge.config import OFFLINE_DEVICES, Config, ScaleConfig
from edge.judge import judge
from edge.lane.buffer import SampleWindow
from edge.lane.crossing import Crossing
from edge.lane.session import LaneStateMachine, VehicleSession
from edge.rules import LimitTable
from edge.wim.capture import CaptureError, read_capture, write_capture
from edge.wim.motion import fit_speed_profile
from edge.wim.weighing import weigh
from firmware_sim.physics import LaneGeometry, LoadCellModel, cell_loads_kg, schedule
from firmware_sim.scenario import Scenario, load_scenario

# -- configuration ----------------------------------------------------------------------------------


def test_no_intermediate_strips_by_default() -> None:
    assert ScaleConfig().mid_strips_x_m == ()


def test_strips_between_the_platforms_are_accepted() -> None:
    scale = ScaleConfig(platform_lengths_m=(6.0, 6.0, 6.0), mid_strips_x_m=[6.0, 12.0])
    assert scale.mid_strips_x_m == (6.0, 12.0)


@pytest.mark.parametrize(
    ("mids", "says"),
    [
        ([12.0, 6.0], "strictly increasing"),
        ([6.0, 6.0], "strictly increasing"),
        ([-0.5], "not strictly between"),
        ([18.0], "not strictly between"),
        ([19.0], "not strictly between"),
    ],
)
def test_misplaced_strips_are_refused_with_what_to_do(mids: list[float], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        ScaleConfig(platform_lengths_m=(6.0, 6.0, 6.0), mid_strips_x_m=mids)


def test_more_strips_than_gaps_of_eight_platforms_are_refused() -> None:
    with pytest.raises(ValidationError):
        ScaleConfig(platform_lengths_m=(3.0,) * 8, mid_strips_x_m=[float(x) for x in range(1, 9)])


# -- protocol ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("strip", range(2, 9))
def test_intermediate_strip_events_round_trip(strip: int) -> None:
    event = AxleEvent(
        seq=9, device_time_us=123_456_789, strip=strip, tyre=AxleEvent.TYRE_DUAL, tyre_width_mm=560
    )
    decoded = new_codec().feed(new_codec().encode(event))
    assert decoded == [event]
    assert decoded[0].mid_index == strip - 2


def _feed_driver(mid_strips: int, strip: int) -> tuple[TyreRecogniser, list[AxlePassage]]:
    seen: list[AxlePassage] = []
    driver = TyreRecogniser("axle_sensor", LinkConfig(url="loop://"), seen.append, mid_strips=mid_strips)
    driver._receive(AxleEvent(1, 5_000_000, strip, AxleEvent.TYRE_SINGLE), 100.0)
    return driver, seen


def test_driver_reports_a_configured_intermediate_strip() -> None:
    driver, seen = _feed_driver(mid_strips=2, strip=3)
    assert [(p.strip, p.mid_index) for p in seen] == [("mid", 1)]
    assert driver.health()["unknown_strip"] == 0


def test_driver_drops_and_counts_a_strip_the_lane_is_not_configured_with() -> None:
    driver, seen = _feed_driver(mid_strips=1, strip=3)
    assert seen == []
    assert driver.health()["unknown_strip"] == 1


# -- lane pairing -----------------------------------------------------------------------------------


def _passage(strip: str, t: float, mid_index: int = -1) -> AxlePassage:
    return AxlePassage(strip, t, "dual", False, 500, mid_index)  # type: ignore[arg-type]


def _drive(events: list[tuple[str, float, int]], fractions: tuple[float, ...]) -> list[VehicleSession]:
    done: list[VehicleSession] = []
    lane = LaneStateMachine(done.append, 60.0, mid_fractions=fractions)
    lane.on_edge(VehicleEdge("enter", 0.0, 48, 0))
    for strip, t, mid in sorted(events, key=lambda e: e[1]):
        if strip == "leave":
            lane.on_edge(VehicleEdge("leave", t, 48, 0))
        else:
            lane.on_axle(_passage(strip, t, mid))
    return done


def test_each_axle_gets_its_own_intermediate_strip_times() -> None:
    # Three axles 1 s apart, 4 s from the entry strip to the exit strip; strip 0 at 1/4, strip 1 at 3/4.
    entries = [0.2, 1.2, 2.2]
    events = [("entry", t, -1) for t in entries] + [("leave", 2.5, -1)]
    events += [("mid", t + 1.0, 0) for t in entries] + [("mid", t + 3.0, 1) for t in entries]
    events += [("exit", t + 4.0, -1) for t in entries]
    (session,) = _drive(events, (0.25, 0.75))
    assert [a.mid_t_s for a in session.axles] == [[1.2, 3.2], [2.2, 4.2], [3.2, 5.2]]


def test_a_missed_intermediate_pulse_leaves_nan_and_does_not_shift_the_others() -> None:
    # The middle axle's pulse on strip 0 is lost; the strip's pulses of the other axles stay theirs.
    entries = [0.2, 1.2, 2.2]
    events = [("entry", t, -1) for t in entries] + [("leave", 2.5, -1)]
    events += [("exit", entries[0] + 2.0, -1)]  # the front axle's exit gives the vehicle's transit first
    events += [("mid", entries[0] + 1.0, 0), ("mid", entries[2] + 1.0, 0)]
    events += [("exit", t + 2.0, -1) for t in entries[1:]]
    (session,) = _drive(events, (0.5,))
    times = [a.mid_t_s[0] for a in session.axles]
    assert times[0] == 1.2 and math.isnan(times[1]) and times[2] == 3.2


def test_a_pulse_missed_before_any_exit_is_placed_by_the_earlier_strips_timing() -> None:
    # Strips at 1/4 and 1/2 of the way, 4 s entry to exit: the middle axle's pulse on the first strip is
    # lost before any axle has reached the exit strip; the front axle's pulses say when the others are due.
    entries = [0.2, 1.2, 2.2]
    events = [("entry", t, -1) for t in entries] + [("leave", 2.5, -1)]
    events += [("mid", entries[0] + 1.0, 0), ("mid", entries[2] + 1.0, 0)]
    events += [("mid", t + 2.0, 1) for t in entries] + [("exit", t + 4.0, -1) for t in entries]
    (session,) = _drive(events, (0.25, 0.5))
    times = [a.mid_t_s[0] for a in session.axles]
    assert times[0] == 1.2 and math.isnan(times[1]) and times[2] == 3.2
    assert [a.mid_t_s[1] for a in session.axles] == [2.2, 3.2, 4.2]


# -- the fit ----------------------------------------------------------------------------------------


def _times_at(x: np.ndarray, v0: float, accel: float, jerk: float = 0.0) -> np.ndarray:
    """When a path x(t) = v0 t + a t^2 / 2 + j t^3 / 6 reaches each x (bisection: independent of the fit);
    the paths of these tests move forward all through the first 12 s."""
    lo, hi = np.zeros_like(x), np.full_like(x, 12.0)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        ahead = v0 * mid + 0.5 * accel * mid**2 + jerk * mid**3 / 6 >= x
        hi, lo = np.where(ahead, mid, hi), np.where(ahead, lo, mid)
    return 0.5 * (lo + hi)


def test_one_axle_and_an_intermediate_strip_give_its_acceleration() -> None:
    # Front axle starts 2 m before the entry strip (x = -0.5) at 4 m/s, braking at 0.3 m/s^2.
    strips = np.array([-0.5, 9.0, 18.0]) + 2.0
    entry, mid, exit_ = _times_at(strips, 4.0, -0.3)
    profile = fit_speed_profile(np.array([entry]), np.array([exit_]), -0.5, 18.0, np.array([[mid]]), (9.0,))
    assert profile is not None
    assert profile.accel_mps2 == pytest.approx(-0.3, abs=1e-6)
    assert profile.speed_at(entry) == pytest.approx(4.0 - 0.3 * entry, abs=1e-6)


def test_a_missed_intermediate_event_is_left_out() -> None:
    offsets = np.array([0.0, 4.5])
    strips = np.array([-0.5, 6.0, 12.0, 18.0])
    times = np.array([_times_at(strips + 3.0 + d, 5.0, 0.4) for d in offsets])  # axles x strips
    mids = times[:, 1:3].copy()
    mids[1, 0] = np.nan
    profile = fit_speed_profile(times[:, 0], times[:, 3], -0.5, 18.0, mids, (6.0, 12.0))
    assert profile is not None
    assert profile.accel_mps2 == pytest.approx(0.4, abs=1e-6)
    assert profile.offsets_m[1] == pytest.approx(4.5, abs=1e-6)
    assert profile.misfit_rms_m == pytest.approx(0.0, abs=1e-6)


def test_a_jerk_the_entry_and_exit_strips_cannot_see_shows_as_misfit_with_an_intermediate_strip() -> None:
    # A 2-axle truck whose braking eases off (a = -0.5 m/s^2, jerk 0.2 m/s^3): entry and exit strips alone
    # give 4 events for 4 unknowns (x0, v0, a, d_1), fitted exactly; with the mid strips' events they
    # cannot all fit.
    offsets = np.array([0.0, 4.5])
    strips = np.array([-0.5, 6.0, 12.0, 18.0])
    jerk = 0.2
    times = np.array([_times_at(strips + 3.0 + d, 6.0, -0.5, jerk) for d in offsets])
    without = fit_speed_profile(times[:, 0], times[:, 3], -0.5, 18.0)
    with_mids = fit_speed_profile(times[:, 0], times[:, 3], -0.5, 18.0, times[:, 1:3], (6.0, 12.0))
    assert without is not None and with_mids is not None
    assert without.misfit_rms_m == 0.0
    # Least squares leaves no more than the true quadratic part would (x0, v0, a and d_1 of the path):
    # the cubic term j t^3 / 6 at the 8 events, over 8 - 4 degrees of freedom.
    bound = math.sqrt(float(np.sum((jerk * times**3 / 6) ** 2)) / 4)
    assert 0.001 < with_mids.misfit_rms_m <= bound
    # The same path without the jerk fits to within the bisection's precision.
    steady = np.array([_times_at(strips + 3.0 + d, 6.0, -0.5) for d in offsets])
    exact = fit_speed_profile(steady[:, 0], steady[:, 3], -0.5, 18.0, steady[:, 1:3], (6.0, 12.0))
    assert exact is not None and exact.misfit_rms_m < 1e-6


# -- weighing, captures -----------------------------------------------------------------------------

_LENGTHS = (6.0, 6.0, 6.0)
_MIDS = (6.0, 12.0)


def _config(mids: tuple[float, ...] = _MIDS) -> Config:
    return Config.model_validate(
        {
            "site": {"id": "test", "lane": 1},
            "scale": {"platform_lengths_m": list(_LENGTHS), "mid_strips_x_m": list(mids)},
            "devices": OFFLINE_DEVICES,
        }
    )


_SCENARIO = """
name = "one"
seed = 3
gap_s = 1.5

[[truck]]
plate = "冀A10001"
body = "rigid"
speed_kmh = 12.0
axle_spacings_m = [3.6, 1.35]
axle_loads_kg = [6000.0, 9000.0, 9000.0]
tyres = ["single", "dual", "dual"]
front_overhang_m = 1.4
rear_overhang_m = 1.6
expected_verdict = "pass"
"""


def _scenario(tmp_path: Path) -> Scenario:
    path = tmp_path / "one.toml"
    path.write_text(_SCENARIO, encoding="utf-8")
    return load_scenario(path)


def _simulated_crossing(tmp_path: Path) -> Crossing:
    geometry = LaneGeometry(platform_lengths_m=_LENGTHS, mid_strips_x_m=_MIDS)
    (motion,) = schedule(_scenario(tmp_path), geometry)
    entry = motion.axle_crossing_times(geometry.entry_strip_x_m)
    exit_ = motion.axle_crossing_times(geometry.exit_x_m)
    mid = np.stack([motion.axle_crossing_times(x) for x in _MIDS], axis=1)
    mid[1, 0] = np.nan  # one pulse missed
    t = np.arange(math.floor((entry[0] - 0.8) * 1000), math.ceil((exit_[-1] + 0.1) * 1000)) / 1000
    counts = LoadCellModel(geometry.n_channels, seed=3).counts(t, cell_loads_kg([motion], t, geometry))
    return Crossing(1, SampleWindow(t, counts, 0), 1000, entry, exit_, motion.truck.tyres, (), None, mid)


def test_capture_keeps_the_intermediate_strip_times_and_replays_to_the_same_result(tmp_path: Path) -> None:
    crossing = _simulated_crossing(tmp_path)
    config = _config()
    path = tmp_path / "c.wlcap"
    write_capture(path, crossing, config)
    capture = read_capture(path)
    assert capture.crossing.mid_t_s is not None
    np.testing.assert_array_equal(capture.crossing.mid_t_s, crossing.mid_t_s)
    assert capture.config.scale.mid_strips_x_m == _MIDS
    live = judge(crossing, config, LimitTable.load())
    replayed = judge(capture.crossing, capture.config, LimitTable.load())
    assert live.measurement is not None and replayed.measurement is not None
    assert replayed.measurement.gross_kg == live.measurement.gross_kg
    assert abs(live.measurement.gross_kg - 24000.0) < 0.01 * 24000.0


def test_capture_without_intermediate_strips_has_no_such_member(tmp_path: Path) -> None:
    crossing = _simulated_crossing(tmp_path)
    path = tmp_path / "c.wlcap"
    write_capture(path, dataclasses.replace(crossing, mid_t_s=None), _config(()))
    capture = read_capture(path)
    assert capture.crossing.mid_t_s is None


def test_capture_refuses_strip_times_that_do_not_match_the_strips(tmp_path: Path) -> None:
    crossing = _simulated_crossing(tmp_path)
    with pytest.raises(CaptureError, match=r"mid_t_s\.npy: shape"):
        write_capture(tmp_path / "a.wlcap", crossing, _config((9.0,)))
    with pytest.raises(CaptureError, match="mid_strips_x_m is empty"):
        write_capture(tmp_path / "b.wlcap", crossing, _config(()))


def test_weighing_with_another_lanes_strips_is_a_reweigh_with_the_reason() -> None:
    window = SampleWindow(np.zeros(0), np.zeros((0, 12), dtype=np.int32), 0)
    crossing = Crossing(
        1, window, 1000, np.array([1.0]), np.array([3.0]), ("dual",), (), None, np.ones((1, 1))
    )
    weighed = weigh(crossing, _config())
    assert weighed.measurement is None
    assert any("intermediate axle strips" in reason for reason in weighed.reasons)


# -- end to end over ptys ---------------------------------------------------------------------------


async def test_a_crossing_over_the_ptys_reaches_the_estimator_with_its_mid_strip_times(
    make_rig: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[np.ndarray | None] = []
    estimate = edge.wim.weighing.estimate_crossing

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(args[8] if len(args) > 8 else kwargs.get("mid_t_s"))
        return estimate(*args, **kwargs)

    monkeypatch.setattr(edge.wim.weighing, "estimate_crossing", spy)
    rig = make_rig(_scenario(tmp_path), mid_strips_x_m=_MIDS)
    await rig.start()
    await rig.wait_records(1, timeout_s=rig.sim.duration_s + 60)
    (record,) = rig.records
    assert record["verdict"] == "pass", (record.get("reasons"), record)
    (mid,) = seen
    assert mid is not None and mid.shape == (3, 2)
    # The host times of the pulses are the simulator's physical times (world clock + the lane's origin)
    # plus the serial delivery and clock mapping: milliseconds.
    (motion,) = rig.sim.motions
    truth = np.stack([motion.axle_crossing_times(x) for x in _MIDS], axis=1) + rig.sim._origin
    assert np.all(np.abs(mid - truth) < 0.05), mid - truth
