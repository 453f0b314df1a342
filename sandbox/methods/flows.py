"""``tasks.flow.Flow.*`` (D7 controller): case-sensitive names, ``"error": "0"`` refusals, toggles."""

from __future__ import annotations

from typing import Any

from sandbox.errors import RestError
from sandbox.flow_texts import ACCESS_DENIED, INVALID_FIELD, NAME_TAKEN, NOT_FOUND, UNKNOWN, flow_text
from sandbox.methods.registry import Call, method
from sandbox.models import Flow
from sandbox.php import intval
from sandbox.state import World

DISTRIBUTION_TYPES = {"manually", "queue", "himself"}
_FLAGS = (
    ("matchWorkTime", "match_work_time"),
    ("responsibleCanChangeDeadline", "responsible_can_change_deadline"),
    ("notifyAtHalfTime", "notify_at_half_time"),
    ("taskControl", "task_control"),
)
_OPTIONAL_INTS = (
    ("notifyOnQueueOverflow", "notify_on_queue_overflow"),
    ("notifyOnTasksInProgressOverflow", "notify_on_tasks_in_progress_overflow"),
    ("notifyWhenEfficiencyDecreases", "notify_when_efficiency_decreases"),
)


def flow_error(call: Call, text: str, **fields: str) -> RestError:
    """A D7 controller refusal in the portal's language (the texts come from language files)."""
    settings = call.world.settings
    return RestError("0", flow_text(text, settings.language, **fields), status=settings.flow_error_status)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _member(world: World, pair: list[Any], user_id: int) -> bool:
    """Whether the user holds one of a flow's member pairs, as ``FlowQueryBuilder::buildAccess`` matches
    access codes: ``U<id>``, ``UA`` (all users, not extranet ones), ``D<id>`` (the department, a pair
    ``"17:F"``) and ``DR<id>`` (it and the departments under it, ``"17"`` or ``17``)."""
    kind, raw = str(pair[0]), str(pair[1])
    user = world.users.get(user_id)
    if kind == "user":
        return raw == str(user_id)
    if kind == "meta-user":
        return raw == "all-users" and user is not None and not user.extranet
    if kind == "department" and user is not None and user.department:
        department = intval(raw.split(":", 1)[0])
        return user.department == department or (
            not raw.endswith(":F") and user.department in world.department_tree(department)
        )
    return False


def can_read(call: Call, flow: Flow) -> bool:
    """The team, task creators, owner, creator and portal admins may read a flow."""
    user = call.user_id
    return (
        call.is_admin
        or user in (flow.owner_id, flow.creator_id)
        or any(_member(call.world, pair, user) for pair in (*flow.team, *flow.task_creators))
    )


def can_manage(call: Call, flow: Flow) -> bool:
    return call.is_admin or call.user_id in (flow.owner_id, flow.creator_id)


def _flow_id(call: Call) -> int:
    flow_id = _int(call.param("flowId"))
    if flow_id is None:
        raise flow_error(call, UNKNOWN)
    return flow_id


def _flow_data(call: Call) -> dict[str, Any]:
    data = call.param("flowData")
    if not isinstance(data, dict):
        raise flow_error(call, UNKNOWN)
    return data


def readable(call: Call, flow_id: int) -> Flow:
    flow = call.world.flows.get(flow_id)
    if flow is None or not can_read(call, flow):
        raise flow_error(call, ACCESS_DENIED)
    return flow


def manageable(call: Call, flow_id: int | None, missing: str) -> Flow:
    flow = call.world.flows.get(flow_id) if flow_id is not None else None
    if flow is None:
        raise flow_error(call, missing)
    if not can_manage(call, flow):
        raise flow_error(call, ACCESS_DENIED)
    return flow


def _invalid(call: Call, field: str) -> RestError:
    return flow_error(call, INVALID_FIELD, field=field)


def _pairs(call: Call, data: dict[str, Any], field: str) -> list[list[str]]:
    value = data[field]
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list) or not all(isinstance(p, list | dict) and len(p) == 2 for p in value):
        raise _invalid(call, field)
    return [[str(x) for x in (p.values() if isinstance(p, dict) else p)] for p in value]


def _flag(value: Any) -> bool:
    return str(value).lower() not in ("0", "", "false", "n")


def apply_fields(call: Call, data: dict[str, Any], fields: dict[str, Any]) -> None:
    """Validate the writable ``flowData`` keys into Flow attribute values (``active`` is ignored)."""
    if "name" in data:
        if not str(data["name"]).strip():
            raise _invalid(call, "name")
        fields["name"] = str(data["name"])
    if "description" in data:
        fields["description"] = str(data["description"])
    for key, attr in (("ownerId", "owner_id"), ("templateId", "template_id"), ("groupId", "group_id")):
        if key in data:
            if _int(data[key]) is None:
                raise _invalid(call, key)
            fields[attr] = _int(data[key])
    if "plannedCompletionTime" in data:
        seconds = _int(data["plannedCompletionTime"])
        if seconds is None or seconds <= 0:
            raise _invalid(call, "plannedCompletionTime")
        fields["planned_completion_time"] = seconds
    if "distributionType" in data:
        if data["distributionType"] not in DISTRIBUTION_TYPES:
            raise _invalid(call, "distributionType")
        fields["distribution_type"] = data["distributionType"]
    for key, attr in (("responsibleList", "responsible_list"), ("taskCreators", "task_creators")):
        if key in data:
            fields[attr] = _pairs(call, data, key)
    for key, attr in _FLAGS:
        if key in data:
            fields[attr] = _flag(data[key])
    for key, attr in _OPTIONAL_INTS:
        if key in data:
            fields[attr] = None if data[key] in (None, "") else _int(data[key])


def _name_taken(call: Call, name: str, except_id: int | None = None) -> bool:
    return any(f.name == name and f.id != except_id for f in call.world.flows.values())


@method("tasks.flow.Flow.get", "task", case_sensitive=True)
def get(call: Call) -> dict[str, Any]:
    with call.world.lock:
        return readable(call, _flow_id(call)).to_rest()


@method("tasks.flow.Flow.activate", "task", case_sensitive=True)
def activate(call: Call) -> bool:
    """A toggle: on becomes off, off becomes on; the answer does not say which."""
    with call.world.lock:
        flow = call.world.flows.get(_flow_id(call))
        if flow is None or not can_manage(call, flow):
            raise flow_error(call, ACCESS_DENIED)
        flow.active = not flow.active
        flow.activity = call.world.clock.now()
        call.world.record_flow_change(flow.id, call.user_id, flow.active)
        return True


@method("tasks.flow.Flow.pin", "task", case_sensitive=True)
def pin(call: Call) -> bool:
    """A per-user toggle: true = pinned now."""
    with call.world.lock:
        flow = readable(call, _flow_id(call))
        key = (call.user_id, flow.id)
        pins = call.world.pins
        pins.symmetric_difference_update({key})
        return key in pins


@method("tasks.flow.Flow.create", "task", case_sensitive=True)
def create(call: Call) -> dict[str, Any]:
    data = _flow_data(call)
    with call.world.lock:
        for required in ("name", "plannedCompletionTime", "distributionType", "responsibleList"):
            if required not in data:
                raise _invalid(call, required)
        fields: dict[str, Any] = {}
        apply_fields(call, data, fields)
        name = fields.pop("name")
        if _name_taken(call, name):
            raise flow_error(call, NAME_TAKEN)
        owner = fields.pop("owner_id", call.user_id)
        fields.setdefault("task_creators", [["meta-user", "all-users"]])
        fields["team"] = [list(p) for p in fields["responsible_list"]]
        flow_id = call.world.add_flow(name, owner_id=owner, creator_id=call.user_id, **fields)
        return call.world.flows[flow_id].to_rest()


@method("tasks.flow.Flow.update", "task", case_sensitive=True)
def update(call: Call) -> dict[str, Any]:
    data = _flow_data(call)
    with call.world.lock:
        flow = manageable(call, _int(data.get("id")), NOT_FOUND)
        fields: dict[str, Any] = {}
        apply_fields(call, data, fields)
        if "name" in fields and _name_taken(call, fields["name"], flow.id):
            raise flow_error(call, NAME_TAKEN)
        for attr, value in fields.items():
            setattr(flow, attr, value)
        flow.activity = call.world.clock.now()
        return flow.to_rest()


@method("tasks.flow.Flow.delete", "task", case_sensitive=True)
def delete(call: Call) -> dict[str, bool]:
    data = _flow_data(call)
    with call.world.lock:
        flow = manageable(call, _int(data.get("id")), NOT_FOUND)
        del call.world.flows[flow.id]
        call.world.pins = {p for p in call.world.pins if p[1] != flow.id}
        return {"deleted": True}


@method("tasks.flow.Flow.isExists", "task", case_sensitive=True)
def is_exists(call: Call) -> dict[str, bool]:
    data = _flow_data(call)
    if not str(data.get("name") or "").strip():
        raise flow_error(call, UNKNOWN)
    with call.world.lock:
        return {"exists": _name_taken(call, str(data["name"]), _int(data.get("id")))}
