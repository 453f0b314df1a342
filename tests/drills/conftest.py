"""Fault drills: the app against the sandbox portal while a real part of its world breaks.

``drill_app`` is the app (Flask test client speed) configured for the sandbox with the
seeded flows known; the gunicorn drills install the app through the portal instead.
Helpers read the stored token pair exactly as it sits in Redis, and decrypted.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import requests
from flask import Flask

import oauth
from app import create_app
from oauth.store import UserToken, portal_key
from sandbox.server import SandboxServer
from services import frame_session, known_flows
from tests.flows.conftest import (
    SEEDED_FLOWS,
    mark_discovery_fresh,
    older_portal,  # noqa: F401 (a fixture: a portal without the flow list, reads by get)
    page_data,
    portal_settings,
    reads,  # noqa: F401 (a fixture: the read drills run on both kinds of portal)
)
from tests.install.live import app_env, install_app, register_at

#: the app's HTTP timeout in the drills: short, so outages cost little time
HTTP_TIMEOUT = 1.0
#: the app's own rate limit out of the way (the sandbox's is switched off too)
NO_RATE_LIMIT = "10000/1000"
#: the drills read the portal on purpose (``?fresh=1``), again and again
FRESH_READS = "10000"


@pytest.fixture
def drill_config(app_config: dict, sandbox: SandboxServer) -> dict:
    sandbox.settings.rate_limit = None
    return {
        **portal_settings(app_config, sandbox),
        "B24_HTTP_TIMEOUT": HTTP_TIMEOUT,
        "B24_RATE_LIMIT": NO_RATE_LIMIT,
        "FRESH_READS_PER_MINUTE": int(FRESH_READS),
    }


@pytest.fixture
def drill_app(drill_config: dict, sandbox: SandboxServer, redis_db: redis.Redis) -> Flask:
    """The app with the seeded flows known and discovery fresh (no background scan runs)."""
    app = create_app(drill_config)
    known_flows.remember(redis_db, sandbox.member_id, SEEDED_FLOWS)
    mark_discovery_fresh(redis_db, sandbox.member_id)
    return app


def gunicorn_env(sandbox: SandboxServer, secret_key: str) -> dict[str, str]:
    """The app's environment for the sandbox portal, with the drills' short HTTP timeout."""
    return {
        **app_env(sandbox),
        "SECRET_KEY": secret_key,
        "B24_HTTP_TIMEOUT": str(HTTP_TIMEOUT),
        "FRESH_READS_PER_MINUTE": FRESH_READS,
    }


def install_at(sandbox: SandboxServer, app_url: str, r: redis.Redis) -> None:
    """Install the app served at ``app_url`` the way the portal does; wait out its discovery run."""
    register_at(sandbox, app_url)
    install_app(sandbox, r)


@dataclass
class Frame:
    """The flows page one user opened over HTTP: its data and the API's session header."""

    data: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {frame_session.HEADER: self.data["session"]}


def open_frame(sandbox: SandboxServer, user_id: int) -> Frame:
    """What the portal does when ``user_id`` opens the app: POST the frame to the registered app URL."""
    url, form = sandbox.frame_post(user_id)
    response = requests.post(url, data=form, timeout=15)
    assert response.status_code == 200, response.text[:2000]
    return Frame(page_data(response.text))


def worker_pids(master_pid: int) -> set[int]:
    """The gunicorn workers: the master's child processes."""
    listing = subprocess.run(
        ["ps", "--ppid", str(master_pid), "-o", "pid="], capture_output=True, text=True, check=False
    )
    return {int(pid) for pid in listing.stdout.split()}


def stored_raw(r: redis.Redis, member_id: str, user_id: int) -> str | None:
    """The user's record exactly as Redis holds it (ciphertext)."""
    return r.get(portal_key(member_id, "user", user_id))


def stored_pair(app: Flask, member_id: str, user_id: int) -> UserToken | None:
    with app.app_context():
        return oauth.store().get_user(member_id, user_id)


def assert_clean_error(response: Any, status: int, code: str) -> Mapping[str, Any]:
    """A JSON error of ``status``/``code`` with a readable message and no traceback."""
    body = response.get_data(as_text=True) if hasattr(response, "get_data") else response.text
    assert response.status_code == status, body[:2000]
    assert "Traceback" not in body and 'File "' not in body
    payload = response.get_json() if hasattr(response, "get_json") else response.json()
    assert payload["error"] == code, payload
    assert len(payload["message"]) > 10
    return payload
