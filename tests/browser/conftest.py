"""Headless Chromium against the sandbox portal (127.0.0.1) framing the app (localhost).

Two sites, so the app's iframe is cross-site and Chromium blocks its third-party
cookies: the page has to work without any.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from werkzeug.serving import make_server

from app import create_app
from sandbox.server import SandboxServer
from sandbox.testing import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from services import flows
from tests.flows.conftest import SEEDED_FLOWS, mark_discovery_fresh, portal_settings

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

pytestmark = pytest.mark.browser


@dataclass
class LiveApp:
    url: str
    app: Flask


# Module scope: one sync Playwright may run at a time, and other suites start their own.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs /usr/bin/chromium (make system-deps)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_app(app_config: dict, sandbox: SandboxServer, redis_db: redis.Redis) -> Iterator[LiveApp]:
    """The app over real HTTP on ``localhost``, registered with the sandbox as its app URL."""
    app = create_app(portal_settings(app_config, sandbox))
    flows.remember(redis_db, sandbox.member_id, SEEDED_FLOWS)
    mark_discovery_fresh(redis_db, sandbox.member_id)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://localhost:{server.server_port}"
    sandbox.register_app(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        app_url=f"{url}/",
        installer_url=f"{url}/install",
        redirect_uri=f"{url}/oauth/callback",
        installed=True,
    )
    yield LiveApp(url, app)
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser profile at 1280 px; any JavaScript error fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def console(message: ConsoleMessage) -> None:
        # Chromium also logs every non-2xx answer (a refused switch, a missing favicon):
        # those are outcomes the tests check, not script errors.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", console)
    page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    yield page
    context.close()
    assert errors == []
