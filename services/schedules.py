"""Scheduled pause and resume: what users plan for their flows, checked the way Bitrix24 checks a switch.

Saving asks Bitrix24, with the user's own token, whether they may switch the flow
(``services/switch_rights.py``: Bitrix24's own rule for ``tasks.flow.Flow.activate``). Bad input is
refused before anything is stored: past times, a resume before its pause, more than
``SCHEDULES_PER_USER`` pending plans, two plans of one flow that overlap.

Who sees what: users see their own plans, anyone who may switch a flow sees its plans
(as far as the flow's creator and administrator were known at saving), portal
administrators see all. Users cancel their own; cancelling another's needs Bitrix24 to
confirm, with the user's own token, that they administer the portal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from flask import current_app
from flask_babel import gettext as _

import oauth
from b24.errors import B24Error
from core import clock
from core.i18n import use_time_zone
from core.redis_client import get_redis
from oauth.tokens import rest_client_for
from services import local_times, portals, schedule_runs, switch_rights, user_zones
from services import schedule_store as store
from services.errors import (
    BadScheduleRequest,
    EmptySchedule,
    NotYourSchedule,
    PauseAlreadyDone,
    ResumeBeforePause,
    ScheduleNotAllowed,
    ScheduleNotFound,
    ScheduleOverlap,
    TimeInPast,
    TimeTooFarAhead,
    TooManySchedules,
)
from services.frame_session import FrameSession
from services.schedule_store import (
    CHANGED,
    DONE,
    FAILED,
    PAUSE,
    PAUSE_FAILED,
    PENDING,
    RESUME,
    RESUME_PASSED,
    SKIPPED,
    Change,
    Edge,
    Schedule,
)

#: how far ahead a plan may reach
MAX_AHEAD = 366 * 86400.0
#: the longest browser time-zone name accepted (IANA names are shorter)
MAX_ZONE_LENGTH = 64
#: flow ids are Bitrix24's integer keys
MAX_FLOW_ID = 2**31 - 1


@dataclass(frozen=True)
class Plan:
    """What the page sends: the flow, the pause and resume times as the user typed them, their browser's zone."""

    flow_id: int | None
    pause_at: str | None
    resume_at: str | None
    browser_zone: str

    @classmethod
    def from_json(cls, body: object, *, flow_required: bool = True) -> Plan:
        """``{"flow_id": 1, "pause_at": "2026-12-24T18:00", "resume_at": null, "time_zone": "Europe/Berlin"}``
        (``flow_id`` may be left out when a plan is saved again). Raises ``BadScheduleRequest``."""
        if not isinstance(body, dict):
            raise BadScheduleRequest()
        flow = body.get("flow_id")
        zone = body.get("time_zone") or ""
        times = body.get("pause_at"), body.get("resume_at")
        flow_ok = isinstance(flow, int) and not isinstance(flow, bool) and 0 < flow <= MAX_FLOW_ID
        if (
            not (flow_ok or (flow is None and not flow_required))
            or not isinstance(zone, str)
            or len(zone) > MAX_ZONE_LENGTH
            or not all(value is None or isinstance(value, str) for value in times)
        ):
            raise BadScheduleRequest()
        return cls(flow, times[0] or None, times[1] or None, zone)


def _check_with_bitrix24(session: FrameSession, flow_id: int) -> switch_rights.Checked:
    """Bitrix24's switch rule for the user and the flow (``switch_rights``); raises ``FlowNotVisible``
    or ``ScheduleNotAllowed``."""
    checked = switch_rights.check(session, flow_id)
    if not checked.may_switch:
        raise ScheduleNotAllowed()
    return checked


def _edges(plan: Plan, zone: str, now: float, keep_pause: Edge | None) -> tuple[Edge | None, Edge | None]:
    """The plan's edges in UTC, checked: at least one, in the future, within a year, resume after pause.

    ``keep_pause``: a pause that already happened (saving again may change only the resume).
    """
    pause_at = local_times.moment(plan.pause_at, zone)
    resume_at = local_times.moment(plan.resume_at, zone)
    if keep_pause is not None:
        if pause_at is not None and abs(pause_at - keep_pause.at) >= 60:
            raise PauseAlreadyDone()
        pause_at = None
    if pause_at is None and resume_at is None and keep_pause is None:
        raise EmptySchedule()
    for at in (pause_at, resume_at):
        if at is not None and at <= now:
            raise TimeInPast()
        if at is not None and at > now + MAX_AHEAD:
            raise TimeTooFarAhead()
    start = keep_pause.at if keep_pause is not None else pause_at
    if start is not None and resume_at is not None and resume_at <= start:
        raise ResumeBeforePause()
    pause = keep_pause or (Edge(pause_at) if pause_at is not None else None)
    return pause, Edge(resume_at) if resume_at is not None else None


def _admit(schedule: Schedule, current: list[Schedule], limit: int) -> Change:
    """The per-user limit and the overlap rule, against every other pending plan of the portal."""
    others = [s for s in current if s.id != schedule.id and s.pending]
    if sum(1 for s in others if s.user_id == schedule.user_id) >= limit:
        raise TooManySchedules(limit)
    for other in others:
        if other.flow_id == schedule.flow_id and other.overlaps(schedule):
            raise ScheduleOverlap(summary(other))
    return Change(put=[schedule])


def create(session: FrameSession, plan: Plan) -> dict[str, Any]:
    """Check and store a new plan, and schedule its edges; the plan as the page shows it."""
    assert plan.flow_id is not None  # Plan.from_json requires it for a new plan
    checked = _check_with_bitrix24(session, plan.flow_id)
    zone, _source = user_zones.choose(checked.zone, plan.browser_zone)
    pause, resume = _edges(plan, zone, clock.now(), None)
    schedule = Schedule(
        id=store.new_id(),
        member_id=session.member_id,
        user_id=session.user_id,
        user_name=checked.user_name,
        flow_id=plan.flow_id,
        flow_name=str(checked.flow.get("name") or f"#{plan.flow_id}"),
        flow_owner_id=int(checked.flow.get("ownerId") or 0),
        flow_creator_id=int(checked.flow.get("creatorId") or 0),
        lang=session.lang,
        time_zone=zone,
        created_at=clock.now(),
        pause=pause,
        resume=resume,
    )
    limit = int(current_app.config["SCHEDULES_PER_USER"])
    store.transact(get_redis(), session.member_id, lambda current: _admit(schedule, current, limit))
    schedule_runs.schedule_jobs(schedule)
    use_time_zone(zone)
    return view(schedule, session)


def replace_plan(session: FrameSession, schedule_id: str, plan: Plan) -> dict[str, Any]:
    """Save a user's own pending plan again with new times (its jobs are replaced)."""
    r = get_redis()
    existing = _own_pending(r, session, schedule_id)
    if plan.flow_id is not None and plan.flow_id != existing.flow_id:
        raise BadScheduleRequest()  # a plan stays with its flow; plan the other flow anew
    checked = _check_with_bitrix24(session, existing.flow_id)
    zone, _source = user_zones.choose(checked.zone, plan.browser_zone)
    done_pause = existing.pause if existing.pause is not None and existing.pause.state != PENDING else None
    pause, resume = _edges(plan, zone, clock.now(), done_pause)
    schedule = replace(
        existing, pause=pause, resume=resume, time_zone=zone, lang=session.lang, user_name=checked.user_name
    )
    limit = int(current_app.config["SCHEDULES_PER_USER"])

    def decide(current: list[Schedule]) -> Change:
        if not any(s.id == schedule_id and s.pending for s in current):
            raise ScheduleNotFound()
        return _admit(schedule, current, limit)

    store.transact(r, session.member_id, decide)
    schedule_runs.cancel_jobs(existing)
    schedule_runs.schedule_jobs(schedule)
    use_time_zone(zone)
    return view(schedule, session)


def _visible(r: Any, session: FrameSession, schedule_id: str) -> Schedule:
    schedule = store.get(r, session.member_id, schedule_id) if store.valid_id(schedule_id) else None
    if schedule is None or not visible_to(schedule, session):
        raise ScheduleNotFound()
    return schedule


def _own_pending(r: Any, session: FrameSession, schedule_id: str) -> Schedule:
    schedule = _visible(r, session, schedule_id)
    if schedule.user_id != session.user_id:
        raise NotYourSchedule()
    if not schedule.pending:
        raise ScheduleNotFound()
    return schedule


def cancel(session: FrameSession, schedule_id: str) -> None:
    """Cancel a plan (or dismiss a finished one): the user's own, or anyone's for a portal administrator."""
    r = get_redis()
    schedule = _visible(r, session, schedule_id)
    if schedule.user_id != session.user_id:
        portals.check_admin(session.member_id, session.user_id)  # AdminOnly unless Bitrix24 says so
    store.transact(r, session.member_id, lambda current: Change(delete=[schedule_id]))
    schedule_runs.cancel_jobs(schedule)


def forget_portal(member_id: str) -> int:
    """Uninstall: cancel the jobs of every plan of the portal (its keys go with the portal's)."""
    r = get_redis()
    schedules = store.portal_schedules(r, member_id)
    for schedule in schedules:
        schedule_runs.cancel_jobs(schedule)
        store.forget_due(r, schedule)
    return len(schedules)


def visible_to(schedule: Schedule, session: FrameSession) -> bool:
    return (
        session.is_admin
        or schedule.user_id == session.user_id
        or session.user_id in (schedule.flow_owner_id, schedule.flow_creator_id)
    )


def listing(session: FrameSession, browser_zone: object) -> dict[str, Any]:
    """The plans the user may see, newest edge first, with texts in their language and zone."""
    r = get_redis()
    keep = float(current_app.config["SCHEDULE_KEEP_FINISHED"])
    now = clock.now()
    schedules = store.portal_schedules(r, session.member_id)
    expired = [s.id for s in schedules if not s.pending and s.finished_at and now - s.finished_at > keep]
    if expired:
        store.transact(r, session.member_id, lambda current: Change(delete=expired))
    shown = sorted(
        (s for s in schedules if s.id not in expired and visible_to(s, session)), key=lambda s: s.next_at()
    )
    zone, source = user_zones.choose(_bitrix24_zone(r, session), browser_zone)
    use_time_zone(zone)
    stale = signed_out_users(r, session.member_id, {s.user_id for s in shown if s.pending})
    return {
        "time_zone": zone,
        "time_zone_source": source,
        "limit": int(current_app.config["SCHEDULES_PER_USER"]),
        "schedules": [view(s, session, signed_out=s.user_id in stale) for s in shown],
    }


def _bitrix24_zone(r: Any, session: FrameSession) -> str:
    try:
        return user_zones.bitrix24_zone(r, session.member_id, session.user_id, rest_client_for(
            session.member_id, session.user_id
        ))
    except B24Error:
        return ""  # the browser's zone will do; the list itself needs nothing from Bitrix24


def signed_out_users(r: Any, member_id: str, user_ids: set[int]) -> set[int]:
    """Users whose refresh token the worker found dead and who have not opened the app since."""
    if not user_ids:
        return set()
    ids = sorted(user_ids)
    marks = r.hmget(store.users_key(member_id), [f"dead:{user_id}" for user_id in ids])
    stale = set()
    for user_id, mark in zip(ids, marks, strict=True):
        if mark is None:
            continue
        pair = oauth.store().get_user(member_id, user_id)
        if pair is None or store.token_mark(pair.refresh_token) == mark:
            stale.add(user_id)
    return stale


# --- as the page shows it ---------------------------------------------------------------


def summary(schedule: Schedule) -> str:
    """``Paused Dec 24, 2026, 6:00 PM – Jan 8, 2027, 9:00 AM by Oleg Owner`` in the request's language and zone."""
    name = schedule.user_name
    if schedule.pause is not None and schedule.resume is not None:
        return _(
            "Paused %(start)s – %(end)s by %(name)s",
            start=local_times.text(schedule.pause.at),
            end=local_times.text(schedule.resume.at),
            name=name,
        )
    if schedule.pause is not None:
        return _("Paused from %(start)s by %(name)s", start=local_times.text(schedule.pause.at), name=name)
    assert schedule.resume is not None
    return _("Resumed at %(end)s by %(name)s", end=local_times.text(schedule.resume.at), name=name)


def _edge_note(name: str, edge: Edge, schedule: Schedule) -> str:
    if edge.state == PENDING:
        return ""
    if edge.state == DONE:
        if edge.outcome == CHANGED:
            return _("Paused as planned.") if name == PAUSE else _("Resumed as planned.")
        return (
            _("The flow was already off, so nothing changed.")
            if name == PAUSE
            else _("The flow was already on, so nothing changed.")
        )
    if edge.state == SKIPPED and edge.outcome == RESUME_PASSED:
        return _("The pause was skipped: its resume time had passed before it could run.")
    if edge.state == SKIPPED and edge.outcome == PAUSE_FAILED:
        return _("The resume was not tried because the pause failed.")
    text = schedule_runs.failure_text(edge.outcome, edge.reason, schedule.user_name)
    return _("The pause failed: %(reason)s", reason=text) if name == PAUSE else _(
        "The resume failed: %(reason)s", reason=text
    )


def _edge_view(name: str, edge: Edge | None, schedule: Schedule) -> dict[str, Any] | None:
    if edge is None:
        return None
    return {
        "at": round(edge.at, 3),
        "local": local_times.input_value(edge.at),
        "text": local_times.text(edge.at),
        "state": edge.state,
        "outcome": edge.outcome,
        "reason": edge.reason,
        "note": _edge_note(name, edge, schedule),
    }


def view(schedule: Schedule, session: FrameSession, *, signed_out: bool = False) -> dict[str, Any]:
    """The plan for the page, in the request's language and zone (``use_time_zone`` first)."""
    mine = schedule.user_id == session.user_id
    notes = [
        note for name, edge in schedule.edges() if (note := _edge_note(name, edge, schedule))
    ]
    if signed_out:
        notes.append(
            _("%(name)s must open Flow Switch to keep this planned change: Bitrix24 no longer accepts their sign-in.",
              name=schedule.user_name)
        )
    return {
        "id": schedule.id,
        "flow": {"id": schedule.flow_id, "name": schedule.flow_name},
        "user": {"id": schedule.user_id, "name": schedule.user_name},
        "mine": mine,
        "can_cancel": mine or session.is_admin,
        "can_edit": mine and schedule.pending,
        "status": PENDING if schedule.pending else FAILED if schedule.failed else DONE,
        "signed_out": signed_out,
        "pause": _edge_view(PAUSE, schedule.pause, schedule),
        "resume": _edge_view(RESUME, schedule.resume, schedule),
        "summary": summary(schedule),
        "note": " ".join(notes),
    }
