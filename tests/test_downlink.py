"""Downlink: versioned retained documents validated, stored atomically, applied and acknowledged."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge.config import OFFLINE_DEVICES, Config
from edge.daemon import LaneDaemon
from edge.downlink import (
    DocumentError,
    DownlinkService,
    DownlinkStore,
    ack_topic,
    apply_config,
    downlink_topic,
    parse_document,
)
from edge.downlink.signing import generate_ed25519, sign_document
from tests.support.broker import MosquittoProcess, running_broker

WATCHLIST = {
    "version": 3,
    "entries": [{"plate": "冀A12345", "reason": "unpaid fine", "until_utc": "2027-01-01T00:00:00Z"}],
}
PERMITS = {
    "version": 7,
    "permits": [
        {
            "permit_id": "JT-2026-0001",
            "plate": "晋B20002",
            "max_gross_kg": 80000,
            "valid_from_utc": "2026-11-01T00:00:00Z",
            "valid_until_utc": "2026-12-31T00:00:00Z",
            "route": "G5 太原-石家庄",
        }
    ],
}


CENTRAL_KEY, CENTRAL_PUBLIC = generate_ed25519()  # the central office's signing key for these tests
TRUSTED = [{"id": "central-test", "scheme": "ed25519", "public_key": CENTRAL_PUBLIC}]


def _config(tmp_path: Path, port: int = 1883, site: str = "s1", **downlink: Any) -> Config:
    return Config.model_validate(
        {
            "site": {"id": site, "lane": 1},
            "devices": OFFLINE_DEVICES,
            "evidence": {"database": str(tmp_path / "evidence.db")},
            "mqtt": {"port": port, "reconnect_max_s": 1},
            "downlink": downlink or {"trusted_keys": TRUSTED},
        }
    )


def _bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _signed(kind: str, value: Any, key: bytes = CENTRAL_KEY, key_id: str = "central-test") -> bytes:
    return sign_document(kind, _bytes(value), key, key_id)


def test_documents_are_validated_strictly() -> None:
    assert parse_document("watchlist", _bytes(WATCHLIST)).version == 3
    assert parse_document("permits", _bytes(PERMITS)).version == 7
    with pytest.raises(DocumentError, match=r"entries\[0\]\.plate.*province"):
        parse_document("watchlist", _bytes({"version": 4, "entries": [{"plate": "XX12345", "reason": "r"}]}))
    with pytest.raises(DocumentError, match="valid_until_utc must be after"):
        bad = json.loads(json.dumps(PERMITS))
        bad["permits"][0]["valid_until_utc"] = "2026-10-01T00:00:00Z"
        parse_document("permits", _bytes(bad))
    with pytest.raises(DocumentError, match="version"):
        parse_document("permits", _bytes({"permits": []}))
    with pytest.raises(DocumentError, match="not valid JSON"):
        parse_document("config", b"{")
    with pytest.raises(DocumentError, match=r"may set only rules\.tolerance_factor"):
        parse_document("config", _bytes({"version": 1, "settings": {"mqtt": {"host": "evil"}}}))
    with pytest.raises(DocumentError, match="'permits' sent on the 'watchlist' topic"):
        parse_document("watchlist", _bytes({**WATCHLIST, "kind": "permits"}))


def test_a_remote_config_is_validated_as_a_whole_configuration(tmp_path: Path) -> None:
    config = _config(tmp_path)
    document = parse_document(
        "config", _bytes({"version": 1, "settings": {"rules": {"tolerance_factor": 1.02}}})
    )
    applied = apply_config(config, document)  # type: ignore[arg-type]
    assert applied.rules.tolerance_factor == 1.02
    assert applied.lane.idle_lines == config.lane.idle_lines, "unset keys keep the file's value"
    too_long = parse_document(
        "config", _bytes({"version": 2, "settings": {"lane": {"idle_lines": ["超" * 30]}}})
    )
    with pytest.raises(DocumentError, match="UTF-8 bytes"):
        apply_config(config, too_long)  # type: ignore[arg-type]


def test_the_store_replaces_atomically_and_only_with_newer_versions(tmp_path: Path) -> None:
    store = DownlinkStore(tmp_path / "evidence.db")
    first = parse_document("watchlist", _bytes(WATCHLIST))
    assert store.replace("watchlist", first) == (True, None)
    same = parse_document("watchlist", _bytes({**WATCHLIST, "entries": []}))
    assert store.replace("watchlist", same) == (False, 3)
    newer = parse_document("watchlist", _bytes({"version": 4, "entries": []}))
    assert store.replace("watchlist", newer) == (True, 3)
    loaded = store.load()
    assert loaded["watchlist"].version == 4
    assert loaded["watchlist"].document.entries == ()


async def test_applied_time_is_utc_in_any_time_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")  # UTC+8 all year: a local stamp would be 8 h off
    time.tzset()
    try:
        service = DownlinkService(_config(tmp_path))
        ack = await service.handle("watchlist", _signed("watchlist", WATCHLIST))
        assert ack["status"] == "applied"
        stamp = service._applied["watchlist"].applied_utc  # the in-memory record of the applied document
    finally:
        monkeypatch.undo()
        time.tzset()
    applied = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - applied).total_seconds()) < 60


async def test_the_daemon_judges_with_an_applied_remote_config(tmp_path: Path) -> None:
    daemon = LaneDaemon(_config(tmp_path))
    ack = await daemon.downlink.handle(
        "config",
        _signed(
            "config",
            {
                "version": 5,
                "settings": {"rules": {"tolerance_factor": 1.0}, "lane": {"idle_lines": ["请慢行"]}},
            },
        ),
    )
    assert ack["status"] == "applied" and ack["applied_version"] == 5
    assert daemon.config.rules.tolerance_factor == 1.0
    assert daemon.site.output.idle_lines == ("请慢行",)
    assert daemon.status_summary()["downlink_versions"] == {
        "watchlist": None,
        "permits": None,
        "config": 5,
        "registry": None,
    }
    # A restarted daemon applies the stored document before its first vehicle.
    again = LaneDaemon(_config(tmp_path))
    await again.downlink.load()
    assert again.config.rules.tolerance_factor == 1.0


async def test_retained_documents_are_applied_and_acknowledged_over_a_real_broker(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    config = _config(tmp_path, mosquitto.port, site="dl-site")
    applied_configs: list[Config] = []
    acks: list[dict[str, Any]] = []
    subscribed = asyncio.Event()

    async def central() -> None:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="central-dl") as client:
            await client.subscribe(f"site/{config.site.id}/downlink/+/ack", qos=1)
            subscribed.set()
            async for message in client.messages:
                acks.append(json.loads(bytes(message.payload)))  # type: ignore[arg-type]

    async def publish(kind: str, payload: bytes) -> None:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier=f"pub-{kind}") as client:
            await client.publish(downlink_topic(config, kind), payload, qos=1, retain=True)

    async def wait_acks(count: int) -> None:
        for _ in range(200):
            if len(acks) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{len(acks)} acknowledgements, expected {count}: {acks}")

    listener = asyncio.create_task(central())
    await asyncio.wait_for(subscribed.wait(), 10)
    # Published before the station is up: the broker keeps them (retained) and hands them over.
    await publish("watchlist", _signed("watchlist", WATCHLIST))
    await publish("permits", _signed("permits", PERMITS))
    service = DownlinkService(config, on_config=applied_configs.append)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        await wait_acks(2)
        assert {(a["kind"], a["version"], a["status"]) for a in acks} == {
            ("watchlist", 3, "applied"),
            ("permits", 7, "applied"),
        }
        assert service.current("permits").permits[0].max_gross_kg == 80000
        assert service.current("watchlist").entries[0].plate == "冀A12345"

        await publish("permits", _signed("permits", {**PERMITS, "version": 6}))  # older: ignored, said so
        await publish(
            "config", _signed("config", {"version": 1, "settings": {"devices": {}}})
        )  # outside the subset
        await publish(
            "config", _signed("config", {"version": 2, "settings": {"rules": {"tolerance_factor": 1.1}}})
        )
        await wait_acks(5)
        older, refused, accepted = acks[2:5]
        assert (older["kind"], older["status"], older["applied_version"]) == ("permits", "ignored", 7)
        assert "not newer" in older["errors"][0]
        assert refused["status"] == "rejected" and "may set only" in refused["errors"][0]
        assert refused["applied_version"] is None
        assert (accepted["status"], accepted["applied_version"]) == ("applied", 2)
        assert applied_configs[-1].rules.tolerance_factor == 1.1
        assert ack_topic(config, "config") == f"site/{config.site.id}/downlink/config/ack"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)

    # A restarted station keeps what it applied; the retained documents re-delivered are not newer.
    restarted = DownlinkService(config, on_config=applied_configs.append)
    await restarted.load()
    assert restarted.versions() == {"watchlist": 3, "permits": 7, "config": 2, "registry": None}
    assert applied_configs[-1].rules.tolerance_factor == 1.1
    stop = asyncio.Event()
    task = asyncio.create_task(restarted.run(stop))
    try:
        await wait_acks(8)
        assert {a["status"] for a in acks[5:]} == {"ignored"}
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        listener.cancel()


async def test_a_refused_acknowledgement_is_logged_and_counted_and_the_documents_still_apply(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker's ACL lets the station read its documents but not write their acks: each ack's PUBACK
    0x87 is logged with what to do and counted; the documents apply and the connection stays."""
    with running_broker("topic read site/#\ntopic write site/+/downlink/+\n") as broker:
        config = _config(tmp_path, broker.port, site="dl-acl")
        service = DownlinkService(config)

        async def publish(kind: str, payload: bytes) -> None:
            async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"pub-{kind}") as client:
                await client.publish(downlink_topic(config, kind), payload, qos=1, retain=True)

        async def until_refused(count: int) -> None:
            for _ in range(200):
                if service.acks_refused >= count:
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"{service.acks_refused} refused acknowledgements, expected {count}")

        await publish(
            "watchlist", _signed("watchlist", WATCHLIST)
        )  # retained: handed over when the station subscribes
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            await until_refused(1)
            await publish("permits", _signed("permits", PERMITS))
            await until_refused(2)
            assert service.state == "connected" and not task.done()
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    assert service.versions() == {"watchlist": 3, "permits": 7, "config": None, "registry": None}
    health = service.health()
    assert (health["applied"], health["acks_refused"]) == (2, 2)
    topic = ack_topic(config, "permits")
    assert health["last_refusal"] == (
        f"broker refused the permits acknowledgement on {topic}: Not authorized (0x87); check the broker ACL:"
        f" this station (its certificate CN or user name) must be allowed to publish to {topic}"
    )
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and errors[1].startswith(f"downlink: {health['last_refusal']}; permits version 7")


# -- signatures ------------------------------------------------------------------------------------------


async def test_unsigned_forged_or_misdirected_documents_are_rejected_and_the_last_good_one_stays(
    tmp_path: Path,
) -> None:
    service = DownlinkService(_config(tmp_path))
    good = await service.handle(
        "config", _signed("config", {"version": 3, "settings": {"rules": {"tolerance_factor": 1.02}}})
    )
    assert good["status"] == "applied"
    attack = {"version": 9, "settings": {"rules": {"tolerance_factor": 1.5}}}
    rogue_key, _ = generate_ed25519()
    envelope = json.loads(_signed("config", {**attack, "version": 4}))
    envelope["document"] = json.dumps(attack)  # a signed document, altered after signing
    cases = {
        "unsigned": (_bytes(attack), "unsigned document refused (downlink.trusted_keys is set)"),
        "rogue key, trusted id": (
            _signed("config", attack, key=rogue_key),
            "does not verify with key 'central-test' for kind 'config'",
        ),
        "unknown key id": (
            _signed("config", attack, key=rogue_key, key_id="rogue"),
            "key 'rogue' (ed25519) is not trusted; trusted: central-test (ed25519)",
        ),
        "altered": (_bytes(envelope), "does not verify"),
        "signed as a watch-list": (
            sign_document("watchlist", _bytes(attack), CENTRAL_KEY, "central-test"),
            "does not verify",
        ),
    }
    for name, (payload, message) in cases.items():
        ack = await service.handle("config", payload)
        assert ack["status"] == "rejected", name
        assert ack["version"] == 9 and ack["applied_version"] == 3, name
        assert len(ack["errors"]) == 1 and ack["errors"][0].startswith("signature: "), name
        assert message in ack["errors"][0], name
    assert service.current("config").settings.rules.tolerance_factor == 1.02
    assert service.counts == {"applied": 1, "ignored": 0, "rejected": 5}
    assert DownlinkStore(tmp_path / "evidence.db").load()["config"].version == 3


async def test_a_document_signed_for_another_site_is_refused_and_one_for_this_site_applies(
    tmp_path: Path,
) -> None:
    service = DownlinkService(_config(tmp_path, site="s1"))
    theirs = {"version": 5, "sites": ["s2", "s3"], "settings": {"rules": {"tolerance_factor": 1.5}}}
    ack = await service.handle("config", _signed("config", theirs))
    assert ack["status"] == "rejected" and ack["applied_version"] is None
    assert ack["errors"] == [
        "sites: addressed to s2, s3, not to this station (s1); ask the central office to sign it for this site"
    ]
    # Editing the list after signing breaks the signature: the binding cannot be lifted on the way.
    envelope = json.loads(_signed("config", theirs))
    envelope["document"] = json.dumps({**theirs, "sites": ["s1"]})
    assert (await service.handle("config", _bytes(envelope)))["errors"][0].startswith("signature: ")
    ours = {"version": 6, "sites": ["s1", "s2"], "settings": {"rules": {"tolerance_factor": 1.03}}}
    assert (await service.handle("config", _signed("config", ours)))["status"] == "applied"
    assert service.current("config").settings.rules.tolerance_factor == 1.03
    everyone = {**WATCHLIST}  # no "sites": every station
    assert (await service.handle("watchlist", _signed("watchlist", everyone)))["status"] == "applied"
    empty = await service.handle("permits", _signed("permits", {**PERMITS, "sites": []}))
    assert empty["status"] == "rejected" and empty["errors"][0].startswith("sites")


async def test_without_keys_every_document_is_refused_unless_a_lab_accepts_unsigned(tmp_path: Path) -> None:
    strict = DownlinkService(_config(tmp_path / "strict", accept_unsigned=False))
    ack = await strict.handle("watchlist", _bytes(WATCHLIST))
    assert ack["status"] == "rejected" and "trusts no central key" in ack["errors"][0]
    lab = DownlinkService(_config(tmp_path / "lab", accept_unsigned=True))
    assert (await lab.handle("watchlist", _bytes(WATCHLIST)))["status"] == "applied"
    with pytest.raises(ValueError, match="accept_unsigned cannot be true when trusted_keys is set"):
        _config(tmp_path, accept_unsigned=True, trusted_keys=TRUSTED)
    with pytest.raises(ValueError, match="32 bytes"):
        _config(tmp_path, trusted_keys=[{"id": "short", "public_key": "AAAA"}])


def test_edge_central_keygen_and_sign_make_documents_a_station_accepts(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from edge.cli import main

    runner = CliRunner()
    key = tmp_path / "central.pem"
    made = runner.invoke(main, ["central", "keygen", "--out", str(key), "--key-id", "c-2026"])
    assert made.exit_code == 0, made.output
    assert key.stat().st_mode & 0o077 == 0
    import tomllib

    trusted = tomllib.loads(made.output)["downlink"]["trusted_keys"]
    assert [k["id"] for k in trusted] == ["c-2026"]
    again = runner.invoke(main, ["central", "keygen", "--out", str(key), "--key-id", "c-2026"])
    assert again.exit_code != 0 and "refusing to overwrite" in again.output
    document = tmp_path / "permits.json"
    document.write_bytes(_bytes(PERMITS))
    signed = runner.invoke(
        main, ["central", "sign", str(document), "--kind", "permits", "--key", str(key), "--key-id", "c-2026"]
    )
    assert signed.exit_code == 0, signed.output
    config = _config(tmp_path, trusted_keys=trusted)
    from edge.downlink.signing import open_envelope

    assert json.loads(open_envelope("permits", signed.output.encode(), config.downlink)) == PERMITS
    document.write_bytes(_bytes({"version": 1, "permits": [{"permit_id": "x"}]}))
    invalid = runner.invoke(
        main, ["central", "sign", str(document), "--kind", "permits", "--key", str(key), "--key-id", "c-2026"]
    )
    assert invalid.exit_code != 0 and "would be rejected" in invalid.output


async def test_a_forged_document_that_a_lax_broker_lets_through_is_refused(tmp_path: Path) -> None:
    """A broker whose ACL lets anyone write the downlink topics: a station certificate's forged config
    arrives, retained, and the station still refuses it and keeps the central office's document."""
    with running_broker("topic readwrite site/#\n") as broker:
        config = _config(tmp_path, broker.port, site="dl-lax")
        daemon = LaneDaemon(config)
        acks: list[dict[str, Any]] = []
        subscribed = asyncio.Event()

        async def central() -> None:
            async with aiomqtt.Client("127.0.0.1", broker.port, identifier="central-lax") as client:
                await client.subscribe(f"site/{config.site.id}/downlink/+/ack", qos=1)
                subscribed.set()
                async for message in client.messages:
                    acks.append(json.loads(bytes(message.payload)))  # type: ignore[arg-type]

        async def publish(payload: bytes) -> None:
            async with aiomqtt.Client("127.0.0.1", broker.port, identifier="someone") as client:
                await client.publish(downlink_topic(config, "config"), payload, qos=1, retain=True)

        async def wait_acks(count: int) -> None:
            for _ in range(200):
                if len(acks) >= count:
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"{len(acks)} acknowledgements, expected {count}: {acks}")

        listener = asyncio.create_task(central())
        await asyncio.wait_for(subscribed.wait(), 10)
        await publish(_signed("config", {"version": 2, "settings": {"rules": {"tolerance_factor": 1.01}}}))
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.downlink.run(stop))
        try:
            await wait_acks(1)
            rogue, _ = generate_ed25519()
            await publish(
                _signed("config", {"version": 3, "settings": {"rules": {"tolerance_factor": 1.5}}}, key=rogue)
            )
            await wait_acks(2)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            listener.cancel()
    assert [(a["status"], a["version"], a["applied_version"]) for a in acks] == [
        ("applied", 2, 2),
        ("rejected", 3, 2),
    ]
    assert daemon.config.rules.tolerance_factor == 1.01
