"""The company structure and workgroups: ``department.get`` (scope ``department``) and
``sonet_group.user.get`` (scope ``sonet_group``).

- ``department.get``: yuliai/bitrix-modules ``intranet/classes/general/rest.php``
  (``CIntranetRestService::departmentGet``): every active department, to any user; the filter
  keys ``ID``, ``NAME``, ``SORT``, ``PARENT`` (direct children), ``UF_HEAD`` as spelled (a
  lower-case key is no filter), a list value for ``ID``/``PARENT``/``UF_HEAD``; ``sort``/``order``
  in any case; tree order by default; pages of 50 with ``total``/``next``.
- ``sonet_group.user.get``: ``socialnetwork/classes/general/rest.php``
  (``CSocNetLogRestService::getGroupUsers``): a group the caller may not see (not visible and
  not theirs; admins see all) is "Socialnetwork group not found"; the active members with a
  role up to ``K`` (owner, moderators, members; no requests to join), all in one answer.
  Docs: ``api-reference/departments/department-get.md``,
  ``api-reference/sonet-group/members/sonet-group-user-get.md``.
"""

from __future__ import annotations

from typing import Any

from sandbox.errors import RestError
from sandbox.methods.registry import Call, Result, method, paginate
from sandbox.models import REQUEST_ROLE, Department
from sandbox.php import intval

_FILTERS = ("ID", "NAME", "SORT", "PARENT", "UF_HEAD")


def _ints(value: Any) -> set[int]:
    return {intval(v) for v in (value if isinstance(value, list) else [value])}


def _matches(department: Department, key: str, value: Any) -> bool:
    if key == "NAME":
        return department.name == str(value)
    field = {"ID": department.id, "SORT": department.sort, "PARENT": department.parent, "UF_HEAD": department.head}
    return field[key] in _ints(value)


def _tree_order(departments: dict[int, Department]) -> list[Department]:
    """``LEFT_MARGIN`` order: each department, then the ones under it (by sort, then id)."""
    ordered: list[Department] = []

    def walk(parent: int | None) -> None:
        for child in sorted((d for d in departments.values() if d.parent == parent), key=lambda d: (d.sort, d.id)):
            ordered.append(child)
            walk(child.id)

    walk(None)
    return ordered


@method("department.get", "department")
def department_get(call: Call) -> Result:
    query = call.param("FILTER", default=None)
    query = query if isinstance(query, dict) else call.params
    upper = {str(k).upper(): v for k, v in call.params.items()}
    with call.world.lock:
        found = [
            d for d in _tree_order(call.world.departments)
            if all(_matches(d, key, value) for key, value in query.items() if key in _FILTERS)
        ]
    sort = upper.get("SORT")
    if isinstance(sort, str) and sort.upper() in _FILTERS:
        field = sort.upper()
        found.sort(
            key=lambda d: d.to_rest().get(field, "") if field == "NAME" else intval(d.to_rest().get(field, 0)),
            reverse=str(upper.get("ORDER", "")).upper() == "DESC",
        )
    return paginate([d.to_rest() for d in found], max(0, intval(call.param("start", "START", default=0))))


@method("sonet_group.user.get", "sonet_group")
def group_users(call: Call) -> list[dict[str, str]]:
    group_id = intval(call.param("ID", default=0))
    if group_id <= 0:
        raise RestError("", "Wrong socialnetwork group ID", status=400)
    world = call.world
    with world.lock:
        if not world.sees_group(call.user_id, group_id):
            raise RestError("", "Socialnetwork group not found", status=400)
        return [
            {"USER_ID": str(user_id), "ROLE": role}
            for user_id, role in world.groups[group_id].members.items()
            if role != REQUEST_ROLE and user_id in world.users and world.users[user_id].active
        ]
