"""Hard braking on a short platform: steady (judged) against a brake pulse (re-weighed).

Under a constant acceleration the body's pitch moves the same load between the axles whenever each is
weighed, and that transfer sums to zero: a 4.2 m platform that weighs the axles one after another still
gets the gross right.  A brake pulse changes the transfer between one axle's weighing and the next, and
the gross goes wrong.  The crossings come from a small rigid-truck model written here (instantaneous pitch
transfer at a 1.8 m centre of gravity, uniform tyre pressure, four cells, 2 kg noise a cell), not from
firmware_sim.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import Config
from edge.judge import Judgement, judge
from edge.lane.buffer import SampleWindow
from edge.lane.crossing import Crossing
from edge.rules import LimitTable
from edge.wim.estimate import PULSE_RESOLVED_NOISE_FACTOR
from tests.support.configs import loop_devices

RATE_HZ = 1000
PLATFORM_M = 4.2
ENTRY_X, EXIT_X = -0.5, PLATFORM_M
FOOTPRINT_M = 0.25
KG_PER_COUNT = 0.02
CG_HEIGHT_M = 1.8
# A 6x4 rigid truck (steer + tandem): offsets behind the front axle (m), static loads (kg).
OFFSETS = np.array([0.0, 4.5, 5.85])
LOADS = np.array([7000.0, 9000.0, 9000.0])


def _config(strip_timing_sd_s: float, **wim: object) -> Config:
    return Config.model_validate(
        {
            "site": {"id": "braking", "lane": 1},
            "scale": {
                "platform_lengths_m": [PLATFORM_M],
                "kg_per_count": KG_PER_COUNT,
                "strip_timing_sd_s": strip_timing_sd_s,
            },
            # A single platform of class 5 (+/-2.5 %): the site sets the allowance to its class.
            "rules": {"max_gross_uncertainty_fraction": 0.025},
            "wim": wim,
            "devices": loop_devices(),
        }
    )


def _crossing(
    accel_of_t: np.ndarray, speed_kmh: float, offsets: np.ndarray, loads: np.ndarray, lever: bool = False
) -> Crossing:
    """The truck whose front axle passes x = -2 m at t = 1 s at ``speed_kmh`` and then accelerates as
    ``accel_of_t`` (m/s², one value per 0.1 ms from t = 0, constant speed before t = 1 s).  The four cells
    share the platform's load evenly, or, with ``lever``, by the lever rule (an axle ``u`` along the
    platform puts ``u`` of its load on the two exit cells), so that the centre of load places an axle
    that stands alone."""
    step = 1e-4
    fine_t = np.arange(accel_of_t.size) * step
    accel = np.where(fine_t < 1.0, 0.0, accel_of_t)
    speed = speed_kmh / 3.6 + np.concatenate(([0.0], np.cumsum(accel[:-1]) * step))
    assert speed.min() > 0
    front = -2.0 + np.concatenate(([0.0], np.cumsum(speed[:-1]) * step)) - speed_kmh / 3.6 * 1.0
    entry = np.array([np.interp(ENTRY_X + d, front, fine_t) for d in offsets])
    exit_ = np.array([np.interp(EXIT_X + d, front, fine_t) for d in offsets])
    t = np.arange(0, round((exit_[-1] + 0.3) * RATE_HZ)) / RATE_HZ
    assert t[-1] < fine_t[-1]
    x_front = np.interp(t, fine_t, front)
    a = np.interp(t, fine_t, accel)
    # Pitch transfer of a rigid body on springs as stiff as their loads: braking loads the front.
    ahead = -(offsets - np.dot(loads, offsets) / loads.sum())
    moved = np.outer(-loads.sum() * a * CG_HEIGHT_M / 9.81, loads * ahead / np.dot(loads, ahead**2))
    platform_kg = np.zeros(t.size)
    exit_kg = np.zeros(t.size)
    for axle, offset in enumerate(offsets):
        x = x_front - offset
        overlap = np.clip(
            np.minimum(x + FOOTPRINT_M / 2, PLATFORM_M) - np.maximum(x - FOOTPRINT_M / 2, 0.0), 0, None
        )
        on_kg = (loads[axle] + moved[:, axle]) * overlap / FOOTPRINT_M
        platform_kg += on_kg
        exit_kg += on_kg * np.clip(x / PLATFORM_M, 0.0, 1.0)
    rng = np.random.default_rng(5)
    exit_kg = exit_kg if lever else platform_kg / 2
    entry_kg = platform_kg - exit_kg
    cell_kg = np.column_stack([entry_kg, entry_kg, exit_kg, exit_kg]) / 2 + rng.normal(0.0, 2.0, (t.size, 4))
    counts = np.rint(30_000 + cell_kg / KG_PER_COUNT).astype(np.int32)
    tyres = ("single",) + ("dual",) * (offsets.size - 1)
    return Crossing(1, SampleWindow(t, counts, 0), RATE_HZ, entry, exit_, tyres, (), None)


def _steady(accel_mps2: float) -> np.ndarray:
    return np.full(40_000, accel_mps2)


def _pulse(accel_mps2: float, start_s: float, length_s: float) -> np.ndarray:
    """Constant speed, then ``accel_mps2`` for ``length_s`` from ``start_s``, then constant speed again."""
    t = np.arange(40_000) * 1e-4
    return np.where((t >= start_s) & (t < start_s + length_s), accel_mps2, 0.0)


def _judge(crossing: Crossing, strip_timing_sd_s: float = 1e-4, **wim: object) -> Judgement:
    return judge(crossing, _config(strip_timing_sd_s, **wim), LimitTable.load())


def _braking_reason(judgement: Judgement) -> list[str]:
    return [r for r in judgement.decision.reasons if "m/s² on the scale" in r]


def test_steady_hard_braking_is_judged_within_the_class() -> None:
    """-1.1 m/s² all through (above rules.max_accel_mps2 = 0.9) at 38 km/h, strips time-stamped to 0.1 ms:
    the strip times show it steady, so the truck is weighed, and within the class."""
    judgement = _judge(_crossing(_steady(-1.1), 38.0, OFFSETS, LOADS))
    m = judgement.measurement
    assert m is not None
    assert m.accel_mps2 == pytest.approx(-1.1, abs=0.05)
    assert judgement.decision.verdict.value != "reweigh", judgement.decision.reasons
    assert abs(m.gross_kg - LOADS.sum()) <= 0.025 * LOADS.sum()
    assert m.transfer_change_kg <= 0.025 * m.gross_kg


def test_a_brake_pulse_of_the_same_mean_deceleration_is_reweighed() -> None:
    """The same truck braking at -2.6 m/s² for 0.55 s while its rear axles cross (fitted -1.1 m/s², as the
    steady one): the gross is 8 % light, the strip times show the change of acceleration, and the braking
    sends it to re-weigh.  They show the pulse too (a misfit of about 40 times the 0.1 ms strips'
    noise), so on this one platform the pulse term carries the gross's uncertainty, and it covers the
    error."""
    crossing = _crossing(_pulse(-2.6, 1.68, 0.55), 38.0, OFFSETS, LOADS)
    judgement = _judge(crossing)
    m = judgement.measurement
    assert m is not None
    assert m.accel_mps2 == pytest.approx(-1.1, abs=0.1)
    assert abs(m.gross_kg - LOADS.sum()) > 0.05 * LOADS.sum()  # what would pass unseen
    assert m.transfer_change_kg > 0.025 * m.gross_kg
    assert judgement.decision.verdict.value == "reweigh"
    braking = _braking_reason(judgement)
    assert len(braking) == 1 and "leave room for a change of braking" in braking[0]
    assert abs(m.gross_kg - LOADS.sum()) <= m.gross_uncertainty_kg
    others = [r for r in judgement.decision.reasons if r not in braking]
    assert len(others) == 1 and others[0].startswith("gross uncertain"), judgement.decision.reasons


def test_steady_hard_braking_is_reweighed_when_the_strips_are_too_coarse_to_show_it() -> None:
    """With strip times good to +/-4 ms (the default) a 4.2 m platform cannot show that braking at 38 km/h
    was steady: the size of the acceleration decides, as before."""
    judgement = _judge(_crossing(_steady(-1.1), 38.0, OFFSETS, LOADS), strip_timing_sd_s=0.0023)
    assert judgement.decision.verdict.value == "reweigh"
    assert _braking_reason(judgement), judgement.decision.reasons


def test_a_two_axle_truck_braking_hard_is_reweighed_however_good_its_strips() -> None:
    """Two axles give four strip events for four unknowns: nothing is left to show the braking steady
    (cells sharing the load evenly: no centre of load places the axles)."""
    offsets, loads = np.array([0.0, 4.5]), np.array([7000.0, 11000.0])
    judgement = _judge(_crossing(_steady(-1.1), 38.0, offsets, loads))
    assert judgement.measurement is not None and np.isnan(judgement.measurement.transfer_change_kg)
    assert judgement.decision.verdict.value == "reweigh"
    assert "with two axles" in _braking_reason(judgement)[0]


def test_a_two_axle_truck_braking_steadily_is_judged_where_the_centre_of_load_shows_it() -> None:
    """Cells by the lever rule: the centre of load places each axle while it stands alone on the platform,
    so the two axles' own positions show the braking steady (the strips alone cannot), and the truck is
    weighed, within the class.  With strips this fine (0.1 ms): at the default +/-4 ms the change of
    acceleration it leaves possible is 1.7 % of the gross at 30 km/h but 3.2 % at 38 km/h, over the
    2.5 % allowed, and such a truck stays re-weighed."""
    offsets, loads = np.array([0.0, 4.5]), np.array([7000.0, 11000.0])
    judgement = _judge(_crossing(_steady(-1.1), 38.0, offsets, loads, lever=True))
    m = judgement.measurement
    assert m is not None and m.transfer_change_kg <= 0.025 * m.gross_kg
    assert judgement.decision.verdict.value != "reweigh", judgement.decision.reasons
    assert abs(m.gross_kg - loads.sum()) <= 0.025 * loads.sum()


def test_a_two_axle_truck_whose_brake_starts_after_its_front_axle_is_reweighed() -> None:
    """The same truck at 38 km/h braking at -3 m/s² for 0.5 s from just after its front axle has left
    the platform (fitted about -1.3 m/s²): the rear axle is weighed under the whole brake, the gross is
    3.2 % light (outside class 5), and the centre of load's places show the change of acceleration, so
    the braking sends it to re-weigh."""
    offsets, loads = np.array([0.0, 4.5]), np.array([7000.0, 11000.0])
    judgement = _judge(_crossing(_pulse(-3.0, 1.62, 0.5), 38.0, offsets, loads, lever=True))
    m = judgement.measurement
    assert m is not None
    assert abs(m.gross_kg - loads.sum()) > 0.025 * loads.sum()  # what would pass unseen
    assert m.transfer_change_kg > 0.025 * m.gross_kg
    assert judgement.decision.verdict.value == "reweigh"
    assert _braking_reason(judgement), judgement.decision.reasons


def _long_pulse(accel_mps2: float, start_s: float, length_s: float) -> np.ndarray:
    """:func:`_pulse` over 16 s: room for a crawl."""
    t = np.arange(160_000) * 1e-4
    return np.where((t >= start_s) & (t < start_s + length_s), accel_mps2, 0.0)


def test_a_throttle_pulse_on_the_steer_axles_time_is_reweighed_when_the_strips_place_it() -> None:
    """At 25 km/h, +0.9 m/s² for 0.6 s while the steer axle is alone on the platform: the pitch unloads it
    and nothing gives the load back, so the gross is 3 % light, outside the class, at a mean acceleration
    the rules allow.  Strips good to 0.1 ms show the pulse (a misfit of 2.4 cm, over 30 times their
    noise), so on this one platform the pulse term carries the gross's uncertainty by default, and it
    puts the gross beyond the class: re-weighed."""
    crossing = _crossing(_pulse(0.9, 1.3, 0.6), 25.0, OFFSETS, LOADS)
    judgement = _judge(crossing, 1e-4)
    m = judgement.measurement
    assert m is not None
    error_kg = m.gross_kg - LOADS.sum()
    assert abs(error_kg) > 0.025 * LOADS.sum()  # what would pass unseen
    assert abs(m.accel_mps2) < _config(1e-4).rules.max_accel_mps2
    assert m.profile_misfit_m > 30 * 1e-4 * 25.0 / 3.6
    assert abs(error_kg) <= m.gross_uncertainty_kg
    assert judgement.decision.verdict.value == "reweigh"
    assert [r for r in judgement.decision.reasons if "gross uncertain" in r], judgement.decision.reasons
    # The option adds nothing more where the term already took the misfit term's place.
    on = _judge(crossing, 1e-4, pulse_uncertainty=True).measurement
    assert on is not None and on.gross_uncertainty_kg == pytest.approx(m.gross_uncertainty_kg)


def test_the_same_pulse_at_the_axle_protocols_1_ms_is_reweighed_with_the_pulse_term() -> None:
    """The same truck with strips good to the axle sensor protocol's 1 ms (+/-1 ms uniform: 0.58 ms
    standard): the misfit is 5.6 times their noise, within the default's 6, so the default keeps the
    misfit term and passes the truck, 3 % light (a limit of the default, stated).  With
    ``wim.pulse_uncertainty`` the pulse term is added, and the load the pulse could have moved puts the
    gross's uncertainty beyond the class: re-weighed."""
    crossing = _crossing(_pulse(0.9, 1.3, 0.6), 25.0, OFFSETS, LOADS)
    plain = _judge(crossing, 0.00058)
    judgement = _judge(crossing, 0.00058, pulse_uncertainty=True)
    m = judgement.measurement
    assert m is not None and plain.measurement is not None
    assert plain.measurement.profile_misfit_m < PULSE_RESOLVED_NOISE_FACTOR * 0.00058 * m.speed_kmh / 3.6
    assert plain.decision.verdict.value == "pass"
    error_kg = m.gross_kg - LOADS.sum()
    assert abs(error_kg) > 0.025 * LOADS.sum()
    assert abs(error_kg) <= m.gross_uncertainty_kg
    assert judgement.decision.verdict.value == "reweigh"
    assert any("gross uncertain" in r for r in judgement.decision.reasons), judgement.decision.reasons


@pytest.mark.parametrize("start_s", [3.75, 6.0, 6.75])
def test_a_crawling_blip_carries_the_load_its_pulse_could_move(start_s: float) -> None:
    """At 6 km/h a blip of +0.35 m/s² for 0.5 s misfits the constant acceleration by 3.5-5 cm, about 10
    times the +/-4 ms strips' noise there, but lasts a sixth of each axle's 3 s on the platform and moves
    little load.  The pulse term, which the misfit shows, carries the gross's uncertainty in the misfit
    term's place (``load x misfit x sqrt(2) / 4.2 m`` in quadrature, which read it 2-3 times too
    uncertain): the gross's uncertainty is well under that term alone, and the error stays covered, the
    gross's and each axle's."""
    crossing = _crossing(_long_pulse(0.35, start_s, 0.5), 6.0, OFFSETS, LOADS)
    judgement = _judge(crossing, 0.0023)
    m = judgement.measurement
    assert m is not None
    assert m.profile_misfit_m > 0.03
    assert m.profile_misfit_m > PULSE_RESOLVED_NOISE_FACTOR * 0.0023 * m.speed_kmh / 3.6
    misfit_term_kg = 2 * float(
        np.sqrt(np.sum((np.array(m.axle_loads_kg) * m.profile_misfit_m * np.sqrt(2.0) / PLATFORM_M) ** 2))
    )
    assert m.gross_uncertainty_kg < 0.5 * misfit_term_kg
    assert abs(m.gross_kg - LOADS.sum()) <= m.gross_uncertainty_kg
    assert np.all(np.abs(np.array(m.axle_loads_kg) - LOADS) <= np.array(m.axle_uncertainties_kg))
    assert judgement.decision.verdict.value == "pass", judgement.decision.reasons
