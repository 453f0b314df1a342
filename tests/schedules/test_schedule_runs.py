"""Edges at their time: RQ's worker runs them (in this process, so the tests move the app's clock
instead of waiting), with the scheduling user's own token, as a desired state."""

from __future__ import annotations

from collections.abc import Callable

import redis
from flask import Flask
from flask.testing import FlaskClient

import oauth
from sandbox import data
from sandbox.server import SandboxServer
from services import notices, schedule_upkeep
from tests.flows.conftest import Page, open_page
from tests.schedules.conftest import (
    DESIGN,
    SUPPORT,
    in_seconds,
    listing,
    pass_days,
    plan,
    stored,
    take_switch_right,
)

DAY = 86400.0


def planned(client: FlaskClient, page: Page, flow_id: int, pause_in: float | None, resume_in: float | None) -> dict:
    answer = plan(
        client,
        page,
        flow_id,
        in_seconds(pause_in) if pause_in is not None else None,
        in_seconds(resume_in) if resume_in is not None else None,
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["schedule"]


def planned_weeks_ahead(client: FlaskClient, sandbox: SandboxServer, flow_id: int, days: float) -> dict:
    """Refresh tokens live 28 days (the older docs); the owner opens the app (a pair issued under
    that) and plans a pause ``days`` ahead."""
    sandbox.settings.refresh_ttl = 28 * DAY
    return planned(client, open_page(client, sandbox, data.OWNER), flow_id, days * DAY, None)


def keep_sign_ins(portal_app: Flask) -> dict:
    """One round of the worker's sign-in upkeep."""
    with portal_app.app_context():
        return schedule_upkeep.keep_sign_ins(schedule_upkeep.get_redis())


def shown(client: FlaskClient, page: Page, schedule_id: str) -> dict:
    return next(s for s in listing(client, page)["schedules"] if s["id"] == schedule_id)


def test_edges_fire_at_their_time_with_the_scheduling_users_own_token(
    portal_client: FlaskClient,
    sandbox: SandboxServer,
    owner: Page,
    moved_clock: Callable[[float], None],
    run_jobs: Callable[[], int],
) -> None:
    saved = planned(portal_client, owner, SUPPORT, 60, 120)
    assert run_jobs() == 0  # nothing is due yet
    moved_clock(61)
    assert run_jobs() == 1
    assert sandbox.flow(SUPPORT).active is False
    moved_clock(60)
    assert run_jobs() == 1
    assert sandbox.flow(SUPPORT).active is True
    changes = sandbox.flow_changes()
    assert [(c.flow_id, c.user_id, c.active) for c in changes] == [
        (SUPPORT, data.OWNER, False),
        (SUPPORT, data.OWNER, True),
    ]
    done = shown(portal_client, owner, saved["id"])
    assert done["status"] == "done"
    assert done["note"] == "Paused as planned. Resumed as planned."
    assert run_jobs() == 0  # nothing runs twice


def test_a_resume_after_someone_resumed_by_hand_changes_nothing_and_says_so(
    portal_client: FlaskClient,
    sandbox: SandboxServer,
    owner: Page,
    moved_clock: Callable[[float], None],
    run_jobs: Callable[[], int],
) -> None:
    saved = planned(portal_client, owner, SUPPORT, 60, 120)
    moved_clock(61)
    run_jobs()
    by_hand = portal_client.put(f"/api/flows/{SUPPORT}", json={"active": True}, headers=owner.headers())
    assert by_hand.get_json()["active"] is True
    toggles = sandbox.calls("tasks.flow.Flow.activate")
    moved_clock(60)
    run_jobs()
    assert sandbox.calls("tasks.flow.Flow.activate") == toggles  # read, already on: no toggle
    resume = shown(portal_client, owner, saved["id"])["resume"]
    assert (resume["state"], resume["outcome"]) == ("done", "unchanged")
    assert resume["note"] == "The flow was already on, so nothing changed."


def test_a_pause_whose_resume_time_passed_while_workers_were_down_is_skipped(
    portal_client: FlaskClient,
    sandbox: SandboxServer,
    owner: Page,
    moved_clock: Callable[[float], None],
    run_jobs: Callable[[], int],
) -> None:
    saved = planned(portal_client, owner, SUPPORT, 60, 120)
    moved_clock(3 * 3600)  # no worker ran for three hours
    run_jobs()
    assert sandbox.flow_changes() == []  # never paused late, never toggled back
    after = shown(portal_client, open_page(portal_client, sandbox, data.OWNER), saved["id"])
    assert (after["pause"]["state"], after["pause"]["outcome"]) == ("skipped", "resume_passed")
    assert after["resume"]["outcome"] == "unchanged"


def test_losing_the_right_fails_the_plan_with_bitrix24s_reason_and_tells_the_user(
    portal_client: FlaskClient,
    with_im: SandboxServer,
    owner: Page,
    moved_clock: Callable[[float], None],
    run_jobs: Callable[[], int],
) -> None:
    sandbox = with_im
    owner = open_page(portal_client, sandbox, data.OWNER)  # her pair now carries the im scope
    saved = planned(portal_client, owner, SUPPORT, 60, 120)
    take_switch_right(sandbox, SUPPORT)
    moved_clock(61)
    run_jobs()
    assert sandbox.flow_changes() == [] and sandbox.flow(SUPPORT).active is True
    after = shown(portal_client, owner, saved["id"])
    assert after["status"] == "failed"
    assert (after["pause"]["state"], after["pause"]["reason"]) == ("failed", "Access denied or flow not found")
    assert (after["resume"]["state"], after["resume"]["outcome"]) == ("skipped", "pause_failed")
    assert "Bitrix24 refused: Access denied or flow not found" in after["note"]
    [notice] = sandbox.notifications(data.OWNER)
    assert notice.kind == "system" and notice.tag == f"flow_switch_schedule_{saved['id']}"
    assert "Your planned pause of the flow “Support requests”" in notice.message
    assert notice.message.endswith("did not happen: Bitrix24 refused: Access denied or flow not found")
    moved_clock(60)
    assert run_jobs() == 0  # the resume is not tried


def test_without_the_im_scope_nothing_is_sent_and_the_page_alone_tells(
    portal_client: FlaskClient,
    sandbox: SandboxServer,
    owner: Page,
    moved_clock: Callable[[float], None],
    run_jobs: Callable[[], int],
) -> None:
    saved = planned(portal_client, owner, SUPPORT, 60, None)
    take_switch_right(sandbox, SUPPORT)
    moved_clock(61)
    run_jobs()
    assert sandbox.calls("im.notify.system.add") == 0 and sandbox.notifications(data.OWNER) == []
    assert shown(portal_client, owner, saved["id"])["status"] == "failed"


def test_a_busy_portal_postpones_the_edge_and_it_happens_later(
    portal_client: FlaskClient,
    sandbox: SandboxServer,
    owner: Page,
    redis_db: redis.Redis,
    moved_clock: Callable[[float], None],
    run_jobs: Callable[[], int],
) -> None:
    saved = planned(portal_client, owner, SUPPORT, 60, None)
    sandbox.inject_rest_errors("QUERY_LIMIT_EXCEEDED", count=1, methods=["tasks.flow.Flow.activate"])
    moved_clock(61)
    run_jobs()
    assert sandbox.flow(SUPPORT).active is True
    assert shown(portal_client, owner, saved["id"])["pause"]["state"] == "pending"
    assert run_jobs() == 0  # it waits out its backoff
    moved_clock(31)
    assert run_jobs() == 1
    assert sandbox.flow(SUPPORT).active is False
    [schedule] = stored(redis_db, sandbox.member_id)
    assert schedule.pause is not None and schedule.pause.attempts == 2


def test_the_worker_renews_aging_sign_ins_so_a_plan_weeks_ahead_still_runs(
    portal_client: FlaskClient,
    portal_app: Flask,
    sandbox: SandboxServer,
    owner: Page,
    moved_clock: Callable[[float], None],
    run_jobs: Callable[[], int],
) -> None:
    planned_weeks_ahead(portal_client, sandbox, SUPPORT, 40)
    grants = sandbox.refresh_grants
    for _ in range(2):
        pass_days(sandbox, moved_clock, 20)
        assert list(keep_sign_ins(portal_app).values()) == ["refreshed"]
    assert sandbox.refresh_grants == grants + 2
    run_jobs()
    assert [(c.user_id, c.active) for c in sandbox.flow_changes()] == [(data.OWNER, False)]


def test_a_sign_in_that_aged_out_is_marked_weeks_before_the_plan_is_due(
    portal_client: FlaskClient,
    portal_app: Flask,
    with_im: SandboxServer,
    moved_clock: Callable[[float], None],
    run_jobs: Callable[[], int],
) -> None:
    sandbox = with_im
    saved = planned_weeks_ahead(portal_client, sandbox, SUPPORT, 40)
    pass_days(sandbox, moved_clock, 30)  # the worker could not renew it in time (it was down, say)
    admin = open_page(portal_client, sandbox, data.ADMIN)  # a fresh pair for the portal-level holder
    assert keep_sign_ins(portal_app) == {(sandbox.member_id, data.OWNER): "signed_out"}
    marked = shown(portal_client, admin, saved["id"])
    assert marked["signed_out"] is True
    assert "Oleg Owner must open Flow Switch to keep this planned change" in marked["note"]
    [notice] = sandbox.notifications(data.OWNER)
    assert notice.message.startswith("Flow Switch\nOpen Flow Switch to keep your planned changes")
    keep_sign_ins(portal_app)
    assert len(sandbox.notifications(data.OWNER)) == 1  # told once, not at every round
    # She opens the app: a fresh pair, the mark is gone, and the pause happens on time.
    owner = open_page(portal_client, sandbox, data.OWNER)
    assert shown(portal_client, owner, saved["id"])["signed_out"] is False
    moved_clock(10 * DAY)
    run_jobs()
    assert [(c.user_id, c.active) for c in sandbox.flow_changes()] == [(data.OWNER, False)]


def test_a_plan_whose_user_never_came_back_fails_as_signed_out(
    portal_client: FlaskClient, sandbox: SandboxServer, moved_clock: Callable[[float], None], run_jobs: Callable[[], int]
) -> None:
    saved = planned_weeks_ahead(portal_client, sandbox, DESIGN, 40)
    pass_days(sandbox, moved_clock, 40)
    run_jobs()
    assert sandbox.flow_changes() == []
    failed = shown(portal_client, open_page(portal_client, sandbox, data.OWNER), saved["id"])
    assert (failed["pause"]["state"], failed["pause"]["outcome"]) == ("failed", "signed_out")
    assert "Bitrix24 no longer accepts the sign-in of Oleg Owner" in failed["note"]


def test_notices_go_out_in_one_request_and_report_who_was_not_reached(
    portal_app: Flask, with_im: SandboxServer, portal_client: FlaskClient
) -> None:
    sandbox = with_im
    open_page(portal_client, sandbox, data.ADMIN)
    requests_before = sandbox.rest_requests
    with portal_app.app_context():
        failed = notices.send(
            sandbox.member_id, data.ADMIN, [data.OWNER, data.MEMBER, 999], "Budget [url=http://x]here[/url]", "t1"
        )
    assert failed == {999: "not_delivered"}
    assert sandbox.rest_requests == requests_before + 1
    assert [n.message for n in sandbox.notifications(data.MEMBER)] == ["Flow Switch\nBudget [url=http://x]here[/url]"]
    assert notices.plain("[url=http://x]x[/url]") == "[\u200burl=http://x]x[\u200b/url]"


def test_notices_need_the_im_scope(portal_app: Flask, sandbox: SandboxServer, portal_client: FlaskClient) -> None:
    open_page(portal_client, sandbox, data.ADMIN)
    with portal_app.app_context():
        assert oauth.store().get_user(sandbox.member_id, data.ADMIN).scope == "task,user,placement"
        failed = notices.send(sandbox.member_id, data.ADMIN, [data.OWNER], "hello", "t1")
    assert failed == {data.OWNER: "no_scope"}
    assert sandbox.calls("im.notify.system.add") == 0
