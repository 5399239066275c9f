"""Tamper evidence: the signed hash chain over records, its verification, and case-file packages."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import sqlite3
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from edge.cli_evidence import evidence
from edge.evidence import (
    EvidenceError,
    EvidenceStore,
    canonical_json,
    export_package,
    load_or_create_signer,
    verify_database,
    verify_package,
    verify_payload,
)
from edge.evidence.chain import chain_hash, genesis, record_hash, seal
from edge.evidence.signing import key_paths, load_signer, signature_scheme

TOPIC = "site/s1/lane/1/record"
REPO = Path(__file__).resolve().parents[1]


def _record(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"rec-{i}",
        "site_id": "s1",
        "lane": 1,
        "time_utc": "2026-11-22T00:00:00.000Z",
        "verdict": "pass",
        "axle_count": 2,
        "wim": {"gross_kg": 15000.0 + i},
        "limit": {"limit_kg": 18000},
        "plate": "冀A12345",
        "attachments": [],
        **extra,
    }


async def _fill(db: Path, count: int, start: int = 0) -> list[dict[str, Any]]:
    store = EvidenceStore(db)
    await store.open()
    try:
        return [await store.add(_record(i), TOPIC) for i in range(start, start + count)]
    finally:
        await store.close()


def _sql(db: Path, statement: str, params: tuple[Any, ...] = ()) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(statement, params)


def _row(db: Path, seq: int) -> sqlite3.Row:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        row: sqlite3.Row = conn.execute("SELECT * FROM records WHERE seq = ?", (seq,)).fetchone()
        return row


def _kinds_at(report: Any) -> set[tuple[int | None, str]]:
    return {(p.seq, p.kind) for p in report.problems}


async def test_a_chain_of_50_records_verifies_and_the_key_files_are_private(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    stored = await _fill(db, 50)
    report = verify_database(db)
    assert report.ok, report.lines()
    assert (report.records, report.verified, report.unsigned) == (50, 50, 0)
    assert report.head_chain_hash == stored[-1]["chain"]["chain_hash"]
    key_file, pub_file = key_paths(db)
    assert key_file.name == "e.db.ed25519.key" and pub_file.name == "e.db.ed25519.pub"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    raw = serialization.load_pem_public_key(pub_file.read_bytes()).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert report.key_id == hashlib.sha256(raw).hexdigest()[:16] == stored[0]["chain"]["key_id"]
    assert b"PRIVATE" not in pub_file.read_bytes()
    # The first record links to the genesis, every other one to its predecessor.
    assert stored[0]["chain"]["prev"] == "00" * 32
    for before, after in itertools.pairwise(stored):
        assert after["chain"]["prev"] == before["chain"]["chain_hash"]
    # Reopening uses the same key.
    await _fill(db, 1, start=50)
    assert verify_database(db).verified == 51


async def test_the_stored_json_is_exactly_the_hashed_text(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    await _fill(db, 3)
    row = _row(db, 2)
    text = row["record_json"].encode("utf-8")
    assert hashlib.sha256(text).hexdigest() == row["record_hash"]
    layout = bytes.fromhex(row["prev_chain_hash"]) + bytes.fromhex(row["record_hash"])
    assert hashlib.sha256(layout).hexdigest() == row["chain_hash"]
    assert json.loads(text)["seq"] == 2 and "chain" not in json.loads(text)
    assert (row["sig_alg"], row["hash_alg"]) == ("ed25519", "sha256")
    public = serialization.load_pem_public_key(key_paths(db)[1].read_bytes())
    public.verify(bytes.fromhex(row["signature"]), bytes.fromhex(row["chain_hash"]))  # type: ignore[union-attr,call-arg]


async def test_an_edited_record_is_found_at_its_seq(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    await _fill(db, 50)
    record = json.loads(_row(db, 17)["record_json"])
    record["wim"]["gross_kg"] = 9000.0  # an overweight truck made legal
    _sql(db, "UPDATE records SET record_json = ? WHERE seq = 17", (canonical_json(record),))
    report = verify_database(db)
    assert not report.ok
    assert report.first_broken_seq == 17
    assert (17, "record_edited") in _kinds_at(report)
    assert {p.seq for p in report.problems} == {17}, "the rest of the chain still links"
    assert report.verified == 49
    assert any("seq 17: record edited" in line for line in report.lines())

    # Only a searchable column edited (the JSON left alone): found too.
    _sql(db, "UPDATE records SET verdict = 'pass', gross_kg = 1.0 WHERE seq = 30")
    report = verify_database(db)
    assert (30, "column_edited") in _kinds_at(report)


async def test_rehashing_an_edited_record_breaks_the_signature_and_the_next_link(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    await _fill(db, 10)
    row = _row(db, 4)
    record = json.loads(row["record_json"])
    record["verdict"] = "overweight"
    text = canonical_json(record)
    new_record_hash = record_hash(text.encode())
    new_chain = chain_hash(bytes.fromhex(row["prev_chain_hash"]), new_record_hash)
    _sql(
        db,
        "UPDATE records SET record_json = ?, verdict = 'overweight', record_hash = ?, chain_hash = ?"
        " WHERE seq = 4",
        (text, new_record_hash.hex(), new_chain.hex()),
    )
    kinds = _kinds_at(verify_database(db))
    assert (4, "signature_invalid") in kinds
    assert (5, "prev_mismatch") in kinds


async def test_a_deleted_row_is_found(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    await _fill(db, 50)
    _sql(db, "DELETE FROM records WHERE seq = 20")
    report = verify_database(db)
    assert (21, "rows_missing") in _kinds_at(report)
    assert "seq 20 missing" in report.problems[0].detail
    assert report.records == 49

    # Deleting the first records: the chain no longer starts at the genesis.
    _sql(db, "DELETE FROM records WHERE seq <= 2")
    assert (3, "chain_start_missing") in _kinds_at(verify_database(db))


async def test_a_row_deleted_and_the_rest_renumbered_is_found(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    await _fill(db, 10)
    _sql(db, "DELETE FROM records WHERE seq = 5")
    _sql(db, "UPDATE records SET seq = seq - 1 WHERE seq > 5")
    kinds = _kinds_at(verify_database(db))
    assert (5, "prev_mismatch") in kinds
    assert (5, "column_edited") in kinds  # the signed JSON still says seq 6


async def test_swapped_signatures_and_keys_are_found(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    await _fill(db, 50)
    other = load_or_create_signer(tmp_path / "other.ed25519.key")
    _sql(db, "UPDATE records SET signature = (SELECT signature FROM records WHERE seq = 6) WHERE seq = 5")
    # Seq 9 re-signed by someone else's key, hashes intact.
    row = _row(db, 9)
    forged = seal(row["record_json"].encode(), bytes.fromhex(row["prev_chain_hash"]), other)
    _sql(db, "UPDATE records SET signature = ?, key_id = ? WHERE seq = 9", (forged.sig, forged.key_id))
    report = verify_database(db)
    assert _kinds_at(report) == {(5, "signature_invalid"), (9, "wrong_key")}

    # Checked against a key that is not the station's: every record is reported, the list is capped.
    report = verify_database(db, other.public_key_pem(), max_problems=10)
    assert report.problem_count == 49 and len(report.problems) == 10  # seq 9 is the other key's
    assert any("... and 39 more problems" in line for line in report.lines())

    # The public key file beside the database replaced by the forger's.
    key_paths(db)[1].write_bytes(other.public_key_pem())
    assert verify_database(db).problem_count == 49


async def test_a_database_from_before_chaining_is_upgraded(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:  # schema 1, as the store created it before chaining
        conn.executescript(
            """
            CREATE TABLE [records] ([seq] INTEGER PRIMARY KEY, [id] TEXT NOT NULL, [site_id] TEXT NOT NULL,
              [lane] INTEGER NOT NULL, [time_utc] TEXT NOT NULL, [verdict] TEXT NOT NULL,
              [axle_count] INTEGER, [gross_kg] FLOAT, [limit_kg] INTEGER, [plate] TEXT,
              [record_json] TEXT NOT NULL);
            CREATE UNIQUE INDEX idx_records_id ON records (id);
            CREATE TABLE [outbox] ([seq] INTEGER PRIMARY KEY, [record_id] TEXT NOT NULL,
              [topic] TEXT NOT NULL, [payload] BLOB NOT NULL, [queued_utc] TEXT NOT NULL,
              [attempts] INTEGER NOT NULL DEFAULT 0, [last_error] TEXT, [sent_utc] TEXT);
            CREATE TABLE [meta] ([key] TEXT PRIMARY KEY, [value] TEXT);
            INSERT INTO meta VALUES ('schema_version', '1');
            """
        )
        for seq in (1, 2, 3):
            record = {**_record(100 + seq), "seq": seq}
            text = canonical_json(record)
            conn.execute(
                "INSERT INTO records VALUES (?, ?, 's1', 1, ?, 'pass', 2, ?, 18000, '冀A12345', ?)",
                (seq, record["id"], record["time_utc"], record["wim"]["gross_kg"], text),
            )
            conn.execute(
                "INSERT INTO outbox (seq, record_id, topic, payload, queued_utc, sent_utc)"
                " VALUES (?, ?, 't', ?, 'x', 'x')",
                (seq, record["id"], text.encode()),
            )
    report = verify_database(db)  # before the upgrade: no chain columns, nothing to check yet
    assert report.ok and report.unsigned == 3

    store = EvidenceStore(db)
    await store.open()
    try:
        new = [await store.add(_record(i), TOPIC) for i in range(2)]
        old = await store.record("rec-102")
        assert old is not None and "chain" not in old
    finally:
        await store.close()
    assert [r["seq"] for r in new] == [4, 5]
    assert new[0]["chain"]["prev"] == genesis().hex()
    report = verify_database(db)
    assert report.ok, report.lines()
    assert (report.records, report.unsigned, report.verified) == (5, 3, 2)
    assert "3 unsigned (before chaining)" in report.lines()[0]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "3"
        # Schema 3 (retention): the eviction column, empty on every row.
        assert conn.execute("SELECT COUNT(*) FROM records WHERE evicted_utc IS NULL").fetchone()[0] == 5
    # An uploaded record from before chaining can be evicted too; it stays counted as unsigned.
    store = EvidenceStore(db)
    await store.open()
    try:
        assert [r.seq for r in await store.evict_sent(1)] == [1]
    finally:
        await store.close()
    report = verify_database(db)
    assert report.ok, report.lines()
    assert (report.records, report.unsigned, report.verified, report.evicted) == (5, 3, 2, 0)

    # Emptying the chain fields of a record written after chaining is not "old": it is tampering.
    _sql(db, "UPDATE records SET record_hash = NULL, prev_chain_hash = NULL, chain_hash = NULL,"
         " signature = NULL, sig_alg = NULL, hash_alg = NULL, key_id = NULL WHERE seq = 5")  # fmt: skip
    assert (5, "chain_missing") in _kinds_at(verify_database(db))
    with pytest.raises(EvidenceError, match="before chaining"):
        export_package(db, "rec-102", tmp_path / "out")


async def test_the_published_payload_carries_the_chain(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    store = EvidenceStore(db)
    await store.open()
    try:
        for i in range(3):
            await store.add(_record(i), TOPIC)
        pending = await store.pending(10)
    finally:
        await store.close()
    payloads = [json.loads(entry.payload) for entry in pending]
    for entry, payload in zip(pending, payloads, strict=True):
        row = _row(db, entry.seq)
        chain = payload["chain"]
        assert set(chain) == {"alg", "hash_alg", "record_hash", "prev", "chain_hash", "sig", "key_id"}
        assert (chain["chain_hash"], chain["record_hash"], chain["sig"]) == (
            row["chain_hash"],
            row["record_hash"],
            row["signature"],
        )
        without_chain = {key: value for key, value in payload.items() if key != "chain"}
        assert canonical_json(without_chain) == row["record_json"]
        assert verify_payload(entry.payload, key_paths(db)[1].read_bytes()).ok
    assert payloads[1]["chain"]["prev"] == payloads[0]["chain"]["chain_hash"]
    payloads[2]["verdict"] = "overweight"
    report = verify_payload(canonical_json(payloads[2]).encode(), key_paths(db)[1].read_bytes())
    assert (3, "record_edited") in _kinds_at(report)


async def test_a_custom_signer_is_used(tmp_path: Path) -> None:
    signer = load_signer(signature_scheme("ed25519").generate_private_pem())
    store = EvidenceStore(tmp_path / "e.db", signer=signer)
    await store.open()
    try:
        stored = await store.add(_record(0), TOPIC)
        assert store.key_id == signer.key_id == stored["chain"]["key_id"]
    finally:
        await store.close()
    assert not key_paths(tmp_path / "e.db")[0].exists()
    assert verify_database(tmp_path / "e.db", signer.public_key_pem()).ok
    with pytest.raises(EvidenceError, match="no public key"):
        verify_database(tmp_path / "e.db")


class _UnpluggedCard:
    """A signer whose hardware is gone (an HSM or a national-crypto card cannot run here)."""

    alg = "ed25519"
    key_id = "0000000000000000"

    def public_key_pem(self) -> bytes:
        return b""

    def sign(self, message: bytes) -> bytes:
        raise OSError("card removed")


async def test_a_failing_signer_stores_nothing_and_raises_evidence_error(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "e.db", signer=_UnpluggedCard())
    await store.open()
    try:
        with pytest.raises(EvidenceError, match="cannot sign record seq 1: card removed"):
            await store.add(_record(0), TOPIC)
        assert await store.counts() == {"records": 0, "outbox_pending": 0}
        assert store.write_errors == 1
    finally:
        await store.close()


def _capture_name(record_id: str, vehicle: int) -> str:
    """As edge.wim.capture.CaptureWriter names captures: <HHMMSS>-<vehicle>-<id>.wlcap in a day folder."""
    return f"083015-{vehicle}-{record_id}.wlcap"


async def test_an_exported_package_verifies_on_its_own(tmp_path: Path) -> None:
    db = tmp_path / "station" / "e.db"
    stored = await _fill(db, 5)
    captures = tmp_path / "captures" / "20261122"
    captures.mkdir(parents=True)
    (captures / _capture_name("rec-2", 3)).write_bytes(b"PK fake capture of rec-2")
    (captures / _capture_name("rec-22", 4)).write_bytes(b"another truck")
    result = export_package(db, "rec-2", tmp_path / "out", capture_dir=tmp_path / "captures")
    assert result.report.ok, result.report.lines()
    package = result.path
    assert package == tmp_path / "out" / "rec-2"
    names = sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file())
    assert names == [
        "README.txt",
        "capture/083015-3-rec-2.wlcap",
        "chain.json",
        "manifest.json",
        "public_key.pem",
        "record.json",
    ]
    assert (package / "record.json").read_text() == _row(db, 3)["record_json"]
    assert json.loads((package / "chain.json").read_text()) == stored[2]["chain"]

    # Copied elsewhere, with the station's database and keys gone.
    copy = tmp_path / "court" / "case-17"
    shutil.copytree(package, copy)
    shutil.rmtree(tmp_path / "station")
    report = verify_package(copy)
    assert report.ok and report.verified == 1 and report.first_seq == 3
    assert any("not signed" in note for note in report.notes)
    assert verify_package(copy, (package / "public_key.pem").read_bytes()).ok

    # A trusted key that is not the package's.
    other = load_or_create_signer(tmp_path / "x.ed25519.key")
    assert (3, "wrong_key") in _kinds_at(verify_package(copy, other.public_key_pem()))

    # The record altered.
    record = json.loads((copy / "record.json").read_text())
    record["verdict"] = "pass" if record["verdict"] != "pass" else "overweight"
    (copy / "record.json").write_text(canonical_json(record))
    report = verify_package(copy)
    assert not report.ok and (3, "record_edited") in _kinds_at(report)

    # The capture altered (it is not signed, but the manifest notices).
    (package / "capture" / "083015-3-rec-2.wlcap").write_bytes(b"something else")
    assert (3, "file_mismatch") in _kinds_at(verify_package(package))


async def test_a_zipped_package_verifies_and_detects_edits(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    await _fill(db, 3)
    result = export_package(db, "rec-1", tmp_path / "out", as_zip=True)
    assert result.path.name == "rec-1.zip" and result.report.ok
    with zipfile.ZipFile(result.path) as archive:
        assert "rec-1/record.json" in archive.namelist()
        members = {name: archive.read(name) for name in archive.namelist()}
    members["rec-1/record.json"] = members["rec-1/record.json"].replace(b'"verdict":"pass"', b'"verdict":"x"')
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(forged, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    assert (2, "record_edited") in _kinds_at(verify_package(forged))
    with pytest.raises(EvidenceError, match="exists"):
        export_package(db, "rec-1", tmp_path / "out", as_zip=True)


async def test_attachments_are_packaged_and_checked_against_the_signed_hashes(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    image = b"\xff\xd8\xff\xe0 a plate photo"
    attachment = {
        "name": "plate.jpg",
        "sha256": hashlib.sha256(image).hexdigest(),
        "bytes": len(image),
        "media_type": "image/jpeg",
    }
    store = EvidenceStore(db)
    await store.open()
    try:
        await store.add(_record(1, attachments=[attachment]), TOPIC)
        await store.add(_record(2, attachments=[{**attachment, "name": "lost.jpg"}]), TOPIC)
    finally:
        await store.close()
    folder = tmp_path / "attachments" / "rec-1"
    folder.mkdir(parents=True)
    (folder / "plate.jpg").write_bytes(image)
    result = export_package(db, "rec-1", tmp_path / "out")
    assert result.report.ok, result.report.lines()
    assert (result.path / "attachments" / "plate.jpg").read_bytes() == image
    (result.path / "attachments" / "plate.jpg").write_bytes(image + b"retouched")
    report = verify_package(result.path)
    assert (1, "attachment") in _kinds_at(report)
    assert "differs from the signed record" in report.problems[0].detail

    missing = export_package(db, "rec-2", tmp_path / "out")
    assert missing.missing and not missing.report.ok
    assert any("lost.jpg" in p.detail for p in missing.report.problems)


# -- command line ----------------------------------------------------------------------------------


def _lane_toml(tmp_path: Path, db: Path, capture_dir: Path) -> Path:
    text = (REPO / "config" / "lane.example.toml").read_text(encoding="utf-8")
    text = text.replace('database = "/var/lib/weighlane/evidence.db"', f'database = "{db}"')
    text += f'\n[wim]\ncapture_dir = "{capture_dir}"\n'
    path = tmp_path / "lane.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_cli_verify_reports_ok_and_tampering_with_exit_codes(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    await _fill(db, 20)
    config = _lane_toml(tmp_path, db, tmp_path / "captures")
    runner = CliRunner()
    result = runner.invoke(evidence, ["verify", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "20 records (seq 1..20), 20 verified" in result.output and result.output.endswith("OK\n")

    _sql(db, "UPDATE records SET record_json = replace(record_json, '15012.0', '1.0') WHERE seq = 13")
    result = runner.invoke(evidence, ["verify", "--database", str(db)])
    assert result.exit_code == 1
    assert "PROBLEM seq 13: record edited" in result.output
    assert "FAILED: 2 problem(s), first at seq 13" in result.output  # the JSON, and gross_kg

    result = runner.invoke(evidence, ["verify", "--database", str(db), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["first_broken_seq"] == 13 and report["problems"][0]["kind"] == "record_edited"

    result = runner.invoke(evidence, ["verify"])
    assert result.exit_code == 2 and "give --config LANE_TOML or --database PATH" in result.output
    result = runner.invoke(evidence, ["verify", "--database", str(tmp_path / "none.db")])
    assert result.exit_code == 1 and "no such evidence database" in result.output


async def test_cli_export_and_verify_package(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    await _fill(db, 4)
    captures = tmp_path / "captures"
    (captures / "20261122").mkdir(parents=True)
    (captures / "20261122" / _capture_name("rec-3", 4)).write_bytes(b"capture")
    config = _lane_toml(tmp_path, db, captures)
    runner = CliRunner()
    result = runner.invoke(
        evidence, ["export", "rec-3", "--config", str(config), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'o' / 'rec-3'}" in result.output
    assert (tmp_path / "o" / "rec-3" / "capture" / "083015-4-rec-3.wlcap").is_file()

    args = ["export", "rec-3", "--database", str(db), "--out", str(tmp_path / "z"), "--zip"]
    result = runner.invoke(evidence, args)
    assert result.exit_code == 0, result.output
    result = runner.invoke(evidence, ["verify-package", str(tmp_path / "z" / "rec-3.zip")])
    assert result.exit_code == 0, result.output
    assert "1 verified" in result.output

    (tmp_path / "o" / "rec-3" / "record.json").write_text("{}")
    result = runner.invoke(evidence, ["verify-package", str(tmp_path / "o" / "rec-3")])
    assert result.exit_code == 1 and "record edited" in result.output

    result = runner.invoke(evidence, ["export", "nope", "--database", str(db), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "no record with id 'nope'" in result.output
    result = runner.invoke(evidence, ["verify-package", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "no such package" in result.output
