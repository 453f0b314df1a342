"""``/api/...``: JSON for the flows page, authorised by the frame session header (no cookies).

Errors come from the app's one table (``services/errors.py``) through the handlers
``create_app`` registers: ``{"error": code, "message": text in the user's language}``.
An answer about one flow also carries its ``id`` and, when known, its true ``active``
state, so the page can put the switch back.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from core.errors import error_response
from core.i18n import use_portal_language
from services import discovery, frame_session, pages, schedules, switching
from services.errors import ANSWERS, BadSwitchRequest, InvalidFlowRef
from services.frame_session import FrameSession

bp = Blueprint("api", __name__, url_prefix="/api")


def session() -> FrameSession:
    return g.frame_session


@bp.before_request
def require_frame_session() -> None:
    g.frame_session = frame_session.load(request.headers.get(frame_session.HEADER))  # SessionInvalid: 401
    use_portal_language(g.frame_session.lang)


@bp.get("/flows")
def list_flows() -> ResponseReturnValue:
    """The user's flows: from the short cache when it holds them all, else from Bitrix24 (``?fresh=1``)."""
    page, discovering = pages.reload(session(), fresh=bool(request.args.get("fresh")))
    return jsonify(
        flows=[flow.as_json() for flow in page.flows],
        discovering=discovering,
        cached=page.cached,
        cached_at=round(page.read_at, 3),
    )


@bp.route("/flows/<int:flow_id>", methods=["PUT", "POST"])
def switch_flow(flow_id: int) -> ResponseReturnValue:
    body = request.get_json(silent=True)
    desired = body.get("active") if isinstance(body, dict) else None
    if not isinstance(desired, bool):
        raise BadSwitchRequest()
    outcome = switching.switch_as(session().member_id, session().user_id, flow_id, desired)
    if outcome.error is not None:
        answer = ANSWERS.answer_for(outcome.error)
        assert answer is not None  # every error a switch reports has an answer
        reason = str(getattr(outcome.error, "description", "") or outcome.error)
        return error_response(answer, reason, id=flow_id, active=outcome.active)
    return jsonify(id=outcome.id, active=outcome.active, changed=outcome.changed)


@bp.post("/flows")
def add_flow() -> ResponseReturnValue:
    body = request.get_json(silent=True)
    ref = body.get("ref") if isinstance(body, dict) else None
    if not isinstance(ref, str | int):
        raise InvalidFlowRef()
    s = session()
    flow = discovery.add_flow(s.member_id, s.user_id, s.domain, s.portal_origin, str(ref))
    return jsonify(flow=flow.as_json()), 201


@bp.post("/discovery")
def rediscover() -> ResponseReturnValue:
    return jsonify(started=pages.rediscover(session())), 202


# --- scheduled pause and resume (services/schedules.py) ----------------------------------


@bp.get("/schedules")
def list_schedules() -> ResponseReturnValue:
    """The planned changes the user may see; ``?tz=`` is the browser's zone (used when Bitrix24 has none)."""
    return jsonify(schedules.listing(session(), request.args.get("tz", "")))


@bp.post("/schedules")
def create_schedule() -> ResponseReturnValue:
    plan = schedules.Plan.from_json(request.get_json(silent=True))
    return jsonify(schedule=schedules.create(session(), plan)), 201


@bp.put("/schedules/<schedule_id>")
def replace_schedule(schedule_id: str) -> ResponseReturnValue:
    plan = schedules.Plan.from_json(request.get_json(silent=True), flow_required=False)
    return jsonify(schedule=schedules.replace_plan(session(), schedule_id, plan))


@bp.delete("/schedules/<schedule_id>")
def cancel_schedule(schedule_id: str) -> ResponseReturnValue:
    schedules.cancel(session(), schedule_id)
    return jsonify(cancelled=schedule_id)
