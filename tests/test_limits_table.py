"""The limits as data: the 124号 variants, the GB 1589-2016 axle-group rows, the sum rule and the
per-group findings (edge.rules.limits, edge.rules.axles, edge.judge).

Every expected limit below is written by hand from the source named beside it, never computed by the code
under test:
  O62   超限运输车辆行驶公路管理规定 (交通运输部令2016年第62号) 第三条
  N124  交公路发〔2016〕124号 附件《公路货运车辆超限超载认定标准》备注1-4
  GB    GB 1589-2016 axle-load table, as encoded (unverified numbers; see docs/rules.md)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from edge.config import Config
from edge.judge import judge_weighed
from edge.lane.crossing import Crossing, SampleWindow
from edge.rules import LimitTable, LimitTableError, Tyre, VehicleFacts, Verdict, classify, decide
from edge.rules.axles import assess
from edge.wim.estimate import WimMeasurement
from edge.wim.weighing import Weighed

S, D, W = Tyre.SINGLE, Tyre.DUAL, Tyre.WIDE_SINGLE
PACKAGED = Path(__file__).resolve().parents[1] / "edge" / "rules" / "limits_gb2016.toml"
AIR = VehicleFacts(air_suspension=True, source="registry")
AIR_ARTICULATED = VehicleFacts(air_suspension=True, articulated=True, source="registry")
NO_AIR = VehicleFacts(air_suspension=False, articulated=False, source="registry")


@pytest.fixture(scope="module")
def table() -> LimitTable:
    return LimitTable.load()


def _variant(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    text = PACKAGED.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "limits.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- gross rows and their variants ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spacings", "tyres", "facts", "rule_id", "limit_kg"),
    [
        # O62 item 5: 3-axle truck 25,000; N124 note 4: +1 t with dual-tyre drive axles on air suspension.
        pytest.param([4.3, 1.35], [S, D, D], None, "3-rigid", 25000, id="3-rigid no facts"),
        pytest.param([4.3, 1.35], [S, D, D], NO_AIR, "3-rigid", 25000, id="3-rigid leaf springs"),
        pytest.param([4.3, 1.35], [S, D, D], AIR, "3-rigid-air-suspension", 26000, id="3-rigid air"),
        pytest.param([4.3, 1.35], [S, S, D], AIR, "3-rigid", 25000, id="3-rigid air but single-tyre drive"),
        pytest.param(
            [4.3, 1.35],
            [S, D, D],
            VehicleFacts(source="registry"),
            "3-rigid",
            25000,
            id="3-rigid air unknown",
        ),
        # O62 item 6: 4-axle truck 31,000; N124 note 4: +1 t.
        pytest.param([1.9, 4.4, 1.35], [S, S, D, D], None, "4-rigid", 31000, id="8x4 no facts"),
        pytest.param([1.9, 4.4, 1.35], [S, S, D, D], AIR, "4-rigid-air-suspension", 32000, id="8x4 air"),
        # O62 item 6: 4-axle combination 36,000; N124 note 4: 37,000 for an articulated one with a dual-tyre
        # air-suspension drive axle and semi-trailer axles d >= 1,800 mm.
        pytest.param(
            [3.6, 7.0, 1.85],
            [S, D, D, D],
            AIR_ARTICULATED,
            "4-articulated-air-suspension",
            37000,
            id="4x2 + spread 2-axle semi-trailer, air",
        ),
        pytest.param(
            [3.6, 7.0, 1.80],
            [S, D, D, D],
            AIR_ARTICULATED,
            "4-articulated-air-suspension",
            37000,
            id="d = 1.8 m",
        ),
        pytest.param(
            [3.6, 7.0, 1.36],
            [S, D, D, D],
            AIR_ARTICULATED,
            "4-combination",
            36000,
            id="semi-trailer tandem 1.36",
        ),
        pytest.param([3.6, 7.0, 1.85], [S, D, D, D], AIR, "4-combination", 36000, id="spread but drawbar?"),
        pytest.param(
            [3.6, 7.0, 1.85],
            [S, D, D, D],
            VehicleFacts(articulated=True, air_suspension=False),
            "4-combination",
            36000,
            id="spread, articulated, leaf springs",
        ),
        # O62 item 7 and 8; no 124号 variant for 5 or 6 axles.
        pytest.param([3.6, 6.8, 1.31, 1.31], [S, D, D, D, D], AIR, "5-combination", 43000, id="5 axles air"),
        pytest.param(
            [1.9, 3.2, 5.6, 1.31, 1.31],
            [S, S, D, D, D, D],
            AIR,
            "6-combination-single-drive",
            46000,
            id="6 axles single drive, air: still 46 t",
        ),
        pytest.param(
            [3.2, 1.35, 5.8, 1.31, 1.31], [S, D, D, D, D, D], AIR, "6-combination", 49000, id="6 axles air"
        ),
    ],
)
def test_gross_rows_and_124_variants(
    table: LimitTable,
    spacings: list[float],
    tyres: list[Tyre],
    facts: VehicleFacts | None,
    rule_id: str,
    limit_kg: int,
) -> None:
    decision = assess(classify(spacings), tyres, table, spacings_m=spacings, facts=facts).limit
    assert (decision.rule_id, decision.limit_kg) == (rule_id, limit_kg)
    assert decision.row_source  # every row names its law and clause
    if rule_id.endswith("air-suspension"):
        assert "124号" in decision.row_source and "备注4" in decision.row_source
        assert any("(facts: registry)" in note for note in decision.notes)
    else:
        assert "第62号" in decision.row_source


@pytest.mark.parametrize(
    ("tyres", "facts", "limit_kg", "deductions"),
    [
        # O62 para 2 item 2 / N124 note 2: -3,000 kg per non-drive axle with single tyres.
        ([S, D, D, D, S, S], None, 43000, 2),
        # N124 note 3: approved wide tyres are not deducted.
        ([S, D, D, W, W, W], None, 49000, 0),
        # the drive group is never deducted.
        ([S, S, S, D, D, D], None, 49000, 0),
    ],
)
def test_single_tyre_deductions(
    table: LimitTable, tyres: list[Tyre], facts: VehicleFacts | None, limit_kg: int, deductions: int
) -> None:
    spacings = [3.2, 1.35, 5.8, 1.31, 1.31]
    decision = assess(classify(spacings), tyres, table, spacings_m=spacings, facts=facts).limit
    assert decision.limit_kg == limit_kg
    assert len(decision.deductions) == deductions


@pytest.mark.parametrize(
    ("registered_kg", "limit_kg"),
    [(16000, 16000), (18000, 18000), (20000, 18000)],  # N124 note 1: the 行驶证 total mass also caps
)
def test_two_axle_trucks_are_capped_by_their_registered_gross(
    table: LimitTable, registered_kg: int, limit_kg: int
) -> None:
    facts = VehicleFacts(registered_gross_kg=registered_kg, source="registry")
    decision = assess(classify([4.5]), [S, D], table, spacings_m=[4.5], facts=facts).limit
    assert decision.limit_kg == limit_kg
    assert (registered_kg < 18000) == any("124号" in note for note in decision.notes)
    # Not for 3 axles.
    three = assess(classify([4.3, 1.35]), [S, D, D], table, spacings_m=[4.3, 1.35], facts=facts).limit
    assert three.limit_kg == 25000


def test_rows_that_need_facts_are_marked(table: LimitTable) -> None:
    assert {rule.rule_id for rule in table.rules if rule.needs_facts} == {
        "3-rigid-air-suspension",
        "4-rigid-air-suspension",
        "4-articulated-air-suspension",
    }


# --- axle groups (GB 1589-2016 rows as encoded) and the sum rule ---------------------------------------------


@pytest.mark.parametrize(
    ("spacings", "tyres", "facts", "limits", "rows"),
    [
        pytest.param([4.5], [S, D], None, [7000, 11500], ["single-single-tyres", "single-drive-dual-tyres"]),
        pytest.param([4.5], [S, S], None, [7000, 7000], ["single-single-tyres", "single-single-tyres"]),
        pytest.param([4.5], [D, D], None, [10000, 11500], ["single-dual-tyres", "single-drive-dual-tyres"]),
        pytest.param([4.5], [S, W], None, [7000, 11500], ["single-single-tyres", "single-drive-wide-tyres"]),
        pytest.param(
            [4.3, 1.35], [S, D, D], None, [7000, 18000], [None, "tandem-1300-1800mm"], id="tandem 1.35"
        ),
        pytest.param(
            [4.3, 1.20], [S, D, D], None, [7000, 16000], [None, "tandem-1000-1300mm"], id="tandem 1.20"
        ),
        # 1.28 m is within the 0.05 m tolerance of the 1.3 m edge: the higher band (favours the driver).
        pytest.param(
            [4.3, 1.28], [S, D, D], None, [7000, 18000], [None, "tandem-1300-1800mm"], id="tandem 1.28"
        ),
        pytest.param(
            [4.3, 0.90], [S, D, D], None, [7000, 11500], [None, "tandem-below-1000mm"], id="tandem 0.9"
        ),
        pytest.param(
            [4.3, 0.97], [S, D, D], None, [7000, 16000], [None, "tandem-1000-1300mm"], id="tandem .97"
        ),
        pytest.param(
            [4.3, 1.35], [S, D, D], AIR, [7000, 19000], [None, "tandem-drive-air-1300-1800mm"], id="drive air"
        ),
        pytest.param(
            [4.3, 1.35], [S, S, S], AIR, [7000, 18000], [None, "tandem-1300-1800mm"], id="air single tyres"
        ),
        pytest.param(
            [3.6, 6.8, 1.31, 1.31],
            [S, D, D, D, D],
            None,
            [7000, 11500, 24000],
            [None, None, "tridem-1300-1400mm"],
            id="4x2 + tridem 1.31",
        ),
        pytest.param(
            [3.6, 6.8, 1.20, 1.20],
            [S, D, D, D, D],
            None,
            [7000, 11500, 21000],
            [None, None, "tridem-up-to-1300mm"],
            id="tridem 1.20",
        ),
        pytest.param(
            [3.2, 1.35, 5.8, 1.31, 1.31],
            [S, D, D, D, S, S],
            None,
            [7000, 18000, 18000],  # 24,000 - 2 x 3,000 (single tyres on axles 5 and 6)
            [None, None, "tridem-1300-1400mm"],
            id="tridem with two single-tyre axles",
        ),
        pytest.param(
            [1.9, 4.4, 1.35],
            [S, S, D, D],
            None,
            [7000, 7000, 18000],  # twin steer: each steer axle a single axle
            [None, None, "tandem-1300-1800mm"],
            id="twin steer",
        ),
        pytest.param(
            [3.6, 6.0, 1.3, 1.3, 1.3],
            [S, D, D, D, D, D],
            None,
            [7000, 11500, 10000, 10000, 10000, 10000],  # no GB 1589 row for 4 axles: axle by axle
            [None, None, "single-dual-tyres", None, None, None],
            id="4-axle group",
        ),
    ],
)
def test_axle_group_limits(
    table: LimitTable,
    spacings: list[float],
    tyres: list[Tyre],
    facts: VehicleFacts | None,
    limits: list[int],
    rows: list[str | None],
) -> None:
    groups = assess(classify(spacings), tyres, table, spacings_m=spacings, facts=facts).groups
    assert [g.limit_kg for g in groups] == limits
    for group, row in zip(groups, rows, strict=True):
        if row is not None:
            assert group.rule_id == row
        assert group.source.startswith("GB 1589-2016")
        assert group.verified is False  # the standard's text could not be read: every row says so


def test_a_group_no_row_matches_has_no_limit_and_no_sum(table: LimitTable) -> None:
    spacings = [3.6, 7.0, 1.95]  # a 1.95 m pair still groups (<= 2.0 m) but no tandem band reaches it
    assessment = assess(classify(spacings), [S, D, D, D], table, spacings_m=spacings)
    assert assessment.groups[-1].limit_kg is None
    assert "no [[axle_limit]] row" in assessment.groups[-1].notes[-1]
    assert assessment.axle_sum_kg is None
    assert assessment.limit.limit_kg == 36000


@pytest.mark.parametrize(
    ("spacings", "tyres", "row_kg", "sum_kg"),
    [
        ([4.5], [S, D], 18000, 18500),
        ([4.5], [S, S], 18000, 14000),
        ([4.3, 1.35], [S, D, D], 25000, 25000),
        ([4.3, 1.20], [S, D, D], 25000, 23000),
        ([3.6, 6.8, 1.31, 1.31], [S, D, D, D, D], 43000, 42500),
        ([3.2, 1.35, 5.8, 1.31, 1.31], [S, D, D, D, D, D], 49000, 49000),
    ],
)
def test_sum_rule_reported_by_the_packaged_table_and_applied_when_set(
    tmp_path: Path, table: LimitTable, spacings: list[float], tyres: list[Tyre], row_kg: int, sum_kg: int
) -> None:
    vclass = classify(spacings)
    reported = assess(vclass, tyres, table, spacings_m=spacings).limit
    assert (reported.limit_kg, reported.axle_sum_kg, reported.axle_sum_applied) == (row_kg, sum_kg, False)
    assert any("reported only" in note for note in reported.notes) == (sum_kg < row_kg)
    applying = LimitTable.load(_variant(tmp_path, ('sum_rule = "report"', 'sum_rule = "apply"')))
    applied = assess(vclass, tyres, applying, spacings_m=spacings).limit
    assert applied.limit_kg == min(row_kg, sum_kg)
    assert applied.axle_sum_applied == (sum_kg < row_kg)
    assert applied.base_limit_kg == row_kg
    off = LimitTable.load(_variant(tmp_path, ('sum_rule = "report"', 'sum_rule = "off"')))
    assert assess(vclass, tyres, off, spacings_m=spacings).limit.axle_sum_kg is None


def test_the_applied_sum_decides_the_verdict(tmp_path: Path, table: LimitTable) -> None:
    spacings = [3.6, 6.8, 1.31, 1.31]
    vclass, tyres = classify(spacings), [S, D, D, D, D]
    gross = 44700.0  # above 105 % of 42,500 (44,625), not above 105 % of 43,000 (45,150)
    assert decide(gross, assess(vclass, tyres, table, spacings_m=spacings).limit).verdict is Verdict.PASS
    applying = LimitTable.load(_variant(tmp_path, ('sum_rule = "report"', 'sum_rule = "apply"')))
    assert (
        decide(gross, assess(vclass, tyres, applying, spacings_m=spacings).limit).verdict
        is Verdict.OVERWEIGHT
    )


def test_group_findings_say_which_group_by_how_much(table: LimitTable) -> None:
    spacings = [3.6, 6.8, 1.31, 1.31]
    loads = [6500.0, 12800.0, 8200.0, 8200.0, 8200.0]
    groups = assess(classify(spacings), [S, D, D, D, D], table, spacings_m=spacings, loads_kg=loads).groups
    steer, drive, tridem = groups
    assert (steer.load_kg, steer.over_kg, steer.beyond_tolerance) == (6500.0, 0.0, False)
    # drive: 12,800 against 11,500: 1,300 over, beyond 105 % (12,075)
    assert (drive.load_kg, drive.over_kg, drive.threshold_kg, drive.beyond_tolerance) == (
        12800.0,
        1300.0,
        12075.0,
        True,
    )
    assert drive.label == "group 2 (single, drive, axle 2)"
    # tridem: 24,600 against 24,000: 600 over, within 105 % (25,200)
    assert (tridem.load_kg, tridem.over_kg, tridem.beyond_tolerance) == (24600.0, 600.0, False)
    assert tridem.axles == (3, 4, 5)
    record = drive.as_record()
    assert record["rule_id"] == "single-drive-dual-tyres" and record["over_kg"] == 1300.0
    # No loads (not weighed), or a NaN load: limits without findings.
    none = assess(classify(spacings), [S, D, D, D, D], table, spacings_m=spacings, loads_kg=[math.nan] * 5)
    assert all(g.load_kg is None and g.over_kg is None for g in none.groups)


def test_a_table_without_axle_rows_still_works(tmp_path: Path) -> None:
    path = tmp_path / "gross-only.toml"
    path.write_text(
        'source = "test"\ntitle = "t"\nsingle_tyre_deduction_kg = 3000\n\n'
        '[[rule]]\nid = "2-rigid"\naxles = 2\nbody = "rigid"\nlimit_kg = 18000\ntext = "2 axles"\n',
        encoding="utf-8",
    )
    assessment = assess(classify([4.5]), [S, D], LimitTable.load(path), spacings_m=[4.5], loads_kg=[9e3, 9e3])
    assert assessment.groups == () and assessment.sum_rule == "off" and assessment.limit.limit_kg == 18000


# --- the judge: facts, findings ----------------------------------------------------------------------------


def _config(**rules: object) -> Config:
    kinds = (
        ("wim", "wim_digitiser"),
        ("separator", "light_curtain"),
        ("axle_sensor", "tyre_recogniser"),
        ("display", "led_display"),
        ("barrier", "barrier"),
    )
    return Config.model_validate(
        {
            "site": {"id": "limits", "lane": 1},
            "devices": {name: {"type": kind, "port": "loop://"} for name, kind in kinds},
            "rules": rules,
        }
    )


def _weighed_3_axle(loads: tuple[float, float, float]) -> tuple[Crossing, Weighed]:
    entry = np.array([1.0, 2.548, 3.034])  # 4.3 m and 1.35 m at 10 km/h
    window = SampleWindow(np.zeros(0), np.zeros((0, 12), dtype=np.int32), 0)
    crossing = Crossing(1, window, 1000, entry, entry + 6.0, ("single", "dual", "dual"), (), None)
    measurement = WimMeasurement(
        axle_loads_kg=loads,
        axle_spacings_m=(4.3, 1.35),
        axle_speeds_kmh=(10.0, 10.0, 10.0),
        speed_kmh=10.0,
        gross_kg=float(sum(loads)),
        residual_rms_kg=10.0,
        samples_used=1000,
        samples_lost=0,
        problems=(),
    )
    return crossing, Weighed(measurement, None, "preroll", ())


def test_judge_takes_the_sites_assumption_or_the_callers_facts(table: LimitTable) -> None:
    crossing, weighed = _weighed_3_axle((6000.0, 10000.0, 10000.0))
    default = judge_weighed(crossing, weighed, _config(), table)
    assert default.limit.limit_kg == 25000 and default.facts == VehicleFacts(False, False, None, "config")
    site = judge_weighed(crossing, weighed, _config(assume_air_suspension=True), table)
    assert site.limit.limit_kg == 26000 and site.limit.rule_id == "3-rigid-air-suspension"
    registry = judge_weighed(crossing, weighed, _config(assume_air_suspension=True), table, facts=NO_AIR)
    assert registry.limit.limit_kg == 25000 and registry.facts is NO_AIR
    assert [g.limit_kg for g in default.axle_groups] == [7000, 18000]
    assert default.axle_groups[1].load_kg == 20000.0 and default.axle_groups[1].over_kg == 2000.0


def test_a_group_overload_refuses_only_where_the_table_says_refuse(tmp_path: Path, table: LimitTable) -> None:
    # gross 26,000 passes (<= 26,250); the tandem carries 22,000 > 105 % of 18,000 (18,900).
    crossing, weighed = _weighed_3_axle((4000.0, 11000.0, 11000.0))
    reported = judge_weighed(crossing, weighed, _config(), table)
    assert reported.decision.verdict is Verdict.PASS
    assert reported.axle_groups[1].beyond_tolerance
    refusing = LimitTable.load(_variant(tmp_path, ('findings = "report"', 'findings = "refuse"')))
    refused = judge_weighed(crossing, weighed, _config(), refusing)
    assert refused.decision.verdict is Verdict.OVERWEIGHT
    assert refused.decision.reasons[-1] == (
        "group 2 (tandem, drive, axles 2-3) 22,000 kg > 105 % of its 18,000 kg limit (18,900 kg; tandem-1300-1800mm)"
    )
    # within the tolerance: still a pass
    crossing, weighed = _weighed_3_axle((7000.0, 9400.0, 9400.0))
    assert judge_weighed(crossing, weighed, _config(), refusing).decision.verdict is Verdict.PASS


# --- malformed tables ----------------------------------------------------------------------------------------


def _line_of(path: Path, wanted: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if line.strip() == wanted)


@pytest.mark.parametrize(
    ("old", "new", "bad_line", "words"),
    [
        ("limit_kg = 11500\nverified", 'limit_kg = "11500"\nverified', 'limit_kg = "11500"', "whole number"),
        ('group = "tridem"', 'group = "quad"', 'group = "quad"', "allowed values"),
        ('sum_rule = "report"', 'sum_rule = "yes"', 'sum_rule = "yes"', "allowed values"),
        (
            "limit_kg = 7000\nverified = false",
            'limit_kg = 7000\nverified = "no"',
            'verified = "no"',
            "true or false",
        ),
        ("min_spacing_m = 1.3\n", 'min_spacing_m = "1.3"\n', 'min_spacing_m = "1.3"', "number"),
        (
            'condition = ["drive_dual_tyres", "drive_air_suspension"]\nlimit_kg = 19000',
            'condition = ["drive_dual_tyres", "air"]\nlimit_kg = 19000',
            'condition = ["drive_dual_tyres", "air"]',
            "condition",
        ),
    ],
)
def test_a_malformed_axle_row_names_file_line_and_fix(
    tmp_path: Path, old: str, new: str, bad_line: str, words: str
) -> None:
    path = _variant(tmp_path, (old, new))
    with pytest.raises(LimitTableError) as caught:
        LimitTable.load(path)
    message = str(caught.value)
    assert f"{path}:{_line_of(path, bad_line)}: " in message, message
    assert words in message


def test_axle_rows_with_a_duplicate_id_or_an_empty_band_are_refused(tmp_path: Path) -> None:
    path = _variant(tmp_path, ('id = "tridem-1300-1400mm"', 'id = "tridem-up-to-1300mm"'))
    with pytest.raises(LimitTableError, match="already used") as caught:
        LimitTable.load(path)
    wanted = 'id = "tridem-up-to-1300mm"'
    lines = [n for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if line.strip() == wanted]
    assert f"{path}:{lines[1]}: " in str(caught.value)  # the second use of the id
    path = _variant(tmp_path, ("max_spacing_m = 1.4\n", "max_spacing_m = 1.2\n"))
    with pytest.raises(LimitTableError, match="not above min_spacing_m") as caught:
        LimitTable.load(path)
    assert f"{path}:{_line_of(path, 'max_spacing_m = 1.2')}: " in str(caught.value)


def test_an_unknown_key_in_axles_is_refused(tmp_path: Path) -> None:
    path = _variant(tmp_path, ("spacing_tolerance_m = 0.05", "spacing_tolerance_m = 0.05\nsum_rules = 1"))
    with pytest.raises(LimitTableError, match="sum_rules") as caught:
        LimitTable.load(path)
    assert f"{path}:{_line_of(path, 'sum_rules = 1')}: " in str(caught.value)


def test_a_gross_row_with_a_list_of_conditions_is_checked(tmp_path: Path) -> None:
    path = _variant(
        tmp_path,
        (
            'condition = ["drive_dual_tyres", "drive_air_suspension"]\nsource',
            'condition = ["drive_dual_tyres", "air_suspension"]\nsource',
        ),
    )
    with pytest.raises(LimitTableError, match="condition") as caught:
        LimitTable.load(path)
    bad = 'condition = ["drive_dual_tyres", "air_suspension"]'
    assert f"{path}:{_line_of(path, bad)}: " in str(caught.value)


def test_edge_config_check_refuses_a_malformed_axle_row_with_file_and_line(tmp_path: Path) -> None:
    import re

    from click.testing import CliRunner

    from edge.cli import main

    table = _variant(tmp_path, ("limit_kg = 21000\n", "limit_kg = 21000.5\n"))
    example = Path(__file__).resolve().parent.parent / "config" / "lane.example.toml"
    text = re.sub(
        r"(?m)^database = .*$", f'database = "{tmp_path / "evidence.db"}"', example.read_text("utf-8")
    )
    text = re.sub(r"(?m)^limits_table = .*$", f'limits_table = "{table}"', text)
    assert f'limits_table = "{table}"' in text
    lane = tmp_path / "lane.toml"
    lane.write_text(text, encoding="utf-8")
    said = CliRunner().invoke(main, ["config", "check", str(lane)])
    assert said.exit_code == 1
    assert f"{table}:{_line_of(table, 'limit_kg = 21000.5')}: [[axle_limit]] #10" in said.output
    assert "whole number" in said.output


def test_the_record_carries_the_groups_the_sum_and_the_facts(table: LimitTable) -> None:
    from edge.evidence.record import RecordLimit
    from edge.evidence.recorder import _axle_extras, _limit_extras

    crossing, weighed = _weighed_3_axle((4000.0, 11000.0, 11000.0))
    judgement = judge_weighed(crossing, weighed, _config(), table)
    extras = _axle_extras(judgement)
    groups = extras["axle_limits"]
    assert [(g.axles, g.limit_kg, g.load_kg, g.over_kg, g.beyond_tolerance) for g in groups] == [
        ([1], 7000, 4000.0, 0.0, False),
        ([2, 3], 18000, 22000.0, 4000.0, True),
    ]
    assert extras["vehicle_facts"] == {
        "air_suspension": False,
        "articulated": False,
        "registered_gross_kg": None,
        "source": "config",
    }
    limit = _limit_extras(judgement.limit)
    assert limit == {
        "row_source": "交通运输部令2016年第62号 第三条第一款第(五)项 / MOT Order 2016 No. 62, art. 3 para 1 item 5",
        "axle_sum_kg": 25000,
        "axle_sum_applied": False,
    }
    RecordLimit(
        limit_kg=25000,
        base_limit_kg=25000,
        rule_id="3-rigid",
        rule_text="t",
        source="s",
        tolerance_factor=1.05,
        threshold_kg=26250.0,
        **limit,
    )
