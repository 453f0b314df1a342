"""Wall-clock times in a user's zone, to and from the UTC moments the app stores.

The page sends what the user typed (``2026-12-24T18:00``, their zone's wall clock); the app
stores epoch seconds (UTC) and shows them back in the viewer's zone and language with Babel.
Daylight saving: a wall time the clocks skip is refused (it never happens), one they pass
twice is the first of the two (``fold=0``, the earlier moment). An explicit offset
(``…+01:00`` or ``…Z``) is taken as is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask_babel import format_date, format_time, get_locale, to_user_timezone

from services.errors import BadScheduleRequest, NoSuchLocalTime

#: ``datetime-local`` inputs send minutes (seconds are optional); nothing longer is parsed
MAX_LENGTH = 40
INPUT_FORMAT = "%Y-%m-%dT%H:%M"


def moment(value: object, zone: str) -> float | None:
    """Epoch seconds for ``value`` read in ``zone``; ``None`` for an empty field.

    Raises ``BadScheduleRequest`` for anything that is not an ISO date and time,
    ``NoSuchLocalTime`` for a wall time the zone skips.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_LENGTH or "T" not in value:
        raise BadScheduleRequest()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadScheduleRequest() from None
    if parsed.tzinfo is not None:
        return parsed.timestamp()
    tz = ZoneInfo(zone)
    local = parsed.replace(tzinfo=tz, fold=0)
    # A skipped wall time comes back different after a round trip through UTC.
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != parsed:
        raise NoSuchLocalTime(parsed.strftime("%Y-%m-%d %H:%M"))
    return local.timestamp()


def text(at: float) -> str:
    """``at`` for people: date and time in the request's zone and language (``Dec 24, 2026, 6:00 PM``,
    ``24 дек. 2026 г., 18:00``, ``24.12.2026, 18:00``)."""
    moment_utc = datetime.fromtimestamp(at, UTC)
    pattern = str(get_locale().datetime_formats["medium"])  # "{1}, {0}": the date, then the time
    return pattern.replace("{1}", format_date(moment_utc, "medium")).replace("{0}", format_time(moment_utc, "short"))


def input_value(at: float) -> str:
    """``at`` as a ``datetime-local`` input shows it, in the request's zone."""
    return to_user_timezone(datetime.fromtimestamp(at, UTC)).strftime(INPUT_FORMAT)
