"""Work that must not hold up a request's answer: run it once the answer has been sent.

Inside a request, ``after_answer(func, *args)`` hangs ``func`` on the response's close, which
the WSGI server (gunicorn, werkzeug) calls after the last byte went out: the person already
has the answer. The request's context is gone by then, so ``func`` runs in an app context of
its own. Outside a request (the job worker) it runs at once. Either way a failure is logged,
never raised: what comes after an answer cannot change it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, after_this_request, current_app, has_request_context

log = logging.getLogger(__name__)


def _run(app: Flask, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
    with app.app_context():
        try:
            func(*args)
        except Exception:  # the answer is out: nothing can take the error any more
            log.exception("%s after the answer failed", getattr(func, "__qualname__", func))


def after_answer(func: Callable[..., Any], *args: Any) -> None:
    """Call ``func(*args)`` after the current request's answer is sent (now, outside a request)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not has_request_context():
        _run(app, func, args)
        return

    @after_this_request
    def on_close(response: Response) -> Response:
        response.call_on_close(lambda: _run(app, func, args))
        return response
