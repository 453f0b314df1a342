"""The worker's side of a schedule: one edge at its time, with the scheduling user's own token.

``run_edge`` is the RQ job (ids only). It holds the schedule's run lock, so a schedule's
edges run one at a time and a second worker (a retried or re-queued job) finds nothing to
do; every switch goes through ``switching.switch(..., how="schedule")``, whose desired
state and flow lock make a repeated run harmless: a flow already in the wanted state is
left alone and the edge says so.

- Bitrix24 refuses (rights changed, flow gone, sign-in dead): nothing else is tried. The
  edge fails with Bitrix24's own reason, a pause's resume is skipped, and the user gets a
  notice where the portal granted ``im`` (the page tells them either way).
- Bitrix24 is busy or unreachable: the edge stays pending and the sweep
  (``services/schedule_upkeep.py``) queues it again after a backoff, for ``SCHEDULE_RETRY_FOR``.
- A pause that could not run before its resume time is skipped, never applied late.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from flask import current_app
from flask_babel import gettext as _

import oauth
from b24.errors import (
    AuthServerUnavailable,
    B24Error,
    InvalidToken,
    OperationTimeLimit,
    PortalUnreachable,
    RateLimited,
    ServerError,
)
from core import clock, jobs
from core.i18n import use_portal_language, use_time_zone
from core.locks import lock, release
from core.redis_client import get_redis
from oauth.tokens import rest_client_for
from services import local_times, notices, switching
from services import schedule_store as store
from services.errors import BitrixRefusal, FlowBusy
from services.schedule_store import (
    CHANGED,
    DESIRED,
    DONE,
    FAILED,
    GAVE_UP,
    PAUSE,
    PAUSE_FAILED,
    PENDING,
    REFUSED,
    RESUME,
    RESUME_PASSED,
    SIGNED_OUT,
    SKIPPED,
    UNCHANGED,
    Edge,
    Schedule,
)

log = logging.getLogger(__name__)

#: Bitrix24 could not take the switch now; the edge is tried again later
TRANSIENT = (FlowBusy, RateLimited, OperationTimeLimit, AuthServerUnavailable, PortalUnreachable, ServerError)
#: a job may start this much before its edge's time (clocks of two machines)
EARLY = 1.0
#: runs of one edge at most (a run that crashes counts too)
MAX_ATTEMPTS = 12
BACKOFF_FIRST, BACKOFF_MAX = 30.0, 600.0


def run_timeout() -> float:
    """The longest one run may take (its lock and its job's timeout): a refresh, the budget wait,
    the flow lock's wait, a read, the toggle, a read again, and a notice."""
    config = current_app.config
    return 6 * float(config["B24_HTTP_TIMEOUT"]) + float(config["SWITCH_LOCK_WAIT"]) + 2


def schedule_jobs(schedule: Schedule) -> None:
    """One RQ job per pending edge at its time (replacing the edge's earlier job, if any)."""
    for name, edge in schedule.edges():
        if edge.state == PENDING:
            jobs.run_at(
                edge.at,
                run_edge,
                schedule.member_id,
                schedule.id,
                name,
                job_id=store.job_id(schedule.id, name),
                timeout=run_timeout(),
            )


def cancel_jobs(schedule: Schedule) -> None:
    jobs.cancel(store.job_id(schedule.id, name) for name in store.EDGES)


def run_edge(member_id: str, schedule_id: str, edge: str) -> str:
    """The job: bring the flow to the edge's state if it is still due; returns what happened."""
    with current_app.app_context():  # a fresh ``g`` per run: the notice's language and zone
        r = get_redis()
        held = lock(r, store.run_lock_key(member_id, schedule_id), run_timeout(), wait=None)
        if not held.acquire():
            return "running elsewhere"
        try:
            return _run(r, member_id, schedule_id, edge)
        finally:
            release(held)


def _run(r: Any, member_id: str, schedule_id: str, name: str) -> str:
    schedule = store.get(r, member_id, schedule_id)
    edge = schedule.edge(name) if schedule is not None else None
    if schedule is None or edge is None:
        store.forget_members(r, [store.due_member(member_id, schedule_id, name)])
        return "gone"
    if edge.state != PENDING:
        store.track_due(r, schedule)
        return edge.state
    now = clock.now()
    if now < edge.at - EARLY:
        return "not due"  # a job of an earlier save: the current one comes at the edge's time
    if name == PAUSE and schedule.resume is not None and now >= schedule.resume.at:
        return _finish(r, schedule, name, SKIPPED, RESUME_PASSED)
    if name == RESUME and schedule.pause is not None and schedule.pause.state == PENDING:
        # Its pause never got to run (workers down, Bitrix24 busy): it never will.
        _finish(r, schedule, PAUSE, SKIPPED, RESUME_PASSED)
    retry_for = float(current_app.config["SCHEDULE_RETRY_FOR"])
    if edge.attempts >= MAX_ATTEMPTS or (edge.first_try and now > edge.first_try + retry_for):
        return _fail(r, schedule, name, GAVE_UP, "")
    updated = store.update(r, member_id, schedule_id, lambda current: _tried(current, name, edge, now))
    mine = updated.edge(name) if updated is not None else None
    if updated is None or mine is None or mine.at != edge.at or mine.attempts != edge.attempts + 1:
        return "changed meanwhile"  # saved again or cancelled while this run started
    schedule = updated
    try:
        client = rest_client_for(member_id, schedule.user_id, interactive=False)
        result = switching.switch(
            client, r, member_id, schedule.user_id, schedule.flow_id, DESIRED[name], how="schedule", plan=schedule.id
        )
    except (B24Error, FlowBusy) as exc:
        return _refused(r, schedule, name, exc)
    except BitrixRefusal as exc:  # the read was refused: the user may no longer see the flow
        return _fail(r, schedule, name, REFUSED, exc.description)
    if result.error is not None:
        return _refused(r, schedule, name, result.error)
    return _finish(r, schedule, name, DONE, CHANGED if result.changed else UNCHANGED)


def _tried(schedule: Schedule, name: str, expected: Edge, now: float) -> Schedule | None:
    """The schedule with one more attempt of the edge counted (``None`` if the edge changed meanwhile)."""
    edge = schedule.edge(name)
    if edge is None or edge.at != expected.at or edge.state != PENDING:
        return None
    return schedule.with_edge(name, replace(edge, attempts=edge.attempts + 1, first_try=edge.first_try or now))


def _refused(r: Any, schedule: Schedule, name: str, error: Exception) -> str:
    if isinstance(error, TRANSIENT):
        return _retry(r, schedule, name, error)
    if isinstance(error, InvalidToken):
        return _fail(r, schedule, name, SIGNED_OUT, "")
    reason = getattr(error, "description", "") or getattr(error, "code", "") or type(error).__name__
    return _fail(r, schedule, name, REFUSED, str(reason))


def _retry(r: Any, schedule: Schedule, name: str, error: Exception) -> str:
    edge = schedule.edge(name)
    assert edge is not None
    delay = min(BACKOFF_FIRST * 2 ** max(edge.attempts - 1, 0), BACKOFF_MAX)
    store.track_due(r, schedule, retry_at={name: clock.now() + delay})
    log.info("Portal %s: schedule %s %s postponed %.0f s (%s)", schedule.member_id, schedule.id, name, delay,
             type(error).__name__)
    return "retry"


def _finish(r: Any, schedule: Schedule, name: str, state: str, outcome: str, reason: str = "") -> str:
    """Record the edge's end (only if it is still the same pending edge) and keep the due set in step."""
    edge = schedule.edge(name)
    assert edge is not None
    now = clock.now()

    def finished(current: Schedule) -> Schedule | None:
        mine = current.edge(name)
        if mine is None or mine.at != edge.at or mine.state != PENDING:
            return None
        updated = current.with_edge(name, mine.finish(state, outcome, now, reason))
        resume = updated.resume
        if state == FAILED and name == PAUSE and resume is not None and resume.state == PENDING:
            updated = updated.with_edge(RESUME, resume.finish(SKIPPED, PAUSE_FAILED, now))
        return updated

    updated = store.update(r, schedule.member_id, schedule.id, finished)
    if updated is not None:
        store.track_due(r, updated)
        if updated.resume is not None and updated.resume.outcome == PAUSE_FAILED:
            jobs.cancel([store.job_id(schedule.id, RESUME)])
    return outcome


def _fail(r: Any, schedule: Schedule, name: str, outcome: str, reason: str) -> str:
    log.info("Portal %s: schedule %s could not %s flow %s (%s)", schedule.member_id, schedule.id, name,
             schedule.flow_id, outcome)
    _finish(r, schedule, name, FAILED, outcome, reason)
    _notify_failure(schedule, name, outcome, reason)
    return outcome


def _notify_failure(schedule: Schedule, name: str, outcome: str, reason: str) -> None:
    """Tell the user in Bitrix24, in their language and zone; with their token, or when Bitrix24 no
    longer accepts it, with the portal-level one (the installing administrator's)."""
    sender = schedule.user_id
    if outcome == SIGNED_OUT:
        portal = oauth.store().get_portal(schedule.member_id)
        sender = portal.installer_user_id if portal is not None else 0
    if not sender:
        return
    use_portal_language(schedule.lang)
    use_time_zone(schedule.time_zone)
    edge = schedule.edge(name)
    assert edge is not None
    values = {
        "flow": notices.plain(schedule.flow_name),
        "time": local_times.text(edge.at),
        "reason": notices.plain(failure_text(outcome, reason, schedule.user_name)),
    }
    message = (
        _("Your planned pause of the flow “%(flow)s” at %(time)s did not happen: %(reason)s", **values)
        if name == PAUSE
        else _("Your planned resume of the flow “%(flow)s” at %(time)s did not happen: %(reason)s", **values)
    )
    notices.send(schedule.member_id, sender, [schedule.user_id], message, f"flow_switch_schedule_{schedule.id}")


def failure_text(outcome: str, reason: str, user_name: str) -> str:
    """Why an edge failed, for people (the page and the notice)."""
    if outcome == SIGNED_OUT:
        return _("Bitrix24 no longer accepts the sign-in of %(name)s; they need to open Flow Switch again.",
                 name=user_name)
    if outcome == GAVE_UP:
        return _("Bitrix24 stayed busy or unreachable, so the app gave up.")
    return _("Bitrix24 refused: %(reason)s", reason=reason)
