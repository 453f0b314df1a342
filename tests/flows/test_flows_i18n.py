"""Every message the app can show exists in English, Russian and German, and the .mo files are current."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from core.i18n import babel_locale

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ("en", "ru", "de")
# The same keywords as the extract command in babel.cfg.
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}
PLACEHOLDER = re.compile(r"\{\w+\}|%\(\w+\)[sd]")


def source_messages() -> set[str]:
    with open(ROOT / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def catalog(locale: str):
    with open(ROOT / "translations" / locale / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=locale)


@pytest.fixture(scope="module")
def messages() -> set[str]:
    found = source_messages()
    assert "Task flows" in found  # extraction really reads the templates and the code
    return found


def forms(message) -> list[str]:
    """A message's translation: one string, or every plural form (``ngettext``)."""
    return [message.string] if isinstance(message.string, str) else list(message.string)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated(messages: set[str], locale: str) -> None:
    translated = {
        m.id if isinstance(m.id, str) else m.id[0]: m
        for m in catalog(locale)
        if m.id and all(forms(m)) and not m.fuzzy
    }
    missing = sorted(messages - set(translated))
    assert not missing, f"{locale}: no translation for {missing}; see babel.cfg for the commands"
    for msgid in messages:
        for form in forms(translated[msgid]):
            assert sorted(PLACEHOLDER.findall(form)) == sorted(PLACEHOLDER.findall(msgid)), (
                f"{locale}: placeholders differ in {msgid!r}"
            )


@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalogues_match_the_po_files(locale: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, catalog(locale))
    committed = (ROOT / "translations" / locale / "LC_MESSAGES" / "messages.mo").read_bytes()
    assert committed == compiled.getvalue(), f"run `pybabel compile -d translations` ({locale} is stale)"


@pytest.mark.parametrize(
    ("bitrix", "babel"),
    [
        ("en", "en"),
        ("ru", "ru"),
        ("de", "de"),
        ("ua", "uk"),
        ("br", "pt_BR"),
        ("la", "es"),
        ("sc", "zh_Hans"),
        ("tc", "zh_Hant"),
        ("fr", "fr"),
        ("DE", "de"),
        ("", "en"),
        (None, "en"),
        ("<script>", "en"),
        ("english", "en"),
    ],
)
def test_bitrix_language_ids_map_to_babel_locales(bitrix: str | None, babel: str) -> None:
    assert babel_locale(bitrix) == babel
