"""2. Page latency: opening the flows page (the portal's frame POST) with 10, 200 and 1,000 known flows.

The admin sees every flow, so each open reads all of them: one ``batch`` per 50 known
flows plus one for owner names and the admin flag. The portal's REST requests per
open are counted by the sandbox; the ``app.info`` check of the frame goes to the
authorization server and is counted apart.
"""

from __future__ import annotations

import math
import time

import requests

from bench.stack import Options, Stack, running_stack
from bench.stats import Figure, median, ms
from sandbox import data

NAME = "page"


def _open(stack: Stack, http: requests.Session, known: int) -> tuple[float, int, int]:
    """One page open: wall time, portal REST requests and ``app.info`` checks it caused."""
    stack.sandbox.reset_counters()
    started = time.perf_counter()
    frame = stack.open_page(data.ADMIN, http)
    elapsed = time.perf_counter() - started
    if len(frame.data["flows"]) != known:
        raise RuntimeError(f"the page listed {len(frame.data['flows'])} flows, not {known}")
    return elapsed, stack.sandbox.rest_requests, stack.sandbox.app_info_checks


def run(options: Options) -> list[Figure]:
    sizes = (10, 60) if options.quick else (10, 200, 1000)
    opens = 2 if options.quick else 5
    figures = []
    with running_stack(options, NAME) as stack, requests.Session() as http:
        flow_ids: list[int] = []
        for size in sizes:
            flow_ids += stack.add_flows(size - len(flow_ids))
            stack.know_flows(flow_ids)
            stack.slow_down()
            _open(stack, http, size)  # warm: owner names cached from now on, like any second open
            runs = [_open(stack, http, size) for _ in range(opens)]
            token = stack.sandbox.issue_tokens(data.ADMIN)["access_token"]
            round_trip = median([stack.bare_round_trip(http, token) for _ in range(opens)])
            stack.sandbox.settings.latency = stack.sandbox.settings.auth_latency = 0.0  # quick set-up
            took = median([elapsed for elapsed, _, _ in runs])
            requests_per_open = max(rest for _, rest, _ in runs)
            checks = max(check for _, _, check in runs)
            allowed = math.ceil(size / 50) + 1
            figures += [
                Figure(
                    NAME,
                    f"{size} flows: median open {ms(took)} = {took / round_trip:.1f} x a bare portal "
                    f"round trip ({ms(round_trip)}); n={opens}, {checks} app.info check per open",
                    value=took,
                ),
                Figure(
                    NAME,
                    f"{size} flows: {requests_per_open} portal REST requests per open",
                    f"<= {allowed}",
                    requests_per_open <= allowed,
                    requests_per_open,
                ),
            ]
    return figures
