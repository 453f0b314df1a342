"""``placement.bind`` / ``unbind`` / ``get`` / ``list`` (§8.7): widgets the app puts into the portal."""

from __future__ import annotations

from typing import Any

from sandbox.errors import RestError, argument_error
from sandbox.methods.registry import Call, method
from sandbox.methods.system import require_admin
from sandbox.models import Placement
from sandbox.php import intval

TASK_PLACEMENTS = [
    "TASK_LIST_CONTEXT_MENU",
    "TASK_USER_LIST_TOOLBAR",
    "TASK_GROUP_LIST_TOOLBAR",
    "TASK_ROBOT_DESIGNER_TOOLBAR",
    "TASK_VIEW_TAB",
    "TASK_VIEW_SIDEBAR",
    "TASK_VIEW_TOP_PANEL",
]
PLACEMENTS = [*TASK_PLACEMENTS, "LEFT_MENU", "REST_APP_URI", "PAGE_BACKGROUND_WORKER"]
SINGLE = {"REST_APP_URI", "PAGE_BACKGROUND_WORKER"}


def _code(call: Call) -> str:
    code = str(call.param("PLACEMENT", "placement", default="")).upper()
    if not code:
        raise argument_error("PLACEMENT")
    if code not in PLACEMENTS:
        raise RestError("ERROR_PLACEMENT_NOT_FOUND", "Placement not found")
    return code


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@method("placement.bind", "placement")
def bind(call: Call) -> bool:
    require_admin(call)
    code = _code(call)
    handler = str(call.param("HANDLER", "handler", default=""))
    if not handler:
        raise RestError("EMPTY_ERROR_HANDLER_URL", "Handler URL is empty")
    world = call.world
    with world.lock:
        if code in SINGLE and any(p.placement == code for p in world.placements):
            raise RestError("ERROR_PLACEMENT_MAX_COUNT", "Placement max count exceeded")
        world.placements.append(
            Placement(
                placement=code,
                handler=handler,
                title=str(call.param("TITLE", "title", default="")),
                description=str(call.param("DESCRIPTION", "description", default="")),
                group_name=str(call.param("GROUP_NAME", "group_name", default="")),
                options=_dict(call.param("OPTIONS", "options")),
                lang_all=_dict(call.param("LANG_ALL", "lang_all")),
                user_id=intval(call.param("USER_ID", "user_id", default=0)),
            )
        )
    return True


@method("placement.unbind", "placement")
def unbind(call: Call) -> dict[str, int]:
    """Counts like the core: +1 per record found and +1 per record removed."""
    require_admin(call)
    code = _code(call)
    handler = call.param("HANDLER", "handler")
    world = call.world
    with world.lock:
        hit = [p for p in world.placements if p.placement == code and handler in (None, "", p.handler)]
        world.placements = [p for p in world.placements if p not in hit]
    return {"count": 2 * len(hit)}


@method("placement.get", "placement")
def get(call: Call) -> list[dict[str, Any]]:
    require_admin(call)
    with call.world.lock:
        return [p.to_rest() for p in call.world.placements]


@method("placement.list", "placement")
def placement_list(call: Call) -> list[str]:
    return PLACEMENTS
