"""Bitrix24's events come through a queue: late, out of order, lost, twice (issue 15.5).

The sandbox holds, reorders and drops them on request (``hold_events``, ``release_events``,
``drop_next``). Whatever the order, the portal's record must end with the installation's
current ``application_token``, so the genuine uninstall is recognised, and nothing may bring
a portal back after its uninstall.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

import redis
import requests

import oauth
from oauth.store import STATUS_ACTIVE, Portal
from sandbox import data
from services import discovery, uninstall
from tests.install.live import LiveApp, eventually, left_behind, run_installer


def record(live_app: LiveApp, sandbox: Any) -> Portal | None:
    with live_app.app.app_context():
        return oauth.store().get_portal(sandbox.member_id)


def only_the_tombstone(r: redis.Redis, sandbox: Any) -> bool:
    return not left_behind(r, sandbox.member_id) and bool(r.exists(uninstall.tombstone_key(sandbox.member_id)))


def open_app(sandbox: Any, user_id: int) -> requests.Response:
    url, form = sandbox.frame_post(user_id)
    return requests.post(url, data=form, timeout=10)


def installer_ran(sandbox: Any, r: redis.Redis) -> None:
    """The admin's installer page ran (its discovery run is over); installFinish is next."""
    assert run_installer(sandbox).status_code == 200
    eventually(lambda: not r.exists(discovery.lock_key(sandbox.member_id)))


def test_with_the_install_event_lost_the_genuine_uninstall_still_removes_everything(
    live_app: LiveApp, sandbox: Any, redis_db: redis.Redis
) -> None:
    # Before: users could open and switch, but the uninstall was refused with 403 and the
    # portal's keys stayed for ever (no application_token to recognise it by).
    sandbox.drop_next("ONAPPINSTALL")
    installer_ran(sandbox, redis_db)
    assert [d.dropped for d in sandbox.finish_install()] == [True]
    assert open_app(sandbox, data.OWNER).status_code == 200
    assert record(live_app, sandbox).application_token == sandbox.application_token  # from the installer

    assert [d.status for d in sandbox.uninstall()] == [200]
    assert only_the_tombstone(redis_db, sandbox)


def test_an_administrators_page_open_completes_a_record_that_lost_its_token(
    live_app: LiveApp, sandbox: Any, redis_db: redis.Redis
) -> None:
    installer_ran(sandbox, redis_db)
    sandbox.finish_install()
    redis_db.delete(f"fs:{{{sandbox.member_id}}}:portal")  # e.g. restored from a backup without it
    assert open_app(sandbox, data.MEMBER).status_code == 200
    assert record(live_app, sandbox) is None  # every user sees APPLICATION_TOKEN: not from a member

    assert open_app(sandbox, data.ADMIN).status_code == 200  # Bitrix24's user.admin says yes
    completed = record(live_app, sandbox)
    assert (completed.status, completed.application_token) == (STATUS_ACTIVE, sandbox.application_token)
    assert [d.status for d in sandbox.uninstall()] == [200]
    assert only_the_tombstone(redis_db, sandbox)


def test_an_install_event_overtaken_by_an_update_keeps_the_updates_token(
    live_app: LiveApp, sandbox: Any, redis_db: redis.Redis
) -> None:
    sandbox.hold_events()
    installer_ran(sandbox, redis_db)
    sandbox.finish_install()
    sandbox.update_app()  # a new application_token; the new version's installer runs next
    installer_ran(sandbox, redis_db)
    sandbox.finish_install()
    assert [event for event, _ in sandbox.held_events] == ["ONAPPINSTALL", "ONAPPUPDATE", "ONAPPINSTALL"]
    # The first install event comes last, with the first version's token.
    assert [d.status for d in sandbox.release_events(order=[1, 2, 0])] == [200, 200, 200]
    assert record(live_app, sandbox).application_token == sandbox.application_token  # the update's

    assert [d.status for d in sandbox.uninstall()] == [200]
    assert only_the_tombstone(redis_db, sandbox)


def test_duplicates_are_harmless(live_app: LiveApp, sandbox: Any, redis_db: redis.Redis) -> None:
    sandbox.hold_events()
    installer_ran(sandbox, redis_db)
    sandbox.finish_install()
    twice = sandbox.release_events(order=[0, 0])
    assert [d.status for d in twice] == [200, 200]
    assert record(live_app, sandbox).status == STATUS_ACTIVE

    sandbox.hold_events()
    sandbox.uninstall()
    assert [d.status for d in sandbox.release_events(order=[0, 0])] == [200, 403]  # gone already
    assert only_the_tombstone(redis_db, sandbox)


def test_a_late_install_event_does_not_bring_an_uninstalled_portal_back(
    live_app: LiveApp, sandbox: Any, redis_db: redis.Redis
) -> None:
    sandbox.drop_next("ONAPPINSTALL")  # "dropped" here: we deliver it ourselves, late
    installer_ran(sandbox, redis_db)
    late = sandbox.finish_install()[0]
    assert [d.status for d in sandbox.uninstall()] == [200]
    # The late event's token was revoked with the app, so app.info would refuse it; a
    # verification that raced the uninstall (cached just after the delete) must not be
    # enough either. This is the cache entry such a verification leaves.
    with live_app.app.app_context():
        verified = oauth.verifier().parse(sandbox.auth_url, _app_info_of(sandbox))
    token = late.form["auth[access_token]"]
    digest = hashlib.sha256(token.encode()).hexdigest()
    redis_db.set(f"fs:{{{sandbox.member_id}}}:verified:{digest}", json.dumps(asdict(verified)), ex=60)

    answer = requests.post(f"{live_app.url}/events", data=late.payload, timeout=10)
    assert (answer.status_code, answer.json()) == (200, {"result": "ignored"})
    assert record(live_app, sandbox) is None

    # A new installation is not held back: its installer clears the tombstone.
    sandbox.install()
    installer_ran(sandbox, redis_db)
    assert [d.status for d in sandbox.finish_install()] == [200]
    assert record(live_app, sandbox).status == STATUS_ACTIVE
    assert not redis_db.exists(uninstall.tombstone_key(sandbox.member_id))


def _app_info_of(sandbox: Any) -> dict[str, Any]:
    """What the authorization server said of the app while it was installed (the full shape)."""
    return {
        "client_id": sandbox.app.client_id,
        "user_id": data.ADMIN,
        "install": {
            "installed": True,
            "member_id": sandbox.member_id,
            "domain": sandbox.domain,
            "uri": sandbox.portal_url,
            "client_endpoint": sandbox.client_endpoint,
        },
    }
