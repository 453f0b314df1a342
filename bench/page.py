"""2. Page latency: opening the flows page (the portal's frame POST) with 10, 200 and 1,000 flows,
on a portal with ``tasks.flow.Flow.list`` and on an older one without it.

The admin sees every flow, so each open reads all of them. With the list: one ``batch`` of its
pages (50 rows each), plus one for owner names and the admin flag. Without it: one ``batch`` per
50 known flows (``tasks.flow.Flow.get``), plus the same one; the older portal's answer that the
list is absent is remembered by the warm-up open, as it is for a day on a real one. The portal's
REST requests per open are counted by the sandbox; the ``app.info`` check of the frame goes to
the authorization server and is counted apart.
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
        flow_ids = list(stack.sandbox.world.flows)  # the seeded ones: the list shows them too
        for size in sizes:
            flow_ids += stack.add_flows(size - len(flow_ids))
            stack.know_flows(flow_ids)
            for listed, portal in ((True, "with the list"), (False, "without it")):
                stack.use_flow_list(listed)
                stack.slow_down()
                _open(stack, http, size)  # warm: owner names cached from now on, like any second open
                runs = [_open(stack, http, size) for _ in range(opens)]
                token = stack.sandbox.issue_tokens(data.ADMIN)["access_token"]
                round_trip = median([stack.bare_round_trip(http, token) for _ in range(opens)])
                stack.sandbox.settings.latency = stack.sandbox.settings.auth_latency = 0.0  # quick set-up
                took = median([elapsed for elapsed, _, _ in runs])
                requests_per_open = max(rest for _, rest, _ in runs)
                checks = max(check for _, _, check in runs)
                allowed = 2 if listed else math.ceil(size / 50) + 1
                figures += [
                    Figure(
                        NAME,
                        f"{size} flows {portal}: median open {ms(took)} = {took / round_trip:.1f} x a bare "
                        f"portal round trip ({ms(round_trip)}); n={opens}, {checks} app.info check per open",
                        value=took,
                    ),
                    Figure(
                        NAME,
                        f"{size} flows {portal}: {requests_per_open} portal REST requests per open",
                        f"<= {allowed}",
                        requests_per_open <= allowed,
                        requests_per_open,
                    ),
                ]
    return figures
