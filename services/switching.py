"""Switching a flow to a desired state: read, toggle only if it differs, re-read, under the flow's lock.

``tasks.flow.Flow.activate`` is a toggle that does not say the new state, so a switch
reads the flow first, toggles only when the state differs, and re-reads in the same
``batch``; the per-flow Redis lock makes concurrent requests for one flow end in one
``activate``. A refused or rate-limited ``activate`` is never sent again behind the
user's back, and an ambiguous one (a timeout, a 5xx) is judged by reading the flow.

Fairness (nobody's refused attempts may keep the owner from switching): a switch takes
its budget (both portal requests) before the lock and never waits for the budget while
holding it, and a user may have only ``PER_FLOW`` switches of one flow and ``PER_USER`` in
all in flight. Redis round trips: the admission (in-flight mark, budget and lock in one
script, which also reads the portal record and the user's pair for ``switch_as``), the
release (lock, mark and the flow's cache entry in one script).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import current_app

from b24.errors import AuthError, B24Error, FlowError, OperationTimeLimit, RateLimited
from b24.operating import BLOCKED_LUA
from b24.ratelimit import TAKE_LUA, PortalRateLimiter, bucket_key
from core.keys import portal_key
from core.locks import lock
from core.redis_client import get_redis
from oauth.store import TokenStore
from oauth.tokens import budget_for, rest_client_for
from services import flow_cache
from services.errors import FlowBusy, FlowNotVisible, SwitchRefused
from services.flows import ACTIVATE, GET, read_flow

if TYPE_CHECKING:
    from b24.client import RestClient

log = logging.getLogger(__name__)

#: switches of one flow one user may have in flight (a double click, a second tab)
PER_FLOW = 2
#: switches one user may have in flight in all
PER_USER = 6
#: portal requests a switch takes from the budget up front: the read, then activate + re-read
SLOTS = 2

# KEYS: the user's in-flight hash, the portal's bucket, the flow's lock, the methods' blocks;
# optionally the portal record and the user's pair (read in this round trip instead of one of
# their own). ARGV: flow id, lock token, lock/mark lifetime (ms), PER_FLOW, PER_USER, then
# take()'s arguments, then blocked()'s. Returns {status, wait, record, pair}: 'blocked' (a flow
# method's operating time is used up: wait = its microseconds left), 'busy' (no slot for this
# user), 'budget' (wait = minus the wait that was too long), 'locked' (budget and lock taken),
# 'queued' (budget reserved; wait it out, then take the lock: never while holding it).
_ADMIT = (
    TAKE_LUA
    + BLOCKED_LUA
    + """
local stored = {}
if #KEYS > 4 then stored = redis.call('MGET', KEYS[5], KEYS[6]) end
local left = blocked(KEYS[4], ARGV[14], ARGV[15])
if left > 0 then
  return {'blocked', left, stored[1], stored[2]}
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl = tonumber(ARGV[3])
local marks = redis.call('HGETALL', KEYS[1])
local mine, all = 0, 0
for i = 1, #marks, 2 do
  local flow, since = string.match(marks[i], '^(%d+):'), tonumber(marks[i + 1])
  if now - since > ttl then
    redis.call('HDEL', KEYS[1], marks[i])
  else
    all = all + 1
    if flow == ARGV[1] then mine = mine + 1 end
  end
end
if mine >= tonumber(ARGV[4]) or all >= tonumber(ARGV[5]) then
  return {'busy', 0, stored[1], stored[2]}
end
local wait = take(KEYS[2], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]),
                  ARGV[10], tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13]))
if wait < 0 then
  return {'budget', wait, stored[1], stored[2]}
end
redis.call('HSET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], now)
redis.call('PEXPIRE', KEYS[1], ttl)
if wait == 0 and redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ttl) then
  return {'locked', 0, stored[1], stored[2]}
end
return {'queued', wait, stored[1], stored[2]}
"""
)

# KEYS: the flow's lock, the user's in-flight hash, the flow's cache entry.
# ARGV: lock token, flow id, cache value ('' for none), cache lifetime (ms).
_RELEASE = (
    flow_cache.STORE_LUA
    + """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
redis.call('HDEL', KEYS[2], ARGV[2] .. ':' .. ARGV[1])
if ARGV[3] ~= '' and tonumber(ARGV[4]) > 0 then
  store_flow(KEYS[3], ARGV[3], tonumber(ARGV[4]))
end
return 0
"""
)


@dataclass(frozen=True)
class SwitchResult:
    """The state Bitrix24 reports after a switch; ``error`` when it refused or failed."""

    id: int
    active: bool
    changed: bool
    error: Exception | None = None


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


def _read(client: RestClient, flow_id: int) -> tuple[dict, float]:
    """The raw flow and when the read was sent; a refused read means the user may not see it
    (or it is gone: Bitrix24 does not say which)."""
    read_at = time.time()
    try:
        return read_flow(client, flow_id), read_at
    except FlowError as exc:
        raise FlowNotVisible(exc) from None


def _switch_locked(client: RestClient, flow_id: int, desired: bool) -> tuple[SwitchResult, tuple[dict, float]]:
    """The switch's outcome and its last read of the flow (for the cache)."""
    last = _read(client, flow_id)
    before = bool(last[0].get("active"))
    if before == desired:
        return SwitchResult(flow_id, before, changed=False), last
    sent_at = time.time()
    try:
        # halt: if activate fails the re-read is skipped and `before` is still true.
        batch = client.batch(
            {"activate": (ACTIVATE, {"flowId": flow_id}), "after": (GET, {"flowId": flow_id})},
            halt=True,
            idempotent=False,
        )
    except B24Error as exc:
        if _did_not_run(exc):
            return SwitchResult(flow_id, before, changed=False, error=exc), last
        # Ambiguous (timeout, 5xx): the toggle may or may not have happened. Never
        # repeat it; look at what Bitrix24 says now.
        last = _read(client, flow_id)
        after = bool(last[0].get("active"))
        return SwitchResult(flow_id, after, changed=after != before, error=None if after == desired else exc), last
    refused = batch.errors.get("activate")
    if refused is not None:
        # The user could read the flow; a flow error from activate is a refusal to switch it.
        error = SwitchRefused(refused) if isinstance(refused, FlowError) else refused
        return SwitchResult(flow_id, before, changed=False, error=error), last
    after_raw = batch.results.get("after")
    # activate ran; if the re-read in the batch failed, read again
    last = (after_raw, sent_at) if isinstance(after_raw, dict) else _read(client, flow_id)
    after = bool(last[0].get("active"))
    return SwitchResult(flow_id, after, changed=after != before), last


def switch(
    client: RestClient | None,
    r: Any,
    member_id: str,
    user_id: int,
    flow_id: int,
    desired: bool,
    *,
    how: str = "switch",
) -> SwitchResult:
    """Bring a flow to ``desired`` (on/off) with the client's token (its user's); at most one toggle.

    ``client`` ``None``: the user's own (``rest_client_for``), their stored pair read in the
    admission's round trip. ``how`` names what asked for it (``switch``, ``bulk``,
    ``schedule``) in the record of the change.

    Raises ``FlowBusy`` when the user has too many switches in flight or another switch
    held the flow longer than ``SWITCH_LOCK_WAIT``, ``RateLimited`` when the user's share
    of the portal's budget is spent for longer than the client waits, ``FlowNotVisible``
    when Bitrix24 does not show the user the flow.
    """
    config = current_app.config
    # The lock outlives the longest switch: a read and a batch (and a read again after an
    # ambiguous answer), each up to the HTTP timeout, and a token refresh.
    ttl_ms = int(config["B24_HTTP_TIMEOUT"] * 4 * 1000)
    token = secrets.token_hex(16)
    limiter: PortalRateLimiter
    if client is None:
        limiter, rate_wait = budget_for(member_id, user_id)
    else:
        limiter, rate_wait = client.limiter, client.rate_wait  # type: ignore[assignment]
    keys = [
        in_flight_key(member_id, user_id),
        bucket_key(member_id),
        flow_lock_key(member_id, flow_id),
        limiter.blocks_key,
    ]
    if client is None:
        keys += TokenStore.record_keys(member_id, user_id)
    status, wait, *stored = r.eval(
        _ADMIT,
        len(keys),
        *keys,
        flow_id,
        token,
        ttl_ms,
        PER_FLOW,
        PER_USER,
        *limiter.args(SLOTS, rate_wait),
        *limiter.window_args((GET, ACTIVATE)),
    )
    if status == "blocked":
        limiter.refuse_blocked(int(wait))  # raises OperationTimeLimit: Bitrix24 would refuse it now
    if status == "busy":
        raise FlowBusy(flow_id)
    if status == "budget":
        limiter.wait_out(int(wait))  # raises RateLimited
    last: tuple[dict, float] | None = None
    try:
        if client is None:
            client = rest_client_for(member_id, user_id, stored=stored)
        if status == "queued":
            limiter.wait_out(int(wait))  # the budget first, holding nothing
            if not lock(r, keys[2], ttl_ms / 1000, config["SWITCH_LOCK_WAIT"]).acquire(token=token):
                raise FlowBusy(flow_id)
        client.prepay(SLOTS)
        result, last = _switch_locked(client, flow_id, desired)
        if result.error is not None:
            log.info("Portal %s: user %s could not turn flow %s %s (%s): %s", member_id, user_id, flow_id,
                     "on" if desired else "off", how, type(result.error).__name__)
        elif result.changed:
            log.info("Portal %s: user %s turned flow %s %s (%s)", member_id, user_id, flow_id,
                     "on" if desired else "off", how)
        return result
    finally:
        # Under the lock, so switches of one flow reach the cache in order; every user's
        # next reload shows the state Bitrix24 reported last.
        cached = flow_cache.entry(*last) if last is not None else ""
        r.eval(
            _RELEASE,
            3,
            keys[2],
            keys[0],
            flow_cache.flow_key(member_id, flow_id),
            token,
            flow_id,
            cached,
            flow_cache.flow_ttl_ms(),
        )


def switch_as(member_id: str, user_id: int, flow_id: int, desired: bool, *, how: str = "switch") -> SwitchResult:
    """``switch`` with the user's own stored token, as a request from them (or their schedule) does it."""
    return switch(None, get_redis(), member_id, user_id, flow_id, desired, how=how)
