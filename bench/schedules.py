"""10. Planned changes: 1,000 edges due at the same second across 100 portals, drained by the job workers.

Each portal is a sandbox of its own (its own rate limit, 50 deep and 2 a second, as Bitrix24's
default plan) with 10 flows paused by plans of its owner; the plans are saved through the
same service the API uses (so each was checked with Bitrix24), all due at the same second.
``python worker.py`` processes (the Procfile's) then run them while every portal call takes
the benchmark's latency. Figures: how long after their time the last edge was done, the
lateness of the edges (when the sandbox saw each switch, minus its time), the portals'
refusals (0: every edge stayed within its portal's budget), and the Redis memory a pending
plan takes, from ``MEMORY USAGE`` of its record, its share of the indexes, its RQ job and
RQ's scheduled registry.
"""

from __future__ import annotations

import secrets
import time
from contextlib import ExitStack
from datetime import UTC, datetime

import redis

import oauth
from app import create_app
from bench.stack import CLIENT_ID, Options
from bench.stats import Figure
from core.redis_server import RedisServer
from core.worker_process import start_worker
from oauth.store import STATUS_ACTIVE, Portal
from oauth.tokens import user_token_from
from sandbox import data
from sandbox.server import SandboxServer
from services import schedule_store as store
from services import schedules
from services.frame_session import FrameSession

NAME = "schedules"
#: seconds the set-up may take: saving a plan (a Bitrix24 read, a transaction, an RQ job) and
#: starting a worker process, generously; the edges are due right after
SETUP_PER_PLAN, SETUP_PER_WORKER, SETUP_SPARE = 0.02, 3.0, 3.0


def _portal(sandbox: SandboxServer, client_secret: str) -> None:
    """The app installed on ``sandbox``: registered there, and the portal and its owner's tokens stored."""
    sandbox.register_app(
        CLIENT_ID,
        client_secret,
        app_url="http://127.0.0.1:9/",
        installer_url="http://127.0.0.1:9/install",
        redirect_uri="http://127.0.0.1:9/oauth/callback",
        installed=True,
    )
    member_id = sandbox.member_id
    record = Portal(
        member_id=member_id,
        domain=sandbox.domain,
        client_endpoint=sandbox.client_endpoint,
        server=sandbox.auth_url,
        status=STATUS_ACTIVE,
        installer_user_id=data.ADMIN,
    )
    oauth.store().update_portal(member_id, lambda _: record)
    for user_id in (data.ADMIN, data.OWNER):
        grant = sandbox.issue_tokens(user_id)
        token = user_token_from(grant, client_endpoint=sandbox.client_endpoint, server=sandbox.auth_url)
        oauth.store().put_user(member_id, user_id, token)


def _plan(sandbox: SandboxServer, flows: int, due: float) -> list[str]:
    """The owner's pauses of ``flows`` new flows, all at ``due``; their ids."""
    session = FrameSession(
        member_id=sandbox.member_id,
        user_id=data.OWNER,
        app_sid="bench",
        domain=sandbox.domain,
        portal_origin=sandbox.portal_url,
        lang="en",
        is_admin=False,
    )
    at = datetime.fromtimestamp(due, UTC).isoformat()
    ids = []
    for index in range(flows):
        flow_id = sandbox.add_flow(f"Bench flow {index}", owner_id=data.OWNER)
        plan = schedules.Plan(flow_id=flow_id, pause_at=at, resume_at=None, browser_zone="UTC")
        ids.append(schedules.create(session, plan)["id"])
    return ids


def _bytes_per_plan(r: redis.Redis, member_ids: list[str], plan_ids: list[str]) -> dict[str, float]:
    """Redis memory (``MEMORY USAGE``) per pending plan, by part."""

    def usage(keys: list[str]) -> int:
        return sum(int(r.memory_usage(key) or 0) for key in keys)

    count = len(plan_ids)
    portal_indexes = [store.index_key(m) for m in member_ids] + [store.revision_key(m) for m in member_ids]
    records = [store.schedule_key(m, i) for m in member_ids for i in r.smembers(store.index_key(m))]
    jobs = [f"rq:job:{store.job_id(i, store.PAUSE)}" for i in plan_ids]
    parts = {
        "record": usage(records) / count,
        "indexes": (usage(portal_indexes) + usage([store.DUE_KEY])) / count,
        "job": (usage(jobs) + usage(["rq:scheduled:flow-switch"])) / count,
    }
    return {**parts, "total": sum(parts.values())}


def run(options: Options) -> list[Figure]:
    portals, per_portal, workers = (3, 3, 2) if options.quick else (100, 10, 8)
    directory = options.workdir / NAME
    client_secret = secrets.token_urlsafe(32)
    with ExitStack() as stack:
        redis_server = stack.enter_context(RedisServer(directory / "redis", persistent=False))
        sandboxes = [stack.enter_context(SandboxServer()) for _ in range(portals)]
        env = {
            "APP_ENV": "testing",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "B24_CLIENT_ID": CLIENT_ID,
            "B24_CLIENT_SECRET": client_secret,
            "B24_OAUTH_SERVERS": ",".join(s.auth_url for s in sandboxes),
            "B24_ALLOW_HTTP": "1",
            "INSTANCE_DIR": str(directory / "instance"),
            "LOG_LEVEL": "WARNING",
        }
        app = create_app({**env, "REDIS_URL": redis_server.url, "B24_OAUTH_SERVERS": [s.auth_url for s in sandboxes]})
        r = redis.Redis.from_url(redis_server.url, decode_responses=True)
        due = time.time() + SETUP_SPARE + portals * per_portal * SETUP_PER_PLAN + workers * SETUP_PER_WORKER
        with app.app_context():
            for sandbox in sandboxes:
                sandbox.settings.rate_limit = None  # set-up is not measured
                _portal(sandbox, client_secret)
            plan_ids = [i for sandbox in sandboxes for i in _plan(sandbox, per_portal, due)]
        memory = _bytes_per_plan(r, [s.member_id for s in sandboxes], plan_ids)
        for index in range(workers):
            worker = start_worker(env, redis_url=redis_server.url, log_path=directory / f"worker-{index}.log")
            stack.callback(worker.stop)
        for sandbox in sandboxes:
            sandbox.settings.rate_limit = (50, 2.0)  # Bitrix24's default plan, per portal
            sandbox.settings.latency = options.latency
        if time.time() > due:
            raise RuntimeError("the set-up outlasted the lead: the edges were due before the workers ran")
        total = portals * per_portal
        deadline = due + 600
        while sum(len(s.flow_changes()) for s in sandboxes) < total:
            if time.time() > deadline:
                raise RuntimeError(f"only {sum(len(s.flow_changes()) for s in sandboxes)} of {total} edges ran")
            time.sleep(0.2)
        late = sorted(change.at.timestamp() - due for s in sandboxes for change in s.flow_changes())
        refused = sum(s.rejected("QUERY_LIMIT_EXCEEDED") for s in sandboxes)
        by_others = sum(1 for s in sandboxes for change in s.flow_changes() if change.user_id != data.OWNER)
        r.close()
    return _figures(total, portals, workers, late, refused, by_others, memory, options)


def _figures(
    total: int,
    portals: int,
    workers: int,
    late: list[float],
    refused: int,
    by_others: int,
    memory: dict[str, float],
    options: Options,
) -> list[Figure]:
    p50, p99 = late[len(late) // 2], late[max(0, int(len(late) * 0.99) - 1)]
    return [
        Figure(
            NAME,
            f"{total:,} edges due at the same second across {portals} portals, {workers} workers, "
            f"{options.latency * 1000:.0f} ms a portal call: all done {late[-1]:.1f} s after their time; "
            f"lateness p50 {p50:.1f} s, p99 {p99:.1f} s",
            value=late[-1],
        ),
        Figure(
            NAME,
            f"portal refusals (QUERY_LIMIT_EXCEEDED) while draining: {refused}; switches with another "
            f"user's token: {by_others}",
            "0",
            refused == 0 and by_others == 0,
            float(refused + by_others),
        ),
        Figure(
            NAME,
            f"Redis bytes per pending plan (one edge): {memory['total']:.0f} = record {memory['record']:.0f} "
            f"+ indexes {memory['indexes']:.0f} + RQ job {memory['job']:.0f}",
            value=memory["total"],
        ),
    ]

