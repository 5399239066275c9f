"""Weighing tickets (过磅单): a record as printable HTML or PDF that can be checked against the evidence chain.

A ticket shows what the weighbridge decided (gross, tare, net, verdict, plate, enterprise, cargo, the
visit and the evidence images) and the record's place in the signed chain: its ``seq``, its
``record_hash`` and ``chain_hash`` in text, and a QR code of the **ticket code**::

    weighlane-ticket/1;site=<site id>;seq=<seq>;id=<record id>;h=<hash alg>;rh=<record hash>;ch=<chain hash>

(ASCII only; the site and record ids percent-encoded).  The same code is the PDF's Subject and the
HTML's ``<meta name="weighlane-ticket">``, so ``edge evidence ticket --check`` takes the file, the
scanned QR text or the code typed from the paper, finds the record in the evidence database, hashes its
stored text again and checks the signature (docs/weighbridge_tickets.md).

The ticket is built from the record's JSON (a dict) and its ``chain`` object, never from the live objects
of the flow: what is printed is what was signed.  Static-weighing facts are read from the record's
optional ``static`` section (visit, two-pass weights, enterprise, cargo, carrier, card, anti-cheating
flags); a lane record without one still gets a ticket with its gross.  Nothing here touches the evidence
database: the caller (edge/cli_evidence.py) reads the record and the attachment files.

PDF: reportlab, with its built-in CID font STSong-Light for Chinese (works offline; the font is named,
not embedded, so the PDF viewer supplies the glyphs, as every common viewer does for the Adobe CJK
fonts), or a TrueType font the site gives, embedded.  HTML: one self-contained page (images and the QR code inline as data URIs) from a Jinja2
template, autoescaped.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.errors import EdgeError

__all__ = [
    "CODE_PREFIX",
    "Ticket",
    "TicketCode",
    "TicketError",
    "TicketImage",
    "find_ticket_code",
    "load_images",
    "parse_ticket_code",
    "render_html",
    "render_pdf",
    "ticket_from_record",
    "write_ticket",
]

#: Every ticket code starts with this (the ``1`` is the code's version).
CODE_PREFIX = "weighlane-ticket/1;"
_CODE_RE = re.compile(r"weighlane-ticket/1;[A-Za-z0-9;=%._~-]{1,600}")
_HEX_RE = re.compile(r"^[0-9a-f]{16,128}$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_FONT = "STSong-Light"

VERDICT_TEXT = {
    "pass": "合格 PASS",
    "overweight": "超限 OVERWEIGHT",
    "oversize": "外廓超限 OVERSIZE",
    "reweigh": "复检 REWEIGH",
}
PASS_KIND_TEXT = {
    "tare": "皮重（空车）tare",
    "gross": "毛重（重车）gross",
    "single": "一次过磅 single pass",
}


class TicketError(EdgeError, ValueError):
    """Raised when a ticket cannot be built or written, or a ticket code cannot be read."""


@dataclass(frozen=True)
class TicketImage:
    """One evidence image to print: its name in the record, its media type and bytes."""

    name: str
    media_type: str
    data: bytes

    @property
    def data_uri(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True)
class TicketCode:
    """What a ticket code names: enough to find the record and to compare its hashes."""

    site_id: str
    seq: int
    record_id: str
    hash_alg: str
    record_hash: str
    chain_hash: str | None

    def text(self) -> str:
        parts = [
            f"site={quote(self.site_id, safe='')}",
            f"seq={self.seq}",
            f"id={quote(self.record_id, safe='')}",
            f"h={self.hash_alg}",
            f"rh={self.record_hash}",
        ]
        if self.chain_hash:
            parts.append(f"ch={self.chain_hash}")
        return CODE_PREFIX + ";".join(parts)


def parse_ticket_code(text: str) -> TicketCode:
    """Read a ticket code (leading and trailing blanks ignored); :class:`TicketError` says what is wrong."""
    text = text.strip()
    if not text.startswith(CODE_PREFIX):
        raise TicketError(f"not a ticket code: it must start with {CODE_PREFIX!r}")
    fields: dict[str, str] = {}
    for part in text[len(CODE_PREFIX) :].split(";"):
        key, sep, value = part.partition("=")
        if not sep or not key or key in fields:
            raise TicketError(f"ticket code: unreadable or repeated part {part[:40]!r}")
        fields[key] = value
    missing = [key for key in ("site", "seq", "id", "h", "rh") if not fields.get(key)]
    if missing:
        raise TicketError(f"ticket code: missing {', '.join(missing)}")
    if not fields["seq"].isdigit():
        raise TicketError(f"ticket code: seq {fields['seq'][:20]!r} is not a number")
    for key in ("rh", "ch"):
        if key in fields and not _HEX_RE.match(fields[key]):
            raise TicketError(f"ticket code: {key} is not lower case hex")
    return TicketCode(
        site_id=unquote(fields["site"]),
        seq=int(fields["seq"]),
        record_id=unquote(fields["id"]),
        hash_alg=fields["h"],
        record_hash=fields["rh"],
        chain_hash=fields.get("ch"),
    )


def find_ticket_code(data: bytes | str) -> str | None:
    """The ticket code inside a ticket file's bytes (the PDF's Subject, the HTML's meta) or a scanned
    text; None when there is none."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    found = _CODE_RE.search(text)
    return None if found is None else found.group(0)


# -- the ticket's content --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ticket:
    """Everything printed on a ticket, as text and numbers read from one stored record."""

    code: TicketCode
    time_utc: str | None
    time_local: str | None
    lane: int | None
    plate: str | None
    verdict: str
    reasons: list[str]
    gross_kg: float | None
    tare_kg: float | None
    net_kg: float | None
    limit_kg: float | None
    vehicle_class: str | None
    axle_count: int | None
    key_id: str | None
    static: dict[str, Any]
    images: list[TicketImage] = field(default_factory=list)
    images_missing: list[str] = field(default_factory=list)

    @property
    def overload_kg(self) -> float | None:
        """Gross over the legal limit (kg) when the verdict is overweight, else None."""
        if self.verdict != "overweight" or self.gross_kg is None or self.limit_kg is None:
            return None
        return self.gross_kg - self.limit_kg

    @property
    def number(self) -> str:
        """The ticket number: the site and its record sequence number."""
        return f"{self.code.site_id}-{self.code.seq:08d}"

    def rows(self) -> list[tuple[str, str]]:
        """The labelled lines of the ticket, in print order; absent facts are left out."""
        s = self.static
        rows: list[tuple[str, str]] = [("磅单号 Ticket no.", self.number)]
        if self.time_local:
            rows.append(("过磅时间 Time", self.time_local))
        rows.append(("时间 UTC", self.time_utc or "—"))
        rows.append(("车牌 Plate", self.plate or "未识别 not read"))
        if s.get("entry_plate") and s.get("exit_plate") and s["entry_plate"] != s["exit_plate"]:
            rows.append(("进/出车牌 Entry/exit plate", f"{s['entry_plate']} / {s['exit_plate']}"))
        for label, key in (("卡号 Card", "card_id"),):
            if s.get(key):
                rows.append((label, str(s[key])))
        if self.vehicle_class or self.axle_count:
            rows.append(("车型/轴数 Class/axles", f"{self.vehicle_class or '—'} / {self.axle_count or '—'}"))
        enterprise = " ".join(str(s[k]) for k in ("enterprise_name", "enterprise_id") if s.get(k))
        for label, value in (
            ("发货单位 Enterprise", enterprise),
            ("货物 Cargo", s.get("cargo")),
            ("运单号 Waybill", s.get("waybill")),
            ("承运单位 Carrier", s.get("carrier")),
            ("司机 Driver", s.get("driver")),
        ):
            if value:
                rows.append((label, str(value)))
        rows.append(("毛重 Gross", _kg(self.gross_kg)))
        if self.tare_kg is not None or "tare_kg" in s:
            source = f"（{s['tare_source']}）" if s.get("tare_source") else ""
            rows.append(("皮重 Tare", _kg(self.tare_kg) + source))
        if self.net_kg is not None or "net_kg" in s:
            rows.append(("净重 Net", _kg(self.net_kg)))
        if self.limit_kg is not None:
            rows.append(("限值 Legal limit", _kg(self.limit_kg)))
        verdict = VERDICT_TEXT.get(self.verdict, self.verdict)
        over = self.overload_kg
        if over is not None and self.limit_kg:
            verdict += f"：超 {_kg(over)}（{100.0 * over / self.limit_kg:.1f}%）"
        rows.append(("结论 Verdict", verdict))
        if self.reasons:
            rows.append(("原因 Reasons", "; ".join(self.reasons)))
        if s.get("visit_id"):
            rows.append(("过磅序号 Visit", str(s["visit_id"])))
        if s.get("pass_kind"):
            kind = PASS_KIND_TEXT.get(str(s["pass_kind"]), str(s["pass_kind"]))
            attempt = f"，第 {s['attempt']} 次 attempt {s['attempt']}" if s.get("attempt") else ""
            rows.append(("称重类型 Pass", kind + attempt))
        if s.get("previous_record_id"):
            rows.append(("上次记录 Previous record", str(s["previous_record_id"])))
        if s.get("refused_reading"):
            rows.append(("拒收读数 Refused reading", _text(s["refused_reading"])))
        return rows

    @property
    def cheating(self) -> list[str]:
        """The anti-cheating flags on the record, one line each."""
        flags = self.static.get("cheating") or []
        out = []
        for flag in flags if isinstance(flags, list) else [flags]:
            if isinstance(flag, Mapping):
                out.append(f"{flag.get('check', '?')}: {flag.get('detail', '')}".rstrip(": "))
            else:
                out.append(_text(flag))
        return out

    def evidence_rows(self) -> list[tuple[str, str]]:
        """The chain facts, hashes in groups of eight for reading aloud or typing."""
        rows = [
            ("站点/序号 Site/seq", f"{self.code.site_id} / {self.code.seq}"),
            ("记录 Record id", self.code.record_id),
            (f"记录哈希 Record {self.code.hash_alg}", _grouped(self.code.record_hash)),
        ]
        if self.code.chain_hash:
            rows.append(("链哈希 Chain hash", _grouped(self.code.chain_hash)))
        else:
            rows.append(("链哈希 Chain hash", "无（链之前的记录）none: stored before chaining"))
        if self.key_id:
            rows.append(("签名密钥 Signing key", self.key_id))
        return rows


def _kg(value: float | None) -> str:
    if value is None:
        return "—"
    text = f"{value:,.0f}" if abs(value - round(value)) < 0.05 else f"{value:,.1f}"
    return f"{text} kg"


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_text(v) for v in value)
    return str(value)


def _grouped(hex_text: str) -> str:
    return " ".join(hex_text[i : i + 8] for i in range(0, len(hex_text), 8))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _section(record: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A sub-object of the record as a dict; {} when absent or not an object."""
    value = record.get(name)
    return dict(value) if isinstance(value, Mapping) else {}


def _local_time(time_utc: str | None, tz: str | None) -> str | None:
    if not time_utc or not tz:
        return None
    try:
        moment = datetime.fromisoformat(time_utc.replace("Z", "+00:00"))
        zone = ZoneInfo(tz)
    except (ValueError, ZoneInfoNotFoundError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    hours, minutes = divmod(int(offset.total_seconds()) // 60, 60)
    return f"{local:%Y-%m-%d %H:%M:%S} (UTC{hours:+03d}:{minutes:02d} {tz})"


def ticket_from_record(
    record: Mapping[str, Any],
    chain: Mapping[str, Any] | None,
    *,
    record_hash: str | None = None,
    images: Sequence[TicketImage] = (),
    images_missing: Sequence[str] = (),
    tz: str | None = "Asia/Shanghai",
) -> Ticket:
    """The ticket of a stored record (its JSON as a dict, with ``seq``) and its ``chain`` object.

    ``record_hash`` is needed only for a record stored before chaining (no ``chain``): the hash of its
    stored text.  ``tz`` adds the local time (None: UTC only).  Raises :class:`TicketError` when the
    record lacks what identifies it (``id``, ``site_id``, ``seq``) or has no hash to print.
    """
    try:
        record_id, site_id, seq = str(record["id"]), str(record["site_id"]), int(record["seq"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TicketError(f"not a stored record (needs id, site_id and seq): {exc}") from exc
    chain = chain or {}
    digest = str(chain.get("record_hash") or record_hash or "")
    if not _HEX_RE.match(digest):
        raise TicketError(f"record {record_id}: no record hash to print (not a stored record?)")
    chain_hash = chain.get("chain_hash")
    code = TicketCode(
        site_id=site_id,
        seq=seq,
        record_id=record_id,
        hash_alg=str(chain.get("hash_alg") or "sha256"),
        record_hash=digest,
        chain_hash=str(chain_hash) if chain_hash else None,
    )
    static, wim, limit = (_section(record, name) for name in ("static", "wim", "limit"))
    gross = _number(static.get("gross_kg"))
    if gross is None:
        gross = _number(wim.get("gross_kg"))
    reasons = record.get("reasons")
    axles = record.get("axle_count")
    return Ticket(
        code=code,
        time_utc=record.get("time_utc"),
        time_local=_local_time(record.get("time_utc"), tz),
        lane=record.get("lane") if isinstance(record.get("lane"), int) else None,
        plate=record.get("plate"),
        verdict=str(record.get("verdict", "")),
        reasons=[str(r) for r in reasons] if isinstance(reasons, list) else [],
        gross_kg=gross,
        tare_kg=_number(static.get("tare_kg")),
        net_kg=_number(static.get("net_kg")),
        limit_kg=_number(limit.get("limit_kg")),
        vehicle_class=record.get("vehicle_class"),
        axle_count=axles if isinstance(axles, int) else None,
        key_id=chain.get("key_id"),
        static=static,
        images=list(images),
        images_missing=list(images_missing),
    )


def load_images(
    record: Mapping[str, Any], folders: Iterable[Path], record_id: str | None = None
) -> tuple[list[TicketImage], list[str]]:
    """The record's image attachments found under ``folders`` whose bytes match the SHA-256 the signed
    record lists, and a line for each one missing or different (printed on the ticket, never embedded).

    Each folder is searched as the evidence store lays files out: ``<folder>/<record id>/<name>``, then
    ``<folder>/<name>`` (an exported package's attachments/)."""
    record_id = record_id or str(record.get("id", ""))
    found: list[TicketImage] = []
    problems: list[str] = []
    folders = list(folders)
    for entry in record.get("attachments") or []:
        if not isinstance(entry, Mapping):
            continue
        name, sha256 = str(entry.get("name", "")), str(entry.get("sha256", ""))
        media_type = str(entry.get("media_type", ""))
        if not media_type.startswith("image/"):
            continue
        if not _SAFE_NAME.match(name):
            problems.append(f"{name[:40]!r}: unusable name")
            continue
        candidates = [f / record_id / name for f in folders] + [f / name for f in folders]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            problems.append(f"{name}: file not found")
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            problems.append(f"{name}: differs from the signed record's sha256, not printed")
            continue
        found.append(TicketImage(name, media_type, data))
    return found, problems


# -- QR code -------------------------------------------------------------------------------------------


def qr_png(text: str, scale: int = 6, border: int = 4) -> bytes:
    """A PNG of the QR code of ``text`` (error correction M), ``scale`` pixels per module."""
    from PIL import Image
    from reportlab.graphics.barcode.qrencoder import QRCode, QRErrorCorrectLevel

    qr = QRCode(None, QRErrorCorrectLevel.M)
    qr.addData(text)
    qr.make()
    count = qr.getModuleCount()
    size = count + 2 * border
    image = Image.new("1", (size, size), 1)
    pixels = image.load()
    assert pixels is not None
    for row in range(count):
        for col in range(count):
            if qr.isDark(row, col):
                pixels[col + border, row + border] = 0
    image = image.resize((size * scale, size * scale), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


# -- HTML ----------------------------------------------------------------------------------------------


@cache
def _template() -> Any:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    source = resources.files("edge.static").joinpath("ticket.html.j2").read_text(encoding="utf-8")
    return env.from_string(source)


def render_html(ticket: Ticket) -> str:
    """One self-contained printable page (A5 on print), images and QR code inline."""
    code = ticket.code.text()
    qr = base64.b64encode(qr_png(code)).decode("ascii")
    return str(
        _template().render(
            t=ticket,
            code=code,
            qr_uri=f"data:image/png;base64,{qr}",
            title=ticket.static.get("enterprise_name") or ticket.code.site_id,
        )
    )


# -- PDF -----------------------------------------------------------------------------------------------


@cache
def _font(font_file: Path | None = None) -> str:
    """The registered name of the ticket's font: the built-in CID font, or ``font_file`` embedded."""
    from reportlab import rl_config
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    # Images as binary streams, not ASCII85 text: a quarter smaller, and each evidence JPEG is then the
    # signed file byte for byte inside the PDF (DCTDecode passes it through).
    rl_config.useA85 = 0
    if font_file is None:
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))
        return _FONT
    name = f"ticket-{hashlib.sha256(str(font_file.resolve()).encode()).hexdigest()[:12]}"
    try:
        pdfmetrics.registerFont(TTFont(name, str(font_file), subfontIndex=0))
    except (TTFError, OSError) as exc:
        raise TicketError(
            f"font {font_file} cannot be embedded ({exc}); give a TrueType font (.ttf, or the first font"
            " of a .ttc such as simsun.ttc): reportlab does not embed CFF (.otf) outlines"
        ) from exc
    return name


def render_pdf(ticket: Ticket, font_file: Path | None = None) -> bytes:
    """The ticket as a one- or two-page A4 PDF; its Subject is the ticket code.

    ``font_file``: a TrueType font with CJK glyphs to embed (its subset), for a PDF that shows the same
    on any viewer; None names the built-in STSong-Light, which the viewer supplies."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _font(font_file)
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=13, wordWrap="CJK")
    label = ParagraphStyle("label", parent=body, textColor=colors.HexColor("#333333"))
    mono = ParagraphStyle("mono", fontName="Courier", fontSize=8.5, leading=11)
    title = ParagraphStyle("title", fontName=font, fontSize=16, leading=20, alignment=1)
    warn = ParagraphStyle("warn", parent=body, textColor=colors.HexColor("#b00020"))
    code = ticket.code.text()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"过磅单 Weighing ticket {ticket.number}",
        subject=code,
        author="weighlane-edge",
        creator="weighlane-edge",
        invariant=1,
    )
    width = A4[0] - 30 * mm
    heading = str(ticket.static.get("enterprise_name") or ticket.code.site_id)
    story: list[Any] = [
        Paragraph(escape(heading), title),
        Paragraph("过磅单 Weighing ticket", title),
        Spacer(1, 4 * mm),
    ]
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f0f0f0")),
        ]
    )
    rows = [[Paragraph(escape(k), label), Paragraph(escape(v), body)] for k, v in ticket.rows()]
    story += [Table(rows, colWidths=[48 * mm, width - 48 * mm], style=grid), Spacer(1, 3 * mm)]
    if ticket.cheating:
        story.append(Paragraph("防作弊检查 Anti-cheating flags", warn))
        story += [Paragraph("• " + escape(line), warn) for line in ticket.cheating]
        story.append(Spacer(1, 3 * mm))
    cells: list[list[Any]] = []
    box = (width - 6 * mm) / 2
    for image in ticket.images:
        try:
            w, h = ImageReader(io.BytesIO(image.data)).getSize()
        except Exception:  # an attachment Pillow cannot read: name it instead
            story.append(Paragraph(escape(f"图像无法显示 image not shown: {image.name}"), warn))
            continue
        scale = min(box / w, 60 * mm / h)
        picture = Image(io.BytesIO(image.data), width=w * scale, height=h * scale)
        cells.append([picture, Paragraph(escape(image.name), body)])
    if cells:
        pairs = [[cells[i], cells[i + 1] if i + 1 < len(cells) else ""] for i in range(0, len(cells), 2)]
        story += [Table(pairs, colWidths=[width / 2, width / 2]), Spacer(1, 3 * mm)]
    for missing in ticket.images_missing:
        story.append(Paragraph(escape(f"图像缺失 image missing: {missing}"), warn))
    evidence = [[Paragraph(escape(k), label), Paragraph(escape(v), mono)] for k, v in ticket.evidence_rows()]
    qr = Image(io.BytesIO(qr_png(code)), width=38 * mm, height=38 * mm)
    block = Table(
        [[Table(evidence, colWidths=[40 * mm, width - 84 * mm], style=grid), qr]],
        colWidths=[width - 42 * mm, 42 * mm],
        style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]),
    )
    story += [
        Paragraph("存证 Evidence chain", body),
        block,
        Spacer(1, 2 * mm),
        Paragraph(
            escape("核验 Check: edge evidence ticket --check 'CODE' (CODE is the QR code's text):"), body
        ),
        Paragraph(escape(code), mono),
    ]
    doc.build(story)
    return buffer.getvalue()


def write_ticket(ticket: Ticket, path: Path, font_file: Path | None = None) -> Path:
    """Write the ticket as PDF (``.pdf``) or HTML (``.html``/``.htm``) by the file's suffix."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        data = render_pdf(ticket, font_file)
    elif suffix in (".html", ".htm"):
        data = render_html(ticket).encode("utf-8")
    else:
        raise TicketError(f"{path}: write a .pdf or an .html ticket")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
