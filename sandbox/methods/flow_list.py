"""``tasks.flow.Flow.list``: the flow controller's undocumented ``listAction`` (docs/protocol-notes.md, "Flow list").

What the core does (yuliai/bitrix-modules, tasks 26.x): ``tasks/lib/Flow/Controllers/Flow.php`` checks
``order``, ``select``, ``filter`` and ``group`` against the scalar fields of ``FlowTable`` in that order,
then builds a ``FlowQuery`` for the calling user (access check on: admins see every flow, others the
flows whose members include them) and returns ``array_values`` of ``Flow::toJson()`` rows. A bare list
is not a ``Page``, so ``RestManager`` adds no ``next``/``total``; ``start`` becomes a ``PageNavigation``
of 50 whose offset is ``start`` rounded down to a multiple of 50.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox.methods.flows import UNKNOWN, can_read, flow_error
from sandbox.methods.registry import PAGE, Call, Result, method
from sandbox.models import Flow, iso
from sandbox.php import intval
from sandbox.state import World

# FlowTable's scalar fields (getFlowFields(false)) in toJson order: name -> (row key, Flow attribute, kind).
_COLUMNS = {
    "ID": ("id", "id", "int"),
    "OWNER_ID": ("ownerId", "owner_id", "int"),
    "CREATOR_ID": ("creatorId", "creator_id", "int"),
    "GROUP_ID": ("groupId", "group_id", "int"),
    "TEMPLATE_ID": ("templateId", "template_id", "int"),
    "EFFICIENCY": ("efficiency", "efficiency", "int"),
    "ACTIVE": ("active", "active", "bool"),
    "PLANNED_COMPLETION_TIME": ("plannedCompletionTime", "planned_completion_time", "int"),
    "ACTIVITY": ("activity", "activity", "datetime"),
    "NAME": ("name", "name", "string"),
    "DESCRIPTION": ("description", "description", "string"),
    "DISTRIBUTION_TYPE": ("distributionType", "distribution_type", "string"),
}
FIELDS: dict[str, tuple[str, Callable[[Flow], Any], str]] = {
    name: (key, operator.attrgetter(attribute), kind) for name, (key, attribute, kind) in _COLUMNS.items()
}
FIELDS["DEMO"] = ("demo", lambda flow: False, "bool")  # the sandbox has no demo flows
# The Flow constructor sets these only when the value is non-empty, and toJson drops unset ones.
SKIPPED_WHEN_EMPTY = {"ID", "OWNER_ID", "CREATOR_ID", "NAME", "DESCRIPTION", "DISTRIBUTION_TYPE"}
# Filter::CORRECT_FILTER_FIELD_PREFIXES -> operator; the array-capable ones per PREFIXES_THAT_SUPPORT_ARRAY_VALUES.
PREFIXES = {
    "": "=",
    "=": "=",
    "<>": "!=",
    "!=": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    "@": "in",
    "><": "between",
    "%": "like",
    "=%": "like",
    "%=": "like",
}
ARRAY_PREFIXES = {"@", "!=", "=", "", "<>", "><"}
FILTER_KEYS = {prefix + name: (prefix, name) for prefix in PREFIXES for name in FIELDS}
COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_BOOLEANS = {"1": True, "0": False, "true": True, "false": False}
NO_MATCH = object()  # a filter value no row can equal
Matcher = Callable[[Flow], bool]


class QueryFailed(Exception):
    """What the ORM would throw; the controller catches it and answers its "Unknown error"."""


def _as_array(value: Any) -> Any:
    """The Binder casts a scalar to ``(array)``: null is [], anything else [value]."""
    if value is None:
        return []
    return value if isinstance(value, dict | list) else [value]


def _values(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else list(value)


def _keys(value: Any) -> list[str]:
    return [str(k) for k in value] if isinstance(value, dict) else [str(i) for i in range(len(value))]


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _filter_valid(filters: Any) -> bool:
    """Filter::validate: every key is a known prefix plus a field; arrays only where the prefix takes them."""
    for key, value in zip(_keys(filters), _values(filters), strict=True):
        if key not in FILTER_KEYS:
            return False
        if not (_scalar(value) or (FILTER_KEYS[key][0] in ARRAY_PREFIXES and isinstance(value, dict | list))):
            return False
    return True


def _typed(kind: str, value: Any) -> Any:
    """The value as the ORM would compare it with a column of ``kind``."""
    if value is None:
        return None
    if kind == "int":
        return intval(value)
    if kind == "bool":
        # BooleanField::normalizeValue knows 1/0/true/false; other values are unconfirmed, so match nothing.
        return value if isinstance(value, bool) else _BOOLEANS.get(str(value).lower(), NO_MATCH)
    if kind == "datetime":
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError as error:
            raise QueryFailed from error
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # the sandbox server runs on UTC
    return str(value).casefold()  # MySQL's default collation ignores case


def _column(flow: Flow, name: str) -> Any:
    _, read, kind = FIELDS[name]
    value = read(flow)
    return value.casefold() if kind == "string" else value


def _like(pattern: str) -> re.Pattern[str]:
    parts = ((".*" if ch == "%" else "." if ch == "_" else re.escape(ch)) for ch in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _condition(key: str, value: Any) -> Matcher:
    prefix, name = FILTER_KEYS[key]
    op, kind = PREFIXES[prefix], FIELDS[name][2]
    if op == "like":
        pattern = _like(str(value))
        return lambda flow: bool(pattern.fullmatch(str(FIELDS[name][1](flow))))
    if op == "between":
        bounds = _values(value) if isinstance(value, dict | list) else []
        if len(bounds) != 2:
            raise QueryFailed
        low, high = (_typed(kind, v) for v in bounds)
        if NO_MATCH in (low, high) or None in (low, high):
            return lambda flow: False
        return lambda flow: low <= _column(flow, name) <= high
    if isinstance(value, dict | list) or op == "in":
        wanted = [_typed(kind, v) for v in _values(_as_array(value))]
        inside = op != "!="
        return lambda flow: (_column(flow, name) in wanted) == inside
    wanted_one = _typed(kind, value)
    if op == "=":
        return lambda flow: _column(flow, name) == wanted_one
    if op == "!=":
        return lambda flow: _column(flow, name) != wanted_one
    if wanted_one is None or wanted_one is NO_MATCH:
        return lambda flow: False  # SQL: a comparison with NULL is never true
    return lambda flow: COMPARE[op](_column(flow, name), wanted_one)


def _sorted(flows: list[Flow], order: Any) -> list[Flow]:
    """ID ascending by default (the primary key order MySQL returns), then each ``order`` key, last first."""
    result = sorted(flows, key=lambda f: f.id)
    for key, direction in reversed(list(zip(_keys(order), _values(order), strict=True))):
        if str(direction).upper() not in ("ASC", "DESC"):
            raise QueryFailed
        name = key.upper()
        result.sort(key=lambda f, n=name: _column(f, n), reverse=str(direction).upper() == "DESC")
    return result


def _row(flow: Flow, select: list[str]) -> dict[str, Any]:
    """``Flow::toJson()`` of a flow built from the selected columns: unset properties are left out."""
    row: dict[str, Any] = {}
    for name, (key, read, kind) in FIELDS.items():
        value = read(flow)
        if name not in select or (name in SKIPPED_WHEN_EMPTY and not value):
            continue
        row[key] = iso(value) if kind == "datetime" else value
    return row


def _offset(start: Any) -> int:
    """PageNavigation: page ``start // 50 + 1`` for a positive start, so the offset rounds down."""
    start = intval(start)
    return (start // PAGE) * PAGE if start > 0 else 0


def _list_enabled(world: World) -> bool:
    return world.settings.flow_list_method


@method("tasks.flow.Flow.list", "task", case_sensitive=True, enabled=_list_enabled)
def flow_list(call: Call) -> Result:
    select, filters, order, group = (
        _as_array(call.param(name)) for name in ("select", "filter", "order", "group")
    )
    if any(key.upper() not in FIELDS for key in _keys(order)):
        raise flow_error(call, "Incorrect sort field")
    if any(str(name) not in (*FIELDS, "*") for name in _values(select)):
        raise flow_error(call, "Invalid select data")
    if not _filter_valid(filters):
        raise flow_error(call, "Invalid filter data")
    if any(str(name) not in FIELDS for name in _values(group)):
        raise flow_error(call, "Invalid group data")
    columns = [str(n) for n in _values(select)]
    columns = list(FIELDS) if not columns or "*" in columns else [*columns, "ID"]
    try:
        conditions = [
            _condition(key, value) for key, value in zip(_keys(filters), _values(filters), strict=True)
        ]
        with call.world.lock:
            visible = [
                f for f in call.world.flows.values() if can_read(call, f) and all(c(f) for c in conditions)
            ]
            flows = _sorted(visible, order)
    except QueryFailed as failure:
        raise flow_error(call, UNKNOWN) from failure
    offset = _offset(call.param("start", default=0))
    rows = [_row(f, columns) for f in flows[offset : offset + PAGE]]
    rewrite = call.world.settings.flow_list_rewrite
    if rewrite is not None:
        rows = rewrite(rows)
    if call.world.settings.flow_list_paging != "counted" or intval(call.param("start", default=0)) < 0:
        return Result(rows)
    following = offset + len(rows) if offset + len(rows) < len(flows) else None
    return Result(rows, total=len(flows), next=following)
