"""Many workers, one refresh: 4 gunicorn workers, 100 concurrent requests, strict rotation."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from app import create_app
from sandbox import data
from services import frame_session
from tests.install.live import CLIENT_ID, CLIENT_SECRET, run_installer

pytestmark = pytest.mark.gunicorn

ACCESS_TTL = 5  # seconds: every token in this test expires within the test
SECRET_KEY = "gunicorn-refresh-test-secret-key-0123456789"


def test_one_refresh_grant_for_100_concurrent_requests_across_4_workers(
    gunicorn_app: Any, sandbox: Any, app_config: dict
):
    sandbox.settings.access_ttl = ACCESS_TTL
    sandbox.settings.rate_limit = None
    assert sandbox.settings.strict_rotation
    env = {
        "SECRET_KEY": SECRET_KEY,
        "B24_CLIENT_ID": CLIENT_ID,
        "B24_CLIENT_SECRET": CLIENT_SECRET,
        "B24_OAUTH_SERVERS": sandbox.auth_url,
        "B24_ALLOW_HTTP": "1",
        "B24_JS_SDK_URL": f"{sandbox.portal_url}/bx24.js",
        "B24_RATE_LIMIT": "10000/1000",
    }
    server = gunicorn_app(env, workers=4)
    sandbox.register_app(
        CLIENT_ID,
        CLIENT_SECRET,
        app_url=f"{server.url}/",
        installer_url=f"{server.url}/install",
        redirect_uri=f"{server.url}/oauth/callback",
    )
    assert run_installer(sandbox).status_code == 200
    assert [d.status for d in sandbox.finish_install()] == [200]

    # The page's frame session for the admin, signed with the servers' SECRET_KEY.
    with create_app({**app_config, "SECRET_KEY": SECRET_KEY}).test_request_context():
        session = frame_session.issue(
            frame_session.FrameSession(
                member_id=sandbox.member_id,
                user_id=data.ADMIN,
                app_sid="0" * 32,
                domain=sandbox.domain,
                portal_origin=sandbox.portal_url,
                lang="en",
                is_admin=True,
            )
        )
    time.sleep(ACCESS_TTL + 0.2)  # every stored access token has now expired
    sandbox.reset_counters()

    def list_flows(_: int) -> int:
        answer = requests.get(f"{server.url}/api/flows", headers={frame_session.HEADER: session}, timeout=30)
        return answer.status_code

    with ThreadPoolExecutor(100) as pool:
        statuses = list(pool.map(list_flows, range(100)))

    assert statuses == [200] * 100, server.log()[-3000:]
    assert sandbox.refresh_grants == 1
    # ... and no refused attempts either: each refresh opens its own connection to the
    # authorization server, and nothing else talks to it during the burst.
    assert sandbox.auth_connections_opened == 1
