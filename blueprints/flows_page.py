"""The flows page's HTML, shared by the frame (``POST /``) and the sign-in outside the portal
(``GET /oauth/callback``). Not a blueprint: the two that render the page import it.

The page carries everything it needs, including a signed frame session for the API,
because a cookie set inside the portal's iframe is a third-party cookie that browsers drop.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, make_response, render_template, url_for
from flask_babel import gettext as _

from core.csp import content_security_policy
from core.i18n import use_portal_language
from core.urls import script_source
from services import activity_view, frame_session
from services.errors import ANSWERS
from services.pages import OpenedPage


def client_strings() -> dict[str, Any]:
    """Texts the page's script shows, in the user's language; ``{x}`` are filled in by the script."""
    return {
        "on": _("On"),
        "off": _("Off"),
        "owner": _("Administrator: {name}"),
        "efficiency": _("Efficiency: {value}%"),
        "shown": _("Flows shown: {shown} of {total}"),
        "noFlows": _(
            "No flows yet. A flow appears here once the app has found it and Bitrix24 shows it to you."
        ),
        "noMatch": _("No flows match your search."),
        "noneShown": {
            "all": _("No flows match your search."),
            "on": _("No flow is on."),
            "off": _("No flow is off."),
            "mine": _("None of these flows is yours: you neither created nor administer any of them."),
        },
        "emptyRef": _("Type a flow number or paste a link to a flow first."),
        "select": _("Select {name}"),
        "selected": _("Selected: {count}"),
        "selectFirst": _("Select the flows first: tick the box beside each, or “Select all shown”."),
        "bulkTitle": {"false": _("Pause the selected flows?"), "true": _("Resume the selected flows?")},
        "bulkText": _("Flows selected: {count}. Bitrix24 checks your right to switch each of them."),
        "bulkConfirm": {"false": _("Pause"), "true": _("Resume")},
        "bulkWorking": _("Switching the selected flows…"),
        "discovering": _("Looking for flows in Bitrix24…"),
        "discoveryStarted": _("Looking for flows in Bitrix24. The list updates by itself."),
        "added": _("Flow “{name}” added."),
        "alreadyListed": _("Flow “{name}” is already in the list."),
        "sessionExpired": _("Your session has expired; reload the app."),
        "offline": _("The app cannot reach its server. Check your connection and try again."),
        "activityAdmin": _("Every change made or tried through Flow Switch in this Bitrix24, newest first."),
        "activityMine": _(
            "Your own changes made or tried through Flow Switch, on flows Bitrix24 shows you, newest first."
        ),
        "activityLoading": _("Loading…"),
        "noEntries": _("Nothing recorded yet."),
        "noEntriesMatch": _("No entries match these filters."),
        "entriesShown": _("Entries shown: {shown}"),
        "olderMayMatch": _("Entries shown: {shown}. Older entries may match: show older."),
        "change": _("{from} → {to}"),
        "someone": _("User #{id}"),
        "someFlow": _("Flow #{id}"),
        "how": activity_view.how_labels(),
        "result": activity_view.result_labels(),
        "bitrix24Says": _("Bitrix24 says: “{text}”"),
    }


def _load_error(opened: OpenedPage) -> dict[str, Any] | None:
    if opened.load_error is None:
        return None
    answer = ANSWERS.answer_for(opened.load_error)
    assert answer is not None  # every B24Error has an answer
    return {"status": answer.status, "error": answer.code, "message": answer.text(opened.load_error.description)}


def render_flows_page(opened: OpenedPage) -> Response:
    ctx, page = opened.ctx, opened.page
    use_portal_language(ctx.lang)
    data: dict[str, Any] = {
        "session": opened.session,
        "sessionHeader": frame_session.HEADER,
        "api": url_for("api.list_flows"),
        "discoveryApi": url_for("api.rediscover"),
        "bulkApi": url_for("api.switch_selected"),
        "activityApi": url_for("api.activity_page"),
        "activityCsv": url_for("api.activity_csv"),
        "flows": [flow.as_json() for flow in page.flows],
        "isAdmin": page.is_admin,
        "discovering": opened.discovering,
        "loadError": _load_error(opened),
        "strings": client_strings(),
    }
    sdk = current_app.config["B24_JS_SDK_URL"]
    response = make_response(render_template("frame.html", data=data, is_admin=page.is_admin, sdk_url=sdk))
    # Only the verified portal may frame the page (X-Frame-Options cannot name a site).
    response.headers["Content-Security-Policy"] = content_security_policy(
        frame_ancestors=ctx.portal_origin, scripts=[script_source(sdk)]
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response
