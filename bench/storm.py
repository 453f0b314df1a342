"""3. Refresh storm: every access token expires, then 4 workers serve 200 concurrent requests for 20 users.

The portal refuses the expired tokens with ``expired_token``; each user's refresh must
happen once across all workers (a second grant would spend the rotated refresh token)
and no request may fail. The list is read with ``?fresh=1`` so every request goes to the
portal (the cache in Redis would answer without a token).
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.stack import Frame, Options, Stack, running_stack
from bench.stats import Figure, median, ms

NAME = "storm"
WORKERS = 4


def _list(stack: Stack, frame: Frame, start: threading.Barrier) -> tuple[int, float]:
    with requests.Session() as http:
        start.wait()
        answer = http.get(stack.api("/flows?fresh=1"), headers=frame.headers, timeout=60)
        return answer.status_code, answer.elapsed.total_seconds()


def measure(stack: Stack, users: int, per_user: int, *, name: str = NAME, where: str = "") -> list[Figure]:
    """The storm against ``stack`` (its API calls spread over its app servers): the two figures."""
    total = users * per_user
    user_ids = stack.add_users(users)
    stack.know_flows(stack.add_flows(10, team=user_ids))
    frames = [stack.open_page(user_id) for user_id in user_ids]
    stack.slow_down()
    stack.sandbox.expire_access_tokens()
    stack.sandbox.reset_counters()
    start = threading.Barrier(total)
    with ThreadPoolExecutor(total) as pool:
        answers = list(pool.map(lambda i: _list(stack, frames[i % users], start), range(total)))
    grants = stack.sandbox.refresh_grants
    statuses = Counter(status for status, _ in answers)
    failed = total - statuses[200]
    took = median([elapsed for _, elapsed in answers])
    return [
        Figure(
            name,
            f"{grants} refresh grants for {users} users ({total} concurrent requests, {where or f'{WORKERS} workers'})",
            f"{users} (one per user)",
            grants == users,
            grants,
        ),
        Figure(
            name,
            f"{failed} failed requests (statuses {dict(statuses)}); median answer {ms(took)}",
            "0",
            failed == 0,
            failed,
        ),
    ]


def sizes(options: Options) -> tuple[int, int]:
    """Users, and requests per user."""
    return (4, 5) if options.quick else (20, 10)


def run(options: Options) -> list[Figure]:
    with running_stack(options, NAME, workers=WORKERS) as stack:
        return measure(stack, *sizes(options))
