"""Global methods about the app itself: ``app.info``, ``scope``, ``method.get``, app and user options."""

from __future__ import annotations

from typing import Any

from sandbox.errors import RestError, argument_error
from sandbox.methods.registry import Call, find, in_scope, method
from sandbox.state import INSTALLED

PORTAL_SCOPES = [
    "basic", "department", "im", "placement", "sonet_group", "task", "user", "user_basic", "user_brief"
]


@method("app.info")
def app_info(call: Call) -> dict[str, Any]:
    """Portal-side ``app.info`` (§8.3); the authorization server has its own shape."""
    world = call.world
    with world.lock:
        app = world.require_app()
        language = world.settings.language
        return {
            "ID": 1,
            "CODE": app.code,
            "VERSION": app.version,
            "STATUS": app.status,
            "INSTALLED": world.install_state == INSTALLED,
            "PAYMENT_EXPIRED": "N",
            "DAYS": None,
            "LANGUAGE_ID": language,
            "LICENSE": f"{language}_basic",
            "LICENSE_TYPE": "basic",
            "LICENSE_FAMILY": "basic",
        }


@method("scope")
def scope(call: Call) -> list[str]:
    if str(call.param("full", default="")).lower() in ("1", "true", "y"):
        return PORTAL_SCOPES
    return sorted(call.scope)


@method("method.get")
def method_get(call: Call) -> dict[str, bool]:
    """The name as given (classic names in lowercase, controllers as spelled); available = in the token's scope."""
    found = find(call.world, str(call.param("name", default="")))
    return {"isExisting": found is not None, "isAvailable": found is not None and in_scope(found, call)}


def require_admin(call: Call) -> None:
    if not call.is_admin:
        raise RestError("ACCESS_DENIED", "Access denied! Administrator authorization required")


def _options_to_set(call: Call) -> dict[str, Any]:
    options = call.param("options", default=call.params)
    if not isinstance(options, dict) or not options:
        raise argument_error("options")
    return options


def _read_option(call: Call, store: dict[str, Any]) -> Any:
    with call.world.lock:
        if "option" in call.params:
            return store.get(str(call.params["option"]))
        return dict(store) or []  # PHP empty array


@method("app.option.set")
def app_option_set(call: Call) -> bool:
    require_admin(call)
    options = _options_to_set(call)
    with call.world.lock:
        call.world.app_options.update(options)
    return True


@method("app.option.get")
def app_option_get(call: Call) -> Any:
    return _read_option(call, call.world.app_options)


@method("user.option.set")
def user_option_set(call: Call) -> bool:
    options = _options_to_set(call)
    with call.world.lock:
        call.world.user_options.setdefault(call.user_id, {}).update(options)
    return True


@method("user.option.get")
def user_option_get(call: Call) -> Any:
    with call.world.lock:
        store = call.world.user_options.setdefault(call.user_id, {})
    return _read_option(call, store)
