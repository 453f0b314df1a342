"""The whole app on Redis Cluster and on Redis Sentinel, through the REDIS_URL forms the README gives."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from core.redis_client import connect
from sandbox import data
from services import uninstall
from tests.flows.conftest import page_data
from tests.install.live import LiveApp

SWITCHABLE_FLOW = 1


@pytest.fixture(params=["cluster", "sentinel"])
def topology_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"redis_{request.param}_url")


@pytest.fixture
def app_config(app_config: dict, topology_url: str, redis_url: str) -> dict:
    # RQ cannot run on a Cluster: its jobs get a plain Redis of their own (JOBS_REDIS_URL).
    jobs = {"JOBS_REDIS_URL": redis_url} if topology_url.startswith("redis+cluster") else {}
    return {**app_config, "REDIS_URL": topology_url, **jobs}


def test_install_switch_and_uninstall_on_the_topology(
    installed_portal: Any, live_app: LiveApp, topology_url: str
):
    sandbox = installed_portal
    store = connect(topology_url)
    prefix = f"fs:{{{sandbox.member_id}}}:"
    url, form = sandbox.frame_post(data.OWNER)
    page = requests.post(url, data=form, timeout=10)
    assert page.status_code == 200
    session = {"X-Frame-Session": page_data(page.text)["session"]}
    switched = requests.put(
        f"{live_app.url}/api/flows/{SWITCHABLE_FLOW}", json={"active": False}, headers=session, timeout=10
    )
    assert switched.status_code == 200 and switched.json()["active"] is False
    assert sandbox.flow(SWITCHABLE_FLOW).active is False
    # A plan: its checks run in one transaction over the portal's records (one slot on a Cluster).
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="minutes")
    body = {"flow_id": SWITCHABLE_FLOW, "resume_at": tomorrow}
    planned = requests.post(f"{live_app.url}/api/schedules", json=body, headers=session, timeout=10)
    assert planned.status_code == 201, planned.text
    again = requests.post(f"{live_app.url}/api/schedules", json=body, headers=session, timeout=10)
    assert again.json()["error"] == "overlap"
    keys = list(store.scan_iter(f"{prefix}*"))
    assert f"{prefix}schedule:{planned.json()['schedule']['id']}" in keys
    assert f"{prefix}portal" in keys and f"{prefix}user:{data.OWNER}" in keys
    if topology_url.startswith("redis+cluster"):
        assert len({store.keyslot(key) for key in keys}) == 1  # one hash tag, one slot
    assert [d.status for d in sandbox.uninstall()] == [200]
    assert list(store.scan_iter(f"{prefix}*")) == [uninstall.tombstone_key(sandbox.member_id)]
    assert requests.get(f"{live_app.url}/readyz", timeout=5).status_code == 200


ROOT = Path(__file__).resolve().parents[2]
#: enqueue on a Cluster with every RQ key hash-tagged into one slot, then start a worker
_RQ_ON_CLUSTER = """
import sys
from rq import Queue, Worker
from core.redis_client import connect
connection = connect(sys.argv[1], decode_responses=False)
queue = Queue("flow-switch", connection=connection)
queue.enqueue(print, "queued")
print("enqueued")
Worker([queue], connection=connection)
"""


def test_rq_cannot_run_a_worker_on_a_cluster_even_with_a_hash_tagged_key_prefix(redis_cluster_url: str) -> None:
    """Why ``JOBS_REDIS_URL`` exists. RQ 3 reads ``RQ_KEY_PREFIX``; with ``{rq}`` all of its keys share
    one slot, and enqueueing works on a Cluster, but its worker (and its scheduler, which forks
    with the client's pool settings) needs a plain client's ``connection_pool``. When this test
    fails, RQ has learnt to: the README's note and the refusal in ``core/config.py`` can go."""
    env = {**os.environ, "RQ_KEY_PREFIX": "{rq}"}
    done = subprocess.run(
        [sys.executable, "-c", _RQ_ON_CLUSTER, redis_cluster_url], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "enqueued"
    assert done.returncode != 0 and "object has no attribute 'connection_pool'" in done.stderr
