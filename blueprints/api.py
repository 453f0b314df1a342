"""``/api/...``: JSON for the flows page, authorised by the frame session header (no cookies).

Every answer about a flow that Bitrix24 refused or could not serve carries a
stable ``error`` code, a ``message`` in the user's language and, when known, the
flow's true ``active`` state so the page can put the switch back.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from b24.client import RestClient
from b24.errors import (
    AccessDenied,
    AuthServerUnavailable,
    B24Error,
    FlowAccessDenied,
    FlowError,
    FlowNotFound,
    InsufficientScope,
    InvalidToken,
    NotInstalled,
    OperationTimeLimit,
    PaymentRequired,
    PortalDeleted,
    PortalUnreachable,
    RateLimited,
    ServerError,
    UserAccessError,
)
from core.i18n import use_portal_language
from core.redis_client import get_redis
from oauth import AUTH_SERVER_DOWN
from oauth.tokens import rest_client_for
from services import discovery, flows, frame_session, portals
from services.flow_refs import InvalidFlowRef
from services.frame_session import FrameSession, SessionInvalid

bp = Blueprint("api", __name__, url_prefix="/api")

RETRY_AFTER_SECONDS = 2

# (HTTP status, code, message) for each kind of failure the page can meet.
SESSION_EXPIRED = (401, "session_expired", _l("Your session has expired; reload the app."))
FORBIDDEN = (
    403,
    "forbidden",
    _l(
        "You don't have the right to switch this flow. Only its creator, its administrator "
        "or a portal administrator can."
    ),
)
PLAN_WITHOUT_FLOWS = (403, "plan_without_flows", _l("Your Bitrix24 plan does not include flows."))
NOT_FOUND = (404, "not_found", _l("This flow no longer exists in Bitrix24."))
NOT_VISIBLE = (404, "not_found", _l("Bitrix24 shows you no flow with this number."))
TOKEN_DEAD = (401, "token_dead", _l("Bitrix24 no longer accepts your sign-in. Open the app again."))
RATE_LIMITED = (503, "rate_limited", _l("Bitrix24 is busy, retrying…"))
BUSY = (409, "busy", _l("Another change to this flow is in progress, retrying…"))
# A refresh that could not run: the stored tokens are intact, so a retry will do.
AUTH_UNAVAILABLE = (503, "auth_server_unavailable", AUTH_SERVER_DOWN)
UNREACHABLE = (502, "portal_unreachable", _l("Bitrix24 cannot be reached right now. Try again in a moment."))
PAYMENT_REQUIRED = (
    402,
    "payment_required",
    _l("The app's subscription has ended. Ask your Bitrix24 administrator to renew it."),
)
NO_ACCESS = (403, "access_denied", _l("Bitrix24 does not let the app do this for you."))
REFUSED = (502, "refused", _l("Bitrix24 refused the change: %(reason)s"))
BAD_STATE = (400, "bad_request", _l('Send the wanted state as JSON: "active" set to true or false.'))
BAD_REF = (400, "bad_ref", _l("Paste a flow number or a link to a flow on this Bitrix24."))
ADMIN_ONLY = (403, "admin_only", _l("Only a Bitrix24 administrator can do this."))


def problem(kind: tuple[int, str, Any], **extra: Any) -> ResponseReturnValue:
    """A JSON error answer; ``extra`` goes into the body (``id``, ``active``, ``reason``)."""
    status, code, message = kind
    reason = extra.pop("reason", "")
    response = jsonify(
        error=code, message=str(message) % {"reason": reason} if reason else str(message), **extra
    )
    response.status_code = status
    if status in (409, 503):
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def kind_of(error: B24Error, *, is_admin: bool) -> tuple[int, str, Any]:
    """Which user-facing failure a Bitrix24 error is."""
    if isinstance(error, FlowAccessDenied):
        # An admin may switch every flow, so a refusal means the plan has no flows.
        return PLAN_WITHOUT_FLOWS if is_admin else FORBIDDEN
    if isinstance(error, FlowNotFound):
        return NOT_FOUND
    if isinstance(error, InvalidToken | NotInstalled | PortalDeleted):
        return TOKEN_DEAD
    if isinstance(error, RateLimited | OperationTimeLimit):
        return RATE_LIMITED
    if isinstance(error, AuthServerUnavailable):
        return AUTH_UNAVAILABLE
    if isinstance(error, PortalUnreachable | ServerError):
        return UNREACHABLE
    if isinstance(error, PaymentRequired):
        return PAYMENT_REQUIRED
    if isinstance(error, AccessDenied | UserAccessError | InsufficientScope):
        return NO_ACCESS
    return REFUSED


def b24_problem(error: B24Error, **extra: Any) -> ResponseReturnValue:
    kind = kind_of(error, is_admin=session().is_admin)
    if kind is REFUSED:
        extra["reason"] = error.description or error.code
    return problem(kind, **extra)


def session() -> FrameSession:
    return g.frame_session


def user_client() -> RestClient:
    """The REST API as the user of this frame session, with their own token."""
    return rest_client_for(session().member_id, session().user_id)


@bp.before_request
def require_frame_session() -> ResponseReturnValue | None:
    try:
        g.frame_session = frame_session.load(request.headers.get(frame_session.HEADER))
    except SessionInvalid:
        return problem(SESSION_EXPIRED)
    use_portal_language(g.frame_session.lang)
    return None


@bp.errorhandler(B24Error)
def bitrix_refused(error: B24Error) -> ResponseReturnValue:
    return b24_problem(error)


@bp.errorhandler(flows.FlowBusy)
def flow_busy(error: flows.FlowBusy) -> ResponseReturnValue:
    return problem(BUSY, id=error.args[0])


@bp.get("/flows")
def list_flows() -> ResponseReturnValue:
    """The user's flows: from the short cache when it holds them all, else from Bitrix24 (``?fresh=1``)."""
    r = get_redis()
    args = (r, session().member_id, session().user_id, session().portal_origin)
    page = None if request.args.get("fresh") else flows.cached_page(*args)
    if page is None:
        page = flows.load_page(user_client(), *args)
    return jsonify(
        flows=[flow.as_json() for flow in page.flows],
        discovering=discovery.is_running(session().member_id),
        cached=page.cached,
        cached_at=round(page.read_at, 3),
    )


@bp.route("/flows/<int:flow_id>", methods=["PUT", "POST"])
def switch_flow(flow_id: int) -> ResponseReturnValue:
    body = request.get_json(silent=True)
    desired = body.get("active") if isinstance(body, dict) else None
    if not isinstance(desired, bool):
        return problem(BAD_STATE)
    config = current_app.config
    outcome = flows.set_active(
        user_client(),
        get_redis(),
        session().member_id,
        flow_id,
        desired,
        lock_ttl_ms=int(config["B24_HTTP_TIMEOUT"] * 4 * 1000),
        lock_wait_s=config["SWITCH_LOCK_WAIT"],
    )
    if outcome.error is not None:
        return b24_problem(outcome.error, id=flow_id, active=outcome.active)
    return jsonify(id=outcome.id, active=outcome.active, changed=outcome.changed)


@bp.post("/flows")
def add_flow() -> ResponseReturnValue:
    body = request.get_json(silent=True)
    ref = body.get("ref") if isinstance(body, dict) else None
    if not isinstance(ref, str | int):
        return problem(BAD_REF)
    client = user_client()
    r = get_redis()
    try:
        raw = discovery.add_by_ref(client, r, session().member_id, session().domain, str(ref))
    except InvalidFlowRef:
        return problem(BAD_REF)
    except FlowError as error:
        if isinstance(error, FlowAccessDenied) and not session().is_admin:
            return problem(NOT_VISIBLE)
        raise
    flow = flows.describe(client, r, session().member_id, session().user_id, session().portal_origin, raw)
    return jsonify(flow=flow.as_json()), 201


@bp.post("/discovery")
def rediscover() -> ResponseReturnValue:
    client = user_client()
    # The page's admin flag is only a hint; ask Bitrix24 with the caller's own token.
    if not portals.is_admin(client):
        return problem(ADMIN_ONLY)
    started = discovery.start(session().member_id, session().user_id)
    return jsonify(started=started), 202
