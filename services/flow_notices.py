"""Telling a flow's people that it stopped, or started again, taking tasks (issue 11).

While a flow is off, a task sent to it is not distributed (the tasks module's
``FlowFieldHandler`` drops ``FLOW_ID`` for an inactive flow; older versions refuse the task),
and Bitrix24's own flow notifications say nothing about on and off. So after a switch that
changed flows (a single switch, a bulk, a scheduled edge) their people are told in Bitrix24:

- ``announce`` runs after the switch's answer is sent (``core/deferred.py``) and queues one RQ
  job, ``deliver`` (ids only): a notice never delays a switch or changes its answer, and one
  that fails is neither retried nor able to touch the switch;
- the job acts with the switching user's own token (never the installer's), as background work
  of the portal's budget, and tells whom each flow's setting names (``notice_store``: its team
  by default, its task creators, or nobody), as far as Bitrix24 lets that user see them
  (``services/recipients.py``), never the switcher, at most ``NOTICE_MAX_RECIPIENTS`` people a
  notice (above that nobody, and the switcher hears why);
- ``im.notify.system.add`` through ``services/notices.py``: one recipient per call, in batches;
  ``TAG`` ``flow_switch_flow_<id>``, so a newer notice about a flow replaces the older one; a link
  to the flow, who switched it and, for a planned pause, when it resumes; in the language of the
  page that switched (the plan's, for a planned change);
- a notice that did not reach everyone leaves an activity entry of its own (``how`` =
  ``notice``) and a report its switcher sees once, on their next page open.

Nothing at all happens on a portal that did not grant ``im`` or where an administrator turned
notices off.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import redis
from flask import current_app
from flask_babel import gettext as _

import oauth
from b24.errors import B24Error
from core import jobs
from core.deferred import after_answer
from core.i18n import current_locale, use_portal_language, use_time_zone
from core.redis_client import get_redis
from core.urls import origin_of
from oauth.tokens import rest_client_for
from services import activity, local_times, notice_store, notices, recipients
from services import schedule_store as plans
from services.flows import GET, flow_url
from services.notice_store import NOBODY, TEAM, NoticeSettings

log = logging.getLogger(__name__)

#: what a report says happened: some people were not reached, the notice would have reached too
#: many (nobody was told), or some of the flow's people are hidden from the switcher
FAILED, TOO_MANY, HIDDEN = activity.FAILED, activity.TOO_MANY, activity.HIDDEN
#: the longest one notice job may take (it waits behind people for the portal's budget)
JOB_TIMEOUT = 600


def tag(flow_id: int) -> str:
    """One tag per flow: Bitrix24 replaces a recipient's older notice with the same tag."""
    return f"flow_switch_flow_{int(flow_id)}"


def announce(
    member_id: str,
    user_id: int,
    flow_ids: Sequence[int],
    active: bool,
    *,
    how: str,
    plan: str = "",
    settings: NoticeSettings,
    scope: str,
) -> None:
    """``user_id`` switched ``flow_ids`` to ``active`` (``how``: switch, bulk, schedule; ``plan``: the
    schedule behind it). ``settings`` and ``scope`` (the switcher's token's) come with the switch's
    own round trips: a portal without notices costs nothing more; otherwise the notice is queued
    once the answer is out."""
    if not flow_ids or not sends_notices(settings, scope):
        return
    if all(settings.audience(flow_id) == NOBODY for flow_id in flow_ids):
        return
    after_answer(_queue, member_id, int(user_id), sorted(flow_ids), bool(active), how, current_locale(), plan)


def sends_notices(settings: NoticeSettings, scope: str) -> bool:
    """Whether the portal tells anyone: it granted ``im`` and no administrator turned notices off."""
    return settings.enabled and notices.has_scope(scope)


def _queue(member_id: str, user_id: int, flow_ids: list[int], active: bool, how: str, lang: str, plan: str) -> None:
    # The job reads the settings again: an administrator may change them before it runs.
    jobs.run_now(
        deliver, member_id, user_id, flow_ids, active, how, lang, plan,
        job_id=f"notice-{secrets.token_hex(8)}", timeout=JOB_TIMEOUT,
    )


def deliver(member_id: str, user_id: int, flow_ids: list[int], active: bool, how: str, lang: str, plan: str) -> str:
    """The RQ job: tell each flow's people; returns what happened (for the worker's log)."""
    with current_app.app_context():  # a fresh ``g``: this notice's language and zone
        r = get_redis()
        settings = notice_store.load(r, member_id)  # read again: an administrator may have changed it
        stored = oauth.store().get_user(member_id, user_id)
        if stored is None or not sends_notices(settings, stored.scope):
            return "off"
        audiences = {flow_id: settings.audience(flow_id) for flow_id in flow_ids}
        wanted = {flow_id: audience for flow_id, audience in audiences.items() if audience != NOBODY}
        if not wanted:
            return "nobody"
        schedule = plans.get(r, member_id, plan) if plan else None
        use_portal_language(schedule.lang if schedule is not None else lang)
        try:
            told = _tell(r, member_id, user_id, wanted, active, schedule, origin_of(stored.client_endpoint))
        except (B24Error, redis.RedisError) as exc:
            log.info("Portal %s: notices of user %s not sent (%s)", member_id, user_id, type(exc).__name__)
            reason = getattr(exc, "code", "") or type(exc).__name__
            for flow_id in wanted:
                _report(r, member_id, user_id, flow_id, "", active, FAILED, reason, of=0)
            return "failed"
        return f"told {told}"


def _tell(
    r: Any,
    member_id: str,
    user_id: int,
    wanted: dict[int, str],
    active: bool,
    schedule: plans.Schedule | None,
    origin: str,
) -> int:
    """Read the flows and their people with the user's token, send each flow's notice; how many were told."""
    client = rest_client_for(member_id, user_id, interactive=False)
    commands = {f"f{flow_id}": (GET, {"flowId": flow_id}) for flow_id in wanted}
    read = client.batch_all({**commands, "me": ("profile", {})})
    me = read.results.get("me") if isinstance(read.results.get("me"), dict) else {}
    who = " ".join(part for part in (me.get("NAME"), me.get("LAST_NAME")) if part) or f"#{user_id}"
    flows: dict[int, dict] = {}
    for flow_id in wanted:
        raw = read.results.get(f"f{flow_id}")
        if isinstance(raw, dict):
            flows[flow_id] = raw
        else:  # the switcher can no longer read it (a moment ago they could)
            error = read.errors.get(f"f{flow_id}")
            _report(r, member_id, user_id, flow_id, "", active, FAILED, error.code if error else "", of=0)
    cap = int(current_app.config["NOTICE_MAX_RECIPIENTS"])
    lists = {
        flow_id: raw.get("team" if wanted[flow_id] == TEAM else "taskCreators") or [] for flow_id, raw in flows.items()
    }
    people = recipients.expand(client, lists, cap=cap)
    told = 0
    for flow_id, raw in flows.items():
        name = str(raw.get("name") or f"#{flow_id}")
        members = people[flow_id]
        targets = members.users - {user_id}
        count = max(len(targets), members.at_least)
        if count > cap:
            _report(r, member_id, user_id, flow_id, name, active, TOO_MANY, num=count, limit=cap)
            continue
        if targets:
            text = _message(origin, flow_id, name, who, active, schedule)
            failed = notices.send(member_id, user_id, targets, text, tag(flow_id))
            told += len(targets) - len(failed)
            if failed:
                reasons = ", ".join(sorted(set(failed.values())))
                _report(
                    r, member_id, user_id, flow_id, name, active, FAILED, reasons, num=len(failed), of=len(targets)
                )
        if members.hidden:
            _report(r, member_id, user_id, flow_id, name, active, HIDDEN)
    return told


def _message(
    origin: str, flow_id: int, name: str, who: str, active: bool, schedule: plans.Schedule | None
) -> Callable[[int], str]:
    """The notice for each recipient (the link opens the flow in their own flow list)."""
    values = {"who": notices.plain(who)}
    resume = schedule.resume if schedule is not None and not active else None
    if schedule is not None and resume is not None and resume.state == plans.PENDING:
        use_time_zone(schedule.time_zone)
        values |= {"time": local_times.text(resume.at), "zone": schedule.time_zone}
        sentence = _(
            "The flow “%(flow)s” was paused as planned by %(who)s until %(time)s (%(zone)s): tasks sent to it "
            "until then are not distributed."
        )
    elif active:
        sentence = (
            _("The flow “%(flow)s” was resumed as planned by %(who)s: it takes tasks again.")
            if schedule is not None
            else _("%(who)s resumed the flow “%(flow)s”: it takes tasks again.")
        )
    else:
        sentence = (
            _(
                "The flow “%(flow)s” was paused as planned by %(who)s: tasks sent to it are not distributed "
                "until it is resumed."
            )
            if schedule is not None
            else _("%(who)s paused the flow “%(flow)s”: tasks sent to it are not distributed until it is resumed.")
        )

    def text(recipient: int) -> str:
        link = f"[url={flow_url(origin, recipient, flow_id)}]{notices.plain(name)}[/url]"
        return sentence % {**values, "flow": link}

    return text


def _report(
    r: Any,
    member_id: str,
    user_id: int,
    flow_id: int,
    name: str,
    active: bool,
    kind: str,
    answer: str = "",
    **numbers: int,
) -> None:
    """A notice that did not reach everyone: an activity entry, and a report for the switcher's next page open."""
    log.info("Portal %s: notice about flow %s (user %s): %s %s", member_id, flow_id, user_id, kind, answer)
    # A flow the job could not read: its name as the switch recorded it a moment ago.
    name = name or r.hget(activity.flows_key(member_id), flow_id) or f"#{flow_id}"
    change = activity.Change(flow_id, name, not active, active, kind, answer)
    activity.record(r, member_id, user_id, activity.NOTICE, [change])
    notice_store.add_report(
        r, member_id, user_id, {"flow": flow_id, "name": name, "active": active, "kind": kind, **numbers}
    )
