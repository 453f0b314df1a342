"""Transport edge cases over real HTTP: a tiny local server with canned answers.

Only what a faithful portal cannot be asked to do on purpose lives here (hanging,
answering HTML, redirecting, refusing connections); Bitrix24 behaviour is tested
against the sandbox portal.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from b24.client import BATCH_LIMIT, RestClient, chunked, validate_endpoint
from b24.errors import PortalMoved, PortalUnreachable, ServerError
from b24.http import USER_AGENT, get_session
from core.redis_server import free_port

TOKEN = "secret-access-token-123"


class StaticTokens:
    """A ``TokenSource`` whose token never expires."""

    def access_token(self) -> str:
        return TOKEN

    def refresh(self, stale_access_token: str) -> str:
        raise AssertionError("no refresh expected")


class CannedPortal:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.seen: list[dict] = []

    def __call__(self, environ, start_response):
        request = Request(environ)
        method = request.path.removeprefix("/rest/")
        self.hits[method] += 1
        self.seen.append(
            {"method": method, "headers": dict(request.headers), "body": request.get_data(as_text=True)}
        )
        if method == "slow.call":
            time.sleep(0.5)
            response = Response(json.dumps({"result": True}), mimetype="application/json")
        elif method == "html.page":
            response = Response("<html>Bad gateway</html>", status=502, mimetype="text/html")
        elif method == "json.list":
            response = Response("[1, 2]", mimetype="application/json")
        elif method == "moved.call":
            response = Response(
                "", status=302, headers={"Location": "https://new-name.example/rest/moved.call"}
            )
        else:
            response = Response(
                json.dumps({"result": {"method": method}, "time": {}}), mimetype="application/json"
            )
        return response(environ, start_response)


@pytest.fixture
def canned() -> Iterator[tuple[CannedPortal, str]]:
    portal = CannedPortal()
    server = make_server("127.0.0.1", 0, portal, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield portal, f"http://127.0.0.1:{server.server_port}/rest/"
    server.shutdown()
    thread.join()


def client_for(endpoint: str, **kwargs) -> RestClient:
    return RestClient(endpoint, StaticTokens(), timeout=kwargs.pop("timeout", 2.0), backoff=0.01, **kwargs)


def test_request_shape(canned):
    portal, endpoint = canned
    assert client_for(endpoint).call("tasks.flow.Flow.get", {"flowId": 5}).result == {
        "method": "tasks.flow.Flow.get"
    }
    seen = portal.seen[-1]
    assert seen["method"] == "tasks.flow.Flow.get"  # exact spelling, not lowercased
    assert seen["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert seen["headers"]["User-Agent"] == USER_AGENT
    assert seen["headers"]["Content-Type"] == "application/json"
    assert json.loads(seen["body"]) == {"flowId": 5}


def test_timeout_of_a_toggle_is_never_repeated(canned):
    portal, endpoint = canned
    with pytest.raises(PortalUnreachable) as caught:
        client_for(endpoint, timeout=0.2).call("slow.call", idempotent=False)
    assert caught.value.code == "TIMEOUT"
    assert caught.value.request_sent
    assert portal.hits["slow.call"] == 1


def test_timeout_of_a_read_is_retried(canned):
    portal, endpoint = canned
    with pytest.raises(PortalUnreachable):
        client_for(endpoint, timeout=0.2, max_retries=2).call("slow.call")
    assert portal.hits["slow.call"] == 3


def test_bodies_that_are_not_json_objects(canned):
    portal, endpoint = canned
    with pytest.raises(ServerError) as caught:
        client_for(endpoint).call("html.page")
    assert caught.value.status == 502
    with pytest.raises(ServerError):
        client_for(endpoint).call("json.list")
    assert portal.hits["html.page"] == 1


def test_redirect_is_reported_not_followed(canned):
    portal, endpoint = canned
    with pytest.raises(PortalMoved) as caught:
        client_for(endpoint).call("moved.call", {"x": 1})
    assert caught.value.new_location == "https://new-name.example/rest/moved.call"
    assert caught.value.status == 302
    assert portal.hits["moved.call"] == 1


def test_refused_connection_is_retried_even_for_a_toggle(caplog):
    # Nothing was sent, so the method surely did not run.
    caplog.set_level(logging.INFO, logger="b24.client")
    with pytest.raises(PortalUnreachable) as caught:
        client_for(f"http://127.0.0.1:{free_port()}/rest/", max_retries=2).call("x.y", idempotent=False)
    assert caught.value.code == "CONNECTION_FAILED"
    assert not caught.value.request_sent
    assert sum("attempt" in r.getMessage() for r in caplog.records) == 2


def test_logs_name_the_method_but_never_the_token_or_params(canned, caplog):
    _, endpoint = canned
    caplog.set_level(logging.DEBUG, logger="b24")
    client_for(endpoint).call("user.current", {"auth": "param-secret"})
    with pytest.raises(PortalUnreachable):
        client_for(endpoint, timeout=0.2, max_retries=1).call("slow.call", {"refresh_token": "param-secret"})
    assert "user.current" in caplog.text
    assert "slow.call" in caplog.text
    assert TOKEN not in caplog.text
    assert "param-secret" not in caplog.text


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://portal.example/rest",
        "https://portal.example/",
        "ftp://portal.example/rest/",
        "https:///rest/",
        "https://user:pw@portal.example/rest/",
        "https://portal.example/rest/?a=1",
        "javascript:alert(1)//rest/",
    ],
)
def test_endpoint_must_be_a_rest_url(endpoint):
    with pytest.raises(ValueError):
        validate_endpoint(endpoint)


def test_accepted_endpoints():
    for endpoint in ("https://portal.bitrix24.com/rest/", "http://127.0.0.1:8080/rest/"):
        assert validate_endpoint(endpoint) == endpoint


@pytest.mark.parametrize("method", ["", "../admin", "user.current?x=1", "a b", "user.current/"])
def test_method_names_are_checked(canned, method):
    portal, endpoint = canned
    with pytest.raises(ValueError):
        client_for(endpoint).call(method)
    with pytest.raises(ValueError):
        client_for(endpoint).batch({"k": (method, {})})
    assert not portal.hits


def test_batch_size_is_limited_and_chunked_helps(canned):
    portal, endpoint = canned
    commands = {f"k{i}": ("user.get", {"ID": i}) for i in range(BATCH_LIMIT + 1)}
    with pytest.raises(ValueError):
        client_for(endpoint).batch(commands)
    assert not portal.hits
    parts = list(chunked(commands.items()))
    assert [len(part) for part in parts] == [50, 1]
    assert dict(parts[0] + parts[1]) == commands


def test_one_session_per_process():
    session = get_session()
    assert get_session() is session
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: a fresh session, never the parent's pooled sockets
        fresh = get_session()
        os.write(write, b"1" if fresh is not session and get_session() is fresh else b"0")
        os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    os.close(read)


class KeepAliveHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive (werkzeug's dev server always closes), counting connections."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    connections = 0

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"result": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_connections_are_reused():
    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAliveHandler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        client = RestClient(f"http://127.0.0.1:{server.server_port}/rest/", StaticTokens())
        for _ in range(100):
            assert client.call("user.current").result is True
        assert KeepAliveHandler.connections == 1
    finally:
        server.shutdown()
        server.server_close()
