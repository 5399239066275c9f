"""The uplink with a real Mosquitto: pacing while a vehicle is on the scale, and MQTT 5 PUBACK refusals.

Each test has its own broker on a free port, its own SQLite outbox and its own site id; a QoS 1
subscriber counts what reaches the broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge.config import OFFLINE_DEVICES, Config
from edge.evidence import EvidenceStore
from edge.lane import LaneBusy
from edge.uplink import Uplink, record_topic, status_topic
from edge.uplink.acks import AckedClient, PublishRefused
from tests.support.broker import MosquittoProcess, running_broker

pytestmark = pytest.mark.broker


def _config(database: Path, port: int, site_id: str, **mqtt: Any) -> Config:
    return Config.model_validate(
        {
            "site": {"id": site_id, "lane": 1},
            "devices": OFFLINE_DEVICES,
            "evidence": {"database": str(database)},
            "mqtt": {"port": port, "reconnect_max_s": 1, "heartbeat_s": 3600, **mqtt},
        }
    )


async def _outbox(config: Config, count: int) -> EvidenceStore:
    store = EvidenceStore(config.evidence.database)
    await store.open()
    for number in range(1, count + 1):
        record = {
            "id": f"{config.site.id}-{number}",
            "site_id": config.site.id,
            "lane": 1,
            "time_utc": "2026-12-02T08:00:00.000Z",
            "verdict": "pass",
            "axle_count": 2,
            "plate": None,
            "attachments": [],
        }
        await store.add(record, record_topic(config))
    return store


def _unsent(config: Config) -> list[tuple[int, int, str | None]]:
    """(seq, attempts, last_error) of every unsent outbox row, read beside the store as a tool would."""
    with contextlib.closing(sqlite3.connect(config.evidence.database)) as conn:
        rows = conn.execute(
            "SELECT seq, attempts, last_error FROM outbox WHERE sent_utc IS NULL ORDER BY seq"
        )
        return [(int(seq), int(attempts), error) for seq, attempts, error in rows]


class Central:
    """A QoS 1 subscriber on the station's record topic: what really reached the broker."""

    def __init__(self) -> None:
        self.records: list[bytes] = []


@contextlib.asynccontextmanager
async def _central(port: int, topic: str) -> AsyncIterator[Central]:
    central = Central()
    ready = asyncio.Event()

    async def listen() -> None:
        async with aiomqtt.Client("127.0.0.1", port, identifier=f"central-{time.monotonic_ns()}") as client:
            await client.subscribe(topic, qos=1)
            ready.set()
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                central.records.append(message.payload)

    task = asyncio.create_task(listen(), name="central")
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield central
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def _running(uplink: Uplink) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop), name="uplink")
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s} s")
        await asyncio.sleep(0.01)


# -- pacing while a vehicle is on the scale ----------------------------------------------------------


async def test_a_backlog_waits_while_the_lane_is_busy_and_drains_after(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    total = 400
    config = _config(tmp_path / "e.db", mosquitto.port, "pace-1", max_inflight=4, heartbeat_s=0.3)
    store = await _outbox(config, total)
    busy = LaneBusy()
    busy.set(True)  # a vehicle is on the scale when the uplink connects
    uplink = Uplink(config, store, lane_busy=busy)
    try:
        async with _central(mosquitto.port, record_topic(config)) as central, _running(uplink):
            await _until(lambda: uplink.heartbeats >= 1, 10, "the first heartbeat")
            heartbeats = uplink.heartbeats
            await asyncio.sleep(1.5)
            assert uplink.published == 0 and central.records == []
            assert len(_unsent(config)) == total
            assert uplink.health()["hold"] == "lane busy"
            assert uplink.heartbeats >= heartbeats + 3, "heartbeats go on while the backlog waits"

            busy.set(False)  # the verdict is on the board
            await _until(lambda: uplink.published >= 40, 10, "the drain after the verdict")
            busy.set(True)  # the next vehicle, mid-drain
            await asyncio.sleep(0.3)  # the batch already on the wire completes
            held_at = uplink.published
            await asyncio.sleep(1.5)
            assert uplink.published == held_at < total, "no new batch starts while the lane is busy"

            busy.set(False)
            await _until(lambda: len(central.records) == total, 30, "the whole backlog at the broker")
            await _until(lambda: not _unsent(config), 10, "every row marked sent")
    finally:
        await store.close()
    health = uplink.health()
    assert health["lane_holds"] == 2 and health["held_for_lane_s"] >= 3.0
    assert health["published"] == total and health["refused"] == 0


async def test_the_newest_records_go_out_while_the_lane_is_busy(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    """Fewer rows than a batch are the live case (the last vehicle's record), not a backlog."""
    config = _config(tmp_path / "e.db", mosquitto.port, "pace-2", max_inflight=64)
    store = await _outbox(config, 3)
    busy = LaneBusy()
    busy.set(True)
    uplink = Uplink(config, store, lane_busy=busy)
    try:
        async with _central(mosquitto.port, record_topic(config)) as central, _running(uplink):
            await _until(lambda: len(central.records) == 3, 10, "the three records at the broker")
    finally:
        await store.close()
    assert busy.busy and uplink.lane_holds == 0


async def test_a_lane_busy_for_too_long_no_longer_holds_the_backlog(
    tmp_path: Path, mosquitto: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    total = 200
    config = _config(
        tmp_path / "e.db", mosquitto.port, "pace-3", max_inflight=4, pause_while_weighing_max_s=1.5
    )
    store = await _outbox(config, total)
    busy = LaneBusy()
    busy.set(True)  # and never cleared: a curtain stuck on "vehicle present"
    uplink = Uplink(config, store, lane_busy=busy)
    try:
        async with _central(mosquitto.port, record_topic(config)) as central, _running(uplink):
            await _until(lambda: uplink.state == "connected", 10, "the connection")
            await asyncio.sleep(0.8)
            assert uplink.published == 0, "held while the busy period is shorter than the limit"
            await _until(
                lambda: len(central.records) == total, 30, "the backlog drained despite the busy lane"
            )
            await _until(lambda: not _unsent(config), 10, "every row marked sent")
    finally:
        await store.close()
    assert busy.busy and busy.busy_for_s() >= 1.5
    assert uplink.lane_holds == 1
    assert "the backlog drains anyway (mqtt.pause_while_weighing_max_s)" in caplog.text


def test_pause_while_weighing_has_a_default_and_limits() -> None:
    base = {"site": {"id": "x", "lane": 1}, "devices": OFFLINE_DEVICES}
    assert Config.model_validate(base).mqtt.pause_while_weighing_max_s == 30
    assert (
        Config.model_validate(
            {**base, "mqtt": {"pause_while_weighing_max_s": 0}}
        ).mqtt.pause_while_weighing_max_s
        == 0
    )
    with pytest.raises(ValueError, match="pause_while_weighing_max_s"):
        Config.model_validate({**base, "mqtt": {"pause_while_weighing_max_s": -1}})


# -- MQTT 5 PUBACK reason codes ----------------------------------------------------------------------


@pytest.fixture
def acl_broker() -> Iterator[MosquittoProcess]:
    """A Mosquitto whose ACL lets anonymous clients read site/# and write only the status topics."""
    with running_broker("topic read site/#\ntopic write site/+/lane/+/status\n") as broker:
        yield broker


async def test_acked_client_tells_a_refused_publish_from_an_accepted_one(
    acl_broker: MosquittoProcess,
) -> None:
    """The lowest level: Mosquitto answers an ACL-denied QoS 1 publish with PUBACK 0x87 under MQTT 5."""
    async with AckedClient(
        "127.0.0.1", acl_broker.port, protocol=aiomqtt.ProtocolVersion.V5, timeout=5
    ) as client:
        # Accepted, with reason code 0x10 "No matching subscribers": a success code (< 0x80).
        await client.publish_acked("site/a/lane/1/status", b"ok", qos=1)
        with pytest.raises(PublishRefused) as refused:
            await client.publish_acked("site/a/lane/1/record", b"denied", qos=1)
        await client.publish_acked("site/a/lane/1/status", b"ok again", qos=1)  # the connection is fine
        results = await asyncio.gather(
            *(
                client.publish_acked(f"site/a/lane/1/{leaf}", b"x", qos=1)
                for leaf in ("status", "record") * 8
            ),
            return_exceptions=True,
        )
    assert refused.value.code == 0x87 and refused.value.reason == "Not authorized"
    assert refused.value.topic == "site/a/lane/1/record"
    assert str(refused.value) == "Not authorized (0x87)"
    # Pipelined publishes each get their own PUBACK's verdict.
    assert [type(result).__name__ for result in results] == ["NoneType", "PublishRefused"] * 8


async def test_records_the_broker_refuses_stay_in_the_outbox_until_the_acl_is_fixed(
    tmp_path: Path, acl_broker: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(tmp_path / "e.db", acl_broker.port, "acl-1", refused_retry_max_s=1)
    store = await _outbox(config, 3)
    uplink = Uplink(config, store)
    try:
        async with _central(acl_broker.port, record_topic(config)) as central, _running(uplink):
            await _until(lambda: uplink.refused >= 3, 10, "the first refusal")
            await asyncio.sleep(3.0)
            rows = _unsent(config)
            assert central.records == [] and uplink.published == 0
            assert [seq for seq, _, _ in rows] == [1, 2, 3], "refused rows stay unsent"
            # Backed off: a few retries in 3 s (each pause 0.5-1.5 s), not a retry storm.
            assert all(2 <= attempts <= 8 for _, attempts, _ in rows), rows
            assert all(error == "refused by the broker: Not authorized (0x87)" for _, _, error in rows)
            health = uplink.health()
            assert health["refused"] >= 6 and "Not authorized (0x87)" in health["last_refusal"]
            assert uplink.heartbeats == 1 and uplink.connects == 1, "status allowed, connection kept"

            acl_broker.write_acl("topic read site/#\ntopic write site/+/lane/+/#\n")
            acl_broker.reload()
            await _until(lambda: len(central.records) == 3, 10, "the records after the ACL was fixed")
            await _until(lambda: not _unsent(config), 10, "every row marked sent")
    finally:
        await store.close()
    # One line per batch of refusals, each naming its records and what to do.  The three records usually
    # go out in one batch, but on a loaded machine the first refusal can come back before the third
    # record is sent ("2 records (seq 1-2)", then "record seq 3"): together the lines must name all three.
    advice = (
        " on topic site/acl-1/lane/1/record: Not authorized (0x87); check the broker ACL: this station (its"
        " certificate CN or user name) must be allowed to publish to site/acl-1/#; they stay in the outbox,"
        " next try in"
    )
    named: set[int] = set()
    for record in caplog.records:
        text = record.getMessage()
        which = re.match(
            r"uplink: broker refused (?:\d+ records \(seq (\d+)-(\d+)\)|record seq (\d+))(.*)", text
        )
        if record.levelno == logging.ERROR and which and which.group(4).startswith(advice):
            first, last = (which.group(3),) * 2 if which.group(3) else (which.group(1), which.group(2))
            named.update(range(int(first), int(last) + 1))
    assert {1, 2, 3} <= named, caplog.text


async def test_a_refused_status_is_logged_and_the_records_still_go_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Only the records are evidence: a refused heartbeat is reported, never stops the drain."""
    with running_broker("topic read site/#\ntopic write site/+/lane/+/record\n") as broker:
        config = _config(tmp_path / "e.db", broker.port, "acl-2")
        store = await _outbox(config, 5)
        uplink = Uplink(config, store)
        try:
            async with _central(broker.port, record_topic(config)) as central, _running(uplink):
                await _until(lambda: len(central.records) == 5, 10, "the records")
        finally:
            await store.close()
    assert uplink.heartbeats == 0 and uplink.published == 5 and uplink.refused == 0
    assert (
        f"broker refused the station status on {status_topic(config)}: Not authorized (0x87)" in caplog.text
    )


def test_refusal_advice_by_reason_code() -> None:
    denied = PublishRefused("wl/site/S1/record", 0x87, "Not authorized")
    assert str(denied) == "Not authorized (0x87)"
    assert denied.advice("wl/S1/#") == (
        "check the broker ACL: this station (its certificate CN or user name) must be allowed to publish"
        " to wl/S1/#"
    )
    quota = PublishRefused("wl/S1/record", 0x97, "Quota exceeded", "slow down")
    assert str(quota) == "Quota exceeded (0x97); broker says: slow down"
    assert quota.advice("wl/S1/#") == "see the broker's log for why"
    assert quota.advice("wl/S1/#", {0x97: "wait"}) == "wait"  # a service's own advice comes first
    assert denied.advice("wl/S1/#", {0x97: "wait"}).startswith("check the broker ACL")
