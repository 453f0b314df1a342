"""The portal's own flow list, ``tasks.flow.Flow.list``, where the portal has one.

Undocumented (docs/protocol-notes.md, "Flow list"): newer portals answer it with the flows
the calling user may see, older ones with ``ERROR_METHOD_NOT_FOUND``. Where it answers it
replaces discovery's guesswork (tasks and an id scan):

- asked with the user's own token, in the documented spelling of the flow methods, ordered
  by ID, 50 rows a page by ``start``, several pages in one ``batch``; the core sends no
  ``next``/``total``, so a page shorter than 50 is the last one;
- a portal without it is remembered (``fs:{M}:flows:list``) for ``FLOW_LIST_REPROBE_SECONDS``,
  so an older portal pays one request a day for asking;
- rows become what ``tasks.flow.Flow.get`` returns for the page's fields (names and types);
  a row that lacks one of them is named in ``Listing.incomplete`` for the caller to read
  with ``get``;
- anything else unexpected (an answer that is not a list of rows, a row without an id, an
  error other than "method not found", pages that never end) makes ``list_flows`` answer
  ``None``: the caller uses the known flow ids for this request, and one log line shows the
  answer's shape, never its data.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import current_app

from b24.client import BATCH_LIMIT
from b24.errors import MethodNotFound, OperationTimeLimit
from core.keys import portal_key

if TYPE_CHECKING:
    import redis

    from b24.client import RestClient

log = logging.getLogger(__name__)

LIST = "tasks.flow.Flow.list"
#: rows per page: the REST layer's PageNavigation, whatever the caller asks
PAGE = 50
#: the most flows read for one request; a portal claiming more is not trusted
MAX_FLOWS = 10_000
# Pages asked in a batch after a full last page: a few more each time, so a first read of a
# large portal takes few round trips, and a small one asks for few empty pages.
GROWTH = 4

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
_DIGITS = re.compile(r"[0-9]{1,10}")
_FLAGS = {"1": True, "0": False, "Y": True, "N": False, "TRUE": True, "FALSE": False}


def absent_key(member_id: str) -> str:
    """Set while the portal is known to lack the list method (expires: ask again)."""
    return portal_key(member_id, "flows", "list")


class Unusable(Exception):
    """The list answered something this module cannot trust; the message shows its shape only."""


class _Absent(Exception):
    """The portal answered ``ERROR_METHOD_NOT_FOUND``: an older portal."""


@dataclass(frozen=True)
class Listing:
    """The flows the list showed: complete rows, and the ids whose rows lack a page field."""

    flows: dict[int, dict[str, Any]]
    incomplete: list[int]
    missing_fields: frozenset[str] = frozenset()

    @property
    def ids(self) -> set[int]:
        return set(self.flows) | set(self.incomplete)


def shape(value: Any, depth: int = 2) -> str:
    """What ``value`` looks like without what it says: types, field names, lengths."""
    if isinstance(value, dict):
        if depth <= 0:
            return "{...}"
        # Field names are shown; keys that are not names (numbers, text) could be data.
        names = sorted(value, key=str)
        parts = [
            f"{k if _IDENTIFIER.fullmatch(str(k)) else '#'}: {shape(value[k], depth - 1)}" for k in names[:16]
        ]
        return "{" + ", ".join(parts) + (f", ... {len(names) - 16} more" if len(names) > 16 else "") + "}"
    if isinstance(value, list):
        return f"[{len(value)} x {shape(value[0], depth - 1)}]" if value else "[]"
    return type(value).__name__


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and _DIGITS.fullmatch(value) else None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return _FLAGS.get(str(value).upper()) if isinstance(value, int | str) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# The page's fields as ``tasks.flow.Flow.get`` returns them: field -> (reader, value when absent).
# ``Flow::toJson`` leaves out an empty description (docs/protocol-notes.md, "Rows"), so its
# absence means ""; every other field is always there on a flow, so its absence is a gap.
_FIELDS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "name": (_text, None),
    "description": (_text, ""),
    "active": (_flag, None),
    "efficiency": (_int, None),
    "ownerId": (_int, None),
    "creatorId": (_int, None),
}


def _row(item: Any) -> tuple[dict[str, Any], set[str]]:
    """A list row as ``get``'s fields and types, and the fields it lacks (or carries unreadable)."""
    if not isinstance(item, dict):
        raise Unusable(f"a row that is {shape(item)}")
    flow_id = _int(item.get("id"))
    if flow_id is None or flow_id <= 0:
        raise Unusable(f"a row without an id: {shape(item)}")
    row: dict[str, Any] = {"id": flow_id}
    missing: set[str] = set()
    for name, (read, default) in _FIELDS.items():
        value = read(item[name]) if name in item else default
        if value is None:
            missing.add(name)
        else:
            row[name] = value
    return row, missing


def _pages(client: RestClient, first: int, count: int) -> Iterator[Any]:
    """Pages ``first`` .. ``first + count - 1``, asked in one batch, in order; an item's error is
    the list's answer (raised when its page is reached)."""
    commands = {
        f"p{page}": (LIST, {"order": {"ID": "ASC"}, "start": page * PAGE}) for page in range(first, first + count)
    }
    answer = client.batch_all(commands)  # a whole request refused (token, limits) raises as any read
    for key in commands:
        error = answer.errors.get(key)
        if isinstance(error, MethodNotFound):
            raise _Absent()
        if isinstance(error, OperationTimeLimit):
            raise error
        if error is not None:
            raise Unusable(f"error {error.code} {error.description[:120]!r}")
        if key not in answer.results:
            raise Unusable(f"a batch answer without page {key}")
        yield answer.results[key]


def _read_all(client: RestClient, expected: int) -> Listing:
    """Every page, ``expected`` flows guessing how many to ask at first (one more page than needed)."""
    rows: dict[int, dict[str, Any]] = {}
    missing: dict[int, set[str]] = {}
    first, count = 0, min(BATCH_LIMIT, expected // PAGE + 1)
    while True:
        for page in _pages(client, first, count):
            if not isinstance(page, list):
                raise Unusable(f"a page that is {shape(page)}")
            before = len(rows)
            for item in page:
                row, gaps = _row(item)
                rows[row["id"]] = row
                missing[row["id"]] = gaps
            if len(page) < PAGE:  # the last page; any after it in the batch are empty
                complete = {i: row for i, row in rows.items() if not missing[i]}
                gaps = frozenset().union(*missing.values())
                return Listing(complete, sorted(rows.keys() - complete.keys()), gaps)
            if len(rows) == before:
                raise Unusable(f"a full page of rows already seen (start ignored?): {shape(page)}")
        first += count
        if first * PAGE >= MAX_FLOWS:
            raise Unusable(f"more than {MAX_FLOWS} rows")
        count = min(BATCH_LIMIT, count * GROWTH)


def list_flows(client: RestClient, r: redis.Redis, member_id: str, *, expected: int = 0) -> Listing | None:
    """The flows ``client``'s user may see, from the portal's list; ``None``: use the known ids.

    ``expected``: about how many flows there are (the known set's size), so that one batch
    usually holds every page. An error of the whole request (token, limits, unreachable)
    is raised as for any read.
    """
    if r.exists(absent_key(member_id)):
        return None
    try:
        listing = _read_all(client, expected)
    except OperationTimeLimit:
        # The list used up its operating time (refused now, or known to be until its window
        # resets: b24/operating.py); other methods still work, so the known flows are read.
        return None
    except _Absent:
        reprobe = current_app.config["FLOW_LIST_REPROBE_SECONDS"]
        r.set(absent_key(member_id), "absent", ex=reprobe)
        log.info("Portal %s has no %s; asking again in %s s", member_id, LIST, reprobe)
        return None
    except Unusable as unusable:
        log.warning("Portal %s: %s answered %s; using the known flows for this request", member_id, LIST, unusable)
        return None
    if listing.incomplete:
        log.info(
            "Portal %s: %s rows lack %s; reading %d flows with get",
            member_id,
            LIST,
            ", ".join(sorted(listing.missing_fields)),
            len(listing.incomplete),
        )
    return listing
