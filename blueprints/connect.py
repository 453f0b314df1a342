"""Opening the app outside the portal: "connect your portal" (authorization-code flow).

``GET /connect`` asks for the portal address, ``POST /connect`` sends the user to the
portal's sign-in page, and ``GET /oauth/callback`` finishes (``services/connect.py``) and
shows the flows page. The round trip is a top-level navigation, so the ``state`` lives
in the (first-party, SameSite=Lax) session cookie, beside the form's token against
cross-site POSTs.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, redirect, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from blueprints.flows_page import render_flows_page
from core.i18n import use_portal_language
from services import connect
from services.errors import FormExpired

bp = Blueprint("connect", __name__)

_SESSION_KEY = "fs_connect"
_CSRF_KEY = "fs_csrf"


def use_browser_language() -> str:
    # Outside the portal there is no LANG: the browser's first language (``de-DE`` -> ``de``).
    return use_portal_language((request.accept_languages.best or "")[:2])


def _form(error: str = "", portal: str = "", status: int = 200) -> ResponseReturnValue:
    # A form token against cross-site POSTs: another site could otherwise send a visitor's
    # browser to any portal's sign-in page with this app's client_id.
    token = session.setdefault(_CSRF_KEY, secrets.token_urlsafe(24))
    return render_template("connect.html", error=error, portal=portal, csrf_token=token), status


@bp.get("/connect")
def connect_form() -> ResponseReturnValue:
    use_browser_language()
    # ``?portal=`` pre-fills the address: the flows page links an admin here to reconnect.
    return _form(portal=request.args.get("portal", "")[:255])


@bp.post("/connect")
def start() -> ResponseReturnValue:
    use_browser_language()
    expected = str(session.get(_CSRF_KEY) or "")
    if not expected or not secrets.compare_digest(expected.encode(), request.form.get("csrf", "").encode()):
        raise FormExpired()
    address = request.form.get("portal", "")
    sign_in = connect.begin(address)
    if sign_in is None:
        return _form(_("Enter your Bitrix24 address, for example yourcompany.bitrix24.com."), address, 400)
    session[_SESSION_KEY] = {"state": sign_in.state, "portal": sign_in.portal}
    return redirect(sign_in.authorize_url)


@bp.get("/oauth/callback")
def callback() -> ResponseReturnValue:
    lang = use_browser_language()
    expected = session.pop(_SESSION_KEY, None) or {}
    opened = connect.finish(expected, request.args, lang=lang, client_address=request.remote_addr or "")
    return render_flows_page(opened)
