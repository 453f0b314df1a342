"""Notification text as the portal shows it: escaped first, then a few BB codes and line breaks."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_STYLE = re.compile(r"\[(b|i|u)\](.*?)\[/\1\]", re.IGNORECASE | re.DOTALL)
_LINK = re.compile(r"\[url=((?:https?://|/)[^\]\s\"<>]*)\](.*?)\[/url\]", re.IGNORECASE | re.DOTALL)
_BARE_LINK = re.compile(r"\[url\]((?:https?://|/)[^\[\s\"<>]*)\[/url\]", re.IGNORECASE)


def render(text: str) -> Markup:
    """Markup safe to put into the page: the text is escaped before any tag is added."""
    html = str(escape(text))
    html = _STYLE.sub(lambda m: f"<{m.group(1).lower()}>{m.group(2)}</{m.group(1).lower()}>", html)
    html = _LINK.sub(r'<a href="\1" target="_blank" rel="noopener">\2</a>', html)
    html = _BARE_LINK.sub(r'<a href="\1" target="_blank" rel="noopener">\1</a>', html)
    return Markup(html.replace("\n", "<br>"))  # noqa: S704 - built from escaped text only
