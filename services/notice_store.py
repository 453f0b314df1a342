"""Notices in Redis: who is told about each flow, whether the portal sends notices at all, and
the reports the person who switched has yet to see.

- ``fs:{M}:notices``: hash; ``off`` = ``1`` while an administrator has turned notices off for
  the portal, ``flow:<id>`` = ``creators`` or ``nobody`` (absent: the flow's team, the default).
- ``fs:{M}:notices:unseen:<U>``: list of JSON reports (a notice that reached not everyone) for
  user U; read and emptied by their next page open, at most ``MAX_REPORTS``, gone after
  ``REPORT_DAYS``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from core.keys import portal_key

TEAM, CREATORS, NOBODY = "team", "creators", "nobody"
#: who is told about a flow: its team (the default), its task creators Bitrix24 lists, or nobody
AUDIENCES = (TEAM, CREATORS, NOBODY)
#: reports kept per user until they open the page
MAX_REPORTS = 20
REPORT_DAYS = 14
_OFF = "off"


def settings_key(member_id: str) -> str:
    return portal_key(member_id, "notices")


def reports_key(member_id: str, user_id: int) -> str:
    return portal_key(member_id, "notices", "unseen", int(user_id))


@dataclass(frozen=True)
class NoticeSettings:
    """The portal's switch and the flows whose audience is not the default."""

    enabled: bool = True
    audiences: dict[int, str] = field(default_factory=dict)

    def audience(self, flow_id: int) -> str:
        return self.audiences.get(int(flow_id), TEAM)


def load(r: Any, member_id: str) -> NoticeSettings:
    return parse(r.hgetall(settings_key(member_id)))


def parse(stored: dict[str, str]) -> NoticeSettings:
    """The settings in the hash's fields (as ``HGETALL`` gives them)."""
    audiences = {
        int(name.split(":", 1)[1]): value
        for name, value in stored.items()
        if name.startswith("flow:") and value in AUDIENCES
    }
    return NoticeSettings(enabled=stored.get(_OFF) != "1", audiences=audiences)


def set_audience(r: Any, member_id: str, flow_id: int, audience: str) -> None:
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}, not {audience!r}")
    name = f"flow:{int(flow_id)}"
    if audience == TEAM:
        r.hdel(settings_key(member_id), name)
    else:
        r.hset(settings_key(member_id), name, audience)


def set_enabled(r: Any, member_id: str, enabled: bool) -> None:
    if enabled:
        r.hdel(settings_key(member_id), _OFF)
    else:
        r.hset(settings_key(member_id), _OFF, "1")


def add_report(r: Any, member_id: str, user_id: int, report: dict[str, Any]) -> None:
    key = reports_key(member_id, user_id)
    pipe = r.pipeline(transaction=True)
    pipe.rpush(key, json.dumps(report, ensure_ascii=False))
    pipe.ltrim(key, -MAX_REPORTS, -1)
    pipe.expire(key, REPORT_DAYS * 86400)
    pipe.execute()


def take_reports(r: Any, member_id: str, user_id: int) -> list[dict[str, Any]]:
    """The user's reports, oldest first, and none left behind: each is shown once."""
    key = reports_key(member_id, user_id)
    pipe = r.pipeline(transaction=True)
    pipe.lrange(key, 0, -1)
    pipe.delete(key)
    raw, _deleted = pipe.execute()
    return [json.loads(item) for item in raw]
