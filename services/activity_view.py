"""The activity view: who may see which entries of the log, a page of them, and the CSV file.

- **Portal administrators** see every entry of the portal. Whether the viewer is one is
  Bitrix24's word (``user.admin`` with their own token), taken from their visibility
  entry (``services/flow_cache.py``, written by their last full read of the flows, at most
  ``VISIBILITY_CACHE_TTL`` old) or asked again; the frame session's flag is not trusted.
- **Everyone else** sees their own entries, and only about flows Bitrix24 shows them now:
  the flows of their current visibility entry, or, when there is none, a read of the
  flows on the page with their own token (one ``batch`` per 50 flows). A flow they can
  no longer see leaves no trace in their view, not even its name.

Pages go newest first, ``activity.PAGE_SIZE`` entries, with a cursor (a stream id) for the
next one. A filter by flow or user reads at most ``SCAN_BUDGET`` entries per page; a page
can then be short and still have a next one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from flask_babel import gettext as _

from core.csv_export import csv_lines
from core.redis_client import get_redis
from oauth.tokens import rest_client_for
from services import activity, flow_cache, portals
from services.activity import Entry, Filters
from services.flows import read_flows
from services.frame_session import FrameSession

if TYPE_CHECKING:
    from b24.client import RestClient

#: log entries one page request reads at most while filtering by flow or user
SCAN_BUDGET = 20_000

Items = list[tuple[str, dict[str, str]]]


class Viewer:
    """The person looking at the log: an administrator, or someone who sees only some flows."""

    def __init__(self, session: FrameSession) -> None:
        self.session = session
        self.r = get_redis()
        record = flow_cache.visible(self.r, session.member_id, session.user_id)
        self._client: RestClient | None = None
        self._seen: dict[int, bool] = {}
        if record is not None:
            self.is_admin = bool(record["admin"])
            self._seen = {int(flow_id): True for flow_id in record["ids"]}
            self._all_known = True  # a flow missing from the entry is one they cannot see
        else:
            self._all_known = False
            self.is_admin = portals.is_admin(self._rest())

    def _rest(self) -> RestClient:
        """The viewer's own REST client, made on first use (an administrator's view may need none)."""
        if self._client is None:
            self._client = rest_client_for(self.session.member_id, self.session.user_id)
        return self._client

    def sees(self, flow_ids: set[int]) -> set[int]:
        """The flows of ``flow_ids`` whose entries this viewer may see."""
        if self.is_admin:
            return set(flow_ids)
        unknown = set() if self._all_known else flow_ids - self._seen.keys()
        if unknown:
            shown, _errors = read_flows(self._rest(), sorted(unknown))
            self._seen |= {flow_id: flow_id in shown for flow_id in unknown}
        return {flow_id for flow_id in flow_ids if self._seen.get(flow_id, False)}

    def filters(self, asked: Filters) -> Filters:
        """What this viewer gets for ``asked``: anyone but an administrator sees their own entries only."""
        return asked if self.is_admin else replace(asked, user_id=self.session.user_id)

    def keep(self, items: Items) -> Items:
        visible = self.sees({int(fields.get("flow", 0)) for _, fields in items})
        return [item for item in items if int(item[1].get("flow", 0)) in visible]


@dataclass(frozen=True)
class ActivityPage:
    entries: list[Entry]
    next: str | None
    is_admin: bool
    people: dict[int, str]  # who appears in the log (administrators' user filter); empty for others
    flows: dict[int, str]  # the flows of the log this viewer may filter by


def _logged_flows(viewer: Viewer) -> dict[int, str]:
    """The flows of the log the viewer may see (settles what they see of each in one read)."""
    logged = activity.names(viewer.r, activity.flows_key(viewer.session.member_id))
    flows = {int(flow_id): name for flow_id, name in logged.items()}
    visible = viewer.sees(set(flows))
    return {flow_id: name for flow_id, name in flows.items() if flow_id in visible}


def view(session: FrameSession, asked: Filters, *, before: str | None = None) -> ActivityPage:
    """One page of the log as ``session``'s user may see it, newest first; the first page
    (``before`` empty) also lists the people and flows to filter by."""
    viewer = Viewer(session)
    r, member_id = viewer.r, session.member_id
    names = activity.names(r, activity.people_key(member_id))
    flows = _logged_flows(viewer) if before is None else {}
    scanned = asked.flow_id is not None or asked.user_id is not None or not viewer.is_admin
    items, cursor = activity.scan(
        r,
        member_id,
        viewer.filters(asked),
        before=before,
        budget=SCAN_BUDGET if scanned else None,
        keep=None if viewer.is_admin else viewer.keep,
    )
    return ActivityPage(
        entries=[activity.entry_from(stream_id, fields, names) for stream_id, fields in items],
        next=cursor,
        is_admin=viewer.is_admin,
        people={int(user): name for user, name in names.items()} if viewer.is_admin and before is None else {},
        flows=flows,
    )


def export(session: FrameSession, asked: Filters) -> Iterator[str]:
    """Every entry the view would show for ``asked``, as CSV (``core/csv_export.py``), streamed.

    Whom and what the viewer may see is settled before the first line, so the stream
    never stops half-way on a portal request.
    """
    viewer = Viewer(session)
    r, member_id = viewer.r, session.member_id
    names = activity.names(r, activity.people_key(member_id))
    _logged_flows(viewer)
    items = activity.all_items(r, member_id, viewer.filters(asked), keep=None if viewer.is_admin else viewer.keep)
    words = _Words()  # translated once, not per row
    return csv_lines(words.header, (words.row(activity.entry_from(i, fields, names)) for i, fields in items))


def how_labels() -> dict[str, str]:
    """What asked for an entry, for people (the page and the CSV file)."""
    return {
        "switch": _("Single switch"),
        "bulk": _("Bulk switch"),
        "schedule": _("Scheduled"),
        activity.NOTICE: _("Notice of a change"),
    }


def result_labels() -> dict[str, str]:
    """What came of an entry, for people; a notice's own outcomes too (``services/flow_notices.py``)."""
    return {
        activity.DONE: _("Done"),
        activity.REFUSED: _("Refused"),
        activity.FAILED: _("Failed"),
        activity.TOO_MANY: _("Too many people to tell"),
        activity.HIDDEN: _("Not everyone could be reached"),
    }


class _Words:
    """The file's words in the user's language."""

    def __init__(self) -> None:
        self.header = [
            _("Time (UTC)"),
            _("User ID"),
            _("User"),
            _("Flow ID"),
            _("Flow"),
            _("From"),
            _("To"),
            _("How"),
            _("Result"),
            _("Bitrix24's answer"),
        ]
        self.states = {True: _("On"), False: _("Off")}
        self.hows = how_labels()
        self.results = result_labels()

    def row(self, entry: Entry) -> list[object]:
        return [
            entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            entry.user_id,
            entry.user_name,
            entry.flow_id,
            entry.flow_name,
            self.states[entry.before],
            self.states[entry.asked],
            self.hows.get(entry.how, entry.how),
            self.results.get(entry.result, entry.result),
            entry.answer,
        ]
