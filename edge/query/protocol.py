"""The central-query protocol (MQTT 5 request/response), shared by the station's service and the client.

A request is one JSON object published to ``<prefix>/<site id>/lane/<lane>/query`` with the MQTT 5
properties Response Topic and Correlation Data.  Its ``method`` selects one of the models below; unknown
keys are errors.

A response is one or more MQTT messages to the Response Topic, each echoing the Correlation Data.  It
carries *objects*: object 0 is the JSON envelope (``ok``, ``result`` or ``error``, and the list of files
that follow); objects 1.. are those files (attachments, raw captures) in the order listed.  Every object
is cut into chunks so that no message exceeds ``query.max_packet_bytes``; every message says which
chunk of which object it holds in its user properties::

    object=<i> objects=<n> chunk=<j> chunks=<m> bytes=<object size> sha256=<hex of the whole object>
    name=<object name>

so a client can reassemble in any order and check each object against its sha256.  docs/central-queries.md
describes it for implementers of central systems.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from paho.mqtt.properties import Properties
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError

from edge.configerrors import format_errors
from edge.errors import EdgeError
from edge.rules import Verdict

__all__ = [
    "ENVELOPE_NAME",
    "METHODS",
    "PROTOCOL",
    "CalibrationsRequest",
    "CaptureRequest",
    "ChunkHeader",
    "QueryProtocolError",
    "Reassembly",
    "RecordRequest",
    "RecordsRequest",
    "Request",
    "RequestError",
    "StatusRequest",
    "error_envelope",
    "mqtt_properties",
    "parse_request",
    "request_topic",
    "response_root",
    "utc_text",
]

PROTOCOL = "weighlane.query/1"
ENVELOPE_NAME = "response.json"
SAFE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_SAFE_OBJECT_NAME = re.compile(r"^(attachments|capture)/[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class QueryProtocolError(EdgeError):
    """Raised when response messages cannot be reassembled: inconsistent chunk headers or a sha256 that
    does not match."""


def mqtt_properties(packet_type: int) -> Properties:
    """MQTT 5 properties for a packet type (``PacketTypes.PUBLISH``, ``.CONNECT``)."""
    return Properties(packet_type)  # type: ignore[no-untyped-call]  # paho ships no annotations here


def request_topic(topic_prefix: str, site_id: str, lane: int) -> str:
    return f"{topic_prefix}/{site_id}/lane/{lane}/query"


def response_root(topic_prefix: str, site_id: str) -> str:
    """The station's own response subtree; the default (and, under the example ACL, the only) place a
    station may answer to."""
    return f"{topic_prefix}/{site_id}/response/"


def utc_text(moment: datetime) -> str:
    """A time in the evidence records' ``time_utc`` form (``2026-11-22T08:30:00.000Z``), which sorts
    as text."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- requests ----------------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr | None = Field(
        None, description="The shared secret (query.token), when the station requires one."
    )


class RecordsRequest(_Request):
    """Records by time range, plate and verdict, one page at a time (``after_seq`` is the cursor)."""

    method: Literal["records"]
    from_utc: AwareDatetime | None = Field(None, description="Records at or after this time.")
    to_utc: AwareDatetime | None = Field(None, description="Records before this time.")
    plate: str | None = Field(None, min_length=1, max_length=16, description="Exact plate.")
    verdict: Verdict | None = None
    after_seq: int = Field(
        0, ge=0, description="Only records after this seq: the previous page's next_after_seq."
    )
    page_size: int = Field(50, ge=1, description="Records per page, at most query.max_page_size.")
    full: bool = Field(
        False, description="Include each stored record and its chain entry, not only its summary."
    )


class RecordRequest(_Request):
    """One record, with its chain entry and (unless ``attachments`` is false) its image files."""

    method: Literal["record"]
    id: str = Field(pattern=SAFE_ID, description="The record id.")
    attachments: bool = True


class CaptureRequest(_Request):
    """The raw capture (.wlcap) of the crossing that produced a record."""

    method: Literal["capture"]
    record_id: str = Field(pattern=SAFE_ID)


class StatusRequest(_Request):
    """Device health, uplink and evidence state (last seq, outbox backlog)."""

    method: Literal["status"]


class CalibrationsRequest(_Request):
    """Every static calibration, newest first, and which one is active."""

    method: Literal["calibrations"]


Request = Annotated[
    RecordsRequest | RecordRequest | CaptureRequest | StatusRequest | CalibrationsRequest,
    Field(discriminator="method"),
]
_REQUEST = TypeAdapter(Request)
METHODS = ("records", "record", "capture", "status", "calibrations")


class RequestError(EdgeError):
    """Raised when a request is refused; ``code`` goes into the error response."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_request(
    payload: bytes,
) -> RecordsRequest | RecordRequest | CaptureRequest | StatusRequest | CalibrationsRequest:
    """Validate a request payload (size is checked by the caller).  :class:`RequestError` names what is
    wrong without echoing the values sent: a request may hold a token."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError(
            "bad_json", f"the request is not JSON ({type(exc).__name__}: {_short(exc)})"
        ) from None
    except RecursionError:
        raise RequestError("bad_request", "the request nests too deeply") from None
    if not isinstance(data, dict):
        raise RequestError("bad_request", "the request must be a JSON object with a `method`")
    method = data.get("method")
    if isinstance(method, str) and not _is_text(method):
        raise RequestError("bad_request", "method: not valid Unicode text (a lone surrogate)")
    if method not in METHODS:
        raise RequestError(
            "unknown_method", f"unknown method {_short(method)!r}; known methods: {', '.join(METHODS)}"
        )
    try:
        return _REQUEST.validate_json(payload, strict=True)
    except ValueError as exc:
        # No values in the answer (a request may hold a token); the location's first part is the method.
        problems = []
        if isinstance(exc, ValidationError):
            problems = format_errors(exc, relocate=lambda loc: loc[1:], show_input=False)
        raise RequestError("bad_request", "; ".join(problems) or "invalid request") from None


def _is_text(value: str) -> bool:
    """Whether ``value`` can be UTF-8 (JSON's ``\\ud800`` escapes decode to lone surrogates that cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _short(value: Any, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def error_envelope(method: str | None, code: str, message: str, **where: Any) -> dict[str, Any]:
    return {
        "protocol": PROTOCOL,
        "ok": False,
        "method": method,
        **where,
        "error": {"code": code, "message": message},
    }


# -- responses ---------------------------------------------------------------------------------------


class ChunkHeader(BaseModel):
    """The user properties of one response message."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    object: int = Field(ge=0)
    objects: int = Field(ge=1, le=10000)
    chunk: int = Field(ge=0)
    chunks: int = Field(ge=1, le=1_000_000)
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    name: str = Field(min_length=1, max_length=160)

    def properties(self) -> list[tuple[str, str]]:
        return [(key, str(value)) for key, value in self.model_dump().items()]

    @classmethod
    def from_properties(cls, pairs: list[tuple[str, str]]) -> ChunkHeader:
        try:
            return cls.model_validate(dict(pairs))
        except ValueError as exc:
            raise QueryProtocolError(f"a response message has bad chunk properties: {exc}") from None


class Reassembly:
    """Collects the messages of one response; ``complete`` once every chunk of every object is in."""

    def __init__(self) -> None:
        self.objects: int | None = None
        self._headers: dict[int, ChunkHeader] = {}
        self._chunks: dict[int, dict[int, bytes]] = {}
        self.messages = 0

    def add(self, header: ChunkHeader, payload: bytes) -> None:
        self.messages += 1
        if self.objects is None:
            self.objects = header.objects
        if header.objects != self.objects or header.object >= header.objects or header.chunk >= header.chunks:
            raise QueryProtocolError(f"inconsistent chunk header {header.properties()}")
        first = self._headers.setdefault(header.object, header)
        if (first.chunks, first.bytes, first.sha256, first.name) != (
            header.chunks,
            header.bytes,
            header.sha256,
            header.name,
        ):
            raise QueryProtocolError(f"object {header.object}: chunk headers disagree")
        self._chunks.setdefault(header.object, {})[header.chunk] = payload

    @property
    def complete(self) -> bool:
        if self.objects is None or len(self._headers) < self.objects:
            return False
        return all(len(self._chunks[i]) == self._headers[i].chunks for i in range(self.objects))

    def result(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """The envelope and the files by object name, each checked against its sha256 (and the files
        against the envelope's list)."""
        if not self.complete:
            raise QueryProtocolError("the response is incomplete")
        assert self.objects is not None
        contents: list[tuple[str, bytes]] = []
        for index in range(self.objects):
            header = self._headers[index]
            data = b"".join(self._chunks[index][j] for j in range(header.chunks))
            if len(data) != header.bytes or hashlib.sha256(data).hexdigest() != header.sha256:
                raise QueryProtocolError(
                    f"object {index} ({header.name}): reassembled {len(data)} bytes do not match the"
                    f" announced {header.bytes} bytes / sha256"
                )
            contents.append((header.name, data))
        name, data = contents[0]
        if name != ENVELOPE_NAME:
            raise QueryProtocolError(f"object 0 is {name!r}, expected {ENVELOPE_NAME}")
        try:
            envelope = json.loads(data)
        except ValueError as exc:
            raise QueryProtocolError(f"the response envelope is not JSON: {exc}") from None
        files: dict[str, bytes] = {}
        listed = envelope.get("files") or []
        if len(listed) != len(contents) - 1:
            raise QueryProtocolError(f"the envelope lists {len(listed)} files, {len(contents) - 1} came")
        for entry, (name, data) in zip(listed, contents[1:], strict=True):
            if entry.get("name") != name or entry.get("sha256") != hashlib.sha256(data).hexdigest():
                raise QueryProtocolError(f"file {name!r} does not match the envelope's list")
            if not _SAFE_OBJECT_NAME.match(name):
                raise QueryProtocolError(f"unsafe file name {name!r}")
            files[name] = data
        return envelope, files
