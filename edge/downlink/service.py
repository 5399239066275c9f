"""Downlink: versioned retained documents from the central office, validated, applied, acknowledged.

The station subscribes to ``<prefix>/<site>/downlink/+`` (kinds in :data:`KINDS`).  The broker hands
over the retained document of each kind at every (re)connection, so a station that was offline catches
up by itself.  For each message:

1. validate it strictly (:func:`parse_document`; config also as a whole configuration);
   Before that its signature is checked (:mod:`edge.downlink.signing`): against
   ``downlink.trusted_keys``; an unsigned document only under ``downlink.accept_unsigned``;
2. apply it only when its ``version`` is greater than the stored one: one SQLite transaction replaces
   the previous document of that kind, then the in-memory copy (and, for config, the daemon's
   configuration through ``on_config``) is swapped in one assignment;
3. acknowledge on ``<prefix>/<site>/downlink/<kind>/ack`` (QoS 1, not retained: several lanes of a
   site share the topic; each lane's applied versions are also in its retained heartbeat):
   ``{"site_id", "lane", "kind", "version", "status", "applied_version", "errors"}`` with status
   ``applied``, ``ignored`` (version not newer: stale or already applied) or ``rejected``.

Its own MQTT session (:class:`edge.uplink.session.MqttSession`, client id ``<mqtt client id>-downlink``),
like the query service: the uplink's outbox logic must never see a failure caused by a downlink
document, and a broken document must never cost the lane its uplink (edge/uplink/session.py says why
in full).  It speaks MQTT 5 so that each acknowledgement's PUBACK says whether the broker took it: a refusal (0x87 Not
authorized when the ACL does not let the station write ``.../<kind>/ack``) is logged with what to do and
counted (``acks_refused``); the document stays applied, and the service goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from edge.config import Config
from edge.downlink.documents import (
    KINDS,
    AppliedDocument,
    ConfigDocument,
    DocumentError,
    DownlinkStore,
    apply_config,
    parse_document,
)
from edge.downlink.signing import open_envelope
from edge.uplink.acks import AckedClient, PublishRefused
from edge.uplink.session import MqttSession, messages_until

__all__ = ["DownlinkService", "ack_topic", "downlink_topic"]

log = logging.getLogger(__name__)


def downlink_topic(config: Config, kind: str) -> str:
    return f"{config.mqtt.topic_prefix}/{config.site.id}/downlink/{kind}"


def ack_topic(config: Config, kind: str) -> str:
    return f"{downlink_topic(config, kind)}/ack"


def _claimed_version(payload: bytes) -> int | None:
    """The version a document (signed or not) says it has, for the acknowledgement of a rejected one."""
    with contextlib.suppress(ValueError, UnicodeDecodeError, AttributeError, TypeError):
        data = json.loads(payload)
        if isinstance(data, dict) and isinstance(data.get("document"), str):
            data = json.loads(data["document"])
        raw = data.get("version")
        return raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    return None


class DownlinkService:
    """Receives, stores and acknowledges downlink documents; ``current(kind)`` is the applied one.

    ``on_config`` receives the file configuration with the applied remote settings, at start (from
    the stored document) and after each applied config document."""

    def __init__(self, config: Config, on_config: Callable[[Config], None] | None = None) -> None:
        self.config = config  # the file's configuration: remote settings are applied on top of it
        self.store = DownlinkStore(config.evidence.database)
        self._on_config = on_config
        self._applied: dict[str, AppliedDocument] = {}
        self.enabled = config.mqtt.enabled and config.downlink.enabled
        self.session = MqttSession(config, "downlink", suffix="-downlink")
        self.counts = {"applied": 0, "ignored": 0, "rejected": 0}
        self.acks_refused = 0  # acknowledgements the broker refused (MQTT 5 PUBACK reason code >= 0x80)
        self.last_refusal = ""

    @property
    def state(self) -> str:
        """disabled, connecting, connected, disconnected or stopped."""
        return self.session.state if self.enabled else "disabled"

    @property
    def last_error(self) -> str:
        return self.session.last_error

    def current(self, kind: str) -> Any:
        """The applied document of ``kind`` (a validated model), or None."""
        applied = self._applied.get(kind)
        return None if applied is None else applied.document

    def versions(self) -> dict[str, int | None]:
        return {kind: (self._applied[kind].version if kind in self._applied else None) for kind in KINDS}

    async def load(self) -> None:
        """Load the stored documents (the daemon's start); a stored config is applied at once."""
        self._applied = await asyncio.to_thread(self.store.load)
        stored = self._applied.get("config")
        if stored is not None and self._on_config is not None:
            try:
                self._on_config(apply_config(self.config, stored.document))
            except DocumentError as exc:  # the file changed under it: keep the file's values
                log.error("downlink: stored config version %d no longer applies: %s", stored.version, exc)

    async def handle(self, kind: str, payload: bytes) -> dict[str, Any]:
        """Validate and apply one document; returns the acknowledgement."""
        ack: dict[str, Any] = {"site_id": self.config.site.id, "lane": self.config.site.lane, "kind": kind}
        version = _claimed_version(payload)
        try:
            document = parse_document(kind, open_envelope(kind, payload, self.config.downlink))
            if document.sites is not None and self.config.site.id not in document.sites:
                raise DocumentError(
                    [
                        f"sites: addressed to {', '.join(document.sites)}, not to this station"
                        f" ({self.config.site.id}); ask the central office to sign it for this site"
                    ]
                )
            new_config = apply_config(self.config, document) if isinstance(document, ConfigDocument) else None
        except DocumentError as exc:
            self.counts["rejected"] += 1
            log.warning("downlink: %s version %s rejected: %s", kind, version, exc)
            return {
                **ack,
                "version": version,
                "status": "rejected",
                **self._current(kind),
                "errors": exc.errors,
            }
        stored, previous = await asyncio.to_thread(self.store.replace, kind, document)
        if not stored:
            self.counts["ignored"] += 1
            return {
                **ack,
                "version": document.version,
                "status": "ignored",
                **self._current(kind),
                "errors": [f"version {document.version} is not newer than the applied version {previous}"],
            }
        self._applied[kind] = AppliedDocument(
            kind, document.version, document, "", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        )
        if new_config is not None and self._on_config is not None:
            self._on_config(new_config)
        self.counts["applied"] += 1
        log.info("downlink: %s version %d applied (was %s)", kind, document.version, previous)
        return {**ack, "version": document.version, "status": "applied", **self._current(kind), "errors": []}

    def _current(self, kind: str) -> dict[str, Any]:
        return {"applied_version": self.versions()[kind]}

    async def run(self, stop: asyncio.Event) -> None:
        if not self.enabled:
            await stop.wait()
            return
        settings = self.config.downlink
        if not settings.trusted_keys and not settings.accept_unsigned:
            log.error(
                "downlink: no central key in downlink.trusted_keys: every document will be rejected"
                " (`edge central keygen` makes a key pair; docs/downlink.md)"
            )
        await self.session.run(stop, lambda client: self._connected(client, stop))

    async def _connected(self, client: AckedClient, stop: asyncio.Event) -> None:
        mqtt = self.config.mqtt
        await client.subscribe(f"{mqtt.topic_prefix}/{self.config.site.id}/downlink/+", qos=1)
        await self._serve(client, stop)

    async def _serve(self, client: AckedClient, stop: asyncio.Event) -> None:
        async for message in messages_until(client, stop):
            kind = str(message.topic).rsplit("/", 1)[-1]
            if kind not in KINDS:
                log.warning(
                    "downlink: ignoring %s: unknown kind (known: %s)", message.topic, ", ".join(KINDS)
                )
                continue
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            if not payload:  # a retained message cleared by the central office: keep what is applied
                continue
            try:
                ack = await self.handle(kind, payload)
            except Exception as exc:  # the store failed: say so, never crash the lane
                log.exception("downlink: %s could not be applied", kind)
                ack = {"kind": kind, "status": "rejected", "errors": [f"station error: {exc}"]}
            await self._acknowledge(client, kind, ack)

    async def _acknowledge(self, client: AckedClient, kind: str, ack: dict[str, Any]) -> None:
        """Publish the acknowledgement; a refusal is logged and counted, never raised (the document's
        fate does not depend on it: it is applied, ignored or rejected already)."""
        topic = ack_topic(self.config, kind)
        try:
            await client.publish_acked(topic, json.dumps(ack, ensure_ascii=False).encode(), qos=1)
        except PublishRefused as refusal:
            self.acks_refused += 1
            advice = refusal.advice(topic)
            self.last_refusal = f"broker refused the {kind} acknowledgement on {topic}: {refusal}; {advice}"
            log.error(
                "downlink: %s; %s version %s is %s all the same, but the central office gets no"
                " acknowledgement (the heartbeat's downlink_versions still shows what is applied)",
                self.last_refusal,
                kind,
                ack.get("version"),
                ack.get("status"),
            )

    def health(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "versions": self.versions(),
            **self.counts,
            "acks_refused": self.acks_refused,
            "last_refusal": self.last_refusal,
            "last_error": self.last_error,
        }
