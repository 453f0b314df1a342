"""4. Throughput: requests per second of the list API, against a minimal Flask JSON view.

The list is served from the cache in Redis (the page open before the run fills it), as
the page's reloads are; the portal requests made during the run are counted. A second
baseline, the minimal view making one Redis round trip (a ``PING``), shows how much of the
difference the round trip the issue allows a reload costs by itself.

Both run under ``gunicorn --config gunicorn.conf.py`` with the same worker settings on
this machine and are loaded by ``wrk`` with the same connections, in alternating runs, so
their ratio depends neither on the machine's speed nor much on other jobs' load.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

from bench.stack import Options, Stack, running_stack
from bench.stats import Figure, median
from core.gunicorn_server import start_gunicorn
from sandbox import data

NAME = "throughput"
SCRIPT = Path(__file__).with_name("session_header.lua")
CONNECTIONS = 64
TARGET = 0.5  # of the minimal view's rate (issue 10)
ROUNDS = 5
SECONDS = 2  # each run (wrk takes whole seconds); all rounds within FLOW_CACHE_TTL (30 s)


def wrk(url: str, seconds: float, session: str = "") -> tuple[float, int]:
    """Requests per second and the number of answers that were not 2xx/3xx."""
    return wrk_all([url], seconds, session)


def wrk_all(
    urls: list[str], seconds: float, session: str = "", connections: int = CONNECTIONS
) -> tuple[float, int]:
    """``wrk`` against every URL at once (``connections`` shared out): total requests/s and failures."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (make bench installs it)")
    each = max(2, connections // len(urls))
    runs = [
        subprocess.Popen(
            [binary, "-t2", f"-c{each}", f"-d{seconds:g}s", "-s", str(SCRIPT), url],
            env={**os.environ, "FLOW_SWITCH_SESSION": session},
            stdout=subprocess.PIPE,
            text=True,
        )
        for url in urls
    ]
    total, failed = 0.0, 0
    for each in runs:
        out, _ = each.communicate()
        if each.returncode:
            raise RuntimeError(f"wrk exited with {each.returncode}:\n{out}")
        rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if rate is None:
            raise RuntimeError(f"unexpected wrk output:\n{out}")
        errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        total += float(rate.group(1))
        failed += int(errors.group(1)) if errors else 0
    return total, failed


class Round(NamedTuple):
    """One alternating round: requests/s of the list API (and its failed answers) and of the two baselines."""

    app: float
    failed: int
    base: float
    with_redis: float


def cached_list_session(stack: Stack) -> str:
    """Fill the list cache (a page open with 10 known flows); the session wrk sends."""
    stack.know_flows(stack.add_flows(10))
    frame = stack.open_page(data.ADMIN)
    stack.slow_down()
    return frame.headers["X-Frame-Session"]


def run(options: Options) -> list[Figure]:
    # Alternating runs of each: on a machine shared with other jobs the load moves, and it moves
    # alike for runs a few seconds apart. The cache outlives the runs: they measure reloads
    # served from it, not the read from the portal that refills it every FLOW_CACHE_TTL.
    rounds, seconds = (1, 1) if options.quick else (ROUNDS, SECONDS)
    cache = {"FLOW_CACHE_TTL": "600", "VISIBILITY_CACHE_TTL": "600"}
    with running_stack(options, NAME, app_env=cache) as stack:
        session = cached_list_session(stack)
        baseline = start_gunicorn(
            {},
            redis_url=stack.redis_url,  # for the view with one Redis round trip
            log_path=options.workdir / NAME / "minimal.log",
            app="bench.minimal_app:create_app()",
        )
        try:
            app_url, base_url = stack.api("/flows"), f"{baseline.url}/api/flows"
            if not options.quick:
                for url in (app_url, base_url, f"{base_url}/redis"):  # warm
                    wrk(url, 1, session)
            stack.sandbox.reset_counters()
            runs = [
                Round(*wrk(app_url, seconds, session), wrk(base_url, seconds)[0], wrk(f"{base_url}/redis", seconds)[0])
                for _ in range(rounds)
            ]
            portal_requests = stack.sandbox.rest_requests
        finally:
            baseline.stop(graceful=False)
    ratios = [each.app / each.base for each in runs]
    ratio = median(ratios)
    app_rate, base_rate = median([each.app for each in runs]), median([each.base for each in runs])
    with_redis = median([each.with_redis for each in runs])
    errors = sum(each.failed for each in runs)
    return [
        Figure(
            NAME,
            f"list API {app_rate:.0f} req/s ({errors} errors, {portal_requests} portal requests) = "
            f"{ratio:.2f} x a minimal Flask JSON view ({base_rate:.0f} req/s), wrk {CONNECTIONS} connections, "
            f"median of {rounds} alternating {seconds} s runs (each pair {min(ratios):.2f}-{max(ratios):.2f} x)",
            f">= {TARGET:g} x",
            ratio >= TARGET,
            ratio,
        ),
        Figure(
            NAME,
            f"the same minimal view making the one Redis round trip a reload may make: {with_redis:.0f} req/s = "
            f"{median([each.with_redis / each.base for each in runs]):.2f} x the minimal view; the list API "
            f"{median([each.app / each.with_redis for each in runs]):.2f} x this one",
            value=with_redis / base_rate,
        ),
    ]
