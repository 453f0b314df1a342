"""Refresh that never loses a token: the sandbox's authorization server in strict rotation mode."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import redis

import oauth
from b24.errors import AuthServerUnavailable, InvalidToken, NotInstalled
from core.keys import portal_key
from oauth.tokens import rest_client_for, user_tokens
from sandbox import data
from services.frames import accept_frame_post
from tests.install.live import LiveApp, spend_refresh_token

USER = data.ADMIN


def _who_am_i(live_app: LiveApp, member_id: str) -> str:
    with live_app.app.app_context():
        return rest_client_for(member_id, USER).call("user.current").result["ID"]


def _stored_raw(redis_db: redis.Redis, member_id: str) -> str:
    return redis_db.get(portal_key(member_id, "user", USER))


def test_concurrent_callers_after_expiry_cause_one_refresh_grant(installed_portal: Any, live_app: LiveApp):
    assert installed_portal.settings.strict_rotation
    installed_portal.expire_access_tokens()
    installed_portal.reset_counters()

    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(lambda _: _who_am_i(live_app, installed_portal.member_id), range(48)))

    assert answers == [str(USER)] * 48
    assert installed_portal.refresh_grants == 1
    assert installed_portal.auth_connections_opened == 1  # no refused attempts either


def test_token_about_to_expire_is_refreshed_before_use_once(installed_portal: Any, live_app: LiveApp):
    with live_app.app.app_context():
        store = oauth.store()
        token = store.get_user(installed_portal.member_id, USER)
        store.put_user(installed_portal.member_id, USER, replace(token, expires_at=time.time() + 5))
    installed_portal.reset_counters()

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: _who_am_i(live_app, installed_portal.member_id), range(32)))

    assert answers == [str(USER)] * 32
    assert installed_portal.refresh_grants == 1
    assert installed_portal.auth_connections_opened == 1
    with live_app.app.app_context():
        assert store.get_user(installed_portal.member_id, USER).expires_at > time.time() + 3000


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_auth_server_outage_keeps_the_stored_pair_and_recovers(
    installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis, fault: str
):
    installed_portal.expire_access_tokens()
    before = _stored_raw(redis_db, installed_portal.member_id)
    installed_portal.settings.auth_fault = fault
    installed_portal.settings.auth_timeout_sleep = 4.0  # longer than the app's 3 s timeout

    with pytest.raises(AuthServerUnavailable):
        _who_am_i(live_app, installed_portal.member_id)
    assert _stored_raw(redis_db, installed_portal.member_id) == before
    assert list(redis_db.scan_iter("*:lock:refresh:*")) == []  # released, not left to time out

    installed_portal.settings.auth_fault = None
    assert _who_am_i(live_app, installed_portal.member_id) == str(USER)
    assert _stored_raw(redis_db, installed_portal.member_id) != before


def test_dead_refresh_token_is_reported_and_kept_until_a_frame_open_stores_a_new_pair(
    installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis
):
    with live_app.app.app_context():
        stored = user_tokens(installed_portal.member_id, USER).stored()
    spend_refresh_token(installed_portal, stored.refresh_token)
    before = _stored_raw(redis_db, installed_portal.member_id)

    with pytest.raises(InvalidToken):
        _who_am_i(live_app, installed_portal.member_id)
    assert _stored_raw(redis_db, installed_portal.member_id) == before

    url, form = installed_portal.frame_post(USER)  # the user opens the app again
    with live_app.app.test_request_context():
        accept_frame_post(dict(parse_qsl(urlsplit(url).query)), form)
    assert _who_am_i(live_app, installed_portal.member_id) == str(USER)


def test_app_gone_from_the_portal_marks_it_deleted(installed_portal: Any, live_app: LiveApp):
    installed_portal.inject_rest_errors("APPLICATION_NOT_FOUND", 1)
    with pytest.raises(NotInstalled):
        _who_am_i(live_app, installed_portal.member_id)
    with live_app.app.app_context():
        assert oauth.store().get_portal(installed_portal.member_id).status == "deleted"
    with pytest.raises(NotInstalled):  # no more calls with this portal's tokens
        _who_am_i(live_app, installed_portal.member_id)
    assert installed_portal.rejected("APPLICATION_NOT_FOUND") == 1
