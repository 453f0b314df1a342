"""Logging: one JSON object a line in production, readable lines in development.

Every record carries the request id. Secrets never reach a log line: values that
look like tokens are masked by ``RedactingFilter`` as a last line of defence, but
the code's first duty is not to log them at all.
"""

from __future__ import annotations

import json
import logging
import random
import re
import sys
from typing import Any

from flask import Flask, g, has_request_context, request

_SECRET_FIELD = re.compile(
    r"(?i)((?:access_token|refresh_token|application_token|client_secret|auth_id|refresh_id|"
    r"auth|code|secret|password)\]?[\"']?\s*[=:]\s*[\"']?)([^&\s\"',}]+)"
)


def redact(text: str) -> str:
    return _SECRET_FIELD.sub(lambda m: m.group(1) + "***", text)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(app: Flask) -> None:
    json_lines = (
        app.config["LOG_FORMAT"] or ("json" if app.config["APP_ENV"] == "production" else "text")
    ) == "json"
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_flow_switch", False)]
    handler._flow_switch = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
    app.logger.handlers.clear()
    app.logger.propagate = True

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        # An id to find a request's lines by, not a secret: no system call for randomness.
        fresh = f"{random.getrandbits(128):032x}"
        g.request_id = incoming if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", incoming) else fresh

    @app.after_request
    def echo_request_id(response):  # type: ignore[no-untyped-def]
        response.headers["X-Request-Id"] = g.get("request_id", "-")
        return response
