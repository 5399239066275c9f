"""Raw captures: write/read round trip, replay through judge(), the documented format, the daemon's writer."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from edge.cli_wim import wim
from edge.config import Config, WimConfig
from edge.judge import Judgement, judge
from edge.lane.buffer import SampleWindow
from edge.lane.crossing import Crossing
from edge.rules import LimitTable
from edge.wim.capture import (
    CaptureError,
    CaptureWriter,
    read_capture,
    write_capture,
)
from firmware_sim.physics import LaneGeometry, LoadCellModel, TruckMotion, cell_loads_kg, schedule
from firmware_sim.scenario import Truck, load_scenario
from tests.support.configs import loop_devices

REPO = Path(__file__).resolve().parents[1]
GEOMETRY = LaneGeometry()
RATE_HZ = 1000
HOST_CLOCK_S = 84_123.456  # the daemon's times are host monotonic seconds, far from 0

CONFIG = Config.model_validate(
    {
        "site": {"id": "capture-test", "lane": 2},
        "devices": loop_devices(),
    }
)
LIMITS = LimitTable.load()
# A lane with dynamic corrections and its own tolerance: replay must use the capture's, not defaults.
CORRECTED = CONFIG.model_copy(
    update={
        "rules": CONFIG.rules.model_copy(update={"tolerance_factor": 1.02}),
        "wim": WimConfig(
            corrections={"default": (1.03, 0.98, 0.97, 1.0), "2-rigid": (0.95, 0.96, 0.99, 1.0)}
        ),
    }
)


def physics_crossing(motion: TruckMotion, number: int = 1, seed: int = 0, **changes: Any) -> Crossing:
    """A crossing as the daemon builds it, from the simulator's physical model (see test_wim_estimate)."""
    entry_t = motion.axle_crossing_times(GEOMETRY.entry_strip_x_m)
    exit_t = motion.axle_crossing_times(GEOMETRY.exit_x_m)
    preroll_s = CONFIG.scale.preroll_s
    t = (
        np.arange(np.floor((entry_t[0] - preroll_s) * RATE_HZ), np.ceil((exit_t[-1] + 0.05) * RATE_HZ))
        / RATE_HZ
    )
    counts = LoadCellModel(GEOMETRY.n_channels, seed=seed).counts(t, cell_loads_kg([motion], t, GEOMETRY))
    fields: dict[str, Any] = {
        "vehicle_number": number,
        "window": SampleWindow(t + HOST_CLOCK_S, counts, 0),
        "sample_rate_hz": RATE_HZ,
        "entry_t_s": entry_t + HOST_CLOCK_S,
        "exit_t_s": exit_t + HOST_CLOCK_S,
        "tyres": tuple(motion.truck.tyres),
        "problems": (),
        "fallback_zero_counts": None,
    }
    fields.update(changes)
    return Crossing(**fields)


@pytest.fixture(scope="module")
def motions() -> list[TruckMotion]:
    return [m for m in schedule(load_scenario("default"), GEOMETRY) if m.truck.stop_on_scale_s == 0]


@pytest.fixture(scope="module")
def truck_crossing(motions: list[TruckMotion]) -> tuple[Truck, Crossing]:
    return motions[0].truck, physics_crossing(motions[0], number=17)


def replay(*args: str | Path) -> tuple[int, list[dict[str, Any]], str]:
    result = CliRunner().invoke(wim, ["replay", *(str(a) for a in args)], catch_exceptions=False)
    lines = [json.loads(line) for line in result.stdout.splitlines()] if "--json" in args else []
    return result.exit_code, lines, result.output


def live_result(judgement: Judgement) -> dict[str, Any]:
    """What the lane's record of a judgement keeps in a capture (EvidenceRecord.live_result)."""
    m = judgement.measurement.as_dict() if judgement.measurement is not None else {}
    return {
        "record_id": "3f1c2a9e-0000-4000-8000-000000000001",
        "time_utc": None,
        "verdict": judgement.decision.verdict.value,
        "reasons": list(judgement.decision.reasons),
        "vehicle_class": judgement.vehicle_class.code,
        "limit_kg": judgement.limit.limit_kg,
        "gross_kg": m.get("gross_kg"),
        "axle_loads_kg": m.get("axle_loads_kg"),
        "axle_spacings_m": m.get("axle_spacings_m"),
        "speed_kmh": m.get("speed_kmh"),
        "correction_factor": judgement.correction_factor,
    }


# -- round trip --------------------------------------------------------------------------------------


def _same_array(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()  # bit-exact, NaN payloads included


@pytest.mark.parametrize("variant", ["complete", "unfinished", "no axles"])
def test_round_trip_is_bit_exact(
    tmp_path: Path, truck_crossing: tuple[Truck, Crossing], variant: str
) -> None:
    _, crossing = truck_crossing
    if variant == "unfinished":  # the last axle never reached the exit strip; the lane had a zero
        exit_t = crossing.exit_t_s.copy()
        exit_t[-1] = np.nan
        crossing = Crossing(
            vehicle_number=3,
            window=SampleWindow(crossing.window.times_s, crossing.window.counts, 4),
            sample_rate_hz=RATE_HZ,
            entry_t_s=crossing.entry_t_s,
            exit_t_s=exit_t,
            tyres=crossing.tyres,
            problems=("separator saw two vehicles", "车辆分离异常"),
            fallback_zero_counts=np.median(crossing.window.counts[:100], axis=0) + 0.25,
        )
    if variant == "no axles":  # a session closed without any axle: the lane still records it
        crossing = Crossing(
            vehicle_number=4,
            window=SampleWindow(np.zeros(0), np.zeros((0, 12), dtype=np.int32), 0),
            sample_rate_hz=RATE_HZ,
            entry_t_s=np.zeros(0),
            exit_t_s=np.zeros(0),
            tyres=(),
            problems=("vehicle left without crossing the axle strips",),
            fallback_zero_counts=None,
        )
    path = tmp_path / "round.wlcap"
    size = write_capture(path, crossing, CONFIG, live_result={"verdict": "pass", "gross_kg": float("nan")})
    assert size == path.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == ["round.wlcap"]  # no temporary file left

    capture = read_capture(path)
    back = capture.crossing
    _same_array(back.window.counts, crossing.window.counts)
    _same_array(back.window.times_s, crossing.window.times_s)
    _same_array(back.entry_t_s, crossing.entry_t_s)
    _same_array(back.exit_t_s, crossing.exit_t_s)
    if crossing.fallback_zero_counts is None:
        assert back.fallback_zero_counts is None
    else:
        assert back.fallback_zero_counts is not None
        _same_array(back.fallback_zero_counts, crossing.fallback_zero_counts)
    assert back.window.samples_lost == crossing.window.samples_lost
    assert (back.vehicle_number, back.sample_rate_hz) == (crossing.vehicle_number, crossing.sample_rate_hz)
    assert (back.tyres, back.problems) == (crossing.tyres, crossing.problems)
    assert capture.config.scale == CONFIG.scale
    assert capture.config.rules == CONFIG.rules
    assert capture.config.wim.corrections == CONFIG.wim.corrections
    meta = capture.meta
    assert (meta.format, meta.version, meta.site_id, meta.lane) == ("weighlane-capture", 1, "capture-test", 2)
    assert meta.live_result is not None and meta.live_result.gross_kg is None  # NaN is written as null
    assert capture.limits_toml == Path(LIMITS.path).read_text(encoding="utf-8")
    assert judge(back, capture.config, LIMITS).decision == judge(crossing, CONFIG, LIMITS).decision


def test_judge_on_the_read_crossing_equals_judge_on_the_original(
    tmp_path: Path, motions: list[TruckMotion]
) -> None:
    for number, motion in enumerate(motions[:3]):
        crossing = physics_crossing(motion, number=number, seed=number)
        path = tmp_path / f"{number}.wlcap"
        live_judgement = judge(crossing, CORRECTED, LIMITS)
        write_capture(path, crossing, CORRECTED, live_result=live_result(live_judgement))
        capture = read_capture(path)
        assert capture.config.wim.corrections == CORRECTED.wim.corrections
        live, replayed = judge(crossing, CORRECTED, LIMITS), judge(capture.crossing, capture.config, LIMITS)
        assert live.measurement is not None and replayed.measurement is not None
        assert live.correction_factor != 1.0
        assert replayed.correction_factor == live.correction_factor
        assert replayed.gross_kg == live.gross_kg
        assert replayed.measurement.axle_loads_kg == live.measurement.axle_loads_kg
        assert replayed.measurement.axle_spacings_m == live.measurement.axle_spacings_m
        assert replayed.decision == live.decision
        code, (result,), _ = replay(path, "--json")
        assert code == 0 and result["matches_live"] is True
        assert result["correction_factor"] == live.correction_factor


# -- replay ------------------------------------------------------------------------------------------


def test_physics_crossing_replays_to_the_true_gross_and_matches_live(
    tmp_path: Path, motions: list[TruckMotion]
) -> None:
    paths, trucks = [], []
    for number, motion in enumerate(motions[:2], start=1):
        crossing = physics_crossing(motion, number=number, seed=number)
        path = tmp_path / f"{number}.wlcap"
        write_capture(path, crossing, CONFIG, live_result=live_result(judge(crossing, CONFIG, LIMITS)))
        paths.append(path)
        trucks.append(motion.truck)
    code, results, _ = replay(*paths, "--json")
    assert code == 0
    for path, truck, result in zip(paths, trucks, results, strict=True):
        assert result["file"] == str(path)
        assert abs(result["gross_kg"] - truck.gross_kg) <= 0.01 * truck.gross_kg
        assert result["axle_count"] == len(truck.axle_loads_kg) == len(result["axle_loads_kg"])
        np.testing.assert_allclose(result["axle_loads_kg"], truck.axle_loads_kg, rtol=0.03)
        np.testing.assert_allclose(result["axle_spacings_m"], truck.axle_spacings_m, atol=0.1)
        assert result["speed_kmh"] == pytest.approx(truck.speed_kmh, rel=0.02)
        assert result["verdict"] == truck.expected_verdict
        assert result["matches_live"] is True
        assert result["limits_table"] == "embedded"
        assert set(result) >= {"vehicle_number", "reasons", "vehicle_class", "limit_kg"}
        # The stated uncertainty (k = 2) covers this crossing's true error, for the gross and each axle.
        assert abs(result["gross_kg"] - truck.gross_kg) <= result["gross_uncertainty_kg"]
        errors = np.abs(np.subtract(result["axle_loads_kg"], truck.axle_loads_kg))
        assert (errors <= np.array(result["axle_uncertainties_kg"])).all()


def test_replay_reports_a_live_result_that_differs(
    tmp_path: Path, truck_crossing: tuple[Truck, Crossing]
) -> None:
    _, crossing = truck_crossing
    path = tmp_path / "differs.wlcap"
    write_capture(path, crossing, CONFIG, live_result={"verdict": "overweight", "gross_kg": 99_999.0})
    code, (result,), _ = replay(path, "--json")
    assert code == 0 and result["matches_live"] is False


def test_config_override_rejudges_with_new_calibration(
    tmp_path: Path, truck_crossing: tuple[Truck, Crossing]
) -> None:
    truck, crossing = truck_crossing
    path = tmp_path / "v.wlcap"
    write_capture(path, crossing, CONFIG)
    text = (REPO / "config" / "lane.example.toml").read_text(encoding="utf-8")
    lane = tmp_path / "lane.toml"
    lane.write_text(text.replace("kg_per_count = 0.02 ", "kg_per_count = 0.022 "), encoding="utf-8")
    code, (result,), _ = replay(path, "--json", "--config", lane)
    assert code == 0
    assert result["gross_kg"] == pytest.approx(1.1 * truck.gross_kg, rel=0.01)


def test_text_output_is_readable(tmp_path: Path, truck_crossing: tuple[Truck, Crossing]) -> None:
    _, crossing = truck_crossing
    path = tmp_path / "t.wlcap"
    write_capture(path, crossing, CONFIG)
    code, _, output = replay(path)
    assert code == 0
    assert f"{path}: vehicle 17: PASS" in output and "axle loads (kg)" in output


# -- the documented format ---------------------------------------------------------------------------


def doc_example_script() -> str:
    doc = (REPO / "docs" / "capture-format.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- example-script:[^>]*-->\n```python\n(.*?)```", doc, flags=re.DOTALL)
    assert match, "docs/capture-format.md lost its example script"
    return match.group(1)


@pytest.fixture(scope="module")
def doc_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The capture the documentation's example script writes (numpy + zipfile + json, no project code)."""
    directory = tmp_path_factory.mktemp("doc")
    script = directory / "write_example.py"
    script.write_text(doc_example_script(), encoding="utf-8")
    out = directory / "example.wlcap"
    subprocess.run([sys.executable, str(script), str(out)], check=True, cwd=directory, timeout=60)
    return out


def test_doc_example_replays(doc_capture: Path) -> None:
    code, (result,), _ = replay(doc_capture, "--json")
    assert code == 0, result
    assert result["axle_count"] == 2
    assert result["gross_kg"] == pytest.approx(16_000, rel=0.01)
    np.testing.assert_allclose(result["axle_loads_kg"], [6000, 10000], rtol=0.02)
    np.testing.assert_allclose(result["axle_spacings_m"], [4.5], atol=0.05)
    assert result["speed_kmh"] == pytest.approx(10.0, rel=0.01)
    assert (result["verdict"], result["limit_kg"]) == ("pass", 18_000)
    assert result["limits_table"] == "packaged"
    assert "matches_live" not in result


def rewrite(
    source: Path,
    target: Path,
    *,
    meta: Callable[[dict[str, Any]], None] | None = None,
    arrays: dict[str, np.ndarray[Any, Any]] | None = None,
    drop: tuple[str, ...] = (),
    add: dict[str, bytes] | None = None,
) -> Path:
    """Copy a capture, editing meta.json, replacing or dropping members, as another tool might write it."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            if name in drop:
                continue
            data = old.read(name)
            if name == "meta.json" and meta is not None:
                content = json.loads(data)
                meta(content)
                data = json.dumps(content).encode()
            if arrays and name in arrays:
                buffer = io.BytesIO()
                np.save(buffer, arrays[name])
                data = buffer.getvalue()
            new.writestr(name, data)
        for name, data in (add or {}).items():
            new.writestr(name, data)
    return target


def _arrays(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    with zipfile.ZipFile(path) as archive:
        return {n: np.load(io.BytesIO(archive.read(n))) for n in archive.namelist() if n.endswith(".npy")}


def test_simple_tools_may_write_other_integer_and_float_widths(tmp_path: Path, doc_capture: Path) -> None:
    original = _arrays(doc_capture)
    wide = rewrite(
        doc_capture,
        tmp_path / "wide.wlcap",
        arrays={
            "counts.npy": original["counts.npy"].astype(np.int64),
            "times_s.npy": original["times_s.npy"].astype(np.float32),
            "entry_t_s.npy": original["entry_t_s.npy"].astype(np.float32),
        },
    )
    capture = read_capture(wide)
    assert capture.crossing.window.counts.dtype == np.int32
    assert capture.crossing.window.times_s.dtype == np.float64
    np.testing.assert_array_equal(capture.crossing.window.counts, original["counts.npy"])
    code, (result,), _ = replay(wide, "--json")
    assert code == 0 and result["gross_kg"] == pytest.approx(16_000, rel=0.01)


def _del_kg_per_count(meta: dict[str, Any]) -> None:
    del meta["scale"]["kg_per_count"]


BROKEN: dict[str, tuple[dict[str, Any], str]] = {
    "missing meta key": ({"meta": _del_kg_per_count}, "scale.kg_per_count: required key is missing"),
    "wrong version": ({"meta": lambda m: m.update(version=2)}, "version 2 is not supported"),
    "unknown meta key": ({"meta": lambda m: m.update(sample_rate=1000)}, "sample_rate: unknown key"),
    "float counts": (
        {"arrays": {"counts.npy": np.zeros((10, 12))}},
        "counts.npy: dtype float64 is not an integer",
    ),
    "integer times": ({"arrays": {"times_s.npy": np.arange(10)}}, "times_s.npy: dtype int64"),
    "wrong channel count": (
        {"arrays": {"counts.npy": np.zeros((10, 8), np.int32)}},
        "counts.npy: shape (10, 8)",
    ),
    "short times": ({"arrays": {"times_s.npy": np.zeros(3)}}, "times_s.npy: shape (3,)"),
    "bad corrections": (
        {"meta": lambda m: m.update(wim={"corrections": {"default": [1.0]}})},
        "meta.json: wim: corrections.default has 1 factors for 4 speed bands",
    ),
    "site scatter past the class": (
        {"meta": lambda m: m.update(wim={"site_sd_fraction": [0.01, 0.01, 0.01, 0.01]})},
        "meta.json: wim.site_sd_fraction reaches 0.01",
    ),
    "missing member": ({"drop": ("exit_t_s.npy",)}, "exit_t_s.npy: missing from the archive"),
    "unknown member": ({"add": {"fallback_zero.npy": b""}}, "unknown member(s) fallback_zero.npy"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_invalid_captures_are_refused_with_the_problem_named(
    tmp_path: Path, doc_capture: Path, case: str
) -> None:
    edits, expected = BROKEN[case]
    path = rewrite(doc_capture, tmp_path / "broken.wlcap", **edits)
    with pytest.raises(CaptureError) as caught:
        read_capture(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)
    if case == "wrong version":
        assert "reads version(s) 1" in str(caught.value)


def test_corrupt_and_truncated_files_are_refused(tmp_path: Path, doc_capture: Path) -> None:
    garbage = tmp_path / "garbage.wlcap"
    garbage.write_bytes(b"this is not a zip archive at all" * 10)
    data = doc_capture.read_bytes()
    truncated = tmp_path / "truncated.wlcap"
    truncated.write_bytes(data[: len(data) // 2])
    flipped = tmp_path / "flipped.wlcap"
    damaged = bytearray(data)
    with zipfile.ZipFile(doc_capture) as archive:
        info = archive.getinfo("counts.npy")
    damaged[info.header_offset + 200] ^= 0xFF  # inside the deflated counts: the CRC check fails
    flipped.write_bytes(bytes(damaged))
    for path, expected in ((garbage, "not a ZIP"), (truncated, "not a ZIP"), (flipped, "damaged")):
        with pytest.raises(CaptureError, match=expected) as caught:
            read_capture(path)
        assert str(path) in str(caught.value)


def test_replay_reports_each_bad_file_and_goes_on(tmp_path: Path, doc_capture: Path) -> None:
    garbage = tmp_path / "garbage.wlcap"
    garbage.write_bytes(b"PK\x03\x04 not really")
    old = rewrite(doc_capture, tmp_path / "v2.wlcap", meta=lambda m: m.update(version=2))
    missing = tmp_path / "missing.wlcap"
    code, results, _ = replay(doc_capture, garbage, old, missing, doc_capture, "--json")
    assert code == 1
    assert [r["file"] for r in results] == [str(p) for p in (doc_capture, garbage, old, missing, doc_capture)]
    assert [("error" in r) for r in results] == [False, True, True, True, False]
    assert "version 2 is not supported" in results[2]["error"]
    assert results[4]["verdict"] == "pass"


# -- the daemon's writer -----------------------------------------------------------------------------


def small_crossing(number: int) -> Crossing:
    rng = np.random.default_rng(number)
    return Crossing(
        vehicle_number=number,
        window=SampleWindow(
            np.arange(2000) / RATE_HZ, rng.integers(0, 2**31 - 1, (2000, 12), dtype=np.int32), 0
        ),
        sample_rate_hz=RATE_HZ,
        entry_t_s=np.array([1.0, 1.5]),
        exit_t_s=np.array([1.8, np.nan]),
        tyres=("single", "dual"),
        problems=(),
        fallback_zero_counts=None,
    )


def _captures(directory: Path) -> list[Path]:
    return sorted(directory.glob("*/*.wlcap"))


async def test_writer_keeps_the_budget_deleting_the_oldest_first(tmp_path: Path) -> None:
    directory = tmp_path / "captures"
    probe = tmp_path / "probe.wlcap"
    size = write_capture(probe, small_crossing(0), CONFIG)
    writer = CaptureWriter(directory, budget_bytes=int(2.5 * size))
    written = []
    for number in range(1, 6):
        path = await writer.save(
            small_crossing(number), CONFIG, {"verdict": "pass", "record_id": f"rec-{number}"}
        )
        assert path is not None and path.exists() and path.suffix == ".wlcap"
        assert re.fullmatch(
            rf"\d{{8}}/\d{{6}}-{number}-rec-{number}\.wlcap", path.relative_to(directory).as_posix()
        )
        written.append(path)
    assert _captures(directory) == sorted(written[-2:])  # the three oldest went, the two newest stayed
    assert read_capture(written[-1]).meta.live_result is not None
    health = writer.health()
    assert (health["count"], health["written"], health["deleted"], health["errors"]) == (2, 5, 3, 0)
    assert health["bytes"] == sum(p.stat().st_size for p in written[-2:]) <= health["budget_bytes"]
    writer.close()

    # A restarted daemon finds the captures (oldest first) and the temporary file a killed one left.
    leftover = written[-1].parent / f".{written[-1].name}.999.1.tmp"
    leftover.write_bytes(b"half a capture")
    restarted = CaptureWriter(directory, budget_bytes=1)  # smaller than any capture
    assert restarted.health()["count"] == 2 and not leftover.exists()
    newest = await restarted.save(small_crossing(6), CONFIG)
    assert newest is not None
    assert _captures(directory) == [newest]  # never the one just written, even over the budget
    restarted.close()
    assert await restarted.save(small_crossing(7), CONFIG) is None


async def test_writer_drops_captures_when_the_disk_falls_behind(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path / "captures", budget_bytes=10**9, max_pending=1)
    paths = await asyncio.gather(*(writer.save(small_crossing(n), CONFIG) for n in (1, 2, 3)))
    assert paths[0] is not None and paths[1:] == [None, None]
    health = writer.health()
    assert (health["written"], health["dropped"], health["pending"]) == (1, 2, 0)
    assert "still waiting to be written" in health["last_error"]
    writer.close()


async def test_writer_survives_an_unwritable_directory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the capture directory should be")
    writer = CaptureWriter(blocker / "captures", budget_bytes=10**9)
    assert await writer.save(small_crossing(1), CONFIG) is None
    assert await writer.save(small_crossing(2), CONFIG) is None
    health = writer.health()
    assert health["errors"] >= 2 and health["written"] == 0
    assert "writable" in health["last_error"] and str(blocker) in health["last_error"]
    assert "the lane keeps weighing" in caplog.text

    writer.close()

    disabled = CaptureWriter(tmp_path / "off", budget_bytes=10**9, enabled=False)
    assert await disabled.save(small_crossing(1), CONFIG) is None
    assert not (tmp_path / "off").exists()
    disabled.close()
