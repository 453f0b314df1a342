"""A per-portal leaky bucket in Redis, shared by every worker and server of the app.

Bitrix24 counts requests per portal in a leaky bucket (default plan: 50 deep, drained
at 2 per second; enterprise: 250 and 5) and answers 503 ``QUERY_LIMIT_EXCEEDED`` once
it overflows. We keep the same bucket on our side so the portal never has to refuse us.

Inside the portal's bucket every caller has a share, so no one spends it all:

- a user (``who``) may hold at most ``USER_SHARE`` of its depth and use that share of
  its drain rate: one person's burst (or someone's refused attempts) leaves the rest of
  the portal working;
- background work (``background=True``, discovery) only takes slots while the bucket is
  at most ``BACKGROUND_CEILING`` full: it yields to the people waiting on an answer.

The decision is one Lua script on one key (``fs:{<member_id>}:bucket``), so it is atomic,
works on Redis Cluster, and uses the Redis server's clock: app servers whose clocks
disagree still agree on the bucket. A caller that has to wait reserves its slots at once
(the level may rise above the depth by the reserved amount) and then sleeps, so waiters
are served in order and never stampede.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import redis

from b24.errors import OperationTimeLimit, RateLimited
from b24.operating import BLOCKED_LUA, MethodWindow, blocks_key, methods_arg
from core.keys import portal_key

log = logging.getLogger(__name__)

# Our depth is the portal's minus this margin: other apps on the same server IP share
# the portal's counter, and network jitter lets requests we spaced out arrive bunched up.
SAFETY_MARGIN = 5
#: the part of the bucket (depth and drain rate) one user may use
USER_SHARE = 0.6
#: background work waits while the bucket is fuller than this part of its depth
BACKGROUND_CEILING = 0.5

#: ``take(key, depth, rate, ceiling, slots, who, user_depth, user_rate)``: the wait in
#: microseconds before ``slots`` requests may go, reserved; or minus the wait when longer than
#: ``max_wait`` (nothing reserved). Levels are stored as formatted strings: Lua would print
#: a microsecond clock as 1.7e+15. Other scripts include this function (``services/switching``).
TAKE_LUA = """
local function take(key, depth, rate, ceiling, slots, who, user_depth, user_rate, max_wait)
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
  rate = rate / 1000000
  user_rate = user_rate / 1000000
  local state = redis.call('HMGET', key, 'level', 'ts', who)
  local level = tonumber(state[1]) or 0
  level = math.max(0, level - math.max(0, now - (tonumber(state[2]) or now)) * rate)
  local wait = math.max(0, (level + slots - ceiling) / rate)
  local user_level = 0
  if who ~= '' then
    local mine = state[3] or ''
    local sep = string.find(mine, ' ')
    if sep then
      local since = tonumber(string.sub(mine, sep + 1)) or now
      user_level = math.max(0, tonumber(string.sub(mine, 1, sep - 1)) - math.max(0, now - since) * user_rate)
    end
    wait = math.max(wait, (user_level + slots - user_depth) / user_rate)
  end
  if wait > max_wait then
    return -math.ceil(wait)
  end
  level = level + slots
  redis.call('HSET', key, 'level', string.format('%.6f', level), 'ts', string.format('%d', now))
  if who ~= '' then
    redis.call('HSET', key, who, string.format('%.6f %d', user_level + slots, now))
  end
  redis.call('PEXPIRE', key, math.ceil(math.max(level / rate, user_level / math.max(user_rate, 1e-9)) / 1000) + 1000)
  return math.ceil(wait)
end
"""

#: ``give_back(key, slots, who)``: slots ``take`` reserved that no request used leave the
#: bucket (and ``who``'s share) again, so a switch that found its flows in the state asked
#: for does not hold the portal's budget it did not spend (``services/switching`` releases).
GIVE_BACK_LUA = """
local function give_back(key, slots, who)
  if slots <= 0 then
    return
  end
  local state = redis.call('HMGET', key, 'level', who)
  local level = tonumber(state[1])
  if level then
    redis.call('HSET', key, 'level', string.format('%.6f', math.max(0, level - slots)))
  end
  local mine = state[2]
  local sep = mine and string.find(mine, ' ')
  if who ~= '' and sep then
    local left = math.max(0, tonumber(string.sub(mine, 1, sep - 1)) - slots)
    redis.call('HSET', key, who, string.format('%.6f', left) .. string.sub(mine, sep))
  end
end
"""

# KEYS[1] bucket, KEYS[2] the methods' blocks; ARGV: depth, rate, ceiling, slots, who, user
# depth, user rate, max wait (us), then blocked()'s methods and background flag.
# Returns {microseconds the methods stay blocked (nothing taken), take()'s answer}.
_ACQUIRE = (
    TAKE_LUA
    + BLOCKED_LUA
    + """
local left = blocked(KEYS[2], ARGV[9], ARGV[10])
if left > 0 then
  return {left, 0}
end
return {0, take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]),
                ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]))}
"""
)


def bucket_key(member_id: str) -> str:
    return portal_key(member_id, "bucket")


class PortalRateLimiter:
    """Takes slots in the portal's request budget before HTTP requests.

    ``who``: the user on whose behalf the requests go (their fair share applies); empty
    for a caller that may use the whole bucket. ``background``: work nobody waits for.
    ``window``: the portal's operating-time window (``b24/operating.py``), checked in the
    same script: a blocked method is refused without a request.
    """

    def __init__(
        self,
        redis_client: Any,
        member_id: str,
        burst: int = 50,
        rate: float = 2.0,
        *,
        margin: int = SAFETY_MARGIN,
        who: str = "",
        background: bool = False,
        window: MethodWindow | None = None,
    ) -> None:
        if burst < 1 or rate <= 0:
            raise ValueError("burst and rate must be positive")
        self.key = bucket_key(member_id)
        self.blocks_key = blocks_key(member_id)
        self.window = window
        self.background = background
        self.depth = max(1, burst - margin)
        self.rate = rate
        self.who = f"u:{who}" if who else ""
        self.ceiling = max(1.0, self.depth * BACKGROUND_CEILING) if background else float(self.depth)
        self._script = redis_client.register_script(_ACQUIRE)

    def args(self, slots: int, timeout: float) -> list[Any]:
        """The arguments of ``take`` after the key, for a script that includes ``TAKE_LUA``."""
        user_depth = max(2.0, self.depth * USER_SHARE)
        return [
            self.depth,
            self.rate,
            self.ceiling,
            slots,
            self.who,
            user_depth,
            self.rate * USER_SHARE,
            int(max(0.0, timeout) * 1e6),
        ]

    def window_args(self, methods: Iterable[str]) -> list[str]:
        """The arguments of ``blocked`` after the key, for a script that includes ``BLOCKED_LUA``."""
        return [methods_arg(methods), "1" if self.background else "0"]

    def acquire(self, timeout: float, slots: int = 1, methods: Iterable[str] = ()) -> float:
        """Wait until ``slots`` requests of ``methods`` may go out; the seconds waited.

        Raises ``RateLimited`` (with ``retry_after``) at once when the wait would be
        longer than ``timeout``, ``OperationTimeLimit`` (with ``retry_after``, nothing
        taken) while one of ``methods`` is blocked. If Redis is down the request goes
        unthrottled: the portal's own 503 is still handled by the client's retries.
        """
        keys = [self.key, self.blocks_key]
        try:
            left, answer = self._script(keys=keys, args=self.args(slots, timeout) + self.window_args(methods))
        except redis.RedisError as exc:
            log.warning("rate limiter unavailable, request not throttled: %s", type(exc).__name__)
            return 0.0
        self.refuse_blocked(int(left))
        return self.wait_out(int(answer))

    @staticmethod
    def refuse_blocked(left: int) -> None:
        """Act on ``blocked``'s answer: raise ``OperationTimeLimit`` while a method is blocked."""
        if left > 0:
            retry_after = left / 1e6
            raise OperationTimeLimit(
                "LOCAL_OPERATION_LIMIT",
                f"the method's operating time is used up for the next {retry_after:.0f} s",
                retry_after=retry_after,
            )

    @staticmethod
    def wait_out(answer: int) -> float:
        """Act on ``take``'s answer: sleep the reserved wait, or raise ``RateLimited``."""
        if answer < 0:
            retry_after = -answer / 1e6
            raise RateLimited(
                "LOCAL_QUERY_LIMIT",
                f"the portal's request budget is used up for the next {retry_after:.1f} s",
                retry_after=retry_after,
            )
        wait = answer / 1e6
        if wait:
            time.sleep(wait)
        return wait
