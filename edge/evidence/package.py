"""Evidence packages: one record, self-contained, for a case file; and checks of published payloads.

A package is a folder (or a ZIP holding that folder) named after the record id::

    <record_id>/
      manifest.json     what is inside: every file's path, role, sha256 and size (not signed)
      record.json       the exact bytes that were hashed: canonical JSON of the record, with its seq
      chain.json        its chain entry: alg, hash_alg, record_hash, prev, chain_hash, sig, key_id
      public_key.pem    the station's public key (SubjectPublicKeyInfo PEM)
      attachments/      the record's images, each matching the sha256 in record.json's attachments
      capture/          the raw capture (.wlcap) of the crossing, when one was found (not signed)
      README.txt        how to verify

:func:`verify_package` proves that ``record.json`` is exactly what the holder of the key signed at
that chain position (``prev``), and that the attachments are the ones it names.  It does not prove
that no later record was deleted, nor that the key is the station's: compare ``key_id`` with the key
registered centrally, and the seq with the central system's sequence.  docs/evidence.md says more.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.evidence.chain import ChainEntry, EvidenceError, Problem, VerifyReport, canonical_json, check_entry
from edge.evidence.signing import Verifier, load_verifier
from edge.evidence.store import read_stored_record, station_verifier

__all__ = [
    "PACKAGE_FORMAT",
    "PACKAGE_VERSION",
    "ExportResult",
    "export_package",
    "find_capture",
    "verify_package",
    "verify_payload",
]

PACKAGE_FORMAT = "weighlane-evidence-package"
PACKAGE_VERSION = 1
MANIFEST = "manifest.json"
RECORD = "record.json"
CHAIN = "chain.json"
PUBLIC_KEY = "public_key.pem"
README = "README.txt"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# The capture writer's file names (edge/wim/capture.py CaptureWriter):
# <YYYYMMDD>/<HHMMSS>-<vehicle>-<record id, unsafe characters as _, at most 64>[-<6 hex>].wlcap
_CAPTURE_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")
_CAPTURE_SUFFIX = ".wlcap"

_README = """\
Evidence package {record_id} (site {site_id}, lane {lane}, seq {seq}, {time_utc})

record.json is the exact text the station hashed and signed; chain.json is its chain entry and
public_key.pem the station key (key_id {key_id}).  Verify with `edge evidence verify-package <this
folder>`, or by hand (docs/evidence.md):

  record_hash = {hash_alg}(bytes of record.json)
  chain_hash  = {hash_alg}(bytes.fromhex(prev) + record_hash)
  {alg} signature `sig` over the 32 raw bytes of chain_hash, by public_key.pem

and the sha256 of each file under attachments/ equals the one listed in record.json.  The capture/
folder (raw sensor data) is not covered by the signature; its sha256 is in manifest.json.
"""


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def find_capture(capture_dir: str | Path, record_id: str) -> Path | None:
    """The raw capture the daemon wrote for ``record_id`` under ``capture_dir``, or None."""
    directory = Path(capture_dir)
    if not directory.is_dir():
        return None
    safe = _CAPTURE_UNSAFE.sub("_", record_id)[:64]
    own = re.compile(rf"^\d{{6}}-\d+-{re.escape(safe)}(-[0-9a-f]{{6}})?$")
    found = sorted(path for path in directory.glob(f"*/*{_CAPTURE_SUFFIX}") if own.match(path.stem))
    return found[0] if found else None


def _find_attachment(dirs: list[Path], record_id: str, name: str, sha256: str) -> Path | None:
    candidates = [d / record_id / name for d in dirs] + [d / name for d in dirs] + [d / sha256 for d in dirs]
    return next((path for path in candidates if path.is_file()), None)


@dataclass
class ExportResult:
    """Where the package went, what could not be included, and its verification."""

    path: Path
    report: VerifyReport
    missing: list[str] = field(default_factory=list)


def export_package(
    db_path: str | Path,
    record_id: str,
    out_dir: str | Path,
    *,
    capture_dir: str | Path | None = None,
    attachment_dirs: list[Path] | None = None,
    public_key_pem: bytes | None = None,
    as_zip: bool = False,
) -> ExportResult:
    """Write the package of one record into ``out_dir`` (a folder, or a ``.zip`` with ``as_zip``) and
    verify what was written.  :class:`EvidenceError` when the record is missing, unsigned, or signed by
    another key than the station's; an existing package is never overwritten."""
    db_path = Path(db_path)
    stored = read_stored_record(db_path, record_id)
    if stored is None:
        raise EvidenceError(f"{db_path}: no record with id {record_id!r}")
    if stored.evicted_utc is not None:
        raise EvidenceError(
            f"record {record_id} (seq {stored.seq}) was uploaded, then evicted at {stored.evicted_utc} to"
            " stay within evidence.budget_mb: only its chain entry is kept here; export it from the central"
            " archive, which holds the signed record"
        )
    if stored.chain is None:
        raise EvidenceError(
            f"record {record_id} (seq {stored.seq}) was stored before chaining: it is unsigned and cannot"
            " be exported as a signed package; keep a copy of the whole database instead"
        )
    verifier, _ = station_verifier(db_path, public_key_pem)
    if verifier is None:
        raise EvidenceError(f"{db_path}: no public key beside the database; pass it (--public-key)")
    if verifier.key_id != stored.chain.key_id:
        raise EvidenceError(
            f"record {record_id} is signed by key {stored.chain.key_id}, the public key found is"
            f" {verifier.key_id}; pass the key that signed it (--public-key)"
        )
    record = json.loads(stored.record_text)
    folder_name = _CAPTURE_UNSAFE.sub("_", record_id)[:100]
    files: dict[str, bytes | Path] = {
        RECORD: stored.record_text.encode("utf-8"),
        CHAIN: (json.dumps(stored.chain.as_dict(), indent=2) + "\n").encode("utf-8"),
        PUBLIC_KEY: verifier.public_key_pem(),
    }
    roles = {RECORD: "record", CHAIN: "chain", PUBLIC_KEY: "public_key"}
    names: dict[str, str] = {}
    missing: list[str] = []
    dirs = attachment_dirs if attachment_dirs is not None else [db_path.parent / "attachments"]
    for index, attachment in enumerate(record.get("attachments") or []):
        name = str(attachment.get("name", "")) if isinstance(attachment, dict) else ""
        sha256 = str(attachment.get("sha256", "")) if isinstance(attachment, dict) else ""
        source = _find_attachment(dirs, record_id, name, sha256) if _SAFE_NAME.match(name) else None
        if source is None:
            missing.append(f"attachment {index} {name!r}: file not found in {', '.join(map(str, dirs))}")
            continue
        member = f"attachments/{name}"
        files[member], roles[member], names[member] = source, "attachment", name
    capture = find_capture(capture_dir, record_id) if capture_dir else None
    if capture is not None:
        member = f"capture/{capture.name}"
        files[member], roles[member] = capture, "capture"
    manifest_files = []
    for member, content in files.items():
        if isinstance(content, Path):
            digest, size = _sha256_file(content)
        else:
            digest, size = hashlib.sha256(content).hexdigest(), len(content)
        entry: dict[str, Any] = {"path": member, "role": roles[member], "sha256": digest, "bytes": size}
        if member in names:
            entry["name"] = names[member]
        manifest_files.append(entry)
    manifest = {
        "format": PACKAGE_FORMAT,
        "version": PACKAGE_VERSION,
        "record_id": record_id,
        "seq": stored.seq,
        "site_id": record.get("site_id"),
        "lane": record.get("lane"),
        "time_utc": record.get("time_utc"),
        "key_id": stored.chain.key_id,
        "alg": stored.chain.alg,
        "hash_alg": stored.chain.hash_alg,
        "exported_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": manifest_files,
        "missing": missing,
    }
    files[MANIFEST] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    files[README] = _README.format(
        record_id=record_id,
        seq=stored.seq,
        **{key: record.get(key) for key in ("site_id", "lane", "time_utc")},
        **{key: manifest[key] for key in ("key_id", "alg", "hash_alg")},
    ).encode("utf-8")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / (folder_name + (".zip" if as_zip else ""))
    if target.exists():
        raise EvidenceError(f"{target} exists; remove it or choose another --out")
    _write(target, folder_name, files, as_zip)
    report = verify_package(target, public_key_pem)
    for problem in missing:
        report.notes.append(f"not included: {problem}")
    return ExportResult(target, report, missing)


def _write(target: Path, folder_name: str, files: dict[str, bytes | Path], as_zip: bool) -> None:
    """Write beside the target, then rename: a package is either complete or absent."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder_name}.", dir=target.parent))
    try:
        if as_zip:
            staged = tmp / "package.zip"
            with zipfile.ZipFile(staged, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for member, content in files.items():
                    if isinstance(content, Path):
                        archive.write(content, f"{folder_name}/{member}")
                    else:
                        archive.writestr(f"{folder_name}/{member}", content)
        else:
            staged = tmp / folder_name
            for member, content in files.items():
                path = staged / member
                path.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, Path):
                    shutil.copyfile(content, path)
                else:
                    path.write_bytes(content)
        os.replace(staged, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- reading a package ----------------------------------------------------------------------------------


class _Files:
    """A package's members by relative path, from a folder or a ZIP."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        self._root = path
        if path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise EvidenceError(f"{path}: not a package folder or ZIP ({exc})") from exc
            names = self._zip.namelist()
            if MANIFEST not in names:
                tops = [name for name in names if name.count("/") == 1 and name.endswith("/" + MANIFEST)]
                if len(tops) != 1:
                    raise EvidenceError(f"{path}: no {MANIFEST} at the top or in one folder of the ZIP")
                self._prefix = tops[0].removesuffix(MANIFEST)
        elif path.is_dir():
            if not (path / MANIFEST).is_file():
                inner = [child for child in path.iterdir() if (child / MANIFEST).is_file()]
                if len(inner) != 1:
                    raise EvidenceError(f"{path}: no {MANIFEST}; give the package folder or its ZIP")
                self._root = inner[0]
        else:
            raise EvidenceError(f"{path}: no such package")

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def names(self) -> set[str]:
        if self._zip is not None:
            return {
                name.removeprefix(self._prefix)
                for name in self._zip.namelist()
                if name.startswith(self._prefix) and not name.endswith("/")
            }
        return {str(p.relative_to(self._root)) for p in self._root.rglob("*") if p.is_file()}

    def _open(self, member: str) -> Iterator[bytes]:
        if ".." in member.split("/") or member.startswith("/"):
            raise KeyError(member)
        stream: io.BufferedIOBase | Any
        if self._zip is not None:
            stream = self._zip.open(self._prefix + member)
        else:
            path = self._root / member
            if not path.is_file():
                raise KeyError(member)
            stream = path.open("rb")
        with stream:
            while chunk := stream.read(1 << 20):
                yield chunk

    def read(self, member: str) -> bytes | None:
        try:
            return b"".join(self._open(member))
        except (KeyError, OSError):
            return None

    def sha256(self, member: str) -> tuple[str, int] | None:
        digest = hashlib.sha256()
        size = 0
        try:
            for chunk in self._open(member):
                digest.update(chunk)
                size += len(chunk)
        except (KeyError, OSError):
            return None
        return digest.hexdigest(), size


def verify_package(path: str | Path, public_key_pem: bytes | None = None) -> VerifyReport:
    """Check an exported package (folder or ZIP) on its own; see the module docstring for what that
    proves.  ``public_key_pem`` is the trusted station key; without it the package's own key is used
    and the report says so.  :class:`EvidenceError` when it is not a package at all."""
    path = Path(path)
    files = _Files(path)
    try:
        return _verify_files(files, public_key_pem, VerifyReport(source=str(path)))
    finally:
        files.close()


def _json(files: _Files, member: str) -> Any:
    content = files.read(member)
    if content is None:
        raise EvidenceError(f"{member} is missing")
    try:
        return json.loads(content)
    except ValueError as exc:
        raise EvidenceError(f"{member} is not JSON ({exc})") from None


def _verify_files(files: _Files, public_key_pem: bytes | None, report: VerifyReport) -> VerifyReport:
    try:
        manifest = _json(files, MANIFEST)
        if not isinstance(manifest, dict) or manifest.get("format") != PACKAGE_FORMAT:
            raise EvidenceError(f"{MANIFEST} is not a {PACKAGE_FORMAT} manifest")
        if manifest.get("version") != PACKAGE_VERSION:
            raise EvidenceError(f"package version {manifest.get('version')!r} is not supported")
        entry = ChainEntry.from_dict(_json(files, CHAIN))
        record_text = files.read(RECORD)
        key_pem = files.read(PUBLIC_KEY)
        if record_text is None or key_pem is None:
            raise EvidenceError(f"{RECORD} or {PUBLIC_KEY} is missing")
        record = json.loads(record_text)
        if not isinstance(record, dict):
            raise EvidenceError(f"{RECORD} is not a JSON object")
        package_key = load_verifier(key_pem, entry.alg)
    except (EvidenceError, ValueError) as exc:
        report.add(None, Problem.MALFORMED, f"not a readable package: {exc}")
        return report
    seq = record.get("seq") if isinstance(record.get("seq"), int) else None
    report.records, report.first_seq, report.last_seq = 1, seq, seq
    report.head_chain_hash = entry.chain_hash
    verifier = _choose_key(package_key, public_key_pem, seq, report)
    for kind, detail in check_entry(record_text, entry, verifier):
        report.add(seq, kind, detail)
    if manifest.get("record_id") != record.get("id") or manifest.get("seq") != seq:
        report.add(seq, Problem.FILE_MISMATCH, f"{MANIFEST} names another record than {RECORD}")
    listed = _check_attachments(files, manifest, record, seq, report)
    _check_listed_files(files, manifest, listed, seq, report)
    if report.ok:
        report.verified = 1
    return report


def _choose_key(
    package_key: Verifier, public_key_pem: bytes | None, seq: int | None, report: VerifyReport
) -> Verifier:
    if public_key_pem is None:
        report.key_id, report.key_source = package_key.key_id, "from the package"
        report.notes.append(
            f"the key was taken from the package itself: confirm that key_id {package_key.key_id} is the"
            " station's key registered with the central system (or pass it with --public-key)"
        )
        return package_key
    trusted = load_verifier(public_key_pem, None)
    report.key_id, report.key_source = trusted.key_id, "given"
    if trusted.key_id != package_key.key_id:
        report.add(
            seq,
            Problem.WRONG_KEY,
            f"the package's public key {package_key.key_id} is not the trusted key {trusted.key_id}",
        )
    return trusted


def _check_attachments(
    files: _Files, manifest: dict[str, Any], record: dict[str, Any], seq: int | None, report: VerifyReport
) -> set[str]:
    """Each attachment the signed record names must be present with its signed sha256 (and size)."""
    by_name = {
        str(item.get("name")): str(item.get("path"))
        for item in manifest.get("files") or []
        if isinstance(item, dict) and item.get("role") == "attachment"
    }
    checked: set[str] = set()
    for index, attachment in enumerate(record.get("attachments") or []):
        if not isinstance(attachment, dict) or not _SHA256_HEX.match(str(attachment.get("sha256", ""))):
            report.add(seq, Problem.ATTACHMENT, f"attachment {index} in the record has no sha256")
            continue
        name = str(attachment.get("name"))
        member = by_name.get(name, f"attachments/{name}")
        found = files.sha256(member)
        checked.add(member)
        if found is None:
            report.add(seq, Problem.ATTACHMENT, f"attachment {name!r} is missing from the package")
        elif found[0] != attachment["sha256"]:
            report.add(
                seq, Problem.ATTACHMENT, f"attachment {name!r} differs from the signed record (sha256)"
            )
        elif isinstance(attachment.get("bytes"), int) and found[1] != attachment["bytes"]:
            report.add(
                seq, Problem.ATTACHMENT, f"attachment {name!r} has another size than the signed record"
            )
    return checked


def _check_listed_files(
    files: _Files, manifest: dict[str, Any], checked: set[str], seq: int | None, report: VerifyReport
) -> None:
    """Files the manifest lists (the capture) must match it; they are not signed, so say so."""
    listed = {MANIFEST, README} | checked
    for item in manifest.get("files") or []:
        if not isinstance(item, dict):
            continue
        member = str(item.get("path"))
        listed.add(member)
        if member in checked or item.get("role") in ("record", "chain", "public_key"):
            continue  # proven by the signature, or the key (checked above)
        found = files.sha256(member)
        if found is None or found[0] != item.get("sha256"):
            report.add(seq, Problem.FILE_MISMATCH, f"{member} is missing or differs from {MANIFEST}")
        elif item.get("role") == "capture":
            report.notes.append(f"{member} matches the manifest; it is supporting data, not signed")
    extra = sorted(files.names() - listed)
    if extra:
        report.notes.append(f"files not listed in the manifest (not verified): {', '.join(extra)}")


# -- published payloads ------------------------------------------------------------------------------


def verify_payload(payload: bytes, public_key_pem: bytes) -> VerifyReport:
    """Check one published record (the MQTT payload: the record with its ``chain`` object) against the
    station key, as a central system would.  Linking to the previous record (``prev`` equals the
    previous payload's ``chain_hash``) is the receiver's part."""
    report = VerifyReport(source="payload", records=1)
    try:
        published = json.loads(payload)
        entry = ChainEntry.from_dict(published.pop("chain", None))
        verifier = load_verifier(public_key_pem, entry.alg)
    except (EvidenceError, ValueError, AttributeError) as exc:
        report.add(None, Problem.MALFORMED, f"not a chained record: {exc}")
        return report
    seq = published.get("seq") if isinstance(published.get("seq"), int) else None
    report.first_seq = report.last_seq = seq
    report.key_id, report.key_source, report.head_chain_hash = verifier.key_id, "given", entry.chain_hash
    for kind, detail in check_entry(canonical_json(published).encode("utf-8"), entry, verifier):
        report.add(seq, kind, detail)
    report.verified = 1 if report.ok else 0
    return report
