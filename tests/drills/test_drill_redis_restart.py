"""Drill: Redis (append-only persistence on) goes away under a running gunicorn and comes back.

During the outage every request gets a clear 503, never a traceback; afterwards the
installed portal and the users' tokens are still there and the same gunicorn, with
the same workers, serves again: no restart of the app.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from app import create_app
from core.keys import portal_key
from core.redis_server import RedisServer
from sandbox import data
from sandbox.server import SandboxServer
from tests.drills.conftest import (
    assert_clean_error,
    gunicorn_env,
    install_at,
    open_frame,
    stored_pair,
    worker_pids,
)
from tests.gunicorn_app import start_gunicorn
from tests.install.live import redis_dump

pytestmark = [pytest.mark.drill, pytest.mark.gunicorn]

SECRET_KEY = "redis-restart-drill-secret-key-0123456789abc"
USER = data.OWNER
FLOW = 1
#: a request during the outage must fail fast, not hang on the dead server
OUTAGE_ANSWER_WITHIN = 5.0


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    yield server
    server.stop()


def timed(send: Any) -> requests.Response:
    started = time.monotonic()
    answer = send()
    assert time.monotonic() - started < OUTAGE_ANSWER_WITHIN
    assert "Traceback" not in answer.text and 'File "' not in answer.text
    return answer


def test_redis_restart_keeps_portals_and_tokens_and_the_app_recovers(
    private_redis: RedisServer, sandbox: SandboxServer, app_config: dict, tmp_path: Path
):
    server = start_gunicorn(
        gunicorn_env(sandbox, SECRET_KEY),
        redis_url=private_redis.url,
        log_path=tmp_path / "gunicorn.log",
        workers=2,
    )
    r = redis.Redis.from_url(private_redis.url, decode_responses=True)
    try:
        install_at(sandbox, server.url, r)
        frame = open_frame(sandbox, USER)
        api = f"{server.url}/api/flows"
        assert requests.get(api, headers=frame.headers, timeout=10).status_code == 200
        before = redis_dump(r)
        assert portal_key(sandbox.member_id, "portal") in before
        assert portal_key(sandbox.member_id, "user", USER) in before
        workers = worker_pids(server.process.pid)

        private_redis.stop()  # SIGTERM: Redis writes out its append-only file and exits

        answer = timed(lambda: requests.get(api, headers=frame.headers, timeout=10))
        assert_clean_error(answer, 503, "storage_unavailable")
        answer = timed(
            lambda: requests.put(f"{api}/{FLOW}", json={"active": False}, headers=frame.headers, timeout=10)
        )
        assert_clean_error(answer, 503, "storage_unavailable")
        url, form = sandbox.frame_post(USER)
        answer = timed(lambda: requests.post(url, data=form, timeout=10))
        assert answer.status_code == 503
        assert "storage is unavailable" in answer.text
        assert timed(lambda: requests.get(f"{server.url}/readyz", timeout=10)).status_code == 503
        assert timed(lambda: requests.get(f"{server.url}/healthz", timeout=10)).status_code == 200
        assert sandbox.flow(FLOW).active  # nothing was switched blind

        private_redis.start()  # the same port and directory

        assert redis_dump(r) == before
        assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200
        answer = requests.get(api, headers=frame.headers, timeout=10)
        assert answer.status_code == 200, answer.text
        answer = requests.put(f"{api}/{FLOW}", json={"active": False}, headers=frame.headers, timeout=10)
        assert answer.json() == {"id": FLOW, "active": False, "changed": True}
        assert open_frame(sandbox, data.MEMBER).data["flows"]
        assert worker_pids(server.process.pid) == workers, server.log()[-3000:]
        # What survived is usable: it decrypts, and the portal accepts the token.
        app = create_app({**app_config, "SECRET_KEY": SECRET_KEY, "REDIS_URL": private_redis.url})
        pair = stored_pair(app, sandbox.member_id, USER)
        assert pair is not None
        who = requests.post(
            f"{sandbox.client_endpoint}user.current", data={"auth": pair.access_token}, timeout=5
        )
        assert who.json()["result"]["ID"] == str(USER)
    finally:
        server.stop()
        r.close()
