"""Logging: one JSON object a line in production, readable lines in development.

Every record carries the request id. Secrets never reach a log line: values that
look like tokens are masked by ``RedactingFilter`` as a last line of defence, but
the code's first duty is not to log them at all.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Mapping
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
        if has_request_context():
            record.request_id = g.get("request_id", "-")
        elif isinstance(record.args, Mapping):  # gunicorn's access line: the response's X-Request-Id
            record.request_id = str(record.args.get("{x-request-id}o") or "-")
        else:
            record.request_id = "-"
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


#: the text line's shape: the app's, gunicorn's and (under ``make run``) the sandbox's lines alike
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def json_lines_wanted(log_format: str, app_env: str) -> bool:
    """``LOG_FORMAT`` if set, else JSON in production and text elsewhere."""
    return (log_format or ("json" if app_env == "production" else "text")) == "json"


class LineHandler(logging.StreamHandler):
    """The one handler of a process: stdout, the request id, redaction, one line format."""

    def __init__(self, json_lines: bool = False) -> None:
        super().__init__(sys.stdout)
        self.addFilter(RequestIdFilter())
        self.addFilter(RedactingFilter())
        self.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))


def install(json_lines: bool, level: str = "INFO") -> None:
    """Route every logger of this process through one ``LineHandler`` (replacing an earlier one)."""
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, LineHandler)]
    root.addHandler(LineHandler(json_lines))
    root.setLevel(level)


def gunicorn_log_config(environ: Mapping[str, str]) -> dict[str, Any]:
    """``logconfig_dict`` for gunicorn: its own lines (start-up, workers, the access log) go through
    the app's ``LineHandler``, so one process prints one shape of line."""
    json_lines = json_lines_wanted(environ.get("LOG_FORMAT", ""), environ.get("APP_ENV", "development"))
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": environ.get("LOG_LEVEL") or "INFO", "handlers": ["lines"]},
        "loggers": {
            name: {"level": "INFO", "handlers": [], "propagate": True} for name in ("gunicorn.error", "gunicorn.access")
        },
        "handlers": {"lines": {"()": LineHandler, "json_lines": json_lines}},
        "formatters": {},
    }


def configure_logging(app: Flask) -> None:
    install(json_lines_wanted(app.config["LOG_FORMAT"], app.config["APP_ENV"]), app.config["LOG_LEVEL"])
    app.logger.handlers.clear()
    app.logger.propagate = True

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", incoming) else uuid.uuid4().hex

    @app.after_request
    def echo_request_id(response):  # type: ignore[no-untyped-def]
        response.headers["X-Request-Id"] = g.get("request_id", "-")
        return response
