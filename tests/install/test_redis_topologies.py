"""The whole app on Redis Cluster and on Redis Sentinel, through the REDIS_URL forms the README gives."""

from __future__ import annotations

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
    keys = list(store.scan_iter(f"{prefix}*"))
    assert f"{prefix}portal" in keys and f"{prefix}user:{data.OWNER}" in keys
    if topology_url.startswith("redis+cluster"):
        assert len({store.keyslot(key) for key in keys}) == 1  # one hash tag, one slot
    assert [d.status for d in sandbox.uninstall()] == [200]
    assert list(store.scan_iter(f"{prefix}*")) == [uninstall.tombstone_key(sandbox.member_id)]
    assert requests.get(f"{live_app.url}/readyz", timeout=5).status_code == 200
