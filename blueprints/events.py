"""``POST /events``: Bitrix24's app events (form-encoded, delivered once, no retries)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from core.urls import public_url_for
from services import app_events

bp = Blueprint("events", __name__)


@bp.post("/events")
def receive() -> ResponseReturnValue:
    # Forged or foreign events raise VerificationFailed: 403 JSON, nothing changed.
    outcome = app_events.handle_event(
        request.form, client_address=request.remote_addr or "", events_url=public_url_for("events.receive")
    )
    # An uninstall Bitrix24 has not confirmed yet is accepted, and checked again later.
    return jsonify(result=outcome), 202 if outcome == "pending" else 200
