"""One MQTT 5 session: connect, reconnect with jittered back-off, TLS, the will, PUBACK reason codes.

The uplink, the central-query service and the downlink each hold one :class:`MqttSession`; this module
is the only place that builds an aiomqtt client, and :mod:`edge.uplink.acks` the only place that touches
aiomqtt's private parts.  A session:

- connects over MQTT 5 (for the PUBACK reason codes), with TLS and a client certificate when
  configured (:func:`tls_parameters`), and with the will it is given;
- runs its owner's ``serve(client)`` while connected, and cancels it the moment the connection is
  lost: a dead broker is noticed at once (paho sees the socket close), not at the next publish or
  after ``mqtt.publish_timeout_s`` of waiting for a PUBACK that cannot come;
- reconnects after a jittered, growing pause (:class:`Backoff`: 0.1 s at first, times 1.5 per failed
  attempt, up to ``mqtt.reconnect_max_s``, each pause drawn from 0.5-1.5 times that), so a restarted
  broker is found again within about a second, and a fleet of stations does not reconnect in step;
- logs one line per fault for the whole station (see :class:`_Link`): the station's sessions to one
  broker share it, and paho's own ERROR line for the lost socket is kept at DEBUG.

**Why one connection per service, not one per station.**  One connection would be enough for the
traffic (a lane makes a few records a minute; a backlog drains at thousands per second), but the
three services have different failure and flow rules that one MQTT connection would mix:

- paho's in-flight window (``mqtt.max_inflight``) and the broker's per-client quota are per
  connection: a central query answering with megabytes of images in 256 KB chunks would sit in the
  same window and the same TCP stream as the outbox's records, and a quota refusal (0x97) caused by an
  answer would pause the evidence;
- the incoming queue is per connection: a flood of central requests (answered ``busy`` past a limit,
  edge/query/service.py) must never crowd out a downlink document;
- the uplink holds the will (``offline`` on the status topic); a query or downlink connection that
  drops must not announce the station as offline, nor one that stays up hide that the uplink is gone.

The cost is two more TCP (and TLS) connections per lane: a few kB of broker memory each, which
docs/fleet.md counts.  All three present the same client certificate, so the broker's ACL treats them
alike, and their client ids are ``<mqtt client id>``, ``-query`` and ``-downlink``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
from paho.mqtt.properties import Properties

from edge.config import Config, MqttConfig
from edge.uplink.acks import AckedClient

__all__ = ["Backoff", "MqttSession", "client_id", "messages_until", "tls_parameters"]

log = logging.getLogger(__name__)

# paho's and aiomqtt's own lines ("failed to receive on socket: ...", at ERROR, one per connection):
# the session logs the fault once, with the same reason; theirs go to DEBUG under this name.
_LIBRARY_LOG = logging.getLogger("edge.uplink.session.mqtt")


class _DebugLibraryFaults(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.INFO:
            return True
        _LIBRARY_LOG.debug("%s", record.getMessage())
        return False


_CLIENT_LOG = logging.getLogger("edge.uplink.session.client")
_CLIENT_LOG.addFilter(_DebugLibraryFaults())


def _quiet_closed_socket_writes(loop: asyncio.AbstractEventLoop) -> None:
    """aiomqtt asks the loop to watch paho's socket for writing through ``call_soon_threadsafe``; when the
    broker drops the connection first, the socket is closed by the time the loop runs it, and asyncio logs
    "Exception in callback ...add_writer ... [Errno 9] Bad file descriptor" at ERROR with a traceback,
    once per connection, beside the session's own line for the same fault.  That one case goes to DEBUG;
    every other exception reaches the handler that was there before (asyncio's default)."""
    previous = loop.get_exception_handler()
    if getattr(previous, "quiets_closed_socket_writes", False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if (
            isinstance(exc, OSError)
            and exc.errno == errno.EBADF
            and "add_writer" in repr(context.get("handle"))
        ):
            _LIBRARY_LOG.debug("a closed connection's socket was not watched for writing: %s", exc)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.quiets_closed_socket_writes = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)


def client_id(config: Config) -> str:
    return config.mqtt.client_id or f"edge-{config.site.id}-{config.site.lane}"


def tls_parameters(mqtt: MqttConfig) -> aiomqtt.TLSParameters | None:
    """TLS towards the broker (with a client certificate when one is configured); None for plain TCP.

    The key password goes to the TLS library only: it is a SecretStr everywhere else and never logged."""
    if not mqtt.tls_ca_file:
        return None
    return aiomqtt.TLSParameters(
        ca_certs=mqtt.tls_ca_file,
        certfile=mqtt.tls_cert_file or None,
        keyfile=mqtt.tls_key_file or None,
        keyfile_password=mqtt.tls_key_password.get_secret_value() or None,
    )


async def messages_until(client: aiomqtt.Client, stop: asyncio.Event) -> AsyncIterator[aiomqtt.Message]:
    """The client's messages until ``stop`` is set; a lost connection raises MqttError as usual.

    ``async for message in client.messages`` alone waits on the broker and never sees the stop event.
    """
    messages = aiter(client.messages)
    stop_wait = asyncio.ensure_future(stop.wait())
    incoming: asyncio.Future[aiomqtt.Message] | None = None
    try:
        while not stop.is_set():
            incoming = asyncio.ensure_future(anext(messages))
            # Cancelled from outside (a lost connection, see AckedClient.until_lost), the read may still
            # end in MqttError: retrieve it, or asyncio prints "Task exception was never retrieved".
            incoming.add_done_callback(_retrieve)
            done, _ = await asyncio.wait({incoming, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if incoming not in done:
                incoming.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await incoming
                return
            yield incoming.result()
    finally:
        stop_wait.cancel()
        if incoming is not None:
            incoming.cancel()


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class Backoff:
    """Jittered exponential back-off: ``first_s``, growing by ``factor`` per failure up to ``max_s``; each
    pause is drawn from 0.5-1.5 times the current step, so stations refused together spread out."""

    def __init__(
        self, max_s: float, first_s: float = 0.1, factor: float = 1.5, rng: random.Random | None = None
    ) -> None:
        self.first_s = min(first_s, max_s)
        self.max_s = max_s
        self.factor = factor
        self._rng = rng or random.Random()
        self._step_s = self.first_s

    def reset(self) -> None:
        self._step_s = self.first_s

    def next(self) -> float:
        """The next pause (s); the step after it grows."""
        pause = self._step_s * (0.5 + self._rng.random())
        self._step_s = min(self._step_s * self.factor, self.max_s)
        return pause


@dataclass
class _Link:
    """What the station's sessions to one broker know together: which of them are down, and since when.
    The first session to lose the broker logs the fault; the others, and every failed retry, log at DEBUG;
    the last one back logs the recovery."""

    down: set[str] = field(default_factory=set)
    since: float = 0.0


_LINKS: dict[tuple[str, int, str], _Link] = {}


class MqttSession:
    """A connection kept up until ``stop``; ``run(stop, serve)`` calls ``serve(client)`` on each connection.

    ``name`` names the owner in log lines and health (``uplink``, ``query``, ``downlink``); ``suffix`` is
    appended to the station's client id; ``will`` is published by the broker if the connection vanishes;
    ``properties`` are the CONNECT properties; ``max_inflight`` is paho's window of unacknowledged QoS 1
    publishes (None: paho's default, 20; 0: none, when the owner keeps its own window); ``incoming_queue`` bounds the received messages not yet read (0: unbounded)."""

    def __init__(
        self,
        config: Config,
        name: str,
        *,
        suffix: str = "",
        will: aiomqtt.Will | None = None,
        properties: Properties | None = None,
        max_inflight: int | None = None,
        incoming_queue: int = 0,
    ) -> None:
        self.config = config
        self.mqtt = config.mqtt
        self.name = name
        self.identifier = client_id(config) + suffix
        self.will = will
        self.properties = properties
        self.max_inflight = max_inflight
        self.incoming_queue = incoming_queue
        self.backoff = Backoff(self.mqtt.reconnect_max_s)
        self.state = "connecting"
        self.last_error = ""
        self.connects = 0
        self.faults = 0  # connections lost or refused
        self.client: AckedClient | None = None  # while connected
        key = (self.mqtt.host, self.mqtt.port, client_id(config))
        self._link = _LINKS.setdefault(key, _Link())

    def _client(self) -> AckedClient:
        inflight = self.max_inflight
        return AckedClient(
            self.mqtt.host,
            self.mqtt.port,
            identifier=self.identifier,
            username=self.mqtt.username or None,
            password=self.mqtt.password.get_secret_value() or None,
            protocol=aiomqtt.ProtocolVersion.V5,  # for the PUBACK reason codes
            keepalive=self.mqtt.keepalive_s,
            will=self.will,
            properties=self.properties,
            timeout=self.mqtt.publish_timeout_s,  # each publish's wait for its PUBACK
            # paho's own defaults (20 in flight, then a queue) would hold back the outbox's window.
            max_inflight_messages=inflight,
            max_queued_outgoing_messages=inflight * 4 if inflight else None,
            max_queued_incoming_messages=self.incoming_queue,
            tls_params=tls_parameters(self.mqtt),
            logger=_CLIENT_LOG,
        )

    async def run(self, stop: asyncio.Event, serve: Callable[[AckedClient], Awaitable[None]]) -> None:
        """Connect, ``serve``, and reconnect after any fault, until ``stop`` is set.  ``serve`` returns when
        ``stop`` is set (the connection is then closed cleanly) and may raise MqttError to reconnect;
        any other exception leaves this method."""
        _quiet_closed_socket_writes(asyncio.get_running_loop())
        while not stop.is_set():
            try:
                async with self._client() as client:
                    self.client = client
                    self._connected()
                    try:
                        await client.until_lost(serve(client))
                    finally:
                        self.client = None
            except aiomqtt.MqttError as exc:
                self._fault(exc)
            if stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.backoff.next())
        self.state = "stopped"

    def _connected(self) -> None:
        self.state = "connected"
        self.connects += 1
        self.last_error = ""
        self.backoff.reset()
        link = self._link
        if self.name in link.down:
            link.down.discard(self.name)
            if not link.down:
                log.info(
                    "mqtt: broker %s:%d reachable again after %.1f s",
                    self.mqtt.host,
                    self.mqtt.port,
                    time.monotonic() - link.since,
                )
        log.debug("%s: connected to %s:%d as %s", self.name, self.mqtt.host, self.mqtt.port, self.identifier)

    def _fault(self, exc: aiomqtt.MqttError) -> None:
        self.state = "disconnected"
        self.faults += 1
        reason = str(exc) or type(exc).__name__
        link = self._link
        if not link.down:
            link.since = time.monotonic()
            log.warning(
                "mqtt: broker %s:%d unavailable (%s: %s); records stay in the outbox, reconnecting",
                self.mqtt.host,
                self.mqtt.port,
                self.name,
                reason,
            )
        elif reason != self.last_error:
            log.debug("%s: broker unavailable: %s", self.name, reason)
        link.down.add(self.name)
        self.last_error = reason
