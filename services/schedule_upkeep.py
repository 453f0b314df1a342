"""The worker's housekeeping for schedules: edges whose job was lost, and sign-ins that must outlive plans.

``sweep`` runs in every job worker's RQ maintenance round (``worker.py``, every
``JOBS_MAINTENANCE_SECONDS``); a Redis lock lets one worker at a time do it. It does not
depend on RQ's scheduler, whose single active instance may be the worker that just died.

- **Catch-up**: an edge still pending ``SCHEDULE_CATCH_UP_AFTER`` seconds after its time
  (or after its retry time), not running (its run lock is free) and with no job waiting
  for it, is queued again: a worker killed mid-run, a jobs Redis restarted without its
  data, a transient failure whose backoff is over. A repeated run is harmless (run lock,
  desired state, flow lock).
- **Sign-ins**: refresh tokens expire (28 days in older Bitrix24 docs, 180 in current ones;
  the shorter is assumed). Every ``SCHEDULE_TOKEN_CHECK_EVERY`` seconds the pair of each user
  with a pending plan is renewed once it is ``SCHEDULE_TOKEN_REFRESH_AFTER`` old, through
  the single-flight refresh. Bitrix24 asks apps not to renew before every call or on a
  fixed hourly or daily timer (``settings/oauth/auto-renewal.md``): a pair is renewed at most
  every ``SCHEDULE_TOKEN_REFRESH_AFTER``. A pair Bitrix24 no longer renews marks the user's
  plans "open Flow Switch to keep this planned change" at once, well before they are due,
  and the user gets a notice (sent with the portal-level token, theirs being dead).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from flask import current_app
from flask_babel import gettext as _

import oauth
from b24.errors import B24Error, InvalidToken
from core import clock, jobs
from core.i18n import use_portal_language, use_time_zone
from core.keys import app_key
from core.locks import lock, release
from core.redis_client import get_redis
from oauth.tokens import user_tokens
from services import local_times, notices, schedule_runs
from services import schedule_store as store
from services.schedule_store import PENDING, Schedule

log = logging.getLogger(__name__)

SWEEP_LOCK = app_key("lock", "schedules", "sweep")
KEEPER_KEY = app_key("schedules", "keeper")
#: edges looked at in one catch-up round (the next round takes the rest)
CATCH_UP_BATCH = 500
FRESH, REFRESHED, SIGNED_OUT, LATER = "fresh", "refreshed", "signed_out", "later"


def sweep() -> dict[str, int]:
    """One round: the catch-up, and the sign-ins when their interval is over. Counts what it did."""
    r = get_redis()
    counts: dict[str, int] = defaultdict(int)
    held = lock(r, SWEEP_LOCK, schedule_runs.run_timeout(), wait=None)
    if held.acquire():
        try:
            counts["requeued"] = catch_up(r)
        finally:
            release(held)
    every = int(current_app.config["SCHEDULE_TOKEN_CHECK_EVERY"])
    if r.set(KEEPER_KEY, f"{clock.now():.0f}", nx=True, ex=max(every, 1)):
        for outcome in keep_sign_ins(r).values():
            counts[outcome] += 1
    return dict(counts)


def catch_up(r: Any) -> int:
    """Queue again the pending edges overdue with nobody on them; returns how many."""
    horizon = clock.now() - float(current_app.config["SCHEDULE_CATCH_UP_AFTER"])
    members = r.zrangebyscore(store.DUE_KEY, "-inf", horizon, start=0, num=CATCH_UP_BATCH)
    finished, queued = [], 0
    for member in members:
        member_id, schedule_id, name = store.parse_due_member(member)
        job = store.job_id(schedule_id, name)
        if r.exists(store.run_lock_key(member_id, schedule_id)) or jobs.waiting(job, overdue_before=horizon):
            continue
        schedule = store.get(r, member_id, schedule_id)
        edge = schedule.edge(name) if schedule is not None else None
        if edge is None or edge.state != PENDING:
            finished.append(member)
            continue
        jobs.run_now(
            schedule_runs.run_edge, member_id, schedule_id, name, job_id=job, timeout=schedule_runs.run_timeout()
        )
        queued += 1
    store.forget_members(r, finished)
    if queued:
        log.info("Schedules: %d overdue edge(s) queued again", queued)
    return queued


def _pending_by_user(r: Any) -> dict[tuple[str, int], list[Schedule]]:
    """Every pending plan, by (portal, user), from the due set."""
    ids: dict[str, set[str]] = defaultdict(set)
    for member, _score in r.zscan_iter(store.DUE_KEY):
        member_id, schedule_id, _edge = store.parse_due_member(member)
        ids[member_id].add(schedule_id)
    plans: dict[tuple[str, int], list[Schedule]] = defaultdict(list)
    for member_id, schedule_ids in ids.items():
        raws = r.mget([store.schedule_key(member_id, schedule_id) for schedule_id in sorted(schedule_ids)])
        for schedule in map(store.decode, raws):
            if schedule is not None and schedule.pending:
                plans[(member_id, schedule.user_id)].append(schedule)
    return plans


def keep_sign_ins(r: Any) -> dict[tuple[str, int], str]:
    """Renew the aging pairs of users with pending plans; mark and tell those Bitrix24 refuses."""
    outcomes = {}
    for (member_id, user_id), plans in _pending_by_user(r).items():
        outcomes[(member_id, user_id)] = _keep(r, member_id, user_id, plans)
    return outcomes


def _keep(r: Any, member_id: str, user_id: int, plans: list[Schedule]) -> str:
    now = clock.now()
    pair = oauth.store().get_user(member_id, user_id)
    if pair is None:
        return _signed_out(r, member_id, user_id, plans, "none")
    kept = float(r.hget(store.users_key(member_id), f"kept:{user_id}") or 0)
    if now - max(pair.stored_at, kept) < float(current_app.config["SCHEDULE_TOKEN_REFRESH_AFTER"]):
        return FRESH
    try:
        user_tokens(member_id, user_id, pair).refresh(pair.access_token)
    except InvalidToken:
        return _signed_out(r, member_id, user_id, plans, store.token_mark(pair.refresh_token))
    except B24Error as exc:  # the authorization server is down, the app was removed: not the user's doing
        log.info("Portal %s: sign-in of user %s not renewed now (%s)", member_id, user_id, type(exc).__name__)
        return LATER
    pipe = r.pipeline(transaction=False)
    pipe.hset(store.users_key(member_id), f"kept:{user_id}", f"{now:.3f}")
    pipe.hdel(store.users_key(member_id), f"dead:{user_id}")
    pipe.execute()
    return REFRESHED


def _signed_out(r: Any, member_id: str, user_id: int, plans: list[Schedule], mark: str) -> str:
    """Mark the user's plans; tell them once per dead pair."""
    previous = r.hget(store.users_key(member_id), f"dead:{user_id}")
    r.hset(store.users_key(member_id), f"dead:{user_id}", mark)
    if previous != mark:
        _notify_signed_out(member_id, user_id, min(plans, key=lambda s: s.next_at()))
    log.info("Portal %s: user %s must open the app to keep %d plan(s)", member_id, user_id, len(plans))
    return SIGNED_OUT


def _notify_signed_out(member_id: str, user_id: int, first: Schedule) -> None:
    portal = oauth.store().get_portal(member_id)
    sender = portal.installer_user_id if portal is not None else 0
    if not sender or sender == user_id:
        return  # nobody else's token to send it with: the page tells them
    with current_app.app_context():  # a fresh ``g``: the user's language and zone
        use_portal_language(first.lang)
        use_time_zone(first.time_zone)
        message = _(
            "Open Flow Switch to keep your planned changes: Bitrix24 no longer accepts your sign-in. "
            "The next one is for the flow “%(flow)s” at %(time)s.",
            flow=notices.plain(first.flow_name),
            time=local_times.text(first.next_at()),
        )
    notices.send(member_id, sender, [user_id], message, f"flow_switch_sign_in_{user_id}")
