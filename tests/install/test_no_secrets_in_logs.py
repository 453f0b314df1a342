"""Tokens, refresh tokens, the client secret and application_token never reach a log line."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
import requests

from core.gunicorn_server import GunicornApp
from sandbox import data
from tests.flows.conftest import page_data
from tests.install.live import CLIENT_SECRET, LiveApp, app_env, install_app, register_at

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


@pytest.mark.gunicorn
def test_the_access_log_holds_no_secret_even_when_a_request_puts_one_in_its_query(
    gunicorn_app: Callable[..., GunicornApp], sandbox: Any, redis_db: redis.Redis
):
    server = gunicorn_app(app_env(sandbox), workers=1)
    register_at(sandbox, server.url)
    install_app(sandbox, redis_db)
    url, form = sandbox.frame_post(data.OWNER)
    # Tokens in the query string are not taken (only DOMAIN, PROTOCOL, LANG, APP_SID are) ...
    in_query = {name: form.pop(name) for name in ("AUTH_ID", "REFRESH_ID", "APPLICATION_TOKEN")}
    answer = requests.post(f"{url}&{urlencode(in_query)}", data=form, timeout=10)
    assert answer.status_code == 403
    # ... and the OAuth callback's code is not logged either.
    code = "callback-code-that-must-not-be-logged"
    callback = requests.get(f"{server.url}/oauth/callback?code={code}&state=x", timeout=10)
    assert callback.status_code == 400
    server.stop()
    log = server.log()
    assert "/oauth/callback" in log and "POST /install" in log  # the access log was written
    leaked = [secret for secret in [*in_query.values(), code] if secret in log]
    assert leaked == []
