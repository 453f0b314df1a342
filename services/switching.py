"""Switching flows to a desired state: read, toggle only those that differ, re-read, under the flows' locks.

``tasks.flow.Flow.activate`` is a toggle that does not say the new state, so a switch
reads the flows first, toggles only those whose state differs, and re-reads each in the
same ``batch`` as its toggle; the per-flow Redis locks make concurrent requests for a
flow end in one ``activate``. A refused or rate-limited ``activate`` is never sent again
behind the user's back, and an ambiguous one (a timeout, a 5xx) is judged by reading the
flow. One rule for one flow (``switch``) and for many (``switch_many``, the bulk).

Round trips to the portal: the reads in batches of 50 (``batch_all``), then the
activates with their re-reads, 25 flows per batch (2 commands each), up to
``CONCURRENCY`` requests in flight: one flow costs 2 round trips, 25 flows 2 as well.

Fairness (nobody's refused attempts may keep the owner from switching): a switch takes
its whole budget (the reads and, at worst, every activate batch) before any lock and
never waits for the budget while holding one; it gives back what it did not use when
it releases. Locks are taken in ascending flow id, so a bulk and single switches never
deadlock. A user may have only ``PER_FLOW`` switches of one flow (or ``PER_FLOW`` bulks)
and ``PER_USER`` in all in flight; a bulk counts as one (one mark, ``bulk:<token>``).

Redis round trips: the portal record and the user's pair (one), the admission (in-flight
mark, budget and the locks in one script), the release (locks, mark, unused budget, the
flows' cache entries and the activity log's entries in one script). A lock another
switch holds costs a wait and a round trip or two more. The people of the flows a switch
changed are told after its answer is sent (``services/flow_notices.py``), and the log line
is written then: nothing of either happens before the answer.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import current_app

from b24.client import BATCH_LIMIT, BatchResult
from b24.errors import AuthError, B24Error, FlowError, OperationTimeLimit, PortalUnreachable, RateLimited
from b24.operating import BLOCKED_LUA
from b24.ratelimit import GIVE_BACK_LUA, TAKE_LUA, PortalRateLimiter, bucket_key
from core.deferred import after_answer
from core.keys import portal_key
from core.locks import lock
from core.redis_client import get_redis, script
from oauth.tokens import rest_client_for
from services import activity, flow_cache, flow_notices, notice_store
from services.errors import FlowBusy, FlowNotVisible, SwitchRefused
from services.flows import ACTIVATE, GET, read_flows

if TYPE_CHECKING:
    from b24.client import RestClient

log = logging.getLogger(__name__)

#: switches of one flow one user may have in flight (a double click, a second tab); also bulks
PER_FLOW = 2
#: switches one user may have in flight in all (a bulk counts as one)
PER_USER = 6
#: flows whose activate and re-read share one batch
PAIRS_PER_BATCH = BATCH_LIMIT // 2
#: portal requests a switch keeps in flight at once
CONCURRENCY = 4
#: the in-flight mark of a bulk: ``bulk:<token>`` (a single switch's is ``<flow id>:<token>``)
BULK_MARK = "bulk"

_TAKE_LOCKS_LUA = """
local function take_locks(first, token, ttl)
  local taken = 0
  for i = first, #KEYS do
    if not redis.call('SET', KEYS[i], token, 'NX', 'PX', ttl) then
      return taken
    end
    taken = taken + 1
  end
  return taken
end
"""

# KEYS: the user's in-flight hash, the portal's bucket, the methods' blocks, then the flows'
# locks in ascending id. ARGV: mark group (a flow id or 'bulk'), lock token, lock/mark
# lifetime (ms), PER_FLOW, PER_USER, then take()'s arguments, then blocked()'s. Returns
# {status, wait, locks}: 'blocked' (a flow method's operating time is used up: wait = its
# microseconds left), 'busy' (no slot for this user), 'budget' (wait = minus the wait that
# was too long), 'admitted' (budget reserved;
# wait = what is left to wait, then the locks: never while holding one; locks = how many of
# the locks, in order, are ours already: all up to the first one someone else holds, none
# while the budget must be waited for).
_ADMIT = (
    TAKE_LUA
    + BLOCKED_LUA
    + _TAKE_LOCKS_LUA
    + """
local left = blocked(KEYS[3], ARGV[14], ARGV[15])
if left > 0 then
  return {'blocked', left, 0}
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl = tonumber(ARGV[3])
local marks = redis.call('HGETALL', KEYS[1])
local mine, all = 0, 0
for i = 1, #marks, 2 do
  local group, since = string.match(marks[i], '^([^:]+):'), tonumber(marks[i + 1])
  if now - since > ttl then
    redis.call('HDEL', KEYS[1], marks[i])
  else
    all = all + 1
    if group == ARGV[1] then mine = mine + 1 end
  end
end
if mine >= tonumber(ARGV[4]) or all >= tonumber(ARGV[5]) then
  return {'busy', 0, 0}
end
local wait = take(KEYS[2], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]),
                  ARGV[10], tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13]))
if wait < 0 then
  return {'budget', wait, 0}
end
redis.call('HSET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], now)
redis.call('PEXPIRE', KEYS[1], ttl)
if wait > 0 then
  return {'admitted', wait, 0}
end
return {'admitted', 0, take_locks(4, ARGV[2], ttl)}
"""
)

# KEYS: the locks from the first one to try, in ascending flow id. ARGV: token, lifetime (ms).
_TAKE_LOCKS = _TAKE_LOCKS_LUA + "return take_locks(1, ARGV[1], tonumber(ARGV[2]))"

# KEYS: the user's in-flight hash, the portal's bucket, the portal's notice settings, the locks
# (ARGV[5] of them), the flows' cache entries (ARGV[6]), then record_activity's keys.
# ARGV: lock token, the in-flight mark, unused budget slots, the user's share in the bucket,
# the number of locks, of cache entries, the cache lifetime (ms), the cache values, then
# record_activity's arguments. Returns the notice settings (a flat hash), so deciding whether
# anyone is told costs no round trip of its own.
_RELEASE = (
    flow_cache.STORE_LUA
    + GIVE_BACK_LUA
    + activity.RECORD_LUA
    + """
local locks, cached = tonumber(ARGV[5]), tonumber(ARGV[6])
for i = 4, 3 + locks do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
  end
end
redis.call('HDEL', KEYS[1], ARGV[2])
give_back(KEYS[2], tonumber(ARGV[3]), ARGV[4])
local ttl = tonumber(ARGV[7])
if ttl > 0 then
  for i = 1, cached do
    store_flow(KEYS[3 + locks + i], ARGV[7 + i], ttl)
  end
end
record_activity(4 + locks + cached, ARGV, 8 + cached)
return redis.call('HGETALL', KEYS[3])
"""
)


@dataclass(frozen=True)
class SwitchResult:
    """The state Bitrix24 reports after a switch; ``error`` when it refused or failed.

    ``known``: ``active`` is what Bitrix24 said; false when the flow was never read (Bitrix24
    does not show it to the user, or another switch held it too long).
    """

    id: int
    active: bool
    changed: bool
    error: Exception | None = None
    known: bool = True


@dataclass(frozen=True)
class _Outcome:
    """A flow's result, its last read (for the cache) and, when an activate was tried, the change."""

    result: SwitchResult
    last: tuple[dict, float] | None = None
    change: activity.Change | None = None


def flow_lock_key(member_id: str, flow_id: int) -> str:
    return portal_key(member_id, "lock", "flow", int(flow_id))


def in_flight_key(member_id: str, user_id: int) -> str:
    return portal_key(member_id, "switching", int(user_id))


# A whole request refused with one of these statuses never reached the method.
_REFUSED_STATUSES = (400, 401, 403, 404)


def _did_not_run(error: B24Error) -> bool:
    """Whether the toggle certainly did not happen (so the state read before still holds)."""
    return (
        isinstance(error, AuthError | RateLimited | OperationTimeLimit) or error.status in _REFUSED_STATUSES
    )


def _read_error(error: B24Error) -> B24Error | FlowNotVisible:
    """A refused read means the user may not see the flow (or it is gone: Bitrix24 does not say which)."""
    return FlowNotVisible(error) if isinstance(error, FlowError) else error


def _budget(flows: int) -> int:
    """Portal requests a switch of ``flows`` flows may need: the reads, and every activate batch."""
    return math.ceil(flows / BATCH_LIMIT) + math.ceil(flows / PAIRS_PER_BATCH)


def _lock_ttl_ms(flows: int) -> int:
    # Locks outlive the longest switch: each wave of requests (and a read again after an
    # ambiguous answer, and a token refresh) up to the HTTP timeout, with room for retries.
    waves = math.ceil(_budget(flows) / CONCURRENCY)
    return int(current_app.config["B24_HTTP_TIMEOUT"] * 4 * waves * 1000)


def _change(flow_id: int, raw: dict, before: bool, desired: bool, result: SwitchResult) -> activity.Change:
    error = result.error
    outcome = (
        activity.DONE if error is None else activity.REFUSED if isinstance(error, SwitchRefused) else activity.FAILED
    )
    answer = "" if error is None else str(getattr(error, "description", "") or getattr(error, "code", "") or error)
    return activity.Change(flow_id, str(raw.get("name") or ""), before, desired, outcome, answer)


def _judged(
    flow_id: int, read: tuple[dict, float], desired: bool, error: B24Error | None, after: tuple[dict, float] | None
) -> _Outcome:
    """One flow's outcome once its activate was sent: ``error`` is what activate answered (or its
    request's error), ``after`` the read that followed it, if any."""
    raw, before = read[0], bool(read[0].get("active"))
    if isinstance(error, FlowError):  # the user could read the flow: this is a refusal to switch it
        result = SwitchResult(flow_id, bool((after or read)[0].get("active")), changed=False,
                              error=SwitchRefused(error))
    elif error is not None and _did_not_run(error):
        result = SwitchResult(flow_id, bool((after or read)[0].get("active")), changed=False, error=error)
    elif after is None:  # ran or may have, and no read of the flow came back: its state is unknown
        lost = PortalUnreachable("NO_ANSWER", "no read of the flow came back after activate")
        result = SwitchResult(flow_id, before, changed=False, error=error or lost, known=False)
        return _Outcome(result, None, _change(flow_id, raw, before, desired, result))  # nothing to cache
    else:  # activate ran, or may have: what Bitrix24 says now decides
        now = bool(after[0].get("active"))
        result = SwitchResult(flow_id, now, changed=now != before, error=None if now == desired else error)
    return _Outcome(result, after or read, _change(flow_id, raw, before, desired, result))


def _switch_locked(client: RestClient, ids: Sequence[int], desired: bool) -> dict[int, _Outcome]:
    """The desired-state rule for ``ids`` (their locks held): every flow's outcome."""
    read_at = time.time()
    raws, errors = read_flows(client, list(ids))
    outcomes: dict[int, _Outcome] = {
        flow_id: _Outcome(SwitchResult(flow_id, False, changed=False, error=_read_error(error), known=False))
        for flow_id, error in errors.items()
    }
    reads = {flow_id: (raw, read_at) for flow_id, raw in raws.items()}
    differ = [flow_id for flow_id in ids if flow_id in reads and bool(reads[flow_id][0].get("active")) != desired]
    for flow_id in reads.keys() - set(differ):
        outcomes[flow_id] = _Outcome(SwitchResult(flow_id, desired, changed=False), reads[flow_id])
    parts = [differ[i : i + PAIRS_PER_BATCH] for i in range(0, len(differ), PAIRS_PER_BATCH)]
    sent_at = time.time()
    answers = client.batches(
        [
            {
                key: command
                for flow_id in part
                for key, command in (
                    (f"a{flow_id}", (ACTIVATE, {"flowId": flow_id})),
                    (f"g{flow_id}", (GET, {"flowId": flow_id})),
                )
            }
            for part in parts
        ],
        concurrency=CONCURRENCY,
        idempotent=False,
    )
    unsure: dict[int, B24Error | None] = {}
    for part, answer in zip(parts, answers, strict=True):
        for flow_id in part:
            if isinstance(answer, BatchResult):
                error = answer.errors.get(f"a{flow_id}")
                after = answer.results.get(f"g{flow_id}")
            else:
                error, after = answer, None
            if isinstance(after, dict):
                outcomes[flow_id] = _judged(flow_id, reads[flow_id], desired, error, (after, sent_at))
            elif error is not None and (isinstance(error, FlowError) or _did_not_run(error)):
                outcomes[flow_id] = _judged(flow_id, reads[flow_id], desired, error, None)
            else:
                unsure[flow_id] = error  # activate ran or may have, and no read followed: read now
    if unsure:
        # Never repeat a toggle: look at what Bitrix24 says now.
        again_at = time.time()
        try:
            again, _ = read_flows(client, sorted(unsure))
        except B24Error:  # nothing to judge by: each keeps the error its activate had
            again = {}
        for flow_id, error in unsure.items():
            after = (again[flow_id], again_at) if flow_id in again else None
            outcomes[flow_id] = _judged(flow_id, reads[flow_id], desired, error, after)
    return outcomes


def _wait_for_locks(
    r: Any, keys: list[str], token: str, ttl_ms: int, first: int, *, blocked: bool, wait: float
) -> set[int]:
    """Take ``keys[first:]`` in order, waiting for each one someone holds until ``wait`` seconds
    have passed in all (then taking only free ones); the indexes of the locks now ours.

    ``blocked``: ``keys[first]`` was just found taken (the admission tried it).
    """
    deadline = time.monotonic() + wait
    held = set(range(first))
    at = first
    while at < len(keys):
        if not blocked:
            taken = int(script(_TAKE_LOCKS)(keys=keys[at:], args=[token, ttl_ms], client=r))
            held |= set(range(at, at + taken))
            at += taken
            if at == len(keys):
                break
        # keys[at] is someone else's: wait for it (every lower id is ours or given up already)
        left = deadline - time.monotonic()
        if lock(r, keys[at], ttl_ms / 1000, left if left > 0 else None).acquire(token=token):
            held.add(at)
        at += 1
        blocked = False
    return held


def switch_many(
    client: RestClient,
    r: Any,
    member_id: str,
    user_id: int,
    flow_ids: Sequence[int],
    desired: bool,
    *,
    how: str = "bulk",
    rate_wait: float | None = None,
    plan: str = "",
) -> dict[int, SwitchResult]:
    """Bring every flow of ``flow_ids`` to ``desired`` with the client's token (its user's); at most
    one toggle each. Each flow's result; a flow Bitrix24 does not show the user, or whose lock
    stayed taken for ``SWITCH_LOCK_WAIT``, has its error (``FlowNotVisible``, ``FlowBusy``, ...)
    and ``known`` false. The people of the flows it changed are told once the answer is out
    (``flow_notices.announce``; ``plan``: the schedule behind a scheduled switch).

    ``how`` names what asked for it (``switch``, ``bulk``, ``schedule``) in the activity log.
    Raises ``FlowBusy`` when the user has too many switches in flight and ``RateLimited``
    when the user's share of the portal's budget is spent for longer than ``rate_wait``
    (default: the client's); nothing was sent to the portal then.
    """
    ids = sorted({int(flow_id) for flow_id in flow_ids})
    if not ids:
        return {}
    ttl_ms = _lock_ttl_ms(len(ids))
    token = secrets.token_hex(16)
    group = str(ids[0]) if len(ids) == 1 and how != "bulk" else BULK_MARK
    lock_keys = [flow_lock_key(member_id, flow_id) for flow_id in ids]
    limiter: PortalRateLimiter = client.limiter  # type: ignore[assignment]
    head = [in_flight_key(member_id, user_id), bucket_key(member_id), limiter.blocks_key]
    slots = _budget(len(ids))
    status, wait, taken = script(_ADMIT)(
        keys=[*head, *lock_keys],
        args=[
            group, token, ttl_ms, PER_FLOW, PER_USER,
            *limiter.args(slots, client.rate_wait if rate_wait is None else rate_wait),
            *limiter.window_args((GET, ACTIVATE)),
        ],
        client=r,
    )
    if status == "blocked":
        limiter.refuse_blocked(int(wait))  # raises OperationTimeLimit: Bitrix24 would refuse it now
    if status == "busy":
        raise FlowBusy(ids[0] if len(ids) == 1 else None)
    if status == "budget":
        limiter.wait_out(int(wait))  # raises RateLimited: nothing was reserved
    outcomes: dict[int, _Outcome] = {}
    held: set[int] = set()
    prepaid = False
    try:
        limiter.wait_out(int(wait))  # the budget first, holding nothing
        held = _wait_for_locks(
            r, lock_keys, token, ttl_ms, int(taken), blocked=int(wait) == 0,
            wait=current_app.config["SWITCH_LOCK_WAIT"],
        )
        mine = [ids[i] for i in sorted(held)]
        client.prepay(slots)
        prepaid = True
        if mine:
            outcomes = _switch_locked(client, mine, desired)
        for flow_id in set(ids) - set(mine):
            outcomes[flow_id] = _Outcome(
                SwitchResult(flow_id, False, changed=False, error=FlowBusy(flow_id), known=False)
            )
        # The log line is written once the answer is out: formatting and writing it took
        # a tenth of a switch's own time.
        after_answer(_log, member_id, user_id, desired, how, outcomes)
    finally:
        # Under the locks, so switches of a flow reach the cache and the log in order; every
        # user's next reload shows the state Bitrix24 reported last.
        cached = {flow_id: outcome.last for flow_id, outcome in outcomes.items() if outcome.last is not None}
        changes = [outcome.change for outcome in outcomes.values() if outcome.change is not None]
        released = [lock_keys[i] for i in sorted(held)]
        logged = activity.record_keys(member_id, user_id, changes)
        notice_settings = script(_RELEASE)(
            keys=[
                *head[:2],  # the in-flight hash and the bucket
                notice_store.settings_key(member_id),
                *released,
                *(flow_cache.flow_key(member_id, flow_id) for flow_id in cached),
                *logged,
            ],
            args=[
                token,
                f"{group}:{token}",
                client.unused_prepaid() if prepaid else slots,
                limiter.who,
                len(released),
                len(cached),
                flow_cache.flow_ttl_ms(),
                *(flow_cache.entry(*last) for last in cached.values()),
                *activity.record_args(user_id, how, changes),
            ],
            client=r,
        )
    changed = [flow_id for flow_id, outcome in outcomes.items() if outcome.result.changed and not outcome.result.error]
    flow_notices.announce(
        member_id,
        user_id,
        changed,
        desired,
        how=how,
        plan=plan,
        settings=notice_store.parse(dict(zip(notice_settings[::2], notice_settings[1::2], strict=True))),
        scope=client.tokens.scope(),
    )
    return {flow_id: outcome.result for flow_id, outcome in outcomes.items()}


def _log(member_id: str, user_id: int, desired: bool, how: str, outcomes: dict[int, _Outcome]) -> None:
    state = "on" if desired else "off"
    for flow_id, outcome in sorted(outcomes.items()):
        if outcome.change is None:
            continue
        if outcome.result.error is not None:
            log.info("Portal %s: user %s could not turn flow %s %s (%s): %s", member_id, user_id, flow_id,
                     state, how, type(outcome.result.error).__name__)
        elif outcome.result.changed:
            log.info("Portal %s: user %s turned flow %s %s (%s)", member_id, user_id, flow_id, state, how)


def switch(
    client: RestClient,
    r: Any,
    member_id: str,
    user_id: int,
    flow_id: int,
    desired: bool,
    *,
    how: str = "switch",
    plan: str = "",
) -> SwitchResult:
    """Bring a flow to ``desired`` (on/off) with the client's token (its user's); at most one toggle.

    ``how`` names what asked for it (``switch``, ``bulk``, ``schedule``) in the activity log.

    Raises ``FlowBusy`` when the user has too many switches in flight or another switch
    held the flow longer than ``SWITCH_LOCK_WAIT``, ``RateLimited`` when the user's share
    of the portal's budget is spent for longer than the client waits, ``FlowNotVisible``
    (or the read's own error) when Bitrix24 does not show the user the flow.
    """
    result = switch_many(client, r, member_id, user_id, [flow_id], desired, how=how, plan=plan)[int(flow_id)]
    if not result.known and result.error is not None:
        raise result.error  # never read: there is no state to report
    return result


def switch_as(member_id: str, user_id: int, flow_id: int, desired: bool, *, how: str = "switch") -> SwitchResult:
    """``switch`` with the user's own stored token, as a request from them (or their schedule) does it."""
    return switch(rest_client_for(member_id, user_id), get_redis(), member_id, user_id, flow_id, desired, how=how)


def switch_many_as(
    member_id: str, user_id: int, flow_ids: Sequence[int], desired: bool, *, how: str = "bulk"
) -> dict[int, SwitchResult]:
    """``switch_many`` with the user's own stored token. A person waits for it, but for many
    flows at once: it may wait for their share of the portal's budget up to ``B24_HTTP_TIMEOUT``."""
    client = rest_client_for(member_id, user_id)
    wait = max(float(current_app.config["B24_RATE_WAIT"]), float(current_app.config["B24_HTTP_TIMEOUT"]))
    return switch_many(client, get_redis(), member_id, user_id, flow_ids, desired, how=how, rate_wait=wait)
