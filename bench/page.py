"""2. Page latency: opening the flows page (the portal's frame POST) with 10, 200 and 1,000 flows,
on a portal with ``tasks.flow.Flow.list`` and on an older one without it.

The admin sees every flow, so each open reads all of them. With the list: one ``batch`` of its
pages (50 rows each), plus one for owner names and the admin flag. Without it: one ``batch`` per
50 known flows (``tasks.flow.Flow.get``), plus the same one; the older portal's answer that the
list is absent is remembered by the warm-up open, as it is for a day on a real one. The batches
go side by side as far as the portal's budget allows: the app runs with Bitrix24's default limit
(50/2), and every open starts with the budget unused, as opens minutes apart do. The portal's
REST requests per open, and the most of them in flight at once, are counted by the sandbox; the
``app.info`` check of the frame goes to the authorization server and is counted apart.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import requests

from b24.http import Transport
from b24.ratelimit import SAFETY_MARGIN, USER_SHARE, bucket_key
from bench.stack import Options, Stack, running_stack
from bench.stats import Figure, median, ms
from sandbox import data

NAME = "page"
LIMIT = "50/2"  # Bitrix24's default plan
MOST_ROUND_TRIPS = 6  # for 1,000 flows without the list (issue 10)


@dataclass(frozen=True)
class Open:
    """One page open: its wall time and what the portal saw of it."""

    elapsed: float
    requests: int  # portal REST requests
    at_once: int  # the most of them in flight at once
    checks: int  # app.info checks (authorization server)


def _open(stack: Stack, http: requests.Session, known: int) -> Open:
    stack.redis.delete(bucket_key(stack.member_id))
    stack.sandbox.reset_counters()
    started = time.perf_counter()
    frame = stack.open_page(data.ADMIN, http)
    elapsed = time.perf_counter() - started
    if len(frame.data["flows"]) != known:
        raise RuntimeError(f"the page listed {len(frame.data['flows'])} flows, not {known}")
    sandbox = stack.sandbox
    return Open(elapsed, sandbox.rest_requests, sandbox.most_in_flight, sandbox.app_info_checks)


def run(options: Options) -> list[Figure]:
    sizes = (10, 60) if options.quick else (10, 200, 1000)
    opens = 2 if options.quick else 5
    share = int((int(LIMIT.split("/")[0]) - SAFETY_MARGIN) * USER_SHARE)
    figures = []
    portal_client = Transport()
    with running_stack(options, NAME, app_rate_limit=LIMIT) as stack, requests.Session() as http:
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
                round_trip = median([stack.bare_round_trip(portal_client, token) for _ in range(opens)])
                stack.sandbox.settings.latency = stack.sandbox.settings.auth_latency = 0.0  # quick set-up
                took = median([run.elapsed for run in runs])
                requests_per_open = max(run.requests for run in runs)
                at_once = max(run.at_once for run in runs)
                checks = max(run.checks for run in runs)
                allowed = 2 if listed else math.ceil(size / 50) + 1
                target = size == sizes[-1] and not listed and not options.quick
                figures += [
                    Figure(
                        NAME,
                        f"{size} flows {portal}: median open {ms(took)} = {took / round_trip:.1f} x a bare "
                        f"portal round trip ({ms(round_trip)}); n={opens}, {checks} app.info check per open",
                        f"<= {MOST_ROUND_TRIPS} x" if target else "",
                        took / round_trip <= MOST_ROUND_TRIPS if target else None,
                        took / round_trip,
                    ),
                    Figure(
                        NAME,
                        f"{size} flows {portal}: {requests_per_open} portal REST requests per open, at most "
                        f"{at_once} at once (limit {LIMIT}: a user's share of the burst is {share})",
                        f"<= {allowed}",
                        requests_per_open <= allowed,
                        requests_per_open,
                    ),
                ]
    return figures
