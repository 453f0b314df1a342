"""Configuration: defaults, then the environment, then the caller's mapping (tests).

Every setting the app reads is listed in ``DEFAULTS`` and documented in the README's
configuration table; ``load_config`` parses and validates them so a mistake stops
the app at start with a message that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

DEV_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - refused in production

DEFAULTS: dict[str, Any] = {
    "APP_ENV": "development",
    "SECRET_KEY": DEV_SECRET_KEY,
    "SECRET_KEY_FALLBACKS": [],
    "TOKEN_ENCRYPTION_KEYS": [],
    "B24_CLIENT_ID": "",
    "B24_CLIENT_SECRET": "",
    "B24_OAUTH_SERVERS": ["https://oauth.bitrix.info", "https://oauth.bitrix24.tech"],
    "B24_ALLOW_HTTP": False,
    "B24_JS_SDK_URL": "//api.bitrix24.com/api/v1/",
    "B24_HTTP_TIMEOUT": 15.0,
    "B24_RATE_LIMIT": "50/2",
    # how long a request a user waits on may wait for the portal's budget before "busy"
    "B24_RATE_WAIT": 3.0,
    "REDIS_URL": "",
    "INSTANCE_DIR": "",
    "PROXY_COUNT": 0,
    "LOG_FORMAT": "",
    "LOG_LEVEL": "INFO",
    "FRAME_SESSION_TTL": 3600,
    "VERIFY_CACHE_TTL": 300,
    # the list cache (services/flow_cache.py), seconds; FLOW_CACHE_TTL=0 turns it off
    "FLOW_CACHE_TTL": 30.0,
    "VISIBILITY_CACHE_TTL": 120.0,
    # flows page: how long a switch waits for another switch of the same flow
    "SWITCH_LOCK_WAIT": 10.0,
    # flow discovery (services/discovery.py)
    "DISCOVERY_TASK_PAGES": 10,
    "DISCOVERY_SCAN_MARGIN": 100,
    "DISCOVERY_SCAN_LIMIT": 5000,
    "DISCOVERY_STALE_SECONDS": 3600,
    "DISCOVERY_LOCK_SECONDS": 600,
}

_BOOL = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
    "": False,
}
_LIST_KEYS = {"B24_OAUTH_SERVERS", "SECRET_KEY_FALLBACKS", "TOKEN_ENCRYPTION_KEYS"}
_BOOL_KEYS = {"B24_ALLOW_HTTP"}
_INT_KEYS = {
    "PROXY_COUNT",
    "FRAME_SESSION_TTL",
    "VERIFY_CACHE_TTL",
    "DISCOVERY_TASK_PAGES",
    "DISCOVERY_SCAN_MARGIN",
    "DISCOVERY_SCAN_LIMIT",
    "DISCOVERY_STALE_SECONDS",
    "DISCOVERY_LOCK_SECONDS",
}
_FLOAT_KEYS = {
    "B24_HTTP_TIMEOUT",
    "B24_RATE_WAIT",
    "SWITCH_LOCK_WAIT",
    "FLOW_CACHE_TTL",
    "VISIBILITY_CACHE_TTL",
}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _parse(key: str, raw: str) -> Any:
    if key in _LIST_KEYS:
        return _split_list(raw)
    if key in _BOOL_KEYS:
        try:
            return _BOOL[raw.strip().lower()]
        except KeyError:
            raise ConfigError(f"{key} must be 1 or 0, not {raw!r}") from None
    if key in _INT_KEYS:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{key} must be a whole number, not {raw!r}") from None
    if key in _FLOAT_KEYS:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{key} must be a number, not {raw!r}") from None
    return raw


def from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings present in ``environ``, parsed to their types."""
    return {key: _parse(key, environ[key]) for key in DEFAULTS if key in environ}


def normalize_server(entry: str, *, allow_http: bool) -> str:
    """An authorization server entry reduced to its origin, e.g. ``https://oauth.bitrix.info``."""
    parts = urlsplit(entry.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"B24_OAUTH_SERVERS entry {entry!r} is not a URL like https://oauth.bitrix.info")
    if parts.scheme == "http" and not allow_http:
        raise ConfigError(
            f"B24_OAUTH_SERVERS entry {entry!r} uses http://; set B24_ALLOW_HTTP=1 "
            "(local sandbox only) or use https://"
        )
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ConfigError(
            f"B24_OAUTH_SERVERS entry {entry!r} must be a bare origin without path, query or credentials"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


def parse_rate_limit(value: str) -> tuple[int, float]:
    """``"50/2"`` -> burst 50 requests, drained at 2 per second (Bitrix24's default plan)."""
    try:
        burst, rate = value.split("/")
        parsed = int(burst), float(rate)
    except ValueError:
        raise ConfigError(f"B24_RATE_LIMIT must look like 50/2 (burst/per-second), not {value!r}") from None
    if parsed[0] < 1 or parsed[1] <= 0:
        raise ConfigError(f"B24_RATE_LIMIT must be positive, not {value!r}")
    return parsed


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise a merged configuration in place; raise ``ConfigError``."""
    if config["APP_ENV"] not in ("development", "production", "testing"):
        raise ConfigError(f"APP_ENV must be development, production or testing, not {config['APP_ENV']!r}")
    servers = config["B24_OAUTH_SERVERS"]
    if isinstance(servers, str):
        servers = _split_list(servers)
    if not servers:
        raise ConfigError("B24_OAUTH_SERVERS must list at least one authorization server")
    config["B24_OAUTH_SERVERS"] = [
        normalize_server(entry, allow_http=config["B24_ALLOW_HTTP"]) for entry in servers
    ]
    config["B24_RATE_LIMIT_PARSED"] = parse_rate_limit(str(config["B24_RATE_LIMIT"]))
    if config["PROXY_COUNT"] < 0:
        raise ConfigError("PROXY_COUNT must be 0 or more")
    if config["APP_ENV"] == "production":
        secret = config["SECRET_KEY"] or ""
        if secret == DEV_SECRET_KEY or len(secret) < 32:
            raise ConfigError(
                "Refusing to start with APP_ENV=production: SECRET_KEY is missing, the "
                "development default, or shorter than 32 characters. Generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
            )
        for key in ("B24_CLIENT_ID", "B24_CLIENT_SECRET"):
            if not config[key]:
                raise ConfigError(f"Refusing to start with APP_ENV=production: {key} is not set")
    return config


def load_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Defaults, then the environment, then ``overrides``; validated."""
    config = dict(DEFAULTS)
    config.update(from_environ(os.environ if environ is None else environ))
    config.update(overrides or {})
    return validate(config)
