"""A Redis Cluster of three masters on loopback, built from ``RedisServer`` processes: for tests and benchmarks.

``LocalCluster(directory).start()`` starts the masters on free ports (each with a free
cluster bus port, +10000), gives each a third of the 16,384 slots, introduces them to each
other and waits until the cluster says ``ok``; ``url`` is the ``redis+cluster://`` URL the
app takes as ``REDIS_URL``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import redis

from core.redis_server import RedisServer, RedisServerError, free_port, is_free

SLOT_RANGES = [(0, 5460), (5461, 10922), (10923, 16383)]
BUS_OFFSET = 10000  # Redis Cluster's bus port is the client port + 10000


def cluster_port() -> int:
    """A free port whose cluster bus port is valid and free too."""
    while True:
        port = free_port()
        if port + BUS_OFFSET <= 65535 and is_free(port + BUS_OFFSET):
            return port


class LocalCluster:
    """Three masters, each owning a third of the slots, data under ``directory/node<i>``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.servers: list[RedisServer] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{server.port}" for server in self.servers)

    def start(self, timeout: float = 15.0) -> LocalCluster:
        try:
            for index, _ in enumerate(SLOT_RANGES):
                node = self.directory / f"node{index}"
                args = ["--cluster-enabled", "yes", "--cluster-config-file", str(node / "nodes.conf")]
                self.servers.append(
                    RedisServer(node, port=cluster_port(), persistent=False, extra_args=args).start()
                )
            nodes = [redis.Redis(port=server.port) for server in self.servers]
            for node, (low, high) in zip(nodes, SLOT_RANGES, strict=True):
                node.execute_command("CLUSTER ADDSLOTSRANGE", low, high)
                node.execute_command("CLUSTER MEET", "127.0.0.1", self.servers[0].port)
            deadline = time.monotonic() + timeout
            while not all(node.cluster("info")["cluster_state"] == "ok" for node in nodes):
                if time.monotonic() > deadline:
                    raise RedisServerError(
                        f"the cluster in {self.directory} did not become ready in {timeout} s"
                    )
                time.sleep(0.02)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers = []

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
