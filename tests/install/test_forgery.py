"""Forged frame POSTs and events change nothing and leak nothing.

Each case starts from an installed portal, sends one forged request, and checks: the
answer is 403, Redis is byte-for-byte unchanged, and the attacker's host (named in
the forged fields) received no request at all: neither a token nor the client secret.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import redis
import requests

from oauth.verify import REFUSALS_PER_ADDRESS
from sandbox import data
from tests.install.live import Attacker, LiveApp, app_state

Forge = Callable[[dict[str, str], dict[str, str], Attacker], None]


def _foreign_domain(query: dict[str, str], form: dict[str, str], attacker: Attacker) -> None:
    query["DOMAIN"] = urlsplit(attacker.url).netloc


def _foreign_server(query: dict[str, str], form: dict[str, str], attacker: Attacker) -> None:
    form["SERVER_ENDPOINT"] = f"{attacker.url}/rest/"


def _foreign_member(query: dict[str, str], form: dict[str, str], attacker: Attacker) -> None:
    form["member_id"] = "f" * 32


def _invalid_token(query: dict[str, str], form: dict[str, str], attacker: Attacker) -> None:
    form["AUTH_ID"] = "0" * 70


def _domain_and_server(query: dict[str, str], form: dict[str, str], attacker: Attacker) -> None:
    _foreign_domain(query, form, attacker)
    _foreign_server(query, form, attacker)


@pytest.mark.parametrize(
    "forge", [_foreign_domain, _foreign_server, _foreign_member, _invalid_token, _domain_and_server]
)
@pytest.mark.parametrize("path", ["/install", "/"])
def test_forged_frame_post_is_refused(
    installed_portal: Any,
    live_app: LiveApp,
    attacker: Attacker,
    redis_db: redis.Redis,
    forge: Forge,
    path: str,
):
    url, form = installed_portal.frame_post(data.MEMBER)
    query = dict(parse_qsl(urlsplit(url).query))
    forge(query, form, attacker)
    before = app_state(redis_db)

    answer = requests.post(f"{live_app.url}{path}?{urlencode(query)}", data=form, timeout=10)

    assert answer.status_code == 403
    assert form["AUTH_ID"] not in answer.text
    assert app_state(redis_db) == before
    assert attacker.requests == []


def _event(sandbox: Any, event: str, **auth: str) -> list[tuple[str, str]]:
    base = {
        "domain": sandbox.domain,
        "server_endpoint": sandbox.server_endpoint,
        "client_endpoint": sandbox.client_endpoint,
        "member_id": sandbox.member_id,
        "application_token": sandbox.application_token,
    }
    pairs = [("event", event), ("event_handler_id", "1"), ("ts", "1700000000")]
    return pairs + [(f"auth[{key}]", value) for key, value in {**base, **auth}.items()]


def test_uninstall_with_a_wrong_application_token_changes_nothing(
    installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis
):
    before = app_state(redis_db)
    right = installed_portal.application_token
    for wrong in ("", "0" * 32, right[:-1], right + "0", right.upper()):
        pairs = _event(installed_portal, "ONAPPUNINSTALL", application_token=wrong)
        answer = requests.post(f"{live_app.url}/events", data=pairs, timeout=10)
        assert answer.status_code == 403, wrong
        assert answer.headers["Content-Type"].startswith("application/json")
    assert app_state(redis_db) == before


def test_install_event_whose_token_app_info_does_not_confirm_changes_nothing(
    installed_portal: Any, live_app: LiveApp, attacker: Attacker, redis_db: redis.Redis
):
    member_token = installed_portal.issue_tokens(data.MEMBER)["access_token"]
    forged = [
        # a made-up token
        _event(installed_portal, "ONAPPINSTALL", access_token="1" * 70, refresh_token="2" * 70),
        # a real token of this portal, claimed for another portal
        _event(installed_portal, "ONAPPINSTALL", access_token=member_token, member_id="e" * 32),
        # a real token, sent with the attacker's authorization server
        _event(
            installed_portal,
            "ONAPPUPDATE",
            access_token=member_token,
            server_endpoint=f"{attacker.url}/rest/",
            application_token="a" * 32,
        ),
        # a real token, with the attacker's host as the portal
        _event(
            installed_portal,
            "ONAPPINSTALL",
            access_token=member_token,
            domain=urlsplit(attacker.url).netloc,
            client_endpoint=f"{attacker.url}/rest/",
        ),
    ]
    before = app_state(redis_db)
    for pairs in forged:
        answer = requests.post(f"{live_app.url}/events", data=pairs, timeout=10)
        assert answer.status_code == 403, pairs
    assert app_state(redis_db) == before
    assert attacker.requests == []


def test_install_events_from_a_user_who_is_not_an_admin_change_nothing(
    installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis
):
    # A team member's token is real and app.info confirms it: only the admin check stops it.
    member = installed_portal.issue_tokens(data.MEMBER)
    before = app_state(redis_db)
    for event in ("ONAPPINSTALL", "ONAPPUPDATE"):
        pairs = _event(
            installed_portal,
            event,
            access_token=member["access_token"],
            refresh_token=member["refresh_token"],
            application_token="a" * 32,
        )
        answer = requests.post(f"{live_app.url}/events", data=pairs, timeout=10)
        assert answer.status_code == 403, event
    assert app_state(redis_db) == before


def test_forged_frame_posts_cannot_make_the_app_call_the_authorization_server_at_will(
    installed_portal: Any, live_app: LiveApp
):
    # Before: 50 forged POSTs made 50 app.info calls in 0.2 s, and refusals were not remembered.
    url, form = installed_portal.frame_post(data.MEMBER)
    installed_portal.reset_counters()
    same = {**form, "AUTH_ID": "1" * 70}
    for _ in range(5):  # one token, refused once: the refusal is remembered
        assert requests.post(url, data=same, timeout=10).status_code == 403
    assert installed_portal.app_info_checks == 1
    answers = [
        requests.post(url, data={**form, "AUTH_ID": f"{n:070d}"}, timeout=10).status_code for n in range(50)
    ]
    # One address gets REFUSALS_PER_ADDRESS failed verifications a minute, then 429 without a call.
    assert installed_portal.app_info_checks <= REFUSALS_PER_ADDRESS
    assert answers.count(429) >= 50 - REFUSALS_PER_ADDRESS
    assert set(answers) == {403, 429}
