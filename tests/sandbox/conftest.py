"""Helpers for the sandbox's own tests: REST calls over real HTTP, and an HTTP receiver for events."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from sandbox.data import MEMBER
from sandbox.server import SandboxServer
from sandbox.testing import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from sandbox.tls import CertFiles

Rest = Callable[..., requests.Response]


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def rest(sandbox: SandboxServer, http: requests.Session) -> Rest:
    """``rest(method, params, user=MEMBER)``: a JSON POST with a Bearer token of that user."""
    tokens: dict[int, str] = {}

    def call(method: str, params: dict[str, Any] | None = None, *, user: int = MEMBER) -> requests.Response:
        if user not in tokens:
            tokens[user] = sandbox.issue_tokens(user)["access_token"]
        return http.post(
            sandbox.client_endpoint + method,
            json=params or {},
            headers={"Authorization": f"Bearer {tokens[user]}"},
            timeout=10,
        )

    return call


@pytest.fixture
def token_url(sandbox: SandboxServer) -> str:
    return f"{sandbox.auth_url}/oauth/token/"


@pytest.fixture
def credentials() -> dict[str, str]:
    return {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}


class Receiver:
    """A real HTTP server standing in for the app's event handler; it records every POST.

    ``on_request(form)`` runs inside each request before it is answered (e.g. to ask the
    authorization server what it says at that moment); its result is recorded as ``seen``.
    With ``tls`` (a certificate's files) it serves HTTPS on ``localhost``.
    """

    def __init__(
        self, on_request: Callable[[dict[str, str]], Any] | None = None, tls: CertFiles | None = None
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        self.on_request = on_request
        context = None if tls is None else (str(tls.cert), str(tls.key))
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, ssl_context=context)
        scheme, host = ("http", "127.0.0.1") if tls is None else ("https", "localhost")
        self.url = f"{scheme}://{host}:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        raw = request.get_data(as_text=True)  # before the form parser consumes the body
        form = request.form.to_dict()
        self.requests.append(
            {
                "path": request.path,
                "content_type": request.mimetype,
                "raw": raw,
                "form": form,
                "seen": None if self.on_request is None else self.on_request(form),
            }
        )
        return Response("OK")(environ, start_response)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    handler = Receiver()
    yield handler
    handler.stop()


@pytest.fixture
def tls_receiver(app_tls_cert: CertFiles) -> Iterator[Receiver]:
    """``receiver`` over HTTPS with the app's certificate from the test CA."""
    handler = Receiver(tls=app_tls_cert)
    yield handler
    handler.stop()
