"""A per-portal leaky bucket in Redis, shared by every worker and server of the app.

Bitrix24 counts requests per portal in a leaky bucket (default plan: 50 deep, drained
at 2 per second; enterprise: 250 and 5) and answers 503 ``QUERY_LIMIT_EXCEEDED`` once
it overflows. We keep the same bucket on our side so the portal never has to refuse us.

The whole decision is one Lua script on one key (``fs:{<member_id>}:bucket``), so it is
atomic, works on Redis Cluster, and uses the Redis server's clock: app servers whose
clocks disagree still agree on the bucket. A caller that has to wait reserves its slot
at once (the level may rise above the depth by the reserved amount) and then sleeps,
so waiters are served in order and never stampede.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis

from b24.errors import RateLimited

log = logging.getLogger(__name__)

# Our depth is the portal's minus this margin: other apps on the same server IP share
# the portal's counter, and network jitter lets requests we spaced out arrive bunched up.
SAFETY_MARGIN = 5

# KEYS[1] bucket; ARGV: depth, drain per second, longest acceptable wait (microseconds).
# Returns the wait in microseconds, or minus the wait when it is longer than acceptable.
# Numbers are stored as formatted strings: Lua would print a microsecond clock as 1.7e+15.
_ACQUIRE = """
local depth = tonumber(ARGV[1])
local rate = tonumber(ARGV[2]) / 1000000
local max_wait = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local state = redis.call('HMGET', KEYS[1], 'level', 'ts')
local level = tonumber(state[1]) or 0
local ts = tonumber(state[2]) or now
level = math.max(0, level - math.max(0, now - ts) * rate)
local wait = math.max(0, (level + 1 - depth) / rate)
if wait > max_wait then
  return -math.ceil(wait)
end
level = level + 1
redis.call('HSET', KEYS[1], 'level', string.format('%.6f', level), 'ts', string.format('%d', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(level / rate / 1000) + 1000)
return math.ceil(wait)
"""


def bucket_key(member_id: str) -> str:
    return f"fs:{{{member_id}}}:bucket"


class PortalRateLimiter:
    """Takes a slot in the portal's request budget before each HTTP request."""

    def __init__(
        self,
        redis_client: Any,
        member_id: str,
        burst: int = 50,
        rate: float = 2.0,
        *,
        margin: int = SAFETY_MARGIN,
    ) -> None:
        if burst < 1 or rate <= 0:
            raise ValueError("burst and rate must be positive")
        self.key = bucket_key(member_id)
        self.depth = max(1, burst - margin)
        self.rate = rate
        self._script = redis_client.register_script(_ACQUIRE)

    def acquire(self, timeout: float) -> float:
        """Wait until a request may go out; the seconds waited.

        Raises ``RateLimited`` (with ``retry_after``) at once when the wait would be
        longer than ``timeout``. If Redis is down the request goes unthrottled: the
        portal's own 503 is still handled by the client's retries.
        """
        try:
            answer = int(
                self._script(keys=[self.key], args=[self.depth, self.rate, int(max(0.0, timeout) * 1e6)])
            )
        except redis.RedisError as exc:
            log.warning("rate limiter unavailable, request not throttled: %s", type(exc).__name__)
            return 0.0
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
