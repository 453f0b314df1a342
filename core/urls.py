"""Hosts, origins and endpoints as Bitrix24 and browsers write them, each normalised in one place."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import current_app, request, url_for

_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


def normalize_domain(value: str) -> str:
    """``Portal.Example.com:443`` -> ``portal.example.com``; other ports are kept."""
    host = (value or "").strip().lower().rstrip("/")
    for default_port in (":443", ":80"):
        if host.endswith(default_port):
            host = host[: -len(default_port)]
    return host


def origin_of(url: str) -> str:
    """``https://x.example/rest/`` -> ``https://x.example``; ``""`` for anything but http(s) URLs."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    return f"{parts.scheme}://{parts.netloc.lower()}"


def portal_origin(address: str, *, allow_http: bool) -> str:
    """What a person types as their portal (``acme.bitrix24.com``, ``https://acme.bitrix24.com/x``)
    as an origin (``https://acme.bitrix24.com``); ``""`` when it is not a plain web address."""
    address = address.strip()
    parts = urlsplit(address if "://" in address else f"https://{address}")
    schemes = ("https", "http") if allow_http else ("https",)
    try:
        port = parts.port
    except ValueError:
        return ""
    host = parts.hostname or ""
    if parts.scheme not in schemes or not _HOST.fullmatch(host) or parts.username or parts.password:
        return ""
    return f"{parts.scheme}://{normalize_domain(f'{host}:{port}' if port else host)}"


def same_site_endpoint(client_endpoint: str, domain: str, *, allow_http: bool) -> bool:
    """Whether ``client_endpoint`` is a plain http(s) URL on ``domain`` (the verified portal)."""
    parts = urlsplit(client_endpoint)
    schemes = ("https", "http") if allow_http else ("https",)
    return (
        parts.scheme in schemes
        and bool(domain)
        and normalize_domain(parts.netloc) == normalize_domain(domain)
        and not parts.username
        and not parts.password
    )


def script_source(url: str) -> str:
    """The CSP source that admits a script exactly as a page loads it from ``url``.

    A scheme-relative URL (``//api.bitrix24.com/api/v1/``) loads over the page's own
    scheme, so its source is the bare host: CSP matches that on the page's scheme (and on
    https from an http page). ``/bx24.js`` is the page's own origin (``'self'``).
    """
    parts = urlsplit(url)
    if not parts.netloc:
        return "'self'"
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme else parts.netloc


def public_url_for(endpoint: str) -> str:
    """The app's public URL of ``endpoint``: under ``APP_PUBLIC_URL``, else the request's own base
    (which the trusted proxies of ``PROXY_COUNT`` name). Bitrix24 calls the app there."""
    base = current_app.config["APP_PUBLIC_URL"] or request.url_root.rstrip("/")
    return base + url_for(endpoint)
