"""2. Page latency: opening the flows page (the portal's frame POST) with 10, 200 and 1,000 known flows.

The admin sees every flow, so each open reads all of them: one ``batch`` per 50 known
flows plus one for owner names and the admin flag. The batches go side by side as far as
the portal's budget allows: the app runs with Bitrix24's default limit (50/2), and every
open starts with the budget unused, as opens minutes apart do. The portal's REST requests
per open, and the most of them in flight at once, are counted by the sandbox; the
``app.info`` check of the frame goes to the authorization server and is counted apart.
"""

from __future__ import annotations

import math
import time

import requests

from b24.http import Transport
from b24.ratelimit import SAFETY_MARGIN, USER_SHARE, bucket_key
from bench.stack import Options, Stack, running_stack
from bench.stats import Figure, median, ms
from sandbox import data

NAME = "page"
LIMIT = "50/2"  # Bitrix24's default plan
MOST_ROUND_TRIPS = 6  # for 1,000 flows (issue 10)


def _open(stack: Stack, http: requests.Session, known: int) -> tuple[float, int, int, int]:
    """One page open: wall time, portal REST requests, the most at once, and ``app.info`` checks."""
    stack.redis.delete(bucket_key(stack.member_id))
    stack.sandbox.reset_counters()
    started = time.perf_counter()
    frame = stack.open_page(data.ADMIN, http)
    elapsed = time.perf_counter() - started
    if len(frame.data["flows"]) != known:
        raise RuntimeError(f"the page listed {len(frame.data['flows'])} flows, not {known}")
    return elapsed, stack.sandbox.rest_requests, stack.sandbox.most_in_flight, stack.sandbox.app_info_checks


def run(options: Options) -> list[Figure]:
    sizes = (10, 60) if options.quick else (10, 200, 1000)
    opens = 2 if options.quick else 5
    burst = int(LIMIT.split("/")[0])
    figures = []
    portal = Transport()
    with running_stack(options, NAME, app_rate_limit=LIMIT) as stack, requests.Session() as http:
        flow_ids: list[int] = []
        for size in sizes:
            flow_ids += stack.add_flows(size - len(flow_ids))
            stack.know_flows(flow_ids)
            stack.slow_down()
            _open(stack, http, size)  # warm: owner names cached from now on, like any second open
            runs = [_open(stack, http, size) for _ in range(opens)]
            token = stack.sandbox.issue_tokens(data.ADMIN)["access_token"]
            round_trip = median([stack.bare_round_trip(portal, token) for _ in range(opens)])
            stack.sandbox.settings.latency = stack.sandbox.settings.auth_latency = 0.0  # quick set-up
            took = median([elapsed for elapsed, _, _, _ in runs])
            requests_per_open = max(rest for _, rest, _, _ in runs)
            at_once = max(most for _, _, most, _ in runs)
            checks = max(check for _, _, _, check in runs)
            allowed = math.ceil(size / 50) + 1
            largest = size == sizes[-1] and not options.quick
            figures += [
                Figure(
                    NAME,
                    f"{size} flows: median open {ms(took)} = {took / round_trip:.1f} x a bare portal "
                    f"round trip ({ms(round_trip)}); n={opens}, {checks} app.info check per open",
                    f"<= {MOST_ROUND_TRIPS} x" if largest else "",
                    took / round_trip <= MOST_ROUND_TRIPS if largest else None,
                    took / round_trip,
                ),
                Figure(
                    NAME,
                    f"{size} flows: {requests_per_open} portal REST requests per open, at most {at_once} at once "
                    f"(portal limit {LIMIT}: a user's share of the burst is {int((burst - SAFETY_MARGIN) * USER_SHARE)})",
                    f"<= {allowed}",
                    requests_per_open <= allowed,
                    requests_per_open,
                ),
            ]
    return figures
