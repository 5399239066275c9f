"""Weighing tickets: records stored through the real evidence store (SQLite file, signed chain), printed
as PDF and HTML by ``edge evidence ticket``, read back with pypdf and OpenCV's QR decoder, and checked
against the database with ``edge evidence ticket --check``."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw
from pypdf import PdfReader

from edge.cli_evidence import evidence
from edge.evidence import EvidenceStore, load_or_create_signer
from edge.static.ticket import (
    TicketError,
    find_ticket_code,
    parse_ticket_code,
    render_html,
    ticket_from_record,
)

TOPIC = "site/s1/lane/1/record"
PLATE = "冀A12345"


def _jpeg(seed: int) -> bytes:
    image = Image.new("RGB", (320, 200), (40 + seed * 50, 90, 160))
    ImageDraw.Draw(image).rectangle((60, 70, 260, 130), fill=(250, 250, 250), outline=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _attach(folder: Path, record_id: str, images: dict[str, bytes]) -> list[dict[str, Any]]:
    (folder / record_id).mkdir(parents=True, exist_ok=True)
    items = []
    for name, data in images.items():
        (folder / record_id / name).write_bytes(data)
        items.append(
            {
                "name": name,
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "media_type": "image/jpeg",
            }
        )
    return items


def _gross_record(record_id: str, attachments: list[dict[str, Any]], **static: Any) -> dict[str, Any]:
    return {
        "id": record_id,
        "site_id": "s1",
        "lane": 1,
        "vehicle_number": 2,
        "time_utc": "2026-11-22T00:30:00.000Z",
        "plate": PLATE,
        "axle_count": 6,
        "vehicle_class": "6-axle combination",
        "wim": {"gross_kg": 52340.0},
        "limit": {"limit_kg": 49000, "threshold_kg": 49000.0},
        "verdict": "overweight",
        "reasons": ["gross 52340 kg over the 49000 kg limit"],
        "attachments": attachments,
        "static": {
            "visit_id": "visit-7",
            "pass_kind": "gross",
            "gross_kg": 52340.0,
            "tare_kg": 15200.0,
            "net_kg": 37140.0,
            "tare_source": "tare pass",
            "previous_record_id": "rec-tare",
            "attempt": 1,
            "enterprise_id": "91130200MA0001",
            "enterprise_name": "唐山钢铁 <Steel & Co>",
            "cargo": "钢卷",
            "waybill": "WB-2026-001",
            "carrier": "冀东物流",
            "driver": "张三",
            "card_id": "0012345678",
            "entry_plate": PLATE,
            "exit_plate": PLATE,
            "cheating": [{"check": "tare_below_history", "detail": "tare 15200 kg, history 17900 kg"}],
            **static,
        },
    }


async def _store(db: Path, *records: dict[str, Any]) -> list[dict[str, Any]]:
    store = EvidenceStore(db)
    await store.open()
    try:
        return [await store.add(record, TOPIC) for record in records]
    finally:
        await store.close()


@pytest.fixture
async def station(tmp_path: Path) -> dict[str, Any]:
    """A station database with a tare record, a gross record with two images, and a lane record."""
    db = tmp_path / "evidence.db"
    images = {"front.jpg": _jpeg(1), "rear.jpg": _jpeg(2)}
    attachments = _attach(tmp_path / "attachments", "rec-gross", images)
    tare = {
        "id": "rec-tare",
        "site_id": "s1",
        "lane": 1,
        "vehicle_number": 1,
        "time_utc": "2026-11-22T00:10:00.000Z",
        "plate": PLATE,
        "axle_count": 6,
        "verdict": "pass",
        "static": {"visit_id": "visit-7", "pass_kind": "tare", "tare_kg": 15200.0},
    }
    lane = {
        "id": "rec-lane",
        "site_id": "s1",
        "lane": 1,
        "vehicle_number": 3,
        "time_utc": "2026-11-22T01:00:00.000Z",
        "plate": "京B7777",
        "axle_count": 2,
        "wim": {"gross_kg": 19850.0},
        "limit": {"limit_kg": 18000},
        "verdict": "overweight",
        "reasons": ["over"],
    }
    stored = await _store(db, tare, _gross_record("rec-gross", attachments), lane)
    return {"db": db, "stored": {r["id"]: r for r in stored}, "images": images, "tmp": tmp_path}


def _forged(code: str, record_hash: str) -> str:
    """The code with the first digit of its record hash changed."""
    other = "1" if record_hash[0] == "0" else "0"
    forged = code.replace(f"rh={record_hash}", f"rh={other}{record_hash[1:]}")
    assert forged != code
    return forged


def _cli(*args: str) -> Any:
    return CliRunner().invoke(evidence, [str(a) for a in args], catch_exceptions=False)


def _decode_qr(gray: np.ndarray) -> str:
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(gray)
    return str(text)


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


async def test_pdf_ticket_carries_plate_weights_images_and_a_qr_code_of_the_hash(
    station: dict[str, Any],
) -> None:
    out = station["tmp"] / "t.pdf"
    result = _cli("ticket", "rec-gross", "--out", out, "--database", station["db"])
    assert result.exit_code == 0, result.output
    chain = station["stored"]["rec-gross"]["chain"]
    text = _pdf_text(out)
    for expected in (PLATE, "52,340 kg", "15,200 kg", "37,140 kg", "钢卷", "张三", "visit-7", "s1-00000002"):
        assert expected in text, expected
    assert "超 3,340 kg（6.8%）" in text  # 52340 - 49000 over the limit
    assert "tare_below_history" in text
    assert "2026-11-22 08:30:00" in text  # local time, Asia/Shanghai
    flat = re.sub(r"\s", "", text)
    assert chain["record_hash"] in flat and chain["chain_hash"] in flat
    reader = PdfReader(out)
    code = reader.metadata.subject if reader.metadata else None
    assert code is not None and parse_ticket_code(code).record_hash == chain["record_hash"]
    streams = [
        xobject.get_object()
        for page in reader.pages
        for xobject in page["/Resources"]["/XObject"].values()
        if xobject.get_object().get("/Subtype") == "/Image"
    ]
    jpegs = {hashlib.sha256(s.get_data()).hexdigest() for s in streams if "/DCTDecode" in s.get("/Filter")}
    # The evidence images are embedded as they were signed, byte for byte.
    assert jpegs == {hashlib.sha256(data).hexdigest() for data in station["images"].values()}
    images = [image for page in reader.pages for image in page.images]
    decoded = [_decode_qr(np.array(image.image.convert("L"))) for image in images]
    assert code in decoded


async def test_html_ticket_is_self_contained_escaped_and_its_qr_code_decodes(station: dict[str, Any]) -> None:
    out = station["tmp"] / "t.html"
    assert _cli("ticket", "rec-gross", "--out", out, "--database", station["db"]).exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert PLATE in page and "37,140 kg" in page
    assert "唐山钢铁 &lt;Steel &amp; Co&gt;" in page and "<Steel" not in page  # autoescaped
    uris = re.findall(r'src="data:(image/[a-z]+);base64,([A-Za-z0-9+/=]+)"', page)
    blobs = {mime: [] for mime, _ in uris}
    for mime, data in uris:
        blobs[mime].append(base64.b64decode(data))
    assert sorted(blobs["image/jpeg"]) == sorted(station["images"].values())
    (qr,) = blobs["image/png"]
    code = _decode_qr(cv2.imdecode(np.frombuffer(qr, np.uint8), cv2.IMREAD_GRAYSCALE))
    assert code == find_ticket_code(page)
    assert f'<meta name="weighlane-ticket" content="{code}">' in page


async def test_a_lane_record_without_static_facts_gets_a_gross_only_ticket(station: dict[str, Any]) -> None:
    stored = station["stored"]["rec-lane"]
    ticket = ticket_from_record(stored, stored["chain"], tz=None)
    labels = dict(ticket.rows())
    assert labels["毛重 Gross"] == "19,850 kg"
    assert "皮重 Tare" not in labels and "净重 Net" not in labels and "过磅时间 Time" not in labels
    assert labels["结论 Verdict"].startswith("超限 OVERWEIGHT：超 1,850 kg")
    html = render_html(ticket)
    assert "京B7777" in html and "19,850 kg" in html


async def test_check_accepts_the_true_ticket_by_file_or_scanned_code(station: dict[str, Any]) -> None:
    pdf, html = station["tmp"] / "t.pdf", station["tmp"] / "t.html"
    for out in (pdf, html):
        assert _cli("ticket", "rec-gross", "--out", out, "--database", station["db"]).exit_code == 0
    for target in (pdf, html):
        result = _cli("ticket", "--check", target, "--database", station["db"])
        assert result.exit_code == 0, result.output
        assert "OK: the ticket matches the signed record" in result.output
        assert f"车牌 Plate: {PLATE}" in result.output and "净重 Net: 37,140 kg" in result.output
    code = find_ticket_code(pdf.read_bytes())
    assert code is not None
    result = _cli("ticket", "--check", f"  {code}\n", "--database", station["db"], "--json")
    report = json.loads(result.output)
    assert result.exit_code == 0 and report["ok"] and report["problems"] == []


async def test_check_fails_when_the_record_was_edited_after_the_ticket(station: dict[str, Any]) -> None:
    pdf = station["tmp"] / "t.pdf"
    assert _cli("ticket", "rec-gross", "--out", pdf, "--database", station["db"]).exit_code == 0
    with sqlite3.connect(station["db"]) as conn:
        (text,) = conn.execute("SELECT record_json FROM records WHERE id = 'rec-gross'").fetchone()
        conn.execute(
            "UPDATE records SET record_json = ? WHERE id = 'rec-gross'", (text.replace("37140.0", "30140.0"),)
        )
    result = _cli("ticket", "--check", pdf, "--database", station["db"])
    assert result.exit_code == 1
    assert "record edited" in result.output and "FAILED" in result.output
    # and no new ticket is printed from the edited record
    again = _cli("ticket", "rec-gross", "--out", station["tmp"] / "t2.pdf", "--database", station["db"])
    assert again.exit_code == 1 and "fails its own chain check" in again.output
    assert not (station["tmp"] / "t2.pdf").exists()


async def test_check_fails_for_a_forged_code_another_station_or_an_unknown_record(
    station: dict[str, Any],
) -> None:
    stored = station["stored"]["rec-gross"]
    true_code = ticket_from_record(stored, stored["chain"]).code
    forged = _forged(true_code.text(), true_code.record_hash)
    result = _cli("ticket", "--check", forged, "--database", station["db"])
    assert result.exit_code == 1 and "record hash differs" in result.output
    wrong_seq = true_code.text().replace("seq=2;", "seq=3;")
    assert "the ticket says seq 3" in _cli("ticket", "--check", wrong_seq, "--database", station["db"]).output
    unknown = true_code.text().replace("id=rec-gross", "id=rec-nope")
    result = _cli("ticket", "--check", unknown, "--database", station["db"])
    assert result.exit_code == 1 and "no record 'rec-nope'" in result.output
    # Checked with the key registered for another station, the signature is not that station's.
    other = load_or_create_signer(station["tmp"] / "other.key")
    key_file = station["tmp"] / "other.pub"
    key_file.write_bytes(other.public_key_pem())
    result = _cli(
        "ticket", "--check", true_code.text(), "--database", station["db"], "--public-key", key_file
    )
    assert result.exit_code == 1 and "not by the trusted" in result.output


async def test_an_image_that_differs_from_the_signed_hash_is_named_not_printed(
    station: dict[str, Any],
) -> None:
    (station["tmp"] / "attachments" / "rec-gross" / "rear.jpg").write_bytes(_jpeg(3))
    out = station["tmp"] / "t.html"
    result = _cli("ticket", "rec-gross", "--out", out, "--database", station["db"])
    assert result.exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert page.count("data:image/jpeg") == 1
    assert "rear.jpg: differs from the signed record&#39;s sha256" in page


@pytest.mark.parametrize(
    "text",
    [
        "",
        "weighlane-ticket/2;site=s1",
        "weighlane-ticket/1;site=s1;seq=x;id=a;h=sha256;rh=" + "a" * 64,
        "weighlane-ticket/1;site=s1;seq=1;id=a;h=sha256",
        "weighlane-ticket/1;site=s1;seq=1;id=a;h=sha256;rh=" + "G" * 64,
        "weighlane-ticket/1;site=s1;site=s2;seq=1;id=a;h=sha256;rh=" + "a" * 64,
        "weighlane-ticket/1;site=s1;seq=1;id=a;h=sha256;rh=" + "a" * 64 + ";junk",
    ],
)
def test_unreadable_ticket_codes_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(TicketError):
        parse_ticket_code(text)


def test_a_ticket_code_round_trips_ids_with_any_characters() -> None:
    record = {"id": "rec 1;x=y/é", "site_id": "s1", "seq": 12, "verdict": "pass"}
    code = ticket_from_record(record, None, record_hash="ab" * 32).code
    assert code.text().isascii() and find_ticket_code(f"scan: {code.text()}\r\n") == code.text()
    assert parse_ticket_code(code.text()) == code


async def test_a_ticket_of_a_record_evicted_after_upload_is_checked_by_its_chain_entry(
    station: dict[str, Any],
) -> None:
    stored = station["stored"]["rec-tare"]
    code = ticket_from_record(stored, stored["chain"]).code.text()
    store = EvidenceStore(station["db"])
    await store.open()
    try:
        await store.mark_sent([1])  # the central system acknowledged seq 1
        assert [r.record_id for r in await store.evict_sent(10)] == ["rec-tare"]
    finally:
        await store.close()
    result = _cli("ticket", "--check", code, "--database", station["db"])
    assert result.exit_code == 0, result.output
    assert "evicted after upload" in result.output and "the record says" not in result.output
    forged = _forged(code, stored["chain"]["record_hash"])
    assert _cli("ticket", "--check", forged, "--database", station["db"]).exit_code == 1
    printed = _cli("ticket", "rec-tare", "--out", station["tmp"] / "x.pdf", "--database", station["db"])
    assert printed.exit_code == 1 and "evicted after upload" in printed.output


async def test_a_truetype_font_given_is_embedded_and_an_otf_is_refused(station: dict[str, Any]) -> None:
    import reportlab

    vera = Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"  # shipped with reportlab
    out = station["tmp"] / "embedded.pdf"
    result = _cli("ticket", "rec-lane", "--out", out, "--database", station["db"], "--font", vera)
    assert result.exit_code == 0, result.output
    fonts = [
        font.get_object()["/FontDescriptor"]
        for font in PdfReader(out).pages[0]["/Resources"]["/Font"].values()
        if "/FontDescriptor" in font.get_object()
    ]
    assert any("/FontFile2" in descriptor for descriptor in fonts)  # the TrueType subset is in the file
    assert "19,850 kg" in _pdf_text(out)
    not_truetype = station["tmp"] / "font.otf"
    not_truetype.write_bytes(b"OTTO" + bytes(60))
    result = _cli("ticket", "rec-lane", "--out", out, "--database", station["db"], "--font", not_truetype)
    assert result.exit_code == 1 and "cannot be embedded" in result.output
