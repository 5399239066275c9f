"""``edge doctor``: everything a station depends on, checked, each with a verdict and what to do.

Run it with the daemon stopped (``systemctl stop weighlane-edge@<lane>``): it opens the ports itself.
With the daemon running, the "single daemon" check says so and the port checks are not made.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
import ssl
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt

from edge.calibration import active_calibration, is_overdue
from edge.config import Config
from edge.health import clock_synchronised
from edge.lock import AlreadyRunning, StationLock
from edge.uplink.session import client_id, tls_parameters

__all__ = ["Check", "run_checks"]

#: A certificate expiring sooner than this is a failure: time to order the next one.
CERT_MIN_DAYS = 30
#: Below this much free space on the evidence volume (besides the reserved spool) the disk check fails.
MIN_FREE_BYTES = 200 * 1024 * 1024
#: Bad frames above this share of all frames: a wiring, baud or earthing problem.
MAX_BAD_FRAME_RATE = 0.01


@dataclass
class Check:
    name: str
    ok: bool
    verdict: str
    fix: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        mark = "PASS" if self.ok else "FAIL"
        return f"{mark}  {self.name:<22} {self.verdict}" + (
            f"  -> {self.fix}" if self.fix and not self.ok else ""
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ports(config: Config) -> dict[str, str]:
    return {role: device.port for role, device in config.devices if device is not None}


# -- the checks ------------------------------------------------------------------------------------


def check_single_daemon(config: Config) -> tuple[Check, StationLock | None]:
    lock = StationLock(config.evidence.database, _ports(config))
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        return Check("single daemon", False, str(exc).split(":")[0], str(exc).split(": ", 1)[-1]), None
    except OSError as exc:
        return Check("single daemon", False, f"cannot take the locks: {exc}", "check /run/lock"), None
    return Check("single daemon", True, "no other daemon holds the database or a port"), lock


async def check_devices(config: Config, wait_s: float) -> list[Check]:
    """Open every port with the lane's own drivers, listen ``wait_s`` seconds, count frames."""
    from drivers.barrier.driver import Barrier
    from drivers.display.driver import LedDisplay
    from edge.lane.devices import build_driver
    from edge.lane.sensing import Sensing

    try:
        sensing = Sensing(config, lambda _t: None)
        drivers: dict[str, Any] = {
            **sensing.drivers,
            "display": build_driver(config.devices.display, LedDisplay),
            "barrier": build_driver(config.devices.barrier, Barrier),
        }
    except Exception as exc:
        return [Check("devices", False, f"cannot build the drivers: {exc}", "fix [devices] in the config")]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(driver.run(stop), name=f"doctor-{name}") for name, driver in drivers.items()]
    await asyncio.sleep(wait_s)
    stop.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
    checks = []
    for name, driver in drivers.items():
        health = driver.health()
        ok_frames, bad = int(health.get("frames_ok", 0)), int(health.get("frames_bad", 0))
        rate = bad / (ok_frames + bad) if ok_frames + bad else 0.0
        detail = {**health, "bad_frame_rate": round(rate, 4)}
        port = health.get("port", "")
        if health.get("connects", 0) == 0:
            checks.append(
                Check(
                    f"port {name}",
                    False,
                    f"{port} does not open: {health.get('last_error') or 'no such port'}",
                    "check the cable, the udev name (ls -l /dev/weigh/) and devices."
                    f"{name}.port; the service user needs the dialout group",
                    detail,
                )
            )
        elif ok_frames == 0:
            checks.append(
                Check(
                    f"port {name}",
                    False,
                    f"{port} opens but no valid frame in {wait_s:.0f} s ({bad} bad)",
                    "is the device powered and on this port?  Check the baud rate and the RS-485 A/B wires",
                    detail,
                )
            )
        elif rate > MAX_BAD_FRAME_RATE:
            checks.append(
                Check(
                    f"port {name}",
                    False,
                    f"{port}: {ok_frames} frames, bad-frame rate {rate:.1%}",
                    "check earthing, cable screen and termination; a rate above 1 % loses data",
                    detail,
                )
            )
        else:
            checks.append(
                Check(
                    f"port {name}", True, f"{port}: {ok_frames} frames, bad-frame rate {rate:.2%}", "", detail
                )
            )
    return checks


async def check_plates(config: Config, wait_s: float) -> list[Check]:
    if not config.plates.enabled:
        return [Check("plate models", True, "plate reading is off in the config")]
    from edge.plates.lane import LanePlates

    plates = LanePlates(config.plates)
    await plates.start()
    try:
        await asyncio.sleep(wait_s)
        camera = plates.camera.health()
    finally:
        plates.stop()
    checks = [
        Check(
            "plate models",
            False,
            plates.load_error,
            "reinstall the package's models/ or fix plates.model_dir",
        )
        if plates.reader is None
        else Check("plate models", True, "the detector and reader load")
    ]
    frames, bad = int(camera.get("frames_total", 0)), int(camera.get("frames_bad", 0))
    if frames - bad > 0:
        checks.append(
            Check(
                "camera", True, f"{camera['source']}: {frames - bad} frames decoded ({bad} bad)", "", camera
            )
        )
    else:
        checks.append(
            Check(
                "camera",
                False,
                f"{camera['source']}: no frame decoded in {wait_s:.0f} s ({camera.get('last_error') or 'nothing'})",
                "check the camera's power, network and plates.camera URL (user and password)",
                camera,
            )
        )
    return checks


def _certificate_check(config: Config) -> Check | None:
    """The client certificate names this site and is not near expiry (None without one)."""
    path = config.mqtt.tls_cert_file
    if not path:
        return None
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        return Check("certificate", False, f"{path}: {exc}", "install the site's client certificate")
    names = {attr.value for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)}
    with contextlib.suppress(x509.ExtensionNotFound):
        names |= set(
            cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
                x509.DNSName
            )
        )
    expected = {config.site.id, client_id(config)}
    days = (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).days
    detail = {"names": sorted(str(n) for n in names), "days_left": days}
    if not names & expected:
        return Check(
            "certificate",
            False,
            f"{path} is for {', '.join(sorted(str(n) for n in names))}, not site {config.site.id}",
            "install this site's certificate (its CN names the site id)",
            detail,
        )
    if days < CERT_MIN_DAYS:
        return Check(
            "certificate", False, f"{path} expires in {days} days", "order a new certificate now", detail
        )
    return Check("certificate", True, f"names site {config.site.id}; {days} days left", "", detail)


async def check_broker(config: Config, timeout_s: float = 5.0) -> list[Check]:
    mqtt = config.mqtt
    if not mqtt.enabled:
        return [Check("broker", True, "the uplink is off in the config (records stay in the outbox)")]
    checks: list[Check] = []
    cert = _certificate_check(config)
    if cert is not None:
        checks.append(cert)
    where = f"{mqtt.host}:{mqtt.port}"
    try:
        async with asyncio.timeout(timeout_s):
            async with aiomqtt.Client(
                mqtt.host,
                mqtt.port,
                identifier=client_id(config) + "-doctor",
                username=mqtt.username or None,
                password=mqtt.password.get_secret_value() or None,
                protocol=aiomqtt.ProtocolVersion.V5,
                tls_params=tls_parameters(mqtt),
            ):
                pass
    except TimeoutError:
        checks.append(
            Check(
                "broker",
                False,
                f"{where}: no answer in {timeout_s:.0f} s",
                "check the network, firewall and mqtt.host",
            )
        )
    except (aiomqtt.MqttError, ssl.SSLError, OSError) as exc:
        text = str(exc)
        if "authoriz" in text.lower() or "password" in text.lower() or "not authorized" in text.lower():
            fix = "check mqtt.username and mqtt.password against the broker's password file"
        elif "certificate" in text.lower() or isinstance(exc, ssl.SSLError):
            fix = "check mqtt.tls_ca_file and the client certificate"
        else:
            fix = "is the broker running (systemctl status mosquitto) and reachable from here?"
        checks.append(Check("broker", False, f"{where}: {text}", fix))
    else:
        checks.append(Check("broker", True, f"{where}: connected and authenticated"))
    return checks


def check_disk(config: Config) -> Check:
    folder = Path(config.evidence.database).resolve().parent
    try:
        usage = shutil.disk_usage(folder)
    except OSError as exc:
        return Check(
            "disk", False, f"{folder}: {exc}", "create the evidence folder, writable by the service user"
        )
    db = Path(config.evidence.database)
    used = sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())
    detail = {"free_bytes": usage.free, "evidence_bytes": used, "budget_mb": config.evidence.budget_mb}
    budget = config.evidence.budget_mb
    verdict = f"{usage.free / 1e6:.0f} MB free on {folder}; evidence {used / 1e6:.1f} MB" + (
        f" of a {budget} MB budget" if budget else ""
    )
    if usage.free < MIN_FREE_BYTES:
        return Check(
            "disk",
            False,
            verdict,
            "free space on the evidence volume (old logs, exported packages); "
            f"below {MIN_FREE_BYTES // 1_000_000} MB records go to the disk-full spool",
            detail,
        )
    if budget and used > budget * 1e6:
        return Check(
            "disk", False, verdict, "the retention has not caught up: are records being uploaded?", detail
        )
    return Check("disk", True, verdict, "", detail)


def check_clock() -> Check:
    synced = clock_synchronised()
    if synced:
        return Check("clock", True, "synchronised (NTP)")
    return Check(
        "clock",
        False,
        "not synchronised" if synced is False else "synchronisation unknown",
        "enable systemd-timesyncd or chrony (timedatectl set-ntp true); record times are evidence",
    )


def check_calibration(config: Config) -> Check:
    try:
        cal = active_calibration(config.evidence.database)
    except Exception as exc:
        return Check("calibration", False, f"cannot read the calibration: {exc}", "run edge calibrate show")
    if cal is None:
        return Check(
            "calibration",
            True,
            "no static calibration recorded: the configured spans apply",
            "calibrate the scale with edge calibrate static when due",
        )
    if is_overdue(cal):
        return Check(
            "calibration",
            False,
            f"{cal.calibration_id} was due {cal.valid_until_utc}",
            "book the re-calibration",
        )
    return Check("calibration", True, f"{cal.calibration_id} valid until {cal.valid_until_utc}")


def check_numba_cache() -> Check:
    """Load every kernel; any compiled now means the service's next start would compile too."""
    from numba.core.registry import CPUDispatcher

    from edge.wim import kernels

    dispatchers = [v for v in vars(kernels).values() if isinstance(v, CPUDispatcher)]

    def compiled() -> int:  # numba counts cache misses over the process's life: take the difference
        return sum(sum(d.stats.cache_misses.values()) for d in dispatchers)

    before = compiled()
    started = time.monotonic()
    kernels.warm_up()
    seconds = time.monotonic() - started
    misses = compiled() - before
    detail = {"kernels": len(dispatchers), "compiled": misses, "seconds": round(seconds, 2)}
    if misses:
        return Check(
            "numba cache",
            False,
            f"cold: {misses} kernels compiled in {seconds:.1f} s (now cached for this user)",
            "run edge doctor as the service user with the service's NUMBA_CACHE_DIR, or start the service once",
            detail,
        )
    return Check(
        "numba cache", True, f"warm: {len(dispatchers)} kernels loaded in {seconds:.1f} s", "", detail
    )


async def run_checks(config: Config, wait_s: float = 3.0) -> list[Check]:
    """Every check, in the order a technician would go through them."""
    single, lock = check_single_daemon(config)
    checks = [single]
    try:
        if lock is None:
            checks.append(Check("ports", False, "not checked: another daemon holds them", "stop it first"))
        else:
            checks += await check_devices(config, wait_s)
        checks += await check_plates(config, wait_s)
    finally:
        if lock is not None:
            lock.release()
    checks += await check_broker(config)
    checks.append(check_disk(config))
    checks.append(check_clock())
    checks.append(check_calibration(config))
    checks.append(await asyncio.to_thread(check_numba_cache))
    return checks
