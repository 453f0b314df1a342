"""PHP ``http_build_query`` in Python: how batch sub-commands carry their parameters.

Bitrix24 splits each batch command ``"method?query"`` with ``parse_url`` and reads the
query with PHP's ``parse_str``, so the query must be written the way PHP writes it:
nested mappings and lists as ``a[b][0]=v``, ``True``/``False`` as ``1``/``0``, ``None``
and empty containers left out, RFC 1738 escaping (space as ``+``).

``parse_str`` cannot represent every key: it turns ``.`` and spaces in a top-level
name into ``_`` and stops a nested key at the first ``]``. Bitrix24 parameter names
never contain those, so they are sent as given.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote_plus


def _quote(text: str) -> str:
    # PHP's urlencode() escapes "~" too; Python treats it as unreserved.
    return quote_plus(text, safe="").replace("~", "%7E")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _pairs(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if value is None:
        return
    if isinstance(value, Mapping):
        children: Any = value.items()
    elif isinstance(value, list | tuple):
        children = enumerate(value)
    else:
        yield prefix, _scalar(value)
        return
    for key, child in children:
        yield from _pairs(f"{prefix}[{_scalar(key)}]", child)


def http_build_query(params: Mapping[str, Any]) -> str:
    """``params`` as PHP's ``http_build_query`` would encode them."""
    return "&".join(
        f"{_quote(name)}={_quote(text)}"
        for key, value in params.items()
        for name, text in _pairs(_scalar(key), value)
    )
