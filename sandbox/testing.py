"""pytest plugin (``pytest_plugins = ["sandbox.testing"]``): a fresh sandbox portal per test, and Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.server import SandboxServer

# Registered and installed by the fixture so REST calls work at once; register your own app to start over.
DEFAULT_CLIENT_ID = "local.flowswitch.test"
DEFAULT_CLIENT_SECRET = "sandbox-test-secret"
DEFAULT_APP_URL = "http://localhost:5000/"

# The system Chromium, as these machines run it (never `playwright install`).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """Portal + authorization server on free loopback ports, seeded, with an installed default app."""
    with SandboxServer() as server:
        server.register_app(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            app_url=DEFAULT_APP_URL,
            installer_url=f"{DEFAULT_APP_URL}install",
            redirect_uri=f"{DEFAULT_APP_URL}oauth/callback",
            installed=True,
        )
        yield server


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Headless system Chromium through Playwright, one per test session (a Playwright ``Browser``)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("needs /usr/bin/chromium (make system-deps)")
    from playwright.sync_api import sync_playwright  # test-only dependency

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
