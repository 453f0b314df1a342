"""The flows page and its JSON API against the sandbox portal: who sees what, who may switch what."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from core.locks import lock
from sandbox import data
from sandbox.server import SandboxServer
from services import discovery, known_flows, switching
from services.flow_list import LIST
from services.flows import GET
from tests.flows.conftest import Reads, mark_discovery_fresh, open_page, redis_commands, wait_for_discovery

SUPPORT = 1  # "Support requests": owned by OWNER, MEMBER in its team
DESIGN_REVIEWS = 2  # OWNER's, no task: only an id scan or the list finds it
ARCHIVED = 5  # "Archived onboarding": OWNER's, off
BUDGET = 6  # "Budget approvals": ADMIN's, OWNER in its team


def switch(client: FlaskClient, page, flow_id: int, active: bool):
    return client.put(f"/api/flows/{flow_id}", json={"active": active}, headers=page.headers())


# --- the page --------------------------------------------------------------------------


def test_each_user_sees_exactly_the_flows_bitrix24_shows_them(
    portal_client: FlaskClient, sandbox: SandboxServer, reads: Reads
) -> None:
    seen = {
        user: open_page(portal_client, sandbox, user).data
        for user in (data.ADMIN, data.OWNER, data.MEMBER, data.OUTSIDER)
    }
    ids = {user: sorted(flow["id"] for flow in page["flows"]) for user, page in seen.items()}
    assert ids[data.ADMIN] == [1, 2, 3, 4, 5, 6]
    assert ids[data.OWNER] == [1, 2, 3, 4, 5, 6]
    assert ids[data.MEMBER] == [1, 2, 3, 4, 5]
    assert ids[data.OUTSIDER] == []
    assert seen[data.ADMIN]["isAdmin"] is True
    assert seen[data.OWNER]["isAdmin"] is False
    assert sandbox.calls(reads.method) == 4 * reads.seeded_calls  # each user asked Bitrix24


def test_a_flow_shows_name_description_state_efficiency_owner_and_link(
    portal_client: FlaskClient, sandbox: SandboxServer, reads: Reads
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    by_id = {flow["id"]: flow for flow in page.data["flows"]}
    support, archived = by_id[SUPPORT], by_id[ARCHIVED]
    assert support["name"] == "Support requests"
    assert support["description"] == "Customer tickets"
    assert support["active"] is True and archived["active"] is False
    assert support["efficiency"] == sandbox.flow(SUPPORT).efficiency
    assert support["owner"] == {"id": data.OWNER, "name": "Oleg Owner"}
    assert support["url"] == (
        f"{sandbox.portal_url}/company/personal/user/{data.OWNER}/tasks/flow/"
        f"?ID_numsel=exact&ID_from={SUPPORT}&apply_filter=Y"
    )
    assert support["mine"] is True and by_id[BUDGET]["mine"] is False
    assert by_id[2]["description"] == ""  # a flow without one (the list leaves the field out)


def test_the_page_may_be_framed_by_the_portal_only_and_sets_no_cookie(
    portal_client: FlaskClient, sandbox: SandboxServer
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    headers = page.response.headers
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["frame-ancestors"] == sandbox.portal_url
    assert f"{sandbox.portal_url}" in policy["script-src"]  # the configured BX24 library
    assert "X-Frame-Options" not in headers
    assert "Set-Cookie" not in headers
    assert f'<script src="{sandbox.portal_url}/bx24.js"></script>' in page.response.get_data(as_text=True)


def test_portal_text_is_escaped(portal_client: FlaskClient, sandbox: SandboxServer) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    html = page.response.get_data(as_text=True)
    assert data.HTML_FLOW_NAME in page.names()  # the data is intact ...
    assert "<script>alert(1)</script>" not in html  # ... and inert in the HTML
    assert "<b>Urgent</b>" not in html


@pytest.mark.parametrize(
    ("lang", "html_lang", "title"),
    [
        ("en", "en", "Task flows"),
        ("ru", "ru", "Потоки задач"),
        ("de", "de", "Aufgaben-Flows"),
        ("ua", "en", "Task flows"),
    ],
)
def test_the_page_speaks_the_portal_language(
    portal_client: FlaskClient, sandbox: SandboxServer, lang: str, html_lang: str, title: str
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER, lang=lang)
    html = page.response.get_data(as_text=True)
    assert f'<html lang="{html_lang}">' in html
    assert f'<h1 class="fs-title">{title}</h1>' in html


@pytest.mark.parametrize(
    ("listed", "first_open", "later_opens", "reads"),
    [
        # One batch of 5 list pages (200 rows, then an empty page), one for names and the admin flag.
        (True, 2, 2, {LIST: 5, GET: 0}),
        # The list asked once (absent: remembered), 4 batches of 50 gets, names and the admin flag.
        (False, 6, 5, {LIST: 0, GET: 200}),
    ],
    ids=["list", "no list"],
)
def test_opening_the_page_with_200_flows_costs_few_round_trips(
    portal_client: FlaskClient,
    sandbox: SandboxServer,
    redis_db: redis.Redis,
    listed: bool,
    first_open: int,
    later_opens: int,
    reads: dict[str, int],
) -> None:
    sandbox.settings.flow_list_method = listed
    known_flows.remember(redis_db, sandbox.member_id, sandbox.seed_many_flows(194))
    sandbox.reset_counters()
    page = open_page(portal_client, sandbox, data.OWNER)
    assert len(page.data["flows"]) == 200
    assert sandbox.rest_requests == first_open
    # Owner names are cached: the next open skips user.get (the admin flag still needs one call).
    sandbox.reset_counters()
    open_page(portal_client, sandbox, data.OWNER)
    assert sandbox.calls("user.get") == 0
    assert sandbox.rest_requests == later_opens
    assert {method: sandbox.calls(method) for method in reads} == reads


def test_a_stale_list_starts_discovery_in_the_background(
    portal_app: Flask, portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    redis_db.delete(known_flows.meta_key(sandbox.member_id), known_flows.flows_key(sandbox.member_id))
    open_page(portal_client, sandbox, data.ADMIN)  # an admin: the run uses her token
    assert redis_db.hget(known_flows.meta_key(sandbox.member_id), "started_at") is not None
    wait_for_discovery(redis_db, sandbox.member_id)
    assert known_flows.known_ids(redis_db, sandbox.member_id) == [1, 2, 3, 4, 5, 6]
    # Fresh now: the next page load starts nothing.
    mark_discovery_fresh(redis_db, sandbox.member_id)
    with portal_app.app_context():
        assert discovery.refresh_if_stale(sandbox.member_id) is False


def test_a_discovery_run_that_ends_while_the_page_reads_makes_the_page_look_again(
    portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    member = sandbox.member_id
    redis_db.srem(known_flows.flows_key(member), DESIGN_REVIEWS)
    assert lock(redis_db, discovery.lock_key(member), 60).acquire(token="a-run-under-way")

    def run_ends_meanwhile(rows: list) -> str:
        # The page has read the known ids and is asking Bitrix24: the run records flow 2 and ends.
        # (The answer is one the app cannot use, so the page shows the known ids it read.)
        known_flows.remember(redis_db, member, [DESIGN_REVIEWS])
        redis_db.delete(discovery.lock_key(member))
        return "not a list"

    sandbox.settings.flow_list_rewrite = run_ends_meanwhile
    page = open_page(portal_client, sandbox, data.OWNER)
    assert DESIGN_REVIEWS not in {flow["id"] for flow in page.data["flows"]}
    assert page.data["discovering"] is True  # so the page reloads ...

    sandbox.settings.flow_list_rewrite = None
    reloaded = portal_client.get("/api/flows", headers=page.headers()).get_json()
    assert DESIGN_REVIEWS in {flow["id"] for flow in reloaded["flows"]}  # ... and shows it
    assert reloaded["discovering"] is False


# --- switching --------------------------------------------------------------------------


def test_the_owner_switches_her_flow_off_and_on(portal_client: FlaskClient, sandbox: SandboxServer) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    sandbox.reset_counters()
    off = switch(portal_client, page, SUPPORT, False)
    assert off.status_code == 200
    assert off.get_json() == {"id": SUPPORT, "active": False, "changed": True}
    assert sandbox.flow(SUPPORT).active is False
    assert sandbox.rest_requests <= 2
    assert sandbox.calls("tasks.flow.Flow.activate") == 1

    sandbox.reset_counters()
    again = switch(portal_client, page, SUPPORT, False)
    assert again.get_json() == {"id": SUPPORT, "active": False, "changed": False}
    assert sandbox.rest_requests == 1  # already off: one read, no toggle
    assert sandbox.calls("tasks.flow.Flow.activate") == 0

    on = switch(portal_client, page, SUPPORT, True)
    assert on.get_json() == {"id": SUPPORT, "active": True, "changed": True}
    assert sandbox.flow(SUPPORT).active is True


def test_a_switch_is_three_redis_round_trips(
    portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    # The scripts go by SHA: the first call on a fresh server loads them (NOSCRIPT, SCRIPT LOAD).
    assert switch(portal_client, page, SUPPORT, False).status_code == 200
    with redis_commands(redis_db) as sent:
        assert switch(portal_client, page, SUPPORT, True).status_code == 200
    # the portal record and the user's pair (one pipeline), the admission (in-flight mark,
    # budget, lock), the release (lock, mark, the flow's cache entry, the activity log)
    assert sent == ["GET", "GET", "EVALSHA", "EVALSHA"]


def test_a_team_member_is_refused_in_her_language_and_nothing_changes(
    portal_client: FlaskClient, sandbox: SandboxServer
) -> None:
    page = open_page(portal_client, sandbox, data.MEMBER, lang="de")
    refused = switch(portal_client, page, SUPPORT, False)
    assert refused.status_code == 403
    body = refused.get_json()
    assert body["error"] == "forbidden"
    assert body["active"] is True  # the true state, for the switch to snap back to
    assert body["message"].startswith("Sie dürfen diesen Flow nicht")
    assert sandbox.flow(SUPPORT).active is True


def test_an_outsider_cannot_switch_a_flow_she_cannot_see(
    portal_client: FlaskClient, sandbox: SandboxServer
) -> None:
    page = open_page(portal_client, sandbox, data.OUTSIDER)
    refused = switch(portal_client, page, SUPPORT, False)
    assert refused.status_code == 404
    assert "active" not in refused.get_json()  # she may not even read it
    assert sandbox.flow(SUPPORT).active is True


def test_ten_concurrent_turn_off_requests_toggle_once(portal_app: Flask, sandbox: SandboxServer) -> None:
    page = open_page(portal_app.test_client(), sandbox, data.OWNER)
    sandbox.settings.latency = 0.05  # let the requests overlap for real
    sandbox.reset_counters()
    start = threading.Barrier(10)

    def turn_off(_: int):
        start.wait()
        return switch(portal_app.test_client(), page, SUPPORT, False)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(turn_off, range(10)))
    # One user has at most PER_FLOW switches of a flow in flight; the rest hear "busy, retrying".
    done = [a for a in answers if a.status_code == 200]
    assert len(done) >= 1 and len(done) <= switching.PER_FLOW
    assert all(a.status_code == 409 and a.get_json()["error"] == "busy" for a in answers if a not in done)
    assert all(a.get_json()["active"] is False for a in done)
    assert sum(a.get_json()["changed"] for a in done) == 1
    assert sandbox.calls("tasks.flow.Flow.activate") == 1
    assert sandbox.flow(SUPPORT).active is False


def test_the_api_wants_a_desired_state(portal_client: FlaskClient, sandbox: SandboxServer) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    for body in ({}, {"active": "false"}, {"active": 0}, None):
        answer = portal_client.put(f"/api/flows/{SUPPORT}", json=body, headers=page.headers())
        assert answer.status_code == 400
        assert answer.get_json()["error"] == "bad_request"
    assert sandbox.flow(SUPPORT).active is True


# --- sessions and failures ------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "not-a-session"])
def test_the_api_needs_the_frame_session(portal_client: FlaskClient, token: str | None) -> None:
    headers = {} if token is None else {"X-Frame-Session": token}
    answer = portal_client.put(f"/api/flows/{SUPPORT}", json={"active": False}, headers=headers)
    assert answer.status_code == 401
    assert answer.get_json() == {
        "error": "session_expired",
        "message": "Your session has expired; reload the app.",
    }


@pytest.mark.parametrize(
    ("code", "lang", "status", "error", "message"),
    [
        ("QUERY_LIMIT_EXCEEDED", "ru", 503, "rate_limited", "Битрикс24 занят, повторяем…"),
        (
            "invalid_token",
            "en",
            401,
            "token_dead",
            "Bitrix24 no longer accepts your sign-in. Open the app again.",
        ),
        ("INTERNAL_SERVER_ERROR", "de", 502, "portal_unreachable", "Bitrix24 ist gerade nicht erreichbar."),
        ("PAYMENT_REQUIRED", "en", 402, "payment_required", "The app's subscription has ended."),
    ],
)
def test_a_failing_portal_is_reported_in_the_users_language(
    portal_client: FlaskClient,
    sandbox: SandboxServer,
    code: str,
    lang: str,
    status: int,
    error: str,
    message: str,
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER, lang=lang)
    sandbox.inject_rest_errors(code, count=10)  # more than the client's retries
    answer = switch(portal_client, page, SUPPORT, False)
    assert answer.status_code == status
    assert answer.get_json()["error"] == error
    assert answer.get_json()["message"].startswith(message)
    assert ("Retry-After" in answer.headers) == (status == 503)
    assert "active" not in answer.get_json()  # the read failed: the state is unknown
    assert sandbox.flow(SUPPORT).active is True


def test_a_switch_that_waits_too_long_for_another_one_says_busy(
    portal_app: Flask, portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    portal_app.config["SWITCH_LOCK_WAIT"] = 0.2
    redis_db.set(switching.flow_lock_key(sandbox.member_id, SUPPORT), "another-request", px=5000)
    answer = switch(portal_client, page, SUPPORT, False)
    assert answer.status_code == 409
    assert answer.get_json()["error"] == "busy"
    assert answer.headers["Retry-After"].isdigit()
    assert sandbox.flow(SUPPORT).active is True


def test_the_page_outside_the_portal_sends_to_connect(portal_client: FlaskClient) -> None:
    answer = portal_client.get("/")
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/connect")


def test_a_transient_limit_on_a_read_is_retried(portal_client: FlaskClient, sandbox: SandboxServer) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    sandbox.inject_rest_errors("QUERY_LIMIT_EXCEEDED", count=1)
    assert switch(portal_client, page, SUPPORT, False).status_code == 200
    assert sandbox.flow(SUPPORT).active is False


def test_a_toggle_whose_answer_is_lost_reports_the_true_state(
    portal_client: FlaskClient, sandbox: SandboxServer
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    # The activate batch fails with a server error after the read: the app must not
    # repeat the toggle; it reads again and reports what Bitrix24 says.
    sandbox.inject_rest_errors("INTERNAL_SERVER_ERROR", count=1, methods=["tasks.flow.Flow.activate"])
    sandbox.reset_counters()
    answer = switch(portal_client, page, SUPPORT, False)
    body = answer.get_json()
    assert sandbox.calls("tasks.flow.Flow.activate") == 0  # the injected error ran nothing
    assert body["active"] is sandbox.flow(SUPPORT).active is True
    assert body["error"] == "portal_unreachable"


def test_an_admin_who_adds_a_flow_number_that_does_not_exist_is_told_so(
    portal_client: FlaskClient, sandbox: SandboxServer
) -> None:
    # Before: "Your Bitrix24 plan does not include flows." (an admin's refusal was taken for
    # a plan without flows). Bitrix24 says only that it shows no such flow, and so do we.
    page = open_page(portal_client, sandbox, data.ADMIN)
    answer = portal_client.post("/api/flows", json={"ref": "999"}, headers=page.headers())
    assert answer.status_code == 404
    assert answer.get_json() == {
        "error": "not_found",
        "message": "Bitrix24 shows you no flow with this number.",
        "bitrix24": "Access denied or flow not found",  # its own words, shown beside ours
    }


def test_a_refused_switch_and_an_unreadable_flow_are_told_apart_by_the_method_not_the_wording(
    portal_client: FlaskClient, sandbox: SandboxServer
) -> None:
    # Bitrix24 answers both with "error": "0" and the same text; what was refused tells them apart.
    member = open_page(portal_client, sandbox, data.MEMBER)  # may read flow 1, not switch it
    refused = switch(portal_client, member, SUPPORT, False)
    assert (refused.status_code, refused.get_json()["error"]) == (403, "forbidden")
    outsider = open_page(portal_client, sandbox, data.OUTSIDER)  # may not even read it
    unseen = switch(portal_client, outsider, SUPPORT, False)
    assert (unseen.status_code, unseen.get_json()["error"]) == (404, "not_found")
    assert "active" not in unseen.get_json()
    assert sandbox.flow(SUPPORT).active is True
