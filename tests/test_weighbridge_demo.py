"""`edge demo --site weighbridge` as a user runs it (piped: plain lines)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)


def test_weighbridge_demo_keeps_the_overloaded_truck_in_until_it_is_reweighed(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge", "demo", "--site", "weighbridge", "--no-broker", "--workdir", "wb"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "\x1b[" not in out
    rows = [line.split() for line in out.splitlines() if line[:3].strip() in ("1", "2", "3", "4")]
    assert [(r[2], r[3], r[-1]) for r in rows] == [
        ("tare", "1", "pass"),
        ("gross", "1", "overweight"),
        ("gross", "2", "pass"),
        ("tare", "1", "reweigh"),
    ]
    assert "overloaded by 7000 kg" in out
    assert "plate_mismatch" in out
    (database,) = (tmp_path / "wb").glob("run-*/evidence.db")
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_utc IS NULL").fetchone()[0] == 4
