"""Headless Chromium against the sandbox portal (127.0.0.1) framing the app (localhost).

Two sites, so the app's iframe is cross-site and Chromium blocks its third-party
cookies: the page has to work without any. The app is installed the way the portal
does it (``installed_portal``), so the flows on the page are the ones discovery found.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request

from tests.failures import failed

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def installed(installed_portal: Any) -> None:
    """Every test here starts from a portal with the app installed and its flows discovered."""


@pytest.fixture
def page(chromium: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser profile at 1280 px; any JavaScript error fails the test, and a failed
    test prints the browser's traffic (what was sent, and what came back or did not)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    traffic = Traffic(page)
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
    if failed(request):
        print(traffic)
    assert errors == []


class Traffic:
    """Every request of a page and its frames, as seen by the browser, with seconds since the start.

    A request that is sent but never answered, or never sent at all, is the one fact a server's
    log cannot show (an "Add flow" press once left no trace in CI).
    """

    def __init__(self, page: Page) -> None:
        self.started = time.monotonic()
        self.lines: list[str] = []
        page.on("request", lambda r: self._note("sent", r))
        page.on("response", lambda r: self._note(str(r.status), r.request))
        page.on("requestfailed", lambda r: self._note(f"failed ({r.failure})", r))

    def _note(self, what: str, request: Request) -> None:
        self.lines.append(f"{time.monotonic() - self.started:7.3f} {request.method} {request.url}: {what}")

    def __str__(self) -> str:
        return "--- the browser's traffic:\n" + "\n".join(self.lines)
