"""The uplink with a real Mosquitto: MQTT 5 PUBACK reason codes.

Each test has its own broker on a free port, its own SQLite outbox and its own site id; a QoS 1
subscriber counts what reaches the broker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import aiomqtt
import pytest

from edge.demo import MosquittoProcess
from edge.uplink.acks import AckedClient, PublishRefused
from tests.conftest import IN_CI

pytestmark = pytest.mark.broker


# -- MQTT 5 PUBACK reason codes ----------------------------------------------------------------------


@contextlib.contextmanager
def _broker_with_acl(acl: str) -> Iterator[MosquittoProcess]:
    broker = MosquittoProcess(acl=acl)
    if not broker.available:
        message = "mosquitto is not installed (scripts/install-system.sh installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    broker.start()
    try:
        yield broker
    finally:
        broker.cleanup()


@pytest.fixture
def acl_broker() -> Iterator[MosquittoProcess]:
    """A Mosquitto whose ACL lets anonymous clients read site/# and write only the status topics."""
    with _broker_with_acl("topic read site/#\ntopic write site/+/lane/+/status\n") as broker:
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
