"""Verification of tokens the browser or an event hands us, via ``app.info`` on the auth server.

``DOMAIN``, ``member_id`` and ``SERVER_ENDPOINT`` in a request are claims. The
authorization server is taken from the allow-list (``B24_OAUTH_SERVERS``), never from
the request, and its ``app.info`` answer decides who the token belongs to and which
``client_endpoint`` the app may send it to. So a forged request can never make the
app contact a host outside the allow-list or the verified portal.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import redis

from b24.errors import AuthServerUnavailable, B24Error, PortalMoved, PortalUnreachable, error_from_payload
from b24.http import get_session, post
from core.keys import BadMemberId, portal_key
from core.throttle import FixedWindow
from core.urls import normalize_domain, origin_of, same_site_endpoint

log = logging.getLogger(__name__)

#: seconds a token the authorization server refused is refused again without asking it
REFUSED_TTL = 60
#: failed verifications an address may cause per minute before it is refused without a call
REFUSALS_PER_ADDRESS = 20


class VerificationFailed(Exception):
    """The request's claims do not match what the authorization server says.

    ``reason`` is for the log; the person is told one sentence that reveals nothing.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooManyRefusals(Exception):
    """Too many requests from one address failed verification lately; no call is made for it."""


class TokenRefused(VerificationFailed):
    """``app.info`` refused the token itself; ``error`` is its typed answer (``NotInstalled``, ...)."""

    def __init__(self, error: B24Error) -> None:
        super().__init__(f"app.info error {error.code}")
        self.error = error


@dataclass(frozen=True)
class Verified:
    """What the authorization server confirmed about a token (no token inside)."""

    member_id: str
    domain: str
    client_endpoint: str
    server: str
    user_id: int
    scope: str
    installed: bool


class TokenVerifier:
    """``app.info`` checks against allow-listed authorization servers, cached briefly."""

    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        client_id: str,
        servers: Sequence[str],
        allow_http: bool,
        cache_ttl: int,
        timeout: float,
    ) -> None:
        self.redis = redis_client
        self.client_id = client_id
        self.servers = tuple(servers)
        self.allow_http = allow_http
        self.cache_ttl = cache_ttl
        self.timeout = timeout
        self.refusals = FixedWindow(redis_client, "fs:refusals", limit=REFUSALS_PER_ADDRESS, window=60)

    def server_for(self, server_endpoint: str) -> str:
        """The allow-listed origin named by ``server_endpoint``; refuse any other."""
        origin = origin_of(server_endpoint)
        if origin not in self.servers:
            raise VerificationFailed("server_endpoint is not an allowed authorization server")
        return origin

    def server_by_host(self, host: str) -> str:
        """The allow-listed origin whose host is ``host`` (the code flow's ``server_domain``)."""
        wanted = normalize_domain(host)
        for origin in self.servers:
            if normalize_domain(urlsplit(origin).netloc) == wanted:
                return origin
        raise VerificationFailed("server_domain is not an allowed authorization server")

    def verify(
        self,
        access_token: str,
        *,
        member_id: str,
        domain: str,
        server_endpoint: str,
        installing: bool = False,
        client_address: str = "",
    ) -> Verified:
        """Confirm that ``access_token`` is ours, for this portal, and (unless installing) installed.

        Nobody may make the app call the authorization server at will: a token refused
        lately is refused again from a short cache, and an address (``client_address``)
        whose requests failed verification ``REFUSALS_PER_ADDRESS`` times in a minute gets
        ``TooManyRefusals`` without any call until the minute is over.
        """
        server = self.server_for(server_endpoint)
        if not access_token:
            raise VerificationFailed("no access token")
        digest = hashlib.sha256(access_token.encode()).hexdigest()
        try:
            cache_key, refused_key = (portal_key(member_id, kind, digest) for kind in ("verified", "refused"))
        except BadMemberId:
            raise VerificationFailed("malformed member_id") from None
        verified = self._cached(cache_key)
        try:
            if verified is None or verified.server != server or (not installing and not verified.installed):
                verified = self._ask(server, access_token, cache_key, refused_key, client_address)
            self._check(verified, member_id=member_id, domain=domain, installing=installing)
        except VerificationFailed:
            if client_address:
                self.refusals.count(client_address)
            raise
        return verified

    def _ask(self, server: str, access_token: str, cache_key: str, refused_key: str, client_address: str) -> Verified:
        """``app.info`` for a token not in the caches; its answer (or refusal) is cached either way."""
        if self.redis.exists(refused_key):
            raise VerificationFailed("this token was refused moments ago")
        if client_address and self.refusals.exceeded(client_address):
            raise TooManyRefusals()
        try:
            verified = self.app_info(server, access_token)
        except TokenRefused:
            self.redis.set(refused_key, "1", ex=REFUSED_TTL)
            raise
        # What the server says of the token holds whatever the request claimed: a forged
        # claim with a real token is checked against this cache, not with another call.
        self.redis.set(cache_key, json.dumps(asdict(verified)), ex=self.cache_ttl)
        return verified

    def app_info(self, server: str, access_token: str) -> Verified:
        """Ask ``server`` whose token this is. The token goes in the POST body, never the URL."""
        try:
            # Form-encoded ``auth``, as the SDKs send it; never followed to another host.
            status, payload = post(
                get_session(), f"{server}/rest/app.info", form={"auth": access_token}, timeout=self.timeout
            )
        except (PortalUnreachable, PortalMoved) as exc:
            raise AuthServerUnavailable("CONNECTION_ERROR", exc.code) from None
        error = error_from_payload(payload, status)
        if error is None and (status >= 500 or payload is None):
            raise AuthServerUnavailable("ERROR_UNEXPECTED_ANSWER", f"HTTP {status}")
        if error is not None:
            if status >= 500:
                raise AuthServerUnavailable(error.code, error.description, status)
            # The token itself was refused (invalid, expired, app not installed, ...):
            # nothing in this request can be trusted.
            log.info("app.info refused a token: %s", error.code)
            raise TokenRefused(error)
        assert payload is not None  # checked above
        return self.parse(server, payload.get("result"))

    def parse(self, server: str, result: Any) -> Verified:
        """The answer, read by what its readers agree on (``docs/design.md``, "app.info").

        Confirmed by every reader: ``client_id``, ``user_id``, ``install.member_id``,
        ``install.domain`` / ``install.uri``. Known from one SDK's type only, so optional:
        ``install.installed`` (absent counts as installed, a present false refuses),
        ``install.client_endpoint`` (else derived from ``uri`` or ``domain``), the scopes.
        Numbers may come as strings.
        """
        log_unknown_shape(result)
        install = result.get("install") if isinstance(result, dict) else None
        if not isinstance(install, dict):
            raise VerificationFailed("app.info answer has no install block")
        if str(result.get("client_id") or "") != self.client_id or not self.client_id:
            raise VerificationFailed("token belongs to another application")
        uri = str(install.get("uri") or "")
        uri_host = normalize_domain(urlsplit(uri).netloc)
        domain = normalize_domain(str(install.get("domain") or "")) or uri_host
        if uri_host and uri_host != domain:
            raise VerificationFailed("install.uri and install.domain name different portals")
        client_endpoint = str(install.get("client_endpoint") or "") or _endpoint_of(uri, domain)
        if not same_site_endpoint(client_endpoint, domain, allow_http=self.allow_http):
            raise VerificationFailed("client_endpoint is not on the verified portal")
        try:
            user_id = int(result.get("user_id") or 0)
        except (TypeError, ValueError):
            user_id = 0
        installed = install.get("installed")
        return Verified(
            member_id=str(install.get("member_id") or ""),
            domain=domain,
            client_endpoint=client_endpoint,
            server=server,
            user_id=user_id,
            scope=str(install.get("scope") or result.get("scope") or ""),
            installed=True if installed is None else _truthy(installed),
        )

    @staticmethod
    def _check(verified: Verified, *, member_id: str, domain: str, installing: bool) -> None:
        if verified.member_id != member_id:
            raise VerificationFailed("member_id does not match the token")
        if verified.domain != normalize_domain(domain):
            raise VerificationFailed("DOMAIN does not match the token")
        if not installing and not verified.installed:
            raise VerificationFailed("the app is not installed on this portal")
        if verified.user_id <= 0:
            raise VerificationFailed("app.info named no user")

    def _cached(self, key: str) -> Verified | None:
        raw = self.redis.get(key)
        if raw is None:
            return None
        try:
            return Verified(**json.loads(raw))
        except (TypeError, ValueError):
            return None


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "y", "yes")


def _endpoint_of(uri: str, domain: str) -> str:
    """The portal's REST endpoint when ``app.info`` names none: ``uri``'s origin, else https on ``domain``."""
    origin = origin_of(uri)
    return f"{origin or f'https://{domain}'}/rest/"


#: the fields of ``app.info`` answers seen so far (b24pysdk's type, and what other readers confirm)
_KNOWN_FIELDS = frozenset({"client_id", "user_id", "scope", "expires", "install"})
_KNOWN_INSTALL = frozenset(
    {"installed", "version", "status", "scope", "domain", "uri", "client_endpoint", "member_id", "member_type"}
)
_shapes_logged: set[str] = set()


def shape_of(value: Any) -> Any:
    """The structure of a JSON value: keys and type names, never a value (tokens stay out of logs)."""
    if isinstance(value, dict):
        return {str(key): shape_of(item) for key, item in sorted(value.items())}
    return type(value).__name__


def log_unknown_shape(result: Any) -> None:
    """Log an ``app.info`` answer whose shape was never seen, once per shape and process.

    No live answer of the authorization server was ever recorded, so the first real one
    that differs tells the operator what to look at.
    """
    install = result.get("install") if isinstance(result, dict) else None
    known = (
        isinstance(install, dict)
        and result.keys() <= _KNOWN_FIELDS
        and install.keys() <= _KNOWN_INSTALL
        and "client_id" in result
        and "member_id" in install
        and ("domain" in install or "uri" in install)
    )
    if known:
        return
    shape = json.dumps(shape_of(result), sort_keys=True)
    if shape not in _shapes_logged:
        _shapes_logged.add(shape)
        log.warning("app.info answered in a shape the app does not know: %s", shape)
