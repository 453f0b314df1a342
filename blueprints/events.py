"""``POST /events``: Bitrix24's app events (form-encoded, delivered once, no retries)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from services import portals

bp = Blueprint("events", __name__)


@bp.post("/events")
def receive() -> ResponseReturnValue:
    # Forged or foreign events raise VerificationFailed: 403 JSON, nothing changed.
    return jsonify(result=portals.handle_event(request.form))
