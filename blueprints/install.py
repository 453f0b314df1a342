"""``POST /install``: the installer page the portal opens in its iframe until ``installFinish``."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Blueprint, current_app, make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue

from core.i18n import use_portal_language
from services import portals
from services.frame_auth import accept_frame_post

bp = Blueprint("install", __name__)


def installer_csp(portal_origin: str, nonce: str) -> str:
    """The page runs one inline script (by nonce) and the BX24 library; only the portal may frame it."""
    sdk = urlsplit(current_app.config["B24_JS_SDK_URL"])
    sdk_origin = f"{sdk.scheme or 'https'}://{sdk.netloc}"
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'nonce-{nonce}' {sdk_origin}",
            "style-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {portal_origin}",
        )
    )


@bp.post("/install")
def installer() -> ResponseReturnValue:
    ctx = accept_frame_post(request.args, request.form, installing=True, client_address=request.remote_addr or "")
    use_portal_language(ctx.lang)
    # The configured public URL, else what the trusted proxy (PROXY_COUNT) says this host is.
    base = current_app.config["APP_PUBLIC_URL"] or request.url_root.rstrip("/")
    portals.install(ctx, events_url=base + url_for("events.receive"), placement_url=base + "/")
    nonce = secrets.token_urlsafe(16)
    response = make_response(
        render_template("install.html", sdk_url=current_app.config["B24_JS_SDK_URL"], nonce=nonce)
    )
    response.headers["Content-Security-Policy"] = installer_csp(ctx.portal_origin, nonce)
    response.headers["Cache-Control"] = "no-store"
    return response
