"""Install, events and uninstall against the sandbox portal and a real Redis."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import requests

import oauth
from b24.errors import NotInstalled
from oauth.tokens import rest_client_for
from sandbox import data
from services import event_bindings, uninstall
from tests.install.live import LiveApp, left_behind, redis_dump, run_installer


def _portal(live_app: LiveApp, member_id: str):
    with live_app.app.app_context():
        return oauth.store().get_portal(member_id)


def test_installer_binds_events_then_install_event_makes_the_portal_active(
    live_app: LiveApp, sandbox: Any, redis_db: redis.Redis
):
    page = run_installer(sandbox)
    assert page.status_code == 200
    assert "BX24.installFinish()" in page.text
    assert f"frame-ancestors {sandbox.portal_url}" in page.headers["Content-Security-Policy"]
    assert _portal(live_app, sandbox.member_id).status == "new"
    assert sandbox.calls("event.bind") == len(event_bindings.EVENTS)

    deliveries = sandbox.finish_install()

    assert [(d.event, d.status) for d in deliveries] == [("ONAPPINSTALL", 200)]
    portal = _portal(live_app, sandbox.member_id)
    assert portal.status == "active"
    assert portal.application_token == sandbox.application_token
    assert portal.installer_user_id == data.ADMIN
    assert portal.domain == sandbox.domain


def test_running_the_installer_again_keeps_one_binding_per_event(installed_portal: Any, live_app: LiveApp):
    installed_portal.reset_counters()
    url, form = installed_portal.frame_post(data.ADMIN)
    # Opened again after installFinish, the installer is no longer what the portal loads,
    # but the admin (or the update flow) may still run it: it must not duplicate handlers.
    again = requests.post(f"{live_app.url}/install?{url.split('?', 1)[1]}", data=form, timeout=10)
    assert again.status_code == 200
    assert _portal(live_app, installed_portal.member_id).status == "active"  # never downgraded
    bound = sorted((b.event, b.handler) for b in installed_portal.world.event_bindings)
    assert bound == sorted((event, f"{live_app.url}/events") for event in event_bindings.EVENTS)
    deliveries = installed_portal.update_app()
    assert [(d.event, d.status) for d in deliveries] == [("ONAPPUPDATE", 200)]


def test_a_repeated_install_event_is_handled_once(
    installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis
):
    before = _portal(live_app, installed_portal.member_id)
    first = installed_portal.events_delivered[-1]
    answer = requests.post(first.url, data=first.payload, timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"result": "already active"}
    assert _portal(live_app, installed_portal.member_id) == before


def test_update_event_replaces_the_application_token(installed_portal: Any, live_app: LiveApp):
    old = _portal(live_app, installed_portal.member_id).application_token
    installed_portal.update_app()
    new = _portal(live_app, installed_portal.member_id).application_token
    assert new == installed_portal.application_token != old


def test_redis_holds_no_plaintext_token_and_uninstall_leaves_no_key(
    installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis
):
    # Make the app use its stored tokens once, so refresh results are stored too.
    installed_portal.expire_access_tokens()
    with live_app.app.app_context():
        rest_client_for(installed_portal.member_id, data.ADMIN).call("user.current")
    book = installed_portal.world.tokens
    secrets = set(book.access) | set(book.refresh) | {installed_portal.application_token}
    dump = repr(redis_dump(redis_db))
    assert dump.count(f"fs:{{{installed_portal.member_id}}}:") >= 2
    assert [s for s in secrets if s in dump] == []

    deliveries = installed_portal.uninstall()

    assert [(d.event, d.status) for d in deliveries] == [("ONAPPUNINSTALL", 200)]
    assert left_behind(redis_db, installed_portal.member_id) == []
    assert [key for key in redis_db.scan_iter("*") if installed_portal.member_id in key] == [
        uninstall.tombstone_key(installed_portal.member_id)  # late install events are ignored for a while
    ]


def test_auth_server_outage_answers_503_try_again_and_changes_nothing(
    installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis
):
    event = installed_portal.events_delivered[-1]
    fresh = installed_portal.issue_tokens(data.ADMIN)["access_token"]  # not in the verification cache
    pairs = [(k, fresh if k == "auth[access_token]" else v) for k, v in event.payload]
    installed_portal.settings.auth_fault = "500"
    before = redis_dump(redis_db)

    answer = requests.post(event.url, data=pairs, timeout=10)
    url, form = installed_portal.frame_post(data.ADMIN)
    page = requests.post(url, data=form, timeout=10)

    assert answer.status_code == 503
    assert answer.json() == {
        "error": "auth_server_unavailable",
        "message": "The Bitrix24 authorization server is not answering; please try again.",
    }
    assert page.status_code == 503
    assert "please try again" in page.text
    assert redis_dump(redis_db) == before


def test_a_user_who_is_not_an_admin_cannot_run_the_installer(installed_portal: Any, live_app: LiveApp):
    before = _portal(live_app, installed_portal.member_id)
    installed_portal.reset_counters()
    url, form = installed_portal.frame_post(data.MEMBER)
    query = url.split("?", 1)[1]

    answer = requests.post(f"{live_app.url}/install?{query}", data=form, timeout=10)

    assert answer.status_code == 403
    assert _portal(live_app, installed_portal.member_id) == before
    assert installed_portal.calls("event.bind") == 0


def test_a_portal_marked_deleted_can_install_the_app_again(installed_portal: Any, live_app: LiveApp):
    # The portal says the app is gone (its uninstall event never reached us) ...
    installed_portal.inject_rest_errors("APPLICATION_NOT_FOUND", 1)
    with live_app.app.app_context(), pytest.raises(NotInstalled):
        rest_client_for(installed_portal.member_id, data.ADMIN).call("user.current")
    assert _portal(live_app, installed_portal.member_id).status == "deleted"
    # ... and the admin installs it again.
    installed_portal.register_app(
        live_app.app.config["B24_CLIENT_ID"],
        live_app.app.config["B24_CLIENT_SECRET"],
        app_url=f"{live_app.url}/",
        installer_url=f"{live_app.url}/install",
        redirect_uri=f"{live_app.url}/oauth/callback",
    )

    assert run_installer(installed_portal).status_code == 200
    assert [d.status for d in installed_portal.finish_install()] == [200]
    portal = _portal(live_app, installed_portal.member_id)
    assert (portal.status, portal.application_token) == ("active", installed_portal.application_token)
