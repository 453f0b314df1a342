"""Attacks the adversarial review tried and the app withstood (issue 12): kept as regressions.

Each sends the attack against the sandbox portal and a real Redis and checks that nothing
leaks, nothing is written (the guard caches aside) and no foreign host is contacted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import redis
import requests
from itsdangerous import URLSafeSerializer

from sandbox import data
from tests.flows.conftest import page_data
from tests.install.live import Attacker, LiveApp, app_state, left_behind


def _frame(sandbox: Any, user_id: int = data.MEMBER) -> tuple[dict[str, str], dict[str, str]]:
    url, form = sandbox.frame_post(user_id)
    return dict(parse_qsl(urlsplit(url).query)), form


def test_a_session_altered_to_name_another_portal_or_user_is_refused(
    installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis
):
    url, form = installed_portal.frame_post(data.MEMBER)
    session = page_data(requests.post(url, data=form, timeout=10).text)["session"]
    payload, stamp, signature = session.rsplit(".", 2)  # payload.timestamp.signature
    codec = URLSafeSerializer("")  # encodes payloads as itsdangerous does; signs nothing here
    claims = codec.load_payload(payload.encode())
    before = app_state(redis_db)
    for change in ({"member_id": "f" * 32}, {"user_id": data.ADMIN}, {"is_admin": True}):
        forged = codec.dump_payload({**claims, **change}).decode()
        answer = requests.get(
            f"{live_app.url}/api/flows", headers={"X-Frame-Session": f"{forged}.{stamp}.{signature}"}, timeout=10
        )
        assert answer.status_code == 401 and answer.json()["error"] == "session_expired", change
    assert app_state(redis_db) == before


@pytest.mark.parametrize(
    "member_id", ["x}:portal", "*", "a:b", "{other}", "m" * 65, "../x", "x\r\nSET", "ü" * 8, ""]
)
def test_a_member_id_that_could_reach_other_keys_is_refused_before_any_key(
    installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis, attacker: Attacker, member_id: str
):
    query, form = _frame(installed_portal)
    before = app_state(redis_db)
    for path in ("/", "/install"):
        answer = requests.post(
            f"{live_app.url}{path}?{urlencode(query)}", data={**form, "member_id": member_id}, timeout=10
        )
        assert answer.status_code == 403, (path, answer.text[:200])
    event = [("event", "ONAPPUNINSTALL"), ("auth[member_id]", member_id), ("auth[application_token]", "x")]
    assert requests.post(f"{live_app.url}/events", data=event, timeout=10).status_code == 403
    assert app_state(redis_db) == before
    assert [key for key in redis_db.scan_iter("*") if member_id and member_id in key] == []


def _bypasses(allowed: str, attacker: str) -> list[str]:
    """Spellings of an authorization server that look like the allowed one but are not."""
    host = urlsplit(allowed).netloc
    evil = urlsplit(attacker).netloc
    return [
        f"{attacker}/rest/",
        f"{allowed}.{evil}/rest/",
        f"http://{host}@{evil}/rest/",
        f"{attacker}/{allowed}/rest/",
        f"{attacker}/rest/?{allowed}",
        f"{attacker}#{allowed}",
        f"//{host}/rest/",
        f"{allowed.upper()}.{evil}/rest/",
        f"{allowed}%2e{evil}/rest/",
        f" {attacker}/rest/",
        f"{allowed}\\@{evil}/rest/",
    ]


def test_allow_list_bypass_spellings_reach_no_other_host(
    installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis, attacker: Attacker
):
    query, form = _frame(installed_portal)
    before = app_state(redis_db)
    for endpoint in _bypasses(installed_portal.auth_url, attacker.url):
        answer = requests.post(
            f"{live_app.url}/?{urlencode(query)}", data={**form, "SERVER_ENDPOINT": endpoint}, timeout=10
        )
        assert answer.status_code == 403, endpoint
    assert attacker.requests == []
    assert app_state(redis_db) == before


def test_replays_after_uninstall_bring_nothing_back(installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis):
    sandbox = installed_portal
    frame = sandbox.frame_post(data.ADMIN)
    install_event = next(d for d in sandbox.events_delivered if d.event == "ONAPPINSTALL")
    assert [d.status for d in sandbox.uninstall()] == [200]
    assert not left_behind(redis_db, sandbox.member_id)  # but the tombstone
    # The frame POST, the install event and the uninstall event, sent again as they were.
    assert requests.post(frame[0], data=frame[1], timeout=10).status_code == 403
    assert requests.post(install_event.url, data=install_event.payload, timeout=10).status_code == 403
    uninstall_event = next(d for d in sandbox.events_delivered if d.event == "ONAPPUNINSTALL")
    assert requests.post(uninstall_event.url, data=uninstall_event.payload, timeout=10).status_code == 403
    assert [key for key in left_behind(redis_db, sandbox.member_id) if ":refused:" not in key] == []
