"""Display names of a portal's users (flow owners), cached per portal for a day.

Bitrix24 answers ``user.get`` for the names the cache lacks in the same ``batch`` as
``user.admin`` (is the caller a portal administrator?), so a page pays one round trip
for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from b24.client import chunked
from core.keys import portal_key

if TYPE_CHECKING:
    from b24.client import Command, RestClient

NAMES_TTL = 24 * 3600
#: users one ``user.get`` returns (Bitrix24's page size)
USER_PAGE = 50


def users_key(member_id: str) -> str:
    return portal_key(member_id, "users")


def cached_names(r: Any, member_id: str, user_ids: set[int]) -> dict[int, str]:
    """The display names of ``user_ids`` that are cached for the portal."""
    ids = sorted(user_ids)
    cached = zip(ids, r.hmget(users_key(member_id), ids), strict=True) if ids else ()
    return {user_id: name for user_id, name in cached if name is not None}


def names_and_admin(
    client: RestClient, r: Any, member_id: str, user_ids: set[int], *, extra: Mapping[str, Command] | None = None
) -> tuple[dict[int, str], bool, dict[str, Any]]:
    """Display names for ``user_ids`` (cached per portal), whether the client's user is an admin, and
    the answers (a result or its typed error) to the ``extra`` commands sent in the same batch."""
    names = cached_names(r, member_id, user_ids)
    missing = sorted(user_ids - names.keys())
    commands: dict[str, Command] = {**(extra or {}), "admin": ("user.admin", {})}
    for index, chunk in enumerate(chunked(missing, USER_PAGE)):
        commands[f"users{index}"] = ("user.get", {"FILTER": {"ID": chunk}})
    batch = client.batch(commands)
    fetched: dict[int, str] = {}
    for key, users in batch.results.items():
        if key.startswith("users") and isinstance(users, list):
            for user in users:
                name = " ".join(part for part in (user.get("NAME"), user.get("LAST_NAME")) if part)
                fetched[int(user["ID"])] = name or f"#{user['ID']}"
    if fetched:
        pipe = r.pipeline()
        pipe.hset(users_key(member_id), mapping={str(k): v for k, v in fetched.items()})
        pipe.expire(users_key(member_id), NAMES_TTL)
        pipe.execute()
    extras = {key: batch.errors.get(key, batch.results.get(key)) for key in extra or {}}
    return names | fetched, bool(batch.results.get("admin")), extras
