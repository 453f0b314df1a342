"""12. Memory: the Redis bytes a portal, each of its users and each known flow take, and 10,000 such portals.

One portal is installed and used as people use it: ``USERS`` users (the installing admin
and others) each open the page once, ``FLOWS`` flows are known and read, and every flow's owner switches
it once. Then every key of the portal is weighed with ``MEMORY USAGE`` (exact: ``SAMPLES 0``)
and sorted by what it belongs to: the portal (records, sets and hashes that grow with it),
a user (their tokens, their visibility entry, the verified frame token of their page open),
or a flow (its cache entry, its activity index). Keys that live a day or less are caches:
they exist only for portals in use lately; the rest (no lifetime, or a retention of months
like the activity log's) is what every installed portal keeps.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import requests

from bench.stack import Options, Stack, running_stack
from bench.stats import Figure

NAME = "memory"
USERS, FLOWS = 50, 30
PORTALS = 10_000

# What each key belongs to, by its name after the portal's prefix "fs:{M}:".
_PER_USER = re.compile(r"(user|visible|fresh|switching|tz):\d+$|verified:")
_PER_FLOW = re.compile(r"flow:\d+$")
_TRANSIENT = re.compile(r"lock:")  # held while something runs: not part of what a portal keeps
CACHE_MS = 24 * 3600 * 1000  # a key that lives this long or less is a cache


@dataclass
class Weighed:
    """Bytes of one kind of key: every key, and those a portal keeps (not caches)."""

    keys: int = 0
    bytes: int = 0
    durable: int = 0

    def add(self, size: int, cache: bool) -> None:
        self.keys += 1
        self.bytes += size
        self.durable += 0 if cache else size


def _kind(name: str) -> str:
    if _PER_USER.search(name):
        return "user"
    if _PER_FLOW.search(name):
        return "flow"
    return "portal"


def weigh(stack: Stack) -> tuple[dict[str, Weighed], dict[str, Weighed]]:
    """Every key of the portal by kind; and by key name pattern (ids replaced by <n>)."""
    prefix = f"fs:{{{stack.member_id}}}:"
    kinds: dict[str, Weighed] = defaultdict(Weighed)
    names: dict[str, Weighed] = defaultdict(Weighed)
    for key in stack.redis.scan_iter(match=prefix + "*", count=1000):
        name = key[len(prefix) :]
        if _TRANSIENT.match(name):
            continue
        size, lifetime = int(stack.redis.memory_usage(key, samples=0) or 0), stack.redis.pttl(key)
        cache = 0 < lifetime <= CACHE_MS
        kinds[_kind(name)].add(size, cache)
        names[re.sub(r"\d+$|[0-9a-f]{64}$", "<n>", name)].add(size, cache)
    return kinds, names


def use(stack: Stack, users: int, flows: int) -> None:
    """The portal as ``users`` more people (and its admin) used it: each opened the page; each of
    ``flows`` owners switched theirs once."""
    user_ids = stack.add_users(users)
    flow_ids = stack.add_flows(flows, team=user_ids, owners=user_ids[:flows])
    stack.know_flows(flow_ids)
    frames = [stack.open_page(user_id) for user_id in user_ids]
    with requests.Session() as http:
        for frame, flow_id in zip(frames, flow_ids, strict=False):
            active = stack.sandbox.flow(flow_id).active
            answer = http.put(
                stack.api(f"/flows/{flow_id}"), json={"active": not active}, headers=frame.headers
            )
            answer.raise_for_status()


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def run(options: Options) -> list[Figure]:
    with running_stack(options, NAME, workers=2) as stack:
        use(stack, *((5, 3) if options.quick else (USERS - 1, FLOWS)))
        kinds, names = weigh(stack)
    portal, user, flow = kinds["portal"], kinds["user"], kinds["flow"]
    users, flows = names["user:<n>"].keys, names["flow:<n>"].keys  # the installing admin is a user too
    total = portal.bytes + user.bytes + flow.bytes
    projected = PORTALS * (portal.bytes + USERS * user.bytes / users + FLOWS * flow.bytes / flows)
    kept = PORTALS * (portal.durable + USERS * user.durable / users + FLOWS * flow.durable / flows)
    heaviest = ", ".join(
        f"{name} {_size(w.bytes)}" for name, w in sorted(names.items(), key=lambda item: -item[1].bytes)[:6]
    )
    return [
        Figure(
            NAME,
            f"per portal: {_size(portal.bytes)} in {portal.keys} keys ({_size(portal.durable)} kept, not caches)",
        ),
        Figure(
            NAME,
            f"per user: {_size(user.bytes / users)} ({_size(user.durable / users)} kept; "
            f"{user.keys / users:.1f} keys)",
        ),
        Figure(
            NAME,
            f"per known flow: {_size(flow.bytes / flows)} ({_size(flow.durable / flows)} kept)",
        ),
        Figure(NAME, f"one portal of {users} users and {flows} flows: {_size(total)}; heaviest: {heaviest}"),
        Figure(
            NAME,
            f"{PORTALS:,} portals of {USERS} users and {FLOWS} flows: {_size(projected)} all in use, "
            f"{_size(kept)} kept when the caches are cold (MEMORY USAGE; allocator overhead comes on top)",
            value=projected,
        ),
    ]
