"""The HTTP servers: kept-alive connections (counted), clean stop, separate worlds per instance."""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlsplit

import requests

from sandbox.data import MEMBER
from sandbox.server import SandboxServer


def test_connections_are_kept_alive_and_counted(sandbox):
    token = sandbox.issue_tokens(MEMBER)["access_token"]
    sandbox.reset_counters()
    with requests.Session() as http:
        for _ in range(30):
            assert (
                http.post(sandbox.client_endpoint + "user.current", json={"auth": token}).status_code == 200
            )
            # a body the endpoint never reads must not leak into the next request
            assert http.options(sandbox.client_endpoint + "user.current", data="x" * 3000).status_code == 200
    assert sandbox.rest_requests == 30 and sandbox.connections_opened == 1
    for _ in range(3):
        requests.get(
            sandbox.client_endpoint + "user.current", params={"auth": token}, headers={"Connection": "close"}
        )
    assert sandbox.connections_opened == 4


def test_stop_closes_idle_kept_alive_connections():
    server = SandboxServer().start()
    with requests.Session() as http:
        assert http.get(f"{server.portal_url}/bx24.js").status_code == 200
        server.stop()
        try:
            http.get(f"{server.portal_url}/bx24.js", timeout=2)
            answered = True
        except requests.ConnectionError:
            answered = False
    assert not answered


def test_two_sandboxes_do_not_share_state():
    with SandboxServer() as first, SandboxServer() as second:
        first.add_flow("Only here")
        assert len(first.world.flows) == len(second.world.flows) + 1
        assert first.member_id != second.member_id and first.portal_url != second.portal_url


def read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the signal waited for)."""
    connection.settimeout(5)
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_an_idle_kept_alive_connection_closes_quietly_a_cut_off_request_does_not(sandbox, caplog):
    sandbox.settings.keepalive_timeout = 0.3
    address = urlsplit(sandbox.portal_url)
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        with socket.create_connection((address.hostname, address.port)) as idle:
            idle.sendall(b"GET /favicon.ico HTTP/1.1\r\nHost: portal\r\n\r\n")
            answer = read_until_closed(idle)  # answered, then kept alive until the idle timeout
        assert answer.startswith(b"HTTP/1.1 204") and b"Connection: close" not in answer
        assert "timed out" not in caplog.text
        with socket.create_connection((address.hostname, address.port)) as cut:
            cut.sendall(b"GET /favicon.ico HTTP/1.1\r\nHost: por")  # and nothing more
            assert read_until_closed(cut) == b""
    assert "Request timed out" in caplog.text
