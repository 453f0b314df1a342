"""The admin installs the app from the sandbox portal page in headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from playwright.sync_api import Browser, Route, expect

import oauth
from app import create_app
from sandbox import data
from tests.install.live import LiveApp, eventually, serve

pytestmark = pytest.mark.browser


def test_admin_installs_from_the_portal_page(
    chromium: Browser, live_app: LiveApp, sandbox: Any, redis_db: redis.Redis
):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        assert sandbox.install_state == "pending"  # added to the portal, installer not run yet
        page.goto(f"{sandbox.portal_url}/?user={data.ADMIN}")

        # The installer page calls BX24.installFinish() inside BX24.init; the portal then
        # marks the app installed and sends ONAPPINSTALL to the handler the installer bound.
        eventually(lambda: sandbox.install_state == "installed")
        eventually(lambda: any(d.event == "ONAPPINSTALL" for d in sandbox.events_delivered))
        assert [(d.event, d.status) for d in sandbox.events_delivered] == [("ONAPPINSTALL", 200)]
        with live_app.app.app_context():
            portal = oauth.store().get_portal(sandbox.member_id)
        assert portal.status == "active"
        assert portal.application_token == sandbox.application_token
        # The portal then opens the app's own page. Waiting for it through Playwright also
        # hands over the page errors so far: its sync API delivers events only inside its calls.
        expect(page.frame_locator("#app-frame").locator("#fs-status")).not_to_be_empty(timeout=15_000)
        assert errors == []
    finally:
        context.close()


#: the BX24 library as the README's default loads it: scheme-relative, so over http from an http page
DEFAULT_SDK = "//api.bitrix24.com/api/v1/"

#: reports every Content-Security-Policy violation in any frame to the console
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


@pytest.fixture
def default_sdk_app(sandbox_config: dict, sandbox: Any) -> Iterator[LiveApp]:
    """The app as a new user first runs it: ``B24_ALLOW_HTTP=1`` and the default ``B24_JS_SDK_URL``."""
    config = {key: value for key, value in sandbox_config.items() if key != "B24_JS_SDK_URL"}
    assert create_app(config).config["B24_JS_SDK_URL"] == DEFAULT_SDK
    with serve(create_app(config), sandbox) as live:
        yield live


def test_the_default_bx24_library_loads_over_http_and_the_installer_finishes(
    chromium: Browser, default_sdk_app: LiveApp, sandbox: Any
):
    # Issue 15.2: the CSP allowed https://api.bitrix24.com only; the page, served over http,
    # loads the library from http://api.bitrix24.com/api/v1/, which the browser blocked, and
    # the installer stayed on "Finishing the installation…" for ever.
    bx24 = requests.get(f"{sandbox.portal_url}/bx24.js", timeout=10).text  # no network here: a stand-in
    loaded: list[str] = []
    console: list[str] = []
    context = chromium.new_context(viewport={"width": 1280, "height": 900})

    def fulfill(route: Route) -> None:
        loaded.append(route.request.url)
        route.fulfill(status=200, content_type="text/javascript", body=bx24)

    context.route("http://api.bitrix24.com/api/v1/", fulfill)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.on("console", lambda message: console.append(message.text))
    try:
        page.goto(f"{sandbox.portal_url}/?user={data.ADMIN}")
        # Once BX24.installFinish() ran, the portal opens the app's own page, which loads the
        # library the same way. Waited for through Playwright: its sync API runs the route
        # handler above only inside its own calls, and a sleeping loop here starved it (the
        # installer page then waited for its library for ever, seen once in CI).
        frame = page.frame_locator("#app-frame")
        expect(frame.locator("#fs-status")).not_to_be_empty(timeout=15_000)
        assert sandbox.install_state == "installed"
        assert len(loaded) == 2  # the installer's page, then the app's own
    finally:
        context.close()
    assert set(loaded) == {"http://api.bitrix24.com/api/v1/"}
    assert [text for text in console if "Content Security Policy" in text or "CSP" in text] == []
