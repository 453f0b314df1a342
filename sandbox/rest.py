"""The portal's REST endpoint: ``/rest/<method>[.json|/]`` with Bitrix24's parsing, auth and envelope."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from flask import Blueprint, Request, Response, current_app, request

from sandbox import methods  # noqa: F401 - registers every method
from sandbox.envelope import envelope
from sandbox.errors import RestError
from sandbox.methods.registry import AUTH_KEYS, Call, execute
from sandbox.php import parse_pairs, parse_str
from sandbox.session_auth import session_call
from sandbox.state import World

bp = Blueprint("rest", __name__)

_BEARER = re.compile(r"^Bearer\s+", re.IGNORECASE)
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "origin, content-type, accept",
    "X-Content-Type-Options": "nosniff",
}


def world() -> World:
    return current_app.extensions["sandbox_world"]


def request_params(req: Request) -> dict[str, Any]:
    """Query, then the body on top (``array_replace``): JSON, form, or a raw ``parse_str`` body."""
    params = parse_pairs(req.args.items(multi=True))
    if req.method != "POST":
        return params
    if req.form:
        body: Any = parse_pairs(req.form.items(multi=True))
    elif req.mimetype == "application/json":
        try:
            body = json.loads(req.get_data() or b"null")
        except ValueError:
            body = {}  # Bitrix decodes invalid JSON to an empty array, silently
    else:
        body = parse_str(req.get_data(as_text=True))
    return {**params, **body} if isinstance(body, dict) else params


def pop_token(req: Request, params: dict[str, Any]) -> str | None:
    """Bearer header first, then ``auth``, then ``access_token``; auth keys never reach the method."""
    found = [params.pop(key, None) for key in AUTH_KEYS]
    header = req.headers.get("Authorization", "")
    if _BEARER.match(header):
        return _BEARER.sub("", header).strip() or None
    return next((value for value in found if isinstance(value, str) and value), None)


def json_response(body: Any, status: int = 200) -> Response:
    response = Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")
    response.headers.update(CORS)
    return response


def error_response(error: RestError) -> Response:
    world().count_rejection(error.code)
    return json_response(error.body(), error.status)


def authenticate(state: World, token: str | None, params: dict[str, Any]) -> Call:
    if not token:
        raise RestError("NO_AUTH_FOUND")
    with state.lock:
        record = state.tokens.lookup(token)
        return Call(state, record.user_id, set(record.scope.split(",")), params)


def requested_methods(name: str, params: dict[str, Any]) -> set[str]:
    """The methods an HTTP request would run: itself, and for a batch its sub-commands."""
    names = {name}
    if name.lower() == "batch":
        commands = params.get("cmd", params.get("CMD"))
        if isinstance(commands, dict):
            commands = list(commands.values())
        if isinstance(commands, list):
            names.update(str(command).partition("?")[0] for command in commands)
    return names


@bp.route("/rest/", defaults={"path": ""}, methods=["GET", "POST", "OPTIONS"])
@bp.route("/rest/<path:path>", methods=["GET", "POST", "OPTIONS"])
def endpoint(path: str) -> Response:
    started = time.time()
    if request.method == "OPTIONS":
        return json_response(None)
    state = world()
    name = path.rstrip("/").removesuffix(".json")
    params = request_params(request)
    token = pop_token(request, params)
    if not state.admit_request():
        return error_response(RestError("QUERY_LIMIT_EXCEEDED"))
    with state.serving():
        if state.settings.latency:
            time.sleep(state.settings.latency)
        requested = requested_methods(name, params)
        fault = state.take_fault(requested)
        if fault is not None:
            return error_response(fault)
        try:
            session = session_call(state, request, params) if token is None else None
            result, timing = execute(session or authenticate(state, token, params), name, started)
        except RestError as error:
            return error_response(error)
        delays = state.settings.reply_latency
        if delays:
            time.sleep(max(delays.get(method, 0.0) for method in requested))
        return json_response(envelope(result.value, timing, total=result.total, next=result.next))
