"""A user's time zone: Bitrix24's ``TIME_ZONE`` for them, else their browser's, else UTC.

``profile`` (no scope needed) and ``user.current`` return the IANA ``TIME_ZONE`` the user
chose, empty while they keep the automatic one (docs/protocol-notes.md, "Time zones"). The
numeric ``TIME_ZONE_OFFSET`` some cores add is not relied on: it cannot follow daylight
saving. What Bitrix24 said is cached per user for a day, so a page open costs no call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.i18n import known_time_zone
from core.keys import portal_key

if TYPE_CHECKING:
    from b24.client import RestClient

ZONE_TTL = 24 * 3600
BITRIX24, BROWSER, UTC = "bitrix24", "browser", "utc"
#: ``profile`` in the page open's batch (``flows.load_page(extra=...)``): the zone costs no request
PROFILE_KEY = "profile"
PROFILE_COMMAND = {PROFILE_KEY: ("profile", {})}


def zone_key(member_id: str, user_id: int) -> str:
    return portal_key(member_id, "tz", int(user_id))


def remember(r: Any, member_id: str, user_id: int, profile: object) -> str:
    """Cache the ``TIME_ZONE`` of a ``profile`` (or ``user.current``) answer; returns it ("" for none).

    Anything but an answer (an error of the batch item, nothing) is left uncached.
    """
    if not isinstance(profile, dict):
        return ""
    zone = str(profile.get("TIME_ZONE") or "")
    zone = zone if known_time_zone(zone) else ""
    r.set(zone_key(member_id, user_id), zone, ex=ZONE_TTL)
    return zone


def bitrix24_zone(r: Any, member_id: str, user_id: int, client: RestClient) -> str:
    """The user's Bitrix24 zone ("" when they have none): from the cache, else ``profile`` with their token."""
    cached = r.get(zone_key(member_id, user_id))
    if cached is not None:
        return str(cached)
    return remember(r, member_id, user_id, client.call("profile").result or {})


def choose(bitrix24: str, browser: object) -> tuple[str, str]:
    """The zone to use and where it came from (``bitrix24``, ``browser`` or ``utc``)."""
    if known_time_zone(bitrix24):
        return bitrix24, BITRIX24
    if known_time_zone(browser):
        return str(browser), BROWSER
    return "UTC", UTC
