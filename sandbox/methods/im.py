"""``im.notify.system.add`` / ``im.notify.personal.add`` (scope ``im``): one recipient per call.

Follows ``CIMRestService::notifyAdd`` (yuliai/bitrix-modules ``im/classes/general/im_rest.php``) and
``CIMMessenger::Add`` (``im/classes/general/im_messenger.php``); errors as the docs list them
(``api-reference/chats/notifications/im-notify-system-add.md``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sandbox.errors import RestError
from sandbox.methods.registry import SESSION, Call, method
from sandbox.models import Notification
from sandbox.php import intval, truthy

ATTACH_LIMIT = 30 * 1024  # CIMMessageParamAttach::IsAllowSize, "30 KB" in the docs


def _bad_request(code: str, text: str) -> RestError:
    return RestError(code, text, status=400)


def _text(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    return value.strip() if isinstance(value, str) else ""


def _attach(raw: Any) -> Any:
    """An attachment object, a JSON string of one, or nothing; anything else is ATTACH_ERROR."""
    if not truthy(raw):
        return None
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
    if not isinstance(value, dict | list) or not value:
        raise _bad_request("ATTACH_ERROR", "Incorrect attach params")
    if len(json.dumps(value, ensure_ascii=False).encode()) > ATTACH_LIMIT:
        raise _bad_request("ATTACH_OVERSIZE", "You have exceeded the maximum allowable size of attach")
    return value


def _app_tag(client_id: str, tag: str) -> str:
    """Tags are stored per app: ``MP|`` + the first five hex digits of md5(client_id) + ``|`` + TAG."""
    return f"MP|{hashlib.md5(client_id.encode()).hexdigest()[:5]}|{tag}" if tag else ""


def _stored(message: str) -> str:
    """CIMMessenger::Add turns ``#BR#`` / ``[BR]`` into line breaks and trims."""
    for mark in ("#BR#", "[BR]", "[br]"):
        message = message.replace(mark, "\n")
    return message.strip()


def _notify(call: Call, kind: str) -> int | bool:
    if call.auth_type == SESSION:
        raise RestError(
            "WRONG_AUTH_TYPE", "Access for this method not allowed by session authorization.", status=403
        )
    params = {str(k).upper(): v for k, v in call.params.items()}
    user_id = intval(params.get("TO", params.get("USER_ID", 0)))
    if user_id <= 0:
        raise _bad_request("USER_ID_EMPTY", "User ID can't be empty")
    message = _text(params, "MESSAGE")
    if not message:
        raise _bad_request("MESSAGE_EMPTY", "Message can't be empty")
    message_out = _text(params, "MESSAGE_OUT")
    attach = _attach(params.get("ATTACH"))
    world = call.world
    with world.lock:
        app = world.require_app()
        if kind == "system":
            message = f"{app.name or app.client_id}#BR#{message}"
            message_out = f"{app.name or app.client_id}#BR#{message_out}" if message_out else ""
        recipient = world.users.get(user_id)
        if recipient is None or not recipient.active:
            return False  # CIMNotify::Add fails for a missing or inactive user; the method answers false
        tag, sub_tag = str(params.get("TAG") or ""), str(params.get("SUB_TAG") or "")
        notice = Notification(
            id=world.next_id("notification"),
            user_id=user_id,
            message=_stored(message),
            message_out=message_out,
            kind=kind,
            from_user_id=0 if kind == "system" else call.user_id,
            client_id=app.client_id,
            tag=tag,
            notify_tag=_app_tag(app.client_id, tag),
            sub_tag=_app_tag(app.client_id, sub_tag),
            attach=attach,
            at=world.clock.now(),
        )
        world.notifications.add(notice)
        world.notifications_sent += 1
        return notice.id


@method("im.notify.system.add", "im")
def system_add(call: Call) -> int | bool:
    """From the system; the app's name is the first line."""
    return _notify(call, "system")


@method("im.notify.personal.add", "im")
def personal_add(call: Call) -> int | bool:
    """From the calling user."""
    return _notify(call, "personal")
