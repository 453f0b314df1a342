"""Schedules against the sandbox portal: the app in this process (Flask test client), real Redis,
real HTTP to the portal, and RQ's own worker running the jobs in this process (``run_jobs``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker

from core import clock
from core.jobs import get_queue
from sandbox import data
from sandbox.server import SandboxServer
from services import schedule_store as store
from services import schedule_upkeep
from tests.drills.conftest import open_frame
from tests.flows import conftest as flows
from tests.flows.conftest import Page, open_page
from tests.install.live import install_with_scope

# The flows' fixtures: the app in this process, configured for the sandbox, the seeded flows known.
portal_app = flows.portal_app
portal_client = flows.portal_client

SUPPORT = 1  # "Support requests": OWNER's; MEMBER in its team
DESIGN = 2  # "Design reviews": OWNER's
BUDGET = 6  # "Budget approvals": ADMIN's; OWNER in its team
#: the scopes of an installation that lets the app send notices
WITH_IM = "task,user,placement,im"


@pytest.fixture
def app_config(app_config: dict) -> dict:
    # The sweep looks at an edge as soon as it is due (the tests move the clock instead of waiting).
    return {**app_config, "SCHEDULE_CATCH_UP_AFTER": 0.0}


@pytest.fixture
def with_im(sandbox: SandboxServer, portal_app: Flask) -> SandboxServer:
    """The app installed with the ``im`` scope, the admin as the portal-level holder."""
    return install_with_scope(sandbox, portal_app, WITH_IM)


def wall(days: float, hour: int = 18, zone: str = "UTC") -> str:
    """A wall-clock time ``days`` from now at ``hour``:00 in ``zone``, as the dialog sends it."""
    day = datetime.now(ZoneInfo(zone)) + timedelta(days=days)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M")


def in_seconds(seconds: float) -> str:
    """An absolute time ``seconds`` from the app's now (UTC, with its offset: no zone involved)."""
    return datetime.fromtimestamp(clock.now() + seconds, UTC).isoformat(timespec="seconds")


def plan_over_http(
    app_url: str, sandbox: SandboxServer, user_id: int, flow_id: int, pause_in: float, resume_in: float | None = None
) -> dict:
    """``user_id`` opens the app in the portal and plans a pause (and a resume) seconds from now, over HTTP."""
    frame = open_frame(sandbox, user_id)
    body = {
        "flow_id": flow_id,
        "pause_at": in_seconds(pause_in),
        "resume_at": in_seconds(resume_in) if resume_in is not None else None,
    }
    answer = requests.post(f"{app_url}/api/schedules", json=body, headers=frame.headers, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["schedule"]


def take_switch_right(sandbox: SandboxServer, flow_id: int) -> None:
    """The flow gets another administrator and creator (the admin): its owner may still read it (she
    creates tasks in it), no longer switch it."""
    flow = sandbox.flow(flow_id)
    flow.owner_id = flow.creator_id = data.ADMIN


def pass_days(sandbox: SandboxServer, moved_clock: Callable[[float], None], days: float) -> None:
    """``days`` pass for the portal and for the app alike."""
    sandbox.advance_clock(days * 86400)
    moved_clock(days * 86400)


def plan(
    client: FlaskClient, page: Page, flow_id: int, pause_at: str | None, resume_at: str | None, **extra: Any
) -> Any:
    body = {"flow_id": flow_id, "pause_at": pause_at, "resume_at": resume_at, **extra}
    return client.post("/api/schedules", json=body, headers=page.headers())


def listing(client: FlaskClient, page: Page, tz: str = "") -> dict:
    answer = client.get(f"/api/schedules?tz={tz}", headers=page.headers())
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


@pytest.fixture
def owner(portal_client: FlaskClient, sandbox: SandboxServer) -> Page:
    return open_page(portal_client, sandbox, data.OWNER)


@pytest.fixture
def run_jobs(portal_app: Flask) -> Callable[[], int]:
    """Queue what is due by the app's clock (the sweep's catch-up), then run every queued job in
    this process with RQ's own worker (so a moved clock holds in the job too); returns how many ran."""

    def run() -> int:
        with portal_app.app_context():
            schedule_upkeep.catch_up(schedule_upkeep.get_redis())
            queue = get_queue()
            before = queue.count
            SimpleWorker([queue], connection=queue.connection).work(burst=True)
            return before

    return run


def stored(r: redis.Redis, member_id: str) -> list[store.Schedule]:
    return store.portal_schedules(r, member_id)


def scheduled_jobs(portal_app: Flask) -> dict[str, float]:
    """RQ's scheduled jobs and their times (epoch seconds)."""
    from rq.registry import ScheduledJobRegistry

    with portal_app.app_context():
        registry = ScheduledJobRegistry(queue=get_queue())
        return {
            job_id: registry.get_scheduled_time(job_id).timestamp() for job_id in registry.get_job_ids()
        }
