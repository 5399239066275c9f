"""The lane with its camera: the simulated camera writes rendered frames of each truck's plate into a
folder, the daemon reads them on the separator trigger, and the plate, its frame and crop join the
signed record and its exported evidence package."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from edge.evidence import verify_database
from edge.evidence.package import export_package
from firmware_sim.scenario import Scenario


def _db_records(path: str) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as conn:
        return [json.loads(row[0]) for row in conn.execute("SELECT record_json FROM records ORDER BY seq")]


async def test_every_truck_gets_its_plate_and_images_in_the_signed_record(
    make_rig: Any, short_scenario: Scenario, tmp_path: Path
) -> None:
    rig = make_rig(short_scenario, camera_dir=tmp_path / "camera")
    assert rig.config.plates.enabled
    await rig.start()
    await rig.wait_records(len(short_scenario.trucks), timeout_s=rig.sim.duration_s + 60)
    truth = rig.sim.truth()
    stored = _db_records(rig.config.evidence.database)
    assert len(stored) == len(truth)
    read_right = 0
    for record, known in zip(stored, truth, strict=True):
        reading = record["plate_reading"]
        assert reading["frames_read"] >= 1, reading
        # Only a sure, valid reading names the vehicle; an uncertain one stays in plate_reading.
        assert record["plate"] == (reading["text"] if not reading["unsure"] else None)
        assert reading["status"] in ("valid", "uncertain", "unreadable")
        assert reading["valid"] == (reading["status"] == "valid"), "an uncertain plate is never valid"
        read_right += record["plate"] == known["plate"]
        if record["plate"] == known["plate"]:
            assert reading["color"] == "yellow" and reading["rows"] == 1
            assert len(reading["char_confidences"]) == len(known["plate"])
        names = {a["name"]: a for a in record["attachments"]}
        assert set(names) == {"frame.jpg", "plate.jpg"}
        folder = Path(rig.config.evidence.database).parent / "attachments" / record["id"]
        for name, item in names.items():
            data = (folder / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == item["sha256"]
            assert data[:2] == b"\xff\xd8", "a JPEG"
    assert read_right >= len(truth) - 1, [
        (r["plate"], k["plate"]) for r, k in zip(stored, truth, strict=True)
    ]
    assert rig.daemon.health()["plates"]["camera"]["state"] == "up"
    # The chain verifies, and a package carries the images the signed record names.
    assert verify_database(rig.config.evidence.database).ok
    result = export_package(rig.config.evidence.database, stored[0]["id"], tmp_path / "package")
    assert result.report.ok, result.report
    assert (result.path / "attachments" / "plate.jpg").is_file()
    # Board text names the truck by its plate once it is read.
    assert any(known["plate"] in " ".join(e.lines) for e in rig.sim.display_log for known in truth)
