"""Finding flow ids (tasks, id scan, by hand) against the sandbox portal, with a real Redis."""

from __future__ import annotations

import time

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from core.locks import lock
from oauth.tokens import rest_client_for
from sandbox import data
from sandbox.server import SandboxServer
from services import discovery, flows, known_flows
from services.flow_refs import InvalidFlowRef, parse_flow_ref
from tests.flows.conftest import open_page, wait_for_discovery
from tests.install.live import record_active_portal


@pytest.fixture
def empty_list(
    portal_app: Flask, older_portal: SandboxServer, sandbox: SandboxServer, redis_db: redis.Redis
) -> Flask:
    """The app before discovery on a portal without the flow list: no flow ids known.

    (On a portal with the list, discovery asks it instead: tests/flows/test_flow_list.py.)
    """
    redis_db.delete(known_flows.flows_key(sandbox.member_id))
    return portal_app


def test_discovery_finds_flows_from_tasks_and_from_the_id_scan(
    empty_list: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    open_page(empty_list.test_client(), sandbox, data.ADMIN)  # stores the admin's tokens
    sandbox.reset_counters()
    with empty_list.app_context():
        report = discovery.run(rest_client_for(sandbox.member_id, data.ADMIN), redis_db, sandbox.member_id)
    # Flow 2 has no task: only the scan finds it.
    assert report.from_tasks == 5
    assert known_flows.known_ids(redis_db, sandbox.member_id) == [1, 2, 3, 4, 5, 6]
    assert report.scanned_to == 6 + empty_list.config["DISCOVERY_SCAN_MARGIN"]
    # One batch of task pages, then 50 ids per batch.
    assert sandbox.rest_requests == 1 + -(-report.scanned_to // 50)


def test_a_run_that_outlives_an_uninstall_writes_nothing(
    empty_list: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    open_page(empty_list.test_client(), sandbox, data.ADMIN)
    with empty_list.app_context():
        owner = "a-run-that-outlives-the-uninstall"
        assert lock(redis_db, discovery.lock_key(sandbox.member_id), 60).acquire(token=owner)
        # ONAPPUNINSTALL deletes every key of the portal, the lock among them, mid-run.
        redis_db.delete(discovery.lock_key(sandbox.member_id), known_flows.meta_key(sandbox.member_id))
        report = discovery.run(
            rest_client_for(sandbox.member_id, data.ADMIN), redis_db, sandbox.member_id, lock_owner=owner
        )
    assert report.found == 6 and report.added == -1
    assert not redis_db.exists(known_flows.flows_key(sandbox.member_id), known_flows.meta_key(sandbox.member_id))


def test_the_id_scan_grows_while_flows_turn_up_but_stays_bounded(
    empty_list: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    sandbox.seed_many_flows(294)  # ids 7-300, none with a task
    open_page(empty_list.test_client(), sandbox, data.ADMIN)
    empty_list.config.update(DISCOVERY_SCAN_MARGIN=60, DISCOVERY_SCAN_LIMIT=1000)
    with empty_list.app_context():
        client = rest_client_for(sandbox.member_id, data.ADMIN)
        report = discovery.run(client, redis_db, sandbox.member_id)
        assert len(known_flows.known_ids(redis_db, sandbox.member_id)) == 300
        assert report.scanned_to == 360

        empty_list.config.update(DISCOVERY_SCAN_LIMIT=120)
        redis_db.delete(known_flows.flows_key(sandbox.member_id))
        bounded = discovery.run(client, redis_db, sandbox.member_id)
        assert bounded.scanned_to == 120
        assert known_flows.known_ids(redis_db, sandbox.member_id)[-1] == 120


def test_an_admin_can_run_discovery_again_and_others_cannot(
    empty_list: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    client = empty_list.test_client()
    owner = open_page(client, sandbox, data.OWNER)
    refused = client.post("/api/discovery", json={}, headers=owner.headers())
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "admin_only"
    assert known_flows.known_ids(redis_db, sandbox.member_id) == []

    admin = open_page(client, sandbox, data.ADMIN)
    started = client.post("/api/discovery", json={}, headers=admin.headers())
    assert started.status_code == 202
    wait_for_discovery(redis_db, sandbox.member_id)
    assert known_flows.known_ids(redis_db, sandbox.member_id) == [1, 2, 3, 4, 5, 6]
    listed = client.get("/api/flows", headers=admin.headers()).get_json()
    assert len(listed["flows"]) == 6 and listed["discovering"] is False


def test_discovery_runs_once_per_portal_with_the_installers_token(
    empty_list: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    open_page(empty_list.test_client(), sandbox, data.ADMIN)  # the installer's tokens
    with empty_list.app_context():
        record_active_portal(sandbox)
        sandbox.settings.latency = 0.05
        sandbox.reset_counters()
        assert discovery.start(sandbox.member_id) is True
        assert discovery.start(sandbox.member_id) is False  # one run at a time
    wait_for_discovery(redis_db, sandbox.member_id)
    assert known_flows.known_ids(redis_db, sandbox.member_id) == [1, 2, 3, 4, 5, 6]
    assert sandbox.calls(user_id=data.ADMIN) == sandbox.calls()  # all with the installer's token


# --- adding a flow by hand --------------------------------------------------------------


def test_a_flow_is_added_by_its_portal_link_or_its_number(
    empty_list: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    client: FlaskClient = empty_list.test_client()
    page = open_page(client, sandbox, data.OWNER)
    link = flows.flow_url(sandbox.portal_url, data.OWNER, 2)
    added = client.post("/api/flows", json={"ref": link}, headers=page.headers())
    assert added.status_code == 201
    assert added.get_json()["flow"]["name"] == "Design reviews"
    assert added.get_json()["flow"]["owner"]["name"] == "Oleg Owner"
    by_number = client.post("/api/flows", json={"ref": " 4 "}, headers=page.headers())
    assert by_number.status_code == 201
    assert known_flows.known_ids(redis_db, sandbox.member_id) == [2, 4]


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "abc",
        "-3",
        "https://evil.example/company/personal/user/2/tasks/flow/?ID_from=2",
        "javascript:alert(1)",
    ],
)
def test_a_bad_reference_is_refused(
    empty_list: Flask, sandbox: SandboxServer, redis_db: redis.Redis, ref: str
) -> None:
    client = empty_list.test_client()
    page = open_page(client, sandbox, data.OWNER)
    answer = client.post("/api/flows", json={"ref": ref}, headers=page.headers())
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "bad_ref"
    assert known_flows.known_ids(redis_db, sandbox.member_id) == []


def test_a_flow_the_user_cannot_see_is_not_added(
    empty_list: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    client = empty_list.test_client()
    page = open_page(client, sandbox, data.OUTSIDER)
    answer = client.post("/api/flows", json={"ref": "1"}, headers=page.headers())
    assert answer.status_code == 404
    assert answer.get_json()["error"] == "not_found"
    assert known_flows.known_ids(redis_db, sandbox.member_id) == []


@pytest.mark.parametrize(
    ("ref", "flow_id"),
    [
        ("42", 42),
        (
            "https://acme.bitrix24.com/company/personal/user/1/tasks/flow/?ID_numsel=exact&ID_from=42&apply_filter=Y",
            42,
        ),
        ("https://ACME.bitrix24.com/company/personal/user/1/tasks/flow/?ID=7", 7),
        ("https://acme.bitrix24.com/company/personal/user/1/tasks/flow/edit/15/", 15),
        ("#7", 7),
        (" 7 ", 7),
        ("acme.bitrix24.com/company/personal/user/1/tasks/flow/?ID_from=9", 9),
        ("https://acme.bitrix24.com:443/company/personal/user/1/tasks/flow/8", 8),
        ("https://acme.bitrix24.com/tasks/flow/view/12/?foo=bar", 12),
    ],
)
def test_flow_references(ref: str, flow_id: int) -> None:
    assert parse_flow_ref(ref, "acme.bitrix24.com") == flow_id


@pytest.mark.parametrize(
    "ref",
    [
        "0",
        "https://acme.bitrix24.com.evil.example/tasks/flow/?ID=1",
        "https://user@evil.example/?ID=1",
        "https://acme.bitrix24.com/company/personal/user/1/tasks/",
        "ftp://acme.bitrix24.com/tasks/flow/?ID=1",
        # digits Python calls digits but Bitrix24 ids are not made of
        "²",
        "https://acme.bitrix24.com/tasks/flow/?ID=²",
        "https://acme.bitrix24.com/tasks/flow/²/",
        "٤٢",
        "9" * 4301,
        "12345678901",
        "#",
        "https://acme.bitrix24.com/tasks/flow/Edit/15/",
    ],
)
def test_foreign_or_flowless_references_are_refused(ref: str) -> None:
    with pytest.raises(InvalidFlowRef):
        parse_flow_ref(ref, "acme.bitrix24.com")


def test_a_huge_reference_is_refused_before_it_is_parsed() -> None:
    # The old regex took 4 s on 80 KB of "/flow/a/a/a…" (quadratic backtracking); the
    # parser must refuse it by length, and a path just under the bound is linear.
    with pytest.raises(InvalidFlowRef, match="too long"):
        parse_flow_ref("https://acme.bitrix24.com/flow/" + "a/" * 40_000 + "x", "acme.bitrix24.com")
    near_bound = "https://acme.bitrix24.com/flow/" + "a/" * 1000 + "x"
    with pytest.raises(InvalidFlowRef, match="no flow"):
        parse_flow_ref(near_bound, "acme.bitrix24.com")
    assert parse_flow_ref("https://acme.bitrix24.com/flow/" + "a/" * 1000 + "5", "acme.bitrix24.com") == 5


def test_discovery_yields_a_methods_operating_time_to_people(
    empty_list: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    # 600 flows; each tasks.flow.Flow.get counts 0.2 s against a window of 100 s: the scan
    # alone would use it past the limit and leave every user with 429 OPERATION_TIME_LIMIT.
    sandbox.seed_many_flows(594)
    sandbox.settings.operating_limit = 100.0
    sandbox.settings.operating_cost = {flows.GET: 0.2}
    empty_list.config.update(B24_OPERATING_LIMIT=100.0, DISCOVERY_SCAN_MARGIN=50)
    client = empty_list.test_client()
    page = open_page(client, sandbox, data.OWNER)
    open_page(client, sandbox, data.ADMIN)  # stores the admin's tokens
    with empty_list.app_context():
        background = rest_client_for(sandbox.member_id, data.ADMIN, interactive=False)
        report = discovery.run(background, redis_db, sandbox.member_id)
    # Past half the window the scan stopped, and it keeps what it found so far.
    assert report.paused_for > 0 and report.scanned_to < 600
    assert 50 <= sandbox.operating(flows.GET) < 100
    assert known_flows.known_ids(redis_db, sandbox.member_id) == list(range(1, report.scanned_to + 1))
    # People still switch their flows (a read, activate, a read) ...
    switched = client.put("/api/flows/1", json={"active": False}, headers=page.headers())
    assert switched.status_code == 200, switched.get_data(as_text=True)
    assert sandbox.rejected("OPERATION_TIME_LIMIT") == 0
    # ... and the first page load after the pause starts the scan again.
    started = int(redis_db.hget(known_flows.meta_key(sandbox.member_id), "started_at"))
    stale = empty_list.config["DISCOVERY_STALE_SECONDS"]
    assert started <= time.time() - stale + report.paused_for + 1
