"""The app under real gunicorn on a free port, as the Procfile runs it: for tests and benchmarks.

``start_gunicorn(env, redis_url=..., log_path=...)`` runs ``gunicorn --config
gunicorn.conf.py 'app:create_app()'`` (or another app spec under the same settings),
waits for ``/readyz`` and returns a ``GunicornApp``. Settings go through the
environment, so ``env`` uses the variable names of ``core/config.py``.
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

import requests

from core.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
APP_SPEC = "app:create_app()"


@dataclass
class GunicornApp:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0, *, graceful: bool = True) -> None:
        """SIGTERM lets workers finish their requests; SIGQUIT stops them at once. Whatever is
        left of the server's process group after ``timeout`` is killed.

        A worker can outlive its master: gunicorn's ``gthread`` worker may deadlock in its own
        SIGQUIT handler (it shuts its thread pool down while the interrupted thread holds the
        pool's lock, seen in a benchmark), and killing only the master left such a worker
        listening on its port for good.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM if graceful else signal.SIGQUIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the group start_gunicorn gave it
        self.process.wait()


def answers_ok(url: str, process: subprocess.Popen, timeout: float, *, verify: str | bool = True) -> bool:
    """Poll ``url`` until it answers 200 (``True``), or ``process`` exits or ``timeout`` passes.

    ``verify``: the CA bundle to check an https server's certificate with (``requests``' own)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(url, timeout=1, verify=verify).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False


def start_gunicorn(
    env: Mapping[str, str],
    *,
    redis_url: str,
    log_path: Path,
    workers: int = 4,
    timeout: float = 30.0,
    app: str = APP_SPEC,
    port: int | None = None,
) -> GunicornApp:
    """Start ``app`` under gunicorn with the Procfile's settings and wait until it answers ``/readyz``.

    With ``B24_ALLOW_HTTP`` on, ``APP_PUBLIC_URL`` defaults to the server's own plain-HTTP URL.
    With a certificate in ``GUNICORN_CMD_ARGS`` (``--certfile``) it serves HTTPS on
    ``https://localhost:<port>``, checked against ``REQUESTS_CA_BUNDLE`` from ``env``.
    """
    port = port or free_port()
    full_env = {
        **os.environ,
        "APP_ENV": "testing",
        "LOG_FORMAT": "text",
        "B24_CLIENT_ID": "local.test.app",
        "B24_CLIENT_SECRET": "test-client-secret",
        "SECRET_KEY": "gunicorn-test-secret-key-0123456789abcdef",
        **env,
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "REDIS_URL": redis_url,
    }
    if full_env.get("B24_ALLOW_HTTP") == "1":
        full_env.setdefault("APP_PUBLIC_URL", f"http://127.0.0.1:{port}")
    log_file = log_path.open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", app],
        cwd=ROOT,
        env=full_env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group of its own: ``stop`` takes every worker with it
    )
    log_file.close()
    tls = "--certfile" in full_env.get("GUNICORN_CMD_ARGS", "")
    started = GunicornApp(f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}", process, log_path)
    verify = full_env.get("REQUESTS_CA_BUNDLE") or True
    if answers_ok(f"{started.url}/readyz", process, timeout, verify=verify):
        return started
    if process.poll() is not None:
        raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{started.log()}")
    started.stop()
    raise RuntimeError(f"gunicorn did not become ready in {timeout} s:\n{started.log()}")
