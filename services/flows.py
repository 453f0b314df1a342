"""Flows as one user sees them, and switching a flow to a desired state.

Everything here runs with the user's own token, so Bitrix24 decides what the user
may see and switch. ``tasks.flow.Flow.activate`` is a toggle that does not say the
new state, so a switch reads first, toggles only when the state differs, and
re-reads in the same ``batch``; a per-flow Redis lock makes concurrent requests
for one flow end in one ``activate``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import redis
from flask import current_app, has_app_context

from b24.client import chunked
from b24.errors import AuthError, B24Error, FlowAccessDenied, FlowNotFound, OperationTimeLimit, RateLimited
from oauth.lock import RedisLock
from oauth.store import portal_key
from services import flow_cache

if TYPE_CHECKING:
    from b24.client import RestClient

GET = "tasks.flow.Flow.get"
ACTIVATE = "tasks.flow.Flow.activate"
BATCH_SIZE = 50
READ_THREADS = 4
USER_NAMES_TTL = 24 * 3600

T = TypeVar("T")


def flows_key(member_id: str) -> str:
    return portal_key(member_id, "flows")


def users_key(member_id: str) -> str:
    return portal_key(member_id, "users")


def flow_lock_key(member_id: str, flow_id: int) -> str:
    return portal_key(member_id, "lock", "flow", int(flow_id))


def flow_url(portal_origin: str, user_id: int, flow_id: int) -> str:
    """The flow in the portal's flow list, filtered to this one flow."""
    return (
        f"{portal_origin}/company/personal/user/{user_id}/tasks/flow/"
        f"?ID_numsel=exact&ID_from={flow_id}&apply_filter=Y"
    )


@dataclass(frozen=True)
class Flow:
    id: int
    name: str
    description: str
    active: bool
    efficiency: int
    owner_id: int
    creator_id: int
    owner_name: str
    url: str
    mine: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "active": self.active,
            "efficiency": self.efficiency,
            "owner": {"id": self.owner_id, "name": self.owner_name},
            "url": self.url,
            "mine": self.mine,
        }


@dataclass(frozen=True)
class FlowPage:
    flows: list[Flow]
    is_admin: bool
    read_at: float = 0.0  # when the oldest part of it was read from Bitrix24 (epoch seconds)
    cached: bool = False


@dataclass(frozen=True)
class SwitchResult:
    """The state Bitrix24 reports after a switch; ``error`` when it refused or failed."""

    id: int
    active: bool
    changed: bool
    error: B24Error | None = None


class FlowBusy(Exception):
    """Another switch of the same flow held the lock for longer than we wait."""


def known_ids(r: redis.Redis, member_id: str) -> list[int]:
    return sorted(int(flow_id) for flow_id in r.smembers(flows_key(member_id)))


def remember(r: redis.Redis, member_id: str, ids: Iterable[int]) -> int:
    """Add flow ids to the portal's known set; returns how many were new."""
    ids = [int(flow_id) for flow_id in ids]
    added = r.sadd(flows_key(member_id), *ids) if ids else 0
    if added:
        flow_cache.known_set_changed(r, member_id)
    return added


def forget(r: redis.Redis, member_id: str, ids: Iterable[int]) -> None:
    """Drop flow ids that Bitrix24 says no longer exist from the known set."""
    ids = [int(flow_id) for flow_id in ids]
    if ids and r.srem(flows_key(member_id), *ids):
        flow_cache.known_set_changed(r, member_id)


def _in_threads(func: Callable[[T], Any], items: list[T]) -> list[Any]:
    """``map`` over a small thread pool (REST round trips mostly wait)."""
    if len(items) <= 1:
        return [func(item) for item in items]
    app = current_app._get_current_object() if has_app_context() else None  # type: ignore[attr-defined]

    def run(item: T) -> Any:
        if app is None:
            return func(item)
        with app.app_context():
            return func(item)

    with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(items))) as pool:
        return list(pool.map(run, items))


def read_flows(client: RestClient, ids: list[int]) -> tuple[dict[int, dict], dict[int, B24Error]]:
    """Raw flow objects the token may read, and the per-flow errors, in batches of 50.

    A batch can answer while some of its items were refused for the portal's limits
    (``OPERATION_TIME_LIMIT``); those did not run, so they are read again after a pause.
    """

    def read(chunk: list[int]):  # type: ignore[no-untyped-def]
        # Keys are not bare numbers: PHP would turn "1".."50" into a list.
        return client.batch({f"f{flow_id}": (GET, {"flowId": flow_id}) for flow_id in chunk})

    found: dict[int, dict] = {}
    errors: dict[int, B24Error] = {}
    pending = ids
    for attempt in range(client.max_retries + 1):
        if attempt:
            time.sleep(client.backoff_delay(attempt - 1))
        for batch in _in_threads(read, list(chunked(pending, BATCH_SIZE))):
            for key, flow in batch.results.items():
                if isinstance(flow, dict):
                    found[int(key[1:])] = flow
                    errors.pop(int(key[1:]), None)
            for key, error in batch.errors.items():
                errors[int(key[1:])] = error
        pending = [flow_id for flow_id, error in errors.items() if error.retryable]
        if not pending:
            break
    return found, errors


def _cached_names(r: redis.Redis, member_id: str, user_ids: set[int]) -> dict[int, str]:
    """The display names of ``user_ids`` that are cached for the portal."""
    ids = sorted(user_ids)
    cached = zip(ids, r.hmget(users_key(member_id), ids), strict=True) if ids else ()
    return {user_id: name for user_id, name in cached if name is not None}


def _names_and_admin(
    client: RestClient, r: redis.Redis, member_id: str, user_ids: set[int]
) -> tuple[dict[int, str], bool]:
    """Display names for ``user_ids`` (cached per portal) and whether the caller is an admin.

    Both travel in one ``batch``: the page pays one round trip for them.
    """
    names = _cached_names(r, member_id, user_ids)
    missing = sorted(user_ids - names.keys())
    commands: dict[str, tuple[str, dict]] = {"admin": ("user.admin", {})}
    for index, chunk in enumerate(chunked(missing, BATCH_SIZE)):
        commands[f"users{index}"] = ("user.get", {"FILTER": {"ID": chunk}})
    batch = client.batch(commands)
    fetched: dict[int, str] = {}
    for key, users in batch.results.items():
        if key.startswith("users") and isinstance(users, list):
            for user in users:
                name = " ".join(part for part in (user.get("NAME"), user.get("LAST_NAME")) if part)
                fetched[int(user["ID"])] = name or f"#{user['ID']}"
    if fetched:
        pipe = r.pipeline()
        pipe.hset(users_key(member_id), mapping={str(k): v for k, v in fetched.items()})
        pipe.expire(users_key(member_id), USER_NAMES_TTL)
        pipe.execute()
    return names | fetched, bool(batch.results.get("admin"))


def _flow(raw: dict, *, user_id: int, portal_origin: str, names: dict[int, str]) -> Flow:
    flow_id = int(raw["id"])
    owner_id = int(raw.get("ownerId") or 0)
    creator_id = int(raw.get("creatorId") or 0)
    return Flow(
        id=flow_id,
        name=str(raw.get("name") or ""),
        description=str(raw.get("description") or ""),
        active=bool(raw.get("active")),
        efficiency=int(raw.get("efficiency") or 0),
        owner_id=owner_id,
        creator_id=creator_id,
        owner_name=names.get(owner_id, f"#{owner_id}" if owner_id else ""),
        url=flow_url(portal_origin, user_id, flow_id),
        mine=user_id in (owner_id, creator_id),
    )


def load_page(
    client: RestClient, r: redis.Redis, member_id: str, user_id: int, portal_origin: str
) -> FlowPage:
    """Every known flow this user can read, with owner names, and the user's admin flag.

    Round trips: one ``batch`` per 50 known flows plus one for names and the admin flag.
    Fills the cache that ``cached_page`` answers from.
    """
    pipe = r.pipeline()  # the generation the ids belong to: a later change makes this read stale
    pipe.hget(flow_cache.meta_key(member_id), flow_cache.GENERATION).smembers(flows_key(member_id))
    generation, ids = pipe.execute()
    read_at = time.time()
    raw, errors = read_flows(client, sorted(int(flow_id) for flow_id in ids))
    forget(r, member_id, [flow_id for flow_id, error in errors.items() if isinstance(error, FlowNotFound)])
    owners = {int(flow.get("ownerId") or 0) for flow in raw.values()} - {0}
    names, is_admin = _names_and_admin(client, r, member_id, owners)
    flow_cache.store_flows(r, member_id, raw.values(), read_at)
    # Only a read where every flow was either shown or refused tells what the user may see.
    if all(isinstance(error, FlowAccessDenied) for error in errors.values()):
        flow_cache.store_visible(
            r, member_id, user_id, raw, generation=int(generation or 0), read_at=read_at, is_admin=is_admin
        )
    return _page(raw.values(), user_id, portal_origin, names, is_admin=is_admin, read_at=read_at)


def cached_page(r: redis.Redis, member_id: str, user_id: int, portal_origin: str) -> FlowPage | None:
    """The user's list from the cache (no portal request), or ``None`` when it must be read."""
    cached = flow_cache.load(r, member_id, user_id)
    if cached is None:
        return None
    owners = {int(flow.get("ownerId") or 0) for flow in cached.flows} - {0}
    names = _cached_names(r, member_id, owners)
    if owners - names.keys():
        return None
    return _page(
        cached.flows,
        user_id,
        portal_origin,
        names,
        is_admin=cached.is_admin,
        read_at=cached.read_at,
        cached=True,
    )


def _page(
    raws: Iterable[dict],
    user_id: int,
    portal_origin: str,
    names: dict[int, str],
    *,
    is_admin: bool,
    read_at: float,
    cached: bool = False,
) -> FlowPage:
    flows = [_flow(item, user_id=user_id, portal_origin=portal_origin, names=names) for item in raws]
    flows.sort(key=lambda flow: (flow.name.casefold(), flow.id))
    return FlowPage(flows=flows, is_admin=is_admin, read_at=read_at, cached=cached)


def read_flow(client: RestClient, flow_id: int) -> dict:
    """One flow as the token's user sees it (raises the typed flow error otherwise)."""
    return client.call(GET, {"flowId": flow_id}).result


def describe(
    client: RestClient, r: redis.Redis, member_id: str, user_id: int, portal_origin: str, raw: dict
) -> Flow:
    """A single raw flow with its owner's name, for a flow just added to the list."""
    owner_id = int(raw.get("ownerId") or 0)
    names, _ = _names_and_admin(client, r, member_id, {owner_id} - {0})
    return _flow(raw, user_id=user_id, portal_origin=portal_origin, names=names)


# A whole request refused with one of these statuses never reached the method.
_REFUSED_STATUSES = (400, 401, 403, 404)


def _did_not_run(error: B24Error) -> bool:
    """Whether the toggle certainly did not happen (so the state read before still holds)."""
    return (
        isinstance(error, AuthError | RateLimited | OperationTimeLimit) or error.status in _REFUSED_STATUSES
    )


def _read(client: RestClient, flow_id: int) -> tuple[dict, float]:
    """The raw flow and when the read was sent."""
    read_at = time.time()
    return read_flow(client, flow_id), read_at


def _switch_locked(
    client: RestClient, flow_id: int, desired: bool
) -> tuple[SwitchResult, tuple[dict, float]]:
    """The switch's outcome and its last read of the flow (for the cache)."""
    last = _read(client, flow_id)
    before = bool(last[0].get("active"))
    if before == desired:
        return SwitchResult(flow_id, before, changed=False), last
    sent_at = time.time()
    try:
        # halt: if activate fails the re-read is skipped and `before` is still true.
        batch = client.batch(
            {"activate": (ACTIVATE, {"flowId": flow_id}), "after": (GET, {"flowId": flow_id})},
            halt=True,
            idempotent=False,
        )
    except B24Error as exc:
        if _did_not_run(exc):
            return SwitchResult(flow_id, before, changed=False, error=exc), last
        # Ambiguous (timeout, 5xx): the toggle may or may not have happened. Never
        # repeat it; look at what Bitrix24 says now.
        last = _read(client, flow_id)
        after = bool(last[0].get("active"))
        error = None if after == desired else exc
        return SwitchResult(flow_id, after, changed=after != before, error=error), last
    if "activate" in batch.errors:
        return SwitchResult(flow_id, before, changed=False, error=batch.errors["activate"]), last
    after_raw = batch.results.get("after")
    # activate ran; if the re-read in the batch failed, read again
    last = (after_raw, sent_at) if isinstance(after_raw, dict) else _read(client, flow_id)
    after = bool(last[0].get("active"))
    return SwitchResult(flow_id, after, changed=after != before), last


def set_active(
    client: RestClient,
    r: redis.Redis,
    member_id: str,
    flow_id: int,
    desired: bool,
    *,
    lock_ttl_ms: int,
    lock_wait_s: float,
) -> SwitchResult:
    """Bring a flow to ``desired`` (on/off) with the client's token; at most one toggle.

    Requests for the same flow queue on ``fs:{M}:lock:flow:<id>``; each reads the
    state after the previous one finished, so ten "off" requests toggle once.
    """
    lock = RedisLock(r, flow_lock_key(member_id, flow_id), lock_ttl_ms)
    owner = _acquire_waiting(lock, lock_wait_s)
    if owner is None:
        raise FlowBusy(flow_id)
    try:
        result, (raw, read_at) = _switch_locked(client, flow_id, desired)
        # Still under the lock, so switches of one flow reach the cache in order; every
        # user's next reload shows the state Bitrix24 reported last.
        flow_cache.store_flows(r, member_id, [raw], read_at)
        return result
    finally:
        lock.release(owner)


def _acquire_waiting(lock: RedisLock, wait_s: float) -> str | None:
    """The lock's owner token, polling for up to ``wait_s`` while another switch holds it."""
    deadline = time.monotonic() + wait_s
    pause = 0.01
    while (owner := lock.acquire()) is None:
        if time.monotonic() >= deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
    return owner
