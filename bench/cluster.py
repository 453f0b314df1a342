"""11. Two app servers, one Redis Cluster: the app's guarantees hold across servers, and what a second one adds.

Two gunicorn instances on two ports (as two machines would run them, each with the
Procfile's settings) share a Redis Cluster of three masters; the jobs live on a plain
Redis beside it (RQ cannot run on a Cluster). Every API call goes to the next server in
turn. Measured:

- the refresh storm (benchmark 3) over both: one refresh grant per user across both;
- one flow switched to the same state from both servers at once: one toggle;
- throughput of the cached list (benchmark 4): both servers loaded at once against one;
- the rate-limit minute (benchmark 5) over both, on a stack with the portal's limit: the
  portal never refuses.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from bench import ratelimit, storm, throughput
from bench.stack import Frame, Options, Stack, running_stack
from bench.stats import Figure, median
from sandbox import data

NAME = "cluster"
SERVERS = 2
WORKERS = 4  # per server: gunicorn.conf.py's 2 x cores on this machine
RACERS = ((data.ADMIN, 0), (data.ADMIN, 1), (data.OWNER, 0), (data.OWNER, 1))  # (user, server)


def _switch(
    stack: Stack, frame: Frame, server: int, flow_id: int, desired: bool, start: threading.Barrier
) -> int:
    with requests.Session() as http:
        start.wait()
        url = f"{stack.apps[server].url}/api/flows/{flow_id}"
        answer = http.put(url, json={"active": desired}, headers=frame.headers, timeout=60)
        if answer.status_code == 200 and answer.json().get("active") is not desired:
            return -1  # a 200 that reports another state than the one asked for
        return answer.status_code


def races(stack: Stack, rounds: int) -> Figure:
    """``rounds`` times: two users ask both servers at once for the same state of one flow."""
    flow_id = stack.add_flows(1)[0]
    stack.know_flows([flow_id])
    frames = {user: stack.open_page(user) for user in {user for user, _ in RACERS}}
    stack.slow_down()
    stack.sandbox.reset_counters()
    statuses: Counter[int] = Counter()
    for _ in range(rounds):
        desired = not stack.sandbox.flow(flow_id).active
        start = threading.Barrier(len(RACERS))
        with ThreadPoolExecutor(len(RACERS)) as pool:
            asked = [
                pool.submit(_switch, stack, frames[user], server, flow_id, desired, start)
                for user, server in RACERS
            ]
            statuses.update(answer.result() for answer in asked)
    toggles = sum(1 for change in stack.sandbox.flow_changes() if change.flow_id == flow_id)
    return Figure(
        NAME,
        f"{toggles} toggles for {rounds} rounds of {len(RACERS)} simultaneous switches of one flow to one state "
        f"over {SERVERS} servers (answers {dict(statuses)})",
        f"{rounds} (one per round)",
        toggles == rounds and statuses[-1] == 0,
        toggles,
    )


def two_against_one(stack: Stack, quick: bool) -> Figure:
    """The cached list loaded through one server, then through both at once (same connections), in
    alternating runs."""
    session = throughput.cached_list_session(stack)
    urls = [f"{app.url}/api/flows" for app in stack.apps]
    if not quick:
        throughput.wrk_all(urls, 1, session)  # warm
    rounds, seconds = (1, 1) if quick else (throughput.ROUNDS, throughput.SECONDS)
    runs = [
        (
            throughput.wrk(urls[0], seconds, session)[0],
            throughput.wrk_all(urls, seconds, session),
        )
        for _ in range(rounds)
    ]
    one, two = median([one for one, _ in runs]), median([two for _, (two, _) in runs])
    ratio = median([two / one for one, (two, _) in runs])
    failed = sum(failed for _, (_, failed) in runs)
    return Figure(
        NAME,
        f"list API through {SERVERS} servers {two:.0f} req/s = {ratio:.2f} x one server ({one:.0f} req/s), "
        f"wrk {throughput.CONNECTIONS} connections in all, {failed} errors, median of {rounds} alternating runs",
        value=ratio,
    )


def run(options: Options) -> list[Figure]:
    where = f"{SERVERS} servers x {WORKERS} workers, Redis Cluster"
    common = {"workers": WORKERS, "servers": SERVERS, "cluster": True}
    with running_stack(options, NAME, **common) as stack:
        figures = storm.measure(stack, *storm.sizes(options), name=NAME, where=where)
        figures.append(races(stack, 2 if options.quick else 10))
        figures.append(two_against_one(stack, options.quick))
    load = ratelimit.load_for(options)
    with running_stack(
        options, f"{NAME}-ratelimit", app_rate_limit=ratelimit.app_limit(load), **common
    ) as stack:
        figures += ratelimit.measure(stack, load, name=NAME)
    return figures
