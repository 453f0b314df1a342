"""The admin installs the app from the sandbox portal page in headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from playwright.sync_api import Browser

import oauth
from sandbox import data
from tests.install.live import LiveApp, eventually

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
        assert errors == []
    finally:
        context.close()
