"""The app's wall clock, in one place, so tests can move it instead of sleeping.

Everything that compares a stored time with now asks ``now()``; ``advance(seconds)`` moves
this process's clock forward (tests only; ``reset()`` puts it back). The sandbox portal has a
clock of its own (``SandboxServer.advance_clock``) for what Bitrix24 decides.
"""

from __future__ import annotations

import time

_offset = 0.0


def now() -> float:
    """Seconds since the epoch, as this process's clock has it."""
    return time.time() + _offset


def advance(seconds: float) -> None:
    global _offset
    _offset += seconds


def reset() -> None:
    global _offset
    _offset = 0.0
