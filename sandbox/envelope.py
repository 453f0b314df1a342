"""The success envelope: ``result``, then ``next``/``total`` lifted out, then the ``time`` block (§4.5, §4.6)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any


def _date(moment: float) -> str:
    return datetime.fromtimestamp(moment).astimezone().isoformat(timespec="seconds")


def time_block(
    started: float, processing: float, operating: float = 0, reset_at: int | None = None
) -> dict[str, Any]:
    """CRestServer::appendDebugInfo; ``operating_reset_at`` and ``operating`` come from the LoadLimiter."""
    finished = time.time()
    block: dict[str, Any] = {
        "start": started,
        "finish": finished,
        "duration": finished - started,
        "processing": processing,
        "date_start": _date(started),
        "date_finish": _date(finished),
    }
    if reset_at is not None:
        block["operating_reset_at"] = reset_at
    block["operating"] = operating
    return block


def envelope(
    value: Any, timing: dict[str, Any], *, total: int | None = None, next: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"result": value}
    if next is not None:
        body["next"] = next
    if total is not None:
        body["total"] = total
    body["time"] = timing
    return body
