"""Tokens, refresh tokens, the client secret and application_token never reach a log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests

from sandbox import data
from tests.flows.conftest import page_data
from tests.install.live import CLIENT_SECRET, LiveApp

SWITCHABLE_FLOW = 1  # owned by Oleg Owner, Maria Member in its team


def open_page(sandbox: Any, live_app: LiveApp, user_id: int) -> dict[str, str]:
    url, form = sandbox.frame_post(user_id)
    answer = requests.post(url, data=form, timeout=10)
    assert answer.status_code == 200
    return {"X-Frame-Session": page_data(answer.text)["session"]}


def test_a_whole_life_of_the_app_logs_no_secret(
    installed_portal: Any, live_app: LiveApp, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
):
    caplog.set_level(logging.DEBUG)
    sandbox = installed_portal
    owner = open_page(sandbox, live_app, data.OWNER)
    member = open_page(sandbox, live_app, data.MEMBER)
    switch = f"{live_app.url}/api/flows/{SWITCHABLE_FLOW}"
    assert requests.put(switch, json={"active": False}, headers=owner, timeout=10).status_code == 200
    assert requests.put(switch, json={"active": True}, headers=member, timeout=10).status_code == 403
    sandbox.expire_access_tokens()  # the next calls refresh
    assert requests.get(f"{live_app.url}/api/flows", headers=owner, timeout=10).status_code == 200
    assert requests.put(switch, json={"active": True}, headers=owner, timeout=10).status_code == 200
    secrets = [
        *sandbox.world.tokens.access,
        *sandbox.world.tokens.refresh,
        sandbox.application_token,
        CLIENT_SECRET,
    ]
    assert [d.status for d in sandbox.uninstall()] == [200]

    assert len(secrets) > 8 and sandbox.refresh_grants >= 1  # the scenario did issue and refresh
    logged = caplog.text + capsys.readouterr().out
    assert "POST /api" in logged or "PUT /api" in logged or "/api/flows" in logged  # logs were captured
    leaked = [secret for secret in secrets if secret and secret in logged]
    assert leaked == []
