"""``batch`` (§4.7): up to 50 ``"method?query"`` commands in one request, ``$result[...]`` references."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Any

from sandbox.errors import RestError
from sandbox.methods.registry import AUTH_KEYS, Call, execute, method
from sandbox.php import as_json_map, parse_str, truthy

MAX_LENGTH = 50  # CRestUtil::BATCH_MAX_LENGTH
_REFERENCE = re.compile(r"\$result\[([^\]]+)\]((?:\[[^\]]*\])*)", re.IGNORECASE)
_MISSING = object()


def _walk(results: dict[Any, Any], key: str, path: str) -> Any:
    """The value ``$result[key][a][b]`` points at, or _MISSING."""
    node = next((v for k, v in results.items() if str(k).lower() == key.lower()), _MISSING)
    for step in re.findall(r"\[([^\]]*)\]", path):
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return _MISSING
    return node


def _as_text(value: Any) -> str:
    if value is True:
        return "1"
    if value in (False, None):
        return ""
    return str(value)


def substitute(value: Any, results: dict[Any, Any]) -> Any:
    """Replace references in every string; a value that is one whole reference takes the raw value."""
    if isinstance(value, dict):
        return {k: substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, results) for v in value]
    if not isinstance(value, str) or "$result" not in value.lower():
        return value
    whole = _REFERENCE.fullmatch(value)
    if whole:
        found = _walk(results, whole.group(1), whole.group(2))
        return value if found is _MISSING else found

    def replace(match: re.Match[str]) -> str:
        found = _walk(results, match.group(1), match.group(2))
        return match.group(0) if found is _MISSING else _as_text(found)

    return _REFERENCE.sub(replace, value)


def _commands(call: Call) -> list[tuple[Any, Any]]:
    cmd = {k.upper(): v for k, v in call.params.items()}.get("CMD")
    if isinstance(cmd, dict):
        return list(cmd.items())
    if isinstance(cmd, list):
        return list(enumerate(cmd))
    return []


def _run(call: Call, command: Any, results: dict[Any, Any], started: float) -> tuple[Any, dict[str, Any]]:
    if not isinstance(command, str):
        raise RestError("ERROR_METHOD_NOT_FOUND")
    name, _, query = command.partition("?")
    if name.lower() == "batch":
        raise RestError("ERROR_BATCH_METHOD_NOT_ALLOWED")
    params = substitute(parse_str(query), results)
    for key in AUTH_KEYS:
        params.pop(key, None)
    return execute(replace(call, params=params), name, started)  # same user, scope and auth type


@method("batch")
def batch(call: Call) -> dict[str, Any]:
    halt = truthy({k.upper(): v for k, v in call.params.items()}.get("HALT", False))
    results: dict[Any, Any] = {}
    errors: dict[Any, Any] = {}
    totals: dict[Any, Any] = {}
    nexts: dict[Any, Any] = {}
    times: dict[Any, Any] = {}
    for position, (key, command) in enumerate(_commands(call)):
        started = time.time()
        try:
            if position >= MAX_LENGTH:
                raise RestError("ERROR_BATCH_LENGTH_EXCEEDED")
            result, timing = _run(call, command, results, started)
        except RestError as error:
            call.world.count_rejection(error.code)
            errors[key] = {"error": error.code, "error_description": error.description}
            if halt:
                break
            continue
        results[key] = result.value
        if result.total is not None:
            totals[key] = result.total
        if result.next is not None:
            nexts[key] = result.next
        times[key] = timing
    return {
        name: as_json_map(items)
        for name, items in (
            ("result", results),
            ("result_error", errors),
            ("result_total", totals),
            ("result_next", nexts),
            ("result_time", times),
        )
    }
