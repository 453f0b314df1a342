"""An update removes the app's event handlers (issue 15.4): the app binds them again.

"When deleting and updating the application, its actions will be removed" (``event.bind``
docs); the sandbox does so (``update_reinstalls``, on by default). Without the
``ONAPPUNINSTALL`` handler the genuine uninstall would never reach the app.
"""

from __future__ import annotations

from typing import Any

import redis
import requests

import oauth
from sandbox import data
from services import event_bindings
from tests.install.live import LiveApp, left_behind, run_installer


def handlers(sandbox: Any) -> list[tuple[str, str]]:
    """What ``event.get`` lists for the app, as an administrator asks it."""
    token = sandbox.issue_tokens(data.ADMIN)["access_token"]
    listed = requests.post(f"{sandbox.client_endpoint}event.get", json={"auth": token}, timeout=10).json()
    return sorted((item["event"], item["handler"]) for item in listed["result"])


def ours(live_app: LiveApp) -> list[tuple[str, str]]:
    return sorted((event, f"{live_app.url}/events") for event in event_bindings.EVENTS)


def open_app(sandbox: Any, user_id: int) -> None:
    url, form = sandbox.frame_post(user_id)
    assert requests.post(url, data=form, timeout=10).status_code == 200


def test_the_update_event_binds_the_handlers_again(
    installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis
) -> None:
    # Before: the update event was refused (403: while the new version's installer has not
    # finished, app.info says the app is not installed) and nothing was bound again.
    sandbox = installed_portal
    assert sandbox.settings.update_reinstalls
    assert [(d.event, d.status) for d in sandbox.update_app()] == [("ONAPPUPDATE", 200)]
    assert handlers(sandbox) == ours(live_app)  # before anyone opens the app
    with live_app.app.app_context():
        assert oauth.store().get_portal(sandbox.member_id).application_token == sandbox.application_token

    assert run_installer(sandbox).status_code == 200  # the new version's installer, as the portal opens it
    assert [d.status for d in sandbox.finish_install()] == [200]
    assert handlers(sandbox) == ours(live_app)  # still one of each
    assert [(d.event, d.status) for d in sandbox.uninstall()] == [("ONAPPUNINSTALL", 200)]
    assert left_behind(redis_db, sandbox.member_id) == []


def test_an_administrators_page_open_binds_missing_handlers_within_the_batch_it_sends_anyway(
    installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis
) -> None:
    sandbox = installed_portal
    checked = event_bindings.checked_key(sandbox.member_id)

    redis_db.set(checked, "1")  # checked lately: the page asks nothing more
    sandbox.reset_counters()
    open_app(sandbox, data.ADMIN)
    requests_per_open = sandbox.rest_requests
    assert sandbox.calls("event.get") == 0

    redis_db.delete(checked)  # due, nothing missing: event.get rides in the page's batch
    sandbox.reset_counters()
    open_app(sandbox, data.ADMIN)
    assert (sandbox.rest_requests, sandbox.calls("event.get"), sandbox.calls("event.bind")) == (
        requests_per_open,
        1,
        0,
    )
    assert redis_db.ttl(checked) > 0

    # The handlers are gone (an update whose event was lost, and whose installer nobody ran).
    token = sandbox.issue_tokens(data.ADMIN)["access_token"]
    for event in event_bindings.EVENTS:
        requests.post(
            f"{sandbox.client_endpoint}event.unbind",
            json={"auth": token, "event": event, "handler": f"{live_app.url}/events"},
            timeout=10,
        ).raise_for_status()
    redis_db.delete(checked)
    open_app(sandbox, data.MEMBER)  # not an administrator: nothing is bound for them
    assert handlers(sandbox) == []
    sandbox.reset_counters()
    open_app(sandbox, data.ADMIN)
    assert sandbox.rest_requests == requests_per_open + 1  # the one batch that binds them
    assert handlers(sandbox) == ours(live_app)
    sandbox.reset_counters()
    open_app(sandbox, data.ADMIN)  # checked now: not again within EVENTS_CHECK_SECONDS
    assert sandbox.calls("event.get") == 0

    assert [(d.event, d.status) for d in sandbox.uninstall()] == [("ONAPPUNINSTALL", 200)]
    assert left_behind(redis_db, sandbox.member_id) == []
