"""Drill: a gunicorn worker is killed (SIGKILL) while it holds a user's refresh lock.

The killed worker's refresh grant reached the authorization server, which answered
to a dead socket. The lock is never released; it expires, and the next request
takes it over. Lenient rotation: the old refresh token still works, so the next
worker completes the refresh. Strict rotation: the old refresh token was used up
and the new pair never stored, so nobody can refresh it any more; the app must say
"open the app again" (401, nothing overwritten), and the next frame open stores a
fresh pair the portal accepts.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from app import create_app
from core.keys import portal_key
from sandbox import data
from sandbox.server import SandboxServer
from services import frame_session
from tests.drills.conftest import (
    HTTP_TIMEOUT,
    assert_clean_error,
    gunicorn_env,
    install_at,
    open_frame,
    stored_pair,
    stored_raw,
    worker_pids,
)
from tests.install.live import eventually

pytestmark = [pytest.mark.drill, pytest.mark.gunicorn]

SECRET_KEY = "worker-kill-drill-secret-key-0123456789abcdef"
USER = data.OWNER
#: the authorization server is slow but in time: the kill lands while the grant is in flight
AUTH_LATENCY = HTTP_TIMEOUT * 0.8


def _socket_inodes(local_port: int, remote_port: int) -> set[str]:
    """Inodes of established IPv4 TCP sockets from ``local_port`` to ``remote_port`` on loopback."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if (
            state == "01"
            and int(local.split(":")[1], 16) == local_port
            and int(remote.split(":")[1], 16) == remote_port
        ):
            inodes.add(inode)
    return inodes


def worker_serving(master_pid: int, app_port: int, client_port: int) -> int | None:
    """The worker that accepted our connection from ``client_port``, if it has yet."""
    wanted = {f"socket:[{inode}]" for inode in _socket_inodes(app_port, client_port)}
    for pid in worker_pids(master_pid):
        fds = Path(f"/proc/{pid}/fd")
        try:
            if any(os.readlink(fd) in wanted for fd in fds.iterdir()):
                return pid
        except FileNotFoundError:
            continue
    return None


def request_on_own_socket(app_port: int, session: str) -> tuple[socket.socket, threading.Thread, list[bytes]]:
    """``GET /api/flows`` sent on a socket we know the port of; the answer is read in a thread."""
    sock = socket.create_connection(("127.0.0.1", app_port))
    sock.sendall(
        f"GET /api/flows?fresh=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n{frame_session.HEADER}: {session}\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    received: list[bytes] = []

    def read() -> None:
        try:
            while chunk := sock.recv(65536):
                received.append(chunk)
        except OSError:
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return sock, reader, received


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_worker_killed_while_refreshing(
    gunicorn_app: Any, sandbox: SandboxServer, redis_db: redis.Redis, app_config: dict, strict: bool
):
    server = gunicorn_app(gunicorn_env(sandbox, SECRET_KEY), workers=2)
    install_at(sandbox, server.url, redis_db)
    frame = open_frame(sandbox, USER)
    api = f"{server.url}/api/flows?fresh=1"
    app_port = int(server.url.rsplit(":", 1)[1])
    master = server.process.pid
    sandbox.settings.strict_rotation = strict
    sandbox.expire_access_tokens(USER)
    raw_before = stored_raw(redis_db, sandbox.member_id, USER)
    sandbox.settings.auth_latency = AUTH_LATENCY
    sandbox.reset_counters()
    lock = portal_key(sandbox.member_id, "lock", "refresh", USER)

    sock, reader, received = request_on_own_socket(app_port, frame.data["session"])
    eventually(lambda: redis_db.exists(lock), timeout=AUTH_LATENCY)
    victim = worker_serving(master, app_port, sock.getsockname()[1])
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    reader.join(10)
    sock.close()
    assert not b"".join(received).startswith(b"HTTP/1.1 200"), "the killed worker answered"

    sandbox.settings.auth_latency = 0.0
    eventually(lambda: sandbox.refresh_grants == 1)  # the grant reached the server; its answer is lost
    assert redis_db.exists(lock)  # the dead holder never released it
    assert stored_raw(redis_db, sandbox.member_id, USER) == raw_before
    eventually(lambda: len(worker_pids(master)) == 2 and victim not in worker_pids(master))

    answer = requests.get(api, headers=frame.headers, timeout=30)  # waits out the lock

    app = create_app({**app_config, "SECRET_KEY": SECRET_KEY})
    if strict:
        payload = assert_clean_error(answer, 401, "token_dead")
        assert "open the app again" in payload["message"].lower()
        assert stored_raw(redis_db, sandbox.member_id, USER) == raw_before  # nothing overwritten
        assert sandbox.refresh_grants == 1
        frame = open_frame(sandbox, USER)  # the portal hands the app a fresh pair
        answer = requests.get(api, headers=frame.headers, timeout=30)
    assert answer.status_code == 200, answer.text
    assert sandbox.refresh_grants == (1 if strict else 2)
    assert not redis_db.exists(lock)
    # The pair the app ends up with is one the portal accepts.
    pair = stored_pair(app, sandbox.member_id, USER)
    who = requests.post(f"{sandbox.client_endpoint}user.current", data={"auth": pair.access_token}, timeout=5)
    assert who.json()["result"]["ID"] == str(USER), who.text
