"""Method table and dispatch: Bitrix's lowercase-then-original lookup, scope check, per-method counters."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.envelope import time_block
from sandbox.errors import RestError
from sandbox.state import World

GLOBAL_SCOPE = "_global"
OAUTH, SESSION = "oauth", "session"  # how a call authenticated (CRestServer::getAuthType)
# LoadLimiter::$ignoreMethod: the outer batch is not timed; its sub-calls are, one by one.
NOT_TIMED = {"batch"}
AUTH_KEYS = ("auth", "access_token")  # removed from the params before a method runs
PAGE = 50  # IRestService::LIST_LIMIT
# A token with any of these scopes may call a method of the key scope.
SCOPE_ALIASES = {"user": {"user", "user_brief", "user_basic"}}


@dataclass
class Call:
    """One method invocation: who calls, with what token scope, and the cleaned params."""

    world: World
    user_id: int
    scope: set[str]
    params: dict[str, Any]
    auth_type: str = OAUTH

    @property
    def is_admin(self) -> bool:
        return self.world.is_admin(self.user_id)

    def param(self, *names: str, default: Any = None) -> Any:
        """The first present of ``names`` (Bitrix accepts e.g. ``filter`` and ``FILTER``)."""
        for name in names:
            if name in self.params:
                return self.params[name]
        return default


@dataclass
class Result:
    value: Any
    total: int | None = None
    next: int | None = None


def paginate(items: list[Any], start: int) -> Result:
    """One page of 50 from offset ``start`` with ``total``/``next``; ``start=-1`` skips the count."""
    if start < 0:
        return Result(items[:PAGE])
    following = start + PAGE if start + PAGE < len(items) else None
    return Result(items[start : start + PAGE], total=len(items), next=following)


@dataclass(frozen=True)
class Method:
    name: str
    scope: str
    handler: Callable[[Call], Any]
    # Whether this portal has the method at all (None: always); absent methods answer 404.
    enabled: Callable[[World], bool] | None = None

    def available(self, world: World) -> bool:
        return self.enabled is None or self.enabled(world)


REGISTRY: dict[str, Method] = {}


def method(
    name: str,
    scope: str = GLOBAL_SCOPE,
    *,
    case_sensitive: bool = False,
    enabled: Callable[[World], bool] | None = None,
):
    """Register a method. Classic methods live under their lowercase name, D7 controllers as spelled."""

    def register(handler: Callable[[Call], Any]) -> Callable[[Call], Any]:
        key = name if case_sensitive else name.lower()
        REGISTRY[key] = Method(name, scope, handler, enabled)
        return handler

    return register


def find(world: World, name: str) -> Method | None:
    """The method registered under exactly ``name`` on this portal (``method.get`` looks up this way)."""
    found = REGISTRY.get(name)
    if found is None and world.settings.lowercase_flow_methods == "resolve":
        found = next((m for key, m in REGISTRY.items() if key.lower() == name.lower()), None)
    return found if found is not None and found.available(world) else None


def resolve(world: World, name: str) -> Method:
    """Try ``name.lower()`` then ``name`` (the rest.server component); 404 when neither exists."""
    for candidate in (name.lower(), name):
        found = find(world, candidate)
        if found is not None:
            return found
    raise RestError("ERROR_METHOD_NOT_FOUND")


def in_scope(found: Method, call: Call) -> bool:
    """Session auth (the portal's own pages) is not limited to an app's scope."""
    if found.scope == GLOBAL_SCOPE or call.auth_type == SESSION:
        return True
    return bool(call.scope & SCOPE_ALIASES.get(found.scope, {found.scope}))


def execute(call: Call, name: str, started: float) -> tuple[Result, dict[str, Any]]:
    """Run ``name`` for ``call`` (an HTTP request or a batch item begun at ``started``).

    Returns the result and its ``time`` block. Like ``CRestServer::processCall``, a method whose
    accumulated operating time is over the limit is refused before it runs; the LoadLimiter
    times OAuth calls only (``$limitedEntityTypes``), never the outer batch.
    """
    world = call.world
    found = resolve(world, name)
    if not in_scope(found, call):
        raise RestError("insufficient_scope")
    fault = world.take_fault({found.name}, per_call=True)
    if fault is not None:
        raise fault
    with world.lock:
        app = world.app.client_id if world.app is not None else ""
        timed = call.auth_type == OAUTH and found.name not in NOT_TIMED
        if timed and world.operating.blocked(app, found.name):
            raise RestError("OPERATION_TIME_LIMIT")
        clock = world.operating.now()
    world.count_call(found.name, call.user_id)
    began = time.monotonic()
    value = found.handler(call)
    processing = time.monotonic() - began
    result = value if isinstance(value, Result) else Result(value)
    with world.lock:
        if timed:
            charged = world.settings.operating_cost.get(found.name, processing)
            world.operating.record(app, found.name, clock, charged)
        operating = world.operating.operating(app, found.name) if timed else 0
        reset_at = world.operating.reset_at(app, found.name, clock)
    return result, time_block(started, processing, operating, reset_at)
