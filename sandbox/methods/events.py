"""``event.bind`` / ``event.unbind`` / ``event.get`` (§2.7): the app's event handler table."""

from __future__ import annotations

from typing import Any

from sandbox.errors import RestError, argument_error
from sandbox.methods.registry import Call, method
from sandbox.models import EventBinding
from sandbox.php import intval

KNOWN_EVENTS = {
    "ONAPPINSTALL",
    "ONAPPUNINSTALL",
    "ONAPPUPDATE",
    "ONAPPPAYMENT",
    "ONAPPTEST",
    "ONTASKADD",
    "ONTASKUPDATE",
    "ONTASKDELETE",
    "ONUSERADD",
}


def _event_name(call: Call) -> str:
    name = str(call.param("event", "EVENT", default="")).upper()
    if not name:
        raise argument_error("EVENT")
    return name


def _handler(call: Call) -> str:
    return str(call.param("handler", "HANDLER", default=""))


@method("event.bind")
def bind(call: Call) -> bool:
    event = _event_name(call)
    if event not in KNOWN_EVENTS:
        raise RestError("ERROR_EVENT_NOT_FOUND", "Event not found")
    offline = str(call.param("event_type", "EVENT_TYPE", default="online")).lower() == "offline"
    handler = _handler(call)
    if not handler and not offline:
        raise argument_error("HANDLER")
    auth_type = intval(call.param("auth_type", "AUTH_TYPE", default=0))
    if offline and not call.is_admin:
        raise RestError(
            "ACCESS_DENIED", "Access denied! Offline events binding requires administrator access rights"
        )
    if auth_type and not call.is_admin:
        raise RestError(
            "ACCESS_DENIED",
            "Access denied! Event binding with AUTH_TYPE requires administrator access rights",
        )
    world = call.world
    with world.lock:
        if any(
            (b.event, b.handler, b.auth_type) == (event, handler, auth_type) for b in world.event_bindings
        ):
            raise RestError("ERROR_HANDLER_ALREADY_EXIST", "Handler already exists!")
        world.event_bindings.append(
            EventBinding(world.next_id("handler"), event, handler, auth_type, offline)
        )
    return True


@method("event.unbind")
def unbind(call: Call) -> dict[str, int]:
    event, handler = _event_name(call), _handler(call)
    auth_type = call.param("auth_type", "AUTH_TYPE")
    world = call.world
    with world.lock:
        keep = [
            b
            for b in world.event_bindings
            if not (
                b.event == event
                and b.handler == handler
                and (auth_type is None or b.auth_type == intval(auth_type))
            )
        ]
        count = len(world.event_bindings) - len(keep)
        world.event_bindings = keep
    return {"count": count}


@method("event.get")
def get(call: Call) -> list[dict[str, Any]]:
    with call.world.lock:
        return [
            {"event": b.event, "handler": b.handler, "auth_type": str(b.auth_type), "offline": int(b.offline)}
            for b in call.world.event_bindings
        ]
