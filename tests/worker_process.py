"""Pytest plugin: ``job_worker(env)`` starts ``python worker.py`` (``core/worker_process.py``) on the
test Redis (``redis_url=`` for another) with the test's settings; each is stopped after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from core.redis_server import RedisServer
from core.worker_process import WorkerProcess, start_worker
from tests.conftest import TEST_SECRET_KEY

__all__ = ["WorkerProcess", "job_worker"]


@pytest.fixture
def job_worker(redis_server: RedisServer, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(env: Mapping[str, str] | None = None, *, redis_url: str | None = None) -> WorkerProcess:
        settings = {
            "APP_ENV": "testing",
            "SECRET_KEY": TEST_SECRET_KEY,
            "INSTANCE_DIR": str(tmp_path / "instance"),
            **(env or {}),
        }
        log_path = tmp_path / f"worker-{len(started)}.log"
        worker = start_worker(settings, redis_url=redis_url or redis_server.url, log_path=log_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
