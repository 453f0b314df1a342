"""8. Bulk switching: "Pause selected" / "Resume selected" for 25, 100 and 500 flows.

The admin switches every flow (all of them differ from the state asked for): reads in
batches of 50, then the activates with their re-reads 25 flows a batch, 4 requests in
flight at once. Portal REST requests are counted by the sandbox; wall time is given as
a multiple of one bare portal round trip sent from here in the same run.
"""

from __future__ import annotations

import math
import time

import requests

from bench.stack import Options, Stack, running_stack
from bench.stats import Figure, median, ms
from sandbox import data

NAME = "bulk"


def _bulk(stack: Stack, http: requests.Session, headers: dict[str, str], ids: list[int], active: bool) -> tuple[float, int]:
    """One bulk request; its wall time and the portal REST requests it caused."""
    stack.sandbox.reset_counters()
    started = time.perf_counter()
    answer = http.post(stack.api("/flows/bulk"), json={"ids": ids, "active": active}, headers=headers, timeout=120)
    elapsed = time.perf_counter() - started
    body = answer.json()
    if answer.status_code != 200 or body["counts"]["changed"] != len(ids):
        raise RuntimeError(f"bulk of {len(ids)} failed: {answer.status_code} {body.get('counts') or body}")
    return elapsed, stack.sandbox.rest_requests


def run(options: Options) -> list[Figure]:
    sizes = (25, 60) if options.quick else (25, 100, 500)
    rounds = 2 if options.quick else 4  # pause and resume alternate
    figures = []
    with running_stack(options, NAME) as stack, requests.Session() as http:
        ids = stack.add_flows(max(sizes))
        stack.know_flows(ids)
        frame = stack.open_page(data.ADMIN, http)
        token = stack.sandbox.issue_tokens(data.ADMIN)["access_token"]
        stack.slow_down()
        for size in sizes:
            chosen = ids[:size]
            runs = [_bulk(stack, http, frame.headers, chosen, active=bool(n % 2)) for n in range(rounds)]
            round_trip = median([stack.bare_round_trip(http, token) for _ in range(5)])
            took = median([elapsed for elapsed, _ in runs])
            sent = max(rest for _, rest in runs)
            batches = math.ceil(size / 50) + math.ceil(size / 25)
            waves = math.ceil(math.ceil(size / 50) / 4) + math.ceil(math.ceil(size / 25) / 4)
            figures += [
                Figure(
                    NAME,
                    f"{size} flows: {sent} portal round trips ({math.ceil(size / 50)} reads + "
                    f"{math.ceil(size / 25)} activate batches)",
                    f"<= {batches}",
                    sent <= batches,
                    sent,
                ),
                Figure(
                    NAME,
                    f"{size} flows: median {ms(took)} = {took / round_trip:.1f} x a bare round trip "
                    f"({ms(round_trip)}); {waves} waves of up to 4 requests; n={rounds}",
                    value=took,
                ),
            ]
    return figures
