"""Configuration: defaults, then the environment, then the caller's mapping (tests).

Every setting the app reads is listed in ``DEFAULTS`` and documented in the README's
configuration table. A value from the environment is parsed to the type of its default
(list, bool, int, float or str), and ``validate`` checks the whole, so a mistake stops
the app at start with a message that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

#: the shortest ``SECRET_KEY`` accepted (it signs sessions and derives the token keys)
MIN_SECRET_LENGTH = 32

DEFAULTS: dict[str, Any] = {
    "APP_ENV": "development",
    # No default on purpose: a key printed in the code would let anyone forge a session.
    "SECRET_KEY": "",
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
    # the portal's operating-time limit per method (seconds of execution in 10 minutes); background
    # work leaves a method alone once half of it is used (b24/operating.py)
    "B24_OPERATING_LIMIT": 480.0,
    # how long a method Bitrix24 refused for its operating time is not called when no reset time
    # is known, and the longest it is ever left alone
    "B24_OPERATING_BACKOFF": 60.0,
    "B24_OPERATING_BACKOFF_MAX": 600.0,
    # the app's public base URL (https://flows.example.com): event handlers are bound to it
    "APP_PUBLIC_URL": "",
    "REDIS_URL": "",
    # background jobs (RQ); empty: REDIS_URL (RQ cannot run on a Redis Cluster)
    "JOBS_REDIS_URL": "",
    "INSTANCE_DIR": "",
    "PROXY_COUNT": 0,
    # the largest request body accepted (bytes); a frame POST or an event is about 2 KB
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "LOG_FORMAT": "",
    "LOG_LEVEL": "INFO",
    "FRAME_SESSION_TTL": 3600,
    "VERIFY_CACHE_TTL": 300,
    # the list cache (services/flow_cache.py), seconds; FLOW_CACHE_TTL=0 turns it off
    "FLOW_CACHE_TTL": 30.0,
    "VISIBILITY_CACHE_TTL": 120.0,
    # list reloads one user may have skip the cache (``?fresh=1``) per minute; beyond, the cache answers
    "FRESH_READS_PER_MINUTE": 4,
    # flows page: how long a switch waits for another switch of the same flow
    "SWITCH_LOCK_WAIT": 10.0,
    # the activity log (services/activity.py): entries kept per portal, and for how many days
    "ACTIVITY_MAX_ENTRIES": 50000,
    "ACTIVITY_MAX_DAYS": 180.0,
    # flow discovery (services/discovery.py)
    "DISCOVERY_TASK_PAGES": 10,
    "DISCOVERY_SCAN_MARGIN": 100,
    "DISCOVERY_SCAN_LIMIT": 5000,
    "DISCOVERY_STALE_SECONDS": 3600,
    "DISCOVERY_LOCK_SECONDS": 600,
    # a portal without tasks.flow.Flow.list (services/flow_list.py) is asked again after this long
    "FLOW_LIST_REPROBE_SECONDS": 86400,
    # an uninstall event Bitrix24 did not confirm yet is checked again after this many
    # seconds, then at doubling intervals, for UNINSTALL_RECHECK_FOR seconds
    "UNINSTALL_RECHECK_FIRST": 60.0,
    "UNINSTALL_RECHECK_FOR": 86400.0,
    # after an uninstall, install and update events (late from Bitrix24's queue) are ignored
    # for this long, unless the installer runs again
    "UNINSTALL_TOMBSTONE_SECONDS": 7 * 86400,
    # an administrator's page open checks the app's event handlers (event.get) at most this often
    "EVENTS_CHECK_SECONDS": 3600,
    # the job worker's housekeeping (RQ's registries, its scheduler, the schedules' sweep), seconds
    "JOBS_MAINTENANCE_SECONDS": 30,
    # scheduled pause and resume (services/schedules.py)
    "SCHEDULES_PER_USER": 100,
    # a finished or failed schedule stays on the page this long (seconds), then goes
    "SCHEDULE_KEEP_FINISHED": 14 * 86400.0,
    # an edge Bitrix24 could not take (busy, unreachable) is tried again for this long after its time
    "SCHEDULE_RETRY_FOR": 3600.0,
    # an edge still pending this long after its time, with no job waiting for it, is queued again
    "SCHEDULE_CATCH_UP_AFTER": 30.0,
    # a pending schedule's user gets a fresh token pair when theirs is this old (refresh tokens
    # lived 28 days in older Bitrix24 docs), checked every SCHEDULE_TOKEN_CHECK_EVERY seconds
    "SCHEDULE_TOKEN_REFRESH_AFTER": 14 * 86400.0,
    "SCHEDULE_TOKEN_CHECK_EVERY": 3600.0,
    # notices when a flow is paused or resumed (services/flow_notices.py): the most people one
    # notice may reach; above it nobody is told and the person who switched hears why
    "NOTICE_MAX_RECIPIENTS": 100,
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
_TYPE_NAMES = {bool: "1 or 0", int: "a whole number", float: "a number"}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _parse(key: str, raw: str) -> Any:
    """``raw`` (an environment value) as the type of the setting's default."""
    kind = type(DEFAULTS[key])
    if kind is list:
        return _split_list(raw)
    if kind is str:
        return raw
    try:
        return _BOOL[raw.strip().lower()] if kind is bool else kind(raw)
    except (KeyError, ValueError):
        raise ConfigError(f"{key} must be {_TYPE_NAMES[kind]}, not {raw!r}") from None


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


def _public_url(value: str, *, allow_http: bool) -> str:
    if not value:
        return ""
    parts = urlsplit(value.strip())
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"APP_PUBLIC_URL must be the app's https:// base URL, not {value!r}")
    return value.strip().rstrip("/")


def _check_secret(config: dict[str, Any]) -> None:
    secret = config["SECRET_KEY"] or ""
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"Refusing to start: SECRET_KEY is {'too short' if secret else 'not set'} "
            f"(at least {MIN_SECRET_LENGTH} characters). It signs every page session, so it must be "
            "secret: generate one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'` "
            "(`make run` keeps one in instance/secret_key)."
        )


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise a merged configuration in place; raise ``ConfigError``."""
    if config["APP_ENV"] not in ("development", "production", "testing"):
        raise ConfigError(f"APP_ENV must be development, production or testing, not {config['APP_ENV']!r}")
    _check_secret(config)
    servers = config["B24_OAUTH_SERVERS"]
    if isinstance(servers, str):
        servers = _split_list(servers)
    if not servers:
        raise ConfigError("B24_OAUTH_SERVERS must list at least one authorization server")
    config["B24_OAUTH_SERVERS"] = [
        normalize_server(entry, allow_http=config["B24_ALLOW_HTTP"]) for entry in servers
    ]
    config["B24_RATE_LIMIT_PARSED"] = parse_rate_limit(str(config["B24_RATE_LIMIT"]))
    config["APP_PUBLIC_URL"] = _public_url(config["APP_PUBLIC_URL"], allow_http=config["B24_ALLOW_HTTP"])
    jobs_on = config["JOBS_REDIS_URL"] or config["REDIS_URL"]
    if urlsplit(jobs_on).scheme == "redis+cluster":
        raise ConfigError(
            "JOBS_REDIS_URL must name a plain or Sentinel Redis: background jobs (RQ) cannot run "
            "on a Redis Cluster, and REDIS_URL is a redis+cluster:// URL"
        )
    if config["JOBS_MAINTENANCE_SECONDS"] < 1:
        raise ConfigError("JOBS_MAINTENANCE_SECONDS must be at least 1")
    if config["SCHEDULES_PER_USER"] < 1:
        raise ConfigError("SCHEDULES_PER_USER must be at least 1")
    if config["NOTICE_MAX_RECIPIENTS"] < 1:
        raise ConfigError("NOTICE_MAX_RECIPIENTS must be at least 1")
    if config["PROXY_COUNT"] < 0:
        raise ConfigError("PROXY_COUNT must be 0 or more")
    if config["FLOW_LIST_REPROBE_SECONDS"] < 1:
        raise ConfigError("FLOW_LIST_REPROBE_SECONDS must be at least 1")
    if config["ACTIVITY_MAX_ENTRIES"] < 1 or config["ACTIVITY_MAX_DAYS"] <= 0:
        raise ConfigError("ACTIVITY_MAX_ENTRIES and ACTIVITY_MAX_DAYS must be positive")
    if config["MAX_CONTENT_LENGTH"] < 4096:
        raise ConfigError("MAX_CONTENT_LENGTH must be at least 4096 bytes (a frame POST is about 2 KB)")
    if config["APP_ENV"] == "production":
        for key in ("B24_CLIENT_ID", "B24_CLIENT_SECRET"):
            if not config[key]:
                raise ConfigError(f"Refusing to start with APP_ENV=production: {key} is not set")
        if not config["APP_PUBLIC_URL"] and not config["PROXY_COUNT"]:
            raise ConfigError(
                "Refusing to start with APP_ENV=production: set APP_PUBLIC_URL to the app's public "
                "https:// URL (event handlers are bound to it), or PROXY_COUNT to the number of trusted "
                "proxies whose X-Forwarded-* headers name it"
            )
    return config


def load_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Defaults, then the environment, then ``overrides``; validated."""
    config = dict(DEFAULTS)
    config.update(from_environ(os.environ if environ is None else environ))
    config.update(overrides or {})
    return validate(config)
