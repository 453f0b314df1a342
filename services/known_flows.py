"""The portal's known flow ids: Bitrix24 has no method that lists flows, so the app keeps them.

``fs:{M}:flows`` is the set; ``fs:{M}:flows:meta`` holds discovery's state and the
generation (``gen``), bumped whenever the set changes, which makes every user's cached
list (``services/flow_cache.py``) stale at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.keys import portal_key

GENERATION = "gen"


def flows_key(member_id: str) -> str:
    return portal_key(member_id, "flows")


def meta_key(member_id: str) -> str:
    """The known set's metadata: discovery state and the generation."""
    return portal_key(member_id, "flows", "meta")


def known_ids(r: Any, member_id: str) -> list[int]:
    return sorted(int(flow_id) for flow_id in r.smembers(flows_key(member_id)))


def generation(r: Any, member_id: str) -> int:
    """The known set's generation now (0 before the first change)."""
    return int(r.hget(meta_key(member_id), GENERATION) or 0)


def known_set_changed(r: Any, member_id: str) -> None:
    """Make every user's cached list stale (ids were added to or removed from the known set)."""
    r.hincrby(meta_key(member_id), GENERATION, 1)


def remember(r: Any, member_id: str, ids: Iterable[int]) -> int:
    """Add flow ids to the portal's known set; returns how many were new."""
    ids = [int(flow_id) for flow_id in ids]
    added = r.sadd(flows_key(member_id), *ids) if ids else 0
    if added:
        known_set_changed(r, member_id)
    return added


def forget(r: Any, member_id: str, ids: Iterable[int]) -> None:
    """Drop flow ids that Bitrix24 says no longer exist from the known set."""
    ids = [int(flow_id) for flow_id in ids]
    if ids and r.srem(flows_key(member_id), *ids):
        known_set_changed(r, member_id)
