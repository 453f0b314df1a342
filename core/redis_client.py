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
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

from core.redis_server import RedisServer

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


def connect(url: str) -> redis.Redis | RedisCluster:
    """A client for ``url`` in any of the module's documented forms."""
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
            **_COMMON,
        )
        return sentinel.master_for(service)
    if parts.scheme == "redis+cluster":
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in _hosts(parts.netloc)],
            password=_password(parts.netloc),
            decode_responses=True,
            socket_timeout=5.0,
            socket_connect_timeout=2.0,
        )
    return redis.Redis.from_url(url, **_COMMON)


def start_embedded(instance_dir: str | os.PathLike[str]) -> str:
    """Start the private server for this process tree and return its URL.

    The URL is exported as ``REDIS_URL`` so gunicorn workers forked afterwards share
    the one server; it stops with the process that started it.
    """
    server = RedisServer(Path(instance_dir) / "redis", persistent=True).start()
    atexit.register(server.stop)
    os.environ["REDIS_URL"] = server.url
    return server.url
