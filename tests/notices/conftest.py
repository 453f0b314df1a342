"""Notices against the sandbox portal: the app in this process (Flask test client), real Redis, real
HTTP to the portal, and RQ's own worker running the notice jobs in this process (``run_jobs``).

The test client does what a WSGI server does only when told: a response's close (where the
notice is queued, after the answer) runs when the test closes it (``switched``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker
from werkzeug.test import TestResponse

from core.jobs import get_queue
from sandbox.server import SandboxServer
from tests.flows import conftest as flows
from tests.flows.conftest import Page
from tests.install.live import install_with_scope

portal_app = flows.portal_app
portal_client = flows.portal_client

SUPPORT = 1  # "Support requests": OWNER's; MEMBER in its team, OWNER and MEMBER its task creators
DESIGN = 2  # "Design reviews": the same people
#: an installation that lets the app send notices and read the structure and workgroups
NOTICE_SCOPE = "task,user,placement,im,department,sonet_group"


@pytest.fixture
def with_notices(sandbox: SandboxServer, portal_app: Flask) -> SandboxServer:
    return install_with_scope(sandbox, portal_app, NOTICE_SCOPE)


def switched(response: TestResponse) -> TestResponse:
    """The answer as the person gets it; then its close, as a WSGI server does after sending it."""
    body = response.get_json()
    response.close()
    response.json_body = body  # type: ignore[attr-defined]
    return response


def switch(client: FlaskClient, page: Page, flow_id: int, active: bool) -> TestResponse:
    return switched(client.put(f"/api/flows/{flow_id}", json={"active": active}, headers=page.headers()))


def bulk(client: FlaskClient, page: Page, ids: list[int], active: bool) -> TestResponse:
    return switched(client.post("/api/flows/bulk", json={"ids": ids, "active": active}, headers=page.headers()))


def queued(portal_app: Flask) -> int:
    with portal_app.app_context():
        return get_queue().count


def work(app: Flask) -> int:
    """Run every queued job in this process with RQ's own worker, under ``app``'s settings;
    returns how many were queued."""
    with app.app_context():
        queue = get_queue()
        before = queue.count
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        return before


@pytest.fixture
def run_jobs(portal_app: Flask) -> Callable[[], int]:
    return lambda: work(portal_app)


def state(client: FlaskClient, page: Page) -> dict:
    answer = client.get("/api/notices", headers=page.headers())
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def choose(client: FlaskClient, page: Page, flow_id: int, audience: object) -> TestResponse:
    return client.put(f"/api/notices/flows/{flow_id}", json={"audience": audience}, headers=page.headers())


def texts(sandbox: SandboxServer, user_id: int) -> list[str]:
    """A user's notifications as stored (the app's name, a line break, the text), newest first."""
    return [notice.message.split("\n", 1)[1] for notice in sandbox.notifications(user_id)]
