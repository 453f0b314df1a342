"""4. Throughput: requests per second of the list API, against a minimal Flask JSON view.

The list is served from the cache in Redis (the page open before the run fills it), as
the page's reloads are; the portal requests made during the run are counted.

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

from bench.stack import Options, Stack, running_stack
from bench.stats import Figure, median
from core.gunicorn_server import start_gunicorn
from sandbox import data

NAME = "throughput"
SCRIPT = Path(__file__).with_name("session_header.lua")
CONNECTIONS = 64
TARGET = 0.5  # of the minimal view's rate (issue 10)
ROUNDS = 3
SECONDS = 3  # each run (wrk takes whole seconds)


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
    # Three alternating runs of each: on a machine shared with other jobs the load moves, and it
    # moves alike for runs a few seconds apart.
    rounds, seconds = (1, 1) if options.quick else (ROUNDS, SECONDS)
    with running_stack(options, NAME) as stack:
        session = cached_list_session(stack)
        baseline = start_gunicorn(
            {},
            redis_url="redis://127.0.0.1:1/0",  # unused: the minimal view has no Redis
            log_path=options.workdir / NAME / "minimal.log",
            app="bench.minimal_app:create_app()",
        )
        try:
            app_url, base_url = stack.api("/flows"), f"{baseline.url}/api/flows"
            if not options.quick:
                wrk(app_url, 1, session)  # warm
                wrk(base_url, 1)
            stack.sandbox.reset_counters()
            runs = [(wrk(app_url, seconds, session), wrk(base_url, seconds)[0]) for _ in range(rounds)]
            portal_requests = stack.sandbox.rest_requests
        finally:
            baseline.stop(graceful=False)
    ratio = median([app_rate / base_rate for (app_rate, _), base_rate in runs])
    app_rate, base_rate = median([app for (app, _), _ in runs]), median([base for _, base in runs])
    errors = sum(failed for (_, failed), _ in runs)
    return [
        Figure(
            NAME,
            f"list API {app_rate:.0f} req/s ({errors} errors, {portal_requests} portal requests) = "
            f"{ratio:.2f} x a minimal Flask JSON view ({base_rate:.0f} req/s), wrk {CONNECTIONS} connections, "
            f"median of {rounds} alternating {seconds} s runs",
            f">= {TARGET:g} x",
            ratio >= TARGET,
            ratio,
        )
    ]
