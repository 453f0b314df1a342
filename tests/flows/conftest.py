"""The app (Flask test client) against the sandbox portal over real HTTP, with a real Redis."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from sandbox.server import SandboxServer
from sandbox.testing import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from services import discovery, event_bindings, known_flows
from services.flow_list import LIST
from services.flows import GET
from tests.install.live import eventually

SEEDED_FLOWS = range(1, 7)
_DATA = re.compile(r'<script type="application/json" id="fs-data">(.*?)</script>', re.S)


@dataclass
class Page:
    """The flows page as one user got it."""

    response: TestResponse
    data: dict[str, Any]

    @property
    def session(self) -> str:
        return self.data["session"]

    def names(self) -> set[str]:
        return {flow["name"] for flow in self.data["flows"]}

    def headers(self) -> dict[str, str]:
        return {"X-Frame-Session": self.session}


def page_data(html: str) -> dict[str, Any]:
    match = _DATA.search(html)
    assert match, "the page carries its data"
    return json.loads(match.group(1))


def open_page(client: FlaskClient, sandbox: SandboxServer, user_id: int, lang: str = "en") -> Page:
    """What the portal does when ``user_id`` opens the app: POST the frame to the app URL."""
    url, form = sandbox.frame_post(user_id, lang)
    parts = urlsplit(url)
    response = client.post(f"{parts.path}?{parts.query}", data=form)
    assert response.status_code == 200, response.get_data(as_text=True)
    return Page(response, page_data(response.get_data(as_text=True)))


@dataclass(frozen=True)
class Reads:
    """How the page reads flows on one kind of portal: the method, and its calls for the seeded flows."""

    method: str
    seeded_calls: int


@pytest.fixture(params=["list", "no list"])
def reads(request: pytest.FixtureRequest, sandbox: SandboxServer) -> Reads:
    """Both kinds of portal: a current one with ``tasks.flow.Flow.list`` (one page holds the
    seeded flows), and an older one without it (one ``get`` per known flow)."""
    listed = request.param == "list"
    sandbox.settings.flow_list_method = listed
    return Reads(LIST, 1) if listed else Reads(GET, len(SEEDED_FLOWS))


@pytest.fixture
def older_portal(sandbox: SandboxServer) -> SandboxServer:
    """A portal whose tasks module predates ``tasks.flow.Flow.list``: the app knows only the flows
    discovery found or a person added."""
    sandbox.settings.flow_list_method = False
    return sandbox


def portal_settings(app_config: dict, sandbox: SandboxServer) -> dict:
    """The app's settings for the sandbox: its authorization server, plain HTTP, its BX24 library."""
    return {
        **app_config,
        "B24_CLIENT_ID": DEFAULT_CLIENT_ID,
        "B24_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "B24_OAUTH_SERVERS": [sandbox.auth_url],
        "B24_ALLOW_HTTP": True,
        "B24_JS_SDK_URL": f"{sandbox.portal_url}/bx24.js",
        "B24_HTTP_TIMEOUT": 3.0,
    }


@pytest.fixture
def portal_app(app_config: dict, sandbox: SandboxServer, redis_db: redis.Redis) -> Flask:
    """The app with the seeded flows known, discovery fresh (so no background scan runs) and the
    event handlers checked (no admin's page open binds any: tests/install cover that)."""
    app = create_app(portal_settings(app_config, sandbox))
    with app.app_context():
        known_flows.remember(redis_db, sandbox.member_id, SEEDED_FLOWS)
        mark_discovery_fresh(redis_db, sandbox.member_id)
        redis_db.set(event_bindings.checked_key(sandbox.member_id), "1")
    return app


@pytest.fixture
def portal_client(portal_app: Flask) -> FlaskClient:
    return portal_app.test_client()


def mark_discovery_fresh(r: redis.Redis, member_id: str) -> None:
    r.hset(known_flows.meta_key(member_id), "started_at", int(time.time()))


def wait_for_discovery(r: redis.Redis, member_id: str) -> None:
    """Until the background discovery run of the portal (if any) is over."""
    eventually(lambda: not r.exists(discovery.lock_key(member_id)))
