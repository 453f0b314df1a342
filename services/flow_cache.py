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

import orjson
import redis
from flask import current_app

from core.keys import portal_key
from core.redis_client import script
from services import user_names
from services.known_flows import GENERATION, discovery_lock_key, meta_key

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


# A reload reads everything it needs in one script. The flow keys are built from the ids in the
# visible entry: they share the portal's hash tag with KEYS[1], so they live in the same Redis
# Cluster slot. Owner ids are taken from each entry's JSON as written by ``entry`` (a quote
# inside a string value is escaped, so '"ownerId":' cannot match inside a name); the caller
# still checks every owner has a name, so a miss here only means a full read. The answer is
# a few strings, not an array per flow: parsing a reply element costs the client more than
# the script's concatenation costs Redis.
# KEYS: the known set's meta hash, the user's visible entry, the portal's names hash, the
# discovery lock. ARGV: the flow keys' prefix, the generation's field.
# Returns {discovering} when a part is missing or stale, else {discovering, visible entry,
# flow entries joined by newlines (JSON escapes every newline inside a value), and a JSON
# array of owner id, name pairs (false: no cached name)}.
_LOAD = """
local discovering = redis.call('EXISTS', KEYS[4])
local visible = redis.call('GET', KEYS[2])
if not visible then return {discovering} end
local record = cjson.decode(visible)
if tonumber(record['gen']) ~= tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or 0) then
  return {discovering}
end
local ids, flows, owners, seen = record['ids'], {}, {}, {}
-- unpack() is bounded by Lua's stack: a few hundred keys a call
for first = 1, #ids, 500 do
  local keys = {}
  for i = first, math.min(first + 499, #ids) do
    keys[#keys + 1] = ARGV[1] .. ids[i]
  end
  for _, value in ipairs(redis.call('MGET', unpack(keys))) do
    if not value then return {discovering} end
    flows[#flows + 1] = value
    -- a plain find, then the digits there: cheaper than a pattern tried at every position
    local at = string.find(value, '"ownerId":', 1, true)
    local owner = at and string.match(value, '^"?(%d+)', at + 10)
    if owner and not seen[owner] then
      seen[owner] = true
      owners[#owners + 1] = owner
    end
  end
end
local names = {}
for first = 1, #owners, 500 do
  local found = redis.call('HMGET', KEYS[3], unpack(owners, first, math.min(first + 499, #owners)))
  for i, name in ipairs(found) do
    names[#names + 1] = {owners[first + i - 1], name}
  end
end
return {discovering, visible, table.concat(flows, '\\n'), cjson.encode(names)}
"""
_FLOW = "flow"


def flow_key(member_id: str, flow_id: int) -> str:
    return portal_key(member_id, _FLOW, int(flow_id))


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
    #: the cached display names of the flows' owners (an owner without one is absent)
    names: dict[int, str]
    #: whether a discovery run is looking for more flows (read in the same round trip)
    discovering: bool


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
        script(_STORE)(keys=keys, args=[flow_ttl_ms(), *items.values()], client=r)


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


def _pairs(decoded: list | dict) -> list:
    # cjson writes an empty table as {}: no owners comes as an empty object.
    return decoded if isinstance(decoded, list) else []


def load(r: redis.Redis, member_id: str, user_id: int) -> Cached | None:
    """The user's cached list in one Redis round trip, or ``None`` when any part is missing or stale."""
    if not enabled():
        return None
    keys = [
        meta_key(member_id),
        visible_key(member_id, user_id),
        user_names.users_key(member_id),
        discovery_lock_key(member_id),
    ]
    answer = script(_LOAD)(keys=keys, args=[portal_key(member_id, _FLOW, ""), GENERATION], client=r)
    if len(answer) == 1:
        return None
    discovering, seen, joined, names = answer
    record = orjson.loads(seen)
    entries = [value.split(" ", 1) for value in joined.split("\n")] if joined else []
    return Cached(
        # One parse for the whole list: the entries are JSON objects already.
        flows=orjson.loads(f"[{','.join(raw for _, raw in entries)}]"),
        read_at=min([record["at"], *(float(stamp) for stamp, _ in entries)]),
        is_admin=bool(record["admin"]),
        names={int(owner): name for owner, name in _pairs(orjson.loads(names)) if name},
        discovering=bool(discovering),
    )
