"""MQTT 5 PUBACK reason codes, which aiomqtt drops.

Under MQTT 5 a broker acknowledges every QoS 1 publish, and says in the PUBACK's reason code whether it
took the message: below 0x80 it did (0x10 "No matching subscribers" included), from 0x80 on it did not
(0x87 Not authorized from an ACL, 0x97 Quota exceeded, 0x99 Payload format invalid, ...).  paho-mqtt 2
passes the code to ``on_publish`` (callback API v2); aiomqtt 2.5's handler only wakes the waiting
``publish()`` by message id, so a refused record would look sent.  :class:`AckedClient` keeps the code
and :meth:`AckedClient.publish_acked` raises :class:`PublishRefused` for a refusal.

It extends two private hooks of aiomqtt (``_pending_call``, ``_on_publish``; unchanged from 2.3 to 2.5).
``tests/test_uplink.py`` runs them against a real Mosquitto, so an aiomqtt that changes them
fails that test rather than letting refusals pass for PUBACKs.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.errors import EdgeError

__all__ = ["AckedClient", "PublishRefused"]

_T = TypeVar("_T")

# The message id of the publish() running in this task: aiomqtt registers it in _pending_call, inside
# the caller's own task (asyncio gives each task its own copy of the context).
_publish_mid: contextvars.ContextVar[int | None] = contextvars.ContextVar("_publish_mid", default=None)


class PublishRefused(EdgeError):
    """Raised when the broker's PUBACK refuses a publish (MQTT 5 reason code >= 0x80).

    The message was not accepted; the connection is fine.  ``code`` is the reason code's value,
    ``reason`` its name (``Not authorized``), ``reason_string`` the broker's own words, if it sent any.
    """

    def __init__(self, topic: str, code: int, reason: str, reason_string: str = "") -> None:
        self.topic = topic
        self.code = code
        self.reason = reason
        self.reason_string = reason_string
        detail = f"; broker says: {reason_string}" if reason_string else ""
        super().__init__(f"{reason} (0x{code:02X}){detail}")

    def advice(self, allowed: str, specific: Mapping[int, str] | None = None) -> str:
        """What to do about the refusal, for the log line: ``specific`` advice by reason code if it has
        this one; else, for 0x87 Not authorized, which ACL entry is missing (``allowed``: the topic or
        filter the station must be allowed to publish to); else the broker's log."""
        if specific is not None and self.code in specific:
            return specific[self.code]
        if self.code == 0x87:
            return (
                "check the broker ACL: this station (its certificate CN or user name) must be allowed to"
                f" publish to {allowed}"
            )
        return "see the broker's log for why"


class AckedClient(aiomqtt.Client):
    """aiomqtt's client that remembers which PUBACKs refused their message (MQTT 5)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refusals: dict[int, tuple[ReasonCode, Properties | None]] = {}

    async def publish_acked(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        properties: Properties | None = None,
        timeout_s: float | None = None,
    ) -> None:
        """``publish()``; raises PublishRefused when the broker's PUBACK refuses the message.

        ``properties`` are the message's MQTT 5 properties (Response Topic, Correlation Data, User
        Properties, ...); ``timeout_s`` is the wait for the PUBACK (None: the client's ``timeout``), after
        which aiomqtt raises MqttError.  At QoS 0 there is no PUBACK, so a refusal cannot be seen."""
        _publish_mid.set(None)
        try:
            await self.publish(
                topic, payload, qos=qos, retain=retain, properties=properties, timeout=timeout_s
            )
        finally:
            mid = _publish_mid.get()
            refusal = None if mid is None else self._refusals.pop(mid, None)
        if refusal is not None:
            code, properties = refusal
            reason_string = str(getattr(properties, "ReasonString", "") or "")
            raise PublishRefused(topic, code.value, code.getName(), reason_string)

    @contextlib.contextmanager
    def _pending_call(self, mid: int, value: _T, pending_dict: dict[int, _T]) -> Iterator[None]:
        if pending_dict is self._pending_publishes:
            self._refusals.pop(mid, None)  # paho reuses message ids: start clean
            _publish_mid.set(mid)
        with super()._pending_call(mid, value, pending_dict):
            yield

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason_code: ReasonCode, properties: Properties
    ) -> None:
        # Only while someone waits for it: a late PUBACK after a timeout must not stick to a reused id.
        if reason_code.is_failure and mid in self._pending_publishes:
            self._refusals[mid] = (reason_code, properties)
        super()._on_publish(client, userdata, mid, reason_code, properties)
