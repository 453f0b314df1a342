"""Many workers, one refresh: 4 gunicorn workers, 100 concurrent requests, strict rotation."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
import requests

from app import create_app
from sandbox import data
from services import frame_session
from tests.install.live import app_env, install_app, register_at

pytestmark = pytest.mark.gunicorn

ACCESS_TTL = 5  # seconds: every token in this test expires within the test
SECRET_KEY = "gunicorn-refresh-test-secret-key-0123456789"


def test_one_refresh_grant_for_100_concurrent_requests_across_4_workers(
    gunicorn_app: Any, sandbox: Any, app_config: dict, redis_db: redis.Redis
):
    sandbox.settings.access_ttl = ACCESS_TTL
    assert sandbox.settings.strict_rotation
    server = gunicorn_app({**app_env(sandbox), "SECRET_KEY": SECRET_KEY}, workers=4)
    register_at(sandbox, server.url)
    install_app(sandbox, redis_db)

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
    # The pair the refresh brings lives long, so a slow burst on a busy machine cannot
    # outlive it and cause a second, legitimate refresh.
    sandbox.settings.access_ttl = 3600
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
