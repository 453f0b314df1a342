"""HTTP transport to portals: one pooled ``requests.Session`` per process.

Reusing connections matters: a TLS handshake costs more than most REST calls. The
session is created lazily and again in a forked child (gunicorn forks workers after
the app is imported), because a pooled socket must never be shared between processes.
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urljoin
from urllib.request import getproxies_environment

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from b24.errors import PortalMoved, PortalUnreachable

VERSION = "0.1.0"  # keep in step with pyproject.toml
USER_AGENT = f"flow-switch/{VERSION}"

# Portals kept in the pool, and sockets per portal (one per thread calling it at once).
POOL_PORTALS = 32
POOL_PER_PORTAL = 16

# Besides proxy variables, the environment settings requests would otherwise miss.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")

_lock = threading.Lock()
_session: requests.Session | None = None
_session_pid = 0


def new_session() -> requests.Session:
    """A session with a sized pool and no transport-level retries (the client decides)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=POOL_PORTALS, pool_maxsize=POOL_PER_PORTAL, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    # With trust_env, requests searches the whole environment (proxies, CA bundle, .netrc) again
    # on every call: 0.2-0.5 ms each (measured by bench/). A CA bundle is read here once; only a
    # proxy (which no_proxy may exempt a host from, per request) needs the search.
    bundle = next((os.environ[name] for name in CA_BUNDLE_VARIABLES if os.environ.get(name)), None)
    if bundle:
        session.verify = bundle
    session.trust_env = any(scheme != "no" for scheme in getproxies_environment())
    return session


def get_session() -> requests.Session:
    """This process's session; a forked child gets a fresh one."""
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


def _never_connected(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    return isinstance(getattr(reason, "reason", reason), NewConnectionError)


def _unreachable(code: str, exc: requests.RequestException) -> PortalUnreachable:
    # The text names the host and method only: the token travels in a header.
    return PortalUnreachable(code, f"{type(exc).__name__}: {exc}", request_sent=not _never_connected(exc))


def post(
    session: requests.Session,
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
    try:
        response = session.post(
            url,
            json=json,
            data=form,
            headers={"Authorization": f"Bearer {token}"} if token else None,
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout as exc:
        raise _unreachable("TIMEOUT", exc) from exc
    except requests.RequestException as exc:
        raise _unreachable("CONNECTION_FAILED", exc) from exc
    if response.is_redirect:
        raise PortalMoved(urljoin(url, response.headers["Location"]), response.status_code)
    try:
        payload = response.json()
    except ValueError:
        payload = None
    return response.status_code, payload if isinstance(payload, dict) else None
