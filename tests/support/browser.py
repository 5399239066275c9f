"""Debian's Chromium, driven by Playwright's Python API (never `playwright install`: the system browser).

A missing Chromium or Playwright fails the test in CI (``CI=true``) and skips it elsewhere."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.support import IN_CI

__all__ = ["CHROMIUM_ARGS", "chromium_path", "launched_chromium"]

#: As the machine's notes say: no GPU, no sandbox as root, and nothing that reaches for the network.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _missing(why: str) -> None:
    if IN_CI:
        pytest.fail(f"{why}: CI runs the browser tests (scripts/install.sh installs chromium)")
    pytest.skip(why)


def chromium_path() -> str:
    path = os.environ.get("WEIGHLANE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        _missing(f"no Chromium at {path} (apt-get install chromium)")
    return path


@asynccontextmanager
async def launched_chromium() -> AsyncIterator[Any]:
    """A headless Chromium with a fresh profile (Playwright makes a new user-data-dir for each launch)."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[test]')")
    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            await browser.close()
