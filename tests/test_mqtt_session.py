"""The one MQTT session module (edge/uplink/session.py, edge/uplink/acks.py) against a real Mosquitto:
aiomqtt's private parts it relies on, a dead broker noticed at once, one log line per fault."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
import pytest

from edge.config import OFFLINE_DEVICES, Config
from edge.downlink import DownlinkService
from edge.evidence import EvidenceStore
from edge.query import QueryService
from edge.uplink import Uplink, record_topic
from edge.uplink.acks import AckedClient, PublishRefused
from edge.uplink.session import Backoff
from tests.support.broker import MosquittoProcess, running_broker

pytestmark = pytest.mark.broker


def _config(database: Path, port: int, site_id: str, **mqtt: Any) -> Config:
    return Config.model_validate(
        {
            "site": {"id": site_id, "lane": 1},
            "devices": OFFLINE_DEVICES,
            "evidence": {"database": str(database)},
            "mqtt": {"port": port, "heartbeat_s": 3600, **mqtt},
        }
    )


async def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{what} did not happen within {timeout_s} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


@contextlib.asynccontextmanager
async def _running(*services: Any) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(service.run(stop)) for service in services]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)


# -- aiomqtt's private parts --------------------------------------------------------------------------


async def test_the_aiomqtt_internals_the_session_relies_on_are_still_there() -> None:
    """edge/uplink/acks.py overrides or reads these; an aiomqtt that renames or reshapes them must fail
    here, not let a refused record pass for sent or a dead broker go unnoticed."""
    assert list(inspect.signature(aiomqtt.Client._pending_call).parameters) == [
        "self",
        "mid",
        "value",
        "pending_dict",
    ]
    assert list(inspect.signature(aiomqtt.Client._on_publish).parameters) == [
        "self",
        "client",
        "userdata",
        "mid",
        "reason_code",
        "properties",
    ]
    client = aiomqtt.Client("127.0.0.1", 1883)
    assert isinstance(client._pending_publishes, dict)
    assert isinstance(client._disconnected, asyncio.Future)
    assert isinstance(client._client, paho.Client)
    assert client._client.on_publish == client._on_publish


async def test_a_publish_window_settles_each_message_by_its_own_puback() -> None:
    """Through the window (no task per message): accepted and refused PUBACKs, interleaved."""
    with running_broker("topic read site/#\ntopic write site/+/lane/+/status\n") as broker:
        async with AckedClient(
            "127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5, max_inflight_messages=8
        ) as client:
            window = client.publish_window(8)
            settled: list[tuple[int, PublishRefused | None]] = []
            window.on_settled = lambda key, refusal: settled.append((key, refusal))
            messages = [(n, f"site/a/lane/1/{('status', 'record')[n % 2]}", b"x") for n in range(20)]
            while messages:
                sent = window.send_all(messages)
                assert sent <= 8
                messages = messages[sent:]
                await asyncio.sleep(0.01)
            await asyncio.wait_for(window.drained(), 10)
    assert sorted(key for key, _ in settled) == list(range(20))
    for key, refusal in settled:
        if key % 2:
            assert refusal is not None and refusal.code == 0x87 and refusal.topic == "site/a/lane/1/record"
        else:
            assert refusal is None


def test_backoff_grows_with_jitter_up_to_its_limit() -> None:
    backoff = Backoff(max_s=2.0, first_s=0.1)
    pauses = [backoff.next() for _ in range(20)]
    assert 0.05 <= pauses[0] <= 0.15
    assert all(pause <= 3.0 for pause in pauses) and max(pauses[-5:]) >= 1.0
    assert len(set(pauses)) == len(pauses), "jittered"
    backoff.reset()
    assert backoff.next() <= 0.15


# -- faults -------------------------------------------------------------------------------------------


@pytest.fixture
def broker() -> Iterator[MosquittoProcess]:
    with running_broker() as broker:
        yield broker


async def test_an_idle_uplink_notices_a_dead_broker_at_once_and_is_back_soon_after_it(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    """Before the session module an idle uplink saw a dead broker only at its next publish, and one
    with a record in flight after mqtt.publish_timeout_s (10 s)."""
    config = _config(tmp_path / "e.db", broker.port, "fault-1", reconnect_max_s=10)
    store = EvidenceStore(config.evidence.database)
    await store.open()
    uplink = Uplink(config, store)
    try:
        async with _running(uplink):
            await _until(lambda: uplink.state == "connected", 10, "the connection")
            broker.kill()
            noticed = await _until(lambda: uplink.state != "connected", 5, "noticing the dead broker")
            assert noticed < config.mqtt.publish_timeout_s / 2
            await asyncio.sleep(3.0)  # the back-off grows while the broker is down
            await asyncio.to_thread(broker.start)
            await _until(lambda: uplink.connects == 2, 10, "the reconnection")
            record = {"id": "r1", "site_id": "fault-1", "lane": 1, "time_utc": "2026-12-03T07:00:00.000Z"}
            await store.add({**record, "verdict": "pass", "attachments": []}, record_topic(config))
            uplink.wake.set()
            await _until(lambda: uplink.published == 1, 10, "the record after the reconnection")
    finally:
        await store.close()


async def test_one_log_line_per_fault_and_no_unretrieved_future(
    tmp_path: Path, broker: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """The uplink, query and downlink sessions of one station share one line per fault (each of the three
    connections used to log it, and paho once more each at ERROR); the lost connections' futures are
    retrieved (asyncio printed "Future exception was never retrieved" for the uplink's at exit)."""
    caplog.set_level(logging.DEBUG)
    config = _config(tmp_path / "e.db", broker.port, "fault-2", reconnect_max_s=1)
    store = EvidenceStore(config.evidence.database)
    await store.open()
    try:
        await _restart_twice(
            [Uplink(config, store), QueryService(config), DownlinkService(config)], broker, caplog
        )
    finally:
        await store.close()
    caplog.clear()
    gc.collect()  # the clients and their futures go now
    await asyncio.sleep(0)
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


async def _restart_twice(
    services: list[Any], broker: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    async with _running(*services):
        await _until(lambda: all(s.state == "connected" for s in services), 10, "three connections")
        for restart in range(2):
            connects = [s.session.connects for s in services]
            caplog.clear()
            broker.kill()
            await _until(lambda: all(s.state != "connected" for s in services), 5, "noticing")
            await asyncio.sleep(1.5)  # several failed reconnects each
            await asyncio.to_thread(broker.start)
            await _until(
                lambda before=connects: all(
                    s.session.connects > n for s, n in zip(services, before, strict=True)
                ),
                10,
                f"all three back after restart {restart}",
            )
            loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert [r.getMessage().split(" (")[0] for r in loud] == [
                f"mqtt: broker 127.0.0.1:{broker.port} unavailable"
            ], [r.getMessage() for r in loud]
            assert any("reachable again" in r.getMessage() for r in caplog.records)


async def test_a_write_watch_on_a_closed_socket_is_debug_other_callback_errors_stay_loud(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What aiomqtt does when the broker drops the connection just before the loop runs its scheduled
    ``add_writer``: a real closed socket's descriptor, as in the clean-clone CI failure at 1761d1f."""
    import socket

    from edge.uplink.session import _quiet_closed_socket_writes

    loop = asyncio.get_running_loop()
    before = loop.get_exception_handler()
    try:
        _quiet_closed_socket_writes(loop)
        _quiet_closed_socket_writes(loop)  # once per loop, however many sessions
        caplog.set_level(logging.DEBUG)
        sock = socket.socket()
        fileno = sock.fileno()
        sock.close()
        loop.call_soon(loop.add_writer, fileno, lambda: None)
        await asyncio.sleep(0.05)
        loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert loud == []
        assert any("was not watched for writing" in r.getMessage() for r in caplog.records)

        def broken() -> None:
            raise ValueError("a real bug in a callback")

        loop.call_soon(broken)
        await asyncio.sleep(0.05)
        loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(loud) == 1 and "broken" in loud[0].getMessage()
    finally:
        loop.set_exception_handler(before)
