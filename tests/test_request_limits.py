"""Request bodies are bounded: an oversized one is answered 413 before it is read."""

from __future__ import annotations

import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from core.gunicorn_server import GunicornApp

pytestmark = pytest.mark.gunicorn


def announce_body(url: str, path: str, length: int, content_type: str) -> bytes:
    """Send only the headers of a request claiming a ``length``-byte body; the answer's bytes."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\nAccept: application/json\r\n\r\n".encode()
        )
        # Had the app started reading the body, this would wait for it until the timeout.
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer


def _length(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/events", "application/x-www-form-urlencoded"),
        ("/api/flows", "application/json"),
        ("/", "text/plain"),
    ],
)
def test_an_oversized_body_is_refused_before_it_is_read(
    gunicorn_app: Callable[..., GunicornApp], path: str, content_type: str
):
    server = gunicorn_app(workers=1)
    answer = announce_body(server.url, path, 200 * 1024 * 1024, content_type)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:200]
    if path != "/":
        assert b'"error"' in body


def test_a_small_event_still_reaches_the_app(client):
    answer = client.post("/events", data={"event": "ONSOMETHINGELSE"})
    assert answer.status_code == 200 and answer.get_json() == {"result": "ignored"}
    too_big = client.post("/events", data={"event": "x" * (64 * 1024)})
    assert too_big.status_code == 413
