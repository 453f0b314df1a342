"""5. Rate-limit discipline: 50 users of one portal switching and browsing for 60 s.

The sandbox portal enforces Bitrix24's default leaky bucket (50 deep, drained at 2 per
second) and answers ``QUERY_LIMIT_EXCEEDED`` when it overflows; the app runs with the
same limit configured. Each user thinks for 2-8 s between actions; one action in ten
is a switch of their own flow, the others reload the list.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass

import requests

from b24.ratelimit import SAFETY_MARGIN, bucket_key
from bench.stack import Frame, Options, Stack, running_stack
from bench.stats import Figure, median, ms, p95

NAME = "ratelimit"
SWITCH_SHARE = 0.1


@dataclass(frozen=True)
class Load:
    users: int
    seconds: float
    think: tuple[float, float]  # seconds between one user's actions
    burst: int  # the portal's bucket, configured alike in the app
    drain: float


FULL = Load(50, 60.0, (2.0, 8.0), 50, 2.0)
# A smaller bucket, so a few seconds are enough to use up the burst.
QUICK = Load(4, 3.0, (0.2, 0.8), 10, 5.0)


def _user(
    stack: Stack, frame: Frame, flow_id: int, until: float, think: tuple[float, float], seed: int
) -> list[tuple[str, int, float]]:
    """One user's actions until ``until``, ``think`` seconds apart: (kind, status, seconds)."""
    rng = random.Random(seed)
    done: list[tuple[str, int, float]] = []
    active = True
    with requests.Session() as http:
        time.sleep(rng.uniform(0, think[0]))
        while time.monotonic() < until:
            started = time.perf_counter()
            if rng.random() < SWITCH_SHARE:
                active = not active
                answer = http.put(
                    stack.api(f"/flows/{flow_id}"), json={"active": active}, headers=frame.headers
                )
                done.append(("switch", answer.status_code, time.perf_counter() - started))
            else:
                answer = http.get(stack.api("/flows"), headers=frame.headers, timeout=60)
                done.append(("list", answer.status_code, time.perf_counter() - started))
            time.sleep(max(0.0, min(rng.uniform(*think), until - time.monotonic())))
    return done


def _sample(stack: Stack, stop: threading.Event, samples: list[tuple[float, int]]) -> None:
    while not stop.is_set():
        samples.append((time.monotonic(), stack.sandbox.rest_requests))
        stop.wait(0.05)


def _rate_beyond_burst(samples: list[tuple[float, int]], depth: int) -> tuple[float, float] | None:
    """Portal requests per second beyond the app's burst allowance, and the seconds measured.

    A bucket ``depth`` deep drained at ``r``/s lets at most ``depth + r * t`` requests through
    in ``t`` seconds, so ``(sent - depth) / t`` is at most ``r`` for an app that keeps to it.
    ``None`` when fewer than ``depth`` requests were sent (the burst was never used up).
    """
    first = next((t for t, count in samples if count > 0), None)
    end, sent = samples[-1]
    if first is None or sent <= depth or end <= first:
        return None
    return (sent - depth) / (end - first), end - first


def _users(
    stack: Stack, load: Load, frames: list[Frame], flow_ids: list[int]
) -> list[tuple[str, int, float]]:
    until = time.monotonic() + load.seconds
    results: list[list[tuple[str, int, float]]] = [[] for _ in frames]

    def act(i: int) -> None:
        results[i] += _user(stack, frames[i], flow_ids[i], until, load.think, seed=i)

    threads = [threading.Thread(target=act, args=(i,)) for i in range(len(frames))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [action for user in results for action in user]


def measure(stack: Stack, load: Load, *, name: str = NAME) -> list[Figure]:
    """``load`` against ``stack`` (started with the load's limit in the app), spread over its app servers."""
    limit = (load.burst, load.drain)
    user_ids = stack.add_users(load.users)
    flow_ids = stack.add_flows(load.users, team=user_ids, owners=user_ids)
    stack.know_flows(flow_ids)
    frames = [stack.open_page(user_id) for user_id in user_ids]  # set-up, not the measured minute
    stack.redis.delete(bucket_key(stack.member_id))
    stack.sandbox.settings.rate_limit = limit  # both buckets start empty
    stack.slow_down()
    stack.sandbox.reset_counters()
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    monitor = threading.Thread(target=_sample, args=(stack, stop, samples))
    monitor.start()
    actions = _users(stack, load, frames, flow_ids)
    stop.set()
    monitor.join()
    refused = stack.sandbox.rejected("QUERY_LIMIT_EXCEEDED")
    beyond = _rate_beyond_burst(samples, load.burst - SAFETY_MARGIN)
    statuses = Counter(status for _, status, _ in actions)
    times = [elapsed for _, _, elapsed in actions]
    busy = statuses[503]
    if beyond is None:
        rate_figure = Figure(name, "the burst was never used up", f"<= {load.drain:g}/s", True)
    else:
        rate, measured = beyond
        rate_figure = Figure(
            name,
            f"{rate:.2f} portal requests/s beyond the burst over {measured:.0f} s "
            f"(drain rate {load.drain:g}/s)",
            f"<= {load.drain:g}/s",
            rate <= load.drain,
            rate,
        )
    return [
        Figure(
            name,
            f"{refused} QUERY_LIMIT_EXCEEDED answers from the portal ({load.users} users, {load.seconds:g} s, "
            f"portal limit {load.burst}/{load.drain:g})",
            "0 visible to users",
            refused == 0,
            refused,
        ),
        rate_figure,
        Figure(
            name,
            f"{len(actions)} user requests: {dict(statuses)}; {busy} 'busy, retrying' answers; "
            f"median {ms(median(times))}, p95 {ms(p95(times))}",
            value=busy,
        ),
    ]


def load_for(options: Options) -> Load:
    return QUICK if options.quick else FULL


def app_limit(load: Load) -> str:
    """The load's portal limit as the app's ``B24_RATE_LIMIT``."""
    return f"{load.burst}/{load.drain:g}"


def run(options: Options) -> list[Figure]:
    load = load_for(options)
    with running_stack(options, NAME, app_rate_limit=app_limit(load)) as stack:
        return measure(stack, load)
