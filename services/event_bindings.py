"""The app's event handlers on a portal: bound at install, checked when an administrator opens the app.

Bitrix24 removes an app's handlers when it updates the app ("When deleting and updating
the application, its actions will be removed", ``event.bind`` docs), and events come
through a queue that may lose the update event that would have told us. Without the
``ONAPPUNINSTALL`` handler a genuine uninstall would never reach the app, so the handlers
are bound again on ``ONAPPUPDATE`` and, at most once per ``EVENTS_CHECK_SECONDS`` per portal,
an administrator's page open asks ``event.get`` (inside the batch the page sends anyway)
and binds what is missing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import current_app

from b24.errors import B24Error
from core.keys import portal_key

if TYPE_CHECKING:
    from b24.client import Command, RestClient

log = logging.getLogger(__name__)

#: the app events the app binds; ``ONAPPUNINSTALL`` is the one that must never go missing
EVENTS = ("ONAPPINSTALL", "ONAPPUPDATE", "ONAPPUNINSTALL")
#: the key of the ``event.get`` command in the page's batch
CHECK_KEY = "events"

_ALREADY_BOUND = "ERROR_HANDLER_ALREADY_EXIST"


def checked_key(member_id: str) -> str:
    """Set while the portal's handlers count as checked (``EVENTS_CHECK_SECONDS``)."""
    return portal_key(member_id, "events", "checked")


def bind(client: RestClient, *, events_url: str) -> None:
    """Unbind, then bind, every app event in one ``batch`` (idempotent); needs an administrator's token."""
    commands: dict[str, Command] = {}
    for event in EVENTS:
        commands[f"unbind_{event}"] = ("event.unbind", {"event": event, "handler": events_url})
        commands[f"bind_{event}"] = ("event.bind", {"event": event, "handler": events_url})
    result = client.batch(commands)
    for key, error in result.errors.items():
        if key.startswith("bind_") and error.code != _ALREADY_BOUND:
            raise error


def check_commands(r: Any, member_id: str) -> dict[str, Command]:
    """``{CHECK_KEY: event.get}`` when the portal's handlers are due a check, else nothing.

    ``event.get`` is open to every user, so it rides along in any page's batch; only an
    administrator's answer is acted on (``mend``).
    """
    return {} if r.exists(checked_key(member_id)) else {CHECK_KEY: ("event.get", {})}


def missing(bound: Any, events_url: str) -> list[str]:
    """The app events ``event.get``'s answer (``bound``) lacks a handler at ``events_url`` for."""
    handlers = bound if isinstance(bound, list) else []
    present = {
        str(item.get("event", "")).upper()
        for item in handlers
        if isinstance(item, dict) and item.get("handler") == events_url
    }
    return [event for event in EVENTS if event not in present]


def mend(client: RestClient, r: Any, member_id: str, bound: Any, *, events_url: str) -> list[str]:
    """Bind what ``event.get`` (``bound``, as the page's batch answered it) lacks; the events that were missing.

    ``client`` is an administrator's. An answer that is an error tells nothing (checked again
    next time); a failed binding is logged, never the page's failure.
    """
    if isinstance(bound, B24Error) or not isinstance(bound, list):
        return []
    gone = missing(bound, events_url)
    if gone:
        try:
            bind(client, events_url=events_url)
        except B24Error as exc:
            log.warning("Portal %s: event handlers %s missing, binding failed: %s", member_id, gone, exc.code)
            return gone
        log.info("Portal %s: event handlers %s were missing; bound again", member_id, gone)
    r.set(checked_key(member_id), "1", ex=max(1, int(current_app.config["EVENTS_CHECK_SECONDS"])))
    return gone
