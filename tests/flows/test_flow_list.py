"""The portal's own flow list (``tasks.flow.Flow.list``): used where it answers, remembered where it
is absent, and never trusted blindly: against the sandbox portal over real HTTP, with a real Redis."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from oauth.tokens import rest_client_for
from sandbox import data
from sandbox.server import SandboxServer
from services import discovery, flow_list, known_flows
from services.flow_list import LIST
from services.flows import GET
from tests.flows.conftest import SEEDED_FLOWS, open_page

SUPPORT, DESIGN_REVIEWS, ARCHIVED = 1, 2, 5
Rows = list[dict[str, Any]]


def names(page) -> list[str]:
    return sorted(flow["name"] for flow in page.data["flows"])


def seeded_names(sandbox: SandboxServer, flow_ids) -> list[str]:
    return sorted(sandbox.flow(flow_id).name for flow_id in flow_ids)


# --- a portal that has it ---------------------------------------------------------------


def test_the_list_shows_flows_the_app_never_knew_and_they_join_the_known_set(
    portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    redis_db.delete(known_flows.flows_key(sandbox.member_id))  # before any discovery
    generation = known_flows.generation(redis_db, sandbox.member_id)
    sandbox.reset_counters()

    page = open_page(portal_client, sandbox, data.MEMBER)

    assert names(page) == seeded_names(sandbox, range(1, 6))  # flow 6 is not hers to see
    assert sandbox.rest_requests == 2  # the list, then owner names and the admin flag
    assert sandbox.calls(LIST) == 1 and sandbox.calls(GET) == 0
    # Discovery, schedules and bulk switching work from the known set: the list fed it.
    assert known_flows.known_ids(redis_db, sandbox.member_id) == [1, 2, 3, 4, 5]
    assert known_flows.generation(redis_db, sandbox.member_id) == generation + 1
    # ... and the reload after it is served from the cache, the known set's change notwithstanding.
    sandbox.reset_counters()
    reload = portal_client.get("/api/flows", headers=page.headers()).get_json()
    assert reload["cached"] is True and sandbox.rest_requests == 0
    assert sorted(flow["name"] for flow in reload["flows"]) == names(page)


@pytest.mark.parametrize(
    ("known", "batches", "pages"),
    # Unknown size: one page, then four more (the last two empty). Known: the three pages it needs.
    [(0, 2, 5), (136, 1, 3)],
    ids=["nothing known", "all known"],
)
def test_pages_of_50_in_as_few_batches_as_the_known_set_allows(
    portal_client: FlaskClient,
    sandbox: SandboxServer,
    redis_db: redis.Redis,
    known: int,
    batches: int,
    pages: int,
) -> None:
    sandbox.seed_many_flows(130)  # 136 flows: pages of 50, 50 and 36
    redis_db.delete(known_flows.flows_key(sandbox.member_id))
    known_flows.remember(redis_db, sandbox.member_id, range(1, known + 1))
    sandbox.reset_counters()

    page = open_page(portal_client, sandbox, data.ADMIN)

    assert len(page.data["flows"]) == 136
    assert sandbox.calls(LIST) == pages
    assert sandbox.rest_requests == batches + 1  # + names and the admin flag
    assert len(known_flows.known_ids(redis_db, sandbox.member_id)) == 136


def test_counted_paging_reads_the_same(
    portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    """A core that adds ``next``/``total`` (as for ``Page`` results) changes nothing."""
    sandbox.settings.flow_list_paging = "counted"
    sandbox.seed_many_flows(94)  # exactly two full pages: the third one is empty
    page = open_page(portal_client, sandbox, data.ADMIN)
    assert len(page.data["flows"]) == 100
    # Now that the known set holds them, the next open asks for the three pages at once.
    sandbox.reset_counters()
    page = open_page(portal_client, sandbox, data.ADMIN)
    assert len(page.data["flows"]) == 100
    assert sandbox.calls(LIST) == 3 and sandbox.calls(GET) == 0
    assert sandbox.rest_requests == 2


@pytest.mark.parametrize(
    ("dropped", "gets"),
    [("active", len(SEEDED_FLOWS)), ("creatorId", len(SEEDED_FLOWS)), ("description", 0)],
)
def test_a_field_missing_from_the_rows_is_read_with_get_in_one_batch(
    portal_client: FlaskClient, sandbox: SandboxServer, dropped: str, gets: int
) -> None:
    sandbox.settings.flow_list_rewrite = lambda rows: [
        {key: value for key, value in row.items() if key != dropped} for row in rows
    ]
    sandbox.reset_counters()

    page = open_page(portal_client, sandbox, data.OWNER)

    by_id = {flow["id"]: flow for flow in page.data["flows"]}
    assert sorted(by_id) == list(SEEDED_FLOWS)
    assert by_id[SUPPORT]["active"] is True and by_id[ARCHIVED]["active"] is False
    assert by_id[SUPPORT]["mine"] is True
    assert sandbox.calls(GET) == gets
    # The list, the gets (if any) in one batch, names and the admin flag.
    assert sandbox.rest_requests == 2 + (gets > 0)
    # A description the list leaves out is an empty one (Flow::toJson skips empty strings).
    assert by_id[SUPPORT]["description"] == ("" if dropped == "description" else "Customer tickets")


def test_discovery_asks_the_list_and_nothing_else(
    portal_app: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    open_page(portal_app.test_client(), sandbox, data.ADMIN)  # stores the admin's tokens
    redis_db.delete(known_flows.flows_key(sandbox.member_id))
    sandbox.reset_counters()
    with portal_app.app_context():
        report = discovery.run(rest_client_for(sandbox.member_id, data.ADMIN), redis_db, sandbox.member_id)
    assert report == discovery.Report(from_tasks=0, scanned_to=0, found=6, added=6, listed=True)
    assert sandbox.rest_requests == 1 and sandbox.calls(LIST) == 1
    assert sandbox.calls("tasks.task.list") == sandbox.calls(GET) == 0  # no task pages, no id scan
    # Flow 2 has no task: without the list only the id scan finds it.
    assert known_flows.known_ids(redis_db, sandbox.member_id) == [1, 2, 3, 4, 5, 6]


# --- an older portal ----------------------------------------------------------------------


def test_an_older_portal_is_asked_once_and_again_a_day_later(
    portal_app: Flask, portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    sandbox.settings.flow_list_method = False
    sandbox.reset_counters()
    first = open_page(portal_client, sandbox, data.OWNER)
    assert sandbox.rejected("ERROR_METHOD_NOT_FOUND") == 1
    assert names(first) == seeded_names(sandbox, SEEDED_FLOWS)  # the known flows, read with get
    absent = flow_list.absent_key(sandbox.member_id)
    assert 0 < redis_db.ttl(absent) <= portal_app.config["FLOW_LIST_REPROBE_SECONDS"] == 86400

    sandbox.reset_counters()
    open_page(portal_client, sandbox, data.ADMIN)
    portal_client.get("/api/flows?fresh=1", headers=first.headers())
    assert sandbox.rejected() == 0  # nobody asks again while it is remembered
    assert sandbox.calls(GET) == 2 * len(SEEDED_FLOWS)

    # A day later (the memory expires) the portal has been updated: the next open uses the list.
    sandbox.settings.flow_list_method = True
    redis_db.delete(absent)
    sandbox.reset_counters()
    open_page(portal_client, sandbox, data.OWNER)
    assert sandbox.calls(LIST) == 1 and sandbox.calls(GET) == 0


# --- answers it cannot trust: discovery's flows for that request, one line in the log ------------


def _rewrite(change: Callable[[Rows], Any]) -> Callable[[SandboxServer], None]:
    """A fault: every page's rows pass through ``change`` before the portal answers."""
    return lambda sandbox: setattr(sandbox.settings, "flow_list_rewrite", change)


def _refuse(code: str) -> Callable[[SandboxServer], None]:
    """A fault: the next list call inside a batch answers ``code``."""
    return lambda sandbox: sandbox.inject_rest_errors(code, 1, methods=[LIST], per_call=True)


def _without_ids(rows: Rows) -> Rows:
    return [{key: value for key, value in row.items() if key != "id"} for row in rows]


def _page_zero_again() -> Callable[[Rows], Rows]:
    """A core that ignores ``start``: every page is the first one."""
    first: list[Rows] = []

    def rewrite(rows: Rows) -> Rows:
        if not first:
            first.append(rows)
        return first[0]

    return rewrite


@pytest.mark.parametrize(
    ("fault", "logged"),
    [
        (_rewrite(lambda rows: {"flows": rows}), "a page that is {flows: [6 x {...}]}"),
        (_rewrite(_without_ids), "a row without an id: {active: bool, activity: str, creatorId: int"),
        (_rewrite(lambda rows: [*rows, "?"]), "a row that is str"),
        (_refuse("ACCESS_DENIED"), "error ACCESS_DENIED 'Access denied!'"),
        (_refuse("0"), "error 0 ''"),  # the flow controller's own refusal
    ],
    ids=["object instead of list", "row without id", "row not an object", "access denied", "flow error"],
)
def test_an_answer_it_cannot_trust_falls_back_to_the_known_flows_for_that_request(
    portal_client: FlaskClient,
    sandbox: SandboxServer,
    redis_db: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    fault: Callable[[SandboxServer], None],
    logged: str,
) -> None:
    fault(sandbox)
    sandbox.reset_counters()
    with caplog.at_level(logging.INFO, logger="services.flow_list"):
        page = open_page(portal_client, sandbox, data.OWNER)

    assert names(page) == seeded_names(sandbox, SEEDED_FLOWS)  # the page is whole
    assert sandbox.calls(GET) == len(SEEDED_FLOWS)
    lines = [record.getMessage() for record in caplog.records if record.name == "services.flow_list"]
    assert len(lines) == 1 and logged in lines[0], lines
    assert not any(name in lines[0] for name in seeded_names(sandbox, SEEDED_FLOWS))  # shape, not data
    assert not redis_db.exists(flow_list.absent_key(sandbox.member_id))  # for that request only

    sandbox.settings.flow_list_rewrite = None
    sandbox.reset_counters()
    open_page(portal_client, sandbox, data.OWNER)
    assert sandbox.calls(LIST) == 1 and sandbox.calls(GET) == 0


def _rows_without_end() -> Callable[[Rows], Rows]:
    """A core that invents rows: every page is full of flows never seen before."""
    template: list[dict[str, Any]] = []
    ids = itertools.count(1000)

    def rewrite(rows: Rows) -> Rows:
        template[:] = template or rows[:1]
        return [{**template[0], "id": next(ids)} for _ in range(flow_list.PAGE)]

    return rewrite


@pytest.mark.parametrize(
    ("rewrite", "logged"),
    [
        (_page_zero_again, "a full page of rows already seen (start ignored?)"),
        (_rows_without_end, f"more than {flow_list.MAX_FLOWS} rows"),
    ],
    ids=["start ignored", "no end"],
)
def test_pages_that_never_end_fall_back(
    portal_client: FlaskClient,
    sandbox: SandboxServer,
    redis_db: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    rewrite: Callable[[], Callable[[Rows], Rows]],
    logged: str,
) -> None:
    sandbox.seed_many_flows(54)  # 60 flows: a full first page
    known_flows.remember(redis_db, sandbox.member_id, range(1, 61))
    sandbox.settings.flow_list_rewrite = rewrite()
    with caplog.at_level(logging.WARNING, logger="services.flow_list"):
        page = open_page(portal_client, sandbox, data.ADMIN)
    assert len(page.data["flows"]) == 60
    assert sandbox.calls(GET) == 60
    assert logged in caplog.text


def test_an_error_of_the_whole_request_is_not_a_reason_to_fall_back(
    portal_client: FlaskClient, sandbox: SandboxServer
) -> None:
    """A refused token, an ended subscription or a busy portal would refuse ``get`` just the same:
    the page says so (and retries what can be retried) instead of asking again another way."""
    sandbox.inject_rest_errors("PAYMENT_REQUIRED", count=1, methods=[LIST])
    page = open_page(portal_client, sandbox, data.OWNER)
    assert page.data["flows"] == [] and page.data["loadError"]["error"] == "payment_required"
    assert sandbox.calls(GET) == 0 and sandbox.rejected("PAYMENT_REQUIRED") == 1
