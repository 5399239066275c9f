"""The typed evidence record: every reader parses the JSON the store signed, and writing it back gives
the very same text (so a signature made over a record stays valid through any reader)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from edge.evidence.chain import canonical_json
from edge.evidence.record import EvidenceRecord, RecordWim, Software
from edge.rules import Verdict

SAMPLE = {
    "schema": "weighlane.record/1",
    "id": "3f1c2a9e-0000-4000-8000-000000000001",
    "site_id": "G4-K1187",
    "lane": 2,
    "vehicle_number": 17,
    "time_utc": "2026-12-03T07:00:00.123Z",
    "plate": "冀A3K721",
    "axle_count": 6,
    "tyres": ["single", "dual", "dual", "dual", "dual", "dual"],
    "vehicle_class": "6-combination",
    "body": "combination",
    "axle_groups": [1, 2, 3],
    "wim": {
        "axle_loads_kg": [6512.3, 8734.1, 8701.9, 8012.4, None, 8050.7],
        "axle_spacings_m": [3.4, 1.35, 6.5, 1.31, 1.31],
        "axle_speeds_kmh": [12.1, 12.1, 12.1, 12.0, 12.0, 12.0],
        "speed_kmh": 12.05,
        "gross_kg": 48009.4,
        "residual_rms_kg": 85.2,
        "samples_used": 5123,
        "samples_lost": 0,
    },
    "limit": {
        "limit_kg": 49000,
        "base_limit_kg": 49000,
        "rule_id": "6-combination",
        "rule_text": "六轴及六轴以上汽车列车",
        "source": "交通运输部令2016年第62号",
        "deductions": [],
        "notes": [],
        "tolerance_factor": 1.05,
        "threshold_kg": 51450.0,
    },
    "verdict": "pass",
    "reasons": ["gross 48,009 kg <= 105 % of 49,000 kg limit (51,450 kg)"],
    "lane_output": {"display": "ok", "barrier": "ok", "display_text": "冀A3K721 请通行"},
    "timing": {
        "curtain_enter_utc": "2026-12-03T06:59:57.000Z",
        "curtain_leave_utc": "2026-12-03T06:59:59.000Z",
        "last_axle_exit_utc": "2026-12-03T07:00:00.123Z",
        "decided_utc": "2026-12-03T07:00:00.160Z",
        "verdict_latency_ms": 37.0,
    },
    "devices": {"wim": {"state": "up", "frames_bad": 0}},
    "calibration": {
        "kg_per_count": 0.02,
        "static": None,
        "static_overdue": None,
        "zero_source": "preroll",
        "dynamic_correction_factor": 1.0,
        "drift_monitor": {"alarm": False},
    },
    "software": {"name": "weighlane-edge", "version": "0.1.0"},
    "attachments": [{"name": "plate.jpg", "sha256": "ab" * 32, "bytes": 2048}],
    "seq": 41,
    "chain": {"chain_hash": "cd" * 32},
}


def test_a_stored_record_reads_back_to_the_same_signed_text() -> None:
    record = EvidenceRecord.from_json_dict(json.loads(json.dumps(SAMPLE)))
    assert canonical_json(record.to_json_dict()) == canonical_json(SAMPLE)
    assert record.verdict is Verdict.PASS
    assert record.wim is not None and record.wim.axle_loads_kg[4] is None
    assert record.limit is not None and record.limit.threshold_kg == 51450.0
    assert record.gross_kg == 48009.4


def test_the_fallback_record_has_no_sections_it_was_not_made_with() -> None:
    record = EvidenceRecord(
        id="r",
        site_id="s",
        lane=1,
        vehicle_number=3,
        time_utc=None,
        plate=None,
        axle_count=1,
        verdict=Verdict.REWEIGH,
        reasons=["internal error while judging: boom"],
        software=Software(version="0.1.0"),
    )
    data = record.to_json_dict()
    assert data["schema"] == "weighlane.record/1"
    assert data["plate"] is None and data["time_utc"] is None  # given as None: kept as null
    assert not {"wim", "limit", "timing", "calibration", "seq", "chain"} & set(data)
    assert data["software"] == {"name": "weighlane-edge", "version": "0.1.0"}


def test_live_result_is_what_replay_compares() -> None:
    live = EvidenceRecord.from_json_dict(SAMPLE).live_result()
    assert live["verdict"] == "pass" and live["gross_kg"] == 48009.4 and live["limit_kg"] == 49000
    assert live["record_id"] == SAMPLE["id"] and live["correction_factor"] == 1.0


def test_a_record_with_a_wrong_verdict_or_missing_id_is_refused() -> None:
    with pytest.raises(ValidationError, match="verdict"):
        EvidenceRecord.from_json_dict({**SAMPLE, "verdict": "maybe"})
    broken = {k: v for k, v in SAMPLE.items() if k != "id"}
    with pytest.raises(ValidationError, match="id"):
        EvidenceRecord.from_json_dict(broken)
    with pytest.raises(ValidationError):
        RecordWim.model_validate({"gross_kg": "heavy"})
