"""Fixed-window counters in Redis: how often something happened lately, across every app server."""

from __future__ import annotations

from typing import Any


class FixedWindow:
    """At most ``limit`` events per ``window`` seconds for each key (one Redis round trip a check)."""

    def __init__(self, redis_client: Any, prefix: str, *, limit: int, window: int) -> None:
        self.redis = redis_client
        self.prefix = prefix
        self.limit = limit
        self.window = window

    def _key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def count(self, name: str) -> int:
        """Record one event for ``name``; how many there were in the current window, this one included."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(self._key(name))
        pipe.expire(self._key(name), self.window, nx=True)
        return int(pipe.execute()[0])

    def exceeded(self, name: str) -> bool:
        """Whether ``name`` already used up its events of the current window (counts nothing)."""
        return int(self.redis.get(self._key(name)) or 0) >= self.limit
