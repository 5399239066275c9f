"""docs/capture-format.md against the code: every documented key, default and range is read from the
document's tables and checked against what the capture reader accepts, so the two cannot drift apart.

The document's ranges are written with their end points (``>= 0, <= 1.5``, ``> 0.5``); each end point is
offered to the reader in a capture's ``meta.json``: an inclusive one must be accepted, an exclusive one and
a value just beyond either refused.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import annotated_types
import numpy as np
import pytest

from edge.config import Config, RulesConfig
from edge.judge import judge
from edge.lane.buffer import SampleWindow
from edge.lane.crossing import Crossing
from edge.rules import LimitTable
from edge.wim.capture import CaptureError, CaptureScale, CaptureWim, _parse_meta
from edge.wim.estimate import WimMeasurement, stability_problems
from tests.support.configs import loop_devices
from tests.test_capture import doc_capture, replay, rewrite  # noqa: F401  (doc_capture is a fixture)

DOC = Path(__file__).resolve().parents[1] / "docs" / "capture-format.md"
MODELS: dict[str, Any] = {"scale": CaptureScale, "rules": RulesConfig, "wim": CaptureWim}
BOUND = re.compile(r"(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)(?![\d.])")
OPERATORS = {
    annotated_types.Ge: ">=",
    annotated_types.Gt: ">",
    annotated_types.Le: "<=",
    annotated_types.Lt: "<",
}

#: The scale keys a capture must carry, with the document's example values.
REQUIRED_SCALE = {"platform_lengths_m": [6.0, 6.0, 6.0], "kg_per_count": 0.02, "entry_strip_x_m": -0.5}


def _table(section: str) -> dict[str, list[str]]:
    """The rows of the table under ``### `section` ``: key -> its cells after the key."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"### `{section}`")
    end = text.find("\n#", start + 1)
    rows: dict[str, list[str]] = {}
    for line in text[start:end].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[1:]
    assert rows, f"no table under ### `{section}`"
    return rows


def _documented_default(section: str, cells: list[str]) -> tuple[bool, Any]:
    """(required, default) of a row: the scale table says ``yes`` / ``no (default)``, the others give the
    default in their own column (a JSON value, in backticks or not, maybe followed by a remark)."""
    column = cells[1]
    if section == "scale":
        if column.startswith("yes"):
            return True, None
        column = re.fullmatch(r"no \((.*)\)", column).group(1)  # type: ignore[union-attr]
    literal = re.match(r"`([^`]*)`", column)
    return False, json.loads(literal.group(1) if literal else column.split(" ")[0])


def _documented_bounds(cells: list[str]) -> set[tuple[str, float]]:
    kind = cells[0]
    if not kind.startswith(("number", "integer")):
        return set()  # arrays and objects: their element ranges are checked by the models' validators
    return {(op, float(value)) for op, value in BOUND.findall(kind.split(", or ")[0])}


def _model_bounds(field: Any) -> set[tuple[str, float]]:
    bounds = set()
    for constraint in field.metadata:
        for kind, op in OPERATORS.items():
            if isinstance(constraint, kind):
                bounds.add((op, float(getattr(constraint, kind.__name__.lower()))))
    return bounds


def _meta(section: str, key: str, value: Any) -> bytes:
    meta: dict[str, Any] = {
        "format": "weighlane-capture",
        "version": 1,
        "sample_rate_hz": 1000,
        "scale": dict(REQUIRED_SCALE),
    }
    meta.setdefault(section, {})[key] = value
    # Keys checked against each other: keep the partner where the value under test is allowed.
    if key == "body_min_frequency_hz" and isinstance(value, float) and value > 0:
        meta["wim"]["body_max_frequency_hz"] = max(value, 20.0) if value <= 20 else 20.0
    if key == "body_max_frequency_hz" and isinstance(value, float) and value > 0:
        meta["wim"]["body_min_frequency_hz"] = min(value, 1.5)
    return json.dumps(meta).encode()


def _accepted(section: str, key: str, value: Any) -> bool:
    try:
        _parse_meta(_meta(section, key, value), "doc-test")
    except CaptureError:
        return False
    return True


SECTIONS = ["scale", "rules", "wim"]


@pytest.mark.parametrize("section", SECTIONS)
def test_the_tables_list_exactly_the_models_keys(section: str) -> None:
    assert set(_table(section)) == set(MODELS[section].model_fields)


@pytest.mark.parametrize("section", SECTIONS)
def test_documented_defaults_are_the_models(section: str) -> None:
    fields = MODELS[section].model_fields
    for key, cells in _table(section).items():
        required, default = _documented_default(section, cells)
        field = fields[key]
        assert required == field.is_required(), key
        if required:
            continue
        actual = field.get_default(call_default_factory=True)
        if isinstance(actual, tuple):
            actual = list(actual)
        assert actual == default, f"{section}.{key}: documented {default!r}, the code uses {actual!r}"


@pytest.mark.parametrize("section", SECTIONS)
def test_every_range_of_the_models_is_documented(section: str) -> None:
    """The fields' declared bounds all appear in the table (bounds the models check in a validator, such
    as ``entry_strip_x_m <= 0``, are covered by the end-point test below)."""
    fields = MODELS[section].model_fields
    for key, cells in _table(section).items():
        assert _model_bounds(fields[key]) <= _documented_bounds(cells), f"{section}.{key}: {cells[0]!r}"


def _numeric_rows() -> list[tuple[str, str, str, float]]:
    rows = []
    for section in SECTIONS:
        for key, cells in _table(section).items():
            for op, value in sorted(_documented_bounds(cells)):
                rows.append((section, key, op, value))
    assert len(rows) >= 20
    return rows


@pytest.mark.parametrize(("section", "key", "op", "end"), _numeric_rows())
def test_a_capture_at_a_documented_end_point_is_read_as_documented(
    section: str, key: str, op: str, end: float
) -> None:
    integer = _table(section)[key][0].startswith("integer")
    step = 1 if integer else max(abs(end) * 1e-6, 1e-6)
    value: Any = int(end) if integer else end
    inside = value + step if op.startswith(">") else value - step
    outside = value - step if op.startswith(">") else value + step
    assert _accepted(section, key, value) == op.endswith("="), f"{section}.{key} = {value} ({op} {end})"
    assert _accepted(section, key, inside), f"{section}.{key} = {inside} should be accepted"
    assert not _accepted(section, key, outside), f"{section}.{key} = {outside} should be refused"


def test_a_capture_with_every_documented_default_written_out_replays_as_one_without(
    tmp_path: Path,
    doc_capture: Path,  # noqa: F811
) -> None:
    """The document's defaults, written into the example capture explicitly, change nothing: so they
    are the defaults the reader really uses (a wrong edge_margin_m changed a replay by 30 kg)."""
    defaults = {
        section: {
            key: _documented_default(section, cells)[1]
            for key, cells in _table(section).items()
            if not _documented_default(section, cells)[0]
        }
        for section in SECTIONS
    }

    def explicit(meta: dict[str, Any]) -> None:
        for section, values in defaults.items():
            meta.setdefault(section, {})
            for key, value in values.items():
                meta[section].setdefault(key, value)

    spelled = rewrite(doc_capture, tmp_path / "defaults.wlcap", meta=explicit)
    changed = rewrite(
        doc_capture,
        tmp_path / "margin.wlcap",
        meta=lambda meta: meta["scale"].update(edge_margin_m=0.35, tyre_footprint_m=0.5),
    )
    _, (plain,), _ = replay(doc_capture, "--json")
    _, (written,), _ = replay(spelled, "--json")
    _, (other,), _ = replay(changed, "--json")
    assert written["gross_kg"] == plain["gross_kg"] and written["axle_loads_kg"] == plain["axle_loads_kg"]
    assert other["axle_loads_kg"] != plain["axle_loads_kg"]  # the check above can see a changed setting


# -- the documented messages ----------------------------------------------------------------------


def _config() -> Config:
    return Config.model_validate(
        {
            "site": {"id": "doc", "lane": 1},
            "devices": loop_devices(),
        }
    )


def test_a_crossing_without_samples_says_so() -> None:
    window = SampleWindow(np.zeros(0), np.zeros((0, 12), dtype=np.int32), 0)
    entry = np.array([1.0, 1.5])
    crossing = Crossing(1, window, 1000, entry, entry + 3.0, (), (), None)
    reasons = judge(crossing, _config(), LimitTable.load()).decision.reasons
    assert any("no load samples were recorded" in r for r in reasons), reasons
    assert not any("not empty and quiet" in r for r in reasons)


def test_a_short_preroll_says_how_many_samples_it_had() -> None:
    t = np.arange(0.0, 5.0, 0.001)
    window = SampleWindow(t, np.full((t.size, 12), 30_000, dtype=np.int32), 0)
    entry = np.array([0.005, 0.5])
    reasons = judge(Crossing(1, window, 1000, entry, entry + 3.0, (), (), None), _config(), LimitTable.load())
    assert any("only 5 load samples before the first axle" in r for r in reasons.decision.reasons)


def test_an_unweighed_crossing_is_classified_at_its_measured_speed() -> None:
    """A 4-axle rigid truck (1.9 + 4.6 + 1.35 m) at 5 km/h, not weighed (no samples): spacings from the
    entry times at the speed its exit times give, not at an assumed 10 km/h (double the spacings)."""
    speed = 5 / 3.6
    offsets = np.array([0.0, 1.9, 6.5, 7.85])
    entry = 10.0 + offsets / speed
    exit_ = entry + 18.5 / speed
    window = SampleWindow(np.zeros(0), np.zeros((0, 12), dtype=np.int32), 0)
    judgement = judge(Crossing(1, window, 1000, entry, exit_, (), (), None), _config(), LimitTable.load())
    assert judgement.decision.verdict.value == "reweigh"
    assert judgement.vehicle_class.axle_count == 4
    assert judgement.vehicle_class.groups == (2, 2)  # 1.9 m and 1.35 m pairs; at 10 km/h none would pair
    assert judgement.limit.limit_kg == 31_000


def _measurement(speeds_kmh: tuple[float, ...]) -> WimMeasurement:
    return WimMeasurement(
        axle_loads_kg=(6000.0, 10000.0),
        axle_spacings_m=(4.5,),
        axle_speeds_kmh=speeds_kmh,
        speed_kmh=float(np.mean(speeds_kmh)),
        gross_kg=16000.0,
        residual_rms_kg=10.0,
        samples_used=1000,
        samples_lost=0,
        problems=(),
    )


@pytest.mark.parametrize(
    ("speeds", "shown"),
    [
        ((39.96, 40.04), "40.04 km/h, faster than the 40 km/h"),
        ((0.97, 1.0), "0.97 km/h, slower than the 1"),
        ((0.99999, 1.0), "0.99999 km/h, slower than the 1"),
    ],
)
def test_a_speed_outside_the_limits_is_shown_beyond_them(speeds: tuple[float, ...], shown: str) -> None:
    reasons = stability_problems(_measurement(speeds), RulesConfig())
    assert any(shown in r for r in reasons), reasons
    assert not any("40.0 km/h, faster" in r for r in reasons)


def test_speeds_within_the_limits_raise_nothing() -> None:
    assert stability_problems(_measurement((39.99, 40.0)), RulesConfig()) == []
    assert math.isfinite(_measurement((10.0, 10.0)).speed_kmh)


def test_the_replay_output_table_lists_exactly_what_replay_prints(doc_capture: Path) -> None:  # noqa: F811
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## What `edge wim replay --json` prints")
    end = text.find("\n## ", start + 1)
    documented = {
        line.split("|")[1].strip().strip("`")
        for line in text[start:end].splitlines()
        if line.startswith("| `")
    }
    code, results, _ = replay(doc_capture, "--json")
    assert code == 0
    printed = set(results[0])
    assert printed <= documented, f"printed but not documented: {printed - documented}"
    only_sometimes = {"matches_live", "plot", "error"}
    assert documented - only_sometimes <= printed, f"documented but not printed: {documented - printed}"
    # The uncertainty an outside check compares its errors with: one per axle, and the gross's.
    assert results[0]["gross_uncertainty_kg"] > 0
    assert len(results[0]["axle_uncertainties_kg"]) == results[0]["axle_count"]
