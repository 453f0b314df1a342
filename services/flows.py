"""Flows as one user sees them: read with the user's own token, shaped for the page.

Bitrix24 decides what the user may see: every read goes out with their token. The list
is what the portal's own flow list shows them (``services/flow_list.py``) where the
portal has one, else the known flows (``services/known_flows.py``) Bitrix24 shows them.
The short list cache (``services/flow_cache.py``) is filled by every read and serves reloads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from b24.errors import B24Error, FlowError, OperationTimeLimit
from services import flow_cache, flow_list, known_flows, user_names

if TYPE_CHECKING:
    from b24.client import Command, RestClient

GET = "tasks.flow.Flow.get"
ACTIVATE = "tasks.flow.Flow.activate"


def flow_url(portal_origin: str, user_id: int, flow_id: int) -> str:
    """The flow in the portal's flow list, filtered to this one flow."""
    return (
        f"{portal_origin}/company/personal/user/{user_id}/tasks/flow/"
        f"?ID_numsel=exact&ID_from={flow_id}&apply_filter=Y"
    )


# Not frozen: one is built for every flow on every reload, and a frozen dataclass's __init__
# (object.__setattr__ per field) cost 3 µs against 0.5 µs for this one, a tenth of a cached
# reload's Python at 16 flows (issue 10's profile).
@dataclass(slots=True)
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
    #: answers to the caller's extra commands that rode along in the page's batch
    extras: dict[str, Any] = field(default_factory=dict)


def read_flows(client: RestClient, ids: list[int]) -> tuple[dict[int, dict], dict[int, B24Error]]:
    """Raw flow objects the token may read, and the per-flow errors (batches of 50)."""
    # Keys are not bare numbers: PHP would turn "1".."50" into a list.
    batch = client.batch_all({f"f{flow_id}": (GET, {"flowId": flow_id}) for flow_id in ids})
    found = {int(key[1:]): flow for key, flow in batch.results.items() if isinstance(flow, dict)}
    return found, {int(key[1:]): error for key, error in batch.errors.items()}


def read_flow(client: RestClient, flow_id: int) -> dict:
    """One flow as the token's user sees it (raises the typed flow error otherwise)."""
    return client.call(GET, {"flowId": flow_id}).result


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


def _owners(raws: Iterable[dict]) -> set[int]:
    return {int(raw.get("ownerId") or 0) for raw in raws} - {0}


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


def load_page(
    client: RestClient,
    r: Any,
    member_id: str,
    user_id: int,
    portal_origin: str,
    *,
    extra: Mapping[str, Command] | None = None,
) -> FlowPage:
    """Every flow this user can read, with owner names, and the user's admin flag.

    Round trips: with the portal's list, one ``batch`` for its pages (more only past 2,500
    flows) and one for rows that lack a field; the flows it shows join the known set.
    Without it, one ``batch`` per 50 known flows. Then one for names and the admin flag, in
    which the ``extra`` commands ride along (their answers: ``FlowPage.extras``). Fills the
    cache that ``cached_page`` answers from.
    """
    pipe = r.pipeline()  # the generation the ids belong to: a later change makes this read stale
    pipe.hget(known_flows.meta_key(member_id), known_flows.GENERATION).smembers(known_flows.flows_key(member_id))
    generation, ids = pipe.execute()
    read_at = time.time()
    listing = flow_list.list_flows(client, r, member_id, expected=len(ids))
    if listing is None:
        raw, errors = read_flows(client, sorted(int(flow_id) for flow_id in ids))
    else:
        filled, errors = read_flows(client, listing.incomplete)
        raw = {**listing.flows, **filled}
        # The list shows the user's flows whatever the known set holds; new ones bump its
        # generation, which this read already reflects.
        if known_flows.remember(r, member_id, listing.ids):
            generation = known_flows.generation(r, member_id)
    for error in errors.values():
        if isinstance(error, OperationTimeLimit):
            raise error  # flows left out for a while: "busy" rather than a list with holes
    # The reader's own name too: the activity log names who switched (no request of its own).
    names, is_admin, extras = user_names.names_and_admin(
        client, r, member_id, _owners(raw.values()) | {user_id}, extra=extra
    )
    # A refused read says "no right, no such flow, or no flows on this plan", in the portal's
    # language: only who was refused tells them apart. An administrator may read every flow,
    # so a read refused to one while other flows read fine means the flow is gone.
    refused = [flow_id for flow_id, error in errors.items() if isinstance(error, FlowError)]
    if is_admin and raw:
        known_flows.forget(r, member_id, refused)
    flow_cache.store_flows(r, member_id, raw.values(), read_at)
    # Only a read where every flow was either shown or refused tells what the user may see.
    if len(refused) == len(errors):
        flow_cache.store_visible(
            r, member_id, user_id, raw, generation=int(generation or 0), read_at=read_at, is_admin=is_admin
        )
    page = _page(raw.values(), user_id, portal_origin, names, is_admin=is_admin, read_at=read_at)
    return replace(page, extras=extras)


def cached_page(r: Any, member_id: str, user_id: int, portal_origin: str) -> tuple[FlowPage, bool] | None:
    """The user's list from the cache and whether discovery is running, in one Redis round trip and
    no portal request; ``None`` when it must be read."""
    cached = flow_cache.load(r, member_id, user_id)
    if cached is None or _owners(cached.flows) - cached.names.keys():
        return None
    page = _page(
        cached.flows,
        user_id,
        portal_origin,
        cached.names,
        is_admin=cached.is_admin,
        read_at=cached.read_at,
        cached=True,
    )
    return page, cached.discovering


def describe(client: RestClient, r: Any, member_id: str, user_id: int, portal_origin: str, raw: dict) -> Flow:
    """A single raw flow with its owner's name, for a flow just added to the list."""
    names, _, _ = user_names.names_and_admin(client, r, member_id, _owners([raw]))
    return _flow(raw, user_id=user_id, portal_origin=portal_origin, names=names)
