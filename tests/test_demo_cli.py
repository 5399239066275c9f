"""`edge demo` as a user runs it: no broker, two vehicles, the outbox fills, nothing crashes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path


def test_demo_without_broker_fills_the_outbox(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge", "demo", "--vehicles", "2", "--no-broker", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 vehicles judged" in result.stdout
    assert "records stay in the SQLite outbox" in result.stdout
    (database,) = tmp_path.glob("evidence-*.db")
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] >= 2
        assert conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_utc IS NULL").fetchone()[0] >= 2
