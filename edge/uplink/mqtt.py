"""Uplink: drains the evidence outbox to the broker at QoS 1 (MQTT 5), and keeps a retained station status.

The outbox is the source of truth.  A row is marked sent only after a PUBACK that accepts it; anything
that fails stays and goes out after the reconnect, in sequence order.  A PUBACK whose reason code refuses
the record (0x87 Not authorized, 0x97 Quota exceeded, ...) leaves the row unsent too: the uplink says
what to do, pauses, and tries again.  While a vehicle crosses the scale a backlog waits (the lane's
verdict needs the CPU); the newest records and the heartbeat do not.  The client's will publishes
``offline`` to the status topic if the station vanishes without saying goodbye.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt

from edge.config import Config
from edge.evidence import EvidenceError, EvidenceStore, OutboxEntry
from edge.lane import LaneBusy
from edge.uplink.acks import AckedClient, PublishRefused
from edge.uplink.session import Backoff, MqttSession, messages_until

__all__ = [
    "Uplink",
    "certificate_mismatch",
    "messages_until",
    "record_topic",
    "status_topic",
]

log = logging.getLogger(__name__)

# What to do about a refused publish, by its PUBACK reason code (MQTT 5.0, section 3.4.2.1); 0x87 and
# the rest: PublishRefused.advice.
_REFUSAL_ADVICE = {
    0x97: "the broker's quota for this client is used up; the records go out once it allows more",
    0x99: "the broker refused the payload format; check its payload rules or plugins",
    0x95: "the message is larger than the broker accepts; raise the broker's maximum packet size",
    0x90: "the broker refused the topic name; check mqtt.topic_prefix and site.id",
    0x83: "see the broker's log (Mosquitto answers this for a message over its message_size_limit)",
}


def record_topic(config: Config) -> str:
    return f"{config.mqtt.topic_prefix}/{config.site.id}/lane/{config.site.lane}/record"


def status_topic(config: Config) -> str:
    return f"{config.mqtt.topic_prefix}/{config.site.id}/lane/{config.site.lane}/status"


def alert_topic(config: Config) -> str:
    """Watch-list alerts: published at once (QoS 1, not retained), before the vehicle's record."""
    return f"{config.mqtt.topic_prefix}/{config.site.id}/lane/{config.site.lane}/alert"


def certificate_mismatch(config: Config) -> str | None:
    """Why the client certificate's CN cannot work as this station's broker identity, or None.

    Under the example ACL (docs/mosquitto/) the CN is the MQTT user name and must equal site.id.  The
    broker refuses a mismatched station's records (PUBACK 0x87 under MQTT 5; an MQTT 3.1.1 broker would
    even acknowledge and drop them), so they stay in the outbox: say why, plainly, at start."""
    path = config.mqtt.tls_cert_file
    if not path:
        return None
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        return f"cannot read the client certificate {path}: {exc}"
    names = [str(attr.value) for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if names != [config.site.id]:
        return (
            f"the client certificate {path} has CN {', '.join(names) or '(none)'} but site.id is"
            f" {config.site.id}: a broker with the example ACL will drop every record; install this"
            " station's own certificate"
        )
    return None


class Uplink:
    """Drains the outbox; ``lane_busy`` (the lane's signal) holds a backlog back while a vehicle crosses."""

    def __init__(
        self,
        config: Config,
        store: EvidenceStore,
        health: Callable[[], dict[str, Any]] | None = None,
        lane_busy: LaneBusy | None = None,
    ) -> None:
        self.config = config
        self.mqtt = config.mqtt
        self.store = store
        self.lane_busy = lane_busy
        self.wake = asyncio.Event()
        self.session = MqttSession(
            config,
            "uplink",
            will=aiomqtt.Will(status_topic(config), self._status_payload(False), qos=1, retain=True),
            # The drain's PublishWindow keeps mqtt.max_inflight; paho's own limit (0: none) would also
            # scan every message in flight at each PUBACK (its _update_inflight), O(window) per record.
            max_inflight=0,
        )
        self._outbox_error = ""
        self.published = 0
        self._rng = random.Random()
        self._health = health
        self._next_heartbeat_s = 0.0
        self.heartbeats = 0
        self.identity_problem: str | None = None
        self.hold = ""  # why records wait right now: "", "lane busy" or "broker refused"
        self.lane_holds = 0  # busy periods of the lane in which a backlog waited
        self.held_for_lane_s = 0.0
        self._held_period = 0  # LaneBusy.periods of the last period counted / released
        self._released_period = 0
        self.alerts_sent = 0
        self.alerts_failed = 0  # alerts not delivered at once (offline, refused): the record carries them
        self.refused = 0  # publishes of records the broker refused (a record retried counts again)
        self.last_refusal = ""
        self._refusal_pause_s = 0.0  # grows while refusals go on; 0 after an accepted batch
        self._refused_until_s = 0.0

    @property
    def state(self) -> str:
        """disabled, connecting, connected, disconnected, outbox error or stopped."""
        if not self.mqtt.enabled:
            return "disabled"
        if self._outbox_error and self.session.state != "stopped":
            return "outbox error"
        return self.session.state

    @property
    def connects(self) -> int:
        return self.session.connects

    @property
    def last_error(self) -> str:
        return self._outbox_error or self.session.last_error

    def _status_payload(self, online: bool, with_health: bool = False) -> bytes:
        status: dict[str, Any] = {
            "site_id": self.config.site.id,
            "lane": self.config.site.lane,
            "name": self.config.site.name,
            "online": online,
            "time": time.time(),
        }
        if with_health and self._health is not None:
            status["health"] = self._health()
        return json.dumps(status, ensure_ascii=False, default=str).encode()

    def _advice(self, refusal: PublishRefused) -> str:
        return refusal.advice(f"{self.mqtt.topic_prefix}/{self.config.site.id}/#", _REFUSAL_ADVICE)

    async def _publish_status(self, client: AckedClient, payload: bytes) -> bool:
        """The retained status; a refusal is logged (once per distinct refusal), never fatal."""
        try:
            await client.publish_acked(status_topic(self.config), payload, qos=1, retain=True)
        except PublishRefused as refusal:
            message = (
                f"broker refused the station status on {refusal.topic}: {refusal}; {self._advice(refusal)}"
            )
            if message != self.last_refusal:
                log.error("uplink: %s", message)
            self.last_refusal = message
            return False
        return True

    async def _heartbeat(self, client: AckedClient) -> None:
        """Retained station status with device health, every mqtt.heartbeat_s."""
        now = time.monotonic()
        if now < self._next_heartbeat_s:
            return
        self._next_heartbeat_s = now + self.mqtt.heartbeat_s
        if await self._publish_status(client, self._status_payload(True, with_health=True)):
            self.heartbeats += 1

    async def publish_alert(self, alert: dict[str, Any], timeout_s: float = 5.0) -> bool:
        """Publish ``alert`` now on :func:`alert_topic` over the uplink's connection (QoS 1), ahead of the
        outbox.  False when it could not go out at once (offline, refused, no PUBACK in time): logged and
        counted; the vehicle's record carries the same facts and follows through the outbox."""
        client = self.session.client
        topic = alert_topic(self.config)
        if not self.mqtt.enabled or client is None:
            self.alerts_failed += 1
            log.warning("uplink: alert not sent at once (%s); the record carries it", self.state)
            return False
        payload = json.dumps(alert, ensure_ascii=False).encode()
        try:
            await asyncio.wait_for(client.publish_acked(topic, payload, qos=1), timeout_s)
        except PublishRefused as refusal:
            self.alerts_failed += 1
            log.error("uplink: broker refused the alert on %s: %s; %s", topic, refusal, self._advice(refusal))
            return False
        except (aiomqtt.MqttError, TimeoutError) as exc:
            self.alerts_failed += 1
            log.warning("uplink: alert on %s not acknowledged (%r); the record carries it", topic, exc)
            return False
        self.alerts_sent += 1
        return True

    async def run(self, stop: asyncio.Event) -> None:
        if not self.mqtt.enabled:
            await stop.wait()
            return
        self.identity_problem = certificate_mismatch(self.config)
        if self.identity_problem:
            log.error("uplink: %s", self.identity_problem)
        retry = Backoff(self.mqtt.reconnect_max_s, first_s=0.5, rng=self._rng)
        while not stop.is_set():
            try:
                await self.session.run(stop, lambda client: self._serve(client, stop))
            except EvidenceError as exc:
                # The outbox could not be read or updated (disk full, locked): keep the lane running,
                # retry later; the rows stay unsent and nothing is lost.
                if str(exc) != self._outbox_error:
                    log.error("uplink: %s; retrying", exc)
                self._outbox_error = str(exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=retry.next())

    async def _serve(self, client: AckedClient, stop: asyncio.Event) -> None:
        await self._publish_status(client, self._status_payload(True))
        await self._drain(client, stop)
        self._outbox_error = ""
        if stop.is_set():
            await self._publish_status(client, self._status_payload(False))

    async def _drain(self, client: AckedClient, stop: asyncio.Event) -> None:
        """Publish the outbox in seq order through a sliding window of ``max_inflight`` publishes: a new
        row goes out as soon as a PUBACK frees a slot, rows are read from the store ``max_inflight`` at a
        time while the window is on the wire, and the rows whose PUBACK accepted them are marked sent in
        one transaction (one fsync) while the next are in flight: one mark at a time, of every row settled
        since the last one.  A row is marked sent only after its PUBACK accepts it; a lost connection
        cancels this method (:meth:`AckedClient.until_lost`), and the rows in flight stay unsent.

        Before each read :meth:`_must_hold` decides whether the backlog waits: during the pause after a
        refusal, and, for a full batch (a backlog), while the lane is busy."""
        self._next_heartbeat_s = 0.0
        limit = self.mqtt.max_inflight
        window = client.publish_window(limit)
        accepted: list[int] = []
        refused: list[tuple[int, PublishRefused]] = []
        progress = asyncio.Event()

        def settled(seq: int, refusal: PublishRefused | None) -> None:
            if refusal is None:
                accepted.append(seq)
                self.published += 1
            else:
                refused.append((seq, refusal))
            progress.set()

        window.on_settled = settled
        cursor = 0  # highest seq handed to the broker on this connection
        batch: list[OutboxEntry] = []  # read, not yet handed to the broker
        marking: asyncio.Future[None] | None = None

        async def record_outcomes(wait: bool) -> None:
            # The mark is shielded: a lost connection cancels the drain, never a mark half way; the
            # ``finally`` below waits for it and marks what was accepted since.
            nonlocal marking
            if marking is not None and (wait or marking.done()):
                await asyncio.shield(marking)
                marking = None
            if refused:
                outcome = refused[:]
                refused.clear()
                await self._refused(outcome)
            if accepted and marking is None:
                marking = asyncio.ensure_future(self.store.mark_sent(accepted[:]))
                self._refusal_pause_s = 0.0
                accepted.clear()
                if wait:
                    await asyncio.shield(marking)
                    marking = None

        try:
            while not stop.is_set():
                await self._heartbeat(client)
                await record_outcomes(wait=False)
                if not batch:
                    self.wake.clear()
                    if not self._must_hold(backlog=False):
                        batch = await self.store.pending(limit, after_seq=cursor)
                    if not batch and cursor and not window.in_flight and not self.hold:
                        await record_outcomes(wait=True)
                        cursor = 0  # once more from the oldest: rows left unsent below the cursor
                        batch = await self.store.pending(limit)
                    if not batch:
                        progress.clear()
                        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(self.wake.wait())}
                        if window.in_flight:
                            waiters.add(asyncio.ensure_future(progress.wait()))
                        await self._wait(waiters, self._hold_until() if self.hold else 1.0)
                        continue
                if self._must_hold(backlog=len(batch) >= limit):
                    await record_outcomes(wait=True)
                    await self._hold(stop)
                    continue
                sent = window.send_all([(entry.seq, entry.topic, entry.payload) for entry in batch])
                if sent:
                    cursor = batch[sent - 1].seq
                    batch = batch[sent:]
                if batch:  # the window is full: wait for a PUBACK
                    progress.clear()
                    try:
                        await asyncio.wait_for(progress.wait(), self.mqtt.publish_timeout_s)
                    except TimeoutError:
                        raise aiomqtt.MqttError(
                            f"no PUBACK within mqtt.publish_timeout_s ({self.mqtt.publish_timeout_s} s)"
                        ) from None
            with contextlib.suppress(TimeoutError):  # the last PUBACKs before the goodbye
                await asyncio.wait_for(window.drained(), self.mqtt.publish_timeout_s)
        finally:
            self.hold = ""
            # Rows with an accepting PUBACK are recorded before the connection goes.
            await record_outcomes(wait=True)

    def _hold_until(self) -> float:
        """Seconds until the refusal pause ends (at least 1 ms, at most 1 s)."""
        return min(1.0, max(0.001, self._refused_until_s - time.monotonic()))

    @staticmethod
    async def _wait(waiters: set[asyncio.Future[Any]], timeout_s: float) -> None:
        try:
            await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _must_hold(self, backlog: bool) -> bool:
        """Whether the next batch waits (no new read either during a refusal pause); sets ``hold``."""
        self.hold = ""
        if time.monotonic() < self._refused_until_s:
            self.hold = "broker refused"
        elif backlog and self._lane_holds_backlog():
            self.hold = "lane busy"
        return bool(self.hold)

    def _lane_holds_backlog(self) -> bool:
        """A backlog waits while a vehicle crosses, for at most mqtt.pause_while_weighing_max_s of a busy
        period.  Only full batches wait: the newest few records (the last vehicle's) still go out."""
        busy, limit_s = self.lane_busy, self.mqtt.pause_while_weighing_max_s
        if busy is None or not busy.busy or limit_s <= 0:
            return False
        if busy.busy_for_s() < limit_s:
            if self._held_period != busy.periods:
                self._held_period = busy.periods
                self.lane_holds += 1
            return True
        if self._released_period != busy.periods:
            self._released_period = busy.periods
            log.warning(
                "uplink: the lane has been busy for %.0f s (a vehicle still on the scale, or a sensor stuck on"
                " 'vehicle present'); the backlog drains anyway (mqtt.pause_while_weighing_max_s)",
                busy.busy_for_s(),
            )
        return False

    async def _hold(self, stop: asyncio.Event) -> None:
        """Wait until the hold may be over: the refusal pause ends, the lane goes idle or its busy period
        reaches the limit, or a heartbeat is due (heartbeats never wait)."""
        now = time.monotonic()
        until = self._next_heartbeat_s
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
        if self.hold == "broker refused":
            until = min(until, self._refused_until_s)
        elif self.lane_busy is not None:
            until = min(until, now + self.mqtt.pause_while_weighing_max_s - self.lane_busy.busy_for_s())
            waiters.append(asyncio.ensure_future(self.lane_busy.wait_idle()))
        try:
            await asyncio.wait(waiters, timeout=max(until - now, 0.001), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if self.hold == "lane busy":
            self.held_for_lane_s += time.monotonic() - now

    async def _refused(self, refused: list[tuple[int, PublishRefused]]) -> None:
        """The broker refused these records: they stay unsent; say what to do, and pause before retrying."""
        by_reason: dict[str, list[int]] = {}
        for seq, refusal in refused:
            by_reason.setdefault(f"refused by the broker: {refusal}", []).append(seq)
        for error, seqs in by_reason.items():
            await self.store.mark_failed(seqs, error)
        self.refused += len(refused)
        self._refusal_pause_s = min(max(1.0, self._refusal_pause_s * 2), self.mqtt.refused_retry_max_s)
        delay = self._refusal_pause_s * (0.5 + self._rng.random())  # stations refused together spread out
        self._refused_until_s = time.monotonic() + delay
        seqs = [seq for seq, _ in refused]
        first = refused[0][1]
        which = (
            f"record seq {seqs[0]}" if len(seqs) == 1 else f"{len(seqs)} records (seq {seqs[0]}-{seqs[-1]})"
        )
        self.last_refusal = f"broker refused {which} on topic {first.topic}: {first}; {self._advice(first)}"
        log.error("uplink: %s; they stay in the outbox, next try in %.0f s", self.last_refusal, delay)

    def health(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "broker": f"{self.mqtt.host}:{self.mqtt.port}",
            "last_error": self.last_error,
            "published": self.published,
            "connects": self.connects,
            "heartbeats": self.heartbeats,
            "identity_problem": self.identity_problem,
            "hold": self.hold,
            "lane_holds": self.lane_holds,
            "held_for_lane_s": round(self.held_for_lane_s, 1),
            "refused": self.refused,
            "last_refusal": self.last_refusal,
            "alerts_sent": self.alerts_sent,
            "alerts_failed": self.alerts_failed,
        }
