"""The portal's clock: wall time plus an offset tests move forward, so tokens age without sleeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class SandboxClock:
    """Token lifetimes, flow activity, notification times and the operating-time window read this clock.

    Only ``advance`` moves it away from the wall clock; the rate-limit bucket and
    request timings stay on real time, because they measure what the machine did.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        """Unix time as the portal sees it."""
        with self._lock:
            return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += seconds
