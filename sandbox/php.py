"""PHP array semantics the portal inherits: ``parse_str`` for forms, ``http_build_query`` for events.

PHP has one ordered-map type; a map keyed 0..n-1 is what JSON calls a list, and an
empty one serialises as ``[]``. Parsed forms are turned into plain dicts and lists so
methods see the same shapes whether a client sent JSON or a form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

_SEGMENT = re.compile(r"\[([^\]]*)\]")


def _key(raw: str) -> str | int:
    # PHP turns decimal keys into integers ("07" stays a string).
    return int(raw) if re.fullmatch(r"-?(0|[1-9]\d*)", raw) else raw


def _path(name: str) -> list[str | int | None]:
    """``a[b][]`` -> ``["a", "b", None]``; None means "append"."""
    bracket = name.find("[")
    if bracket <= 0 or "]" not in name[bracket:]:
        return [re.sub(r"[. \[]", "_", name)]
    base = re.sub(r"[. ]", "_", name[:bracket])
    rest = name[bracket:]
    segments: list[str | int | None] = [base]
    pos = 0
    for match in _SEGMENT.finditer(rest):
        if match.start() != pos:
            break  # PHP ignores anything after the first malformed segment
        segments.append(None if match.group(1) == "" else _key(match.group(1)))
        pos = match.end()
    return segments


def _assign(target: dict, path: list[str | int | None], value: str) -> None:
    node = target
    for index, segment in enumerate(path):
        if segment is None:
            segment = max((k for k in node if isinstance(k, int)), default=-1) + 1
        if index == len(path) - 1:
            node[segment] = value
            return
        child = node.get(segment)
        if not isinstance(child, dict):
            child = node[segment] = {}
        node = child


def listify(value: Any) -> Any:
    """Dicts keyed 0..n-1 become lists, recursively (what ``json_encode`` would emit)."""
    if isinstance(value, dict):
        items = {k: listify(v) for k, v in value.items()}
        if items and list(items) == list(range(len(items))):
            return list(items.values())
        return items
    if isinstance(value, list):
        return [listify(v) for v in value]
    return value


def parse_str(query: str) -> dict[str, Any]:
    """PHP ``parse_str``: ``a[b][c]=v&l[]=1&l[]=2`` -> ``{"a": {"b": {"c": "v"}}, "l": ["1", "2"]}``."""
    return parse_pairs(parse_qsl(query, keep_blank_values=True))


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``parse_str`` over already-decoded (name, value) pairs (a Werkzeug MultiDict)."""
    raw: dict = {}
    for name, value in pairs:
        _assign(raw, _path(name), value)
    return {str(k): listify(v) for k, v in raw.items()}


def _scalar(value: Any) -> str:
    if value is True:
        return "1"
    if value is False:
        return "0"
    return str(value)


def build_pairs(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """PHP ``http_build_query`` as (name, value) pairs: nested keys as ``a[b][0]``, None skipped."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, Mapping):
            pairs.extend(build_pairs(value, name))
        elif isinstance(value, list | tuple):
            pairs.extend(build_pairs(dict(enumerate(value)), name))
        elif value is not None:
            pairs.append((name, _scalar(value)))
    return pairs


def build_query(data: Mapping[str, Any]) -> str:
    return urlencode(build_pairs(data))


def truthy(value: Any) -> bool:
    """PHP ``(bool)``: "0" and "" are false, the string "false" is true."""
    if isinstance(value, str):
        return value not in ("", "0")
    return bool(value)


def as_json_map(items: Mapping[Any, Any]) -> Any:
    """A PHP array as ``json_encode`` emits it: ``[]`` when empty, a list when keyed 0..n-1."""
    keys = [int(k) if isinstance(k, str) and re.fullmatch(r"0|[1-9]\d*", k) else k for k in items]
    if keys == list(range(len(keys))):
        return list(items.values())
    return {str(k): v for k, v in items.items()}


def intval(value: Any) -> int:
    """PHP ``intval`` for request values: leading digits, otherwise 0."""
    if isinstance(value, bool | int):
        return int(value)
    match = re.match(r"\s*([+-]?\d+)", str(value))
    return int(match.group(1)) if match else 0
