"""The activity log: every change the app made or tried, per portal, in a Redis Stream.

One entry per flow whose state the app tried to change (a switch, a bulk, a scheduled
edge; refusals included): who (id and name), which flow (id and name at the time), the
state before and the state asked for, how, the outcome and Bitrix24's own answer. The
entry's stream id is its time (the Redis server's clock, milliseconds, UTC).

Entries are written by the switch's release script (``services/switching.py`` includes
``RECORD_LUA``), so a switch costs no Redis round trip more than before. Retention is
bounded by count (``XADD ... MAXLEN ~ ACTIVITY_MAX_ENTRIES``) and age (``XTRIM ... MINID ~``
now minus ``ACTIVITY_MAX_DAYS``; the keys expire that long after the last write). Its keys,
all under the portal's hash tag (uninstall deletes them):

- ``fs:{M}:activity``: the stream;
- ``fs:{M}:activity:user:<U>`` and ``fs:{M}:activity:flow:<id>``: the ids of a user's and of a
  flow's entries (the same ids), so a filtered page reads only what matches;
- ``fs:{M}:activity:people``: user id → the last name known for them (the filter's list);
- ``fs:{M}:activity:flows``: flow id → the last name recorded for it (the filter's list).

A flow with no attempt to change it (already in the state asked for, or not readable by
the user) leaves no entry: nothing was tried, and nobody can fill the log with flows
they cannot see. A notice about a change that did not reach everyone it was for gets an
entry of its own (``how`` = ``notice``; ``services/flow_notices.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app

from core.keys import portal_key
from core.redis_client import script
from services.user_names import users_key

#: what came of a tried change
DONE, REFUSED, FAILED = "done", "refused", "failed"
#: what came of a notice besides FAILED: nobody told (it would reach too many), not everyone reachable
TOO_MANY, HIDDEN = "too_many", "hidden"
#: what asked for a change (``services/switching.switch(..., how=...)``), and the entries of notices
#: about a change that did not reach everyone (``services/flow_notices.py``)
NOTICE = "notice"
HOWS = ("switch", "bulk", "schedule", NOTICE)
#: entries one page of the view shows
PAGE_SIZE = 50
#: entries read from Redis per round trip while filtering
_CHUNK = 500
#: stream ids look like ``<ms>-<seq>``
STREAM_ID = re.compile(r"\d{1,15}-\d{1,10}")

#: ``record_activity(k, argv, first)``: append one entry per change. ``KEYS[k..k+4]``: the
#: stream, the people and flow-name hashes, the portal's user names, the user's index; then
#: one flow index per change. ``argv`` from ``first``: user id, how, max entries, max age
#: (ms), count, then per change: flow id, flow name, before (1/0), asked (1/0), result, answer.
#: Each entry's id goes into the user's and the flow's index too (same id), so a filtered
#: view reads only what matches; an index is trimmed to the stream's oldest entry.
RECORD_LUA = """
local function record_activity(k, argv, first)
  local stream, people, flows, users, mine = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local user, how = argv[first], argv[first + 1]
  local maxlen, age, count = argv[first + 2], tonumber(argv[first + 3]), tonumber(argv[first + 4])
  if count == 0 then
    return
  end
  local name = redis.call('HGET', users, user)
  if name then
    redis.call('HSET', people, user, name)
  else
    name = redis.call('HGET', people, user) or ''
    redis.call('HSETNX', people, user, '')
  end
  local at = first + 5
  for i = 1, count do
    local id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'user', user, 'user_name', name,
                          'flow', argv[at], 'flow_name', argv[at + 1], 'from', argv[at + 2], 'to', argv[at + 3],
                          'how', how, 'result', argv[at + 4], 'answer', argv[at + 5])
    -- pcall: an index whose last id is newer (the server's clock went back) just misses this one
    redis.pcall('XADD', mine, id, 'flow', argv[at])
    redis.pcall('XADD', KEYS[k + 4 + i], id, 'user', user)
    redis.call('HSET', flows, argv[at], argv[at + 1])
    at = at + 6
  end
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  redis.call('XTRIM', stream, 'MINID', '~', now - age)
  local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1][1]
  for i = k, k + 4 + count do
    if i ~= k + 3 then
      if i >= k + 4 then
        redis.call('XTRIM', KEYS[i], 'MINID', '~', oldest)
      end
      redis.call('PEXPIRE', KEYS[i], age)
    end
  end
end
"""


@dataclass(frozen=True)
class Change:
    """One tried change, as the switch saw it."""

    flow_id: int
    flow_name: str
    before: bool
    asked: bool
    result: str  # DONE, REFUSED or FAILED (a notice's entry: FAILED, or why nobody or not everyone was told)
    answer: str = ""  # Bitrix24's own text (or its error code) when it did not go through


@dataclass(frozen=True)
class Entry:
    """One entry of the log, as the view shows it."""

    id: str
    at: datetime
    user_id: int
    user_name: str
    flow_id: int
    flow_name: str
    before: bool
    asked: bool
    how: str
    result: str
    answer: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "user": {"id": self.user_id, "name": self.user_name},
            "flow": {"id": self.flow_id, "name": self.flow_name},
            "from": self.before,
            "to": self.asked,
            "how": self.how,
            "result": self.result,
            "answer": self.answer,
        }


def stream_key(member_id: str) -> str:
    return portal_key(member_id, "activity")


def people_key(member_id: str) -> str:
    return portal_key(member_id, "activity", "people")


def flows_key(member_id: str) -> str:
    return portal_key(member_id, "activity", "flows")


def user_index_key(member_id: str, user_id: int) -> str:
    return portal_key(member_id, "activity", "user", int(user_id))


def flow_index_key(member_id: str, flow_id: int) -> str:
    return portal_key(member_id, "activity", "flow", int(flow_id))


def record_keys(member_id: str, user_id: int, changes: Iterable[Change]) -> list[str]:
    """The keys ``record_activity`` writes or reads, in its order (a script declares them)."""
    return [
        stream_key(member_id),
        people_key(member_id),
        flows_key(member_id),
        users_key(member_id),
        user_index_key(member_id, user_id),
        *(flow_index_key(member_id, change.flow_id) for change in changes),
    ]


def record_args(user_id: int, how: str, changes: Iterable[Change]) -> list[Any]:
    """``record_activity``'s arguments from ``first`` on."""
    if how not in HOWS:
        raise ValueError(f"how must be one of {HOWS}, not {how!r}")
    config = current_app.config
    values: list[Any] = []
    for change in changes:
        values += [
            change.flow_id,
            change.flow_name,
            int(change.before),
            int(change.asked),
            change.result,
            change.answer,
        ]
    max_age_ms = int(float(config["ACTIVITY_MAX_DAYS"]) * 86400 * 1000)
    return [int(user_id), how, int(config["ACTIVITY_MAX_ENTRIES"]), max_age_ms, len(values) // 6, *values]


_RECORD = RECORD_LUA + "record_activity(1, ARGV, 1) return 0"


def record(r: Any, member_id: str, user_id: int, how: str, changes: list[Change]) -> None:
    """Entries written on their own (a switch writes its entries in its release script instead)."""
    keys = record_keys(member_id, user_id, changes)
    script(_RECORD)(keys=keys, args=record_args(user_id, how, changes), client=r)


def entry_from(stream_id: str, fields: dict[str, str], names: dict[str, str] | None = None) -> Entry:
    """An ``Entry`` from a stream item; ``names`` fills a name the entry was written without."""
    user = fields.get("user", "0")
    return Entry(
        id=stream_id,
        at=at_of(stream_id),
        user_id=int(user),
        user_name=fields.get("user_name") or (names or {}).get(user) or "",
        flow_id=int(fields.get("flow", 0)),
        flow_name=fields.get("flow_name", ""),
        before=fields.get("from") == "1",
        asked=fields.get("to") == "1",
        how=fields.get("how", ""),
        result=fields.get("result", ""),
        answer=fields.get("answer", ""),
    )


def at_of(stream_id: str) -> datetime:
    return datetime.fromtimestamp(int(stream_id.split("-", 1)[0]) / 1000, tz=UTC)


@dataclass(frozen=True)
class Filters:
    """What the view asks for; times are epoch milliseconds (UTC), both ends included."""

    flow_id: int | None = None
    user_id: int | None = None
    since_ms: int | None = None
    until_ms: int | None = None


Items = list[tuple[str, dict[str, str]]]


def _entries(r: Any, member_id: str, ids: list[str]) -> Items:
    """The stream's entries of ``ids`` (an index's), in that order; those trimmed away are left out."""
    if not ids:
        return []
    pipe = r.pipeline(transaction=False)
    for stream_id in ids:
        pipe.xrange(stream_key(member_id), min=stream_id, max=stream_id)
    return [found[0] for found in pipe.execute() if found]


def scan(
    r: Any,
    member_id: str,
    filters: Filters,
    *,
    before: str | None = None,
    limit: int = PAGE_SIZE,
    budget: int | None = None,
    keep: Callable[[Items], Items] | None = None,
) -> tuple[Items, str | None]:
    """Newest first: up to ``limit`` entries matching ``filters``, older than ``before`` (a stream id).

    The time filters are a range of ids; a user or flow filter reads that user's (or flow's)
    index instead of the whole stream, then the entries it names, ``_CHUNK`` at a time, at
    most ``budget`` in all. ``keep`` may drop more entries per chunk (who may see what).
    Returns the entries and the cursor to pass as ``before`` for the next page, or ``None``
    when the range is exhausted.
    """
    if filters.user_id is not None:
        source, other = user_index_key(member_id, filters.user_id), ("flow", filters.flow_id)
    elif filters.flow_id is not None:
        source, other = flow_index_key(member_id, filters.flow_id), ("user", None)
    else:
        source, other = stream_key(member_id), ("user", None)
    high = f"({before}" if before else (f"{filters.until_ms}-18446744073709551615" if filters.until_ms else "+")
    low = f"{filters.since_ms}-0" if filters.since_ms else "-"
    indexed = source != stream_key(member_id)
    field, wanted = other
    everything = not indexed and wanted is None and keep is None  # every item read is shown
    found: Items = []
    read = 0
    while True:
        count = min(_CHUNK, limit - len(found) if everything else _CHUNK)
        count = min(count, max(1, budget - read)) if budget else count
        chunk = r.xrevrange(source, max=high, min=low, count=count)
        if not chunk:
            return found, None
        read += len(chunk)
        matched = [item for item in chunk if wanted is None or item[1].get(field) == str(wanted)]
        while matched:  # read the log's entries only as far as the page needs them
            part, matched = matched[: limit - len(found)], matched[limit - len(found) :]
            items = _entries(r, member_id, [stream_id for stream_id, _ in part]) if indexed else part
            for item in keep(items) if keep else items:
                found.append(item)
                if len(found) == limit:
                    return found, item[0]
        high = f"({chunk[-1][0]}"
        if len(chunk) < count:
            return found, None
        if budget is not None and read >= budget:
            return found, chunk[-1][0]


def names(r: Any, key: str) -> dict[str, str]:
    """A ``people`` or ``flows`` hash of the log (id → last known name)."""
    return r.hgetall(key)


def all_items(
    r: Any, member_id: str, filters: Filters, keep: Callable[[Items], Items] | None = None
) -> Iterator[tuple[str, dict[str, str]]]:
    """Every item matching ``filters``, newest first, read ``_CHUNK`` at a time (the CSV export)."""
    before = None
    while True:
        items, before = scan(r, member_id, filters, before=before, limit=_CHUNK, budget=_CHUNK, keep=keep)
        yield from items
        if before is None:
            return
