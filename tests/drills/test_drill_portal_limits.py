"""Drill: the portal answers 503 ``QUERY_LIMIT_EXCEEDED`` and 429 ``OPERATION_TIME_LIMIT``.

Reads back off and succeed. ``activate`` is a toggle: a refused switch is answered
as it is, never sent again behind the user's back, and the flow's state is whatever
the API said it is.
"""

from __future__ import annotations

import pytest
from flask import Flask

from sandbox import data
from sandbox.server import SandboxServer
from services.flows import ACTIVATE
from tests.drills.conftest import assert_clean_error
from tests.flows.conftest import SEEDED_FLOWS, Reads, open_page

pytestmark = pytest.mark.drill

USER = data.OWNER
FLOW = 1  # OWNER's, active
LIMITS = ["QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT"]


@pytest.mark.parametrize("code", LIMITS)
def test_reads_back_off_and_succeed(drill_app: Flask, sandbox: SandboxServer, reads: Reads, code: str):
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


def test_read_items_refused_inside_the_batch_are_read_again(
    drill_app: Flask, sandbox: SandboxServer, reads: Reads
):
    """``OPERATION_TIME_LIMIT`` per item: the batch answers, some reads in it (flows or list pages)
    were refused."""
    client = drill_app.test_client()
    page = open_page(client, sandbox, USER)
    sandbox.reset_counters()
    sandbox.inject_rest_errors("OPERATION_TIME_LIMIT", 2, methods=[reads.method], per_call=True)

    answer = client.get("/api/flows?fresh=1", headers=page.headers())

    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert sandbox.rejected("OPERATION_TIME_LIMIT") == 2
    assert {flow["id"] for flow in answer.get_json()["flows"]} == set(SEEDED_FLOWS)
