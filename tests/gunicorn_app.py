"""Pytest plugin: run the app under real gunicorn, as the Procfile does.

``gunicorn_app(env={...}, workers=4)`` starts ``gunicorn --config gunicorn.conf.py
'app:create_app()'`` on a free port with the test Redis and the given settings,
waits for ``/readyz`` and returns a ``GunicornApp``; every server started in a test
is stopped after it. Settings go through the environment, so ``env`` uses the
variable names of ``core/config.py`` (``B24_OAUTH_SERVERS``, ``B24_ALLOW_HTTP``, ...).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from core.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class GunicornApp:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # graceful: workers finish their requests
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_gunicorn(
    env: Mapping[str, str], *, redis_url: str, log_path: Path, workers: int = 4, timeout: float = 30.0
) -> GunicornApp:
    """Start the app under gunicorn and wait until it answers ``/readyz``."""
    port = free_port()
    full_env = {
        **os.environ,
        "APP_ENV": "testing",
        "LOG_FORMAT": "text",
        "B24_CLIENT_ID": "local.test.app",
        "B24_CLIENT_SECRET": "test-client-secret",
        **env,
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "REDIS_URL": redis_url,
    }
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "app:create_app()"],
        cwd=ROOT,
        env=full_env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    log_file.close()
    started = GunicornApp(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{started.log()}")
        try:
            if requests.get(f"{started.url}/readyz", timeout=1).status_code == 200:
                return started
        except requests.RequestException:
            pass
        time.sleep(0.1)
    started.stop()
    raise RuntimeError(f"gunicorn did not become ready in {timeout} s:\n{started.log()}")


@pytest.fixture
def gunicorn_app(
    redis_server: RedisServer, redis_db: object, tmp_path: Path
) -> Iterator[Callable[..., GunicornApp]]:
    """A starter for the app under gunicorn on the test Redis (emptied first by ``redis_db``)."""
    started: list[GunicornApp] = []

    def start(env: Mapping[str, str] | None = None, *, workers: int = 4) -> GunicornApp:
        log_path = tmp_path / f"gunicorn-{len(started)}.log"
        app = start_gunicorn(env or {}, redis_url=redis_server.url, log_path=log_path, workers=workers)
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()
