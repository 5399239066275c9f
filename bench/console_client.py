"""Technicians watching the console: headless Chromium pages, logged in, streaming, until stopped.

Run by ``bench/lane_latency.py --console`` in a process of its own (a technician's browser is not the
daemon's process); also usable by hand against a running station:

    python bench/console_client.py http://127.0.0.1:8470 PASSWORD --pages 2 --seconds 60

Prints one JSON object when it ends (SIGTERM, SIGINT or --seconds): pages, waveform events received and
points drawn per page, record rows seen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
from typing import Any

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Counts the page's waveform events (the page's own EventSource), injected before its scripts run.
_COUNT_EVENTS = """
window.__waveEvents = 0;
const NativeEventSource = window.EventSource;
window.EventSource = function (url) {
  const source = new NativeEventSource(url);
  source.addEventListener('wave', () => { window.__waveEvents += 1; });
  return source;
};
"""


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    executable = os.environ.get("WEIGHLANE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        pages = []
        for _ in range(args.pages):
            context = await browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
            await context.add_init_script(_COUNT_EVENTS)
            page = await context.new_page()
            for attempt in range(600):  # the daemon may still be starting: its console comes up at READY
                try:
                    await page.goto(args.url.rstrip("/") + "/login")
                    break
                except Exception:
                    if attempt == 599:
                        raise
                    await asyncio.sleep(0.2)
            await page.fill("#password", args.password)
            await page.click("#login")
            await page.wait_for_selector("#waveform canvas", timeout=30_000)
            pages.append(page)
        print(json.dumps({"console_client": "streaming", "pages": len(pages)}), flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.seconds)
        report = []
        for page in pages:
            report.append(
                await page.evaluate(
                    "() => ({events: window.__waveEvents, points: wave.t.length,"
                    " rows: document.querySelectorAll('#records tbody tr').length})"
                )
            )
        await browser.close()
    return {"pages": len(pages), "per_page": report}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("password")
    parser.add_argument("--pages", type=int, default=1, help="consoles open at once")
    parser.add_argument("--seconds", type=float, default=24 * 3600.0, help="stop after this long")
    print(json.dumps(asyncio.run(run(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
