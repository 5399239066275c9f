"""Where a static weighbridge gets a truck's axle count: an axle sensor at the deck entry, the site's own
table, the central registry, or the default (docs/weighbridge.md, edge/static/axles.py)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from edge.config import ConfigError, parse_config
from edge.static.axles import AxleCounter, Counted, resolve_axles
from tests.support.weighbridge import bridge_fixture  # noqa: F401  (the make_bridge fixture)

pytestmark = pytest.mark.timeout(120)

DUAL4 = ("dual",) * 4


def test_the_sensor_count_wins_and_disagreements_are_said() -> None:
    counted = Counted(DUAL4, 4)
    chosen = resolve_axles(counted, (6, (1, 2, 3)), (5, None), 6)
    assert (chosen.axles, chosen.source, chosen.groups, chosen.tyres) == (4, "sensor", (), DUAL4)
    assert chosen.notes == (
        "axles_differ: the axle sensor counted 4 axles, the config says 6",
        "axles_differ: the axle sensor counted 4 axles, the registry says 5",
    )
    agreeing = resolve_axles(Counted(("single", "dual", "dual"), 3), None, (3, (1, 2)), 6)
    assert (agreeing.source, agreeing.groups, agreeing.tyres, agreeing.notes) == (
        "sensor",
        (1, 2),  # the registry's groups, since its count agrees
        ("single", "dual", "dual"),
        (),
    )


def test_without_a_count_the_table_then_the_registry_then_the_default() -> None:
    config_first = resolve_axles(None, (5, ()), (6, (1, 2, 3)), 2)
    assert (config_first.axles, config_first.source, config_first.tyres) == (5, "config", ("dual",) * 5)
    assert config_first.notes == ("axles_differ: the config says 5 axles, the registry says 6",)
    registry = resolve_axles(None, None, (6, (1, 2, 3)), 2)
    assert (registry.axles, registry.source, registry.groups, registry.notes) == (
        6,
        "registry",
        (1, 2, 3),
        (),
    )
    default = resolve_axles(None, None, None, 3)
    assert (default.axles, default.source, default.notes) == (3, "default", ())
    one = resolve_axles(Counted(("dual",), 1), None, None, 6)  # a strip that saw one axle is not a count
    assert (one.axles, one.source) == (6, "default") and "counted 1 axle" in one.notes[0]


def test_the_counter_takes_back_what_reverses_off_and_forgets_earlier_trucks() -> None:
    counter = AxleCounter()
    for t, tyre in enumerate(("single", "dual", "dual", "dual"), start=1):
        counter.add(float(t), tyre, reverse=False)
    counter.add(5.0, "dual", reverse=True)  # backs off a little, then on again
    counter.add(6.0, "dual", reverse=False)
    seen = counter.since(0.0)
    assert seen is not None and seen.tyres == ("single", "dual", "dual", "dual") and seen.passages == 6
    for t in range(7, 11):
        counter.add(float(t), "dual", reverse=True)  # off the deck to unload
    assert counter.since(0.0) is None
    counter.add(20.0, "single", reverse=False)
    counter.add(21.0, "dual", reverse=False)
    later = counter.since(10.5)
    assert later is not None and later.axles == 2


def test_an_axle_sensor_switched_on_without_its_device_is_refused() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "weighbridge.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```toml\n(.*?)```", text, re.S)
    with_sensor = example.replace("[weighbridge]\n", "[weighbridge]\naxle_sensor = true\n")
    assert with_sensor != example
    with pytest.raises(ConfigError, match=r"needs devices\.axle_sensor"):
        parse_config(with_sensor)
    wired = with_sensor.replace(
        "\n[weighbridge]\n",
        '\n[devices.axle_sensor]\ntype = "tyre_recogniser"\nport = "/dev/weigh/axles"\n\n[weighbridge]\n',
    )
    assert parse_config(wired).weighbridge.axle_sensor is True


async def test_the_axle_sensor_at_the_deck_entry_sets_the_limit(make_bridge: Any) -> None:
    """A plate the site does not know (default 6 axles, 49 t) rolls on four axles over the strip: the
    four-axle limit (31 t) refuses it; backing off takes the axles away, and the re-weighing counts four
    again, not eight."""
    rig = make_bridge(axle_sensor=True)
    await rig.start()
    await rig.do("drive_on", "晋D44444", 34_000.0, axles=DUAL4)
    text = await rig.board("超载")
    assert "限31.00t" in text and "超载3.00t" in text, text
    first = (await rig.wait_records(1))[0]
    assert first.axle_count == 4 and first.limit is not None and first.limit.limit_kg == 31_000
    assert first.static is not None and first.static.axle_source == "sensor"
    assert "axle_sensor" in first.devices and first.devices["axle_sensor"]["state"] == "up"
    await rig.do("back_off")
    await asyncio.sleep(2.5)
    await rig.do("drive_on", "晋D44444", 30_500.0, axles=DUAL4)
    await rig.board("请通行")
    second = (await rig.wait_records(2))[1]
    assert second.axle_count == 4 and second.verdict.value == "pass"
    assert second.static is not None and second.static.axle_source == "sensor"
    assert rig.sim.axle_strip is not None and rig.sim.axle_strip.passages == 12


async def test_single_tyres_counted_by_the_sensor_lower_the_limit(make_bridge: Any) -> None:
    """Five axles (groups 1 + 1 + 3), the last one on single tyres: 43 t less the 3 t single-tyre
    deduction, as the lane applies it to an axle behind the drive group."""
    rig = make_bridge(axle_sensor=True)
    await rig.start()
    await rig.do("drive_on", "晋D55555", 41_500.0, axles=("single", "dual", "dual", "dual", "single"))
    text = await rig.board("超载")
    assert "限40.00t" in text, text
    record = (await rig.wait_records(1))[0]
    assert record.axle_count == 5 and record.limit is not None and record.limit.limit_kg == 40_000


async def test_the_registry_gives_the_axles_of_a_plate_the_site_does_not_list(make_bridge: Any) -> None:
    rig = make_bridge(vehicles={"晋D77777": {"axles": 5}})
    await rig.start()
    assert rig.daemon is not None
    registry = {
        "version": 1,
        "vehicles": [
            {"plate": "晋D66666", "axle_count": 4, "axle_groups": [2, 2]},
            {"plate": "晋D77777", "axle_count": 6},
        ],
    }
    ack = await rig.daemon.downlink.handle("registry", json.dumps(registry, ensure_ascii=False).encode())
    assert ack["status"] == "applied", ack
    await rig.do("drive_on", "晋D66666", 34_000.0)  # 4 axles by the registry: 31 t, not the default 49 t
    text = await rig.board("超载")
    assert "限31.00t" in text, text
    first = (await rig.wait_records(1))[0]
    assert first.static is not None and first.static.axle_source == "registry" and first.axle_count == 4
    await rig.do("back_off")
    await asyncio.sleep(2.5)
    await rig.do("drive_on", "晋D77777", 42_000.0)  # the site's table (5) before the registry (6)
    await rig.board("请通行")
    second = (await rig.wait_records(2))[1]
    assert second.static is not None and second.static.axle_source == "config"
    assert second.axle_count == 5 and second.limit is not None and second.limit.limit_kg == 43_000
    assert "axles_differ: the config says 5 axles, the registry says 6" in second.reasons
