"""``free_port``: listening ports for the servers the tests, benchmarks and ``make run`` start."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from core import redis_server
from core.redis_server import LISTEN_PORTS, free_port


def test_ports_come_from_below_the_range_outgoing_connections_use():
    ports = {free_port() for _ in range(20)}
    assert ports <= set(LISTEN_PORTS)
    low, _ = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert max(ports) < low  # no outgoing connection can take one before its server binds it


def test_a_port_someone_holds_is_passed_over(monkeypatch: pytest.MonkeyPatch):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        spare = free_port()
        monkeypatch.setattr(redis_server.random, "sample", lambda population, k: [taken, spare])
        assert free_port() == spare
