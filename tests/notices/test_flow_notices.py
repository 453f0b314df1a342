"""Telling a flow's people when it is paused or resumed: after the answer, from the worker, with the
switching user's own token, never touching the switch."""

from __future__ import annotations

from collections.abc import Callable

import redis
from flask import Flask
from flask.testing import FlaskClient

from sandbox import data
from sandbox.server import SandboxServer
from services import activity, flow_notices
from tests.flows.conftest import open_page
from tests.notices.conftest import DESIGN, SUPPORT, bulk, queued, state, switch, texts

NOTIFY = "im.notify.system.add"


def test_a_pause_tells_the_team_once_after_the_answer_and_the_resume_replaces_it(
    portal_client: FlaskClient,
    portal_app: Flask,
    with_notices: SandboxServer,
    run_jobs: Callable[[], int],
) -> None:
    sandbox = with_notices
    owner = open_page(portal_client, sandbox, data.OWNER)
    answer = portal_client.put(f"/api/flows/{SUPPORT}", json={"active": False}, headers=owner.headers())
    assert answer.get_json() == {"id": SUPPORT, "active": False, "changed": True}  # the switch's own answer
    assert queued(portal_app) == 0  # nothing before the answer is out
    answer.close()
    assert queued(portal_app) == 1
    assert sandbox.notifications_sent == 0  # the request itself sends nothing

    assert run_jobs() == 1
    [notice] = sandbox.notifications(data.MEMBER)
    assert notice.message.startswith("Flow Switch\nOleg Owner paused the flow “[url=")
    assert f"/company/personal/user/{data.MEMBER}/tasks/flow/?ID_numsel=exact&ID_from={SUPPORT}" in notice.message
    assert "]Support requests[/url]”: tasks sent to it are not distributed until it is resumed." in notice.message
    assert notice.tag == flow_notices.tag(SUPPORT) and notice.kind == "system"
    assert sandbox.notifications(data.OWNER) == []  # never the person who switched
    assert sandbox.calls(NOTIFY, data.OWNER) == 1  # with the switcher's own token, once

    # Switching to the state it already has tells nobody; the resume replaces the pause's notice.
    assert switch(portal_client, owner, SUPPORT, False).json_body["changed"] is False
    assert queued(portal_app) == 0
    switch(portal_client, owner, SUPPORT, True)
    assert run_jobs() == 1
    assert texts(sandbox, data.MEMBER) == [
        f"Oleg Owner resumed the flow “[url={sandbox.portal_url}/company/personal/user/{data.MEMBER}/tasks/flow/"
        f"?ID_numsel=exact&ID_from={SUPPORT}&apply_filter=Y]Support requests[/url]”: it takes tasks again."
    ]
    assert state(portal_client, owner)["reports"] == []


def test_a_bulk_tells_each_flows_people_about_their_flow(
    portal_client: FlaskClient, with_notices: SandboxServer, run_jobs: Callable[[], int]
) -> None:
    sandbox = with_notices
    owner = open_page(portal_client, sandbox, data.OWNER)
    assert bulk(portal_client, owner, [SUPPORT, DESIGN], False).json_body["counts"]["changed"] == 2
    assert run_jobs() == 1  # one job for the whole bulk
    assert {n.tag for n in sandbox.notifications(data.MEMBER)} == {flow_notices.tag(SUPPORT), flow_notices.tag(DESIGN)}


def test_a_portal_without_the_im_scope_switches_and_says_notices_are_off(
    portal_client: FlaskClient, portal_app: Flask, sandbox: SandboxServer
) -> None:
    owner = open_page(portal_client, sandbox, data.OWNER)  # the fixture's app: task, user, placement
    assert switch(portal_client, owner, SUPPORT, False).json_body == {"id": SUPPORT, "active": False, "changed": True}
    assert queued(portal_app) == 0  # no job at all
    assert sandbox.flow(SUPPORT).active is False
    shown = state(portal_client, owner)
    assert (shown["available"], shown["enabled"], shown["reports"]) == (False, True, [])
    assert sandbox.calls(NOTIFY) == 0 and sandbox.rejected() == 0


def test_a_refused_notice_neither_undoes_nor_retries_the_switch_and_is_reported_once(
    portal_client: FlaskClient,
    with_notices: SandboxServer,
    run_jobs: Callable[[], int],
    redis_db: redis.Redis,
) -> None:
    sandbox = with_notices
    owner = open_page(portal_client, sandbox, data.OWNER)
    sandbox.inject_rest_errors("INTERNAL_SERVER_ERROR", 1, methods=[NOTIFY], per_call=True)
    assert switch(portal_client, owner, SUPPORT, False).json_body["active"] is False
    run_jobs()
    assert sandbox.rejected("INTERNAL_SERVER_ERROR") == 1 and sandbox.calls(NOTIFY) == 0  # tried once, not again
    assert sandbox.flow(SUPPORT).active is False and len(sandbox.flow_changes()) == 1  # the switch stands
    assert sandbox.notifications(data.MEMBER) == []
    entries = [fields for _id, fields in redis_db.xrange(activity.stream_key(sandbox.member_id))]
    assert [(e["how"], e["result"]) for e in entries] == [("switch", "done"), ("notice", "failed")]
    assert entries[1]["answer"] == "INTERNAL_SERVER_ERROR" and entries[1]["flow_name"] == "Support requests"
    assert state(portal_client, owner)["reports"] == [
        "Not everyone was told that “Support requests” was paused: Bitrix24 did not take the notice for 1 of 1 people."
    ]
    assert state(portal_client, owner)["reports"] == []  # shown once
