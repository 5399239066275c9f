"""An axle group within its uncertainty of its threshold gets the site's rule, not a coin toss (issue 16):
edge.rules.axles (the finding), edge.judge (the verdict), the evidence record and its explanation.

The measurements are hand-made, their covariance, and so each group's uncertainty, written out below.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from edge.config import OFFLINE_DEVICES, Config, RulesConfig
from edge.evidence.explain import explain
from edge.evidence.record import EvidenceRecord, RecordAxleGroup, Software
from edge.judge import Judgement, judge_weighed
from edge.lane.buffer import SampleWindow
from edge.lane.crossing import Crossing
from edge.rules import LimitTable, Verdict
from edge.wim.estimate import WimMeasurement
from edge.wim.weighing import Weighed

PACKAGED = Path(__file__).resolve().parents[1] / "edge" / "rules" / "limits_gb2016.toml"


def _lane(**rules: object) -> Config:
    return Config.model_validate(
        {"site": {"id": "groups", "lane": 1}, "devices": OFFLINE_DEVICES, "rules": rules}
    )


# A 3-axle rigid truck (4.3 m, 1.35 m; single, dual, dual): its drive tandem's limit is 18,000 kg (GB 1589
# 1.3-1.8 m), the threshold 18,900 kg; the gross limit 25,000 kg (O62), threshold 26,250 kg.
# Covariance (kg^2): steer 100^2; tandem axles 300^2 each, correlation -0.75.  The tandem's variance is
# 2 x 90,000 - 2 x 67,500 = 45,000: U = 2 x 212.1 = 424 kg (in quadrature its axles' would say 849 kg).
COVARIANCE = ((100.0**2, 0.0, 0.0), (0.0, 90_000.0, -67_500.0), (0.0, -67_500.0, 90_000.0))
TANDEM_U_KG = 2 * math.sqrt(45_000.0)


def _weighed(tandem_kg: float) -> tuple[Crossing, Weighed]:
    loads = (4000.0, tandem_kg / 2, tandem_kg / 2)
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
        axle_uncertainties_kg=tuple(2 * math.sqrt(COVARIANCE[i][i]) for i in range(3)),
        gross_uncertainty_kg=2 * math.sqrt(100.0**2 + 45_000.0),
        axle_covariance_kg2=COVARIANCE,
    )
    return crossing, Weighed(measurement, None, "preroll", ())


def _table(tmp_path: Path, findings: str) -> LimitTable:
    text = PACKAGED.read_text(encoding="utf-8")
    assert 'findings = "report"' in text
    path = tmp_path / f"limits-{findings}.toml"
    path.write_text(text.replace('findings = "report"', f'findings = "{findings}"', 1), encoding="utf-8")
    return LimitTable.load(path)


def _judged(tmp_path: Path, tandem_kg: float, rule: str, findings: str = "refuse") -> Judgement:
    crossing, weighed = _weighed(tandem_kg)
    return judge_weighed(crossing, weighed, _lane(near_threshold=rule), _table(tmp_path, findings))


@pytest.mark.parametrize(
    ("tandem_kg", "rule", "finding", "verdict"),
    [
        # 19,100 +/- 424 kg: within its uncertainty of 18,900, above it as measured.
        (19_100.0, "measured", "uncertain", Verdict.OVERWEIGHT),
        (19_100.0, "refuse", "uncertain", Verdict.OVERWEIGHT),
        (19_100.0, "pass", "uncertain", Verdict.PASS),
        (19_100.0, "reweigh", "uncertain", Verdict.REWEIGH),
        # 18,700 +/- 424 kg: within its uncertainty, below as measured.
        (18_700.0, "measured", "uncertain", Verdict.PASS),
        (18_700.0, "refuse", "uncertain", Verdict.OVERWEIGHT),
        # 19,500 - 424 > 18,900: over whatever the rule (in quadrature, 849 kg, it would be uncertain).
        (19_500.0, "pass", "over", Verdict.OVERWEIGHT),
        (19_500.0, "reweigh", "over", Verdict.OVERWEIGHT),
        # 18,300 + 424 < 18,900: within whatever the rule.
        (18_300.0, "refuse", "within", Verdict.PASS),
        (18_300.0, "reweigh", "within", Verdict.PASS),
    ],
)
def test_a_group_near_its_threshold_follows_the_sites_rule(
    tmp_path: Path, tandem_kg: float, rule: str, finding: str, verdict: Verdict
) -> None:
    judgement = _judged(tmp_path, tandem_kg, rule)
    tandem = judgement.axle_groups[1]
    assert (tandem.kind, tandem.threshold_kg) == ("tandem", 18_900.0)
    assert tandem.uncertainty_kg == pytest.approx(TANDEM_U_KG, rel=1e-9)
    assert tandem.finding == finding
    assert judgement.decision.verdict is verdict, judgement.decision.reasons
    if finding == "uncertain":
        assert tandem.rule_applied == rule
        assert f"(rules.near_threshold): {rule}" in tandem.why
        if rule in ("refuse", "reweigh"):
            assert any(f"(rules.near_threshold): {rule}" in r for r in judgement.decision.reasons)
    else:
        assert tandem.rule_applied is None
        assert not any("near_threshold" in r for r in judgement.decision.reasons)


@pytest.mark.parametrize("rule", ["measured", "refuse", "pass", "reweigh"])
def test_a_reported_finding_never_changes_the_verdict_and_the_record_says_it(
    tmp_path: Path, rule: str
) -> None:
    judgement = _judged(tmp_path, 19_100.0, rule, findings="report")
    assert judgement.decision.verdict is Verdict.PASS  # the gross, 23,100 kg, is far below 26,250
    tandem = judgement.axle_groups[1]
    counts_as = {"measured": "over", "refuse": "over", "pass": "within", "reweigh": "reweigh"}[rule]
    assert (tandem.finding, tandem.rule_applied, tandem.counts_as) == ("uncertain", rule, counts_as)
    assert tandem.as_record()["findings_rule"] == "report"


def test_the_group_finding_survives_the_record_and_is_explained(tmp_path: Path) -> None:
    judgement = _judged(tmp_path, 19_100.0, "reweigh")
    record = EvidenceRecord(
        id="g-1",
        site_id="groups",
        lane=1,
        vehicle_number=1,
        time_utc="2026-12-03T10:00:00.000Z",
        axle_count=3,
        axle_limits=[RecordAxleGroup(**g.as_record()) for g in judgement.axle_groups],
        verdict=judgement.decision.verdict,
        reasons=list(judgement.decision.reasons),
        software=Software(version="test"),
    )
    stored = EvidenceRecord.from_json_dict(json.loads(json.dumps(record.to_json_dict())))
    assert stored == record
    tandem = stored.axle_limits[1] if stored.axle_limits else None
    assert tandem is not None
    assert tandem.uncertainty_kg == round(TANDEM_U_KG, 1) == 424.3
    assert (tandem.finding, tandem.rule_applied, tandem.counts_as, tandem.findings_rule) == (
        "uncertain",
        "reweigh",
        "reweigh",
        "refuse",
    )
    line = next(line for line in explain(stored) if line.startswith("轴组 Axle group 2 "))
    assert "实测 measured 19,100 kg ±424 kg (k = 2), 超 over by 1,100 kg" in line
    assert "阈值 threshold 18,900 kg: 在不确定度内接近阈值 within its uncertainty of the threshold" in line
    assert "现场规则 site rule (rules.near_threshold = reweigh): 复检 re-weigh" in line
    assert line.endswith("影响判定 changes the verdict (findings = refuse)")
    steer = next(line for line in explain(stored) if line.startswith("轴组 Axle group 1 "))
    assert "±200 kg (k = 2)" in steer and "低于阈值（超出不确定度） below the threshold" in steer
    # A record made before groups carried an uncertainty keeps its old explanation.
    old = {k: v for k, v in tandem.model_dump().items() if k not in {"uncertainty_kg", "finding", "why"}}
    lines = explain(stored.model_copy(update={"axle_limits": [RecordAxleGroup(**old)]}))
    assert next(line for line in lines if line.startswith("轴组 Axle group 2 ")).endswith(
        "实测 measured 19,100 kg, 超 over by 1,100 kg，超出容差 beyond the tolerance"
    )


def test_the_near_threshold_rule_is_validated() -> None:
    assert RulesConfig().near_threshold == "measured"
    for rule in ("measured", "refuse", "pass", "reweigh"):
        assert RulesConfig.model_validate({"near_threshold": rule}).near_threshold == rule
    with pytest.raises(ValidationError, match="near_threshold"):
        RulesConfig.model_validate({"near_threshold": "coin"})
