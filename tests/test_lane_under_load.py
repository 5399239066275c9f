"""Verdicts that do not depend on load: the lane beside a CPU hog on every core gives the scenario's
verdicts (a busy station PC must not turn a legal truck into a re-weigh, or the reverse)."""

from __future__ import annotations

from typing import Any

from firmware_sim.scenario import Scenario
from tests.support.load import cpu_hogs


async def test_a_cpu_hog_on_every_core_changes_no_verdict(
    make_rig: Any, short_scenario: Scenario, mosquitto: Any
) -> None:
    rig = make_rig(short_scenario, mosquitto.port, repeat=2)
    with cpu_hogs() as hogs:
        await rig.start()
        await rig.wait_records(2 * len(short_scenario.trucks), timeout_s=rig.sim.duration_s + 120)
        assert all(hog.poll() is None for hog in hogs), "the hogs ran throughout"
    expected = [t.expected_verdict for t in short_scenario.trucks] * 2
    got = [(r["verdict"], r["reasons"]) for r in rig.records]
    assert [verdict for verdict, _ in got] == expected, got
    truth = rig.sim.truth()
    for record, known in zip(rig.records, truth, strict=True):
        error = abs(record["wim"]["gross_kg"] - known["gross_kg"]) / known["gross_kg"]
        assert error < 0.02, (record["vehicle_number"], record["wim"], known["gross_kg"])
        assert record["wim"]["samples_lost"] == 0
        assert (record["lane_output"]["display"], record["lane_output"]["barrier"]) == ("ok", "ok")
