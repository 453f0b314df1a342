"""The portal's pages: the app page with its iframe, the OAuth authorize screen, the control endpoints."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, send_file
from flask.typing import ResponseReturnValue

from sandbox import data, lifecycle
from sandbox.bbcode import render
from sandbox.flow_texts import LANGUAGES
from sandbox.frames import APP_PATH, NotAvailable, open_frame, with_query
from sandbox.rest import world
from sandbox.session_auth import USER_COOKIE
from sandbox.state import ABSENT

HERE = Path(__file__).resolve().parent
bp = Blueprint("portal", __name__)
LANG_COOKIE = "sandbox_lang"


def current_user() -> int:
    """``?user=N`` (tests), else the user switcher's cookie, else Anna Admin."""
    raw = request.values.get("user") or request.cookies.get(USER_COOKIE) or ""
    user_id = int(raw) if raw.isdigit() else data.ADMIN
    return user_id if user_id in world().users else data.ADMIN


def current_lang() -> str:
    lang = request.values.get("lang") or request.cookies.get(LANG_COOKIE) or world().settings.language
    return lang if lang in LANGUAGES else "en"


def remember(response: Response, user_id: int, lang: str) -> Response:
    """Keep the switcher choice; the language is also the portal's (flow errors follow it)."""
    response.set_cookie(USER_COOKIE, str(user_id), samesite="Lax")
    response.set_cookie(LANG_COOKIE, lang, samesite="Lax")
    world().settings.language = lang
    return response


def notification_panel(user_id: int) -> dict[str, Any]:
    """What ``notifications.html`` needs: the user's notices, and times shown in the user's zone."""
    state = world()
    with state.lock:
        user = state.user(user_id)
        notices = state.notifications.for_user(user_id)
        names = {u.id: u.full_name for u in state.users.values()}
    zone = ZoneInfo(user.time_zone) if user.time_zone else None

    def local_time(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%d %b %H:%M") if zone else moment.strftime("%d %b %H:%M UTC")

    return {"notices": notices, "render": render, "local_time": local_time, "sender": names.get}


def frame_session(payload: dict[str, Any]) -> tuple[str, int]:
    sid = str(payload.get("sid", ""))
    session = world().frames.get(sid)
    if session is None:
        abort(404)
    return sid, session.user_id


@bp.get("/")
def index() -> ResponseReturnValue:
    return redirect(with_query(APP_PATH, request.args.to_dict()) if request.args else APP_PATH)


@bp.get(APP_PATH)
def app_page() -> ResponseReturnValue:
    state = world()
    user_id, lang = current_user(), current_lang()
    frame, message = None, None
    try:
        frame = open_frame(state, user_id, lang)
    except NotAvailable as refusal:
        message = str(refusal)
    except RuntimeError:
        message = "No application is registered with this sandbox."
    page = render_template(
        "portal.html",
        state=state,
        users=sorted(state.users.values(), key=lambda u: u.id),
        user=state.user(user_id),
        lang=lang,
        languages=LANGUAGES,
        frame=frame,
        message=message,
        can_install=state.app is not None and state.install_state == ABSENT and state.is_admin(user_id),
        **notification_panel(user_id),
    )
    return remember(Response(page), user_id, lang)


@bp.post("/_sandbox/switch")
def switch() -> ResponseReturnValue:
    return remember(redirect(APP_PATH), current_user(), current_lang())


@bp.post("/_sandbox/install")
def install() -> ResponseReturnValue:
    if world().is_admin(current_user()):
        lifecycle.install(world())
    return redirect(APP_PATH)


@bp.post("/_sandbox/uninstall")
def uninstall() -> ResponseReturnValue:
    if world().is_admin(current_user()):
        lifecycle.uninstall(world(), clean=request.form.get("clean") == "1")
    return redirect(APP_PATH)


@bp.post("/_sandbox/update")
def update() -> ResponseReturnValue:
    if world().is_admin(current_user()):
        lifecycle.update_app(world(), current_user())
    return redirect(APP_PATH)


@bp.post("/_sandbox/install-finish")
def install_finish() -> ResponseReturnValue:
    """``setInstallFinish`` from the frame: installed and ONAPPINSTALL sent; the page then reloads."""
    _, user_id = frame_session(request.get_json(silent=True) or {})
    if not world().is_admin(user_id):
        abort(403)
    deliveries = lifecycle.finish_install(world(), user_id)
    return jsonify(events=[{"url": d.url, "status": d.status} for d in deliveries])


@bp.post("/_sandbox/refresh-auth")
def refresh_auth() -> ResponseReturnValue:
    """``refreshAuth``: the portal hands the frame a new pair; the app never sees client_secret."""
    _, user_id = frame_session(request.get_json(silent=True) or {})
    tokens = world().issue_tokens(user_id)
    return jsonify(
        AUTH_ID=tokens["access_token"],
        REFRESH_ID=tokens["refresh_token"],
        AUTH_EXPIRES=str(tokens["expires_in"]),
    )


@bp.post("/_sandbox/option")
def set_option() -> ResponseReturnValue:
    """``setAppOption`` (admins) / ``setUserOption`` from the frame."""
    payload = request.get_json(silent=True) or {}
    _, user_id = frame_session(payload)
    options = payload.get("options") if isinstance(payload.get("options"), dict) else {}
    state = world()
    with state.lock:
        if payload.get("scope") == "app":
            if not state.is_admin(user_id):
                abort(403)
            state.app_options.update(options)
        else:
            state.user_options.setdefault(user_id, {}).update(options)
    return jsonify(True)


@bp.get("/favicon.ico")
def favicon() -> ResponseReturnValue:
    return Response(status=204)


@bp.get("/bx24.js")
def bx24() -> ResponseReturnValue:
    response = send_file(HERE / "static" / "bx24.js", mimetype="text/javascript", max_age=0)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/_sandbox/portal.js")
def portal_js() -> ResponseReturnValue:
    return send_file(HERE / "static" / "portal.js", mimetype="text/javascript", max_age=0)


@bp.get("/_sandbox/notifications")
def notifications() -> ResponseReturnValue:
    """The notification panel alone; the page re-reads it every second."""
    return render_template("notifications.html", **notification_panel(current_user()))


@bp.get("/_sandbox/notifications.js")
def notifications_js() -> ResponseReturnValue:
    return send_file(HERE / "static" / "notifications.js", mimetype="text/javascript", max_age=0)


@bp.get("/oauth/authorize/", strict_slashes=False)
def authorize() -> ResponseReturnValue:
    """Step 1 of the full OAuth flow: redirect to the app's registered URI with a 30-second code."""
    state = world()
    app = state.app
    if app is None or request.args.get("client_id") != app.client_id or state.install_state == ABSENT:
        return render_template("error.html", state=state, message="The application was not found."), 404
    with state.lock:
        code = state.tokens.new_code(current_user())
    params = {
        "code": code,
        "state": request.args.get("state", ""),
        "domain": state.domain,
        "member_id": state.member_id,
        "scope": app.scope,
        "server_domain": state.auth_host,
    }
    if not app.redirect_uri:
        return render_template("error.html", state=state, message=f"Authorization code: {code}")
    return redirect(with_query(app.redirect_uri, params))


@bp.get("/company/personal/user/<int:user_id>/tasks/flow/")
def flows_page(user_id: int) -> ResponseReturnValue:
    """The portal's flow list; the app links here with ``ID_from=<id>``."""
    state = world()
    wanted = request.args.get("ID_from", "")
    with state.lock:
        flows = [f for f in state.flows.values() if not wanted or str(f.id) == wanted]
    return render_template("flows.html", state=state, flows=flows, owner=state.users.get)
