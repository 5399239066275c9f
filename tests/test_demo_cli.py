"""`edge demo` as a user runs it: no broker, two vehicles, the outbox fills, nothing crashes; piped output is
plain lines in 80 columns that say why; the run folders stay bounded; `edge evidence verify` finds the run."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len

from edge import demo
from edge.evidence.record import EvidenceRecord


def _edge(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_demo_without_broker_fills_the_outbox_and_verify_finds_it(tmp_path: Path) -> None:
    cold = demo.kernels_cold()
    result = _edge("demo", "--vehicles", "2", "--no-broker", cwd=tmp_path)  # default --workdir var/demo
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "2 vehicles judged" in out
    assert "records stay in the SQLite outbox" in out
    # Piped: plain lines, no terminal codes, the table within 80 columns, a line under each row saying why.
    assert "\x1b[" not in out
    lines = out.splitlines()
    (header,) = [line for line in lines if line.lstrip().startswith("# plate")]
    rows = [line for line in lines if line[:3].strip() in ("1", "2")]
    assert len(rows) == 2
    assert all(cell_len(line) <= 80 for line in [header, *rows])
    for row in rows:
        why = lines[lines.index(row) + 1]
        assert why.startswith("    ") and "limit 18.0 t x 105 %" in why, why
    assert ("Compiling the weighing kernels" in out) == cold
    (database,) = (tmp_path / "var" / "demo").glob("run-*/evidence.db")
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] >= 2
        assert conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_utc IS NULL").fetchone()[0] >= 2
    assert "Check the evidence chain: edge evidence verify\n" in out
    verify = _edge("evidence", "verify", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert str(database.relative_to(tmp_path)) in verify.stderr
    assert "2 verified" in verify.stdout or "records (seq 1..2)" in verify.stdout


def test_evidence_verify_without_a_path_or_a_demo_run_says_what_to_give(tmp_path: Path) -> None:
    result = _edge("evidence", "verify", cwd=tmp_path)
    assert result.returncode == 2
    assert "--config" in result.stderr and "--database" in result.stderr and "var/demo" in result.stderr


def test_run_folders_are_bounded_and_the_newest_database_is_found(tmp_path: Path) -> None:
    made = []
    for stamp in ("20260101-000001", "20260101-000002", "20260101-000003"):
        folder = tmp_path / f"run-{stamp}"
        folder.mkdir()
        (folder / "evidence.db").write_bytes(b"")
        made.append(folder)
    assert demo.latest_database(tmp_path) == made[-1] / "evidence.db"
    fresh = demo.new_run_folder(tmp_path, keep=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [made[1].name, made[2].name, fresh.name]
    again = demo.new_run_folder(tmp_path, keep=3)  # the same second: a distinct folder
    assert again != fresh and len(list(tmp_path.iterdir())) == 3
    assert demo.latest_database(tmp_path / "nothing-here") is None


def _limit(**fields: object) -> dict[str, object]:
    return {
        "limit_kg": 46_000,
        "base_limit_kg": 49_000,
        "deductions": [],
        "rule_id": "6-combination-single-drive",
        "rule_text": "六轴汽车列车",
        "source": "交通运输部令2016年第62号",
        "tolerance_factor": 1.05,
        "threshold_kg": 48_300.0,
        **fields,
    }


def _record(verdict: str, **fields: object) -> EvidenceRecord:
    record: dict[str, object] = {
        "id": "r1",
        "site_id": "demo",
        "lane": 1,
        "time_utc": None,
        "axle_count": 6,
        "software": {"version": "0"},
        "vehicle_number": 1,
        "verdict": verdict,
        "vehicle_class": "6-combination",
        "wim": {"gross_kg": 47_200.0, "speed_kmh": 9.0},
        "limit": _limit(),
        "reasons": [],
    }
    record.update(fields)
    return EvidenceRecord.from_json_dict(record)


def test_the_line_under_a_row_names_tolerance_deductions_and_the_reweigh_reason() -> None:
    truth = [{"plate": "冀A10001", "gross_kg": 47_000.0}]
    limit = _limit(deductions=["axle 5 single tyres: -3000 kg"])
    within = demo._vehicle_lines(_record("pass", limit=limit), truth, 1.05).plain
    row, why = within.splitlines()
    assert cell_len(row) <= 80 and "PASS" in row and "47.20" in row and "46.0" in row
    assert why == "    47.20 t <= 48.30 t = limit 46.0 t x 105 %; limit 49.0 t, axle 5 single tyres: -3000 kg"
    over = demo._vehicle_lines(_record("overweight", wim={"gross_kg": 48_400.0}), truth, 1.05).plain
    assert "48.40 t > 48.30 t" in over
    reason = "the truck stopped on the scale for 4.0 s (stop-and-go)"
    reweigh = demo._vehicle_lines(_record("reweigh", reasons=[reason]), truth, 1.05).plain
    assert reweigh.splitlines()[1] == f"    re-weigh: {reason}"
    misread = demo._vehicle_lines(_record("pass", plate_reading={"text": "冀A10007"}), truth, 1.05).plain
    assert "plate is 冀A10001" in misread


def test_missing_cjk_fonts_leave_the_demo_without_camera_and_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from models.plates import render

    monkeypatch.setattr(render, "_CJK_FONTS", (tmp_path / "wqy-microhei.ttc",))
    folder, note = demo._camera_folder(tmp_path)
    assert folder is None
    assert note.startswith("No simulated camera: ") and "\n" not in note
    assert "fonts-wqy-microhei" in note and "fonts-noto-cjk" in note


def test_kernels_cold_is_true_only_until_they_are_compiled(tmp_path: Path) -> None:
    code = (
        "from edge.demo import kernels_cold; from edge.wim import kernels;"
        "print(kernels_cold()); kernels.warm_up(); print(kernels_cold())"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240, check=True
    )
    assert result.stdout.split() == ["True", "False"]
