"""The technician console in a real headless Chromium (Debian's), against a daemon on a simulated lane.

A technician logs in, watches the waveform draw during a crossing (pixels of the platforms' and the axle
markers' colours on uPlot's canvas, and loads of trucks, not an empty scale, in the plotted data), and finds
the vehicle in the records table with its verdict and explanation.  A watch-list match shows as a banner at
the top of the page for the lane staff.  At a static weighbridge the page shows the deck: the indicator's
live weight, its state line and the weight's chart.  A wrong password is refused.  In CI a missing
Chromium fails these tests (tests/support/browser.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from edge.config import Config
from edge.console.auth import hash_password
from edge.daemon import LaneDaemon
from edge.demo import free_port
from firmware_sim.scenario import Scenario
from tests.support.browser import launched_chromium
from tests.support.weighbridge import bridge_fixture  # noqa: F401  (the make_bridge fixture)
from tests.test_console import bridge_with_console, watched_rig

pytestmark = pytest.mark.timeout(240)

PASSWORD = "weigh-station-7"

#: Pixels of a colour on uPlot's canvas (within a tolerance for anti-aliasing).
_COUNT_COLOUR = """([r, g, b]) => {
  const canvas = document.querySelector('#waveform canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 200 && Math.abs(data[i] - r) < 12 && Math.abs(data[i + 1] - g) < 12
        && Math.abs(data[i + 2] - b) < 12) n++;
  }
  return n;
}"""
PLATFORM_1 = (0x1F, 0x77, 0xB4)
AXLE_ENTRY = (0xD6, 0x27, 0x28)


def _console_rig(make_rig: Any, scenario: Scenario, **console: Any) -> tuple[Any, str]:
    rig = make_rig(scenario)
    port = free_port()
    data = rig.config.model_dump()
    data["console"] = {"enabled": True, "bind": "127.0.0.1", "port": port, **console}
    rig.config = Config.model_validate(data)
    rig.daemon = LaneDaemon(rig.config, on_record=rig.keep)
    return rig, f"http://127.0.0.1:{port}"


async def test_console_shows_the_crossing_waveform_and_the_vehicle(
    make_rig: Any, short_scenario: Scenario
) -> None:
    rig, url = _console_rig(make_rig, short_scenario, password_hash=hash_password(PASSWORD))
    async with launched_chromium() as browser:
        await rig.start()
        # bypass_csp: the test's own probes (wait_for_function) are evaluated strings, which the console's
        # Content-Security-Policy forbids to any other script.
        context = await browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
        page = await context.new_page()
        await page.goto(url + "/")
        assert page.url.endswith("/login")  # not logged in: the console sends the browser to log in
        await page.fill("#password", PASSWORD)
        await page.click("#login")
        await page.wait_for_url(url + "/")
        await page.wait_for_selector("#waveform canvas")
        await page.wait_for_function("document.getElementById('stream-state').textContent.startsWith('live')")

        # During the first crossing: a truck's load (tonnes, not an empty scale's noise) in the plotted data,
        # and the axle markers drawn.
        await page.wait_for_function(
            "wave.kg.some((k) => k.some((v) => v !== null && v > 3000)) && wave.entries.length > 0",
            timeout=90_000,
        )
        await page.wait_for_timeout(600)  # the next draw
        assert await page.evaluate(_COUNT_COLOUR, list(PLATFORM_1)) > 200
        assert await page.evaluate(_COUNT_COLOUR, list(AXLE_ENTRY)) > 20

        # The vehicle in the table, with its verdict, as the store signed it.
        await rig.wait_records(1, 90)
        first = rig.records[0]
        row = page.locator(f'#records tbody tr[data-record-id="{first["id"]}"]')
        await row.wait_for(timeout=20_000)
        cells = await row.locator("td").all_inner_texts()
        assert cells[0] == str(first["seq"])
        assert cells[9] == first["verdict"]
        assert cells[5] == str(first["axle_count"])
        assert len(cells[6].split(" · ")) == first["axle_count"]  # one load per axle
        await row.click()
        explanation = await page.inner_text("#explanation")
        assert f"Record {first['id']}" in explanation and "结论 Verdict" in explanation

        # Health: every device row is up, and the doctor's checks listed.
        await page.wait_for_selector("#devices tbody tr")
        devices = await page.locator("#devices tbody tr td:first-child").all_inner_texts()
        assert {"wim", "separator", "axle_sensor", "display", "barrier"} <= set(devices)
        assert "none: the config's spans apply" in await page.inner_text("#calibration")
        assert "ok (" in await page.inner_text("#zero-drift")
        await page.wait_for_selector("#doctor tbody tr")
        checks = await page.locator("#doctor tbody tr td:first-child").all_inner_texts()
        assert any("disk" in c for c in checks)
        assert rig.daemon.console is not None and rig.daemon.console.events_sent > 0

        # The daemon stops with the stream still open: the stream ends, and the page says so.
        await asyncio.wait_for(rig.close(), 20)
        await page.wait_for_function(
            "!document.getElementById('stream-state').textContent.startsWith('live')", timeout=10_000
        )


async def test_console_refuses_a_wrong_password(make_rig: Any, short_scenario: Scenario) -> None:
    rig, url = _console_rig(make_rig, short_scenario, password_hash=hash_password(PASSWORD))
    async with launched_chromium() as browser:
        await rig.start()
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(url + "/login")
        await page.fill("#password", "not-the-password")
        await page.click("#login")
        await page.wait_for_selector("#login-error")
        assert "/login?failed=1" in page.url
        assert not [c for c in await context.cookies() if c["name"] == "weighlane_console"]
        # No session: the API and the stream refuse, and the page sends the browser back to log in.
        for path in ("/api/status", "/api/records", "/api/stream"):
            response = await context.request.get(url + path)
            assert response.status == 401, path
        await page.goto(url + "/")
        assert page.url.endswith("/login")

        # A flood of guesses: after ten wrong passwords in a minute, even the right one is refused (429)
        # for the rest of the minute, unchecked.
        async def guess(password: str) -> int:
            response = await context.request.post(
                url + "/login", form={"password": password}, max_redirects=0
            )
            return response.status

        assert set(await asyncio.gather(*(guess(f"guess-{i}") for i in range(9)))) == {302}
        assert await guess(PASSWORD) == 429


async def test_console_shows_a_watch_list_alert_to_the_lane_staff(
    make_rig: Any, short_scenario: Scenario, tmp_path: Path
) -> None:
    rig, url = watched_rig(make_rig, short_scenario, tmp_path, password_hash=hash_password(PASSWORD))
    async with launched_chromium() as browser:
        rig._task = asyncio.create_task(rig.daemon.run(rig.stop), name="daemon")
        await asyncio.wait_for(rig.daemon.ready.wait(), 60)
        # bypass_csp: the wait_for_function probes below are evaluated strings (see the first test); a
        # probe that is not true at its first try polls through eval, which the CSP would refuse.
        context = await browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
        page = await context.new_page()
        await page.goto(url + "/login")
        await page.fill("#password", PASSWORD)
        await page.click("#login")
        await page.wait_for_url(url + "/")
        await page.wait_for_function("document.getElementById('site').textContent.includes('site')")
        assert not await page.is_visible("#watch-alerts")  # no truck yet: no banner
        rig.sim.start()
        # The banner appears for the watched truck (冀A10001, the first), with the watch-list's reason.
        banner = page.locator("#watch-alerts")
        await banner.wait_for(state="visible", timeout=90_000)
        item = page.locator("#watch-alert-list li").first
        assert await item.locator(".plate").inner_text() == "冀A10001"
        text = await item.inner_text()
        assert "严重失信超限超载" in text and "central NOT reached" in text
        assert (await banner.bounding_box() or {}).get("y", 1e9) < 200  # at the top of the page, seen at once
        await rig.wait_records(3, 90)
        await page.wait_for_timeout(
            3500
        )  # the next status poll: still one alert, the other trucks raised none
        assert await page.locator("#watch-alert-list li").count() == 1
        await asyncio.wait_for(rig.close(), 20)


async def test_console_shows_a_weighbridge_deck(make_bridge: Any) -> None:
    """A static weighbridge's console: the deck's live weight as a number, stable and fully on, the
    visit's plate, and the weight's line drawn; no lane waveform."""
    rig, url = bridge_with_console(make_bridge, password_hash=hash_password(PASSWORD))
    async with launched_chromium() as browser:
        await rig.start()
        context = await browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
        page = await context.new_page()
        await page.goto(url + "/login")
        await page.fill("#password", PASSWORD)
        await page.click("#login")
        await page.wait_for_url(url + "/")
        await page.wait_for_selector("#deck-chart canvas")
        assert await page.is_hidden("#live") and await page.is_visible("#deck")
        await page.wait_for_function("deck.frame && deck.frame.state === 'idle'")
        assert abs(float(await page.inner_text("#deck-weight"))) < 60  # the empty deck
        driving = asyncio.create_task(rig.do("drive_on", "晋A12345", 48_600.0))
        # Live: the number follows the load as it comes on (a stable-only weight would show none then).
        await page.wait_for_function(
            "(() => { const v = Number(document.getElementById('deck-weight').textContent);"
            " return v > 2000 && v < 46000; })()",
            timeout=10_000,
        )
        await driving
        await rig.board("请通行")
        await page.wait_for_function(
            "deck.frame && deck.frame.state === 'weighed' && deck.frame.stable", timeout=20_000
        )
        assert float(await page.inner_text("#deck-weight")) == pytest.approx(48_600, abs=60)
        line = await page.inner_text("#deck-line")
        assert "stable" in line and "fully on the deck" in line, line
        assert "晋A12345" in await page.inner_text("#deck-state")
        # The chart: the truck's weight in the plotted data, and the line drawn on the canvas.
        assert await page.evaluate("Math.max(...deck.kg.filter((v) => v !== null))") > 45_000
        count = _COUNT_COLOUR.replace("#waveform canvas", "#deck-chart canvas")
        await page.wait_for_timeout(600)  # the next draw
        assert await page.evaluate(count, list(PLATFORM_1)) > 200
        await asyncio.wait_for(rig.close(), 20)
