"""``GET|POST /``: the flows page inside the portal iframe.

The portal POSTs the frame (tokens in the body); the page that comes back carries
everything it needs, including a signed frame session for the API, because a
cookie set inside the portal's iframe is a third-party cookie that browsers drop.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from b24.errors import B24Error
from blueprints.api import kind_of
from core.i18n import use_portal_language
from core.redis_client import get_redis
from oauth.tokens import rest_client_for
from services import discovery, flows, frame_session, portals
from services.frame_auth import FrameContext, accept_frame_post

bp = Blueprint("frame", __name__)


def script_origin(url: str) -> str:
    """The CSP source for a script URL; scheme-relative URLs count as https."""
    parts = urlsplit(url)
    return f"{parts.scheme or 'https'}://{parts.netloc}"


def content_security_policy(portal_origin: str) -> str:
    sdk = script_origin(current_app.config["B24_JS_SDK_URL"])
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'self' {sdk}",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            # Only the verified portal may frame the page (no X-Frame-Options: it cannot name it).
            f"frame-ancestors {portal_origin}",
        )
    )


def client_strings() -> dict[str, str]:
    """Texts the page's script shows, in the user's language; ``{x}`` are filled in by the script."""
    return {
        "on": _("On"),
        "off": _("Off"),
        "owner": _("Owner: {name}"),
        "efficiency": _("Efficiency: {value}%"),
        "shown": _("Flows shown: {shown} of {total}"),
        "noFlows": _(
            "No flows yet. A flow appears here once the app has found it and Bitrix24 shows it to you."
        ),
        "noMatch": _("No flows match your search."),
        "discovering": _("Looking for flows in Bitrix24…"),
        "discoveryStarted": _("Looking for flows in Bitrix24. The list updates by itself."),
        "added": _("Flow “{name}” added."),
        "alreadyListed": _("Flow “{name}” is already in the list."),
        "sessionExpired": _("Your session has expired; reload the app."),
        "offline": _("The app cannot reach its server. Check your connection and try again."),
    }


def _load(ctx: FrameContext) -> tuple[flows.FlowPage, dict[str, Any] | None]:
    """The user's flows, or an empty page and the reason (the page's script will retry)."""
    try:
        client = rest_client_for(ctx.member_id, ctx.user_id)
        page = flows.load_page(
            client, get_redis(), ctx.member_id, ctx.user_id, ctx.portal_origin
        )
        return page, None
    except B24Error as error:
        status, code, message = kind_of(error, is_admin=False)
        return flows.FlowPage(flows=[], is_admin=False), {
            "status": status,
            "error": code,
            "message": str(message),
        }


def render_flows_page(ctx: FrameContext) -> Response:
    """The page for a verified frame (or for a user who signed in outside the portal)."""
    use_portal_language(ctx.lang)
    page, load_error = _load(ctx)
    token = frame_session.issue(
        frame_session.FrameSession(
            member_id=ctx.member_id,
            user_id=ctx.user_id,
            app_sid=ctx.app_sid,
            domain=ctx.domain,
            portal_origin=ctx.portal_origin,
            lang=ctx.lang,
            is_admin=page.is_admin,
        )
    )
    if page.is_admin:
        portals.adopt_if_orphaned(ctx.member_id, ctx.user_id)
    # Off the hot path: at most a Redis read here; the scan itself runs in a thread.
    discovery.refresh_if_stale(ctx.member_id, ctx.user_id if page.is_admin else None)
    data: dict[str, Any] = {
        "session": token,
        "sessionHeader": frame_session.HEADER,
        "api": url_for("api.list_flows"),
        "discoveryApi": url_for("api.rediscover"),
        "flows": [flow.as_json() for flow in page.flows],
        "isAdmin": page.is_admin,
        "discovering": discovery.is_running(ctx.member_id),
        "loadError": load_error,
        "strings": client_strings(),
    }
    html = render_template(
        "frame.html", data=data, is_admin=page.is_admin, sdk_url=current_app.config["B24_JS_SDK_URL"]
    )
    response = make_response(html)
    response.headers["Content-Security-Policy"] = content_security_policy(ctx.portal_origin)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.get("/")
def outside_portal() -> ResponseReturnValue:
    # Opened directly, without the portal's POST: offer to connect a portal instead.
    return redirect(url_for("connect.connect_form"))


@bp.post("/")
def in_portal() -> ResponseReturnValue:
    return render_flows_page(accept_frame_post(request.args, request.form, client_address=request.remote_addr or ""))
