"""A Redis lock with a timeout and an owner token (``SET NX PX`` + compare-and-delete)."""

from __future__ import annotations

import secrets

import redis

# Delete the key only if we still own it: after a timeout another worker may hold it.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLock:
    """One holder at a time for ``key``; the lock frees itself after ``timeout_ms``."""

    def __init__(self, redis_client: redis.Redis, key: str, timeout_ms: int) -> None:
        self.redis = redis_client
        self.key = key
        self.timeout_ms = timeout_ms

    def acquire(self) -> str | None:
        """The owner token if we got the lock, else ``None`` (never blocks)."""
        owner = secrets.token_hex(16)
        return owner if self.redis.set(self.key, owner, nx=True, px=self.timeout_ms) else None

    def release(self, owner: str) -> bool:
        return bool(self.redis.eval(_RELEASE, 1, self.key, owner))
