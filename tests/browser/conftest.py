"""Headless Chromium against the sandbox portal (127.0.0.1) framing the app (localhost).

Two sites, so the app's iframe is cross-site and Chromium blocks its third-party
cookies: the page has to work without any. The app is installed the way the portal
does it (``installed_portal``), so the flows on the page are the ones discovery found.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def installed(installed_portal: Any) -> None:
    """Every test here starts from a portal with the app installed and its flows discovered."""


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh browser profile at 1280 px; any JavaScript error fails the test."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
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
