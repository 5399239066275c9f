"""The asking side of central queries: one request, its response reassembled and checked.

``edge central query`` and the tests use it; a central system can use it as a reference implementation
(docs/central-queries.md).  It subscribes to its Response Topic before publishing the request, so no
chunk can be missed, and gives up after ``timeout_s`` without a complete response.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes

from edge.errors import EdgeError
from edge.query.protocol import (
    ChunkHeader,
    QueryProtocolError,
    Reassembly,
    mqtt_properties,
    request_topic,
    response_root,
)

__all__ = ["Answer", "Broker", "QueryProtocolError", "QueryTimeout", "ask"]


class QueryTimeout(EdgeError):
    """Raised when no complete response arrived in time (station offline, request dropped as
    unauthorised, or the broker refused the response topic)."""


@dataclass(frozen=True)
class Broker:
    """Where and how the asking client connects (MQTT 5; TLS with a client certificate when given)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    key_password: str | None = field(default=None, repr=False)
    client_id: str | None = None

    def tls(self) -> aiomqtt.TLSParameters | None:
        if not self.ca_file:
            return None
        return aiomqtt.TLSParameters(
            ca_certs=self.ca_file,
            certfile=self.cert_file,
            keyfile=self.key_file,
            keyfile_password=self.key_password,
        )


@dataclass
class Answer:
    """A response: the JSON envelope and the files (name -> bytes), every object checked by sha256."""

    envelope: dict[str, Any]
    files: dict[str, bytes]
    messages: int

    @property
    def ok(self) -> bool:
        return bool(self.envelope.get("ok"))

    @property
    def result(self) -> Any:
        return self.envelope.get("result")

    @property
    def error(self) -> dict[str, Any] | None:
        error = self.envelope.get("error")
        return error if isinstance(error, dict) else None


async def ask(
    broker: Broker,
    request: dict[str, Any] | bytes,
    *,
    site_id: str,
    lane: int = 1,
    topic_prefix: str = "site",
    response_topic: str | None = None,
    timeout_s: float = 30.0,
    retain: bool = False,
) -> Answer:
    """Send one request (a dict, or raw bytes exactly as given) and wait for its complete response.

    The Response Topic defaults to ``<prefix>/<site>/response/<client id>``, inside the station's own
    tree, as the example ACL requires."""
    identifier = broker.client_id or f"central-{uuid.uuid4().hex[:12]}"
    topic = response_topic or f"{response_root(topic_prefix, site_id)}{identifier}"
    correlation = uuid.uuid4().bytes
    payload = request if isinstance(request, bytes) else json.dumps(request, ensure_ascii=False).encode()
    props = mqtt_properties(PacketTypes.PUBLISH)
    props.ResponseTopic = topic
    props.CorrelationData = correlation
    props.ContentType = "application/json"
    reassembly = Reassembly()
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=identifier,
        username=broker.username,
        password=broker.password,
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_params=broker.tls(),
        timeout=timeout_s,
    ) as client:
        await client.subscribe(topic, qos=1)
        await client.publish(
            request_topic(topic_prefix, site_id, lane), payload, qos=1, properties=props, retain=retain
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                async for message in client.messages:
                    got = message.properties
                    if got is None or getattr(got, "CorrelationData", None) != correlation:
                        continue  # another request's answer on a shared response topic
                    header = ChunkHeader.from_properties(list(getattr(got, "UserProperty", [])))
                    data = message.payload if isinstance(message.payload, bytes | bytearray) else b""
                    reassembly.add(header, bytes(data))
                    if reassembly.complete:
                        break
    if not reassembly.complete:
        got_any = (
            f"{reassembly.messages} message(s) of an incomplete response"
            if reassembly.messages
            else "nothing"
        )
        raise QueryTimeout(
            f"no complete response from site {site_id} lane {lane} in {timeout_s:g} s ({got_any})"
        )
    envelope, files = reassembly.result()
    return Answer(envelope, files, reassembly.messages)
