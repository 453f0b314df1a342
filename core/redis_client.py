"""One Redis client (and so one connection pool) per process, built from ``REDIS_URL``.

Accepted forms:

- ``redis://[:password@]host:port/db``, ``rediss://...`` (TLS), ``unix:///path/redis.sock``
- ``redis+sentinel://[:password@]host1:port1,host2:port2/service_name[/db]``
- ``redis+cluster://[:password@]host1:port1,host2:port2``

Every key the app writes carries its portal as a ``{hash tag}``, so multi-key
operations work unchanged on Redis Cluster.
"""

from __future__ import annotations

import atexit
import fcntl
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from flask import Flask, current_app
from redis.cluster import ClusterNode, RedisCluster
from redis.commands.core import Script
from redis.sentinel import Sentinel

from core.redis_server import RedisServer, answers_ping

EXTENSION = "redis"
SCRIPTS = "redis.scripts"

_COMMON: dict[str, Any] = {
    "decode_responses": True,
    "socket_timeout": 5.0,
    "socket_connect_timeout": 2.0,
    "health_check_interval": 15,
    "retry_on_timeout": False,
}


def _hosts(netloc: str) -> list[tuple[str, int]]:
    hosts = []
    for item in netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = item.rpartition(":")
        hosts.append((host or item, int(port) if host else 6379))
    return hosts


def _password(netloc: str) -> str | None:
    if "@" not in netloc:
        return None
    userinfo = netloc.rsplit("@", 1)[0]
    return unquote(userinfo.split(":", 1)[-1]) or None


def connect(url: str, *, decode_responses: bool = True) -> redis.Redis | RedisCluster:
    """A client for ``url`` in any of the module's documented forms.

    ``decode_responses=False`` is for RQ, which stores pickled bytes.
    """
    common = {**_COMMON, "decode_responses": decode_responses}
    parts = urlsplit(url)
    if parts.scheme == "redis+sentinel":
        path = [p for p in parts.path.split("/") if p]
        if not path:
            raise ValueError(
                "redis+sentinel:// URL needs a service name: redis+sentinel://h:26379/mymaster/0"
            )
        service, db = path[0], int(path[1]) if len(path) > 1 else 0
        password = _password(parts.netloc)
        sentinel = Sentinel(
            _hosts(parts.netloc),
            sentinel_kwargs={"password": password, "socket_timeout": 2.0},
            password=password,
            db=db,
            **common,
        )
        return sentinel.master_for(service)
    if parts.scheme == "redis+cluster":
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in _hosts(parts.netloc)],
            password=_password(parts.netloc),
            decode_responses=decode_responses,
            socket_timeout=5.0,
            socket_connect_timeout=2.0,
        )
    return redis.Redis.from_url(url, **common)


def init_app(app: Flask) -> None:
    """Connect to ``REDIS_URL``, or start the embedded server when it is empty."""
    if not app.config["REDIS_URL"]:
        app.config["REDIS_URL"] = os.environ.get("REDIS_URL") or start_embedded(app.instance_path)
    app.extensions[EXTENSION] = connect(app.config["REDIS_URL"])


def get_redis() -> redis.Redis | RedisCluster:
    """The app's Redis client, one connection pool per process (flaskr's ``get_db``)."""
    return current_app.extensions[EXTENSION]


def script(text: str) -> Script:
    """The Lua script ``text``, registered once per app: calls send its SHA1 (``EVALSHA``), not the
    text, and Redis does not hash the text again on every call. Call it with ``client=`` to run
    it on another client or a pipeline."""
    scripts = current_app.extensions.setdefault(SCRIPTS, {})
    found = scripts.get(text)
    if found is None:
        found = scripts[text] = get_redis().register_script(text)
    return found


def start_embedded(instance_dir: str | os.PathLike[str]) -> str:
    """The private server of this instance directory, started unless another process runs it.

    The URL is exported as ``REDIS_URL`` so gunicorn workers forked afterwards share the
    one server, and written to ``<instance>/redis/url`` so the job worker (a separate
    process, ``python worker.py``) finds it. The server stops with the process that started it.
    """
    directory = Path(instance_dir) / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    url_file = directory / "url"
    # One server per directory: two would write the same append-only file.
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        running = url_file.read_text().strip() if url_file.exists() else ""
        if running and answers_ping(urlsplit(running).port or 6379):
            url = running
        else:
            server = RedisServer(directory, persistent=True).start()
            atexit.register(server.stop)
            url_file.write_text(server.url)
            url = server.url
    os.environ["REDIS_URL"] = url
    return url
