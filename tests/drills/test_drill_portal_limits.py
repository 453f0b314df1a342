"""Drill: the portal answers 503 ``QUERY_LIMIT_EXCEEDED`` and 429 ``OPERATION_TIME_LIMIT``.

Reads refused for the request rate back off and succeed; a method refused for its
operating time is left alone until its window resets, and users hear "busy" at once.
``activate`` is a toggle: a refused switch is answered as it is, never sent again behind
the user's back, and the flow's state is whatever the API said it is.
"""

from __future__ import annotations

import pytest
import redis
from flask import Flask

from app import create_app
from sandbox import data
from sandbox.server import SandboxServer
from services import known_flows
from services.flow_list import LIST
from services.flows import ACTIVATE, GET
from tests.drills.conftest import assert_clean_error
from tests.flows.conftest import SEEDED_FLOWS, Reads, mark_discovery_fresh, open_page
from tests.install.live import eventually

pytestmark = pytest.mark.drill

USER = data.OWNER
FLOW = 1  # OWNER's, active
LIMITS = ["QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT"]


def test_reads_back_off_and_succeed(drill_app: Flask, sandbox: SandboxServer, reads: Reads):
    code = "QUERY_LIMIT_EXCEEDED"
    client = drill_app.test_client()
    page = open_page(client, sandbox, USER)
    sandbox.reset_counters()
    sandbox.inject_rest_errors(code, 2, methods=[reads.method])

    answer = client.get("/api/flows?fresh=1", headers=page.headers())

    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert {flow["id"] for flow in answer.get_json()["flows"]} == set(SEEDED_FLOWS)
    assert sandbox.rejected(code) == 2  # both refusals were met, and waited out


@pytest.mark.parametrize("code", LIMITS)
def test_refused_activate_is_not_repeated(drill_app: Flask, sandbox: SandboxServer, code: str):
    client = drill_app.test_client()
    page = open_page(client, sandbox, USER)
    assert sandbox.flow(FLOW).active
    sandbox.reset_counters()
    # The next two requests carrying activate are refused: a blind retry would meet the second.
    sandbox.inject_rest_errors(code, 2, methods=[ACTIVATE])

    answer = client.put(f"/api/flows/{FLOW}", json={"active": False}, headers=page.headers())

    payload = assert_clean_error(answer, 503, "rate_limited")
    assert answer.headers.get("Retry-After")
    assert sandbox.rejected(code) == 1
    assert sandbox.calls(ACTIVATE) == 0
    assert payload["id"] == FLOW
    assert payload["active"] is sandbox.flow(FLOW).active is True

    # The page retries after Retry-After; each retry reads afresh and toggles at most once.
    assert client.put(f"/api/flows/{FLOW}", json={"active": False}, headers=page.headers()).status_code == 503
    answer = client.put(f"/api/flows/{FLOW}", json={"active": False}, headers=page.headers())
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json() == {"id": FLOW, "active": False, "changed": True}
    assert sandbox.rejected(code) == 2
    assert sandbox.calls(ACTIVATE) == 1
    assert sandbox.flow(FLOW).active is False


def test_activate_refused_inside_the_batch_is_not_repeated(drill_app: Flask, sandbox: SandboxServer):
    """``OPERATION_TIME_LIMIT`` for the method itself: the batch runs, its activate item is refused."""
    client = drill_app.test_client()
    page = open_page(client, sandbox, USER)
    sandbox.reset_counters()
    sandbox.inject_rest_errors("OPERATION_TIME_LIMIT", 3, methods=[ACTIVATE], per_call=True)

    answer = client.put(f"/api/flows/{FLOW}", json={"active": False}, headers=page.headers())

    payload = assert_clean_error(answer, 503, "rate_limited")
    assert sandbox.rejected("OPERATION_TIME_LIMIT") == 1
    assert sandbox.calls(ACTIVATE) == 0
    assert payload["active"] is sandbox.flow(FLOW).active is True


def test_a_read_over_its_operating_time_is_busy_at_once_until_the_window_resets(
    drill_config: dict, older_portal: SandboxServer, redis_db: redis.Redis
):
    """``OPERATION_TIME_LIMIT`` per item: the batch answers, some flows in it were refused."""
    # Bitrix24 would refuse the method until its window moves on (minutes): no retry in
    # seconds, no list with holes; the method is left alone (here for at most a second).
    sandbox = older_portal
    app = create_app({**drill_config, "B24_OPERATING_BACKOFF_MAX": 1.0})
    known_flows.remember(redis_db, sandbox.member_id, SEEDED_FLOWS)
    mark_discovery_fresh(redis_db, sandbox.member_id)
    client = app.test_client()
    page = open_page(client, sandbox, USER)
    sandbox.reset_counters()
    sandbox.inject_rest_errors("OPERATION_TIME_LIMIT", 2, methods=[GET], per_call=True)

    answer = client.get("/api/flows?fresh=1", headers=page.headers())

    assert_clean_error(answer, 503, "rate_limited")
    assert answer.headers.get("Retry-After")
    assert sandbox.rejected("OPERATION_TIME_LIMIT") == 2  # both met in the one batch, none retried
    requests_then = sandbox.rest_requests
    switched = client.put(f"/api/flows/{FLOW}", json={"active": False}, headers=page.headers())
    assert_clean_error(switched, 503, "rate_limited")  # its read would be refused: not sent
    assert sandbox.rest_requests == requests_then
    assert sandbox.flow(FLOW).active is True

    def reads_again() -> bool:
        return client.get("/api/flows?fresh=1", headers=page.headers()).status_code == 200

    eventually(reads_again, timeout=5)
    assert client.put(f"/api/flows/{FLOW}", json={"active": False}, headers=page.headers()).status_code == 200
    assert sandbox.flow(FLOW).active is False


def test_a_list_over_its_operating_time_gives_way_to_reading_each_flow(drill_app: Flask, sandbox: SandboxServer):
    """The portal's list refused for its operating time: other methods still work, so the page
    reads the known flows one by one, and leaves the list alone until its window resets."""
    client = drill_app.test_client()
    page = open_page(client, sandbox, USER)
    sandbox.reset_counters()
    sandbox.inject_rest_errors("OPERATION_TIME_LIMIT", 1, methods=[LIST], per_call=True)

    for _ in range(2):
        answer = client.get("/api/flows?fresh=1", headers=page.headers())
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert {flow["id"] for flow in answer.get_json()["flows"]} == set(SEEDED_FLOWS)
    assert sandbox.rejected("OPERATION_TIME_LIMIT") == 1
    assert sandbox.calls(LIST) == 0  # refused before it ran, then not asked again
    assert sandbox.calls(GET) == 2 * len(SEEDED_FLOWS)
