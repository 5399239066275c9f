"""The example broker configuration (docs/mosquitto/) with a real Mosquitto: TLS with client certificates,
and an ACL that confines each station to site/<its id>/#.

Certificates are made here with ``cryptography``: a CA, the broker's certificate, and client certificates
whose CN is the site id (or ``central``)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import os
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge.config import OFFLINE_DEVICES, Config
from edge.demo import free_port
from edge.evidence import EvidenceStore
from edge.query import QueryService
from edge.query.client import Broker, QueryTimeout, ask
from edge.uplink import Uplink, record_topic
from tests.support import IN_CI
from tests.support.broker import MosquittoProcess

DOCS = Path(__file__).resolve().parents[1] / "docs" / "mosquitto"
KEY_PASSWORD = "k3y-pass-7d1e-never-log"
TOKEN = "tok-9a77-never-log"

pytestmark = pytest.mark.broker


# -- certificates ----------------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    common_name: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    server: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name) if issuer is None else issuer[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if issuer is None:  # a CA
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        return builder.sign(key, hashes.SHA256()), key
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer[1], hashes.SHA256()), key


def _write(
    folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, password: str = ""
) -> None:
    (folder / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    (folder / f"{stem}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    (folder / f"{stem}.key").chmod(0o600)


@dataclass
class TlsBroker:
    port: int
    certs: Path

    def broker(self, who: str | None, *, ca: str = "ca") -> Broker:
        """A client presenting ``who``'s certificate (None: no certificate)."""
        return Broker(
            port=self.port,
            ca_file=str(self.certs / f"{ca}.crt"),
            cert_file=None if who is None else str(self.certs / f"{who}.crt"),
            key_file=None if who is None else str(self.certs / f"{who}.key"),
            key_password=KEY_PASSWORD if who == "site-A" else None,
        )

    def client(self, who: str | None, **options: Any) -> aiomqtt.Client:
        return aiomqtt.Client(
            "127.0.0.1",
            self.port,
            identifier=f"test-{who}-{time.monotonic_ns()}",
            tls_params=self.broker(who).tls(),
            protocol=aiomqtt.ProtocolVersion.V5,
            **options,
        )


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[TlsBroker]:
    binary = MosquittoProcess().binary
    if binary is None:
        message = "mosquitto is not installed (scripts/install.sh installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    certs = tmp_path / "weighlane"
    certs.mkdir()
    ca = _issue("weighlane test CA", None)
    (certs / "ca.crt").write_bytes(ca[0].public_bytes(serialization.Encoding.PEM))
    _write(certs, "server", *_issue("localhost", ca, server=True))
    _write(certs, "site-A", *_issue("site-A", ca), password=KEY_PASSWORD)
    _write(certs, "site-B", *_issue("site-B", ca))
    _write(certs, "central", *_issue("central", ca))
    rogue_ca = _issue("rogue CA", None)  # someone else's CA issuing a "site-B"
    (certs / "rogue-ca.crt").write_bytes(rogue_ca[0].public_bytes(serialization.Encoding.PEM))
    _write(certs, "rogue-site-B", *_issue("site-B", rogue_ca))

    port = free_port()
    # The documented files, with only the paths and the port replaced.
    (certs / "acl").write_text((DOCS / "acl").read_text())
    conf = (DOCS / "mosquitto.conf").read_text()
    conf = conf.replace("/etc/mosquitto/weighlane/", f"{certs}/").replace(
        "/var/lib/mosquitto/", f"{tmp_path}/"
    )
    conf = conf.replace("\nlistener 8883\n", f"\nlistener {port} 127.0.0.1\n")
    conf += f"log_dest file {tmp_path / 'mosquitto.log'}\nlog_type all\n"
    if os.geteuid() == 0:  # as root Mosquitto would switch to the user mosquitto, who cannot read tmp_path
        conf += "user root\n"
    assert f"listener {port}" in conf and "/etc/" not in conf
    (tmp_path / "mosquitto.conf").write_text(conf)
    process = subprocess.Popen(
        [binary, "-c", str(tmp_path / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited: {process.stderr.read().decode() if process.stderr else ''}"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not listen")
            time.sleep(0.05)
        yield TlsBroker(port, certs)
    finally:
        process.terminate()
        process.wait(5)


async def _collect(client: aiomqtt.Client, sink: list[tuple[str, bytes]], seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                sink.append((str(message.topic), message.payload))


# -- the ACL ---------------------------------------------------------------------------------------


async def test_a_station_publishes_only_under_its_own_site(tls_broker: TlsBroker) -> None:
    seen_by_central: list[tuple[str, bytes]] = []
    seen_by_b: list[tuple[str, bytes]] = []
    async with tls_broker.client("central") as central, tls_broker.client("site-B") as station_b:
        await central.subscribe("site/#", qos=1)
        await station_b.subscribe("site/site-B/#", qos=1)
        async with tls_broker.client("site-A") as station_a:
            await station_a.publish("site/site-A/lane/1/record", b"own", qos=1)
            await station_a.publish("site/site-B/lane/1/record", b"forged", qos=1)
            await station_a.publish("site/site-B/lane/1/query", b"forged query", qos=1)
        await asyncio.gather(_collect(central, seen_by_central, 1.5), _collect(station_b, seen_by_b, 1.5))
    assert seen_by_central == [("site/site-A/lane/1/record", b"own")]
    assert seen_by_b == []


async def test_a_station_cannot_read_another_site(tls_broker: TlsBroker) -> None:
    seen_by_a: list[tuple[str, bytes]] = []
    seen_by_b: list[tuple[str, bytes]] = []
    async with tls_broker.client("site-A") as station_a, tls_broker.client("site-B") as station_b:
        # Mosquitto 2.0 grants the subscription and filters at delivery (it does not tell a client what
        # exists where it may not look); newer brokers may refuse it in the SUBACK.  Either way: nothing.
        await station_a.subscribe("site/site-B/#", qos=1)
        await station_a.subscribe("site/+/lane/1/query", qos=1)  # a wildcard across sites
        await station_b.subscribe("site/site-B/#", qos=1)
        async with tls_broker.client("central") as central:
            await central.publish("site/site-B/lane/1/query", b"for B only", qos=1)
        await asyncio.gather(_collect(station_a, seen_by_a, 1.5), _collect(station_b, seen_by_b, 1.5))
    assert seen_by_b == [("site/site-B/lane/1/query", b"for B only")]  # the message was there to be read
    assert seen_by_a == []


@pytest.mark.parametrize(
    ("who", "ca"),
    [(None, "ca"), ("rogue-site-B", "ca")],
    ids=["no-certificate", "certificate-from-another-ca"],
)
async def test_a_client_without_a_valid_certificate_cannot_connect(
    tls_broker: TlsBroker, who: str | None, ca: str
) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            "127.0.0.1", tls_broker.port, tls_params=tls_broker.broker(who, ca=ca).tls(), timeout=5
        ) as client:
            await client.publish("site/site-B/lane/1/record", b"x", qos=1)


async def test_plain_tcp_to_the_tls_listener_is_refused(tls_broker: TlsBroker) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", tls_broker.port, timeout=3) as client:
            await client.publish("site/site-B/lane/1/record", b"x", qos=1)


# -- the station over TLS ----------------------------------------------------------------------------


def _station_config(tmp_path: Path, tls: TlsBroker, site_id: str, cert: str) -> Config:
    return Config.model_validate(
        {
            "site": {"id": site_id, "lane": 1},
            "devices": OFFLINE_DEVICES,
            "evidence": {"database": str(tmp_path / f"{site_id}.db")},
            "mqtt": {
                "host": "127.0.0.1",
                "port": tls.port,
                "reconnect_max_s": 1,
                "heartbeat_s": 3600,
                "tls_ca_file": str(tls.certs / "ca.crt"),
                "tls_cert_file": str(tls.certs / f"{cert}.crt"),
                "tls_key_file": str(tls.certs / f"{cert}.key"),
                "tls_key_password": KEY_PASSWORD,
            },
            "query": {"token": TOKEN},
        }
    )


def _record(site_id: str) -> dict[str, Any]:
    return {
        "id": f"{site_id}-rec-1",
        "site_id": site_id,
        "lane": 1,
        "time_utc": "2026-11-22T08:00:00.000Z",
        "verdict": "pass",
        "axle_count": 2,
        "plate": None,
        "attachments": [],
    }


async def _run_station(
    config: Config, seconds: float, central: aiomqtt.Client
) -> tuple[list[tuple[str, bytes]], Any]:
    """Run the station's uplink and query service for a while; what central saw on site/#."""
    store = EvidenceStore(config.evidence.database)
    await store.open()
    await store.add(_record(config.site.id), record_topic(config))
    uplink = Uplink(config, store)
    query = QueryService(config, health=uplink.health)
    stop = asyncio.Event()
    seen: list[tuple[str, bytes]] = []
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(uplink.run(stop), name="uplink")
            tasks.create_task(query.run(stop), name="query")
            await _collect(central, seen, seconds)
            central_broker = Broker(
                port=config.mqtt.port,
                ca_file=config.mqtt.tls_ca_file,
                cert_file=str(Path(config.mqtt.tls_ca_file).parent / "central.crt"),
                key_file=str(Path(config.mqtt.tls_ca_file).parent / "central.key"),
            )
            try:
                answer: Any = await ask(
                    central_broker, {"method": "records", "token": TOKEN}, site_id=config.site.id, timeout_s=3
                )
            except QueryTimeout:
                answer = "no answer"
            stop.set()
    finally:
        await store.close()
    return seen, (uplink, query, answer)


async def test_station_over_tls_sends_records_and_answers_queries_without_logging_secrets(
    tmp_path: Path, tls_broker: TlsBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = _station_config(tmp_path, tls_broker, "site-A", "site-A")
    async with tls_broker.client("central") as central:
        await central.subscribe("site/+/lane/1/record", qos=1)
        seen, (uplink, query, answer) = await _run_station(config, 3.0, central)
    assert [topic for topic, _ in seen] == ["site/site-A/lane/1/record"]
    assert uplink.published == 1 and query.state == "stopped"
    assert answer is not None and answer.ok and answer.result["records"][0]["id"] == "site-A-rec-1"
    assert "uplink: connected" in caplog.text  # the log was captured ...
    assert KEY_PASSWORD not in caplog.text and TOKEN not in caplog.text  # ... and holds no secret


async def test_a_station_whose_certificate_is_not_its_id_reaches_no_one(
    tmp_path: Path, tls_broker: TlsBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """Configured as site-B but holding site-A's certificate: the broker refuses its records and the
    central office cannot query it as site-B (its subscription to site-B's query topic is refused)."""
    config = _station_config(tmp_path, tls_broker, "site-B", "site-A")
    async with tls_broker.client("central") as central:
        await central.subscribe("site/#", qos=1)
        seen, (uplink, query, answer) = await _run_station(config, 3.0, central)
    assert seen == []  # neither its record nor its status reached the central office
    assert answer == "no answer" and query.answered == 0
    # Under MQTT 5 the broker refuses the record (PUBACK 0x87): it stays unsent, and the station says
    # why at start, before the first refusal.
    assert uplink.published == 0 and uplink.refused >= 1
    with contextlib.closing(sqlite3.connect(config.evidence.database)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_utc IS NULL").fetchone()[0] == 1
    assert "broker refused record seq 1 on topic site/site-B/lane/1/record: Not authorized" in caplog.text
    assert uplink.health()["identity_problem"].startswith("the client certificate")
    assert "has CN site-A but site.id is site-B" in caplog.text


# -- the downlink under the example ACL ----------------------------------------------------------------


async def _retained(tls: TlsBroker, topic: str) -> list[tuple[str, bytes]]:
    """What a new subscriber (central) gets as retained on ``topic``."""
    seen: list[tuple[str, bytes]] = []
    async with tls.client("central") as central:
        await central.subscribe(topic, qos=1)
        await _collect(central, seen, 1.0)
    return seen


async def test_a_station_cannot_write_any_downlink_topic_but_reads_its_own(tls_broker: TlsBroker) -> None:
    """A station certificate publishing a document on its own or another site's downlink topic is refused
    (PUBACK 0x87 under MQTT 5): nobody receives it and the broker retains nothing.  The central office's
    document reaches the station, and the station's acknowledgement reaches the central office."""
    from edge.uplink.acks import AckedClient, PublishRefused

    seen_by_central: list[tuple[str, bytes]] = []
    seen_by_a: list[tuple[str, bytes]] = []
    forged = b'{"version": 99, "settings": {"rules": {"tolerance_factor": 1.5}}}'
    async with tls_broker.client("central") as central:
        await central.subscribe("site/+/downlink/#", qos=1)
        async with AckedClient(
            "127.0.0.1",
            tls_broker.port,
            identifier="test-site-A-acked",
            tls_params=tls_broker.broker("site-A").tls(),
            protocol=aiomqtt.ProtocolVersion.V5,
        ) as station_a:
            for topic in ("site/site-A/downlink/config", "site/site-B/downlink/config"):
                with pytest.raises(PublishRefused, match="0x87"):
                    await station_a.publish_acked(topic, forged, qos=1, retain=True)
            await station_a.subscribe("site/site-A/downlink/+", qos=1)
            await central.publish("site/site-A/downlink/permits", b"from central", qos=1)
            await _collect(station_a, seen_by_a, 1.0)
            await station_a.publish_acked("site/site-A/downlink/permits/ack", b"ack", qos=1)
        await _collect(central, seen_by_central, 1.0)
    assert seen_by_a == [("site/site-A/downlink/permits", b"from central")]
    assert seen_by_central == [
        ("site/site-A/downlink/permits", b"from central"),
        ("site/site-A/downlink/permits/ack", b"ack"),
    ]
    assert await _retained(tls_broker, "site/+/downlink/config") == []
