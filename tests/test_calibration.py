"""Static calibration: the wizard against the simulated digitiser on a real pty, the SQLite store, the CLI."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import textwrap
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import edge.cli_calibrate
from edge.calibration import (
    Calibration,
    CalibrationMismatch,
    CalibrationStoreError,
    DigitiserCountSource,
    DigitiserUnavailable,
    Instruction,
    PlatformCheck,
    SpanRefused,
    UnstableScale,
    activate_calibration,
    active_calibration,
    apply_calibration,
    calibrate_static,
    calibration_history,
    identity,
    save_calibration,
)
from edge.cli_calibrate import ClickPrompter, calibrate
from edge.config import load_config
from firmware_sim.lane import SimulatedLane
from firmware_sim.physics import LaneGeometry
from firmware_sim.pty import PtyPort
from firmware_sim.scenario import Scenario

NOMINAL_KG_PER_COUNT = 0.02  # the simulator's 50 counts per kg
TEST_WEIGHT_KG = 2000.0
FAST = {"settle_s": 0.2, "average_s": 0.3}  # seconds; the field defaults are 2 s and 3 s
N_PLATFORMS = 3

# Installation gain errors: the same within each platform (the platform method can fix these) ...
PLATFORM_GAIN_ERRORS = [0.03] * 4 + [-0.04] * 4 + [0.02] * 4
# ... and different for every cell (only the per-cell corner test can).
CELL_GAIN_ERRORS = [0.03, -0.02, 0.01, 0.04, -0.03, 0.02, 0.0, -0.015, 0.05, -0.04, 0.02, 0.01]


def _quiet_scenario() -> Scenario:
    """One truck that arrives an hour after the start: nothing crosses the scale during a test."""
    return Scenario.model_validate(
        {
            "name": "calibration",
            "seed": 11,
            "gap_s": 1.0,
            "truck": [
                {
                    "plate": "冀A00001",
                    "body": "rigid",
                    "speed_kmh": 10.0,
                    "axle_loads_kg": [6000.0, 9000.0],
                    "axle_spacings_m": [4.0],
                    "tyres": ["single", "dual"],
                    "front_overhang_m": 1.2,
                    "rear_overhang_m": 1.5,
                    "expected_verdict": "pass",
                }
            ],
        }
    )


@pytest.fixture
def make_sim(tmp_path: Path) -> Iterator[Any]:
    sims: list[SimulatedLane] = []

    def factory(**options: Any) -> SimulatedLane:
        sim = SimulatedLane(
            _quiet_scenario(),
            LaneGeometry(platform_lengths_m=(6.0,) * N_PLATFORMS),
            t0_s=3600.0,
            link_dir=tmp_path / f"ports{len(sims)}",
            **options,
        )
        sims.append(sim)
        sim.start()
        return sim

    yield factory
    for sim in sims:
        sim.stop()


class SimPrompter:
    """The technician: moves the simulator's test weight as each instruction says, enters a mass."""

    def __init__(self, sim: SimulatedLane, true_mass_kg: float, entered_mass_kg: float | None = None) -> None:
        self.sim = sim
        self.true_mass_kg = true_mass_kg
        self.entered_mass_kg = true_mass_kg if entered_mass_kg is None else entered_mass_kg
        self.steps: list[Instruction] = []
        self.messages: list[str] = []

    async def step(self, instruction: str) -> None:
        assert isinstance(instruction, Instruction)
        self.steps.append(instruction)
        self.sim.clear_test_weights()
        if instruction.action == "place":
            self.sim.place_test_weight(instruction.platform, self.true_mass_kg, instruction.u, instruction.w)

    async def ask_float(self, question: str) -> float:
        return self.entered_mass_kg

    def show(self, message: str) -> None:
        self.messages.append(message)


async def _run_wizard(sim: SimulatedLane, prompter: SimPrompter, **options: Any) -> tuple[Calibration, Any]:
    """Calibrate, then weigh the test weight off centre with the result: (calibration, weigh function)."""
    source = DigitiserCountSource(sim.ports["wim"].path, 4 * N_PLATFORMS, read_timeout_s=0.5)
    async with source:
        cal = await calibrate_static(
            source,
            prompter,
            n_platforms=N_PLATFORMS,
            nominal_kg_per_count=NOMINAL_KG_PER_COUNT,
            technician="张工",
            reference="JL-2026-0042",
            **{**FAST, **options},
        )
        weighed = {}
        for platform, (u, w) in enumerate([(0.3, 0.7), (0.8, 0.2), (0.15, 0.35)]):
            sim.clear_test_weights()
            sim.place_test_weight(platform, TEST_WEIGHT_KG, u, w)
            # Settle as the wizard does: samples already on the wire when the weight moved must not count
            # (without this, a busy CI machine averaged in 2.5 % of empty-scale samples).
            await asyncio.sleep(FAST["settle_s"])
            reading = await source.read(0.4)
            ch = slice(4 * platform, 4 * platform + 4)
            weighed[platform] = float(
                (reading.mean_counts[ch] - np.asarray(cal.zero_counts[ch])) @ np.asarray(cal.kg_per_count[ch])
            )
        sim.clear_test_weights()
    return cal, weighed


def _true_kg_per_count(gain_errors: list[float]) -> np.ndarray:
    return NOMINAL_KG_PER_COUNT / (1.0 + np.asarray(gain_errors))


async def test_platform_calibration_recovers_span_and_zero(make_sim: Any) -> None:
    sim = make_sim(cell_gain_errors=PLATFORM_GAIN_ERRORS)
    prompter = SimPrompter(sim, TEST_WEIGHT_KG)
    cal, weighed = await _run_wizard(sim, prompter)

    assert cal.method == "platform"
    assert cal.calibration_id.startswith("CAL-")
    assert cal.technician == "张工" and cal.reference == "JL-2026-0042"
    span_error = np.asarray(cal.kg_per_count) / _true_kg_per_count(PLATFORM_GAIN_ERRORS) - 1.0
    assert np.max(np.abs(span_error)) < 0.002, span_error
    assert sim.cells.zero_counts is not None
    zero_error_kg = (np.asarray(cal.zero_counts) - sim.cells.zero_counts) * NOMINAL_KG_PER_COUNT
    assert np.max(np.abs(zero_error_kg)) < 3.0, zero_error_kg
    assert cal.test_weights_kg == (TEST_WEIGHT_KG,) * N_PLATFORMS
    assert [c.platform for c in cal.checks] == [0, 1, 2]
    assert all(c.passed and abs(c.check_error_pct) < 0.2 for c in cal.checks), cal.checks
    assert [round(c.span_factor, 2) for c in cal.checks] == [0.97, 1.04, 0.98]
    for platform, measured_kg in weighed.items():
        assert abs(measured_kg / TEST_WEIGHT_KG - 1.0) < 0.002, (platform, measured_kg)
    # Every platform: empty, centre, off-centre check; then the weight comes off.
    assert [s.action for s in prompter.steps] == ["empty", "place", "place"] * N_PLATFORMS + ["empty"]
    assert all("平台" in s and "Platform" in s for s in prompter.steps[:-1])


async def test_per_cell_calibration_recovers_each_cell_gain(make_sim: Any) -> None:
    sim = make_sim(cell_gain_errors=CELL_GAIN_ERRORS)
    prompter = SimPrompter(sim, TEST_WEIGHT_KG)
    cal, weighed = await _run_wizard(sim, prompter, per_cell=True)

    assert cal.method == "cell"
    recovered_gain = NOMINAL_KG_PER_COUNT / np.asarray(cal.kg_per_count)
    gain_error = recovered_gain / (1.0 + np.asarray(CELL_GAIN_ERRORS)) - 1.0
    assert np.max(np.abs(gain_error)) < 0.005, gain_error
    assert all(c.passed and abs(c.check_error_pct) < 0.2 for c in cal.checks), cal.checks
    assert all(c.corner_residual_kg is not None for c in cal.checks)
    for platform, measured_kg in weighed.items():
        assert abs(measured_kg / TEST_WEIGHT_KG - 1.0) < 0.002, (platform, measured_kg)
    corners = [(s.u, s.w) for s in prompter.steps if s.action == "place" and s.platform == 0]
    assert corners == [(0.5, 0.5), (0.1, 0.1), (0.1, 0.9), (0.9, 0.1), (0.9, 0.9), (0.25, 0.75)]


async def test_unstable_readings_are_refused(make_sim: Any) -> None:
    sim = make_sim(noise_kg=200.0)
    prompter = SimPrompter(sim, TEST_WEIGHT_KG)
    with pytest.raises(UnstableScale, match=r"unstable reading.*moving on the scale.*Gave up after 2"):
        await _run_wizard(sim, prompter, max_attempts=2)
    assert len(prompter.messages) >= 2
    assert "something is moving" in prompter.messages[-1].lower()
    assert [s.action for s in prompter.steps] == ["empty", "empty"]  # re-asked before giving up


async def test_wrong_test_weight_is_refused(make_sim: Any) -> None:
    sim = make_sim(cell_gain_errors=PLATFORM_GAIN_ERRORS)
    prompter = SimPrompter(sim, TEST_WEIGHT_KG, entered_mass_kg=TEST_WEIGHT_KG * 1.2)
    with pytest.raises(SpanRefused, match=r"differs from\s+nominal by 1\d\.\d %.*Check the mass you entered"):
        await _run_wizard(sim, prompter, max_attempts=2)
    assert any("span refused" in m for m in prompter.messages)


async def test_silent_digitiser_and_missing_port_are_reported(tmp_path: Path) -> None:
    with pytest.raises(DigitiserUnavailable, match=r"cannot open .*devices\.wim\.port"):
        async with DigitiserCountSource(str(tmp_path / "no-such-port"), 12):
            pass
    port = PtyPort("wim", tmp_path)  # opens fine, but nothing ever speaks on it
    try:
        with pytest.raises(DigitiserUnavailable, match=r"no load samples .*powered"):
            async with DigitiserCountSource(port.path, 12, read_timeout_s=0.2):
                pass
    finally:
        port.close()


# -- store -------------------------------------------------------------------------------------------


def _calibration(calibration_id: str, created_utc: str, span: float = 0.0201) -> Calibration:
    check = PlatformCheck(
        platform=0,
        test_weight_kg=2000.0,
        span_factor=1.005,
        check_u=0.25,
        check_w=0.75,
        check_measured_kg=2000.4,
        check_error_kg=0.4,
        check_error_pct=0.02,
        passed=True,
    )
    return Calibration(
        calibration_id=calibration_id,
        created_utc=created_utc,
        technician="李师傅",
        reference="JL-2026-0042",
        method="platform",
        zero_counts=tuple(30000.0 + i for i in range(12)),
        kg_per_count=(span,) * 12,
        test_weights_kg=(2000.0, 2000.0, 2000.0),
        checks=(check, replace(check, platform=1), replace(check, platform=2)),
        valid_until_utc=created_utc.replace("2026", "2027"),
        notes="annual",
        nominal_kg_per_count=(0.02,) * 12,
    )


def _active_rows(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM calibrations WHERE active = 1").fetchone()[0])


def test_store_round_trip_keeps_exactly_one_active(tmp_path: Path) -> None:
    db = tmp_path / "evidence.db"
    assert active_calibration(db) is None
    assert calibration_history(db) == []
    assert not db.exists()  # reading never creates the database

    first = _calibration("CAL-20261122-083000", "2026-11-22T08:30:00Z")
    second = _calibration("CAL-20261123-090000", "2026-11-23T09:00:00Z", span=0.0199)
    save_calibration(db, first)
    assert active_calibration(db) == first
    save_calibration(db, second)
    assert active_calibration(db) == second
    assert _active_rows(db) == 1
    assert calibration_history(db) == [second, first]  # newest first

    third = _calibration("CAL-20261124-100000", "2026-11-24T10:00:00Z")
    save_calibration(db, third, activate=False)
    assert active_calibration(db) == second
    activate_calibration(db, first.calibration_id)
    assert active_calibration(db) == first
    assert _active_rows(db) == 1
    with pytest.raises(CalibrationStoreError, match="already stored"):
        save_calibration(db, first)
    with pytest.raises(CalibrationStoreError, match="no calibration 'CAL-nope'"):
        activate_calibration(db, "CAL-nope")
    assert active_calibration(db) == first  # a failed activation changes nothing
    with closing(sqlite3.connect(db)) as conn:  # the database itself refuses a second active row
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE calibrations SET active = 1")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    assert identity(first) == {
        "id": "CAL-20261122-083000",
        "created_utc": "2026-11-22T08:30:00Z",
        "technician": "李师傅",
        "reference": "JL-2026-0042",
        "valid_until_utc": "2027-11-22T08:30:00Z",
        "method": "platform",
    }


def _write_config(tmp_path: Path, wim_port: str = "loop://") -> Path:
    path = tmp_path / "lane.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [site]
            id = "test-station"
            lane = 1

            [devices]
            wim = {{ type = "wim_digitiser", port = "{wim_port}" }}
            separator = {{ type = "light_curtain", port = "loop://" }}
            axle_sensor = {{ type = "tyre_recogniser", port = "loop://" }}
            display = {{ type = "led_display", port = "loop://" }}
            barrier = {{ type = "barrier", port = "loop://" }}

            [evidence]
            database = "{tmp_path / "evidence.db"}"
            """
        ),
        encoding="utf-8",
    )
    return path


def test_apply_calibration_overrides_the_configured_span(tmp_path: Path) -> None:
    config = load_config(_write_config(tmp_path))
    cal = _calibration("CAL-20261122-083000", "2026-11-22T08:30:00Z")
    calibrated = apply_calibration(config, cal)
    assert calibrated.scale.kg_per_count == cal.kg_per_count
    assert calibrated.scale.platform_lengths_m == config.scale.platform_lengths_m
    assert config.scale.kg_per_count == 0.02  # the original is untouched
    short = replace(cal, zero_counts=cal.zero_counts[:8], kg_per_count=cal.kg_per_count[:8])
    with pytest.raises(CalibrationMismatch, match="8 cells but the configured scale has 12"):
        apply_calibration(config, short)


# -- command line ------------------------------------------------------------------------------------


def test_cli_history_and_show_on_empty_and_filled_database(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    runner = CliRunner()

    result = runner.invoke(calibrate, ["history", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "no calibrations" in result.output
    result = runner.invoke(calibrate, ["history", "--config", str(config), "--json"])
    assert json.loads(result.output) == []
    result = runner.invoke(calibrate, ["show", "--config", str(config)])
    assert result.exit_code == 0 and "no active calibration" in result.output
    result = runner.invoke(calibrate, ["show", "--config", str(config), "--json"])
    assert json.loads(result.output) is None

    db = tmp_path / "evidence.db"
    save_calibration(db, _calibration("CAL-20261122-083000", "2026-11-22T08:30:00Z"))
    save_calibration(db, _calibration("CAL-20261123-090000", "2026-11-23T09:00:00Z"), activate=False)

    result = runner.invoke(calibrate, ["history", "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].startswith("  CAL-20261123-090000")
    assert lines[2].startswith("* CAL-20261122-083000") and "李师傅" in lines[2]
    history = json.loads(runner.invoke(calibrate, ["history", "--config", str(config), "--json"]).output)
    assert [(h["calibration_id"], h["active"]) for h in history] == [
        ("CAL-20261123-090000", False),
        ("CAL-20261122-083000", True),
    ]

    result = runner.invoke(calibrate, ["show", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "CAL-20261122-083000" in result.output and "JL-2026-0042" in result.output
    assert "entry-left" in result.output
    shown = json.loads(runner.invoke(calibrate, ["show", "--config", str(config), "--json"]).output)
    assert shown["calibration_id"] == "CAL-20261122-083000" and shown["active"] is True

    result = runner.invoke(calibrate, ["activate", "--config", str(config), "CAL-20261123-090000"])
    assert result.exit_code == 0, result.output
    shown = json.loads(runner.invoke(calibrate, ["show", "--config", str(config), "--json"]).output)
    assert shown["calibration_id"] == "CAL-20261123-090000"


def test_cli_static_reports_a_port_that_cannot_open(tmp_path: Path) -> None:
    config = _write_config(tmp_path, wim_port=str(tmp_path / "no-such-port"))
    result = CliRunner().invoke(
        calibrate, ["static", "--config", str(config), "--technician", "张工", "--reference", "JL-1", "--yes"]
    )
    assert result.exit_code == 1
    assert "cannot open" in result.output and "nothing saved" in result.output
    assert active_calibration(tmp_path / "evidence.db") is None


def test_cli_static_wizard_end_to_end(tmp_path: Path, make_sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = make_sim(cell_gain_errors=PLATFORM_GAIN_ERRORS)
    config = _write_config(tmp_path, wim_port=sim.ports["wim"].path)

    class MovingPrompter(ClickPrompter):
        """The terminal prompter, with the simulator's weight moved as each instruction says."""

        async def step(self, instruction: str) -> None:
            assert isinstance(instruction, Instruction)
            sim.clear_test_weights()
            if instruction.action == "place":
                sim.place_test_weight(instruction.platform, TEST_WEIGHT_KG, instruction.u, instruction.w)
            await super().step(instruction)

    monkeypatch.setattr(edge.cli_calibrate, "ClickPrompter", MovingPrompter)
    enters = "\n" * (3 * N_PLATFORMS + 1)
    result = CliRunner().invoke(
        calibrate,
        ["static", "--config", str(config), "--settle-s", "0.2", "--average-s", "0.3"],
        input=f"王工\nJL-2026-0042\n{TEST_WEIGHT_KG}\n{enters}y\n",
    )
    assert result.exit_code == 0, result.output
    assert "saved and activated CAL-" in result.output
    assert "FAILED" not in result.output
    cal = active_calibration(tmp_path / "evidence.db")
    assert cal is not None and cal.technician == "王工" and cal.reference == "JL-2026-0042"
    span_error = np.asarray(cal.kg_per_count) / _true_kg_per_count(PLATFORM_GAIN_ERRORS) - 1.0
    assert np.max(np.abs(span_error)) < 0.002
