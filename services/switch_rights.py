"""Whether a user may switch a flow, asked of Bitrix24 with their own token before the app stores
anything about the flow for them (a planned change, who is told about it).

One ``batch``: the flow, ``user.admin`` and ``profile``. Bitrix24's rule for
``tasks.flow.Flow.activate``: the flow's creator, its administrator (``ownerId``) or a portal
administrator (``FlowAccessController::can(UPDATE)``, ``tasks/lib/Flow/Access/Rule/FlowUpdateRule.php``
in Bitrix24's server code). The profile's ``TIME_ZONE`` is remembered on the way.
"""

from __future__ import annotations

from dataclasses import dataclass

from b24.errors import FlowError
from core.redis_client import get_redis
from oauth.tokens import rest_client_for
from services import user_zones
from services.errors import FlowNotVisible
from services.flows import GET
from services.frame_session import FrameSession


@dataclass(frozen=True)
class Checked:
    """What Bitrix24 said: the flow as the user sees it, who they are, and whether they may switch it."""

    flow: dict
    user_name: str
    zone: str
    may_switch: bool


def check(session: FrameSession, flow_id: int) -> Checked:
    """Raises ``FlowNotVisible`` when the read is refused (no such flow, or not one Bitrix24 shows the user)."""
    client = rest_client_for(session.member_id, session.user_id)
    batch = client.batch(
        {"flow": (GET, {"flowId": flow_id}), "admin": ("user.admin", {}), "me": ("profile", {})}
    )
    try:
        flow = batch.get("flow")
    except FlowError as exc:
        raise FlowNotVisible(exc) from None
    me = batch.results.get("me") if isinstance(batch.results.get("me"), dict) else {}
    owners = {int(flow.get("ownerId") or 0), int(flow.get("creatorId") or 0)}
    may_switch = bool(batch.results.get("admin")) or session.user_id in owners
    zone = user_zones.remember(get_redis(), session.member_id, session.user_id, me)
    name = " ".join(part for part in (me.get("NAME"), me.get("LAST_NAME")) if part) or f"#{session.user_id}"
    return Checked(flow, name, zone, may_switch)
