"""Pytest plugin: the app served over real HTTP next to the sandbox portal, and an attacker's host.

``live_app`` runs ``create_app`` in a threaded WSGI server on a free port, configured
for the sandbox (its authorization server is the only allowed one) and registered
with it as the app (app URL, installer, redirect URI). ``installed_portal`` runs the
installer as the admin and ``installFinish``, the way the portal would.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from werkzeug.serving import make_server

import oauth
from app import create_app
from core.config import from_environ
from oauth.store import STATUS_ACTIVE, Portal
from sandbox import data
from sandbox.testing import DEFAULT_APP_URL, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from services import discovery, uninstall

CLIENT_ID = "local.test.app"
CLIENT_SECRET = "test-client-secret"


@dataclass
class LiveApp:
    url: str
    app: Flask


def app_env(sandbox: Any) -> dict[str, str]:
    """The app's settings for the sandbox, as environment variables (e.g. for gunicorn)."""
    return {
        "B24_CLIENT_ID": CLIENT_ID,
        "B24_CLIENT_SECRET": CLIENT_SECRET,
        "B24_OAUTH_SERVERS": sandbox.auth_url,
        "B24_ALLOW_HTTP": "1",
        "B24_JS_SDK_URL": f"{sandbox.portal_url}/bx24.js",
        "B24_HTTP_TIMEOUT": "3",
        # These tests are about tokens, not the rate limit (b24's tests cover that).
        "B24_RATE_LIMIT": "10000/1000",
    }


@pytest.fixture
def sandbox_config(app_config: dict, sandbox: Any) -> dict:
    """``app_env`` parsed, for ``create_app`` in this process."""
    return {**app_config, **from_environ(app_env(sandbox))}


def register_at(sandbox: Any, app_url: str) -> None:
    """Add the app served at ``app_url`` to the portal; its installer has yet to run."""
    sandbox.settings.rate_limit = None
    sandbox.register_app(
        CLIENT_ID,
        CLIENT_SECRET,
        app_url=f"{app_url}/",
        installer_url=f"{app_url}/install",
        redirect_uri=f"{app_url}/oauth/callback",
    )


@contextmanager
def serve(app: Flask, sandbox: Any) -> Iterator[LiveApp]:
    """``app`` in a threaded WSGI server on a free port, registered with the sandbox portal."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # ``localhost``: another site than the portal's 127.0.0.1, so the frame is cross-site.
    url = f"http://localhost:{server.server_port}"
    register_at(sandbox, url)
    try:
        yield LiveApp(url, app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def live_app(sandbox_config: dict, sandbox: Any) -> Iterator[LiveApp]:
    with serve(create_app(sandbox_config), sandbox) as live:
        yield live


def run_installer(sandbox: Any, user_id: int = data.ADMIN) -> requests.Response:
    """What the portal does when the admin opens the app for the first time."""
    sandbox.install()
    url, form = sandbox.frame_post(user_id)
    return requests.post(url, data=form, timeout=10)


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def install_app(sandbox: Any, r: redis.Redis) -> None:
    """Run the installer as the admin, then ``installFinish``; wait out the discovery it starts."""
    assert run_installer(sandbox).status_code == 200
    deliveries = sandbox.finish_install()
    assert [d.status for d in deliveries] == [200], deliveries
    eventually(lambda: not r.exists(discovery.lock_key(sandbox.member_id)))


@pytest.fixture
def installed_portal(live_app: LiveApp, sandbox: Any, redis_db: redis.Redis) -> Any:
    """A portal with the app installed and a quiet Redis (no discovery running)."""
    install_app(sandbox, redis_db)
    return sandbox


def spend_refresh_token(sandbox: Any, refresh_token: str) -> None:
    """Someone else uses ``refresh_token`` (strict rotation: it and its access token die)."""
    requests.post(
        f"{sandbox.auth_url}/oauth/token/",
        data={
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": refresh_token,
        },
        timeout=10,
    ).raise_for_status()


def left_behind(r: redis.Redis, member_id: str) -> list[str]:
    """The portal's keys but its uninstall tombstone (the one key an uninstall leaves, for a while)."""
    tombstone = uninstall.tombstone_key(member_id)
    return sorted(key for key in r.scan_iter(f"fs:{{{member_id}}}:*") if key != tombstone)


def redis_dump(r: redis.Redis, match: str = "*") -> dict[str, Any]:
    """Every key and value (strings, hashes, sets, sorted sets, lists), for before/after comparisons.

    Read as bytes: background jobs (RQ) keep pickled values beside the app's text.
    """
    kwargs = r.connection_pool.connection_kwargs
    raw = redis.Redis(host=kwargs["host"], port=kwargs["port"], db=kwargs.get("db", 0))
    dump: dict[str, Any] = {}
    for key in raw.scan_iter(match):
        kind = raw.type(key).decode()
        if kind == "string":
            value: Any = raw.get(key)
        elif kind == "hash":
            value = raw.hgetall(key)
        elif kind == "set":
            value = sorted(raw.smembers(key))
        elif kind == "zset":
            value = raw.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            value = raw.lrange(key, 0, -1)
        else:
            value = kind
        dump[key.decode()] = value
    raw.close()
    return dump


#: what a refused request may still write: caches of the authorization server's answers, the portal's
#: rate-limit bucket (every call to the portal counts, a refused request's too) and the
#: per-address counters of failed verifications (they bound how often anyone makes the app ask it)
GUARD_KEYS = re.compile(r":(verified|refused):|:bucket$|^fs:refusals:")


def app_state(r: redis.Redis) -> dict[str, Any]:
    """``redis_dump`` without the guard keys a refused request legitimately writes."""
    return {key: value for key, value in redis_dump(r).items() if not GUARD_KEYS.search(key)}


@dataclass
class Attacker:
    """A host standing in for an attacker's server: it records every request it receives."""

    url: str
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            received.append(f"{self.command} {self.path}")
            body = b'{"result": {}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _record

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Attacker(f"http://127.0.0.1:{server.server_port}", received)
    server.shutdown()
    server.server_close()


def record_active_portal(sandbox: Any, **fields: Any) -> Portal:
    """Write the app's record of the sandbox portal as an install would leave it (needs an app context)."""
    portal = Portal(
        member_id=sandbox.member_id,
        domain=sandbox.domain,
        client_endpoint=sandbox.client_endpoint,
        server=sandbox.auth_url,
        status=STATUS_ACTIVE,
        installer_user_id=data.ADMIN,
        **fields,
    )
    oauth.store().update_portal(sandbox.member_id, lambda _: portal)
    return portal


def install_with_scope(sandbox: Any, app: Flask, scope: str) -> Any:
    """The sandbox's default app installed anew with ``scope`` (the admin as the portal-level holder),
    and the app's record of the portal to match (``app``'s Redis)."""
    sandbox.register_app(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        app_url=DEFAULT_APP_URL,
        installer_url=f"{DEFAULT_APP_URL}install",
        redirect_uri=f"{DEFAULT_APP_URL}oauth/callback",
        scope=scope,
        installed=True,
    )
    with app.app_context():
        record_active_portal(sandbox, scope=scope)
    return sandbox
