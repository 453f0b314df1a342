"""``core/gunicorn_server.py``: a server the tests and benchmarks start is gone, workers and all, once stopped."""

from __future__ import annotations

import contextlib
import os
import select
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.gunicorn_app import GunicornApp

pytestmark = pytest.mark.gunicorn


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_a_stop_takes_a_wedged_worker_with_it(gunicorn_app: Callable[..., GunicornApp]) -> None:
    app = gunicorn_app(workers=1)
    [worker] = children(app.process.pid)
    ended = os.pidfd_open(worker)  # readable once the worker has ended, whoever its parent is then
    try:
        # A worker that never finishes its shutdown, as one deadlocked in its SIGQUIT handler does.
        os.kill(worker, signal.SIGSTOP)
        app.stop(timeout=1, graceful=False)
        assert app.process.poll() is not None
        readable, _, _ = select.select([ended], [], [], 10)
        assert readable, "the worker outlived the stop"
    finally:
        os.close(ended)
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGKILL)
