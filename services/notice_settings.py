"""Notices as the page shows them: whether this Bitrix24 sends them, who is told about each flow,
and what became of the user's own notices that did not reach everyone.

Choosing who is told about a flow is for the people Bitrix24 lets switch it (its creator, its
administrator, a portal administrator: ``switch_rights``, asked with the user's own token).
Turning notices off for the whole portal is for portal administrators (``user.admin``, asked
likewise). A report is shown once: reading the page's state empties the user's list.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l

import oauth
from core.redis_client import get_redis
from services import flow_notices, notice_store, notices, portals, switch_rights
from services.errors import NoticeNotAllowed
from services.frame_session import FrameSession

#: a report of a notice that could not even start (the flow or its people could not be read)
_NOBODY_REACHED = "nobody_reached"


def view(session: FrameSession) -> dict[str, Any]:
    """The page's state: ``available`` (the portal granted ``im``), ``enabled`` (no administrator
    turned notices off), the flows told about otherwise than by default, the most people one
    notice may reach, and the user's reports (each once, in their language)."""
    r = get_redis()
    settings = notice_store.load(r, session.member_id)
    stored = oauth.store().get_user(session.member_id, session.user_id)
    return {
        "available": stored is not None and notices.has_scope(stored.scope),
        "enabled": settings.enabled,
        "audiences": {str(flow_id): audience for flow_id, audience in sorted(settings.audiences.items())},
        "limit": int(current_app.config["NOTICE_MAX_RECIPIENTS"]),
        "reports": [report_text(report) for report in notice_store.take_reports(r, session.member_id, session.user_id)],
    }


def set_audience(session: FrameSession, flow_id: int, audience: str) -> dict[str, Any]:
    """Who is told about the flow from now on; only someone Bitrix24 lets switch it may choose.
    Raises ``FlowNotVisible`` or ``NoticeNotAllowed``."""
    if not switch_rights.check(session, flow_id).may_switch:
        raise NoticeNotAllowed()
    notice_store.set_audience(get_redis(), session.member_id, flow_id, audience)
    return {"flow": flow_id, "audience": audience}


def set_enabled(session: FrameSession, enabled: bool) -> dict[str, Any]:
    """Turn notices on or off for the whole portal; raises ``AdminOnly`` unless Bitrix24 says the
    user administers it."""
    portals.check_admin(session.member_id, session.user_id)
    notice_store.set_enabled(get_redis(), session.member_id, enabled)
    return {"enabled": enabled}


#: what a report says, for a paused and for a resumed flow
_REPORTS = {
    flow_notices.TOO_MANY: (
        _l("Nobody was told that “%(name)s” was paused: that would be %(num)d people, more than the %(limit)d "
           "one notice may reach. Choose fewer people in its notice setting."),
        _l("Nobody was told that “%(name)s” was resumed: that would be %(num)d people, more than the "
           "%(limit)d one notice may reach. Choose fewer people in its notice setting."),
    ),
    flow_notices.HIDDEN: (
        _l("Not everyone was told that “%(name)s” was paused: Bitrix24 does not let you see some of its "
           "people (a department, a workgroup or “all users”)."),
        _l("Not everyone was told that “%(name)s” was resumed: Bitrix24 does not let you see some of its "
           "people (a department, a workgroup or “all users”)."),
    ),
    flow_notices.FAILED: (
        _l("Not everyone was told that “%(name)s” was paused: Bitrix24 did not take the notice for %(num)d "
           "of %(of)d people."),
        _l("Not everyone was told that “%(name)s” was resumed: Bitrix24 did not take the notice for "
           "%(num)d of %(of)d people."),
    ),
    _NOBODY_REACHED: (
        _l("Nobody was told that “%(name)s” was paused: Bitrix24 refused or did not answer."),
        _l("Nobody was told that “%(name)s” was resumed: Bitrix24 refused or did not answer."),
    ),
}


def report_text(report: dict[str, Any]) -> str:
    """One report for people, in the request's language."""
    values = {
        "name": report.get("name") or f"#{report.get('flow')}",
        "num": int(report.get("num") or 0),
        "of": int(report.get("of") or 0),
        "limit": int(report.get("limit") or 0),
    }
    kind = report.get("kind")
    if kind == flow_notices.FAILED and not values["of"]:
        kind = _NOBODY_REACHED  # the job could not even read the flow or its people
    paused, resumed = _REPORTS.get(str(kind), _REPORTS[_NOBODY_REACHED])
    return str(resumed if report.get("active") else paused) % values
