"""``tasks.task.list`` / ``tasks.task.get``: the indirect way to learn flow ids (``flowId`` on tasks)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from sandbox.errors import RestError
from sandbox.methods.registry import Call, Result, method, paginate
from sandbox.models import Task
from sandbox.php import intval

# UPPER_CASE select/filter/order name -> key of Task.to_rest()
FIELDS = {
    "ID": "id",
    "TITLE": "title",
    "CREATED_BY": "createdBy",
    "RESPONSIBLE_ID": "responsibleId",
    "GROUP_ID": "groupId",
    "STATUS": "status",
    "CREATED_DATE": "createdDate",
    "FLOW_ID": "flowId",
}
# Documented filter fields only: FLOW_ID is not one of them, so it is ignored like any unknown key.
FILTERABLE = {
    "ID": "id",
    "CREATED_BY": "created_by",
    "RESPONSIBLE_ID": "responsible_id",
    "GROUP_ID": "group_id",
}
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
    "": operator.eq,
}
_FILTER_KEY = re.compile(r"^(>=|<=|!|>|<|=)?([A-Z_]+)$")


def visible(call: Call, task: Task) -> bool:
    return call.is_admin or call.user_id in (task.created_by, task.responsible_id)


def _condition(key: str, wanted: Any) -> Callable[[Task], bool] | None:
    match = _FILTER_KEY.match(str(key).upper())
    if not match or match.group(2) not in FILTERABLE:
        return None
    attr, compare = FILTERABLE[match.group(2)], OPERATORS[match.group(1) or ""]
    values = [
        int(v) for v in (wanted if isinstance(wanted, list) else [wanted]) if str(v).lstrip("-").isdigit()
    ]
    if not values:
        return lambda task: False
    if len(values) > 1 and compare in (operator.eq, operator.ne):
        inside = compare is operator.eq
        return lambda task: (getattr(task, attr) in values) == inside
    return lambda task: compare(getattr(task, attr), values[0])


def _project(task: Task, select: Any) -> dict[str, Any]:
    full = task.to_rest()
    names = [str(n).upper() for n in (select if isinstance(select, list) else [])]
    if not names or "*" in names:
        return full
    keys = {"id"} | {FIELDS[n] for n in names if n in FIELDS}
    return {k: v for k, v in full.items() if k in keys}


@method("tasks.task.list", "task")
def task_list(call: Call) -> Result:
    filters = call.param("filter", "FILTER", default={})
    conditions = [
        c for k, v in (filters.items() if isinstance(filters, dict) else []) if (c := _condition(k, v))
    ]
    order = call.param("order", "ORDER", default={})
    with call.world.lock:
        tasks = [t for t in call.world.tasks.values() if visible(call, t) and all(c(t) for c in conditions)]
        for field, direction in reversed(list(order.items()) if isinstance(order, dict) else []):
            attr = {"ID": "id", "CREATED_DATE": "created_date", "TITLE": "title"}.get(str(field).upper())
            if attr:
                tasks.sort(key=operator.attrgetter(attr), reverse=str(direction).lower() == "desc")
        select = call.param("select", "SELECT")
        result = paginate([_project(t, select) for t in tasks], intval(call.param("start", default=0)))
        result.value = {"tasks": result.value}
        return result


@method("tasks.task.get", "task")
def task_get(call: Call) -> dict[str, Any]:
    task_id = str(call.param("taskId", "TASKID", "id", default=""))
    with call.world.lock:
        task = call.world.tasks.get(int(task_id)) if task_id.isdigit() else None
        if task is None or not visible(call, task):
            raise RestError(
                "ERROR_CORE",
                "TASKS_ERROR_EXCEPTION_#8; Task not found or not accessible; 8/TE/TASK_NOT_FOUND_OR_NOT_ACCESSIBLE<br>",
            )
        return {"task": _project(task, call.param("select", "SELECT"))}
