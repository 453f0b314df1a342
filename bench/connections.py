"""6. Connections: TCP connections the app opens to the portal per 100 REST calls in one worker.

One gunicorn worker serves list requests (``?fresh=1``: read from the portal, not the
cache) from four clients at once; the sandbox counts the connections its portal server
accepts and the REST requests it answers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from bench.stack import Frame, Options, Stack, running_stack
from bench.stats import Figure
from sandbox import data

NAME = "connections"
CLIENTS = 4
MOST = 4  # one per request in flight at once


def _lists(stack: Stack, frame: Frame, count: int) -> None:
    with requests.Session() as http:
        for _ in range(count):
            http.get(stack.api("/flows?fresh=1"), headers=frame.headers, timeout=30).raise_for_status()


def run(options: Options) -> list[Figure]:
    lists = 52  # two REST requests each: 104 calls
    with running_stack(options, NAME, workers=1) as stack:
        stack.know_flows(stack.add_flows(10))
        frame = stack.open_page(data.ADMIN)
        stack.slow_down()
        stack.sandbox.reset_counters()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(lambda _: _lists(stack, frame, lists // CLIENTS), range(CLIENTS)))
        opened, calls = stack.sandbox.connections_opened, stack.sandbox.rest_requests
    per_100 = opened / calls * 100
    return [
        Figure(
            NAME,
            f"{per_100:.1f} connections per 100 REST calls ({opened} for {calls}; 1 worker, {CLIENTS} clients)",
            f"<= {MOST}",
            per_100 <= MOST,
            per_100,
        )
    ]
