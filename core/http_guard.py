"""What every request and answer gets, whatever the route: bounded bodies, safe headers and cookies.

- A body larger than ``MAX_CONTENT_LENGTH`` is refused with 413 from its ``Content-Length``
  alone, before any route (or its authentication) reads a byte of it.
- ``X-Content-Type-Options: nosniff`` on every answer; JSON answers are never cached.
- An answer that sets no ``Content-Security-Policy`` of its own may not be framed at all:
  only the pages meant for the portal's iframe name the portal in ``frame-ancestors``.
"""

from __future__ import annotations

from flask import Flask, Response, abort, current_app, request

NOT_FRAMED = "frame-ancestors 'none'"


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
    app.before_request(refuse_oversized_body)
    app.after_request(add_safe_headers)
