"""MQTT 5 PUBACK reason codes, which aiomqtt drops.

Under MQTT 5 a broker acknowledges every QoS 1 publish, and says in the PUBACK's reason code whether it
took the message: below 0x80 it did (0x10 "No matching subscribers" included), from 0x80 on it did not
(0x87 Not authorized from an ACL, 0x97 Quota exceeded, 0x99 Payload format invalid, ...).  paho-mqtt 2
passes the code to ``on_publish`` (callback API v2); aiomqtt 2.5's handler only wakes the waiting
``publish()`` by message id, so a refused record would look sent.  :class:`AckedClient` keeps the code
and :meth:`AckedClient.publish_acked` raises :class:`PublishRefused` for a refusal.

This is the only module that touches aiomqtt's private parts (unchanged from 2.3 to 2.5):

- it extends two hooks, ``_pending_call`` and ``_on_publish``, for the reason codes;
- :meth:`AckedClient.until_lost` and ``__aexit__`` read ``_disconnected``, the future aiomqtt fails when
  the connection drops, so that a session notices a dead broker at once and the future's exception is
  always retrieved (else asyncio prints "Future exception was never retrieved" at exit for every
  connection lost while nobody iterated ``messages``: the uplink's);
- :meth:`AckedClient.publish_window` hands publishes to paho directly (``_client``) and collects their
  PUBACKs through ``_on_publish`` without a task per message, for the outbox's throughput.

``tests/test_mqtt_session.py`` checks that those internals are still there and runs each of them
against a real Mosquitto, so an aiomqtt that changes them fails that test rather than letting
refusals pass for PUBACKs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.errors import EdgeError

__all__ = ["AckedClient", "PublishRefused", "PublishWindow"]

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
        self._windows: dict[int, PublishWindow] = {}  # message id -> the window waiting for its PUBACK

    async def until_lost(self, work: Awaitable[None]) -> None:
        """Run ``work`` while connected: its result, or, the moment the connection is lost, cancel it and
        raise MqttError (whatever ``work`` was waiting for: a PUBACK, the outbox, a timer)."""
        task = asyncio.ensure_future(work)
        lost = self._disconnected
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task
            raise
        if task.done() and not (lost.done() and isinstance(task.exception(), aiomqtt.MqttError)):
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await task
        cause = None if lost.cancelled() else lost.exception()
        raise aiomqtt.MqttError(f"connection lost: {cause or 'closed by the broker'}") from cause

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await super().__aexit__(exc_type, exc, tb)
        finally:
            lost = self._disconnected
            if lost.done() and not lost.cancelled():
                lost.exception()  # retrieved: no "Future exception was never retrieved" at exit

    def publish_window(self, size: int) -> PublishWindow:
        """A window of at most ``size`` QoS 1 publishes awaiting their PUBACK (see :class:`PublishWindow`)."""
        return PublishWindow(self, size)

    def _send(self, topic: str, payload: bytes, window: PublishWindow) -> int:
        """Hand one QoS 1 publish to paho, its PUBACK to ``window``; returns the message id."""
        info = self._client.publish(topic, payload, 1)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        self._windows[info.mid] = window
        return int(info.mid)

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
        window = self._windows.pop(mid, None)
        if window is not None:
            window.acked(mid, reason_code, properties)
            return
        # Only while someone waits for it: a late PUBACK after a timeout must not stick to a reused id.
        if reason_code.is_failure and mid in self._pending_publishes:
            self._refusals[mid] = (reason_code, properties)
        super()._on_publish(client, userdata, mid, reason_code, properties)


class PublishWindow:
    """Up to ``size`` QoS 1 publishes on the wire at once, each settled by its own PUBACK.

    :meth:`send_all` hands messages to paho while slots are free (no task, no future per message);
    ``on_settled(key, refusal)`` is called once per message from the PUBACK (refusal None: accepted;
    else :class:`PublishRefused`).  A lost connection is seen by :meth:`AckedClient.until_lost`, which
    cancels whatever waits here; messages unsettled then were not acknowledged, and count as not sent."""

    def __init__(self, client: AckedClient, size: int) -> None:
        self._client = client
        self.size = size
        self._waiting: dict[int, tuple[Any, str]] = {}  # message id -> (key, topic)
        self._idle = asyncio.Event()
        self._idle.set()
        self.on_settled: Callable[[Any, PublishRefused | None], None] = lambda key, refusal: None

    @property
    def in_flight(self) -> int:
        return len(self._waiting)

    def send_all(self, messages: Sequence[tuple[Any, str, bytes]]) -> int:
        """Hand as many of ``messages`` as there are free slots to paho at once; returns how many."""
        free = self.size - len(self._waiting)
        for key, topic, payload in messages[:free]:
            mid = self._client._send(topic, payload, self)
            self._waiting[mid] = (key, topic)
            self._idle.clear()
        return max(0, min(free, len(messages)))

    async def drained(self) -> None:
        """Until every message sent has its PUBACK."""
        await self._idle.wait()

    def acked(self, mid: int, reason_code: ReasonCode, properties: Properties | None) -> None:
        entry = self._waiting.pop(mid, None)
        if entry is None:
            return
        key, topic = entry
        refusal = None
        if reason_code.is_failure:
            reason_string = str(getattr(properties, "ReasonString", "") or "")
            refusal = PublishRefused(topic, reason_code.value, reason_code.getName(), reason_string)
        if not self._waiting:
            self._idle.set()
        self.on_settled(key, refusal)
