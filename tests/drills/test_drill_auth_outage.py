"""Drill: the authorization server answers 500, or not in time, while a user's token needs a refresh.

No token may be lost: the request fails with a clear 503 "try again", the stored pair
is byte for byte what it was, and once the server is back the next request succeeds
with exactly one refresh grant.
"""

from __future__ import annotations

import pytest
import redis
from flask import Flask

from sandbox import data
from sandbox.server import SandboxServer
from tests.drills.conftest import HTTP_TIMEOUT, assert_clean_error, stored_pair, stored_raw
from tests.flows.conftest import SEEDED_FLOWS, open_page

pytestmark = pytest.mark.drill

USER = data.OWNER


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_refresh_during_auth_outage_keeps_the_pair_and_recovers(
    drill_app: Flask, sandbox: SandboxServer, redis_db: redis.Redis, fault: str
):
    client = drill_app.test_client()
    page = open_page(client, sandbox, USER)
    sandbox.expire_access_tokens(USER)
    raw_before = stored_raw(redis_db, sandbox.member_id, USER)
    pair_before = stored_pair(drill_app, sandbox.member_id, USER)
    # The stored expiry still looks fresh to the app: the portal's expired_token triggers the refresh.
    sandbox.settings.auth_fault = fault
    sandbox.settings.auth_timeout_sleep = HTTP_TIMEOUT + 0.5
    sandbox.reset_counters()

    for _ in range(2):  # and again: a failed refresh leaves nothing behind that blocks the next
        answer = client.get("/api/flows?fresh=1", headers=page.headers())
        payload = assert_clean_error(answer, 503, "auth_server_unavailable")
        assert "try again" in payload["message"].lower()
        assert answer.headers.get("Retry-After")
    assert stored_raw(redis_db, sandbox.member_id, USER) == raw_before
    assert stored_pair(drill_app, sandbox.member_id, USER) == pair_before
    assert list(redis_db.scan_iter("*:lock:refresh:*")) == []
    assert sandbox.refresh_grants == 0

    sandbox.settings.auth_fault = None
    answer = client.get("/api/flows?fresh=1", headers=page.headers())
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert {flow["id"] for flow in answer.get_json()["flows"]} == set(SEEDED_FLOWS)
    assert sandbox.refresh_grants == 1
    after = stored_pair(drill_app, sandbox.member_id, USER)
    assert after is not None and after.refresh_token != pair_before.refresh_token
    # The pair the app kept is the live one: the portal accepts it.
    assert client.get("/api/flows?fresh=1", headers=page.headers()).status_code == 200
    assert sandbox.refresh_grants == 1
