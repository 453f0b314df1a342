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
import requests
from flask_babel import lazy_gettext

from b24.errors import AuthServerUnavailable, B24Error, error_from_payload
from b24.http import get_session
from core.errors import AppError
from core.throttle import FixedWindow
from oauth.store import BadMemberId, portal_key

log = logging.getLogger(__name__)

#: seconds a token the authorization server refused is refused again without asking it
REFUSED_TTL = 60
#: failed verifications an address may cause per minute before it is refused without a call
REFUSALS_PER_ADDRESS = 20


class VerificationFailed(AppError):
    """The request's claims do not match what the authorization server says."""

    status = 403
    code = "forbidden"

    def __init__(self, reason: str) -> None:
        # ``reason`` is for the log; the user sees one message that reveals nothing.
        super().__init__(lazy_gettext("This request could not be verified as coming from your Bitrix24."))
        self.reason = reason


class TooManyRefusals(AppError):
    """Too many requests from one address failed verification lately; no call is made for it."""

    status = 429
    code = "too_many_attempts"

    def __init__(self) -> None:
        super().__init__(lazy_gettext("Too many requests could not be verified; please try again in a minute."))


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


def normalize_domain(value: str) -> str:
    """``Portal.Example.com:443`` -> ``portal.example.com``; other ports are kept."""
    host = (value or "").strip().lower().rstrip("/")
    for default_port in (":443", ":80"):
        if host.endswith(default_port):
            host = host[: -len(default_port)]
    return host


def origin_of(url: str) -> str:
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    return f"{parts.scheme}://{parts.netloc.lower()}"


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
            # No redirects: a 307 would carry the token in the body to wherever it points.
            response = get_session().post(
                f"{server}/rest/app.info",
                data={"auth": access_token},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise AuthServerUnavailable("CONNECTION_ERROR", type(exc).__name__) from None
        try:
            payload: Any = response.json()
        except ValueError:
            payload = None
        error = error_from_payload(payload, response.status_code)
        if error is None and (response.status_code >= 500 or not isinstance(payload, dict)):
            raise AuthServerUnavailable("ERROR_UNEXPECTED_ANSWER", f"HTTP {response.status_code}")
        if error is not None:
            if response.status_code >= 500:
                raise AuthServerUnavailable(error.code, error.description, response.status_code)
            # The token itself was refused (invalid, expired, app not installed, ...):
            # nothing in this request can be trusted.
            log.info("app.info refused a token: %s", error.code)
            raise TokenRefused(error)
        return self._parse(server, payload.get("result"))

    def _parse(self, server: str, result: Any) -> Verified:
        install = result.get("install") if isinstance(result, dict) else None
        if not isinstance(install, dict):
            raise VerificationFailed("app.info answer has no install block")
        if str(result.get("client_id") or "") != self.client_id or not self.client_id:
            raise VerificationFailed("token belongs to another application")
        domain = normalize_domain(str(install.get("domain") or ""))
        client_endpoint = str(install.get("client_endpoint") or "")
        endpoint = urlsplit(client_endpoint)
        allowed_schemes = ("https", "http") if self.allow_http else ("https",)
        if (
            not domain
            or endpoint.scheme not in allowed_schemes
            or normalize_domain(endpoint.netloc) != domain
            or endpoint.username
            or endpoint.password
        ):
            raise VerificationFailed("client_endpoint is not on the verified portal")
        try:
            user_id = int(result.get("user_id") or 0)
        except (TypeError, ValueError):
            user_id = 0
        return Verified(
            member_id=str(install.get("member_id") or ""),
            domain=domain,
            client_endpoint=client_endpoint,
            server=server,
            user_id=user_id,
            scope=str(install.get("scope") or result.get("scope") or ""),
            installed=_truthy(install.get("installed")),
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
