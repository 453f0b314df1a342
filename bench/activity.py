"""9. The activity view over 100,000 entries: time to the first page, and the whole log as CSV.

The portal's stream is filled straight in Redis (entries like the switches write, spread
over a few users and flows), then the view is asked through the app as an administrator
(the whole portal, newest first), filtered by a user with one entry in 200 (read through
that user's index), and as that user (their own entries; the flows they see come from
their cached list). No portal request is needed for any of them.
"""

from __future__ import annotations

import time

import requests

from bench.stack import Options, Stack, running_stack
from bench.stats import Figure, median, ms
from sandbox import data
from services.activity import flow_index_key, flows_key, people_key, stream_key, user_index_key

NAME = "activity"


def _fill(stack: Stack, entries: int, rare_user: int, flow_ids: list[int]) -> None:
    """Entries and their indexes as the switches' release script writes them (``RECORD_LUA``)."""
    member = stack.member_id
    people = {data.ADMIN: "Anna Admin", data.OWNER: "Oleg Owner", rare_user: "Rare User"}
    pipe = stack.redis.pipeline(transaction=False)
    for n in range(entries):
        user = rare_user if n % 200 == 0 else (data.ADMIN, data.OWNER)[n % 2]
        flow = flow_ids[n % len(flow_ids)]
        stream_id = f"{1_700_000_000_000 + n}-0"
        pipe.xadd(stream_key(member), {
            "user": user, "user_name": people[user], "flow": flow, "flow_name": f"Flow #{flow}",
            "from": n % 2, "to": 1 - n % 2, "how": ("switch", "bulk", "schedule")[n % 3],
            "result": "done" if n % 7 else "refused",
            "answer": "" if n % 7 else "Access denied or flow not found",
        }, id=stream_id)
        pipe.xadd(user_index_key(member, user), {"flow": flow}, id=stream_id)
        pipe.xadd(flow_index_key(member, flow), {"user": user}, id=stream_id)
        if n % 5000 == 4999:
            pipe.execute()
    pipe.hset(people_key(stack.member_id), mapping={str(k): v for k, v in people.items()})
    pipe.hset(flows_key(stack.member_id), mapping={str(f): f"Flow #{f}" for f in flow_ids})
    pipe.execute()


def _first_page(http: requests.Session, stack: Stack, headers: dict[str, str], query: dict) -> tuple[float, int]:
    stack.sandbox.reset_counters()
    started = time.perf_counter()
    answer = http.get(stack.api("/activity"), params=query, headers=headers, timeout=60)
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    if not answer.json()["entries"]:
        raise RuntimeError(f"an empty first page for {query}")
    return elapsed, stack.sandbox.rest_requests


def run(options: Options) -> list[Figure]:
    entries = 5_000 if options.quick else 100_000
    asks = 3 if options.quick else 9
    figures = []
    with running_stack(options, NAME, app_env={"ACTIVITY_MAX_ENTRIES": str(entries * 2)}) as stack, \
            requests.Session() as http:
        rare_user = stack.add_users(1)[0]
        flow_ids = stack.add_flows(20, team=[rare_user])
        stack.know_flows(flow_ids)
        started = time.perf_counter()
        _fill(stack, entries, rare_user, flow_ids)
        filled = time.perf_counter() - started
        admin = stack.open_page(data.ADMIN, http)
        rare = stack.open_page(rare_user, http)
        stack.slow_down()
        cases = [
            ("an administrator, the whole portal", admin.headers, {}),
            ("an administrator, filtered by a user with 1 entry in 200", admin.headers, {"user": rare_user}),
            ("that user, their own entries", rare.headers, {}),
        ]
        for label, headers, query in cases:
            runs = [_first_page(http, stack, headers, query) for _ in range(asks)]
            took = median([elapsed for elapsed, _ in runs])
            figures.append(Figure(
                NAME,
                f"{entries:,} entries, {label}: first page in median {ms(took)}; "
                f"{max(rest for _, rest in runs)} portal requests; n={asks}",
                value=took,
            ))
        started = time.perf_counter()
        csv = http.get(stack.api("/activity.csv"), headers=admin.headers, timeout=300)
        csv.raise_for_status()
        took = time.perf_counter() - started
        rows = csv.content.count(b"\r\n") - 1
        size = stack.redis.memory_usage(stream_key(stack.member_id)) or 0
        indexes = sum(
            stack.redis.memory_usage(key) or 0
            for key in stack.redis.scan_iter(f"{stream_key(stack.member_id)}:*")
            if ":user:" in key or ":flow:" in key
        )
        figures += [
            Figure(NAME, f"the whole log as CSV: {rows:,} rows, {len(csv.content) / 1e6:.1f} MB in {took:.2f} s"),
            Figure(NAME, f"Redis memory: {size / entries:.0f} bytes per entry, {indexes / entries:.0f} more for "
                         f"its two index ids ({(size + indexes) / 1e6:.1f} MB for {entries:,}); filled in {filled:.1f} s"),
        ]
    return figures
