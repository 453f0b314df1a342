"""Drills for planned pauses and resumes: the Procfile's worker process against the sandbox portal while
something breaks. What must hold: each edge's switch happens once (the sandbox's log of who switched
what), with the scheduling user's own token, and a refusal stops the plan with Bitrix24's reason.

The app serves over HTTP in this process (``live_app``); workers are ``python worker.py`` processes
(``job_worker``) with short housekeeping rounds, so a lost edge is found in seconds, not minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from core.redis_server import RedisServer
from sandbox import data
from services import schedule_store as store
from tests.drills.conftest import open_frame
from tests.install.live import CLIENT_ID, CLIENT_SECRET, LiveApp, app_env, eventually, install_app
from tests.schedules.conftest import WITH_IM, plan_over_http, take_switch_right
from tests.worker_process import WorkerProcess

pytestmark = pytest.mark.drill

SUPPORT = 1
DAY = 86400.0
#: the workers' settings: a one-second housekeeping round, an edge overdue after one second is
#: looked at again, and short waits (a killed run's lock lapses after 6 x 1 + 1 + 2 = 9 s)
FAST = {
    "JOBS_MAINTENANCE_SECONDS": "1",
    "SCHEDULE_CATCH_UP_AFTER": "1",
    "SWITCH_LOCK_WAIT": "1",
    "B24_HTTP_TIMEOUT": "1",
}


def plan(live_app: LiveApp, sandbox: Any, flow_id: int, pause_in: float, resume_in: float | None = None) -> str:
    """The owner plans a pause (and a resume) seconds from now; the plan's id."""
    return plan_over_http(live_app.url, sandbox, data.OWNER, flow_id, pause_in, resume_in)["id"]


def edge_state(r: redis.Redis, member_id: str, schedule_id: str, edge: str = store.PAUSE) -> str:
    schedule = store.get(r, member_id, schedule_id)
    assert schedule is not None
    found = schedule.edge(edge)
    assert found is not None
    return found.state


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config: dict, private_redis: RedisServer) -> dict:
    """The app and its workers on a Redis of this test's own (the Redis drill restarts it)."""
    return {**app_config, "REDIS_URL": private_redis.url}


@pytest.fixture
def r(private_redis: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(private_redis.url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def worker(job_worker: Callable[..., WorkerProcess], private_redis: RedisServer, sandbox: Any) -> Callable[..., WorkerProcess]:
    """``worker(**settings)`` starts one more ``python worker.py`` on the private Redis with the fast settings."""
    return lambda **settings: job_worker({**app_env(sandbox), **FAST, **settings}, redis_url=private_redis.url)


def _install(live_app: LiveApp, sandbox: Any, r: redis.Redis, scope: str) -> Any:
    sandbox.register_app(
        CLIENT_ID,
        CLIENT_SECRET,
        app_url=f"{live_app.url}/",
        installer_url=f"{live_app.url}/install",
        redirect_uri=f"{live_app.url}/oauth/callback",
        scope=scope,
    )
    install_app(sandbox, r)
    return sandbox


@pytest.fixture
def portal(live_app: LiveApp, sandbox: Any, r: redis.Redis) -> Any:
    return _install(live_app, sandbox, r, "task,user,placement")


@pytest.fixture
def portal_with_im(live_app: LiveApp, sandbox: Any, r: redis.Redis) -> Any:
    """Installed with the ``im`` scope, so failed plans are told by a Bitrix24 notice."""
    return _install(live_app, sandbox, r, WITH_IM)


def test_a_worker_killed_after_switching_but_before_hearing_so_still_switches_once(
    portal: Any, live_app: LiveApp, r: redis.Redis, worker: Callable[..., WorkerProcess]
) -> None:
    sandbox = portal
    first = worker(B24_HTTP_TIMEOUT="3")  # the toggle's answer may take 3 s (a run's lock: 6 x 3 + 1 + 2 s)
    sandbox.settings.reply_latency = {"tasks.flow.Flow.activate": 6.0}  # the toggle runs, its answer is late
    schedule_id = plan(live_app, sandbox, SUPPORT, 2)
    eventually(lambda: len(sandbox.flow_changes()) == 1, timeout=20)
    first.kill()  # the worker, its job and its scheduler: SIGKILL, mid-run
    sandbox.settings.reply_latency = {}
    assert sandbox.flow(SUPPORT).active is False
    assert edge_state(r, sandbox.member_id, schedule_id) == store.PENDING  # it never heard

    killed_at = time.monotonic()
    second = worker()
    eventually(lambda: edge_state(r, sandbox.member_id, schedule_id) == store.DONE, timeout=40)
    print(f"edge completed {time.monotonic() - killed_at:.1f} s after the kill")
    changes = sandbox.flow_changes()
    assert [(c.flow_id, c.user_id, c.active) for c in changes] == [(SUPPORT, data.OWNER, False)], second.log()
    done = store.get(r, sandbox.member_id, schedule_id)
    assert done is not None and done.pause is not None and done.pause.outcome == store.UNCHANGED


def test_redis_restarted_while_an_edge_was_due_the_edge_happens_after_it_returns(
    portal: Any, live_app: LiveApp, private_redis: RedisServer, r: redis.Redis, worker: Callable[..., WorkerProcess]
) -> None:
    sandbox = portal
    running = worker()
    schedule_id = plan(live_app, sandbox, SUPPORT, 3)
    private_redis.stop()  # append-only: the plan and its job are on disk
    time.sleep(4)  # set-up, not proof: the edge's time passes while Redis is away
    private_redis.start()  # the same port and directory
    try:
        eventually(lambda: edge_state(r, sandbox.member_id, schedule_id) == store.DONE, timeout=60)
    finally:
        print(running.log()[-6000:])
    assert [(c.flow_id, c.user_id, c.active) for c in sandbox.flow_changes()] == [(SUPPORT, data.OWNER, False)], (
        running.log()[-3000:]
    )
    assert r.exists(f"fs:{{{sandbox.member_id}}}:user:{data.OWNER}")  # tokens intact


def test_two_workers_at_once_switch_each_flow_once_per_edge(
    portal: Any, live_app: LiveApp, r: redis.Redis, worker: Callable[..., WorkerProcess]
) -> None:
    sandbox = portal
    workers = [worker(), worker()]
    flows = [1, 2, 3, 4]
    ids = [plan(live_app, sandbox, flow, 3, 6) for flow in flows]
    eventually(
        lambda: all(edge_state(r, sandbox.member_id, i, store.RESUME) == store.DONE for i in ids), timeout=40
    )
    changes = sandbox.flow_changes()
    for flow in flows:
        assert [(c.user_id, c.active) for c in changes if c.flow_id == flow] == [
            (data.OWNER, False),
            (data.OWNER, True),
        ], workers[0].log()[-2000:] + workers[1].log()[-2000:]
    assert all(worker.process.poll() is None for worker in workers)


def test_the_scheduling_user_lost_the_right_the_plan_stops_with_bitrix24s_reason(
    portal_with_im: Any, live_app: LiveApp, r: redis.Redis, worker: Callable[..., WorkerProcess]
) -> None:
    sandbox = portal_with_im
    worker()
    schedule_id = plan(live_app, sandbox, SUPPORT, 2, 4)
    take_switch_right(sandbox, SUPPORT)
    eventually(lambda: edge_state(r, sandbox.member_id, schedule_id) == store.FAILED, timeout=20)
    eventually(lambda: bool(sandbox.notifications(data.OWNER)), timeout=10)
    schedule = store.get(r, sandbox.member_id, schedule_id)
    assert schedule is not None and schedule.pause is not None and schedule.resume is not None
    assert schedule.pause.reason == "Access denied or flow not found"
    assert (schedule.resume.state, schedule.resume.outcome) == (store.SKIPPED, store.PAUSE_FAILED)
    assert "did not happen: Bitrix24 refused: Access denied or flow not found" in sandbox.notifications(data.OWNER)[0].message
    assert sandbox.flow_changes() == [] and sandbox.flow(SUPPORT).active is True


def test_a_sign_in_that_aged_out_fails_the_plan_and_the_user_is_told(
    portal_with_im: Any, live_app: LiveApp, r: redis.Redis, worker: Callable[..., WorkerProcess]
) -> None:
    sandbox = portal_with_im
    sandbox.settings.refresh_ttl = 28 * DAY
    schedule_id = plan(live_app, sandbox, SUPPORT, 3)  # OWNER's pair: issued under the 28 days
    sandbox.advance_clock(29 * DAY)  # a month passes on the portal: her refresh token is dead
    open_frame(sandbox, data.ADMIN)  # the portal-level holder's pair is fresh (it sends the notice)
    worker()
    eventually(lambda: edge_state(r, sandbox.member_id, schedule_id) == store.FAILED, timeout=20)
    schedule = store.get(r, sandbox.member_id, schedule_id)
    assert schedule is not None and schedule.pause is not None and schedule.pause.outcome == store.SIGNED_OUT
    eventually(lambda: bool(sandbox.notifications(data.OWNER)), timeout=10)
    [notice] = sandbox.notifications(data.OWNER)
    assert "Bitrix24 no longer accepts the sign-in of Oleg Owner" in notice.message
    assert sandbox.flow_changes() == []
