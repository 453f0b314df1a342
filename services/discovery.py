"""Finding the portal's flow ids: Bitrix24 documents no method that lists flows.

These sources feed the known set ``fs:{M}:flows``:

1. the portal's own, undocumented list where it has one (``services/flow_list.py``): where it
   answers, a run needs nothing else (and every page open adds what it shows the user);
2. otherwise, flow ids carried by tasks (``tasks.task.list``, newest first, a few pages in one batch),
3. and a bounded scan of ids with batched ``tasks.flow.Flow.get`` (ids are auto-increment);
4. a flow added by hand, by id or by its portal link.

1 to 3 run in a background thread, one run per portal at a time across workers
and servers (``fs:{M}:lock:discovery``): at install with the installer's token,
again when the last run is older than ``DISCOVERY_STALE_SECONDS`` (started by a
page load but never on its hot path), and when an admin asks.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from flask import Flask, current_app
from redis.lock import Lock

import oauth
from b24.errors import FlowError, OperationTimeLimit
from core.keys import portal_key
from core.locks import lock, release
from core.redis_client import get_redis
from oauth.tokens import rest_client_for
from services import flow_cache, flow_list, flows, known_flows
from services.errors import FlowNotVisible
from services.flow_refs import flow_id_from, parse_flow_ref
from services.known_flows import GENERATION, meta_key

if TYPE_CHECKING:
    from b24.client import RestClient

log = logging.getLogger(__name__)

TASK_PAGE = 50
# Bitrix24 batches hold 50 commands; a scan window of several batches runs in parallel.
SCAN_WINDOW = 4 * 50


def lock_key(member_id: str) -> str:
    return portal_key(member_id, "lock", "discovery")


@dataclass(frozen=True)
class Report:
    from_tasks: int
    scanned_to: int
    found: int
    added: int
    #: seconds the run stopped early for, leaving a method's operating time to people (0: done)
    paused_for: float = 0.0
    listed: bool = False  # found by the portal's own list (no tasks read, no ids scanned)


def ids_from_tasks(client: RestClient, pages: int) -> set[int]:
    """Flow ids of the newest ``pages`` x 50 tasks, in one batch."""
    commands = {
        f"p{page}": (
            "tasks.task.list",
            {"select": ["ID", "FLOW_ID"], "order": {"ID": "desc"}, "start": page * TASK_PAGE},
        )
        for page in range(pages)
    }
    found: set[int] = set()
    for result in client.batch(commands).results.values():
        tasks = result.get("tasks", []) if isinstance(result, dict) else []
        for task in tasks:
            flow_id = task.get("flowId") or task.get("FLOW_ID")
            if flow_id_from(str(flow_id or "")) is not None:
                found.add(int(flow_id))
    return found


def scan_ids(client: RestClient, *, start_hi: int, margin: int, limit: int) -> tuple[set[int], int, float]:
    """Probe ids 1.. with ``tasks.flow.Flow.get``; the range grows while flows turn up.

    Scans to ``start_hi + margin`` at least, to the highest flow seen + ``margin``,
    never past ``limit``. Returns the ids that exist, the last id probed, and the seconds
    to pause for when it stopped early: the scan is the heaviest user of ``get``'s
    operating time, and yields it to people (``b24/operating.py``).
    """
    found: set[int] = set()
    hi = min(start_hi + margin, limit)
    probed = 0
    while probed < hi:
        window = list(range(probed + 1, min(probed + SCAN_WINDOW, hi) + 1))
        try:
            existing, errors = flows.read_flows(client, window)
        except OperationTimeLimit as exc:
            return found, probed, _pause(exc)
        found |= set(existing)
        limited = [error for error in errors.values() if isinstance(error, OperationTimeLimit)]
        if limited:
            return found, probed, _pause(limited[0])
        probed = window[-1]
        if found:
            hi = min(max(hi, max(found) + margin), limit)
    return found, probed, 0.0


def _pause(error: OperationTimeLimit) -> float:
    return error.retry_after or current_app.config["B24_OPERATING_BACKOFF"]


# Record a run's findings only while its lock is still ours: an uninstall deletes every
# key of the portal (the lock too), and a run that outlived it must not bring any back.
_RECORD = """
if ARGV[1] ~= '' and redis.call('get', KEYS[1]) ~= ARGV[1] then
    return -1
end
local added = 0
for i = 6, #ARGV, 1000 do
    added = added + redis.call('sadd', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('hset', KEYS[3], 'finished_at', ARGV[2], 'scanned_to', ARGV[3], 'found', ARGV[4])
if added > 0 then
    redis.call('hincrby', KEYS[3], ARGV[5], 1)
end
return added
"""


def run(client: RestClient, r: redis.Redis, member_id: str, *, lock_owner: str = "") -> Report:
    """One discovery pass with ``client``'s token; adds what it finds to the known set.

    With ``lock_owner``, the findings are written only if that owner still holds the
    portal's discovery lock (else the portal was uninstalled meanwhile: ``added`` is -1).
    """
    config = current_app.config
    known = set(known_flows.known_ids(r, member_id))
    listing = flow_list.list_flows(client, r, member_id, expected=len(known))
    paused_for = 0.0
    if listing is not None:
        from_tasks, found, scanned_to = set(), listing.ids, 0
    else:
        try:
            from_tasks = ids_from_tasks(client, config["DISCOVERY_TASK_PAGES"])
        except OperationTimeLimit:
            from_tasks = set()  # the scan alone finds them too
        scanned, scanned_to, paused_for = scan_ids(
            client,
            start_hi=max(known | from_tasks, default=0),
            margin=config["DISCOVERY_SCAN_MARGIN"],
            limit=config["DISCOVERY_SCAN_LIMIT"],
        )
        found = from_tasks | scanned
    keys = (lock_key(member_id), known_flows.flows_key(member_id), meta_key(member_id))
    added = r.eval(
        _RECORD,
        len(keys),
        *keys,
        lock_owner,
        int(time.time()),
        scanned_to,
        len(found),
        GENERATION,
        *sorted(found),
    )
    if paused_for and int(added) >= 0:
        # Counted as started so long ago that the first page load after the pause starts the
        # next run (refresh_if_stale), which takes up the scan again.
        r.hset(meta_key(member_id), "started_at", int(time.time() + paused_for - config["DISCOVERY_STALE_SECONDS"]))
        log.info("Discovery for %s paused for %.0f s at id %d", member_id, paused_for, scanned_to)
    return Report(
        from_tasks=len(from_tasks),
        scanned_to=scanned_to,
        found=len(found),
        added=int(added),
        paused_for=paused_for,
        listed=listing is not None,
    )


def _client_for(member_id: str, user_id: int | None) -> RestClient:
    if user_id is None:
        portal = oauth.store().get_portal(member_id)
        if portal is None or not portal.installer_user_id:
            raise LookupError(f"portal {member_id} has no installer to run discovery as")
        user_id = int(portal.installer_user_id)
    # Nobody waits for a run: it may wait out the portal's budget like any slow call.
    return rest_client_for(member_id, user_id, interactive=False)


def _run_in_background(app: Flask, held: Lock, member_id: str, user_id: int | None) -> None:
    with app.app_context():
        try:
            owner = held.local.token.decode()
            report = run(_client_for(member_id, user_id), get_redis(), member_id, lock_owner=owner)
            log.info("Discovery for %s: %s", member_id, report)
        except Exception:
            log.exception("Discovery for %s failed", member_id)
        finally:
            release(held)


def start(member_id: str, user_id: int | None = None) -> bool:
    """Start a discovery run in a background thread unless one is running for the portal.

    ``user_id=None`` runs with the installer's stored token. Returns whether it started.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    r = get_redis()
    held = lock(r, lock_key(member_id), app.config["DISCOVERY_LOCK_SECONDS"], wait=None)
    if not held.acquire():
        return False
    r.hset(meta_key(member_id), "started_at", int(time.time()))
    threading.Thread(
        target=_run_in_background,
        args=(app, held, member_id, user_id),
        name=f"discovery-{member_id}",
        daemon=True,
    ).start()
    return True


def is_running(member_id: str) -> bool:
    return bool(get_redis().exists(lock_key(member_id)))


def refresh_if_stale(member_id: str, user_id: int | None = None) -> bool:
    """Start a run when the last one began more than ``DISCOVERY_STALE_SECONDS`` ago.

    ``user_id``: a portal admin's token to run with (it sees every flow); else the installer's.
    """
    started = get_redis().hget(meta_key(member_id), "started_at")
    if started is not None and time.time() - int(started) < current_app.config["DISCOVERY_STALE_SECONDS"]:
        return False
    return start(member_id, user_id)


def add_flow(member_id: str, user_id: int, portal_domain: str, portal_origin: str, ref: str) -> flows.Flow:
    """A flow a user pasted (its number or link): read with their token, then remembered for everyone.

    Raises ``InvalidFlowRef`` for anything else, ``FlowNotVisible`` when Bitrix24 does
    not show the user that flow (whatever the reason: it says no more).
    """
    flow_id = parse_flow_ref(ref, portal_domain)
    client = rest_client_for(member_id, user_id)
    r = get_redis()
    read_at = time.time()
    try:
        raw = flows.read_flow(client, flow_id)
    except FlowError as exc:
        raise FlowNotVisible(exc) from None
    flow_cache.store_flows(r, member_id, [raw], read_at)
    known_flows.remember(r, member_id, [flow_id])
    return flows.describe(client, r, member_id, user_id, portal_origin, raw)

