"""What a person may paste to add a flow: its number, or a link to it on their portal.

Accepted: ``42``, ``#42``, and links to the flow on the portal's own domain, with or
without ``https://`` (``acme.bitrix24.com/company/personal/user/1/tasks/flow/?ID_from=42``,
``…/tasks/flow/edit/42/``). The input is bounded and parsed in linear time: no regular
expression runs over more than one short path segment or query value.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from oauth.verify import normalize_domain

#: longer input is refused before any parsing (a real link is well under 300 characters)
MAX_REF_LENGTH = 2048

# Flow ids are positive integers that fit Bitrix24's int columns; ASCII digits only
# (``str.isdigit`` also accepts "²", which ``int`` then refuses).
_ID = re.compile(r"[0-9]{1,10}")
_WORD = re.compile(r"[a-z]{1,32}")
_ID_PARAMS = ("ID", "ID_from", "flowId", "FLOW_ID", "flow_id")


class InvalidFlowRef(ValueError):
    """Neither a flow id nor a link to a flow on this portal."""


def flow_id_from(text: str) -> int | None:
    """``text`` as a flow id when it is one (1 to 10 ASCII digits, not 0), else ``None``."""
    if _ID.fullmatch(text) and int(text) > 0:
        return int(text)
    return None


def _id_in_path(path: str) -> int | None:
    # ``…/flow/42/`` or ``…/flow/<word>/…/42/``: the last ``flow`` segment, then only words,
    # then the id as the last segment.
    segments = [segment for segment in path.split("/") if segment]
    if "flow" not in segments:
        return None
    tail = segments[len(segments) - segments[::-1].index("flow") :]
    if not tail or not all(_WORD.fullmatch(word) for word in tail[:-1]):
        return None
    return flow_id_from(tail[-1])


def parse_flow_ref(ref: str, portal_domain: str) -> int:
    """A flow id from ``ref``; ``InvalidFlowRef`` for anything else or a link to another site."""
    ref = (ref or "").strip()
    if len(ref) > MAX_REF_LENGTH:
        raise InvalidFlowRef("too long")
    found = flow_id_from(ref.removeprefix("#"))
    if found is not None:
        return found
    parts = urlsplit(ref if "://" in ref else f"https://{ref}")
    if (
        parts.scheme not in ("http", "https")
        or "@" in parts.netloc
        or normalize_domain(parts.netloc) != normalize_domain(portal_domain)
    ):
        raise InvalidFlowRef("not a link on this portal")
    query = parse_qs(parts.query)
    for name in _ID_PARAMS:
        found = flow_id_from((query.get(name) or [""])[0])
        if found is not None:
            return found
    found = _id_in_path(parts.path)
    if found is None:
        raise InvalidFlowRef("no flow in this link")
    return found
