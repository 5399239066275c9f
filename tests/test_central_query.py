"""Central queries (MQTT 5 request/response) against a real Mosquitto and a real evidence database."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from click.testing import CliRunner
from paho.mqtt.packettypes import PacketTypes

from edge.calibration import Calibration, PlatformCheck, save_calibration
from edge.cli import main
from edge.config import OFFLINE_DEVICES, Config
from edge.evidence import EvidenceStore
from edge.evidence.store import read_stored_record
from edge.query import QueryService, request_topic
from edge.query.client import Broker, QueryTimeout, ask
from edge.query.protocol import mqtt_properties
from edge.query.service import MAX_WAITING
from firmware_sim.scenario import Scenario
from tests.support.broker import MosquittoProcess, running_broker

SITE = "q-site"
TOPIC = f"site/{SITE}/lane/1/record"
VERDICTS = ("pass", "overweight", "reweigh")


def _record(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"rec-{i:02d}",
        "site_id": SITE,
        "lane": 1,
        "time_utc": f"2026-11-22T08:{i:02d}:00.000Z",
        "verdict": VERDICTS[i % 3],
        "axle_count": 2,
        "wim": {"gross_kg": 15000.0 + i},
        "limit": {"limit_kg": 18000},
        "plate": "冀A12345" if i % 4 == 0 else f"晋B{i:05d}",
        "attachments": [],
        **extra,
    }


def _attachment(name: str, data: bytes) -> dict[str, Any]:
    return {
        "name": name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "media_type": "image/jpeg",
    }


def _config(tmp_path: Path, port: int, **query: Any) -> Config:
    return Config.model_validate(
        {
            "site": {"id": SITE, "lane": 1},
            "devices": OFFLINE_DEVICES,
            "evidence": {"database": str(tmp_path / "evidence.db")},
            "wim": {"capture_dir": str(tmp_path / "captures")},
            "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_max_s": 1},
            "query": {"max_packet_bytes": 16384, **query},
        }
    )


@dataclass
class Station:
    service: QueryService
    broker: Broker
    images: dict[str, bytes]
    capture: bytes
    tmp_path: Path
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def ask(self, request: dict[str, Any] | bytes, **options: Any) -> Any:
        return await ask(
            self.broker, request, site_id=SITE, timeout_s=options.pop("timeout_s", 15), **options
        )


async def _fill(tmp_path: Path, images: dict[str, bytes]) -> None:
    store = EvidenceStore(tmp_path / "evidence.db")
    await store.open()
    try:
        for i in range(12):
            extra: dict[str, Any] = {}
            if i == 3:  # two images and one listed but never written
                extra["attachments"] = [_attachment(n, d) for n, d in images.items()] + [
                    _attachment("lost.jpg", b"gone")
                ]
            if i == 5:  # an image edited after the record was signed
                extra["attachments"] = [_attachment("edited.jpg", b"original")]
            await store.add(_record(i, **extra), TOPIC)
    finally:
        await store.close()
    folder = tmp_path / "attachments" / "rec-03"
    folder.mkdir(parents=True)
    for name, data in images.items():
        (folder / name).write_bytes(data)
    (tmp_path / "attachments" / "rec-05").mkdir()
    (tmp_path / "attachments" / "rec-05" / "edited.jpg").write_bytes(b"retouched")


async def _start(service: QueryService) -> tuple[asyncio.Task[None], asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop), name="query")
    for _ in range(200):
        if service.state == "connected":
            break
        assert not task.done(), task
        await asyncio.sleep(0.05)
    assert service.state == "connected", service.last_error
    return task, stop


@pytest.fixture
async def station(tmp_path: Path, mosquitto: MosquittoProcess) -> AsyncIterator[Station]:
    images = {"plate.jpg": os.urandom(100_000), "side.jpg": os.urandom(3_000)}
    await _fill(tmp_path, images)
    capture = os.urandom(300_000)
    (tmp_path / "captures" / "20261122").mkdir(parents=True)
    (tmp_path / "captures" / "20261122" / "080300-4-rec-03.wlcap").write_bytes(capture)
    save_calibration(tmp_path / "evidence.db", _calibration("CAL-20261101-090000", "2026-11-01T09:00:00Z"))
    save_calibration(tmp_path / "evidence.db", _calibration("CAL-20261120-090000", "2026-11-20T09:00:00Z"))
    service = QueryService(_config(tmp_path, mosquitto.port), health=lambda: {"devices": {"wim": "up"}})
    task, stop = await _start(service)
    yield Station(service, Broker(port=mosquitto.port), images, capture, tmp_path, stop, task)
    stop.set()
    await asyncio.wait_for(task, 10)


def _calibration(calibration_id: str, created_utc: str) -> Calibration:
    return Calibration(
        calibration_id=calibration_id,
        created_utc=created_utc,
        technician="李师傅",
        reference="CERT-1",
        method="platform",
        zero_counts=(0.0,) * 12,
        kg_per_count=(0.02,) * 12,
        test_weights_kg=(10000.0,) * 3,
        checks=tuple(PlatformCheck(p, 10000.0, 1.0, 0.5, 0.5, 10001.0, 1.0, 0.01, True) for p in range(3)),
        valid_until_utc="2027-11-20T09:00:00Z",
    )


# -- methods -------------------------------------------------------------------------------------------


async def test_records_are_paged_by_seq_cursor(station: Station) -> None:
    seen: list[int] = []
    after = 0
    pages = 0
    while True:
        answer = await station.ask({"method": "records", "page_size": 5, "after_seq": after})
        assert answer.ok, answer.envelope
        seen += [row["seq"] for row in answer.result["records"]]
        pages += 1
        after = answer.result["next_after_seq"]
        if after is None:
            break
    assert seen == list(range(1, 13))
    assert pages == 3
    assert answer.envelope["site_id"] == SITE


async def test_records_filtered_by_time_plate_and_verdict(station: Station) -> None:
    window = await station.ask(
        {"method": "records", "from_utc": "2026-11-22T16:02:00+08:00", "to_utc": "2026-11-22T08:06:00Z"}
    )
    assert [row["id"] for row in window.result["records"]] == ["rec-02", "rec-03", "rec-04", "rec-05"]
    plate = await station.ask({"method": "records", "plate": "冀A12345"})
    assert [row["id"] for row in plate.result["records"]] == ["rec-00", "rec-04", "rec-08"]
    both = await station.ask({"method": "records", "plate": "冀A12345", "verdict": "overweight"})
    assert [row["id"] for row in both.result["records"]] == ["rec-04"]
    full = await station.ask({"method": "records", "verdict": "reweigh", "full": True, "page_size": 2})
    rows = full.result["records"]
    assert [row["record"]["id"] for row in rows] == ["rec-02", "rec-05"]
    assert rows[0]["chain"]["key_id"] and full.result["next_after_seq"] == rows[1]["seq"]


async def test_record_with_images_arrives_in_chunks_and_matches_the_signed_hashes(station: Station) -> None:
    answer = await station.ask({"method": "record", "id": "rec-03"})
    assert answer.ok, answer.envelope
    stored = read_stored_record(station.tmp_path / "evidence.db", "rec-03")
    assert stored is not None and stored.chain is not None
    assert answer.result["record_text"] == stored.record_text
    assert answer.result["chain"]["chain_hash"] == stored.chain.chain_hash
    assert answer.files == {f"attachments/{name}": data for name, data in station.images.items()}
    listed = {a["name"]: a["sha256"] for a in json.loads(stored.record_text)["attachments"]}
    for name, data in answer.files.items():
        assert hashlib.sha256(data).hexdigest() == listed[name.split("/", 1)[1]]
    # 100 kB in messages of at most 16 KiB: many chunks, none over the limit
    assert answer.messages >= 100_000 // 16384 + 2
    assert answer.result["attachments_missing"] == ["attachment lost.jpg: file not found on the station"]

    edited = await station.ask({"method": "record", "id": "rec-05"})
    assert edited.files == {}
    assert "differs from the signed record" in edited.result["attachments_missing"][0]
    bare = await station.ask({"method": "record", "id": "rec-03", "attachments": False})
    assert bare.files == {} and bare.messages == 1


async def test_no_response_message_exceeds_the_packet_limit(
    station: Station, mosquitto: MosquittoProcess
) -> None:
    """Watch the response topic with a second client and measure every message."""
    topic = f"site/{SITE}/response/watcher"
    sizes: list[int] = []

    async def watch(ready: asyncio.Event) -> None:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5) as client:
            await client.subscribe(topic, qos=1)
            ready.set()
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                sizes.append(
                    len(message.payload) + len(topic) + 400
                )  # payload + topic + properties (generous)

    ready = asyncio.Event()
    watcher = asyncio.create_task(watch(ready))
    await ready.wait()
    answer = await station.ask({"method": "capture", "record_id": "rec-03"}, response_topic=topic)
    await asyncio.sleep(0.3)
    watcher.cancel()
    assert answer.files == {"capture/080300-4-rec-03.wlcap": station.capture}
    assert len(sizes) == answer.messages > 300_000 // 16384
    assert max(sizes) <= 16384


async def test_capture_status_and_calibrations(station: Station) -> None:
    missing = await station.ask({"method": "capture", "record_id": "rec-07"})
    assert not missing.ok and missing.error == {
        "code": "not_found",
        "message": "no raw capture for record 'rec-07' (never taken, or deleted for space)",
    }
    status = await station.ask({"method": "status"})
    assert status.ok
    assert status.result["health"] == {"devices": {"wim": "up"}}
    assert status.result["evidence"]["last_seq"] == 12
    assert status.result["evidence"]["outbox_pending"] == 12
    assert len(status.result["evidence"]["last_chain_hash"]) == 64
    calibrations = await station.ask({"method": "calibrations"})
    assert calibrations.result["active_id"] == "CAL-20261120-090000"
    assert [c["calibration_id"] for c in calibrations.result["calibrations"]] == [
        "CAL-20261120-090000",
        "CAL-20261101-090000",
    ]
    assert calibrations.result["calibrations"][0]["technician"] == "李师傅"


# -- refusals ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_body", "code", "message_part"),
    [
        (b"{not json", "bad_json", "not JSON"),
        (b"[1, 2]", "bad_request", "JSON object"),
        (b'{"method": "delete_everything"}', "unknown_method", "known methods: records, record"),
        (b'{"method": "records", "page_size": 501}', "bad_request", "exceeds the maximum 500"),
        (b'{"method": "records", "page_size": 0}', "bad_request", "page_size"),
        (
            b'{"method": "records", "after_seq": "3"}',
            "bad_request",
            "after_seq: Input should be a valid integer",
        ),
        (b'{"method": "records", "limit": 3}', "bad_request", "limit: unknown key"),
        (b'{"method": "records", "from_utc": "2026-11-22T08:00:00"}', "bad_request", "timezone"),
        (b'{"method": "record", "id": "../../etc/passwd"}', "bad_request", "id: String should match pattern"),
        (b'{"method": "record", "id": "no-such-record"}', "not_found", "no record with id"),
        (b'{"method": "status", "x": "' + b"y" * 70_000 + b'"}', "too_large", "at most 65536"),
        # Neither may end in an internal error (a UnicodeEncodeError, a RecursionError) and no answer.
        (b'{"method": "\\ud800"}', "bad_request", "method: not valid Unicode text"),
        (b'{"method": "records", "plate": "\\udc80"}', "bad_request", "lone leading surrogate"),
        (b'{"method": "status", "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", "bad_request", "nests too"),
        (b'{"method": "status", "x": ' + b"[" * 60_000 + b"]" * 60_000 + b"}", "too_large", "at most 65536"),
    ],
)
async def test_bad_requests_get_clear_errors(
    station: Station, request_body: bytes, code: str, message_part: str
) -> None:
    answer = await station.ask(request_body)
    assert not answer.ok
    assert answer.error is not None and answer.error["code"] == code
    assert message_part in answer.error["message"]
    assert station.service.errors == 1
    assert (await station.ask({"method": "status"})).ok  # and the service goes on answering


async def test_a_burst_of_requests_gets_an_answer_or_busy_for_each(
    station: Station, mosquitto: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """100 `status` requests at once (the library used to drop a third to half of them silently): each
    gets its own answer, `ok` or the explicit error `busy`; MAX_WAITING of them at least are answered."""
    caplog.set_level(logging.WARNING, logger="edge.query")
    burst = 100
    response_topic = f"site/{SITE}/response/burst"
    envelopes: dict[bytes, dict[str, Any]] = {}
    async with aiomqtt.Client(
        "127.0.0.1", mosquitto.port, identifier="central-burst", protocol=aiomqtt.ProtocolVersion.V5
    ) as client:
        await client.subscribe(response_topic, qos=1)
        requests = []
        for number in range(burst):
            props = mqtt_properties(PacketTypes.PUBLISH)
            props.ResponseTopic = response_topic
            props.CorrelationData = number.to_bytes(2, "big")
            requests.append(
                client.publish(
                    request_topic("site", SITE, 1), b'{"method": "status"}', qos=1, properties=props
                )
            )
        await asyncio.gather(*requests)
        async with asyncio.timeout(30):
            async for message in client.messages:
                assert message.properties is not None and isinstance(message.payload, bytes)
                envelopes[message.properties.CorrelationData] = json.loads(message.payload)
                if len(envelopes) == burst:
                    break
    assert sorted(envelopes) == [number.to_bytes(2, "big") for number in range(burst)]
    ok = [e for e in envelopes.values() if e["ok"]]
    busy = [e for e in envelopes.values() if not e["ok"]]
    assert all(e["error"]["code"] == "busy" and "retry later" in e["error"]["message"] for e in busy)
    assert all(e["method"] == "status" for e in envelopes.values())
    assert len(ok) >= MAX_WAITING, (len(ok), len(busy))
    assert (station.service.answered, station.service.busy) == (len(ok), len(busy))
    busy_lines = [r for r in caplog.records if "busy" in r.getMessage()]
    assert len(busy_lines) == (1 if busy else 0), "one line per burst, not one per request"
    assert (await station.ask({"method": "status"})).ok, "and the queue empties"


async def test_unroutable_requests_are_dropped_and_the_service_keeps_answering(
    station: Station, mosquitto: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge.query")
    # A response topic outside the allowed prefix: the station must not publish there.
    with pytest.raises(QueryTimeout, match="nothing"):
        await station.ask({"method": "status"}, response_topic="site/other-site/response/x", timeout_s=1.5)
    # No response topic at all (an MQTT 3.1.1 client, or a careless one).
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        await client.publish(request_topic("site", SITE, 1), b'{"method": "status"}', qos=1)
    for _ in range(40):
        if station.service.dropped >= 2:
            break
        await asyncio.sleep(0.05)
    assert station.service.dropped == 2
    assert "not under an allowed prefix" in caplog.text and "no MQTT 5 Response Topic" in caplog.text
    assert (await station.ask({"method": "status"})).ok


async def test_a_retained_request_is_not_answered_again_after_a_reconnect(station: Station) -> None:
    first = await station.ask({"method": "status"}, retain=True)  # live delivery: answered once
    assert first.ok
    station.stop.set()
    await asyncio.wait_for(station.task, 10)
    restarted = QueryService(station.service.config)
    task, stop = await _start(restarted)  # subscribing again delivers the retained request
    try:
        for _ in range(40):
            if restarted.dropped:
                break
            await asyncio.sleep(0.05)
        assert restarted.dropped == 1 and restarted.answered == 0
        assert "retained" in restarted.last_error
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_token_is_required_and_never_logged(
    tmp_path: Path, mosquitto: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "tok-5f0a9c1e-very-secret"
    await _fill(tmp_path, {})
    service = QueryService(_config(tmp_path, mosquitto.port, token=secret))
    assert secret not in repr(service.config) and secret not in str(service.config.model_dump())
    task, stop = await _start(service)
    broker = Broker(port=mosquitto.port)
    try:
        none = await ask(broker, {"method": "status"}, site_id=SITE, timeout_s=10)
        wrong = await ask(broker, {"method": "status", "token": "guess"}, site_id=SITE, timeout_s=10)
        assert none.error == wrong.error == {"code": "unauthorised", "message": "missing or wrong token"}
        bad = await ask(
            broker, {"method": "records", "token": secret, "page_size": "x"}, site_id=SITE, timeout_s=10
        )
        assert bad.error is not None and bad.error["code"] == "bad_request"
        assert secret not in json.dumps(bad.envelope)
        good = await ask(broker, {"method": "records", "token": secret}, site_id=SITE, timeout_s=10)
        assert good.ok and good.result["count"] == 12
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert "unauthorised" in caplog.text
    assert secret not in caplog.text


async def test_a_failing_health_callable_gets_an_internal_error_not_a_crash(
    tmp_path: Path, mosquitto: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    await _fill(tmp_path, {})

    def broken_health() -> dict[str, Any]:
        raise RuntimeError("device table locked")

    service = QueryService(_config(tmp_path, mosquitto.port), health=broken_health)
    task, stop = await _start(service)
    broker = Broker(port=mosquitto.port)
    try:
        status = await ask(broker, {"method": "status"}, site_id=SITE, timeout_s=10)
        assert status.error == {
            "code": "internal",
            "message": "internal error (RuntimeError); see the station log",
        }
        assert "device table locked" in caplog.text  # the traceback is in the station's log
        records = await ask(broker, {"method": "records", "page_size": 1}, site_id=SITE, timeout_s=10)
        assert records.ok and records.result["next_after_seq"] == 1
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_an_answer_the_broker_refuses_is_logged_and_counted_and_the_next_request_is_answered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The Response Topic is inside query.response_prefixes, but the broker's ACL does not let the station
    write it: the PUBACK's 0x87 is seen, logged with what to do and counted, and the service goes on."""
    caplog.set_level(logging.INFO, logger="edge.query")
    images = {"plate.jpg": os.urandom(100_000)}  # several chunks: only the first is tried
    await _fill(tmp_path, images)
    denied, allowed = f"site/{SITE}/response/denied/c1", f"site/{SITE}/response/allowed/c1"
    acl = f"topic read site/#\ntopic write site/{SITE}/lane/1/query\ntopic write site/{SITE}/response/allowed/#\n"
    with running_broker(acl) as broker:
        service = QueryService(_config(tmp_path, broker.port))
        task, stop = await _start(service)
        central = Broker(port=broker.port)
        try:
            with pytest.raises(QueryTimeout, match="nothing"):
                await ask(
                    central,
                    {"method": "record", "id": "rec-03"},
                    site_id=SITE,
                    response_topic=denied,
                    timeout_s=2,
                )
            for _ in range(40):
                if service.refused:
                    break
                await asyncio.sleep(0.05)
            assert service.refused == 1 and service.answered == 0
            answer = await ask(
                central,
                {"method": "record", "id": "rec-03"},
                site_id=SITE,
                response_topic=allowed,
                timeout_s=10,
            )
            assert answer.ok and answer.files == {"attachments/plate.jpg": images["plate.jpg"]}
            status = await ask(
                central, {"method": "status"}, site_id=SITE, response_topic=allowed, timeout_s=10
            )
            assert status.result["query"]["refused"] == 1, "the refusal shows in the status answer"
            # central holds the status answer as soon as the broker forwards it; the station counts it
            # only when its own PUBACK comes back, which a busy machine can deliver a moment later
            for _ in range(100):
                if service.answered == 2:
                    break
                await asyncio.sleep(0.05)
            assert service.state == "connected" and not task.done()
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    health = service.health()
    assert (health["refused"], health["answered"], health["errors"], health["dropped"]) == (1, 2, 0, 0)
    assert health["last_error"] == f"answer refused by the broker on {denied}: Not authorized (0x87)"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"query: the broker refused the record answer on {denied}: Not authorized (0x87); the answer is lost"
        " and the asking side times out; check the broker ACL: this station (its certificate CN or user name)"
        f" must be allowed to publish to {denied}; the example ACL (docs/mosquitto/) allows"
        f" site/{SITE}/response/#, and query.response_prefixes should name only topics the ACL lets the"
        " station write"
    ]


# -- the command line -----------------------------------------------------------------------------


async def test_cli_queries_a_station_and_writes_the_files(station: Station, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["central", "query", "--site", SITE, "--port", str(station.broker.port), "--timeout", "15"]

    def run(*args: str) -> Any:
        return runner.invoke(main, [*base, *args])

    page = await asyncio.to_thread(run, "records", "--verdict", "overweight", "--page-size", "2")
    assert page.exit_code == 0, page.output
    body = json.loads(page.output)
    assert [row["id"] for row in body["result"]["records"]] == ["rec-01", "rec-04"]
    assert body["result"]["next_after_seq"] == 5

    out = tmp_path / "out"
    one = await asyncio.to_thread(run, "--out", str(out), "record", "rec-03")
    assert one.exit_code == 0, one.output
    for name, data in station.images.items():
        assert (out / "attachments" / name).read_bytes() == data
    assert sorted(json.loads(one.output)["written"]) == sorted(
        str(out / "attachments" / name) for name in station.images
    )

    error = await asyncio.to_thread(run, "raw", '{"method": "nope"}')
    assert error.exit_code == 1
    assert json.loads(error.output)["error"]["code"] == "unknown_method"
    bad_time = await asyncio.to_thread(run, "records", "--from", "2026-11-22T08:00:00")
    assert bad_time.exit_code == 2 and "no time zone" in bad_time.output


# -- in the daemon --------------------------------------------------------------------------------


async def test_the_lane_daemon_answers_central_queries(
    make_rig: Any, short_scenario: Scenario, mosquitto: MosquittoProcess
) -> None:
    rig = make_rig(short_scenario, mosquitto.port)
    await rig.start()
    for _ in range(100):
        if rig.daemon.query.state == "connected":
            break
        await asyncio.sleep(0.1)
    answer = await ask(
        Broker(port=mosquitto.port), {"method": "status"}, site_id=rig.config.site.id, timeout_s=15
    )
    assert answer.ok, answer.envelope
    health = answer.result["health"]
    assert set(health["devices"]) == {"wim", "separator", "axle_sensor", "display", "barrier"}
    assert health["query"]["state"] == "connected"
    assert health["uplink"]["state"] in ("connected", "connecting")
