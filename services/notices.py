"""Bitrix24 notifications from the app: ``im.notify.system.add``, one call per recipient.

A system notice comes "from the system", headed by the app's name; it needs the ``im``
scope, which an administrator may not have granted: without it nothing is sent and the
page alone tells. Bitrix24 takes one recipient per call, so a team gets one ``batch`` of
calls (up to 50 a request), paid from the portal's budget as background work. A notice is
a courtesy: ``send`` never raises into the caller's flow, it returns who was not reached.

Docs: ``api-reference/chats/notifications/im-notify-system-add.md``; Bitrix24's own code
(``im/classes/general/im_rest.php``, ``CIMRestService::notifyAdd``) and docs/protocol-notes.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import redis

import oauth
from b24.client import chunked
from b24.errors import B24Error
from oauth.tokens import rest_client_for

log = logging.getLogger(__name__)

METHOD = "im.notify.system.add"
SCOPE = "im"
NO_SCOPE = "no_scope"


def plain(text: str) -> str:
    """``text`` (a flow's name, say) as it reads, never as BB code: a zero-width space after each
    ``[`` keeps ``[url=…]`` from becoming a link in the notice."""
    return text.replace("[", "[\u200b")


def has_scope(scope: str) -> bool:
    return SCOPE in {part.strip() for part in scope.split(",")}


def send(
    member_id: str, sender_user_id: int, recipients: Iterable[int], message: str | Callable[[int], str], tag: str
) -> dict[int, str]:
    """Notify each recipient with the sender's token; returns ``{recipient: why}`` for those not reached.

    ``message``: the text, or a function of the recipient's id giving theirs (a link of their own).
    ``tag``: a later notice with the same tag replaces this one (per recipient, per app).
    ``why`` is ``no_scope`` (the portal did not grant ``im``), Bitrix24's error code, or the
    name of what failed on the way.
    """
    targets = sorted(set(recipients))
    text = message if callable(message) else lambda _user_id: message
    failed: dict[int, str] = {}
    try:
        stored = oauth.store().get_user(member_id, sender_user_id)
        if stored is None or not has_scope(stored.scope):
            return dict.fromkeys(targets, NO_SCOPE if stored is not None else "no_tokens")
        client = rest_client_for(member_id, sender_user_id, interactive=False)
    except (B24Error, redis.RedisError) as exc:
        return _unsent(member_id, sender_user_id, targets, exc)
    for chunk in chunked(targets):  # 50 a request, Bitrix24's batch limit
        commands = {
            f"u{user_id}": (METHOD, {"USER_ID": user_id, "MESSAGE": text(user_id), "TAG": tag}) for user_id in chunk
        }
        try:
            batch = client.batch(commands, idempotent=False)
        except (B24Error, redis.RedisError) as exc:
            failed |= _unsent(member_id, sender_user_id, chunk, exc)
            continue
        for user_id in chunk:
            error = batch.errors.get(f"u{user_id}")
            if error is not None:
                failed[user_id] = error.code
            elif not batch.results.get(f"u{user_id}"):
                failed[user_id] = "not_delivered"  # Bitrix24 answers false for a missing or inactive user
    return failed


def _unsent(member_id: str, sender_user_id: int, targets: list[int], exc: Exception) -> dict[int, str]:
    log.info("Portal %s: notice from user %s not sent (%s)", member_id, sender_user_id, type(exc).__name__)
    return dict.fromkeys(targets, getattr(exc, "code", "") or type(exc).__name__)
