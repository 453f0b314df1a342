"""4. Throughput: requests per second of the list API, against a minimal Flask JSON view.

The list is served from the cache in Redis (the page open before the run fills it), as
the page's reloads are; the portal requests made during the run are counted.

Both run under ``gunicorn --config gunicorn.conf.py`` with the same worker settings on
this machine and are loaded by ``wrk`` with the same connections, so their ratio
does not depend on the machine's speed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from bench.stack import Options, Stack, running_stack
from bench.stats import Figure
from core.gunicorn_server import start_gunicorn
from core.redis_server import RedisServer
from sandbox import data

NAME = "throughput"
SCRIPT = Path(__file__).with_name("session_header.lua")
CONNECTIONS = 64
TARGET = 0.5  # of the minimal view's rate (issue 10)


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
    for run_ in runs:
        out, _ = run_.communicate()
        if run_.returncode:
            raise RuntimeError(f"wrk exited with {run_.returncode}:\n{out}")
        rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if rate is None:
            raise RuntimeError(f"unexpected wrk output:\n{out}")
        errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        total += float(rate.group(1))
        failed += int(errors.group(1)) if errors else 0
    return total, failed


def cached_list_session(stack: Stack) -> str:
    """Fill the list cache (a page open with 10 known flows); the session wrk sends."""
    stack.know_flows(stack.add_flows(10))
    frame = stack.open_page(data.ADMIN)
    stack.slow_down()
    return frame.headers["X-Frame-Session"]


def run(options: Options) -> list[Figure]:
    seconds = 1 if options.quick else 10
    with running_stack(options, NAME) as stack:
        session = cached_list_session(stack)
        if not options.quick:
            wrk(stack.api("/flows"), 1, session)  # warm
        stack.sandbox.reset_counters()
        app_rate, app_errors = wrk(stack.api("/flows"), seconds, session)
        portal_requests = stack.sandbox.rest_requests
    directory = options.workdir / f"{NAME}-baseline"
    with RedisServer(directory / "redis", persistent=False) as redis_server:
        baseline = start_gunicorn(
            {},
            redis_url=redis_server.url,
            log_path=directory / "gunicorn.log",
            app="bench.minimal_app:create_app()",
        )
        try:
            if not options.quick:
                wrk(f"{baseline.url}/api/flows", 1)
            base_rate, _ = wrk(f"{baseline.url}/api/flows", seconds)
        finally:
            baseline.stop(graceful=False)
    return [
        Figure(
            NAME,
            f"list API {app_rate:.0f} req/s ({app_errors} errors, {portal_requests} portal requests) = "
            f"{app_rate / base_rate:.2f} x a minimal Flask JSON view ({base_rate:.0f} req/s), "
            f"wrk {CONNECTIONS} connections",
            f">= {TARGET:g} x",
            app_rate / base_rate >= TARGET,
            app_rate / base_rate,
        )
    ]
