"""Who a flow's member list names, as far as Bitrix24 lets the acting user see them.

A flow's ``team`` and ``taskCreators`` are pairs from the core's
``Main\\UI\\EntitySelector\\Converter::convertFromFinderCodes``: ``["user", 3]``,
``["department", 17]`` (with the departments under it: access code ``DR17``), the docs' input
spelling ``["department", "17:F"]`` (that department only: ``D17``), ``["project", 5]`` (a
workgroup: ``SG5``) and ``["meta-user", "all-users"]`` (everyone: ``UA``). Ids come as numbers
from the core and as strings in the docs' examples; both are read.

Everything is asked with the acting user's own token, so Bitrix24's visibility rules decide:

- the structure: ``department.get`` (scope ``department``), every page in one ``batch``;
- a department's people: ``user.get`` with ``FILTER: {UF_DEPARTMENT: [ids], ACTIVE: "Y"}`` (one
  query per department, the ones under it included; its ``total`` says at once when it is
  more than a notice may reach, and nothing more is read then);
- a workgroup's: ``sonet_group.user.get`` (scope ``sonet_group``; a group the user may not see
  answers "Socialnetwork group not found");
- people named one by one: ``user.get`` by ``ID`` (only active people the user may see).

A part that cannot be read (no scope, a hidden group, "all users", a kind the app does not
know) is left out and the result says so (``hidden``). Requests: the structure's (1-2, only
for departments with the ones under them), then one ``batch_all`` for every part of every
flow, then one for the further pages of the parts that need them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from b24.client import BATCH_LIMIT, chunked
from b24.errors import B24Error

if TYPE_CHECKING:
    from b24.client import BatchResult, Command, RestClient

USER_GET, DEPARTMENT_GET, GROUP_USERS = "user.get", "department.get", "sonet_group.user.get"
#: the most departments read from the structure (50 pages of 50)
MAX_DEPARTMENTS = 2500
DEPARTMENT, PROJECT = "department", "project"


@dataclass(frozen=True)
class Part:
    """A member pair that stands for several people: a department (with the ones under it, or
    alone) or a workgroup."""

    kind: str
    id: int
    recursive: bool = False

    @property
    def key(self) -> str:
        return f"{self.kind[0]}{'r' if self.recursive else ''}{self.id}"


@dataclass(frozen=True)
class Parsed:
    users: frozenset[int] = frozenset()
    parts: frozenset[Part] = frozenset()
    hidden: bool = False  # "all users", or a kind of member the app does not know


@dataclass(frozen=True)
class Members:
    """The people a flow's member list names whom the acting user may see.

    ``at_least``: a part held more people than ``cap`` (its total): they were not read.
    ``hidden``: some part could not be read for the acting user.
    """

    users: frozenset[int]
    hidden: bool = False
    at_least: int = 0


def _id(raw: Any) -> int:
    text = str(raw).split(":", 1)[0].strip()
    return int(text) if text.isdigit() else 0


def parse(pairs: Iterable[Any]) -> Parsed:
    users: set[int] = set()
    parts: set[Part] = set()
    hidden = False
    for pair in pairs:
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            hidden = True
            continue
        kind, raw = str(pair[0]), pair[1]
        number = _id(raw)
        if kind == "user" and number:
            users.add(number)
        elif kind == DEPARTMENT and number:
            parts.add(Part(DEPARTMENT, number, recursive=not str(raw).endswith(":F")))
        elif kind == PROJECT and number:
            parts.add(Part(PROJECT, number))
        else:
            hidden = True
    return Parsed(frozenset(users), frozenset(parts), hidden)


def _ids(rows: Any, field_name: str) -> set[int]:
    if not isinstance(rows, list):
        return set()
    return {_id(row.get(field_name)) for row in rows if isinstance(row, dict)} - {0}


def _structure(client: RestClient) -> dict[int, set[int]] | None:
    """Each department's children; ``None`` when Bitrix24 does not let the user read the structure."""
    try:
        first = client.call(DEPARTMENT_GET, {})
        rows = list(first.result or [])
        total = min(first.total or len(rows), MAX_DEPARTMENTS)
        starts = range(BATCH_LIMIT, total, BATCH_LIMIT)
        more = client.batch_all({f"p{start}": (DEPARTMENT_GET, {"start": start}) for start in starts})
    except B24Error:
        return None
    for start in starts:
        page = more.results.get(f"p{start}")
        rows += page if isinstance(page, list) else []
    children: dict[int, set[int]] = {}
    for row in rows:
        if isinstance(row, dict) and _id(row.get("PARENT")):
            children.setdefault(_id(row.get("PARENT")), set()).add(_id(row.get("ID")))
    return children


def _under(children: Mapping[int, set[int]], department: int) -> list[int]:
    found, frontier = {department}, {department}
    while frontier:
        frontier = {child for parent in frontier for child in children.get(parent, ())} - found
        found |= frontier
    return sorted(found)


@dataclass
class _Reading:
    """What the requests found, part by part."""

    people: dict[Part, set[int]] = field(default_factory=dict)
    too_big: dict[Part, int] = field(default_factory=dict)
    unread: set[Part] = field(default_factory=set)


def _department_query(children: Mapping[int, set[int]] | None, part: Part) -> dict[str, Any] | None:
    if part.recursive and children is None:
        return None  # the structure could not be read: who is under it is unknown
    departments = _under(children or {}, part.id) if part.recursive else [part.id]
    return {"FILTER": {"UF_DEPARTMENT": departments, "ACTIVE": "Y"}}


def _read_parts(client: RestClient, parts: set[Part], named: list[int], cap: int) -> tuple[_Reading, set[int]]:
    """Every part's people (as far as ``cap``), and which of the ``named`` users the user may see."""
    reading = _Reading()
    children = _structure(client) if any(p.kind == DEPARTMENT and p.recursive for p in parts) else {}
    commands: dict[str, Command] = {}
    queries: dict[Part, dict[str, Any]] = {}
    for part in parts:
        if part.kind == PROJECT:
            commands[part.key] = (GROUP_USERS, {"ID": part.id})
        elif (query := _department_query(children, part)) is not None:
            queries[part] = query
            commands[part.key] = (USER_GET, query)
        else:
            reading.unread.add(part)
    lookups = {f"u{n}": chunk for n, chunk in enumerate(chunked(named))}
    for key, chunk in lookups.items():
        commands[key] = (USER_GET, {"FILTER": {"ID": chunk, "ACTIVE": "Y"}})
    found = client.batch_all(commands)
    pages: dict[str, Command] = {}
    for part in parts - reading.unread:
        rows = found.results.get(part.key)
        if part.key in found.errors or not isinstance(rows, list):
            reading.unread.add(part)
        elif part.kind == PROJECT:
            reading.people[part] = _ids(rows, "USER_ID")
        elif (total := found.totals.get(part.key, len(rows))) > cap:
            reading.too_big[part] = total
        else:
            reading.people[part] = _ids(rows, "ID")
            for start in range(BATCH_LIMIT, total, BATCH_LIMIT):
                pages[f"{part.key}:{start}"] = (USER_GET, {**queries[part], "start": start})
    _add_pages(client.batch_all(pages) if pages else None, reading)
    visible = set().union(*(_ids(found.results.get(key), "ID") for key in lookups))
    # A lookup Bitrix24 refused says nothing about those people: the flow lists them, so they stay.
    unchecked = {user for key, chunk in lookups.items() if key in found.errors for user in chunk}
    return reading, visible | unchecked


def _add_pages(found: BatchResult | None, reading: _Reading) -> None:
    if found is None:
        return
    by_key = {part.key: part for part in reading.people}
    for key, rows in found.results.items():
        reading.people[by_key[key.split(":", 1)[0]]] |= _ids(rows, "ID")
    for key in found.errors:
        part = by_key[key.split(":", 1)[0]]
        reading.unread.add(part)
        reading.people.pop(part, None)


def expand(client: RestClient, member_lists: Mapping[int, Iterable[Any]], *, cap: int) -> dict[int, Members]:
    """For each flow (id → its member pairs), the people they name whom the client's user may see.

    Raises what a whole request raises (the token, the portal's limits); a part Bitrix24
    refuses is only left out.
    """
    parsed = {flow_id: parse(pairs) for flow_id, pairs in member_lists.items()}
    parts = set().union(*(p.parts for p in parsed.values())) if parsed else set()
    named = sorted(set().union(*(p.users for p in parsed.values()))) if parsed else []
    if not parts and not named:
        return {flow_id: Members(frozenset(), p.hidden) for flow_id, p in parsed.items()}
    reading, visible = _read_parts(client, parts, named, cap)
    members: dict[int, Members] = {}
    for flow_id, p in parsed.items():
        users = (p.users & visible).union(*(reading.people.get(part, set()) for part in p.parts))
        members[flow_id] = Members(
            frozenset(users),
            hidden=p.hidden or bool(p.parts & reading.unread),
            at_least=max((reading.too_big.get(part, 0) for part in p.parts), default=0),
        )
    return members
