"""What every request and answer gets, whatever the route: bounded bodies, safe headers and cookies.

- A body larger than ``MAX_CONTENT_LENGTH`` is refused with 413 from its ``Content-Length``
  alone, before any route (or its authentication) reads a byte of it.
- ``X-Content-Type-Options: nosniff`` on every answer; JSON answers are never cached.
- An answer that sets no ``Content-Security-Policy`` of its own may not be framed at all:
  only the pages meant for the portal's iframe name the portal in ``frame-ancestors``.
- The one cookie (the "connect your portal" page's) is ``SameSite=Lax`` and, in
  production, ``Secure``; its signer is built once per app.
"""

from __future__ import annotations

from flask import Flask, Response, abort, current_app, request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

NOT_FRAMED = "frame-ancestors 'none'"
_SIGNER = "flow_switch.session_signer"


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, its signer built once per app rather than on every request.

    Flask opens the session of every request, the API's too (which never uses it), and
    builds a new signer each time: a measurable share of a list reload served from Redis.
    """

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        signer = app.extensions.get(_SIGNER)
        if signer is None:
            signer = app.extensions[_SIGNER] = super().get_signing_serializer(app)
        return signer


def refuse_oversized_body() -> None:
    if (request.content_length or 0) > current_app.config["MAX_CONTENT_LENGTH"]:
        abort(413)


def add_safe_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Content-Security-Policy", NOT_FRAMED)
    if response.mimetype == "application/json":
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    # The only cookie is the first-party one of "connect your portal" (a top-level page):
    # never sent along with another site's requests, and only over HTTPS in production.
    app.config.update(SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=not app.config["B24_ALLOW_HTTP"])
    app.session_interface = SessionInterface()
    app.before_request(refuse_oversized_body)
    app.after_request(add_safe_headers)
