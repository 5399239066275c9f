"""``edge doctor`` against the simulated lane on real ptys and a real Mosquitto: all green, and a specific
failure for a stopped simulator, a wrong port, a broker that is down, a wrong certificate, a full disk
and a second daemon."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge.config import Config
from edge.demo import free_port
from edge.doctor import Check, run_checks
from edge.lock import StationLock
from firmware_sim.scenario import Scenario
from tests.conftest import LaneRig, MosquittoProcess
from tests.test_disk_full_spool import small_volume

ROOT = Path(__file__).resolve().parents[1]


def changed(config: Config, section: str, **values: Any) -> Config:
    data = config.model_dump()
    data[section] = {**data[section], **values}
    return Config.model_validate(data)


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def _ports(config: Config) -> dict[str, str]:
    return {role: device.port for role, device in config.devices if device is not None}


async def test_demo_station_is_green(
    short_scenario: Scenario, tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    rig = LaneRig(short_scenario, tmp_path, mosquitto.port)
    rig.sim.start()
    try:
        checks = by_name(await run_checks(rig.config, wait_s=2.0))
    finally:
        rig.sim.stop()
    failing = {name: c.verdict for name, c in checks.items() if not c.ok and name != "clock"}
    assert failing == {}, failing  # the clock depends on the machine running the tests
    for role in ("wim", "separator", "axle_sensor", "display", "barrier"):
        assert checks[f"port {role}"].detail["frames_ok"] > 0
        assert checks[f"port {role}"].detail["bad_frame_rate"] == 0.0
    assert "connected and authenticated" in checks["broker"].verdict
    assert checks["numba cache"].detail["kernels"] >= 10


async def test_stopped_simulator_and_wrong_port(short_scenario: Scenario, tmp_path: Path) -> None:
    rig = LaneRig(short_scenario, tmp_path, free_port())  # the simulator is not started: silent ptys
    data = rig.config.model_dump()
    data["devices"]["barrier"]["port"] = str(tmp_path / "no-such-port")
    config = Config.model_validate(data)
    try:
        checks = by_name(await run_checks(config, wait_s=1.0))
    finally:
        rig.sim.stop()
    wim = checks["port wim"]
    assert not wim.ok and "no valid frame" in wim.verdict and "baud" in wim.fix
    barrier = checks["port barrier"]
    assert not barrier.ok and "does not open" in barrier.verdict and "udev" in barrier.fix
    broker = checks["broker"]  # nothing listens on that port
    assert not broker.ok and "broker running" in broker.fix


async def test_second_daemon_is_named_and_ports_left_alone(short_scenario: Scenario, tmp_path: Path) -> None:
    rig = LaneRig(short_scenario, tmp_path, free_port())
    try:
        with StationLock(rig.config.evidence.database, _ports(rig.config)):
            checks = by_name(await run_checks(rig.config, wait_s=0.5))
    finally:
        rig.sim.stop()
    single = checks["single daemon"]
    assert not single.ok and "PID" in single.verdict and "stop it first" in single.fix
    assert not checks["ports"].ok and "port wim" not in checks


def _certificate(path: Path, name: str, days: int) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


@pytest.mark.parametrize(
    ("name", "days", "expected"),
    [("other-site", 365, "not site"), (None, 10, "expires in"), (None, 365, None)],
)
async def test_certificate_must_name_the_site_and_not_be_near_expiry(
    tmp_path: Path, short_scenario: Scenario, name: str | None, days: int, expected: str | None
) -> None:
    from edge.doctor import _certificate_check

    rig = LaneRig(short_scenario, tmp_path, free_port())
    rig.sim.stop()
    _certificate(tmp_path / "client.pem", name or rig.config.site.id, days)
    check = _certificate_check(
        changed(
            rig.config,
            "mqtt",
            tls_cert_file=str(tmp_path / "client.pem"),
            tls_key_file=str(tmp_path / "client.key"),
            tls_ca_file=str(tmp_path / "client.pem"),
        )
    )
    assert check is not None
    if expected is None:
        assert check.ok, check.verdict
    else:
        assert not check.ok and expected in check.verdict


async def test_full_disk_is_reported(short_scenario: Scenario, tmp_path: Path) -> None:
    with small_volume(tmp_path / "vol") as mounted:
        if not mounted:
            pytest.skip("needs a mountable tmpfs (root)")
        rig = LaneRig(short_scenario, tmp_path, free_port())
        rig.sim.stop()
        config = changed(rig.config, "evidence", database=str(tmp_path / "vol" / "evidence.db"))
        from edge.doctor import check_disk

        check = check_disk(config)
    assert not check.ok and "MB free" in check.verdict and "free space" in check.fix


def test_cli_json_and_exit_status(tmp_path: Path) -> None:
    """The command line: one JSON object; exit 1 when a check fails (here: no device answers)."""
    text = (ROOT / "config" / "lane.example.toml").read_text(encoding="utf-8")
    text = text.replace('database = "/var/lib/weighlane/evidence.db"', f'database = "{tmp_path / "e.db"}"')
    text = text.replace("[plates]\nenabled = true", "[plates]\nenabled = false")
    (tmp_path / "lane.toml").write_text(text, encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge",
            "doctor",
            "--config",
            str(tmp_path / "lane.toml"),
            "--wait",
            "0.5",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    names = [c["name"] for c in report["checks"]]
    assert names[0] == "single daemon" and "disk" in names and "numba cache" in names
    wim = next(c for c in report["checks"] if c["name"] == "port wim")
    assert wim["ok"] is False and "/dev/weigh/wim" in wim["verdict"]


def test_numba_check_counts_only_what_it_compiled_itself() -> None:
    """numba's cache-miss counters cover the process's whole life: kernels compiled earlier in the same
    process (by the lane, or by other tests) must not make a warm cache look cold."""
    from edge.doctor import check_numba_cache

    check_numba_cache()  # whatever the disk cache held, every kernel is cached after this
    again = check_numba_cache()
    assert again.ok, again.verdict
    assert again.detail["compiled"] == 0 and again.detail["kernels"] >= 10
