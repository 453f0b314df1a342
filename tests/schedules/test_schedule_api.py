"""``/api/schedules``: planning a pause and a resume, checked the way Bitrix24 checks a switch."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from sandbox import data
from sandbox.server import SandboxServer
from services import schedule_store as store
from services.errors import ScheduleOverlap
from tests.flows.conftest import Page, open_page
from tests.install.live import redis_dump
from tests.schedules.conftest import (
    BUDGET,
    DESIGN,
    SUPPORT,
    listing,
    plan,
    scheduled_jobs,
    stored,
    wall,
)

NEW_YORK = "America/New_York"  # OWNER's Bitrix24 zone


def epoch(local: str, zone: str) -> float:
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)).timestamp()


def test_the_owner_plans_a_pause_and_resume_in_her_zone_and_sees_it(
    portal_client: FlaskClient, portal_app: Flask, sandbox: SandboxServer, owner: Page, redis_db: redis.Redis
) -> None:
    pause, resume = wall(10, 18, NEW_YORK), wall(25, 9, NEW_YORK)
    answer = plan(portal_client, owner, SUPPORT, pause, resume, time_zone="Asia/Tokyo")
    assert answer.status_code == 201, answer.get_json()
    saved = answer.get_json()["schedule"]
    # Bitrix24's TIME_ZONE wins over the browser's.
    assert saved["pause"]["at"] == epoch(pause, NEW_YORK) and saved["resume"]["at"] == epoch(resume, NEW_YORK)
    assert saved["pause"]["local"] == pause and saved["status"] == "pending"
    start = datetime.fromisoformat(pause)
    assert saved["summary"].startswith(f"Paused {start:%b} {start.day}, {start.year}, 6:00\u202fPM – ")
    assert saved["summary"].endswith("9:00\u202fAM by Oleg Owner")
    assert saved["flow"] == {"id": SUPPORT, "name": "Support requests"} and saved["mine"] is True

    shown = listing(portal_client, owner)
    assert shown["time_zone"] == NEW_YORK and shown["time_zone_source"] == "bitrix24"
    assert [s["id"] for s in shown["schedules"]] == [saved["id"]]
    # One job per edge, at the edge's time.
    jobs = scheduled_jobs(portal_app)
    assert jobs == {
        store.job_id(saved["id"], "pause"): pytest.approx(epoch(pause, NEW_YORK)),
        store.job_id(saved["id"], "resume"): pytest.approx(epoch(resume, NEW_YORK)),
    }
    # Nothing was switched: a plan only reads.
    assert sandbox.calls("tasks.flow.Flow.activate") == 0


def test_a_pause_alone_and_a_resume_alone_are_plans_too(
    portal_client: FlaskClient, owner: Page, sandbox: SandboxServer
) -> None:
    assert plan(portal_client, owner, SUPPORT, wall(3), None).status_code == 201
    assert plan(portal_client, owner, DESIGN, None, wall(3)).status_code == 201
    summaries = sorted(s["summary"] for s in listing(portal_client, owner)["schedules"])
    assert summaries[0].startswith("Paused from ") and summaries[1].startswith("Resumed at ")


def test_the_user_zone_falls_back_to_the_browser_then_utc(
    portal_client: FlaskClient, sandbox: SandboxServer
) -> None:
    sandbox.set_time_zone(data.OWNER, "")  # the automatic zone: Bitrix24 names none
    page = open_page(portal_client, sandbox, data.OWNER)
    pause = wall(5, 18, "Europe/Paris")
    saved = plan(portal_client, page, SUPPORT, pause, None, time_zone="Europe/Paris").get_json()["schedule"]
    assert saved["pause"]["at"] == epoch(pause, "Europe/Paris")
    assert listing(portal_client, page, tz="Europe/Paris")["time_zone_source"] == "browser"
    assert listing(portal_client, page, tz="Not/AZone")["time_zone"] == "UTC"


def _next_transition(zone: str, forward: bool) -> datetime:
    """Midnight of the next day whose night the clocks of ``zone`` move forward (or back)."""
    tz = ZoneInfo(zone)
    day = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
    while True:
        before, after = day.utcoffset(), (day + timedelta(days=1)).utcoffset()
        if before != after and (after > before) == forward:  # type: ignore[operator]
            return day
        day += timedelta(days=1)


def test_a_plan_across_a_daylight_saving_change_keeps_the_wall_clock_times(
    portal_client: FlaskClient, owner: Page
) -> None:
    spring = _next_transition(NEW_YORK, forward=True)
    pause, resume = f"{spring - timedelta(days=1):%Y-%m-%d}T18:00", f"{spring + timedelta(days=1):%Y-%m-%d}T18:00"
    saved = plan(portal_client, owner, SUPPORT, pause, resume).get_json()["schedule"]
    # 18:00 before the change is UTC-5, 18:00 after it is UTC-4: 47 hours apart, not 48.
    assert saved["resume"]["at"] - saved["pause"]["at"] == 47 * 3600
    assert (saved["pause"]["local"], saved["resume"]["local"]) == (pause, resume)

    # 02:30 on the night the clocks jump from 02:00 to 03:00 never happens.
    skipped = f"{spring:%Y-%m-%d}T02:30"
    refused = plan(portal_client, owner, DESIGN, skipped, None)
    assert refused.status_code == 400 and refused.get_json()["error"] == "no_such_time"
    assert skipped.replace("T", " ") in refused.get_json()["message"]

    # 01:30 on the night the clocks go back happens twice: the first one counts.
    autumn = _next_transition(NEW_YORK, forward=False)
    twice = f"{autumn:%Y-%m-%d}T01:30"
    saved = plan(portal_client, owner, DESIGN, twice, None).get_json()["schedule"]
    assert saved["pause"]["at"] == datetime.fromisoformat(twice).replace(tzinfo=ZoneInfo(NEW_YORK), fold=0).timestamp()


BAD = {
    "not json": ("not json", 400, "bad_request"),
    "a list": ([1], 400, "bad_request"),
    "no flow": ({"pause_at": wall(2)}, 400, "bad_request"),
    "flow as text": ({"flow_id": "1", "pause_at": wall(2)}, 400, "bad_request"),
    "flow as bool": ({"flow_id": True, "pause_at": wall(2)}, 400, "bad_request"),
    "flow too big": ({"flow_id": 2**63, "pause_at": wall(2)}, 400, "bad_request"),
    "time as number": ({"flow_id": SUPPORT, "pause_at": 1_900_000_000}, 400, "bad_request"),
    "not a date": ({"flow_id": SUPPORT, "pause_at": "next friday"}, 400, "bad_request"),
    "date only": ({"flow_id": SUPPORT, "pause_at": "2031-12-24"}, 400, "bad_request"),
    "no times": ({"flow_id": SUPPORT}, 400, "empty_schedule"),
    "past": ({"flow_id": SUPPORT, "pause_at": wall(-1)}, 400, "in_past"),
    "past resume": ({"flow_id": SUPPORT, "resume_at": wall(-1)}, 400, "in_past"),
    "resume before pause": ({"flow_id": SUPPORT, "pause_at": wall(5), "resume_at": wall(4)}, 400, "resume_before_pause"),
    "resume at pause": ({"flow_id": SUPPORT, "pause_at": wall(5), "resume_at": wall(5)}, 400, "resume_before_pause"),
    "years ahead": ({"flow_id": SUPPORT, "pause_at": wall(400)}, 400, "too_far_ahead"),
    "huge zone": ({"flow_id": SUPPORT, "pause_at": wall(2), "time_zone": "x" * 100}, 400, "bad_request"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_is_refused_clearly_and_nothing_is_stored(
    portal_client: FlaskClient, owner: Page, redis_db: redis.Redis, case: str
) -> None:
    body, status, code = BAD[case]
    before = _schedule_state(redis_db)
    if isinstance(body, str):
        answer = portal_client.post(
            "/api/schedules", data=body, content_type="application/json", headers=owner.headers()
        )
    else:
        answer = portal_client.post("/api/schedules", json=body, headers=owner.headers())
    assert answer.status_code == status, answer.get_json()
    payload = answer.get_json()
    assert payload["error"] == code and len(payload["message"]) > 20
    assert _schedule_state(redis_db) == before


def _schedule_state(r: redis.Redis) -> dict[str, Any]:
    """Schedules, the due set and RQ's keys (what a refused request must leave alone)."""
    return {k: v for k, v in redis_dump(r).items() if ":schedule" in k or k.startswith("rq:")}


def test_only_who_may_switch_a_flow_may_plan_it(
    portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    member = open_page(portal_client, sandbox, data.MEMBER)  # in the team: sees the flow, may not switch it
    refused = plan(portal_client, member, SUPPORT, wall(2), None)
    assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden"
    assert "only its creator, its administrator or a portal administrator" in refused.get_json()["message"]
    outsider = open_page(portal_client, sandbox, data.OUTSIDER)  # Bitrix24 shows her no such flow
    hidden = plan(portal_client, outsider, SUPPORT, wall(2), None)
    assert hidden.status_code == 404 and hidden.get_json()["error"] == "not_found"
    gone = plan(portal_client, open_page(portal_client, sandbox, data.OWNER), 999, wall(2), None)
    assert gone.status_code == 404
    assert stored(redis_db, sandbox.member_id) == []
    # A portal administrator may plan any flow; the owner may plan another's flow she administers.
    admin = open_page(portal_client, sandbox, data.ADMIN)
    assert plan(portal_client, admin, SUPPORT, wall(2), None).status_code == 201


def test_two_plans_of_one_flow_may_not_overlap(
    portal_client: FlaskClient, sandbox: SandboxServer, owner: Page, redis_db: redis.Redis
) -> None:
    assert plan(portal_client, owner, SUPPORT, wall(10), wall(20)).status_code == 201
    admin = open_page(portal_client, sandbox, data.ADMIN)
    for pause, resume in ((wall(15), wall(25)), (wall(5), wall(11)), (wall(12), None), (None, wall(15))):
        refused = plan(portal_client, admin, SUPPORT, pause, resume)
        assert refused.status_code == 422, (pause, resume)
        payload = refused.get_json()
        assert payload["error"] == "overlap" and "by Oleg Owner" in payload["message"]
    # Before it, after it, and on another flow: fine.
    assert plan(portal_client, admin, SUPPORT, wall(2), wall(9)).status_code == 201
    assert plan(portal_client, admin, SUPPORT, wall(21), None).status_code == 201
    assert plan(portal_client, admin, BUDGET, wall(12), wall(15)).status_code == 201
    assert len(stored(redis_db, sandbox.member_id)) == 4


def test_a_user_has_at_most_the_limit_of_pending_plans(
    app_config: dict, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    from app import create_app
    from tests.flows.conftest import portal_settings

    client = create_app({**portal_settings(app_config, sandbox), "SCHEDULES_PER_USER": 2}).test_client()
    page = open_page(client, sandbox, data.OWNER)
    assert plan(client, page, 1, wall(2), None).status_code == 201
    assert plan(client, page, 2, wall(2), None).status_code == 201
    refused = plan(client, page, 3, wall(2), None)
    assert refused.status_code == 422 and refused.get_json()["error"] == "too_many_schedules"
    assert "2 planned changes" in refused.get_json()["message"]
    assert len(stored(redis_db, sandbox.member_id)) == 2
    # Another user's plans do not count against her.
    admin = open_page(client, sandbox, data.ADMIN)
    assert plan(client, admin, 3, wall(2), None).status_code == 201


def test_who_sees_and_who_cancels(
    portal_client: FlaskClient, portal_app: Flask, sandbox: SandboxServer, owner: Page, redis_db: redis.Redis
) -> None:
    saved = plan(portal_client, owner, SUPPORT, wall(2), wall(3)).get_json()["schedule"]
    admin = open_page(portal_client, sandbox, data.ADMIN)
    member = open_page(portal_client, sandbox, data.MEMBER)
    admins_own = plan(portal_client, admin, BUDGET, wall(2), None).get_json()["schedule"]

    assert {s["id"] for s in listing(portal_client, admin)["schedules"]} == {saved["id"], admins_own["id"]}
    assert {s["id"] for s in listing(portal_client, member)["schedules"]} == set()
    # The owner of "Budget approvals"'s team may not switch it: she sees only her own plan.
    assert {s["id"] for s in listing(portal_client, owner)["schedules"]} == {saved["id"]}
    mine = listing(portal_client, owner)["schedules"][0]
    assert mine["can_cancel"] and mine["can_edit"]

    # A member cannot cancel what she cannot see; the admin cancels the owner's plan (Bitrix24
    # confirms she administers the portal); its jobs go with it.
    url = f"/api/schedules/{saved['id']}"
    assert portal_client.delete(url, headers=member.headers()).status_code == 404
    assert portal_client.delete(url, headers=admin.headers()).get_json() == {"cancelled": saved["id"]}
    assert [s.id for s in stored(redis_db, sandbox.member_id)] == [admins_own["id"]]
    assert set(scheduled_jobs(portal_app)) == {store.job_id(admins_own["id"], "pause")}
    assert portal_client.delete(url, headers=owner.headers()).status_code == 404
    assert portal_client.delete("/api/schedules/..%2Fuser", headers=owner.headers()).status_code == 404


def test_a_session_that_claims_admin_cannot_cancel_anothers_plan(
    portal_client: FlaskClient, portal_app: Flask, sandbox: SandboxServer, owner: Page, redis_db: redis.Redis
) -> None:
    from services import frame_session

    saved = plan(portal_client, owner, SUPPORT, wall(2), None).get_json()["schedule"]
    with portal_app.test_request_context():
        session = frame_session.load(open_page(portal_client, sandbox, data.MEMBER).session)
        forged = frame_session.issue(frame_session.FrameSession(**{**session.__dict__, "is_admin": True}))
    answer = portal_client.delete(f"/api/schedules/{saved['id']}", headers={"X-Frame-Session": forged})
    assert answer.status_code == 403 and answer.get_json()["error"] == "admin_only"
    assert len(stored(redis_db, sandbox.member_id)) == 1


def test_saving_again_replaces_the_times_and_the_jobs(
    portal_client: FlaskClient, portal_app: Flask, sandbox: SandboxServer, owner: Page, redis_db: redis.Redis
) -> None:
    saved = plan(portal_client, owner, SUPPORT, wall(2), wall(4)).get_json()["schedule"]
    url = f"/api/schedules/{saved['id']}"
    answer = portal_client.put(url, json={"pause_at": None, "resume_at": wall(6)}, headers=owner.headers())
    assert answer.status_code == 200, answer.get_json()
    again = answer.get_json()["schedule"]
    assert again["id"] == saved["id"] and again["pause"] is None
    assert scheduled_jobs(portal_app) == {store.job_id(saved["id"], "resume"): pytest.approx(again["resume"]["at"])}
    admin = open_page(portal_client, sandbox, data.ADMIN)
    refused = portal_client.put(url, json={"resume_at": wall(7)}, headers=admin.headers())
    assert refused.status_code == 403 and refused.get_json()["error"] == "not_yours"
    other_flow = portal_client.put(url, json={"flow_id": DESIGN, "resume_at": wall(7)}, headers=owner.headers())
    assert other_flow.status_code == 400
    assert [s.resume.at for s in stored(redis_db, sandbox.member_id)] == [again["resume"]["at"]]  # type: ignore[union-attr]


@pytest.mark.parametrize(("lang", "start"), [("ru", "Пауза"), ("de", "Pausiert")])
def test_texts_come_in_the_users_language(
    portal_client: FlaskClient, sandbox: SandboxServer, lang: str, start: str
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER, lang=lang)
    saved = plan(portal_client, page, SUPPORT, wall(3, 18, NEW_YORK), None).get_json()["schedule"]
    assert saved["summary"].startswith(start) and "18:00" in saved["summary"]
    refused = plan(portal_client, page, SUPPORT, wall(-3), None).get_json()
    assert refused["error"] == "in_past" and "That time" not in refused["message"]


def test_the_api_needs_the_frame_session(portal_client: FlaskClient) -> None:
    assert portal_client.get("/api/schedules").status_code == 401
    assert portal_client.post("/api/schedules", json={"flow_id": 1}).status_code == 401


def test_a_plan_saved_while_another_was_being_checked_is_checked_again(
    portal_client: FlaskClient, portal_app: Flask, owner: Page, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    """Two saves at once: the one whose check ran on a portal that changed meanwhile checks again."""
    first = plan(portal_client, owner, SUPPORT, wall(3), wall(4)).get_json()["schedule"]
    [saved] = stored(redis_db, sandbox.member_id)
    checking, other_saved = threading.Event(), threading.Event()
    seen: list[int] = []

    def decide(current: list[store.Schedule]) -> store.Change:
        seen.append(len(current))
        if len(seen) == 1:
            checking.set()
            assert other_saved.wait(10)
        if any(s.flow_id == DESIGN for s in current):
            raise ScheduleOverlap("taken")
        return store.Change(put=[replace(saved, id=store.new_id(), flow_id=DESIGN)])

    def slow_save() -> None:
        with portal_app.app_context(), pytest.raises(ScheduleOverlap):
            store.transact(redis_db, sandbox.member_id, decide)

    thread = threading.Thread(target=slow_save)
    thread.start()
    assert checking.wait(10)
    assert plan(portal_client, owner, DESIGN, wall(3), None).status_code == 201  # saved in between
    other_saved.set()
    thread.join(10)
    assert seen == [1, 2]  # checked again, and this time it saw the plan saved in between
    assert {s.flow_id for s in stored(redis_db, sandbox.member_id)} == {SUPPORT, DESIGN}
    assert first["id"] in {s.id for s in stored(redis_db, sandbox.member_id)}


def test_the_list_costs_no_portal_request_after_the_page_opened(
    portal_client: FlaskClient, sandbox: SandboxServer, owner: Page
) -> None:
    # The page open's batch (flows, names, user.admin) read her profile too: her zone is known.
    sandbox.reset_counters()
    assert listing(portal_client, owner)["time_zone"] == NEW_YORK
    assert sandbox.rest_requests == 0
