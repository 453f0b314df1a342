"""The job worker in a process of its own, as the Procfile runs it (``python worker.py``): for tests and benchmarks.

``start_worker(env, redis_url=..., log_path=...)`` starts it in a process group of its own
with the settings in ``env`` (the variable names of ``core/config.py``) and returns once RQ
lists it as waiting for jobs (only then has it taken over SIGINT and SIGTERM: a signal before
that ends it without its shutdown). ``kill()`` takes its work horse and its scheduler with it, as a
machine that dies would; ``stop()`` asks it to finish its job first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import redis
from rq import Worker

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

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

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM: RQ's warm shutdown lets the running job finish; SIGKILL after ``timeout``."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    listing = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True)  # noqa: S607
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


def listening(connection: redis.Redis, pid: int) -> bool:
    """Whether the RQ worker of process ``pid`` is registered and has come to its job loop."""
    return any(w.pid == pid and w.get_state() in ("idle", "busy") for w in Worker.all(connection=connection))


def start_worker(
    env: Mapping[str, str], *, redis_url: str, log_path: Path, timeout: float = 20.0
) -> WorkerProcess:
    """``python worker.py`` with ``env`` over this process's environment; returns once it is listening."""
    full = {**os.environ, "LOG_FORMAT": "text", **env, "REDIS_URL": redis_url}
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "worker.py"], cwd=ROOT, env=full, stdout=out, stderr=subprocess.STDOUT, process_group=0
        )
    started = WorkerProcess(process, log_path)
    connection = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            if listening(connection, process.pid):
                return started
            time.sleep(0.05)
    finally:
        connection.close()
    started.stop()
    raise RuntimeError(f"the job worker did not start listening in {timeout} s:\n{started.log()[-3000:]}")
