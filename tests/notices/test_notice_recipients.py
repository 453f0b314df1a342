"""Whom a notice reaches: departments and workgroups as far as the switcher may see them, at most
``NOTICE_MAX_RECIPIENTS`` people, and a planned pause that says when it resumes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from sandbox import data
from sandbox.server import SandboxServer
from services import activity, schedule_upkeep
from tests.flows.conftest import open_page, portal_settings
from tests.install.live import install_with_scope
from tests.notices.conftest import NOTICE_SCOPE, SUPPORT, state, switch, texts, work
from tests.schedules.conftest import in_seconds, plan, wall


def told(sandbox: SandboxServer, users: list[int]) -> list[int]:
    return [user for user in users if sandbox.notifications(user)]


def test_departments_and_workgroups_as_far_as_the_switcher_sees_them(
    portal_client: FlaskClient, with_notices: SandboxServer, run_jobs: Callable[[], int]
) -> None:
    sandbox = with_notices
    sales = sandbox.add_department("Sales")
    east = sandbox.add_department("Sales East", parent=sales)
    head_office = sandbox.add_users(2, department=sales)
    branch = sandbox.add_users(2, department=east)
    [gone] = sandbox.add_users(1, department=sales, active=False)
    [guest] = sandbox.add_users(1, department=0)  # extranet: OWNER shares no group with them
    crew = sandbox.add_users(2, department=0)
    board = sandbox.add_users(1)
    visible = sandbox.add_group("Partners", owner_id=data.ADMIN, members=crew)  # open to everyone
    hidden = sandbox.add_group("Board", owner_id=data.ADMIN, members=board, visible=False)
    sandbox.flow(SUPPORT).team = [
        ["department", sales],  # as the core answers: Sales and the departments under it
        ["project", str(visible)],
        ["project", hidden],
        ["user", str(guest)],
        ["user", gone],
    ]
    owner = open_page(portal_client, sandbox, data.OWNER)
    sandbox.reset_counters()
    switch(portal_client, owner, SUPPORT, False)
    run_jobs()
    everyone = [*head_office, *branch, gone, guest, *crew, *board]
    assert told(sandbox, everyone) == [*head_office, *branch, *crew]
    assert sandbox.calls("user.get", data.OWNER) == 2  # the department's people, and the named ones
    assert sandbox.calls("sonet_group.user.get", data.OWNER) == 2
    assert state(portal_client, owner)["reports"] == [
        "Not everyone was told that “Support requests” was paused: Bitrix24 does not let you see some of "
        "its people (a department, a workgroup or “all users”)."
    ]

    # The docs' own spelling: "17:F" is that department alone.
    sandbox.flow(SUPPORT).team = [["department", f"{sales}:F"]]
    switch(portal_client, owner, SUPPORT, True)
    run_jobs()
    assert [texts(sandbox, user)[0].startswith("Oleg Owner resumed") for user in (*head_office, *branch)] == [
        True,
        True,
        False,
        False,
    ]


@pytest.fixture
def small_notices(app_config: dict, sandbox: SandboxServer, portal_app: Flask) -> Flask:
    """The app with notices of at most 3 people (the same Redis and portal as ``portal_app``)."""
    install_with_scope(sandbox, portal_app, NOTICE_SCOPE)
    return create_app({**portal_settings(app_config, sandbox), "NOTICE_MAX_RECIPIENTS": 3})


def test_above_the_cap_nobody_is_told_and_the_switcher_hears_why(
    small_notices: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    client = small_notices.test_client()
    sales = sandbox.add_department("Sales")
    crowd = sandbox.add_users(60, department=sales)  # more than a page of user.get: its total says it all
    sandbox.flow(SUPPORT).team = [["department", sales]]
    owner = open_page(client, sandbox, data.OWNER)
    sandbox.reset_counters()
    switch(client, owner, SUPPORT, False)
    work(small_notices)
    assert told(sandbox, crowd) == [] and sandbox.calls("im.notify.system.add") == 0
    assert sandbox.calls("user.get", data.OWNER) == 1  # one page: nobody is read past the cap
    assert state(client, owner)["reports"] == [
        "Nobody was told that “Support requests” was paused: that would be 60 people, more than the 3 one "
        "notice may reach. Choose fewer people in its notice setting."
    ]
    [_switch, notice] = [fields for _id, fields in redis_db.xrange(activity.stream_key(sandbox.member_id))]
    assert (notice["how"], notice["result"], notice["from"], notice["to"]) == ("notice", "too_many", "1", "0")

    # Three people are within the cap (the switcher never counts).
    sandbox.flow(SUPPORT).team = [["user", user] for user in (*crowd[:3], data.OWNER)]
    switch(client, owner, SUPPORT, True)
    work(small_notices)
    assert told(sandbox, crowd) == crowd[:3]


def test_a_planned_pause_says_when_the_flow_resumes(
    portal_client: FlaskClient,
    with_notices: SandboxServer,
    run_jobs: Callable[[], int],
    moved_clock: Callable[[float], None],
) -> None:
    sandbox = with_notices
    owner = open_page(portal_client, sandbox, data.OWNER)  # America/New_York in Bitrix24
    answer = plan(portal_client, owner, SUPPORT, in_seconds(60), wall(10, 9, "America/New_York"))
    assert answer.status_code == 201, answer.get_json()
    resumes = answer.get_json()["schedule"]["resume"]["text"]  # in the planner's zone and language
    moved_clock(60 + 31)  # the edge is due, and overdue for the sweep (SCHEDULE_CATCH_UP_AFTER)
    with portal_client.application.app_context():
        schedule_upkeep.catch_up(schedule_upkeep.get_redis())  # the sweep queues it
    run_jobs()  # the edge, then its notice
    assert texts(sandbox, data.MEMBER) == [
        f"The flow “[url={sandbox.portal_url}/company/personal/user/{data.MEMBER}/tasks/flow/?ID_numsel=exact"
        f"&ID_from={SUPPORT}&apply_filter=Y]Support requests[/url]” was paused as planned by Oleg Owner until "
        f"{resumes} (America/New_York): tasks sent to it until then are not distributed."
    ]
