"""Pytest plugin: the job worker as the Procfile runs it (``python worker.py``), in a process of its own.

``job_worker(env)`` starts one on the test Redis with the given settings (environment
variable names of ``core/config.py``) in a process group of its own; ``kill()`` takes its
work horse and its scheduler with it, as a machine that dies would. It returns once RQ lists
it among the workers; every worker started in a test is stopped after it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from rq import Worker

from core.redis_server import RedisServer
from tests.conftest import TEST_SECRET_KEY
from tests.install.live import eventually

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path

    def wait_ready(self, redis_url: str, timeout: float = 20.0) -> WorkerProcess:
        """Until RQ lists this process among its workers (it is connected and listening)."""
        connection = redis.Redis.from_url(redis_url)
        try:
            eventually(
                lambda: any(w.pid == self.process.pid for w in Worker.all(connection=connection))
                or self.process.poll() is not None,
                timeout=timeout,
            )
        finally:
            connection.close()
        assert self.process.poll() is None, self.log()[-3000:]
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker, the job it runs and its scheduler at once: nothing gets to clean up.

        RQ's work horse puts itself in a process group of its own, so the whole tree is found first.
        """
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    listing = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True)
    children: dict[int, list[int]] = {}
    for line in listing.stdout.splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def start_worker(env: Mapping[str, str], *, redis_url: str, log_path: Path) -> WorkerProcess:
    """``python worker.py`` with ``env`` on top of this process's environment and the test's defaults."""
    full = {
        **os.environ,
        "APP_ENV": "testing",
        "SECRET_KEY": TEST_SECRET_KEY,
        "REDIS_URL": redis_url,
        "INSTANCE_DIR": str(log_path.parent / "instance"),
        "LOG_FORMAT": "text",
        **env,
    }
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "worker.py"], cwd=ROOT, env=full, stdout=out, stderr=subprocess.STDOUT, process_group=0
        )
    return WorkerProcess(process, log_path)


@pytest.fixture
def job_worker(redis_server: RedisServer, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """A starter of job workers on the test Redis (``redis_url=`` for another one)."""
    started: list[WorkerProcess] = []

    def start(env: Mapping[str, str] | None = None, *, redis_url: str | None = None) -> WorkerProcess:
        url = redis_url or redis_server.url
        worker = start_worker(env or {}, redis_url=url, log_path=tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker.wait_ready(url)

    yield start
    for worker in started:
        worker.stop()
