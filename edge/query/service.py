"""The station's side of central queries: answers MQTT 5 requests from what the station holds.

**Its own MQTT session** (:class:`edge.uplink.session.MqttSession`, client id ``<mqtt client id>-query``),
not the uplink's: a large chunked answer or a flood of requests must never share the outbox's window,
nor a refusal of an answer pause the evidence; edge/uplink/session.py says why in full.  The session
connects, reconnects and logs faults; this module subscribes and answers.

**Reading.**  Records are read through a read-only SQLite connection per request, in a worker thread:
WAL lets it read while the daemon writes, and it never queues behind (or delays) the evidence store's
writer thread, which a vehicle's verdict is waiting on.

**Refusals.**  Every request is checked in this order, and a failure is logged and counted, never raised:

1. no Response Topic, a retained request, a Response Topic outside ``query.response_prefixes`` (default:
   the station's own ``<prefix>/<site>/response/``) or an over-long Correlation Data: dropped without an
   answer (answering would let anyone make the station publish where they like);
2. payload over ``query.max_request_bytes``: ``too_large``;
3. wrong or missing ``token`` when ``query.token`` is set: ``unauthorised``;
4. not JSON: ``bad_json``; unknown ``method``: ``unknown_method``; anything else invalid: ``bad_request``;
5. the method itself: ``not_found``, ``too_large`` (a file over ``query.max_file_mb``), ``unavailable``
   (database or calibration store unreadable), ``internal`` (a bug; logged with its traceback).

**Answers the broker refuses.**  Each response message waits for its PUBACK, and a reason code of 0x80
or more (0x87 Not authorized: the broker's ACL does not let the station write the Response Topic; 0x97
Quota exceeded; a message over the broker's size limit) ends that answer: the rest is not sent, one error
line names the topic, the reason and what to do, ``refused`` counts it, and the next request is answered
as usual.  aiomqtt drops the reason code; :class:`edge.uplink.acks.AckedClient` keeps it.

**Load.**  Requests are answered one at a time, in arrival order.  At most :data:`MAX_WAITING` (64)
routable requests wait for their turn; each one beyond that is answered at once with the error ``busy``
(``retry`` in the message: ask again later), without reading the database, so a burst of any size gets
an answer or an explicit ``busy`` for every request, and the station holds at most 64 requests (each
at most ``query.max_request_bytes`` plus its MQTT properties) in memory.  The first ``busy`` of a burst
is logged; the rest are counted (``busy`` in health).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import re
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes

from edge.calibration import CalibrationStoreError, active_calibration, calibration_history
from edge.config import Config
from edge.evidence import EvidenceError
from edge.evidence.package import find_capture
from edge.evidence.store import database_summary, read_stored_record, search_records
from edge.query.protocol import (
    ENVELOPE_NAME,
    PROTOCOL,
    CalibrationsRequest,
    CaptureRequest,
    ChunkHeader,
    RecordRequest,
    RecordsRequest,
    RequestError,
    StatusRequest,
    error_envelope,
    mqtt_properties,
    parse_request,
    request_topic,
    response_root,
    utc_text,
)
from edge.uplink.acks import AckedClient, PublishRefused
from edge.uplink.session import Backoff, MqttSession, messages_until

__all__ = ["MAX_WAITING", "QueryService"]

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # as edge.evidence.package accepts
_MAX_CORRELATION_BYTES = 256
_MAX_RESPONSE_TOPIC_CHARS = 256
# Room for the fixed header, topic, packet id and properties of a response message beside its chunk.
_OVERHEAD_BYTES = 1024 + _MAX_RESPONSE_TOPIC_CHARS + _MAX_CORRELATION_BYTES
_FILE_READ_BYTES = 1 << 20
MAX_WAITING = 64  # requests waiting for their answer; each one more gets `busy` at once


@dataclass(frozen=True)
class _File:
    name: str  # "attachments/<name>" or "capture/<file name>"
    path: Path
    sha256: str
    size: int


class QueryService:
    """Answers central requests on ``<prefix>/<site id>/lane/<lane>/query`` until ``stop`` is set.

    ``health`` is the daemon's health callable; its result is the ``status`` method's ``health``."""

    def __init__(self, config: Config, health: Callable[[], dict[str, Any]] | None = None) -> None:
        self.config = config
        self.mqtt = config.mqtt
        self.settings = config.query
        self.topic = request_topic(config.mqtt.topic_prefix, config.site.id, config.site.lane)
        self.database = Path(config.evidence.database)
        self.capture_dir = Path(config.wim.capture_dir) if config.wim.capture_dir else None
        self.response_prefixes = self.settings.response_prefixes or (
            response_root(config.mqtt.topic_prefix, config.site.id),
        )
        self._health = health
        self._rng = random.Random()
        self.enabled = self.mqtt.enabled and self.settings.enabled
        connect = mqtt_properties(PacketTypes.CONNECT)
        # The broker drops anything bigger before it reaches us: an oversized request costs no memory.
        connect.MaximumPacketSize = max(4 * self.settings.max_request_bytes, 256 * 1024)
        # The client library's queue is unbounded: the reader below takes each message at once, and
        # bounds what waits itself (MAX_WAITING), answering `busy` instead of dropping silently.
        self.session = MqttSession(config, "query", suffix="-query", properties=connect, incoming_queue=0)
        self._failure = ""  # an internal error that ended the last connection
        self.last_error = ""
        self.answered = 0  # requests answered with ok
        self.errors = 0  # requests answered with an error (busy ones included)
        self.busy = 0  # requests answered `busy` (more than MAX_WAITING waiting)
        self._busy_logged = False
        self.dropped = 0  # requests not answered (no or unauthorised response topic, retained)
        self.refused = 0  # answers the broker refused (MQTT 5 PUBACK reason code >= 0x80)
        self.chunk_bytes = self.settings.max_packet_bytes - _OVERHEAD_BYTES

    @property
    def state(self) -> str:
        """disabled, connecting, connected, disconnected, failed or stopped."""
        if not self.enabled:
            return "disabled"
        if self._failure and self.session.state != "stopped":
            return "failed"
        return self.session.state

    def health(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "topic": self.topic,
            "answered": self.answered,
            "errors": self.errors,
            "busy": self.busy,
            "dropped": self.dropped,
            "refused": self.refused,
            "last_error": self.last_error,
        }

    # -- connection --------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        if not self.enabled:
            await stop.wait()
            return
        retry = Backoff(self.mqtt.reconnect_max_s, first_s=0.5, rng=self._rng)
        while not stop.is_set():
            try:
                await self.session.run(stop, lambda client: self._connected(client, stop))
            except Exception as exc:  # a bug here must never stop the lane: log it, reconnect, go on
                self._failure = self.last_error = f"internal error: {exc!r}"
                log.exception("query: internal error; reconnecting")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=retry.next())

    async def _connected(self, client: AckedClient, stop: asyncio.Event) -> None:
        granted = await client.subscribe(self.topic, qos=1)
        if any(_refused(code) for code in granted):
            raise aiomqtt.MqttError(
                f"the broker refused the subscription to {self.topic}: under the example ACL"
                " (docs/mosquitto/) the client certificate's CN must equal site.id"
                f" ({self.config.site.id})"
            )
        self._failure = ""
        log.info("query: answering central requests on %s", self.topic)
        await self._serve(client, stop)

    async def _serve(self, client: AckedClient, stop: asyncio.Event) -> None:
        """Read requests as they come; a worker answers them in order, at most MAX_WAITING waiting; one
        more is answered `busy` at once."""
        waiting: asyncio.Queue[aiomqtt.Message] = asyncio.Queue(MAX_WAITING)
        worker = asyncio.create_task(self._work(client, waiting), name="query answers")
        try:
            async for message in messages_until(client, stop):  # a lost connection raises MqttError
                if worker.done():
                    worker.result()  # MqttError: the connection broke while answering
                try:
                    waiting.put_nowait(message)
                except asyncio.QueueFull:
                    await self._answer_busy(client, message)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await worker

    async def _work(self, client: AckedClient, waiting: asyncio.Queue[aiomqtt.Message]) -> None:
        while True:
            message = await waiting.get()
            try:
                await self.handle(client, message)
            except aiomqtt.MqttError:
                raise
            except Exception:  # one bad request must never stop the service (nor the lane)
                self.errors += 1
                log.exception("query: internal error on a request to %s", message.topic)
            if waiting.empty():
                self._busy_logged = False

    async def _answer_busy(self, client: AckedClient, message: aiomqtt.Message) -> None:
        """Answer ``busy`` without reading anything; unroutable requests are dropped as usual."""
        props = message.properties
        response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        refusal = self._refuse_routing(message, response_topic, correlation)
        if refusal is not None:
            self.dropped += 1
            self.last_error = refusal
            return
        assert isinstance(response_topic, str)
        self.busy += 1
        self.errors += 1
        text = f"{MAX_WAITING} requests are waiting for an answer; retry later"
        if not self._busy_logged:
            self._busy_logged = True
            log.warning("query: busy: %s; further requests get `busy` until the queue empties", text)
        payload = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
        envelope = error_envelope(_method_of(payload), "busy", text, **self._where())
        with contextlib.suppress(PublishRefused):  # counted by the broker's refusal of the next answer
            await self._send(client, response_topic, correlation, envelope, [])

    # -- one request -------------------------------------------------------------------------------

    async def handle(self, client: AckedClient, message: aiomqtt.Message) -> None:
        """Answer one request; only a broken connection (MqttError) leaves this method."""
        props = message.properties
        response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        refusal = self._refuse_routing(message, response_topic, correlation)
        if refusal is not None:
            self.dropped += 1
            self.last_error = refusal
            log.warning("query: request on %s dropped, not answered: %s", message.topic, refusal)
            return
        assert isinstance(response_topic, str)
        payload = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
        try:
            envelope, files = await self._answer(payload)
        except _TooLarge as exc:  # not parsed, not even for its method
            envelope, files = self._refused(response_topic, exc.code, exc.message, b""), []
        except RequestError as exc:
            envelope, files = self._refused(response_topic, exc.code, exc.message, payload), []
        except (EvidenceError, CalibrationStoreError, OSError, sqlite3.Error) as exc:
            message_text = f"the station cannot read its data: {exc}"
            envelope, files = self._refused(response_topic, "unavailable", message_text, payload), []
        except Exception as exc:
            log.exception("query: internal error while answering a request")
            message_text = f"internal error ({type(exc).__name__}); see the station log"
            envelope, files = self._refused(response_topic, "internal", message_text, payload), []
        try:
            await self._send(client, response_topic, correlation, envelope, files)
        except PublishRefused as exc:
            self.refused += 1
            self.last_error = f"answer refused by the broker on {exc.topic}: {exc}"
            log.error(
                "query: the broker refused the %s answer on %s: %s; the answer is lost and the asking side"
                " times out; %s",
                envelope.get("method") or "error",
                exc.topic,
                exc,
                self._advice(exc),
            )
            return
        except (RequestError, OSError) as exc:  # a file changed or vanished while it was being sent
            self.errors += 1
            self.last_error = f"answer cut short: {exc}"
            log.warning("query: answer to %s cut short: %s", response_topic, exc)
            return
        if envelope.get("ok"):
            self.answered += 1
            log.info("query: %s answered to %s (%d file(s))", envelope["method"], response_topic, len(files))

    def _advice(self, refusal: PublishRefused) -> str:
        """What to do about a refused answer, by its PUBACK reason code (MQTT 5.0, section 3.4.2.1)."""
        too_large = (
            f"the message was larger than the broker accepts: lower query.max_packet_bytes"
            f" ({self.settings.max_packet_bytes}) below the broker's limit (Mosquitto: message_size_limit,"
            " max_packet_size), or raise that limit"
        )
        advice = refusal.advice(
            refusal.topic,
            {
                0x83: too_large,
                0x95: too_large,
                0x97: "the broker's quota for this client is used up; the central side may ask again later",
            },
        )
        if refusal.code == 0x87:
            advice += (
                f"; the example ACL (docs/mosquitto/) allows"
                f" {response_root(self.mqtt.topic_prefix, self.config.site.id)}#, and query.response_prefixes"
                " should name only topics the ACL lets the station write"
            )
        return advice

    def _refused(self, response_topic: str, code: str, message: str, payload: bytes) -> dict[str, Any]:
        self.errors += 1
        self.last_error = f"{code}: {message}"
        log.warning("query: request to %s refused: %s: %s", response_topic, code, message)
        return error_envelope(_method_of(payload), code, message, **self._where())

    def _refuse_routing(self, message: aiomqtt.Message, response_topic: Any, correlation: Any) -> str | None:
        """Why a request must not be answered at all, or None."""
        if message.retain:
            return "a retained request (it would be answered again at every reconnect)"
        if not isinstance(response_topic, str) or not response_topic:
            return "no MQTT 5 Response Topic"
        if (
            len(response_topic) > _MAX_RESPONSE_TOPIC_CHARS
            or any(char in response_topic for char in "+#\0")
            or not response_topic.startswith(self.response_prefixes)
        ):
            return (
                f"Response Topic {response_topic[:80]!r} is not under an allowed prefix"
                f" ({', '.join(self.response_prefixes)})"
            )
        if correlation is not None and (
            not isinstance(correlation, bytes | bytearray) or len(correlation) > _MAX_CORRELATION_BYTES
        ):
            return f"Correlation Data longer than {_MAX_CORRELATION_BYTES} bytes"
        return None

    def _where(self) -> dict[str, Any]:
        return {"site_id": self.config.site.id, "lane": self.config.site.lane}

    def _check_token(self, payload: bytes) -> None:
        expected = self.settings.token.get_secret_value()
        if not expected:
            return
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError):
            data = None
        given = data.get("token") if isinstance(data, dict) else None
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected.encode()):
            raise RequestError("unauthorised", "missing or wrong token")

    async def _answer(self, payload: bytes) -> tuple[dict[str, Any], list[_File]]:
        if len(payload) > self.settings.max_request_bytes:
            raise _TooLarge(
                f"the request is {len(payload)} bytes; at most {self.settings.max_request_bytes} are accepted",
            )
        self._check_token(payload)
        request = parse_request(payload)
        files: list[_File] = []
        if isinstance(request, RecordsRequest):
            result = await self._records(request)
        elif isinstance(request, RecordRequest):
            result, files = await self._record(request)
        elif isinstance(request, CaptureRequest):
            result, files = await self._capture(request)
        elif isinstance(request, StatusRequest):
            result = await self._status()
        elif isinstance(request, CalibrationsRequest):
            result = await asyncio.to_thread(self._calibrations)
        envelope = {
            "protocol": PROTOCOL,
            "ok": True,
            "method": request.method,
            **self._where(),
            "result": result,
            "files": [{"name": f.name, "sha256": f.sha256, "bytes": f.size} for f in files],
        }
        return envelope, files

    # -- methods -----------------------------------------------------------------------------------

    async def _records(self, request: RecordsRequest) -> dict[str, Any]:
        if request.page_size > self.settings.max_page_size:
            raise RequestError(
                "bad_request",
                f"page_size {request.page_size} exceeds the maximum {self.settings.max_page_size}",
            )
        rows = await asyncio.to_thread(
            search_records,
            self.database,
            from_utc=None if request.from_utc is None else utc_text(request.from_utc),
            to_utc=None if request.to_utc is None else utc_text(request.to_utc),
            plate=request.plate,
            verdict=request.verdict,
            after_seq=request.after_seq,
            limit=request.page_size + 1,  # one more tells whether another page follows
            full=request.full,
        )
        page = rows[: request.page_size]
        more = len(rows) > request.page_size
        return {
            "records": page,
            "count": len(page),
            "next_after_seq": page[-1]["seq"] if more else None,
        }

    async def _record(self, request: RecordRequest) -> tuple[dict[str, Any], list[_File]]:
        stored = await asyncio.to_thread(read_stored_record, self.database, request.id)
        if stored is None:
            raise RequestError("not_found", f"no record with id {request.id!r}")
        if stored.evicted_utc is not None:
            raise RequestError(
                "not_found",
                f"record {request.id} (seq {stored.seq}) was uploaded, then evicted at {stored.evicted_utc}"
                " to stay within evidence.budget_mb; only its chain entry is kept here: take it from the"
                " central archive",
            )
        record = json.loads(stored.record_text)
        files: list[_File] = []
        problems: list[str] = []
        if request.attachments:
            files, problems = await asyncio.to_thread(self._attachments, request.id, record)
        result = {
            "seq": stored.seq,
            "record_text": stored.record_text,  # the exact bytes that were hashed and signed
            "chain": None if stored.chain is None else stored.chain.as_dict(),
            "attachments_missing": problems,
        }
        return result, files

    def _attachments(self, record_id: str, record: dict[str, Any]) -> tuple[list[_File], list[str]]:
        """The record's attachment files that match the sha256 it lists; the others are named as
        problems (a file that differs from the signed listing is no evidence and is not sent)."""
        files: list[_File] = []
        problems: list[str] = []
        folder = self.database.parent / "attachments" / record_id
        for index, entry in enumerate(record.get("attachments") or []):
            name = str(entry.get("name", "")) if isinstance(entry, dict) else ""
            listed = str(entry.get("sha256", "")) if isinstance(entry, dict) else ""
            if not _SAFE_NAME.match(name):
                problems.append(f"attachment {index}: unusable name {name[:80]!r}")
                continue
            path = folder / name
            if not path.is_file():
                problems.append(f"attachment {name}: file not found on the station")
                continue
            found = self._file(f"attachments/{name}", path)
            if found.sha256 != listed:
                problems.append(f"attachment {name}: the file differs from the signed record's sha256")
                continue
            files.append(found)
        return files, problems

    def _file(self, name: str, path: Path) -> _File:
        size = path.stat().st_size
        if size > self.settings.max_file_mb * 1e6:
            raise RequestError(
                "too_large",
                f"{name} is {size / 1e6:.1f} MB; query.max_file_mb allows {self.settings.max_file_mb}",
            )
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            while block := stream.read(_FILE_READ_BYTES):
                digest.update(block)
        return _File(name, path, digest.hexdigest(), size)

    async def _capture(self, request: CaptureRequest) -> tuple[dict[str, Any], list[_File]]:
        if self.capture_dir is None:
            raise RequestError(
                "not_found", "this station does not keep raw captures (wim.capture_dir is empty)"
            )
        capture_dir = self.capture_dir

        def find() -> _File | None:
            path = find_capture(capture_dir, request.record_id)
            return None if path is None else self._file(f"capture/{path.name}", path)

        found = await asyncio.to_thread(find)
        if found is None:
            raise RequestError(
                "not_found",
                f"no raw capture for record {request.record_id!r} (never taken, or deleted for space)",
            )
        return {"record_id": request.record_id, "file": found.name}, [found]

    async def _status(self) -> dict[str, Any]:
        summary = await asyncio.to_thread(database_summary, self.database)
        health: dict[str, Any] | None = None
        if self._health is not None:
            health = json.loads(json.dumps(self._health(), default=str))
        return {
            "time_utc": utc_text(datetime.now(UTC)),
            "evidence": summary,
            "health": health,
            "query": self.health(),
        }

    def _calibrations(self) -> dict[str, Any]:
        active = active_calibration(self.database)
        return {
            "active_id": None if active is None else active.calibration_id,
            "calibrations": [cal.to_dict() for cal in calibration_history(self.database)],
        }

    # -- sending -----------------------------------------------------------------------------------

    async def _send(
        self,
        client: AckedClient,
        topic: str,
        correlation: bytes | bytearray | None,
        envelope: dict[str, Any],
        files: list[_File],
    ) -> None:
        # A lone surrogate (from a request's JSON) cannot be UTF-8: it goes out as its JSON escape.
        body = json.dumps(envelope, ensure_ascii=False, default=str).encode("utf-8", "backslashreplace")
        objects = 1 + len(files)
        body_header = (ENVELOPE_NAME, len(body), hashlib.sha256(body).hexdigest())
        await self._send_object(
            client, topic, correlation, 0, objects, body_header, _chunks_of(body, self.chunk_bytes)
        )
        for index, file in enumerate(files, start=1):
            header = (file.name, file.size, file.sha256)
            await self._send_object(
                client, topic, correlation, index, objects, header, _file_chunks(file, self.chunk_bytes)
            )

    async def _send_object(
        self,
        client: AckedClient,
        topic: str,
        correlation: bytes | bytearray | None,
        index: int,
        objects: int,
        header: tuple[str, int, str],
        chunks: AsyncIterator[bytes],
    ) -> None:
        name, size, sha256 = header
        total = max(1, -(-size // self.chunk_bytes))
        sent = 0
        async for number, chunk in _enumerate(chunks):
            props = mqtt_properties(PacketTypes.PUBLISH)
            if correlation is not None:
                props.CorrelationData = bytes(correlation)
            props.ContentType = "application/json" if index == 0 else "application/octet-stream"
            props.UserProperty = ChunkHeader(
                object=index,
                objects=objects,
                chunk=number,
                chunks=total,
                bytes=size,
                sha256=sha256,
                name=name,
            ).properties()
            # A refusal raises PublishRefused: the remaining chunks would be refused alike and are not sent.
            await client.publish_acked(
                topic, chunk, qos=1, properties=props, timeout_s=self.mqtt.publish_timeout_s
            )
            sent += 1
        if sent != total:
            raise RequestError("unavailable", f"{name} changed while it was being sent")


def _refused(code: Any) -> bool:
    """A SUBACK code that refuses: an MQTT 5 reason code or a 3.1.1 return code >= 0x80."""
    value = getattr(code, "value", code)
    return isinstance(value, int) and value >= 0x80


class _TooLarge(RequestError):
    """Raised when a request is larger than the service accepts (answered as ``too_large``)."""

    def __init__(self, message: str) -> None:
        super().__init__("too_large", message)


def _method_of(payload: bytes | bytearray) -> str | None:
    """The method a refused request named, if it is readable (for the error envelope)."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    method = data.get("method") if isinstance(data, dict) else None
    if not isinstance(method, str) or len(method) > 32:
        return None
    try:
        method.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return None
    return method


async def _chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    if not data:
        yield b""
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _file_chunks(file: _File, size: int) -> AsyncIterator[bytes]:
    """The file in chunks, read in a thread; stops at the size announced (the sha256 covers that)."""
    stream = await asyncio.to_thread(file.path.open, "rb")
    try:
        remaining = file.size
        if remaining == 0:
            yield b""
        while remaining > 0:
            block: bytes = await asyncio.to_thread(stream.read, min(size, remaining))
            if not block:
                return
            remaining -= len(block)
            yield block
    finally:
        await asyncio.to_thread(stream.close)


async def _enumerate(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    number = 0
    async for chunk in chunks:
        yield number, chunk
        number += 1
