"""Bitrix24's operating-time window: a method that used too much time is refused until it moves on.

Bitrix24 sums each method's execution time per app over ten one-minute buckets; once the
sum is over the limit (480 s on cloud portals unless configured otherwise), every call of
that method answers 429 ``OPERATION_TIME_LIMIT`` until the oldest bucket leaves, and other
methods keep working. Each successful answer says when that is (``time.operating_reset_at``)
and how much was used (``time.operating``); the docs say to retry at the reset time of the
last successful answer (``limits.md``).

So the app stops calling a refused method, for the whole portal (every worker and server
reads ``fs:{M}:blocked``), until the reset time of the last successful answer of that
method this process saw, else for ``default`` seconds, never longer than ``longest``;
meanwhile users are told "busy" at once. Background work yields first: once a method's
sum passes ``BACKGROUND_SHARE`` of the limit, background callers leave it alone until its
reset time, and the rest of the window stays with the people waiting on answers.

The check runs inside the rate bucket's script (``b24/ratelimit.py``, ``services/switching``):
no extra Redis round trip; a block is written only when Bitrix24 refuses (or nearly would).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from core.keys import portal_key

log = logging.getLogger(__name__)

#: the part of a method's operating limit background work may use before it yields
BACKGROUND_SHARE = 0.5
#: reset times remembered per process (portals x methods); the oldest are forgotten first
REMEMBERED = 4096

#: ``blocked(key, methods, background)``: microseconds until every method in ``methods`` (a
#: space-separated list) may be called again, 0 when none is blocked; a background caller
#: also honours ``bg:<method>``. Other scripts include this function.
BLOCKED_LUA = """
local function blocked(key, methods, background)
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
  local longest = 0
  for method in string.gmatch(methods, '%S+') do
    local untils = redis.call('HMGET', key, method, 'bg:' .. method)
    local last = background == '1' and 2 or 1
    for i = 1, last do
      local left = (tonumber(untils[i]) or 0) - now
      if left > longest then longest = left end
    end
  end
  return longest
end
"""

# KEYS[1] the blocks hash; ARGV: field, seconds. Keeps the later of two blocks; the hash lives
# as long as its longest block.
_BLOCK = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local until_ = now + math.floor(tonumber(ARGV[2]) * 1000000)
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1])) or 0
if until_ > old then
  redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', until_))
end
local want = math.ceil((math.max(until_, old) - now) / 1000) + 1000
if redis.call('PTTL', KEYS[1]) < want then
  redis.call('PEXPIRE', KEYS[1], want)
end
return 0
"""

_resets: OrderedDict[tuple[str, str], float] = OrderedDict()
_resets_lock = threading.Lock()


def blocks_key(member_id: str) -> str:
    """Hash: method -> blocked until (microseconds, Redis clock); ``bg:<method>`` for background work."""
    return portal_key(member_id, "blocked")


def methods_arg(methods: Iterable[str]) -> str:
    """Methods as the scripts take them."""
    return " ".join(dict.fromkeys(methods))


def _remember(member_id: str, method: str, reset_at: float) -> None:
    with _resets_lock:
        _resets[(member_id, method)] = reset_at
        _resets.move_to_end((member_id, method))
        while len(_resets) > REMEMBERED:
            _resets.popitem(last=False)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass
class MethodWindow:
    """One portal's operating-time window as one caller (a user's request, or background work) sees it.

    ``limit``: the portal's operating limit per method; ``default``: seconds a refused method
    is left alone when no reset time is known; ``longest``: the longest it ever is.
    """

    redis: Any
    member_id: str
    limit: float = 480.0
    default: float = 60.0
    longest: float = 600.0
    background: bool = False

    def __post_init__(self) -> None:
        self.key = blocks_key(self.member_id)
        self._block_script = self.redis.register_script(_BLOCK)

    def observe(self, method: str, timing: Mapping[str, Any] | None) -> None:
        """A successful answer of ``method`` and its ``time`` block: remember the reset time;
        background work yields once the method's sum passes its share of the limit."""
        if not isinstance(timing, Mapping):
            return
        reset_at = _number(timing.get("operating_reset_at"))
        if reset_at is None:
            return
        _remember(self.member_id, method, reset_at)
        used = _number(timing.get("operating")) or 0.0
        if self.background and used >= BACKGROUND_SHARE * self.limit:
            seconds = self._until(reset_at)
            log.info("b24 %s: %.0f s of %.0f s used; background work yields for %.0f s", method, used, self.limit, seconds)
            self._block("bg:" + method, seconds)

    def refused(self, method: str) -> float:
        """Bitrix24 answered ``OPERATION_TIME_LIMIT`` for ``method``: block it for the portal; the seconds."""
        with _resets_lock:
            reset_at = _resets.get((self.member_id, method))
        seconds = self._until(reset_at) if reset_at is not None and reset_at > time.time() else self.default
        seconds = min(seconds, self.longest)
        log.info("b24 %s: operating time used up; not called for %.0f s", method, seconds)
        self._block(method, seconds)
        return seconds

    def _until(self, reset_at: float) -> float:
        return max(0.0, min(reset_at - time.time(), self.longest))

    def _block(self, field: str, seconds: float) -> None:
        if seconds <= 0:
            return
        try:
            self._block_script(keys=[self.key], args=[field, f"{seconds:.3f}"])
        except redis.RedisError as exc:
            log.warning("operating window unavailable, %s not blocked: %s", field, type(exc).__name__)
