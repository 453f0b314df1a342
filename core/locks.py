"""Locks in Redis: redis-py's ``Lock`` (``SET NX PX`` with an owner token), shared by every process.

A lock frees itself after ``timeout`` seconds, so a holder that died cannot block the
others for longer; its owner token makes sure only the holder releases it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from redis.exceptions import LockError
from redis.lock import Lock


def lock(redis_client: Any, key: str, timeout: float, wait: float | None = 0.0) -> Lock:
    """A lock on ``key``; ``acquire()`` waits up to ``wait`` seconds (``None``: not at all).

    ``thread_local=False``: the token must outlive the thread that took the lock (a
    background run releases in another thread than the one that started it).
    """
    return redis_client.lock(
        key,
        timeout=timeout,
        blocking=wait is not None and wait > 0,
        blocking_timeout=wait or None,
        sleep=0.02,
        thread_local=False,
    )


def release(held: Lock) -> None:
    """Release ``held`` unless it timed out and another process owns it now (nothing to do then)."""
    with contextlib.suppress(LockError):
        held.release()
