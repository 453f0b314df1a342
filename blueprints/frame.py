"""``GET|POST /``: the flows page inside the portal iframe."""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from flask.typing import ResponseReturnValue

from blueprints.flows_page import render_flows_page
from core.urls import public_url_for
from services import pages

bp = Blueprint("frame", __name__)


@bp.get("/")
def outside_portal() -> ResponseReturnValue:
    # Opened directly, without the portal's POST: offer to connect a portal instead.
    return redirect(url_for("connect.connect_form"))


@bp.post("/")
def in_portal() -> ResponseReturnValue:
    opened = pages.open_frame(
        request.args,
        request.form,
        client_address=request.remote_addr or "",
        events_url=public_url_for("events.receive"),
    )
    return render_flows_page(opened)
