"""HTTP errors: one shape for the JSON API, a short page for browsers, never a traceback."""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class AppError(Exception):
    """An error meant for the user: an HTTP status, a stable code and a readable message."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


def _wants_json() -> bool:
    if request.path.startswith(("/api/", "/events", "/healthz", "/readyz")):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_response(status: int, code: str, message: str) -> Response:
    if _wants_json():
        response = jsonify(error=code, message=message)
    else:
        response = Response(
            render_template("error.html", status=status, message=message), mimetype="text/html"
        )
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AppError)
    def app_error(exc: AppError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(redis.RedisError)
    def storage_down(exc: redis.RedisError) -> Response:
        log.warning("Redis unavailable: %s", type(exc).__name__)
        return error_response(
            503, "storage_unavailable", "The app's storage is unavailable; please try again in a moment."
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("Unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side; please try again.")
