"""A werkzeug request handler that keeps HTTP/1.1 connections open between requests.

werkzeug's development server answers every request with ``Connection: close`` and, after the
response, reads whatever the client sends next (its way of discarding unread bodies). Real
portals keep connections alive, and the app's connection reuse is measured against this
server, so the handler replaces ``run_wsgi``: the response is buffered and sent with a
``Content-Length``, the request body is read to its end, and the connection stays open unless
the client asked to close it.

A kept-alive connection that stays idle until ``timeout`` is closed quietly: that is the
normal end of keep-alive (the client's pool still holds the socket), not an error, so it
must not print werkzeug's "Request timed out" line. A request cut off half-way still does.
"""

from __future__ import annotations

import socket
import traceback
from typing import Any

from werkzeug.serving import WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout: float | None = 60  # an idle kept-alive connection is closed after this many seconds

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; without this, Nagle plus the client's delayed
        # ACK holds the body back about 40 ms on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self) -> None:
        try:
            # Wait for the first byte of the next request; what is already buffered returns at once.
            arrived = self.rfile.peek(1)
        except TimeoutError:
            arrived = b""
        if not arrived:  # idle until the timeout, or closed by the client
            self.close_connection = True
            return
        super().handle_one_request()

    def run_wsgi(self) -> None:
        environ = self.environ = self.make_environ()
        if not environ.get("wsgi.input_terminated"):  # not chunked: bound the body by its length
            environ["wsgi.input"] = LimitedStream(
                environ["wsgi.input"], int(environ.get("CONTENT_LENGTH") or 0)
            )
            environ["wsgi.input_terminated"] = True
        answer: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status, headers]
            return lambda data: None  # the legacy write() callable; nothing here uses it

        try:
            iterable = self.server.app(environ, start_response)
            try:
                body = b"".join(iterable)
            finally:
                if hasattr(iterable, "close"):
                    iterable.close()
        except Exception:  # the app crashed: answer 500 and drop the connection, like werkzeug
            self.log_error("Error on request:\n%s", traceback.format_exc())
            answer, body = (
                ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]],
                b"Internal Server Error",
            )
            self.close_connection = True
        self._drain(environ["wsgi.input"])
        status, headers = answer
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    @staticmethod
    def _drain(stream: Any) -> None:
        """Whatever the app did not read must go, or it would be parsed as the next request."""
        while stream.read(65536):
            pass
