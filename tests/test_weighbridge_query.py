"""A static weighbridge's records go to central and answer its queries as a lane's do: a real Mosquitto,
the simulator's devices on ptys, the daemon's own uplink and query service, asked with edge.query.client
(the protocol tests/test_central_query.py tests with stored lane records)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge.evidence import verify_payload
from edge.evidence.store import read_stored_record
from edge.query.client import Broker, ask
from edge.uplink import record_topic
from tests.support.broker import MosquittoProcess
from tests.support.weighbridge import bridge_fixture  # noqa: F401  (the make_bridge fixture)

pytestmark = pytest.mark.timeout(120)

SITE = "test-weighbridge"  # tests/support/weighbridge.py
PLATE = "晋A12345"


async def _collect(port: int, topic: str, sink: list[dict[str, Any]], ready: asyncio.Event) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier="test-wb-central") as client:
        await client.subscribe(topic, qos=1)
        ready.set()
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            sink.append(json.loads(message.payload))


async def _until(predicate: Any, what: str, timeout_s: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.05)


async def test_weighbridge_records_are_uploaded_and_answer_central_queries(
    make_bridge: Any, mosquitto: MosquittoProcess
) -> None:
    rig = make_bridge(mqtt_port=mosquitto.port)
    received: list[dict[str, Any]] = []
    ready = asyncio.Event()
    subscriber = asyncio.create_task(_collect(mosquitto.port, record_topic(rig.config()), received, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await rig.start()
        assert rig.daemon is not None
        await _until(lambda: rig.daemon.query.state == "connected", "the query service connects")
        # An overloaded truck, then the same visit after unloading: two linked records.
        await rig.do("drive_on", PLATE, 56_000.0)  # 6 axles: 49 t
        await rig.board("超载")
        await rig.do("back_off")
        await asyncio.sleep(2.5)
        await rig.do("drive_on", PLATE, 48_600.0)
        await rig.board("请通行")
        first, second = await rig.wait_records(2)
        await _until(lambda: len(received) >= 2, f"the broker got {len(received)} of 2 records")
    finally:
        subscriber.cancel()

    # Uploaded: each record once, signed with the station's key, its static part as stored.
    assert [m["id"] for m in received] == [first.id, second.id]
    public_key = Path(rig.database + ".ed25519.pub").read_bytes()
    for message in received:
        assert verify_payload(json.dumps(message, ensure_ascii=False).encode(), public_key).ok
    assert received[1]["static"]["previous_record_id"] == first.id

    broker = Broker(port=mosquitto.port)
    # Searched by plate and by verdict, with the summary columns a lane record has.
    rows = (await ask(broker, {"method": "records", "plate": PLATE}, site_id=SITE, timeout_s=15)).result[
        "records"
    ]
    assert [r["id"] for r in rows] == [first.id, second.id]
    assert [r["verdict"] for r in rows] == ["overweight", "pass"]
    assert [r["axle_count"] for r in rows] == [6, 6] and [r["limit_kg"] for r in rows] == [49_000, 49_000]
    assert rows[0]["gross_kg"] == pytest.approx(56_000, abs=40)
    assert rows[1]["gross_kg"] == pytest.approx(48_600, abs=40)
    overweight = await ask(broker, {"method": "records", "verdict": "overweight"}, site_id=SITE)
    assert [r["id"] for r in overweight.result["records"]] == [first.id]

    # One record with its images: the signed text, its chain entry, and files that match its listing.
    answer = await ask(broker, {"method": "record", "id": second.id}, site_id=SITE, timeout_s=15)
    assert answer.ok, answer.envelope
    stored = read_stored_record(rig.database, second.id)
    assert stored is not None and stored.chain is not None
    assert answer.result["record_text"] == stored.record_text
    assert answer.result["chain"]["chain_hash"] == stored.chain.chain_hash
    record = json.loads(answer.result["record_text"])
    static = record["static"]
    assert static["visit_id"] == first.static.visit_id and static["previous_record_id"] == first.id
    assert static["attempt"] == 2 and static["enterprise_id"] == "91140100MA0XXXXX1Q"
    assert static["enterprise_name"] == "示范砂石场" and static["cargo"] == "砂石"
    assert answer.result["attachments_missing"] == []
    listed = {a["name"]: a["sha256"] for a in record["attachments"]}
    assert set(answer.files) == {"attachments/entry.jpg", "attachments/exit.jpg"}
    for name, data in answer.files.items():
        assert data and hashlib.sha256(data).hexdigest() == listed[name.removeprefix("attachments/")]

    status = await ask(broker, {"method": "status"}, site_id=SITE)
    assert status.result["evidence"]["last_seq"] == 2
    assert status.result["health"]["vehicles"] == 2  # the weighbridge site's own health, as the daemon has it
