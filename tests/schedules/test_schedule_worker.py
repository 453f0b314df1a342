"""Plans with the real parts: the app over HTTP, the Procfile's worker process (RQ with its scheduler),
and uninstall through the portal's event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from sandbox import data
from services import schedule_store as store
from tests.install.live import LiveApp, app_env, eventually, left_behind
from tests.schedules.conftest import DESIGN, SUPPORT, plan_over_http
from tests.worker_process import WorkerProcess


def test_the_worker_process_switches_at_the_planned_second_with_the_users_token(
    installed_portal: Any, live_app: LiveApp, job_worker: Callable[..., WorkerProcess]
) -> None:
    sandbox = installed_portal
    worker = job_worker(app_env(sandbox))
    saved = plan_over_http(live_app.url, sandbox, data.OWNER, SUPPORT, 3, 5)
    eventually(lambda: len(sandbox.flow_changes()) == 2, timeout=20)
    pause, resume = sandbox.flow_changes()
    assert (pause.user_id, pause.active, resume.user_id, resume.active) == (data.OWNER, False, data.OWNER, True)
    # RQ's scheduler looks every second: each edge within a few seconds of its time.
    for change, at in ((pause, saved["pause"]["at"]), (resume, saved["resume"]["at"])):
        assert 0 <= change.at.timestamp() - at < 3, worker.log()


def test_uninstall_deletes_the_plans_and_cancels_their_jobs(
    installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis, redis_url: str
) -> None:
    sandbox = installed_portal
    saved = [plan_over_http(live_app.url, sandbox, data.OWNER, flow, 3600, 7200) for flow in (SUPPORT, DESIGN)]
    raw = redis.Redis.from_url(redis_url)  # RQ's keys hold bytes
    job_keys = [f"rq:job:{store.job_id(s['id'], edge)}".encode() for s in saved for edge in store.EDGES]
    assert all(raw.exists(key) for key in job_keys)
    assert redis_db.zcard(store.DUE_KEY) == 4

    assert [d.status for d in sandbox.uninstall()] == [200]
    assert not left_behind(redis_db, sandbox.member_id)
    assert not any(raw.exists(key) for key in job_keys)
    assert raw.zcard(b"rq:scheduled:flow-switch") == 0
    assert redis_db.zcard(store.DUE_KEY) == 0

