"""Many flows at once (``POST /api/flows/bulk``) against the sandbox portal, with a real Redis."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from b24.operating import blocks_key
from b24.ratelimit import bucket_key
from sandbox import data
from sandbox.server import SandboxServer
from services import bulk, known_flows, switching
from services.flows import ACTIVATE
from tests.flows.conftest import SEEDED_FLOWS, Page, mark_discovery_fresh, open_page, portal_settings
from tests.flows.test_flows_page import switch

BUDGET = 6  # ADMIN's flow; OWNER is in its team (may read it, not switch it)
ARCHIVED = 5  # OWNER's, off


def pause(client: FlaskClient, page: Page, ids: list[int], active: bool = False):
    return client.post("/api/flows/bulk", json={"ids": ids, "active": active}, headers=page.headers())


@pytest.fixture
def roomy_app(app_config: dict, sandbox: SandboxServer, redis_db: redis.Redis) -> Flask:
    """No rate limit on either side: these tests count round trips, not the budget."""
    sandbox.settings.rate_limit = None
    app = create_app({**portal_settings(app_config, sandbox), "B24_RATE_LIMIT": "10000/1000"})
    known_flows.remember(redis_db, sandbox.member_id, SEEDED_FLOWS)
    mark_discovery_fresh(redis_db, sandbox.member_id)
    return app


@pytest.fixture
def owner(roomy_app: Flask, sandbox: SandboxServer) -> tuple[FlaskClient, Page]:
    """Oleg's page on the roomy app, the portal's counters at zero."""
    client = roomy_app.test_client()
    page = open_page(client, sandbox, data.OWNER)
    sandbox.reset_counters()
    return client, page


def seed(sandbox: SandboxServer, r: redis.Redis, total: int) -> list[int]:
    """More of OWNER's flows (all on), known to the app, up to ``total`` flows in the portal."""
    known_flows.remember(r, sandbox.member_id, sandbox.seed_many_flows(total - len(SEEDED_FLOWS)))
    return sorted(known_flows.known_ids(r, sandbox.member_id))


def test_25_flows_are_paused_in_two_portal_round_trips(
    roomy_app: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    client = roomy_app.test_client()
    ids = seed(sandbox, redis_db, 25)
    page = open_page(client, sandbox, data.ADMIN)  # a portal admin may switch every flow
    sandbox.reset_counters()
    answer = pause(client, page, ids)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert sandbox.rest_requests == 2  # the reads in one batch, the 24 activates and re-reads in another
    assert sandbox.calls("tasks.flow.Flow.activate") == 24  # flow 5 was off already
    assert body["counts"] == {"changed": 24, "already": 1, "refused": 0, "failed": 0}
    assert body["summary"] == "24 paused, 1 was already paused"
    assert all(sandbox.flow(flow_id).active is False for flow_id in ids)
    assert [result["id"] for result in body["results"]] == ids
    assert all(result["active"] is False for result in body["results"])


@pytest.mark.parametrize(("total", "requests"), [(100, 2 + 4), (500, 10 + 20)])
def test_reads_go_50_a_batch_and_activates_25(
    roomy_app: Flask, sandbox: SandboxServer, redis_db: redis.Redis, total: int, requests: int
) -> None:
    client = roomy_app.test_client()
    ids = seed(sandbox, redis_db, total)
    page = open_page(client, sandbox, data.ADMIN)
    sandbox.reset_counters()
    body = pause(client, page, ids).get_json()
    assert body["counts"]["changed"] == total - 1
    assert sandbox.rest_requests == requests
    assert Counter(change.flow_id for change in sandbox.flow_changes()) == Counter(set(ids) - {ARCHIVED})


def test_each_flow_ends_as_asked_or_shows_the_refusal(
    portal_client: FlaskClient, sandbox: SandboxServer
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER, lang="de")
    answer = pause(portal_client, page, [1, 2, 3, 4, ARCHIVED, BUDGET])
    body = answer.get_json()
    by_id = {result["id"]: result for result in body["results"]}
    assert body["counts"] == {"changed": 4, "already": 1, "refused": 1, "failed": 0}
    assert body["summary"] == "4 pausiert, 1 abgelehnt, 1 war schon pausiert"
    assert by_id[1] == {"id": 1, "active": False, "changed": True}
    assert by_id[ARCHIVED] == {"id": ARCHIVED, "active": False, "changed": False}
    refused = by_id[BUDGET]
    assert refused["error"] == "forbidden" and refused["active"] is True and refused["changed"] is False
    assert refused["message"].startswith("Sie dürfen diesen Flow nicht")
    assert refused["bitrix24"]  # Bitrix24's own text, in the portal's language
    assert sandbox.flow(BUDGET).active is True


def test_a_flow_the_user_cannot_see_is_reported_not_switched(
    portal_client: FlaskClient, sandbox: SandboxServer
) -> None:
    page = open_page(portal_client, sandbox, data.MEMBER)  # reads 1-5, not 6
    sandbox.reset_counters()
    body = pause(portal_client, page, [BUDGET, 1]).get_json()
    by_id = {result["id"]: result for result in body["results"]}
    assert by_id[BUDGET]["error"] == "not_found" and "active" not in by_id[BUDGET]  # never read: no state
    assert by_id[1]["error"] == "forbidden"  # she may read it, not switch it
    assert body["summary"] == "1 refused, 1 could not be switched"
    assert sandbox.calls("tasks.flow.Flow.activate") == 1  # never for the flow she cannot read


def test_more_than_500_flows_is_a_clear_400_and_asks_the_portal_nothing(
    roomy_app: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    portal_client = roomy_app.test_client()
    page = open_page(portal_client, sandbox, data.ADMIN)
    before = sorted(redis_db.keys("*"))
    sandbox.reset_counters()
    answer = pause(portal_client, page, list(range(1, bulk.MAX_FLOWS + 2)))
    assert answer.status_code == 400
    assert answer.get_json() == {
        "error": "too_many_flows",
        "message": f"Select at most {bulk.MAX_FLOWS} flows at a time; narrow the search and try again.",
    }
    assert sandbox.rest_requests == 0
    assert sorted(redis_db.keys("*")) == before
    assert pause(portal_client, page, list(range(1, bulk.MAX_FLOWS + 1))).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ids": [1, 2]},
        {"ids": [], "active": False},
        {"ids": "1,2", "active": False},
        {"ids": [1, "2"], "active": False},
        {"ids": [1, True], "active": False},
        {"ids": [0], "active": False},
        {"ids": [2**31], "active": False},
        {"ids": [1], "active": "false"},
        [1, 2],
        None,
    ],
)
def test_a_malformed_bulk_is_a_400(portal_client: FlaskClient, sandbox: SandboxServer, body: object) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    answer = portal_client.post("/api/flows/bulk", json=body, headers=page.headers())
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "bad_request"
    assert sandbox.flow(1).active is True


def test_a_rate_limited_activate_is_never_sent_again(owner: tuple[FlaskClient, Page], sandbox: SandboxServer) -> None:
    client, page = owner
    sandbox.inject_rest_errors("OPERATION_TIME_LIMIT", 2, methods=["tasks.flow.Flow.activate"], per_call=True)
    body = pause(client, page, [1, 2, 3, 4]).get_json()
    failed = [result for result in body["results"] if "error" in result]
    assert [result["error"] for result in failed] == ["rate_limited", "rate_limited"]
    assert all(result["active"] is True for result in failed)  # as Bitrix24 reported them after
    assert body["summary"] == "2 paused, 2 could not be switched"
    assert sandbox.rest_requests == 2  # nothing repeated behind the user's back
    assert sorted(change.flow_id for change in sandbox.flow_changes()) == [3, 4]


def test_a_refused_activate_request_is_not_repeated(owner: tuple[FlaskClient, Page], sandbox: SandboxServer) -> None:
    client, page = owner
    # The whole batch of activates refused (the portal's limit): none ran, none is sent again.
    sandbox.inject_rest_errors("QUERY_LIMIT_EXCEEDED", 1, methods=["tasks.flow.Flow.activate"])
    body = pause(client, page, [1, 2]).get_json()
    assert [result["error"] for result in body["results"]] == ["rate_limited", "rate_limited"]
    assert [result["active"] for result in body["results"]] == [True, True]
    assert sandbox.rest_requests == 2 and sandbox.flow_changes() == []


def test_a_lost_answer_is_judged_by_reading_the_flows_again(owner: tuple[FlaskClient, Page], sandbox: SandboxServer) -> None:
    client, page = owner
    sandbox.inject_rest_errors("INTERNAL_SERVER_ERROR", 1, methods=["tasks.flow.Flow.activate"])
    body = pause(client, page, [1, 2]).get_json()
    assert [result["error"] for result in body["results"]] == ["portal_unreachable"] * 2
    assert [result["active"] for result in body["results"]] == [True, True]  # what Bitrix24 says now
    assert sandbox.rest_requests == 3  # read, the activates (lost), read again; no toggle repeated
    assert sandbox.calls("tasks.flow.Flow.activate") == 0


def test_a_flow_held_by_another_switch_is_busy_and_the_rest_go_through(
    portal_app: Flask, portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    portal_app.config["SWITCH_LOCK_WAIT"] = 0.2
    held = switching.flow_lock_key(sandbox.member_id, 3)
    redis_db.set(held, "another-request", px=5000)
    body = pause(portal_client, page, [1, 2, 3, 4]).get_json()
    by_id = {result["id"]: result for result in body["results"]}
    assert by_id[3]["error"] == "busy" and sandbox.flow(3).active is True
    assert [by_id[flow_id]["active"] for flow_id in (1, 2, 4)] == [False, False, False]
    assert redis_db.get(held) == "another-request"  # never released by someone else
    assert redis_db.keys(f"fs:{{{sandbox.member_id}}}:lock:flow:*") == [held]


def test_a_bulk_counts_as_one_switch_in_flight(
    portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    marks = switching.in_flight_key(sandbox.member_id, data.OWNER)
    forever = "9" * 13
    redis_db.hset(marks, mapping={f"{n}0:x": forever for n in range(1, switching.PER_USER)})
    assert pause(portal_client, page, [1, 2]).status_code == 200  # the sixth in flight: one mark
    redis_db.delete(marks)
    redis_db.hset(marks, mapping={f"bulk:{n}": forever for n in range(switching.PER_FLOW)})
    answer = pause(portal_client, page, [3])
    assert answer.status_code == 409 and answer.get_json()["error"] == "busy"
    assert switch(portal_client, page, 3, False).status_code == 200  # single switches still go


def test_budget_left_unused_goes_back_to_the_portals_bucket(
    portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    redis_db.delete(bucket_key(sandbox.member_id))
    body = pause(portal_client, page, [1, 2, 3, 4], active=True).get_json()  # all on already
    assert body["summary"] == "4 were already on"
    level = float(redis_db.hget(bucket_key(sandbox.member_id), "level"))
    share = float(redis_db.hget(bucket_key(sandbox.member_id), f"u:{data.OWNER}").split()[0])
    # Two slots were taken up front (the read, and the activates that were not needed); one went back.
    assert level <= 1.0 and share <= 1.0


def test_bulks_and_single_switches_at_once_toggle_each_flow_once_without_deadlock(
    portal_app: Flask, sandbox: SandboxServer
) -> None:
    admin = open_page(portal_app.test_client(), sandbox, data.ADMIN)
    owner = open_page(portal_app.test_client(), sandbox, data.OWNER)
    sandbox.settings.latency = 0.05  # the locks are held for real while the others arrive
    sandbox.reset_counters()
    start = threading.Barrier(4)

    def run(job):
        start.wait()
        return job(portal_app.test_client())

    jobs = [
        lambda c: pause(c, admin, [1, 2, 3, 4, 6]),
        lambda c: pause(c, owner, [4, 3, 2, 1]),  # another order: the server sorts
        lambda c: switch(c, owner, 3, False),
        lambda c: switch(c, admin, 1, False),
    ]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(run, jobs))
    assert all(answer.status_code == 200 for answer in answers), [a.get_json() for a in answers]
    assert Counter(change.flow_id for change in sandbox.flow_changes()) == {1: 1, 2: 1, 3: 1, 4: 1, 6: 1}
    assert all(sandbox.flow(flow_id).active is False for flow_id in (1, 2, 3, 4, 6))


def test_a_bulk_while_activate_is_blocked_is_told_busy_at_once(
    portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    # Bitrix24 refused activate for its operating time a moment ago: the window holds for a minute.
    seconds, micros = redis_db.time()
    redis_db.hset(blocks_key(sandbox.member_id), ACTIVATE, str((seconds + 60) * 1_000_000 + micros))
    sandbox.reset_counters()
    answer = pause(portal_client, page, [1, 2])
    assert answer.status_code == 503 and answer.get_json()["error"] == "rate_limited"
    assert sandbox.rest_requests == 0  # nothing sent that Bitrix24 would refuse
    assert redis_db.keys(f"fs:{{{sandbox.member_id}}}:activity*") == []  # nothing was tried
