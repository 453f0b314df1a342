"""Pytest plugin: Redis Cluster (3 masters) and Redis Sentinel of the test run's own.

Both are built from ``RedisServer`` processes on free loopback ports, like the plain
test server, and are shared by the tests of a session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from core.redis_cluster import LocalCluster
from core.redis_server import RedisServer, find_server_binary
from tests.install.live import eventually


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis+cluster://`` URL of three masters, each owning a third of the slots."""
    with LocalCluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster.url


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
