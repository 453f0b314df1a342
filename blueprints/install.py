"""``POST /install``: the installer page the portal opens in its iframe until ``installFinish``."""

from __future__ import annotations

import secrets

from flask import Blueprint, current_app, make_response, render_template, request
from flask.typing import ResponseReturnValue

from core.csp import content_security_policy
from core.i18n import use_portal_language
from core.urls import public_url_for, script_source
from services import portals

bp = Blueprint("install", __name__)


@bp.post("/install")
def installer() -> ResponseReturnValue:
    ctx = portals.run_installer(
        request.args,
        request.form,
        events_url=public_url_for("events.receive"),
        client_address=request.remote_addr or "",
    )
    use_portal_language(ctx.lang)
    sdk = current_app.config["B24_JS_SDK_URL"]
    nonce = secrets.token_urlsafe(16)
    response = make_response(render_template("install.html", sdk_url=sdk, nonce=nonce))
    # One inline script (by nonce) and the BX24 library; only the portal may frame the page.
    response.headers["Content-Security-Policy"] = content_security_policy(
        frame_ancestors=ctx.portal_origin, scripts=[script_source(sdk)], nonce=nonce, forms="'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    return response
