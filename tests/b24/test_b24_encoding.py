"""``http_build_query`` against known PHP output and a ``parse_str`` work-alike."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

from hypothesis import given
from hypothesis import strategies as st

from b24.encoding import http_build_query


def parse_str(query: str) -> dict[str, Any]:
    """PHP's ``parse_str`` (what Bitrix24 runs on a batch command's query), arrays as dicts."""
    result: dict[str, Any] = {}
    for pair in filter(None, query.split("&")):
        raw_name, _, raw_value = pair.partition("=")
        name, value = unquote_plus(raw_name), unquote_plus(raw_value)
        base, brackets = re.match(r"([^\[]*)((?:\[[^\]]*\])*)", name).groups()
        # PHP mangles top-level names: "." and " " become "_".
        path = [re.sub(r"[. ]", "_", base), *re.findall(r"\[([^\]]*)\]", brackets)]
        node = result
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1] if path[-1] != "" else str(len(node))] = value
    return result


def as_php(value: Any) -> Any:
    """What ``parse_str`` gives back for ``value``: strings, and arrays as dicts; ``None`` if dropped."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        kept = {str(k): as_php(v) for k, v in items}
        kept = {k: v for k, v in kept.items() if v is not None}
        return kept or None
    return str(value)


def test_known_php_output():
    # Each expected string is what PHP 8 prints for the same array.
    assert http_build_query({"a": 1, "b": "x y"}) == "a=1&b=x+y"
    assert (
        http_build_query({"fields": {"TITLE": "t", "PHONE": [{"VALUE": "1"}]}})
        == "fields%5BTITLE%5D=t&fields%5BPHONE%5D%5B0%5D%5BVALUE%5D=1"
    )
    assert http_build_query({"a": True, "b": False}) == "a=1&b=0"
    assert http_build_query({"a": None, "b": 1, "c": [], "d": {}}) == "b=1"
    assert http_build_query({"s": "~é&=+"}) == "s=%7E%C3%A9%26%3D%2B"
    assert http_build_query({"filter": {">ID": 5}}) == "filter%5B%3EID%5D=5"
    assert http_build_query({}) == ""


def test_batch_reference_reaches_the_server_untouched():
    query = http_build_query({"ID": "$result[get_user][UF_DEPARTMENT][0]"})
    assert parse_str(query) == {"ID": "$result[get_user][UF_DEPARTMENT][0]"}


def test_flow_params_round_trip():
    params = {"flowData": {"name": "Sales", "responsibleList": [["user", "3"]], "matchWorkTime": True}}
    assert parse_str(http_build_query(params)) == {
        "flowData": {"name": "Sales", "responsibleList": {"0": {"0": "user", "1": "3"}}, "matchWorkTime": "1"}
    }


_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_NESTED_KEYS = st.text(st.characters(blacklist_characters="[]", blacklist_categories=("Cs",)), min_size=1)
_SCALARS = st.none() | st.booleans() | st.integers() | st.text(st.characters(blacklist_categories=("Cs",)))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_NESTED_KEYS, inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(_NAMES, _VALUES, max_size=5))
def test_round_trip_through_parse_str(params):
    expected = {k: v for k, v in ((str(k), as_php(v)) for k, v in params.items()) if v is not None}
    assert parse_str(http_build_query(params)) == expected
