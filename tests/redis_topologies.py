"""Pytest plugin: Redis Cluster (3 masters) and Redis Sentinel of the test run's own.

Both are built from ``RedisServer`` processes on free loopback ports, like the plain
test server, and are shared by the tests of a session.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from core.redis_server import RedisServer, find_server_binary, free_port
from tests.install.live import eventually

SLOT_RANGES = [(0, 5460), (5461, 10922), (10923, 16383)]


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is valid and free too."""
    while True:
        port = free_port()
        if port <= 55535 and _is_free(port + 10000):
            return port


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis+cluster://`` URL of three masters, each owning a third of the slots."""
    servers = []
    for index in range(3):
        directory = tmp_path_factory.mktemp(f"cluster{index}")
        args = ["--cluster-enabled", "yes", "--cluster-config-file", str(directory / "nodes.conf")]
        servers.append(RedisServer(directory, port=cluster_port(), persistent=False, extra_args=args).start())
    try:
        nodes = [redis.Redis(port=server.port) for server in servers]
        for node, (low, high) in zip(nodes, SLOT_RANGES, strict=True):
            node.execute_command("CLUSTER ADDSLOTSRANGE", low, high)
            node.execute_command("CLUSTER MEET", "127.0.0.1", servers[0].port)
        eventually(lambda: all(n.cluster("info")["cluster_state"] == "ok" for n in nodes), timeout=15.0)
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{server.port}" for server in servers)
    finally:
        for server in servers:
            server.stop()


class SentinelServer(RedisServer):
    """A Redis Sentinel watching ``master_port`` as ``service``."""

    def __init__(self, directory: Path, master_port: int, service: str) -> None:
        super().__init__(directory, persistent=False)
        self.master_port, self.service = master_port, service

    def command(self) -> list[str]:
        config = self.directory / "sentinel.conf"
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.directory}\n"
            f"sentinel monitor {self.service} 127.0.0.1 {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {self.service} 1000\n"
        )
        return [
            find_server_binary(),
            str(config),
            "--sentinel",
            "--logfile",
            str(self.directory / "server.log"),
        ]


@pytest.fixture(scope="session")
def redis_sentinel_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis+sentinel://`` URL of one sentinel watching a master of its own."""
    master = RedisServer(tmp_path_factory.mktemp("sentinel-master"), persistent=False).start()
    sentinel = SentinelServer(tmp_path_factory.mktemp("sentinel"), master.port, "flowswitch").start()
    try:
        probe = redis.Redis(port=sentinel.port, decode_responses=True)
        eventually(lambda: bool(probe.sentinel_masters().get("flowswitch")), timeout=15.0)
        yield f"redis+sentinel://127.0.0.1:{sentinel.port}/flowswitch/0"
    finally:
        sentinel.stop()
        master.stop()
