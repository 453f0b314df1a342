"""7. First open after install: how long until the page shows every flow, with the portal's flow
list (``tasks.flow.Flow.list``) and on an older portal without it.

The portal holds its flows before the app arrives: half of them carry a task, the other half
only the id scan finds. The clock starts when the administrator opens the app for the first
time (the installer page, which starts discovery), runs through ``installFinish`` and the page
open the portal does next, and stops when the page shows every flow: at once, or at one of the
reloads the page makes while discovery runs (every 3 s, ``POLL_MS`` in ``static/flows.js``).
"""

from __future__ import annotations

import time

import requests

from bench.stack import Frame, Options, running_stack
from bench.stats import Figure
from sandbox import data

NAME = "first-open"
#: seconds between the page's reloads while discovery runs (``POLL_MS`` in static/flows.js)
PAGE_POLL = 3.0
#: the longest the bench waits for every flow to show
GIVE_UP = 120.0


def _shown(frame: Frame) -> int:
    return len(frame.data["flows"])


def _first_open(options: Options, size: int, listed: bool) -> tuple[float, float, int, int]:
    """Seconds from the installer to the page open, then to every flow shown; reloads and requests."""
    mode = "list" if listed else "no-list"
    with running_stack(options, f"{NAME}-{size}-{mode}", install=False) as stack, requests.Session() as http:
        stack.use_flow_list(listed)
        stack.sandbox.seed_many_flows(size // 2, with_tasks=True)
        stack.sandbox.seed_many_flows(size - size // 2 - 6)  # the 6 seeded flows count too
        stack.slow_down()
        stack.sandbox.reset_counters()
        started = time.perf_counter()
        stack.install(http)
        frame = stack.open_page(data.ADMIN, http)  # what the portal opens after installFinish
        opened = time.perf_counter() - started
        reloads = 0
        flows, discovering = _shown(frame), frame.data["discovering"]
        while flows < size:
            if not discovering or time.perf_counter() - started > GIVE_UP:
                raise RuntimeError(f"{mode}: the page shows {flows} of {size} flows and stopped looking")
            time.sleep(PAGE_POLL)  # the page's own rhythm, not a wait for an outcome
            answer = http.get(stack.api("/flows"), headers=frame.headers, timeout=60)
            answer.raise_for_status()
            reloads += 1
            flows, discovering = len(answer.json()["flows"]), answer.json()["discovering"]
        return opened, time.perf_counter() - started, reloads, stack.sandbox.rest_requests


def run(options: Options) -> list[Figure]:
    sizes = (20,) if options.quick else (200, 1000)
    figures = []
    for size in sizes:
        for listed, portal in ((True, "with the list"), (False, "without it")):
            opened, every, reloads, portal_requests = _first_open(options, size, listed)
            figures.append(
                Figure(
                    NAME,
                    f"{size} flows {portal}: every flow shows {every:.2f} s after the installer opened "
                    f"(page open at {opened:.2f} s, {reloads} reloads of the page; "
                    f"{portal_requests} portal requests in all)",
                    value=every,
                )
            )
    return figures
