"""HTTP transport to portals: one pool of connections per process (urllib3).

Reusing connections matters: a TLS handshake costs more than most REST calls. The pools
are created lazily and again in a forked child (gunicorn forks workers after the app is
imported), because a pooled socket must never be shared between processes.

urllib3 is used directly: on top of it, requests merged its settings, prepared the request
and parsed cookies twice on every call, about 0.2 ms of CPU a call on the benchmark machine
(bench/); a switch makes two calls, a page open with 1,000 flows twenty-one. What requests
read from the environment is read here once: the CA bundle (``REQUESTS_CA_BUNDLE`` or
``CURL_CA_BUNDLE``, else certifi's, as requests did) and the proxies with their
``no_proxy`` exceptions.
"""

from __future__ import annotations

import json as jsonlib
import os
import threading
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment

import certifi
import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from b24.errors import PortalMoved, PortalUnreachable

VERSION = "0.1.0"  # keep in step with pyproject.toml
USER_AGENT = f"flow-switch/{VERSION}"

# Portals kept in the pool, and sockets per portal (one per thread calling it at once).
POOL_PORTALS = 32
POOL_PER_PORTAL = 16

CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "gzip, deflate"}


class Transport:
    """Connection pools per host, through the proxy the environment names for it; no retries
    at this level (the REST client decides what may be sent again)."""

    def __init__(self) -> None:
        found = getproxies_environment()
        self._no_proxy = found  # proxy_bypass_environment reads its "no" entry
        self.proxies = {scheme: url for scheme, url in found.items() if scheme != "no"}
        self.ca_certs = next(
            (os.environ[name] for name in CA_BUNDLE_VARIABLES if os.environ.get(name)), certifi.where()
        )
        settings: dict[str, Any] = {
            "num_pools": POOL_PORTALS,
            "maxsize": POOL_PER_PORTAL,
            "retries": False,
            "ca_certs": self.ca_certs,
        }
        self.direct = urllib3.PoolManager(**settings)
        self._proxied = {url: urllib3.ProxyManager(url, **settings) for url in set(self.proxies.values())}

    def pool_for(self, url: str) -> urllib3.PoolManager:
        """The direct pools, or those of the proxy the environment names for ``url``'s scheme."""
        parts = urlsplit(url)
        proxy = self.proxies.get(parts.scheme) or self.proxies.get("all")
        if proxy is None or proxy_bypass_environment(parts.hostname or "", self._no_proxy):
            return self.direct
        return self._proxied[proxy]

    def request(
        self, url: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> urllib3.BaseHTTPResponse:
        """POST ``body``; the whole answer is read (the connection goes back to the pool)."""
        return self.pool_for(url).request(
            "POST", url, body=body, headers=_HEADERS | headers, timeout=timeout, retries=False, redirect=False
        )


_lock = threading.Lock()
_session: Transport | None = None
_session_pid = 0


def new_session() -> Transport:
    return Transport()


def get_session() -> Transport:
    """This process's transport; a forked child gets a fresh one."""
    global _session, _session_pid
    pid = os.getpid()
    if _session is None or _session_pid != pid:
        with _lock:
            if _session is None or _session_pid != pid:
                _session, _session_pid = new_session(), pid
    return _session


def _reset_after_fork() -> None:
    # A lock held by another thread at fork time would stay locked in the child forever.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def _unreachable(code: str, exc: Exception, *, sent: bool) -> PortalUnreachable:
    # The text names the host and method only: the token travels in a header.
    return PortalUnreachable(code, f"{type(exc).__name__}: {exc}", request_sent=sent)


def post(
    session: Transport,
    url: str,
    *,
    json: Any = None,
    form: dict[str, str] | None = None,
    token: str | None = None,
    timeout: float,
) -> tuple[int, dict[str, Any] | None]:
    """POST ``json`` (or ``form``); the status and the decoded object (``None`` if not a JSON object).

    ``token`` travels as ``Authorization: Bearer``, never in the URL. Redirects are not
    followed: a POST must not turn into a GET elsewhere, nor carry a token there, and
    Bitrix24 redirects only when the portal's address changed (``PortalMoved``).
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if form is not None:
        body = urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    else:
        body = jsonlib.dumps(json, allow_nan=False).encode()
        headers["Content-Type"] = "application/json"
    try:
        response = session.request(url, body, headers, timeout)
    except NewConnectionError as exc:  # refused, unresolvable: nothing was sent
        raise _unreachable("CONNECTION_FAILED", exc, sent=False) from exc
    except ConnectTimeoutError as exc:
        raise _unreachable("TIMEOUT", exc, sent=False) from exc
    except Urllib3Timeout as exc:  # the request went out; the answer did not come in time
        raise _unreachable("TIMEOUT", exc, sent=True) from exc
    except (HTTPError, OSError) as exc:
        raise _unreachable("CONNECTION_FAILED", exc, sent=True) from exc
    location = response.get_redirect_location()
    if location:
        raise PortalMoved(urljoin(url, location), response.status)
    try:
        payload = jsonlib.loads(response.data)
    except ValueError:
        payload = None
    return response.status, payload if isinstance(payload, dict) else None
