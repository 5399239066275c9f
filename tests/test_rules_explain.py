"""`edge rules explain` with the axle-group limits, the sum rule and the vehicle facts (Chinese + English),
from a stored record and as a what-if."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from edge.cli import main
from edge.evidence.explain import explain
from edge.evidence.record import EvidenceRecord, RecordAxleGroup, RecordLimit, RecordWim, Software
from edge.rules import LimitTable, Tyre, VehicleFacts, Verdict, classify
from edge.rules.axles import assess

S, D = Tyre.SINGLE, Tyre.DUAL


def _record() -> EvidenceRecord:
    spacings = [3.6, 6.8, 1.31, 1.31]
    loads = [6500.0, 12800.0, 8200.0, 8200.0, 8200.0]
    facts = VehicleFacts(air_suspension=False, articulated=True, source="registry")
    assessment = assess(
        classify(spacings),
        [S, D, D, D, D],
        LimitTable.load(),
        spacings_m=spacings,
        loads_kg=loads,
        facts=facts,
    )
    limit = assessment.limit
    return EvidenceRecord(
        id="r-1",
        site_id="s",
        lane=1,
        vehicle_number=1,
        time_utc="2026-12-03T10:00:00.000Z",
        axle_count=5,
        vehicle_class="5-combination",
        body="combination",
        axle_groups=[1, 1, 3],
        wim=RecordWim(
            axle_loads_kg=loads, axle_spacings_m=spacings, gross_kg=sum(loads), gross_uncertainty_kg=412.0
        ),
        limit=RecordLimit(
            limit_kg=limit.limit_kg,
            base_limit_kg=limit.base_limit_kg,
            rule_id=limit.rule_id,
            rule_text=limit.rule_text,
            source=limit.source,
            notes=list(limit.notes),
            tolerance_factor=1.05,
            threshold_kg=45150.0,
            row_source=limit.row_source,
            axle_sum_kg=limit.axle_sum_kg,
            axle_sum_applied=limit.axle_sum_applied,
        ),
        axle_limits=[RecordAxleGroup(**g.as_record()) for g in assessment.groups],
        vehicle_facts=facts.as_record(),
        verdict=Verdict.PASS,
        software=Software(version="test"),
    )


def test_explain_names_each_group_its_limit_source_and_excess() -> None:
    record = EvidenceRecord.from_json_dict(json.loads(json.dumps(_record().to_json_dict())))  # as stored
    lines = explain(record)
    assert (
        "条款 Clause: 交通运输部令2016年第62号 第三条第一款第(七)项 / MOT Order 2016 No. 62, art. 3 para 1 item 7"
        in lines
    )
    assert (
        "轴荷之和 Sum of axle(-group) limits: 42,500 kg (低于表内限值，仅记录 lower than the row: reported only;"
        " 第62号令第三条第二款第(三)项 / Order 62 art. 3 para 2 item 3)"
    ) in lines
    assert (
        "车辆事实 Vehicle facts (registry): 空气悬架 air suspension 否 no, 铰接列车 articulated 是 yes"
        in lines
    )
    assert "总重扩展不确定度 Gross expanded uncertainty (k = 2): ±412 kg" in lines
    drive = next(line for line in lines if line.startswith("轴组 Axle group 2 "))
    assert "(轴 axles 2, 单轴 single axle, drive)" in drive
    assert "限值 limit 11,500 kg (single-drive-dual-tyres; GB 1589-2016" in drive
    assert "[未核实 unverified]" in drive
    assert drive.endswith("实测 measured 12,800 kg, 超 over by 1,300 kg，超出容差 beyond the tolerance")
    tridem = next(line for line in lines if line.startswith("轴组 Axle group 3 "))
    assert "(轴 axles 3+4+5, 三轴组 tridem, other)" in tridem
    assert tridem.endswith("超 over by 600 kg，在容差内 within the tolerance")
    steer = next(line for line in lines if line.startswith("轴组 Axle group 1 "))
    assert steer.endswith("实测 measured 6,500 kg, 未超 within")


def test_a_record_without_the_new_fields_keeps_its_text_and_explains() -> None:
    data = _record().to_json_dict()
    for key in ("axle_limits", "vehicle_facts"):
        data.pop(key)
    for key in ("row_source", "axle_sum_kg", "axle_sum_applied"):
        data["limit"].pop(key)
    old = EvidenceRecord.from_json_dict(data)
    assert old.to_json_dict() == data  # nothing added to a record signed by an older release
    lines = explain(old)
    assert not any(line.startswith(("轴组", "轴荷之和", "车辆事实", "条款")) for line in lines)


def test_what_if_with_and_without_air_suspension() -> None:
    runner = CliRunner()
    truck = ["rules", "explain", "--vehicle", "7000,10000,10000", "--spacings", "4.3,1.35"]
    plain = runner.invoke(main, truck)
    assert plain.exit_code == 0, plain.output
    lines = plain.output.splitlines()
    assert "结论 Verdict: 超限，禁止驶入 / overweight: refused entry" in lines  # 27,000 > 26,250
    assert "适用限值 Limit applied: 25,000 kg" in lines
    assert (
        "车辆事实 Vehicle facts (config): 空气悬架 air suspension 否 no, 铰接列车 articulated 否 no" in lines
    )
    air = runner.invoke(main, [*truck, "--air-suspension"])
    lines = air.output.splitlines()
    assert "结论 Verdict: 通行 / pass: allowed in" in lines  # 27,000 <= 27,300
    assert "适用限值 Limit applied: 26,000 kg" in lines
    assert any(line.startswith("限值 Limit rule 3-rigid-air-suspension: ") for line in lines)
    assert (
        "条款 Clause: 交公路发〔2016〕124号 附件 备注4 (GB 1589-2016 4.3) / MOT 2016 No. 124, annex, note 4"
        in lines
    )
    tandem = next(line for line in lines if line.startswith("轴组 Axle group 2 "))
    assert "限值 limit 19,000 kg (tandem-drive-air-1300-1800mm;" in tandem
    assert "超 over by 1,000 kg" in tandem
    as_json = runner.invoke(main, [*truck, "--air-suspension", "--json"])
    assert (
        "车辆事实 Vehicle facts (what-if): 空气悬架 air suspension 是 yes, 铰接列车 articulated 否 no"
        in (json.loads(as_json.output)["lines"])
    )


def test_what_if_takes_the_twin_steer_rule_from_the_lane_config(tmp_path: Path) -> None:
    """An 8x4 whose twin steer measures 2.1 m: rigid (31,000 kg) by default, a combination (36,000 kg) under a
    lane configuration whose ``rules.steer_group_max_spacing_m`` is the group limit (the rule turned off)."""
    example = Path(__file__).resolve().parents[1] / "config" / "lane.example.toml"
    text = example.read_text(encoding="utf-8")
    assert "steer_group_max_spacing_m = 2.4" in text
    off = tmp_path / "lane.toml"
    off.write_text(text.replace("steer_group_max_spacing_m = 2.4", "steer_group_max_spacing_m = 2.0"))
    truck = ["rules", "explain", "--vehicle", "7000,7000,10000,10000", "--spacings", "2.1,4.4,1.35"]
    runner = CliRunner()
    for args, limit in (
        ([], "31,000"),
        (["--config", str(example)], "31,000"),
        (["--config", str(off)], "36,000"),
    ):
        result = runner.invoke(main, [*truck, *args])
        assert result.exit_code == 0, result.output
        assert f"适用限值 Limit applied: {limit} kg" in result.output.splitlines(), (args, result.output)
