"""Bitrix24's two REST limits: the request-rate leaky bucket and the per-method operating time window.

Not locked on their own: ``World`` holds the one lock and calls in here while holding it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from sandbox.clock import SandboxClock
from sandbox.settings import SandboxSettings

# LoadLimiter (rest/lib/engine/access/loadlimiter.php): 10 buckets of 60 s; a hit whose
# execution time is at most 0.1 s is not recorded.
BUCKET_SECONDS = 60
BUCKET_COUNT = 10
WINDOW_SECONDS = BUCKET_SECONDS * BUCKET_COUNT
MINIMAL_FIX_TIME = 0.1


class LeakyBucket:
    """Per portal: +1 per REST HTTP request, drains ``rate`` per second, refuses once above ``burst``."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.level = 0.0
        self.since = time.monotonic()

    def admit(self) -> bool:
        limit = self.settings.rate_limit
        if limit is None:
            return True
        burst, rate = limit
        now = time.monotonic()
        self.level = max(0.0, self.level - (now - self.since) * rate)
        self.since = now
        admitted = self.level + 1 <= burst
        if admitted or self.settings.refused_requests_count:
            self.level += 1
        return admitted


@dataclass
class Bucket:
    first: float  # when the first recorded call of this minute started
    seconds: float = 0.0


class OperatingWindow:
    """Accumulated execution time per (app, method): 10 one-minute buckets, each counted for
    10 minutes from its first call (limits.md, RU edition); a method over the limit is refused."""

    def __init__(self, settings: SandboxSettings, clock: SandboxClock) -> None:
        self.settings = settings
        self.clock = clock  # the portal's clock: tests move the window with advance_clock()
        self._buckets: dict[tuple[str, str], dict[int, Bucket]] = defaultdict(dict)

    def now(self) -> float:
        return self.clock.time()

    def _live(self, app: str, method: str) -> list[Bucket]:
        now = self.now()
        buckets = self._buckets[(app, method)]
        for minute in [m for m, b in buckets.items() if b.first + WINDOW_SECONDS <= now]:
            del buckets[minute]
        return list(buckets.values())

    def operating(self, app: str, method: str) -> float:
        return sum(b.seconds for b in self._live(app, method))

    def blocked(self, app: str, method: str) -> bool:
        """Checked before each call: over the limit already (the call that crossed it finished)."""
        return self.operating(app, method) > self.settings.operating_limit

    def record(self, app: str, method: str, started: float, seconds: float) -> None:
        if seconds <= MINIMAL_FIX_TIME:
            return
        minute = int(started // BUCKET_SECONDS)
        bucket = self._buckets[(app, method)].setdefault(minute, Bucket(started))
        bucket.seconds += seconds

    def reset_at(self, app: str, method: str, started: float) -> int:
        """``operating_reset_at``: when the oldest bucket leaves the sum (else this call's start + 10 min)."""
        firsts = [b.first for b in self._live(app, method) if b.seconds > 0]
        return int(min(firsts, default=started) + WINDOW_SECONDS)
