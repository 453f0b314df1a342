"""The list cache in Redis and the fast "busy" answer: against the sandbox portal over real HTTP."""

from __future__ import annotations

import time

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from b24.errors import RateLimited
from b24.ratelimit import PortalRateLimiter
from sandbox import data
from sandbox.server import SandboxServer
from services import discovery, known_flows
from tests.flows.conftest import Page, Reads, open_page, portal_settings, wait_for_discovery

SUPPORT = 1  # OWNER's, MEMBER in its team
BUDGET = 6  # ADMIN's: MEMBER cannot see it


def listed(client: FlaskClient, page: Page, query: str = "") -> dict:
    answer = client.get(f"/api/flows{query}", headers=page.headers())
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def ids(answer: dict) -> list[int]:
    return sorted(flow["id"] for flow in answer["flows"])


def state(answer: dict, flow_id: int) -> bool:
    return next(flow["active"] for flow in answer["flows"] if flow["id"] == flow_id)


def test_a_reload_after_the_page_open_is_served_from_redis(
    portal_client: FlaskClient, sandbox: SandboxServer
) -> None:
    before = time.time()
    page = open_page(portal_client, sandbox, data.OWNER)
    sandbox.reset_counters()

    answer = listed(portal_client, page)

    assert sandbox.rest_requests == 0
    assert answer["cached"] is True and before <= answer["cached_at"] <= time.time()
    assert answer["flows"] == page.data["flows"]  # same names, owners, links, order


def test_fresh_1_and_the_page_open_always_read_bitrix24(
    portal_client: FlaskClient, sandbox: SandboxServer, reads: Reads
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    sandbox.flow(SUPPORT).active = False  # changed in the portal itself, not through the app
    assert state(listed(portal_client, page), SUPPORT) is True  # the cache does not know yet

    sandbox.reset_counters()
    fresh = listed(portal_client, page, "?fresh=1")
    assert fresh["cached"] is False and state(fresh, SUPPORT) is False
    assert sandbox.calls(reads.method) == reads.seeded_calls

    sandbox.flow(SUPPORT).active = True
    sandbox.reset_counters()
    reopened = open_page(portal_client, sandbox, data.OWNER)
    assert sandbox.calls(reads.method) == reads.seeded_calls
    assert next(f["active"] for f in reopened.data["flows"] if f["id"] == SUPPORT) is True
    assert state(listed(portal_client, page), SUPPORT) is True  # ... and refilled the cache


def test_a_switch_by_the_owner_shows_in_the_members_next_cached_reload(
    portal_client: FlaskClient, sandbox: SandboxServer
) -> None:
    member = open_page(portal_client, sandbox, data.MEMBER)
    owner = open_page(portal_client, sandbox, data.OWNER)
    assert state(listed(portal_client, member), SUPPORT) is True

    switched = portal_client.put(f"/api/flows/{SUPPORT}", json={"active": False}, headers=owner.headers())
    assert switched.get_json() == {"id": SUPPORT, "active": False, "changed": True}
    sandbox.reset_counters()

    answer = listed(portal_client, member)
    assert sandbox.rest_requests == 0 and answer["cached"] is True
    assert state(answer, SUPPORT) is False


def test_a_flow_the_user_cannot_see_never_appears_in_their_cached_list(
    portal_client: FlaskClient, sandbox: SandboxServer
) -> None:
    member = open_page(portal_client, sandbox, data.MEMBER)
    outsider = open_page(portal_client, sandbox, data.OUTSIDER)
    open_page(portal_client, sandbox, data.ADMIN)  # BUDGET is now in the shared cache
    sandbox.reset_counters()

    assert ids(listed(portal_client, member)) == [1, 2, 3, 4, 5]
    assert listed(portal_client, outsider)["flows"] == []
    assert sandbox.rest_requests == 0


@pytest.fixture
def short_cache(app_config: dict, sandbox: SandboxServer, portal_app: Flask) -> FlaskClient:
    """The portal app (seeded flows known) with a flow cache of 0.3 s."""
    app = create_app({**portal_settings(app_config, sandbox), "FLOW_CACHE_TTL": 0.3})
    return app.test_client()


def test_after_the_ttl_the_list_is_read_again(
    short_cache: FlaskClient, sandbox: SandboxServer, reads: Reads
) -> None:
    page = open_page(short_cache, sandbox, data.OWNER)
    sandbox.flow(SUPPORT).active = False
    time.sleep(0.4)
    sandbox.reset_counters()

    answer = listed(short_cache, page)

    assert answer["cached"] is False and state(answer, SUPPORT) is False
    assert sandbox.calls(reads.method) == reads.seeded_calls


def test_flows_discovery_adds_are_listed_at_the_next_reload(
    portal_client: FlaskClient, older_portal: SandboxServer, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    new = sandbox.add_flow("Brand new", owner_id=data.OWNER)
    owner = open_page(portal_client, sandbox, data.OWNER)
    assert new not in ids(listed(portal_client, owner))

    admin = open_page(portal_client, sandbox, data.ADMIN)
    assert portal_client.post("/api/discovery", json={}, headers=admin.headers()).status_code == 202
    wait_for_discovery(redis_db, sandbox.member_id)
    assert new in known_flows.known_ids(redis_db, sandbox.member_id)

    answer = listed(portal_client, owner)
    assert answer["cached"] is False and new in ids(answer)
    assert listed(portal_client, owner)["cached"] is True  # and cached again


def test_a_flow_added_by_link_or_gone_from_bitrix24_changes_the_cached_list(
    portal_client: FlaskClient, sandbox: SandboxServer
) -> None:
    new = sandbox.add_flow("Added by hand", owner_id=data.OWNER)
    owner = open_page(portal_client, sandbox, data.OWNER)
    added = portal_client.post("/api/flows", json={"ref": str(new)}, headers=owner.headers())
    assert added.status_code == 201
    assert new in ids(listed(portal_client, owner))

    with sandbox.world.lock:
        del sandbox.world.flows[new]
    assert new not in ids(listed(portal_client, owner, "?fresh=1"))
    cached = listed(portal_client, owner)
    assert cached["cached"] is True and new not in ids(cached)


# --- failing fast when the portal's budget is spent ------------------------------------


@pytest.fixture
def tight_budget(app_config: dict, sandbox: SandboxServer, portal_app: Flask) -> Flask:
    """The portal app with a bucket of 5 (10 less the margin) drained at 2/s, waiting 0.2 s for it."""
    return create_app(
        {**portal_settings(app_config, sandbox), "B24_RATE_LIMIT": "10/2", "B24_RATE_WAIT": 0.2}
    )


def spend_budget(r: redis.Redis, member_id: str) -> None:
    bucket = PortalRateLimiter(r, member_id, burst=10, rate=2.0)
    with pytest.raises(RateLimited):
        for _ in range(20):
            bucket.acquire(timeout=0)


def test_a_user_hears_busy_at_once_when_the_budget_is_spent(
    tight_budget: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    client = tight_budget.test_client()
    page = open_page(client, sandbox, data.OWNER)
    spend_budget(redis_db, sandbox.member_id)
    sandbox.reset_counters()

    started = time.monotonic()
    answer = client.get("/api/flows?fresh=1", headers=page.headers())
    elapsed = time.monotonic() - started

    assert answer.status_code == 503 and answer.get_json()["error"] == "rate_limited"
    assert answer.headers["Retry-After"]
    assert elapsed < 0.45  # a slot frees in 0.5 s; B24_HTTP_TIMEOUT is 3 s
    assert sandbox.rest_requests == 0


def test_background_discovery_waits_for_the_budget(
    tight_budget: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    open_page(tight_budget.test_client(), sandbox, data.ADMIN)
    spend_budget(redis_db, sandbox.member_id)
    with tight_budget.test_request_context():
        client = discovery._client_for(sandbox.member_id, data.ADMIN)
        started = time.monotonic()
        assert client.call("user.admin").result is True
    # It waited instead of giving up, until the bucket was half empty (it yields to people):
    # from 5 down to 1.5 at 2 per second.
    assert 1.5 < time.monotonic() - started < 3.0
