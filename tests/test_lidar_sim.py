"""The simulated gantry's geometry, checked by hand on a box: the ranges a scanner must see."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware_sim.lidar_scene import (
    FAULTS,
    Part,
    Passage,
    VehicleShape,
    default_gantry,
    simulate_passage,
)


def _box_truck() -> VehicleShape:
    # a plain box 8 m long, 2.5 m wide, 1.0-3.9 m high: no cab, so every slice is the same rectangle
    return VehicleShape("box", (Part(0.0, 8.0, -1.25, 1.25, 1.0, 3.9),))


def test_ranges_to_a_box_are_what_geometry_says() -> None:
    passage = Passage(_box_truck(), speed_m_s=2.0, approach_m=2.0)
    gantry = {m.name: m for m in default_gantry()}
    sim = simulate_passage(passage, tuple(gantry.values()), FAULTS["clean"], np.random.default_rng(0))
    overhead, left = gantry["overhead"], gantry["left"]
    t = sim.times_s["overhead"]
    inside = (passage.travel_at(t) > 3.0) & (passage.travel_at(t) < 9.0)  # the box is under the gantry
    down = 190  # -5 deg + 190 x 0.5 deg = 90 deg ahead, straight down at mount 180
    assert math.degrees(overhead.beam_angles_rad()[down]) % 360 == pytest.approx(270.0)
    assert np.all(sim.ranges_mm["overhead"][inside, down] == round((6.5 - 3.9) * 1000))
    empty = passage.travel_at(t) < 1.9  # the front has not reached the plane: the road
    assert np.all(sim.ranges_mm["overhead"][empty, down] == 6500)
    # the left post's beam at 90 deg points along +y at 1.6 m height: it meets the box's side
    t_left = sim.times_s["left"]
    inside_left = (passage.travel_at(t_left) > 3.0) & (passage.travel_at(t_left) < 9.0)
    assert math.degrees(left.beam_angles_rad()[down]) % 360 == pytest.approx(0.0)
    assert np.all(sim.ranges_mm["left"][inside_left, down] == round((3.2 - 1.25) * 1000))
    # a beam 30 deg up from the left post hits the side too: y = -1.25 at distance 1.95 / cos 30
    up30 = down + 60
    assert np.all(sim.ranges_mm["left"][inside_left, up30] == round(1950 / math.cos(math.radians(30))))


def test_a_tanker_barrel_is_round() -> None:
    barrel = VehicleShape("barrel", (Part(0.0, 8.0, 0.0, 0.0, 2.4, radius_m=1.2),))
    passage = Passage(barrel, speed_m_s=2.0)
    overhead = default_gantry()[0]
    sim = simulate_passage(passage, (overhead,), FAULTS["clean"], np.random.default_rng(0))
    t = sim.times_s["overhead"]
    row = sim.ranges_mm["overhead"][np.argmax(passage.travel_at(t) > 4.0)]
    angles = overhead.beam_angles_rad()
    y = row / 1000.0 * np.cos(angles)
    z = 6.5 + row / 1000.0 * np.sin(angles)
    on_barrel = (row > 0) & (z > 2.5)
    assert on_barrel.sum() > 20
    np.testing.assert_allclose(np.hypot(y[on_barrel], z[on_barrel] - 2.4), 1.2, atol=0.002)


def test_an_upstream_scanner_sees_the_vehicle_baseline_over_speed_earlier() -> None:
    from firmware_sim.lidar_scene import speed_pair_gantry

    passage = Passage(_box_truck(), speed_m_s=2.0, approach_m=6.0)
    gantry = {m.name: m for m in speed_pair_gantry(4.0)}
    assert gantry["upstream"].x_m == -4.0 and gantry["upstream"].mount_deg == gantry["overhead"].mount_deg
    sim = simulate_passage(passage, tuple(gantry.values()), FAULTS["clean"], np.random.default_rng(0))
    down = 190

    def front_s(name: str) -> float:
        return float(sim.times_s[name][np.argmax(sim.ranges_mm[name][:, down] < 6000)])

    # the front reaches the upstream plane after 2 m (1 s), the gantry plane after 6 m (3 s); 100 Hz scans
    assert front_s("upstream") == pytest.approx(1.0, abs=0.011)
    assert front_s("overhead") == pytest.approx(3.0, abs=0.011)
    with pytest.raises(ValueError, match="approach_m"):
        simulate_passage(
            Passage(_box_truck(), approach_m=2.0),
            (gantry["upstream"],),
            FAULTS["clean"],
            np.random.default_rng(0),
        )
