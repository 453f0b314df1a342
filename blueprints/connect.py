"""Opening the app outside the portal: "connect your portal" (authorization-code flow).

``GET /connect`` asks for the portal address, ``POST /connect`` sends the user to the
portal's ``/oauth/authorize/``, and ``GET /oauth/callback`` exchanges the code on the
allow-listed authorization server named by ``server_domain``, verifies the token with
``app.info`` and shows the flows page. The round trip is a top-level navigation, so
the ``state`` lives in the (first-party) session cookie.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from b24.errors import InvalidGrant, InvalidRequest
from core.errors import AppError
from core.i18n import use_portal_language
from oauth import client, verifier
from oauth.tokens import keep_tokens
from oauth.verify import VerificationFailed, normalize_domain
from services import portals
from services.frame_auth import context_from

bp = Blueprint("connect", __name__)

_SESSION_KEY = "fs_connect"
_CSRF_KEY = "fs_csrf"
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
_EXPIRED = lazy_gettext("This sign-in link is no longer valid; please connect your portal again.")


def portal_origin(address: str, *, allow_http: bool) -> str:
    """``acme.bitrix24.com`` or ``https://acme.bitrix24.com/...`` -> ``https://acme.bitrix24.com``; else ``""``."""
    address = address.strip()
    parts = urlsplit(address if "://" in address else f"https://{address}")
    schemes = ("https", "http") if allow_http else ("https",)
    try:
        port = parts.port
    except ValueError:
        return ""
    host = parts.hostname or ""
    if parts.scheme not in schemes or not _HOST.fullmatch(host) or parts.username or parts.password:
        return ""
    return f"{parts.scheme}://{normalize_domain(f'{host}:{port}' if port else host)}"


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
        raise AppError(_("This form has expired; please open it again."), status=400, code="bad_form")
    address = request.form.get("portal", "")
    origin = portal_origin(address, allow_http=current_app.config["B24_ALLOW_HTTP"])
    if not origin:
        return _form(_("Enter your Bitrix24 address, for example yourcompany.bitrix24.com."), address, 400)
    state = secrets.token_urlsafe(24)
    session[_SESSION_KEY] = {"state": state, "portal": origin}
    return redirect(client().authorization_url(origin, state))


@bp.get("/oauth/callback")
def callback() -> ResponseReturnValue:
    lang = use_browser_language()
    expected = session.pop(_SESSION_KEY, None) or {}
    args = request.args
    state = args.get("state", "")
    if not expected or not secrets.compare_digest(state.encode(), str(expected.get("state", "")).encode()):
        raise AppError(_EXPIRED, status=400)
    domain = normalize_domain(args.get("domain", ""))
    if domain != normalize_domain(urlsplit(expected["portal"]).netloc):
        raise VerificationFailed("callback domain is not the portal the user chose")
    server = verifier().server_by_host(args.get("server_domain", ""))
    try:
        grant = client().exchange_code(server, args.get("code", ""))
    except (InvalidGrant, InvalidRequest):
        # A used, expired, missing or malformed code: this link will never work.
        raise AppError(_EXPIRED, status=400) from None
    verified = verifier().verify(
        str(grant.get("access_token") or ""),
        member_id=args.get("member_id", ""),
        domain=domain,
        server_endpoint=f"{server}/rest/",
        client_address=request.remote_addr or "",
    )
    keep_tokens(verified, grant)
    # An admin connecting while the portal-level tokens are dead takes them over ("reconnect").
    portals.reconnect(verified.member_id, verified.user_id)
    from blueprints.frame import render_flows_page

    return render_flows_page(context_from(verified, lang=lang))
