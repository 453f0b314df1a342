"""What every benchmark runs against: a private Redis, the sandbox portal, the app under gunicorn.

``running_stack(...)`` starts the three, installs the app on the sandbox portal the way an
administrator does (installer page, then ``installFinish``) and only then adds the
portal latency, so set-up stays quick and every measured call pays it. With
``install=False`` the benchmark installs it itself (``Stack.install``), e.g. to time it.
With ``servers=2`` and ``cluster=True`` it runs two app servers (as two machines would) on
one Redis Cluster of three masters, the jobs on a plain Redis beside it; API calls then
alternate between them.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from redis.cluster import RedisCluster

from b24.http import Transport
from core.gunicorn_server import GunicornApp, start_gunicorn
from core.redis_client import connect
from core.redis_cluster import LocalCluster
from core.redis_server import RedisServer
from sandbox import data
from sandbox.models import User
from sandbox.server import SandboxServer
from services import discovery, flow_list, known_flows
from services.frame_session import HEADER

CLIENT_ID = "local.flowswitch.bench"
# Generous enough that only the rate-limit benchmark ever waits for the app's own bucket.
UNLIMITED = "100000/10000"
FIRST_BENCH_USER = 100
_PAGE_DATA = re.compile(r'<script type="application/json" id="fs-data">(.*?)</script>', re.S)


@dataclass
class Options:
    """Run-wide knobs: ``quick`` shrinks every size for a smoke run."""

    latency: float = 0.1
    quick: bool = False
    workdir: Path = field(default_factory=Path)


@dataclass(frozen=True)
class Frame:
    """The flows page as one user got it: its data and the session header for the API."""

    user_id: int
    data: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {HEADER: self.data["session"]}


@dataclass
class Stack:
    sandbox: SandboxServer
    apps: list[GunicornApp]
    redis: redis.Redis | RedisCluster
    redis_url: str
    latency: float
    _turns: Iterator[int] = field(default_factory=itertools.count)

    @property
    def app(self) -> GunicornApp:
        """The first app server: the one the portal knows as the app's URL."""
        return self.apps[0]

    @property
    def member_id(self) -> str:
        return self.sandbox.member_id

    def open_page(self, user_id: int, http: requests.Session | None = None) -> Frame:
        """What the portal does when ``user_id`` opens the app: POST the frame to the app URL."""
        url, form = self.sandbox.frame_post(user_id)
        response = (http or requests).post(url, data=form, timeout=60)
        response.raise_for_status()
        match = _PAGE_DATA.search(response.text)
        if match is None:
            raise RuntimeError(f"the flows page of user {user_id} carries no data")
        page = json.loads(match.group(1))
        if page.get("loadError"):
            raise RuntimeError(f"the flows page of user {user_id} failed: {page['loadError']}")
        return Frame(user_id, page)

    def bare_round_trip(self, http: Transport, token: str) -> float:
        """One portal REST request sent from here with the app's HTTP client (no app in between): its wall time."""
        started = time.perf_counter()
        answer = http.request(
            f"{self.sandbox.client_endpoint}user.current", b"{}", {"Authorization": f"Bearer {token}"}, 30
        )
        elapsed = time.perf_counter() - started
        if answer.status != 200:
            raise RuntimeError(f"user.current answered {answer.status}")
        return elapsed

    def api(self, path: str) -> str:
        """The API URL of ``path`` on the next app server in turn: the load is spread over all of them."""
        return f"{self.apps[next(self._turns) % len(self.apps)].url}/api{path}"

    def add_users(self, count: int) -> list[int]:
        """``count`` more (non-admin) portal users."""
        with self.sandbox.world.lock:
            first = max(FIRST_BENCH_USER, *self.sandbox.world.users) + 1
            ids = list(range(first, first + count))
            for user_id in ids:
                self.sandbox.world.users[user_id] = User(
                    user_id, "Bench", f"User {user_id}", f"u{user_id}@b.test"
                )
        return ids

    def add_flows(self, count: int, *, team: Iterable[int] = (), owners: Iterable[int] = ()) -> list[int]:
        """Flows readable by ``team``; with ``owners``, one flow owned by each of them."""
        members = [data.OWNER, *team]
        owner_ids = list(owners) or [data.OWNER] * count
        return [
            self.sandbox.add_flow(owner_id=owner_ids[i % len(owner_ids)], team=members, task_creators=members)
            for i in range(count)
        ]

    def know_flows(self, ids: Iterable[int]) -> None:
        """Make ``ids`` the portal's known flows and mark discovery fresh (no background scan)."""
        deadline = time.monotonic() + 30
        while self.redis.exists(discovery.lock_key(self.member_id)):  # let a run in flight finish
            if time.monotonic() > deadline:
                raise RuntimeError("flow discovery did not finish in 30 s")
            time.sleep(0.05)
        pipe = self.redis.pipeline()
        pipe.delete(known_flows.flows_key(self.member_id))
        pipe.sadd(known_flows.flows_key(self.member_id), *ids)
        pipe.hset(known_flows.meta_key(self.member_id), "started_at", int(time.time()))
        pipe.execute()

    def install(self, http: requests.Session | None = None) -> None:
        """The administrator opens the app for the first time: the installer page, then ``installFinish``."""
        url, form = self.sandbox.frame_post(data.ADMIN)
        (http or requests).post(url, data=form, timeout=30).raise_for_status()
        failed = [d for d in self.sandbox.finish_install() if d.status != 200]
        if failed:
            raise RuntimeError(f"installFinish deliveries failed: {failed}")

    def use_flow_list(self, listed: bool) -> None:
        """A portal with ``tasks.flow.Flow.list`` (a current one) or without it (an older one); the
        app's memory of an absent list is dropped, so it finds out at the next read."""
        self.sandbox.settings.flow_list_method = listed
        self.redis.delete(flow_list.absent_key(self.member_id))

    def slow_down(self) -> None:
        """Every portal call (REST and authorization server) from now on takes ``latency`` more."""
        self.sandbox.settings.latency = self.latency
        self.sandbox.settings.auth_latency = self.latency


def _register(sandbox: SandboxServer, app: GunicornApp, client_secret: str) -> None:
    """The app on the portal's market, not installed yet (its first open runs the installer)."""
    sandbox.register_app(
        CLIENT_ID,
        client_secret,
        app_url=f"{app.url}/",
        installer_url=f"{app.url}/install",
        redirect_uri=f"{app.url}/oauth/callback",
    )
    sandbox.install()


@contextmanager
def running_stack(
    options: Options,
    name: str,
    *,
    workers: int = 4,
    servers: int = 1,
    cluster: bool = False,
    app_rate_limit: str = UNLIMITED,
    portal_rate_limit: tuple[int, float] | None = None,
    app_env: Mapping[str, str] | None = None,
    install: bool = True,
) -> Iterator[Stack]:
    """The app on a fresh sandbox portal, installed unless ``install=False``; the portal is slowed
    down once installed (without the install, the benchmark slows it down when it wants)."""
    directory = options.workdir / name
    with ExitStack() as running:
        env: dict[str, str] = {}
        if cluster:
            redis_url = running.enter_context(LocalCluster(directory / "cluster")).url
            # RQ cannot run on a Cluster: the jobs get a plain Redis of their own.
            env["JOBS_REDIS_URL"] = running.enter_context(RedisServer(directory / "jobs", persistent=False)).url
        else:
            redis_url = running.enter_context(RedisServer(directory / "redis", persistent=False)).url
        sandbox = running.enter_context(SandboxServer())
        sandbox.settings.rate_limit = None  # until installed; then the benchmark's own
        client_secret = secrets.token_urlsafe(32)
        env |= {
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),  # one key: a session from one server works on all
            "B24_CLIENT_ID": CLIENT_ID,
            "B24_CLIENT_SECRET": client_secret,
            "B24_OAUTH_SERVERS": sandbox.auth_url,
            "B24_ALLOW_HTTP": "1",
            "B24_JS_SDK_URL": f"{sandbox.portal_url}/bx24.js",
            "B24_RATE_LIMIT": app_rate_limit,
            "FRESH_READS_PER_MINUTE": "100000",  # benchmarks of portal reads ask for them
            **(app_env or {}),
        }
        apps: list[GunicornApp] = []
        running.callback(lambda: [app.stop(graceful=False) for app in apps])  # the measurements are taken
        for index in range(servers):
            log_path = directory / ("gunicorn.log" if servers == 1 else f"gunicorn{index + 1}.log")
            apps.append(start_gunicorn(env, redis_url=redis_url, log_path=log_path, workers=workers))
        client = connect(redis_url)
        running.callback(client.close)
        stack = Stack(sandbox, apps, client, redis_url, options.latency)
        _register(sandbox, apps[0], client_secret)
        if install:
            stack.install()
        sandbox.settings.rate_limit = portal_rate_limit
        yield stack
