"""``/api/...``: JSON for the flows page, authorised by the frame session header (no cookies).

Errors come from the app's one table (``services/errors.py``) through the handlers
``create_app`` registers: ``{"error": code, "message": text in the user's language}``.
An answer about one flow also carries its ``id`` and, when known, its true ``active``
state, so the page can put the switch back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from core.errors import error_response, quoted
from core.i18n import use_portal_language
from services import (
    activity,
    activity_view,
    bulk,
    discovery,
    frame_session,
    notice_settings,
    notice_store,
    pages,
    schedules,
    switching,
)
from services.activity import Filters
from services.errors import (
    ANSWERS,
    BadActivityQuery,
    BadBulkRequest,
    BadNoticeRequest,
    BadSwitchRequest,
    InvalidFlowRef,
)
from services.frame_session import FrameSession
from services.switching import SwitchResult

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
        return error_response(answer, reason, id=flow_id, active=outcome.active, **quoted(outcome.error))
    return jsonify(id=outcome.id, active=outcome.active, changed=outcome.changed)


def _result_json(result: SwitchResult) -> dict[str, Any]:
    """One flow of a bulk: its state when known, and when it failed the code, the app's sentence
    and Bitrix24's own text (``bitrix24``) if it said one."""
    answer: dict[str, Any] = {"id": result.id, "changed": result.changed}
    if result.known:  # a flow never read has no state to show
        answer["active"] = result.active
    if result.error is not None:
        explained = ANSWERS.answer_for(result.error)
        assert explained is not None  # every error a switch reports has an answer
        reason = str(getattr(result.error, "description", "") or result.error)
        answer |= {"error": explained.code, "message": explained.text(reason), **quoted(result.error)}
    return answer


@bp.post("/flows/bulk")
def switch_selected() -> ResponseReturnValue:
    """``{"ids": [...], "active": bool}``: every flow's outcome and one sentence about them all."""
    body = request.get_json(silent=True)
    ids = body.get("ids") if isinstance(body, dict) else None
    desired = body.get("active") if isinstance(body, dict) else None
    if (
        not isinstance(desired, bool)
        or not isinstance(ids, list)
        or not ids
        or not all(type(flow_id) is int and 0 < flow_id < 2**31 for flow_id in ids)
    ):
        raise BadBulkRequest()
    outcome = bulk.switch_selected(session().member_id, session().user_id, ids, desired)
    return jsonify(
        results=[_result_json(result) for result in outcome.results],
        counts=outcome.counts(),
        summary=outcome.summary(),
    )


def _activity_query() -> tuple[Filters, str | None]:
    """``flow``, ``user`` (ids), ``since``, ``until`` (epoch ms, UTC) and ``before`` (a page's cursor)."""
    args = request.args
    numbers: dict[str, int | None] = {}
    for name in ("flow", "user", "since", "until"):
        raw = args.get(name, "")
        if raw and not (raw.isascii() and raw.isdigit() and len(raw) <= 15):
            raise BadActivityQuery(name)
        numbers[name] = int(raw) if raw else None
    before = args.get("before") or None
    if before is not None and not activity.STREAM_ID.fullmatch(before):
        raise BadActivityQuery("before")
    filters = Filters(numbers["flow"], numbers["user"], numbers["since"], numbers["until"])
    return filters, before


@bp.get("/activity")
def activity_page() -> ResponseReturnValue:
    """A page of the activity log as this user may see it, newest first."""
    filters, before = _activity_query()
    page = activity_view.view(session(), filters, before=before)
    return jsonify(
        entries=[entry.as_json() for entry in page.entries],
        next=page.next,
        admin=page.is_admin,
        people=[{"id": user, "name": name} for user, name in sorted(page.people.items())],
        flows=[{"id": flow, "name": name} for flow, name in sorted(page.flows.items())],
    )


@bp.get("/activity.csv")
def activity_csv() -> ResponseReturnValue:
    """The whole filtered log as a CSV file (RFC 4180, UTF-8 with a BOM)."""
    filters, _before = _activity_query()
    lines = activity_view.export(session(), filters)
    name = f"flow-switch-activity-{datetime.now(UTC):%Y-%m-%d}.csv"
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


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


# --- notices when a flow is paused or resumed (services/notice_settings.py) ------------------


@bp.get("/notices")
def notice_state() -> ResponseReturnValue:
    """Whether notices go out, who is told about which flow, and the user's unseen reports (emptied)."""
    return jsonify(notice_settings.view(session()))


@bp.put("/notices")
def set_notices() -> ResponseReturnValue:
    """``{"enabled": bool}``: notices on or off for the whole portal (administrators)."""
    body = request.get_json(silent=True)
    enabled = body.get("enabled") if isinstance(body, dict) else None
    if not isinstance(enabled, bool):
        raise BadNoticeRequest()
    return jsonify(notice_settings.set_enabled(session(), enabled))


@bp.put("/notices/flows/<int:flow_id>")
def set_flow_audience(flow_id: int) -> ResponseReturnValue:
    """``{"audience": "team"|"creators"|"nobody"}``: who is told when the flow is paused or resumed."""
    body = request.get_json(silent=True)
    audience = body.get("audience") if isinstance(body, dict) else None
    if audience not in notice_store.AUDIENCES:
        raise BadNoticeRequest()
    return jsonify(notice_settings.set_audience(session(), flow_id, audience))
