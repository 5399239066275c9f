"""The technician console without a browser: its password hashes, its config section, the waveform tap on
the lane's real sample buffer, a lane that decides when the console cannot start, and a static
weighbridge's deck in the push stream.  (The pages in a real Chromium: tests/test_console_browser.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from click.testing import CliRunner

from drivers.wim_digitiser.driver import LoadSamples
from edge.cli import main
from edge.config import Config, ConsoleConfig
from edge.console.auth import hash_password, verify_password
from edge.console.waveform import WaveformTap
from edge.daemon import LaneDaemon
from edge.demo import free_port
from edge.downlink.documents import WatchlistDocument
from edge.evidence.record import EvidenceRecord
from edge.lane.buffer import SampleBuffer
from edge.lane.session import AxleTiming, LaneStateMachine, VehicleSession
from edge.rules.permits import WatchEntry
from firmware_sim.scenario import Scenario
from tests.support.weighbridge import BridgeRig, bridge_fixture  # noqa: F401  (the make_bridge fixture)


def test_password_hash_verifies_only_its_password() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$15$8$1$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored)
    assert not verify_password("", stored)
    assert hash_password("correct horse") != stored  # a new salt each time
    for broken in ("", "scrypt$15$8$1$", "bcrypt$x$y$z$a$b", stored.replace("$15$", "$40$"), stored[:-6]):
        assert not verify_password("correct horse", broken)


def test_cli_hash_password_prints_a_config_line_that_verifies() -> None:
    result = CliRunner().invoke(main, ["console", "hash-password", "--password-stdin"], input="lane-7-tech\n")
    assert result.exit_code == 0, result.output
    key, _, value = result.output.strip().partition(" = ")
    assert key == "password_hash"
    assert verify_password("lane-7-tech", value.strip('"'))
    short = CliRunner().invoke(main, ["console", "hash-password", "--password-stdin"], input="abc\n")
    assert short.exit_code != 0 and "8 characters" in short.output


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"enabled": True}, "needs console.password_hash"),
        ({"bind": "0.0.0.0"}, "not a wildcard"),
        ({"bind": "::"}, "not a wildcard"),
        ({"password_hash": "hunter2"}, "not a hash"),
        ({"client_ca": "/etc/ca.pem"}, "needs console.tls_cert"),
        ({"tls_cert": "/etc/cert.pem"}, "go together"),
    ],
)
def test_console_config_refuses_unsafe_settings(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConsoleConfig.model_validate(section)


def test_console_is_off_by_default() -> None:
    assert not ConsoleConfig().enabled
    assert ConsoleConfig().bind == "127.0.0.1"
    assert ConsoleConfig.model_validate({"enabled": True, "password_hash": hash_password("x" * 8)}).enabled


def _block(buffer_written: int, counts: np.ndarray, t0: float, rate: int = 1000) -> LoadSamples:
    return LoadSamples(buffer_written, rate, counts.astype(np.int32), t0, 0, 0)


def test_waveform_tap_sums_platforms_subtracts_zero_and_decimates() -> None:
    buffer = SampleBuffer(n_channels=8, capacity=5000)  # two platforms of four cells
    lane = LaneStateMachine(lambda session: None, 30.0)
    kpc = (0.02,) * 4 + (0.03,) * 4
    tap = WaveformTap(buffer, lane, 1000, 4, kpc, points_per_s=100, epoch_s=100.0)
    zero = np.full(8, 1000.0)
    ramp = np.arange(250)[:, None] * np.ones((1, 8))  # counts above zero rise by one per sample
    buffer.append(_block(0, 1000 + ramp, 100.0))
    first = tap.read(zero)
    assert len(first["t"]) == 25  # 250 samples in bins of 10
    # platform 1: 4 cells x mean(0..9) x 0.02 kg; platform 2 the same at 0.03 kg per count
    assert first["kg"][0][0] == pytest.approx(4 * 4.5 * 0.02, abs=0.05)
    assert first["kg"][1][0] == pytest.approx(4 * 4.5 * 0.03, abs=0.05)
    assert first["kg"][0][-1] == pytest.approx(4 * 244.5 * 0.02, abs=0.05)
    assert first["t"][0] == pytest.approx(0.0045, abs=1e-3)
    # Only what was written since: 15 new samples make one whole bin; five wait for the next read.
    buffer.append(_block(250, 1000 + np.full((15, 8), 500.0), 100.25))
    second = tap.read(zero)
    assert len(second["t"]) == 1 and second["t"][0] > first["t"][-1]
    assert second["kg"][0][0] == pytest.approx(4 * 500 * 0.02, abs=0.05)
    assert tap.read(zero)["t"] == []


def test_waveform_tap_sends_each_axle_event_once_even_after_the_vehicle_left() -> None:
    buffer = SampleBuffer(n_channels=4, capacity=1000)
    lane = LaneStateMachine(lambda session: None, 30.0)
    tap = WaveformTap(buffer, lane, 1000, 4, 0.02, points_per_s=100, epoch_s=10.0)
    session = VehicleSession(number=1, opened_t_s=10.0)
    session.axles.append(AxleTiming(entry_t_s=11.0, tyre="single", tyre_width_mm=300))
    lane.on_scale.append(session)
    assert [(e["kind"], e["t"]) for e in tap.read(None)["axles"]] == [("entry", 1.0)]
    session.axles[0].exit_t_s = 12.5  # the exit, and the vehicle leaves the scale before the next read
    lane.on_scale.clear()
    assert [(e["kind"], e["t"], e["axle"]) for e in tap.read(None)["axles"]] == [("exit", 2.5, 1)]
    assert tap.read(None)["axles"] == []


async def test_lane_decides_when_the_console_port_is_taken(
    make_rig: Any, short_scenario: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        rig = make_rig(short_scenario)
        data = rig.config.model_dump()
        data["console"] = {
            "enabled": True,
            "port": taken.getsockname()[1],
            "password_hash": hash_password("x" * 8),
        }
        rig.config = Config.model_validate(data)
        rig.daemon = LaneDaemon(rig.config, on_record=rig.keep)
        await rig.start()
        await rig.wait_records(1, 90)
        await asyncio.sleep(0)
    assert any("console not served" in r.getMessage() for r in caplog.records)
    assert rig.records[0]["verdict"] in ("pass", "overweight", "reweigh")


async def test_client_certificate_alone_lets_the_technician_in(
    make_rig: Any, short_scenario: Scenario, tmp_path: Path
) -> None:
    from tests.test_mqtt_acl import _issue, _write

    ca = _issue("technician-ca", None)
    _write(tmp_path, "ca", *ca)
    _write(tmp_path, "server", *_issue("station", ca, server=True))
    _write(tmp_path, "laptop", *_issue("technician-laptop", ca))
    _write(tmp_path, "stranger", *_issue("stranger", _issue("other-ca", None)))
    rig = make_rig(short_scenario)
    port = free_port()
    data = rig.config.model_dump()
    data["console"] = {
        "enabled": True,
        "port": port,
        "tls_cert": str(tmp_path / "server.crt"),
        "tls_key": str(tmp_path / "server.key"),
        "client_ca": str(tmp_path / "ca.crt"),
    }
    rig.config = Config.model_validate(data)
    rig.daemon = LaneDaemon(rig.config, on_record=rig.keep)
    await rig.start()

    def client(stem: str | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
        if stem is not None:
            context.load_cert_chain(str(tmp_path / f"{stem}.crt"), str(tmp_path / f"{stem}.key"))
        return context

    url = f"https://127.0.0.1:{port}/api/status"
    async with aiohttp.ClientSession() as session:
        async with session.get(url, ssl=client("laptop")) as response:
            assert response.status == 200
            assert (await response.json())["site_id"] == rig.config.site.id
        for stem in (None, "stranger"):  # no certificate, or one another CA signed: no TLS session at all
            with pytest.raises(aiohttp.ClientError):
                async with session.get(url, ssl=client(stem)) as response:
                    await response.read()


WATCHED = WatchlistDocument(version=1, entries=(WatchEntry(plate="冀A10001", reason="严重失信超限超载"),))


def watched_rig(
    make_rig: Any, scenario: Scenario, tmp_path: Path, on_record: Any = None, **console: Any
) -> tuple[Any, str]:
    """A lane with the simulated camera, the console on, and a watch-list naming the first truck of the
    short scenario (冀A10001) as the downlink would apply it; no broker: central is not reached."""
    rig = make_rig(scenario, camera_dir=tmp_path / "camera")
    port = free_port()
    data = rig.config.model_dump()
    data["console"] = {"enabled": True, "bind": "127.0.0.1", "port": port, **console}
    rig.config = Config.model_validate(data)
    rig.daemon = LaneDaemon(rig.config, on_record=on_record or rig.keep)
    rig.daemon.site.documents = lambda kind: WATCHED if kind == "watchlist" else None
    return rig, f"http://127.0.0.1:{port}"


async def test_a_watch_list_match_is_in_the_console_status_before_its_record(
    make_rig: Any, short_scenario: Scenario, tmp_path: Path
) -> None:
    shown_at_record: dict[str, list[str]] = {}  # plate -> the alerts' plates the console had as it was stored

    def keep(record: EvidenceRecord) -> None:
        rig.keep(record)
        text = (record.plate_reading or {}).get("text")
        shown_at_record[str(text)] = [a["plate_read"] for a in rig.daemon.site.alerts]

    rig, url = watched_rig(
        make_rig, short_scenario, tmp_path, on_record=keep, password_hash=hash_password("x" * 8)
    )
    await rig.start()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(url + "/api/status") as response:
            assert response.status == 401  # the alerts are behind the login like the rest
        async with session.post(
            url + "/login", data={"password": "x" * 8}, allow_redirects=False
        ) as response:
            assert response.status == 302 and response.headers["Location"] == "/"
        await rig.wait_records(3, 120)
        async with session.get(url + "/api/status") as response:
            assert response.status == 200
            status = await response.json()
        async with session.get(url + "/api/stream") as stream:
            frame: dict[str, Any] = {}
            async for line in stream.content:
                if line.startswith(b"data: ") and b'"alerts"' in line:
                    frame = json.loads(line[6:])
                    break

    plates = [r["plate_reading"]["text"] for r in rig.records]
    assert sorted(plates) == sorted(["冀A10001", "晋B20002", "鲁C30003"]), "each plate read right"
    alerts = status["watchlist_alerts"]
    assert len(alerts) == 1, alerts  # only the watched truck
    alert = alerts[0]
    assert alert["plate_read"] == "冀A10001"
    assert alert["matches"] == [{"plate": "冀A10001", "reason": "严重失信超限超载", "exact": True}]
    assert alert["reasons"] == ["冀A10001: 严重失信超限超载"]
    assert alert["sent_to_central"] is False  # no broker: the page says central was not reached
    assert alert["raised_utc"].endswith("Z")
    watched = next(r for r in rig.records if r["plate_reading"]["text"] == "冀A10001")
    assert watched["watchlist"][0]["alert_id"] == alert["alert_id"]  # the same alert as the record's
    assert alert["curtain_enter_utc"] == watched["timing"]["curtain_enter_utc"]
    # Raised when the plate matched, not when the record was made: already there as the record was stored.
    assert shown_at_record["冀A10001"] == ["冀A10001"]
    assert status["health"]["watchlist_alerts_raised"] == 1
    assert frame["alerts"] == 1  # the push stream tells an open page to fetch it
    assert "deck" not in frame  # a toll lane's frames are the lane's, as before


def bridge_with_console(make_bridge: Any, **console: Any) -> tuple[BridgeRig, str]:
    """A simulated static weighbridge with the console on (tests/support/weighbridge.py)."""
    port = free_port()
    section = {"enabled": True, "bind": "127.0.0.1", "port": port, **console}
    return make_bridge(console=section), f"http://127.0.0.1:{port}"


async def _read_stream(session: aiohttp.ClientSession, url: str, out: list[dict[str, Any]]) -> None:
    """Every event's data of the push stream, the hello first, into ``out``."""
    async with session.get(url + "/api/stream") as stream:
        assert stream.status == 200
        async for line in stream.content:
            if line.startswith(b"data: "):
                out.append(json.loads(line[6:]))


async def _deck_frame(frames: list[dict[str, Any]], test: Any, timeout_s: float = 20.0) -> dict[str, Any]:
    """The deck of the first frame (from now on) that passes ``test``."""
    seen = len(frames)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        for frame in frames[seen:]:
            if isinstance(frame.get("deck"), dict) and test(frame["deck"]):
                return dict(frame["deck"])
        seen = len(frames)
        last = frames[-1].get("deck") if frames else None
        assert asyncio.get_running_loop().time() < deadline, f"no such deck frame; the last: {last}"
        await asyncio.sleep(0.05)


async def test_a_weighbridge_console_streams_the_deck(make_bridge: Any) -> None:
    """The deck in the push frames: the indicator's weight and readings, stable or moving, the position
    beams (off-centre, then fully on), the visit's plate and what the flow waits for."""
    rig, url = bridge_with_console(make_bridge, password_hash=hash_password("x" * 8), waveform_hz=10.0)
    await rig.start()
    frames: list[dict[str, Any]] = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(url + "/api/stream") as response:
            assert response.status == 401  # the deck is behind the login like the rest
        async with session.post(
            url + "/login", data={"password": "x" * 8}, allow_redirects=False
        ) as response:
            assert response.status == 302
        reader = asyncio.create_task(_read_stream(session, url, frames))
        try:
            empty = await _deck_frame(frames, lambda d: d["stable"])
            await rig.do("drive_on", "晋A12345", 48_600.0, stop_short=True)  # rear wheels over the entry end
            off_centre = await _deck_frame(frames, lambda d: d["stable"])
            await rig.do("move_up")
            await rig.board("请通行")
            record = (await rig.wait_records(1))[0]
            weighed = await _deck_frame(frames, lambda d: d["state"] == "weighed" and d["stable"])
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    hello, waves = frames[0], frames[1:]
    assert all(isinstance(w["deck"], dict) for w in waves)
    assert hello["deck"] is True and hello["platforms"] == 0
    assert empty["state"] == "idle" and empty["waiting_for"] == "truck"
    assert abs(empty["weight_kg"]) < 60 and empty["position"] == "clear"
    # Driving on: the load moves, and the deck says so (no stable flag while it rises).
    rising = [w["deck"] for w in waves if w["deck"]["weight_kg"] and 2_000 < w["deck"]["weight_kg"] < 46_000]
    assert rising, "no frame while the load came on"
    assert all(not d["stable"] for d in rising)
    assert any(d["motion"] for d in rising)
    # Stopped short: the weight is steady, but the entry beam says off-centre and the flow waits for it.
    assert off_centre["state"] == "on_deck" and off_centre["position"] == "off_centre"
    assert off_centre["beams_blocked"] == ["entry"] and off_centre["waiting_for"] == "off_deck"
    assert off_centre["weight_kg"] == pytest.approx(48_600, abs=60)
    assert off_centre["visit"] is not None and off_centre["visit"]["plate"] is None  # read at the decision
    # Weighed: the live weight is the truck's, stable, fully on, with its plate and visit.
    assert weighed["weight_kg"] == pytest.approx(48_600, abs=60)
    assert weighed["stable"] is True and weighed["motion"] is False and weighed["over_range"] is False
    assert weighed["stable_weight_kg"] == pytest.approx(48_600, abs=60)
    assert weighed["position"] == "fully_on" and weighed["beams_blocked"] == []
    assert record.static is not None
    assert weighed["visit"]["plate"] == record.plate == "晋A12345"
    assert weighed["visit"]["visit_id"] == record.static.visit_id
    assert weighed["visit"]["verdict"] == "pass" and weighed["waiting_for"] == "leave"
    # The readings for the chart: each sent once, in order, none lost between pushes (10 a second).
    t = [x for w in waves for x in w["deck"]["t"]]
    kg = [x for w in waves for x in w["deck"]["kg"]]
    assert len(t) == len(kg) and all(b > a for a, b in itertools.pairwise(t))
    assert len(t) >= 0.7 * 10 * (t[-1] - t[0])
    assert kg[-1] == pytest.approx(48_600, abs=60)
    assert all(w["t"] == [] and w["lane"] == {} for w in waves)  # no lane waveform at a weighbridge
