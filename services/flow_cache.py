"""A short cache of what Bitrix24 said about flows, so list reloads cost no portal request.

Two kinds of entries, both under the portal's hash tag (uninstall deletes them):

- ``fs:{M}:flow:<id>``: the last raw flow object Bitrix24 returned to anyone, shared by
  every user of the portal (flows hold no secrets), ``FLOW_CACHE_TTL``. Each entry keeps
  the time its read was sent; an older read never replaces a newer one, so a list read
  that was in flight during a switch cannot bring back the state before it.
- ``fs:{M}:visible:<U>``: the flow ids Bitrix24 let user U read in their last full read,
  with the known-set generation it was read against, ``VISIBILITY_CACHE_TTL``. Rights
  are still checked by Bitrix24 on every switch; this can only show a flow a little longer.

A change of the known set (``fs:{M}:flows``) bumps the generation in ``fs:{M}:flows:meta``,
which makes every visibility entry stale at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import redis
from flask import current_app

from core.keys import portal_key
from services.known_flows import GENERATION, meta_key

# The fields of a flow the page shows; the rest of Bitrix24's object is not kept.
_FIELDS = ("id", "name", "description", "active", "efficiency", "ownerId", "creatorId")

#: ``store_flow(key, value, ttl_ms)``: keep ``value`` ("<read_at> <json>") unless the stored
#: one comes from a later read. Other scripts include it (a switch writes in its release).
STORE_LUA = """
local function store_flow(key, value, ttl)
  local old = redis.call('GET', key)
  if not old or tonumber(string.match(old, '^%S+')) <= tonumber(string.match(value, '^%S+')) then
    redis.call('SET', key, value, 'PX', ttl)
  end
end
"""

# KEYS: flow entries; ARGV[1]: TTL in ms, then one value per key.
_STORE = (
    STORE_LUA
    + """
for i, key in ipairs(KEYS) do
  store_flow(key, ARGV[i + 1], tonumber(ARGV[1]))
end
return 0
"""
)


def flow_key(member_id: str, flow_id: int) -> str:
    return portal_key(member_id, "flow", int(flow_id))


def visible_key(member_id: str, user_id: int) -> str:
    return portal_key(member_id, "visible", int(user_id))


def _ttl_ms(setting: str) -> int:
    return int(float(current_app.config[setting]) * 1000)


def enabled() -> bool:
    """``FLOW_CACHE_TTL=0`` turns the cache off (every reload reads Bitrix24)."""
    return _ttl_ms("FLOW_CACHE_TTL") > 0


@dataclass(frozen=True)
class Cached:
    """A user's list as cached: raw flows in id order, and when the oldest part was read."""

    flows: list[dict]
    read_at: float
    is_admin: bool


def entry(raw: dict, read_at: float) -> str:
    """A flow's cache value: the time its read was sent, then the page's fields as JSON."""
    return f"{read_at:.6f} " + json.dumps({k: raw[k] for k in _FIELDS if k in raw}, separators=(",", ":"))


def flow_ttl_ms() -> int:
    """The flow entries' lifetime; 0 when the cache is off."""
    return _ttl_ms("FLOW_CACHE_TTL")


def store_flows(r: redis.Redis, member_id: str, raws: Iterable[dict], read_at: float) -> None:
    """Remember raw flows as read by a request sent at ``read_at`` (epoch seconds)."""
    items = {int(raw["id"]): entry(raw, read_at) for raw in raws if "id" in raw}
    if items and enabled():
        keys = [flow_key(member_id, flow_id) for flow_id in items]
        r.eval(_STORE, len(keys), *keys, flow_ttl_ms(), *items.values())


def store_visible(
    r: redis.Redis,
    member_id: str,
    user_id: int,
    ids: Iterable[int],
    *,
    generation: int,
    read_at: float,
    is_admin: bool,
) -> None:
    """Remember which flows the user could read at ``read_at``, against known-set ``generation``."""
    if enabled():
        value = json.dumps({"gen": generation, "at": read_at, "ids": sorted(ids), "admin": is_admin})
        r.set(visible_key(member_id, user_id), value, px=_ttl_ms("VISIBILITY_CACHE_TTL"))


def visible(r: redis.Redis, member_id: str, user_id: int) -> dict | None:
    """The user's visibility entry ``{gen, at, ids, admin}`` while it is current, else ``None``."""
    if not enabled():
        return None
    pipe = r.pipeline(transaction=False)
    current, value = pipe.hget(meta_key(member_id), GENERATION).get(visible_key(member_id, user_id)).execute()
    record = json.loads(value) if value is not None else None
    return record if record is not None and record["gen"] == int(current or 0) else None


def load(r: redis.Redis, member_id: str, user_id: int) -> Cached | None:
    """The user's cached list, or ``None`` when any part of it is missing or stale."""
    record = visible(r, member_id, user_id)
    if record is None:
        return None
    ids = record["ids"]
    values = r.mget([flow_key(member_id, flow_id) for flow_id in ids]) if ids else []
    if any(value is None for value in values):
        return None
    stamps, raws = zip(*(value.split(" ", 1) for value in values), strict=True) if values else ((), ())
    return Cached(
        flows=[json.loads(raw) for raw in raws],
        read_at=min([record["at"], *(float(stamp) for stamp in stamps)]),
        is_admin=bool(record["admin"]),
    )
