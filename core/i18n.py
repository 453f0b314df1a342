"""Languages and time zones: Flask-Babel with the locale taken from the portal frame's ``LANG``.

Bitrix24 sends its own language ids, most of them ISO 639-1 but a few not
(``ua`` is Ukrainian, ``br`` Brazilian Portuguese, ...). The page and the API set
the language of the request with ``use_portal_language``; anything without a
catalogue falls back to English, so ``<html lang>`` always names the language
the text is really in. Times are shown in the zone ``use_time_zone`` names (the user's
Bitrix24 ``TIME_ZONE``, else their browser's), UTC when none is known.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytz
from babel import Locale
from flask import Flask, current_app, g
from flask_babel import Babel

DEFAULT_LOCALE = "en"

# Bitrix24 language ids that are not BCP-47/Babel codes.
_BITRIX_TO_BABEL = {"ua": "uk", "br": "pt_BR", "la": "es", "sc": "zh_Hans", "tc": "zh_Hant"}
_LANG_ID = re.compile(r"[a-z]{2}")


def babel_locale(lang: str | None) -> str:
    """The Babel locale name for a Bitrix24 language id (``ua`` -> ``uk``), unchecked."""
    code = (lang or "").strip().lower()
    if not _LANG_ID.fullmatch(code):
        return DEFAULT_LOCALE
    return _BITRIX_TO_BABEL.get(code, code)


def available_locales(app: Flask) -> frozenset[str]:
    """Locales with a compiled catalogue in the app's ``translations`` directory, plus English."""
    root = Path(app.root_path) / "translations"
    found = {path.parts[-3] for path in root.glob("*/LC_MESSAGES/messages.mo")}
    return frozenset(found | {DEFAULT_LOCALE})


def resolve_locale(lang: str | None) -> str:
    """The locale the app will actually speak for a Bitrix24 ``LANG``: its own, or English."""
    locale = babel_locale(lang)
    return locale if locale in current_app.extensions["fs_locales"] else DEFAULT_LOCALE


def use_portal_language(lang: str | None) -> str:
    """Speak the portal's language for the rest of this request; returns the locale used."""
    g.fs_locale = resolve_locale(lang)
    return g.fs_locale


def current_locale() -> str:
    """The locale this request (or job) speaks."""
    return g.get("fs_locale", DEFAULT_LOCALE)


def known_time_zone(name: object) -> bool:
    """Whether ``name`` is an IANA time zone both Babel's formatting (pytz) and the standard library know."""
    return isinstance(name, str) and name in pytz.all_timezones_set


def use_time_zone(zone: str | None) -> str:
    """Show times in ``zone`` for the rest of this request (UTC when it is not a known zone); returns it."""
    g.fs_time_zone = zone if known_time_zone(zone) else "UTC"
    return g.fs_time_zone


def html_lang() -> str:
    """The current locale as a BCP-47 tag for ``<html lang>`` (``pt_BR`` -> ``pt-BR``)."""
    return str(Locale.parse(current_locale())).replace("_", "-")


def init_app(app: Flask) -> None:
    app.extensions["fs_locales"] = available_locales(app)
    Babel(
        app,
        default_locale=DEFAULT_LOCALE,
        locale_selector=lambda: g.get("fs_locale", DEFAULT_LOCALE),
        timezone_selector=lambda: g.get("fs_time_zone", "UTC"),
    )
    app.jinja_env.globals["html_lang"] = html_lang
