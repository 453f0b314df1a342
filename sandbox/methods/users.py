"""Users: ``user.current``, ``user.get`` (scope ``user``), ``profile`` and ``user.admin`` (global)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.methods.registry import Call, Result, method, paginate
from sandbox.php import intval


@method("user.current", "user")
def current(call: Call) -> dict[str, Any]:
    return call.world.user(call.user_id).to_rest()


def _listed(value: Any) -> set[str] | None:
    """A filter value (one id or a list) as strings; ``None`` when the filter is absent."""
    return None if value is None else {str(i) for i in (value if isinstance(value, list) else [value])}


@method("user.get", "user")
def get(call: Call) -> Result:
    """Filter by ``ID`` and ``UF_DEPARTMENT`` (one id or a list: any of them) and ``ACTIVE``, from
    ``filter`` or top-level keys (any case). Only the users the caller may see: an extranet user
    sees their groups' people, an employee the employees and their groups' extranet users
    (``rest/lib/api/user.php``, ``userGet``)."""
    filters = call.param("filter", "FILTER", default=None)
    filters = {str(k).upper(): v for k, v in (filters if isinstance(filters, dict) else call.params).items()}
    ids, departments = _listed(filters.get("ID")), _listed(filters.get("UF_DEPARTMENT"))
    active = filters.get("ACTIVE")
    world = call.world
    with world.lock:
        users = [
            u.to_rest()
            for u in sorted(world.users.values(), key=lambda u: u.id)
            if (ids is None or str(u.id) in ids)
            and (departments is None or str(u.department) in departments)
            and (active is None or (str(active) in ("Y", "1", "True", "true")) == u.active)
            and world.sees_user(call.user_id, u)
        ]
    return paginate(users, max(0, intval(call.param("start", default=0))))


@method("profile")
def profile(call: Call) -> dict[str, Any]:
    world = call.world
    user = world.user(call.user_id)
    if not user.active:
        return []  # type: ignore[return-value]  # PHP empty array
    answer: dict[str, Any] = {
        "ID": str(user.id),
        "ADMIN": user.admin,
        "NAME": user.name,
        "LAST_NAME": user.last_name,
        "PERSONAL_GENDER": "",
        "TIME_ZONE": user.time_zone,
    }
    if world.settings.profile_time_zone_offset:
        answer["TIME_ZONE_OFFSET"] = utc_offset(user.time_zone, world.clock.now())
    return answer


def utc_offset(zone: str, moment: datetime) -> int:
    """``CTimeZone::GetOffset($user) + date('Z')``: the user's offset from UTC in seconds, now.

    A user without a zone follows the portal's, and the sandbox portal runs on UTC.
    """
    if not zone:
        return 0
    offset = moment.astimezone(ZoneInfo(zone)).utcoffset()
    return int(offset.total_seconds()) if offset else 0


@method("user.admin")
def admin(call: Call) -> bool:
    return call.is_admin
