"""A full evidence disk on the simulated lane (real ptys): the lane keeps deciding, the LED board says
磁盘已满 under each verdict, health and the heartbeat say disk full, and all clears once there is room."""

from __future__ import annotations

import asyncio
from typing import Any

from edge.actuate.lane_output import DISK_FULL_LINE, with_notice
from firmware_sim.scenario import Scenario


def test_the_notice_takes_the_last_line_of_a_full_board() -> None:
    assert with_notice(("a", "b"), None) == ("a", "b")
    assert with_notice(("a", "b"), "n") == ("a", "b", "n")
    assert with_notice(("a", "b", "c", "d"), "n") == ("a", "b", "c", "n")


async def _until(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.1)


async def test_full_disk_on_the_board_and_in_health_while_the_lane_decides(
    short_scenario: Scenario, make_rig: Any
) -> None:
    rig = make_rig(short_scenario)
    await rig.start()
    store = rig.daemon.store

    def limit(pages: int | None) -> None:  # SQLite's "database or disk is full", in the store's thread
        conn = store._db.conn
        count = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {count if pages is None else pages}")

    await store._call(limit, None)
    expected = [truck.expected_verdict for truck in short_scenario.trucks]
    await rig.wait_records(len(expected), 90)
    assert [r["verdict"] for r in rig.records] == expected, "the lane kept deciding"
    waiting = rig.daemon.recorder.waiting_for_disk
    assert waiting >= 2, "the records after the first wait in the spool"
    assert rig.daemon.health()["evidence"]["disk_full"] is True
    assert rig.daemon.status_summary()["disk_full"] is True
    verdict_boards = [
        shown.lines for shown in rig.sim.display_log if any("请通行" in x or "超限" in x for x in shown.lines)
    ]
    assert len(verdict_boards) == len(expected)
    assert all(DISK_FULL_LINE in lines for lines in verdict_boards[-2:]), verdict_boards
    assert any("超限" in lines[0] and lines[-1] == DISK_FULL_LINE for lines in verdict_boards)

    await store._call(limit, 1_000_000)  # the technician freed space
    await _until(lambda: rig.daemon.recorder.waiting_for_disk == 0, 10, "the spool was never replayed")
    assert rig.daemon.health()["evidence"]["disk_full"] is False
    assert (await store.counts())["records"] == len(expected)
    await _until(
        lambda: rig.sim.display_log and DISK_FULL_LINE not in rig.sim.display_log[-1].lines,
        15,
        "the idle board kept saying disk full",
    )
    assert rig.sim.display_log[-1].lines[0] == rig.config.lane.idle_lines[0]
