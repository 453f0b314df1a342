"""Error answers: one table from error class to (status, code, message), one way to render it.

Lower floors only raise their own typed errors (``b24/errors.py``, ``oauth``); the
services' table (``services/errors.py``) says what each means to a person, and
``register_error_handlers`` turns any error into that answer: JSON for the API and
machines, a short page for browsers, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask, Response, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

#: seconds a client should wait before retrying an answer that says "try again"
RETRY_AFTER_SECONDS = 2


@dataclass(frozen=True)
class Answer:
    """What a person (or the page's script) is told about one kind of error."""

    status: int
    code: str
    message: Any  # a (lazy) translated string; ``%(reason)s`` is filled with the error's text

    def text(self, reason: str = "") -> str:
        message = str(self.message)
        return message % {"reason": reason} if "%(reason)s" in message else message


INTERNAL = Answer(500, "internal_error", _l("Something went wrong on our side; please try again."))
STORAGE_DOWN = Answer(503, "storage_unavailable", _l("The app's storage is unavailable; please try again in a moment."))


class ErrorTable:
    """Error classes and their answers, looked up along the class hierarchy (most specific first)."""

    def __init__(self, answers: Mapping[type[BaseException], Answer]) -> None:
        self._answers = dict(answers)

    def answer_for(self, error: BaseException) -> Answer | None:
        for cls in type(error).__mro__:
            if cls in self._answers:
                return self._answers[cls]
        return None


def _wants_json() -> bool:
    if request.path.startswith(("/api/", "/events", "/healthz", "/readyz")):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def quoted(exc: BaseException) -> dict[str, str]:
    """``{"bitrix24": text}`` for an error that quotes Bitrix24's own words (its ``bitrix24``), else ``{}``."""
    text = getattr(exc, "bitrix24", "")
    return {"bitrix24": str(text)} if text else {}


def error_response(answer: Answer, reason: str = "", **extra: Any) -> Response:
    """``answer`` as JSON (``{"error", "message", **extra}``) or as the error page."""
    message = answer.text(reason)
    if _wants_json():
        response = jsonify(error=answer.code, message=message, **extra)
    else:
        response = Response(
            render_template("error.html", status=answer.status, message=message), mimetype="text/html"
        )
    response.status_code = answer.status
    if answer.status in (409, 429, 503):
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def register_error_handlers(app: Flask, table: ErrorTable) -> None:
    """One handler for every error: the table's answer, else Werkzeug's, else a logged 500."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(Answer(exc.code or 500, code, exc.description or exc.name))

    @app.errorhandler(Exception)
    def any_error(exc: Exception) -> Response:
        answer = table.answer_for(exc)
        if answer is not None:
            why = getattr(exc, "reason", "")
            if why:  # a refusal that tells the person nothing says why in the log (never a secret)
                log.info("Refused %s %s: %s", answer.status, answer.code, why)
            # Bitrix24's own text for answers that quote it ("refused the change: …").
            reason = getattr(exc, "description", "") or getattr(exc, "code", "")
            return error_response(answer, reason=str(reason), **quoted(exc))
        if isinstance(exc, redis.RedisError):
            log.warning("Redis unavailable: %s", type(exc).__name__)
            return error_response(STORAGE_DOWN)
        log.exception("Unhandled error")
        return error_response(INTERNAL)
