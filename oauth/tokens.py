"""A user's tokens as a ``TokenSource`` for the REST client: refresh that never loses a pair.

Bitrix24 may rotate strictly: a used refresh token (and the access token issued with
it) stops working. So across all workers and servers only one refresh per
(portal, user) runs at a time, under a Redis lock; everyone else waits for the pair it
stores. The stored pair is replaced only by a newer one, never deleted on failure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import current_app

from b24.client import BatchResult, RestClient, RestResult
from b24.errors import (
    AuthServerUnavailable,
    ExpiredToken,
    InvalidGrant,
    InvalidToken,
    NotInstalled,
    PortalDeleted,
)
from b24.operating import MethodWindow
from b24.ratelimit import PortalRateLimiter
from core.keys import portal_key
from core.locks import lock, release
from oauth.client import OAuthClient
from oauth.store import STATUS_DELETED, TokenStore, UserToken
from oauth.verify import Verified

log = logging.getLogger(__name__)
T = TypeVar("T")

#: refresh this long before expiry (capped at a quarter of the token's lifetime)
REFRESH_AHEAD = 60.0


def refresh_window(token: UserToken) -> float:
    # Short-lived tokens would otherwise count as "about to expire" all their life.
    return min(REFRESH_AHEAD, token.lifetime / 4)


#: the longest access-token lifetime believed from a frame POST or grant (Bitrix24 issues 3600 s)
MAX_LIFETIME = 86400.0


def _lifetime(raw: Any) -> float:
    # AUTH_EXPIRES comes from the browser: "inf", "nan" or a year would postpone refreshes
    # for ever, so anything outside (0, MAX_LIFETIME] counts as the documented hour.
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        return 3600.0
    return seconds if 0 < seconds <= MAX_LIFETIME else 3600.0


def user_token_from(grant: Mapping[str, Any], *, client_endpoint: str, server: str) -> UserToken:
    """A ``UserToken`` from a token answer, a frame POST or an event (Authlib adds ``expires_at``)."""
    lifetime = _lifetime(grant.get("expires_in"))
    return UserToken(
        access_token=str(grant["access_token"]),
        refresh_token=str(grant["refresh_token"]),
        expires_at=float(grant.get("expires_at") or time.time() + lifetime),
        scope=str(grant.get("scope") or ""),
        client_endpoint=client_endpoint,
        server=server,
        lifetime=lifetime,
    )


def keep_tokens(verified: Verified, grant: Mapping[str, Any]) -> bool:
    """Store the verified user's pair (``access_token``, ``refresh_token``, ``expires_in``, ``scope``)
    unless a fresher one is stored already; the scope defaults to the verified one."""
    import oauth

    token = user_token_from(
        {**grant, "scope": grant.get("scope") or verified.scope},
        client_endpoint=verified.client_endpoint,
        server=verified.server,
    )
    return oauth.store().put_user_if_newer(verified.member_id, verified.user_id, token)


class EventToken:
    """The token an event carries: used for a check or two, never stored or refreshed here."""

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def access_token(self) -> str:
        return self._access_token

    def refresh(self, stale_access_token: str) -> str:
        raise InvalidToken("expired_token", "an event's token is not refreshed")


class UserTokens:
    """The ``TokenSource`` of one (portal, user)."""

    def __init__(
        self,
        store: TokenStore,
        client: OAuthClient,
        member_id: str,
        user_id: int,
        *,
        lock_timeout: float,
        stored: UserToken | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.member_id = member_id
        self.user_id = int(user_id)
        # One refresh per (portal, user) across every worker and server. Waiters block
        # on the lock and then find the pair its holder stored (``_refresh_locked``).
        self.lock = lock(
            store.redis, portal_key(member_id, "lock", "refresh", self.user_id), lock_timeout, lock_timeout + 1
        )
        self.handed_out: str | None = None
        # The pair last read, reused by the calls of one request (each read is a Redis
        # round trip and a decryption); refreshes always read the store again.
        self._last_read: UserToken | None = stored

    def stored(self) -> UserToken:
        token = self.store.get_user(self.member_id, self.user_id)
        if token is None:
            raise InvalidToken("NO_AUTH_FOUND", "no stored tokens for this user; open the app again")
        self._last_read = token
        return token

    def scope(self) -> str:
        """The scopes the user's stored pair was granted (read once per request)."""
        return (self._last_read or self.stored()).scope

    def access_token(self) -> str:
        token = self._last_read or self.stored()
        if token.expires_within(refresh_window(token)):
            return self.refresh(token.access_token)
        self.handed_out = token.access_token
        return token.access_token

    def refresh(self, stale_access_token: str) -> str:
        """A fresh access token to replace ``stale_access_token``; at most one grant in flight."""
        current = self.stored()
        if self._replaces(current, stale_access_token):
            fresh = current.access_token
        elif not self.lock.acquire():
            raise AuthServerUnavailable("REFRESH_TIMEOUT", "another refresh did not finish in time")
        else:
            try:
                fresh = self._refresh_locked(stale_access_token)
            finally:
                release(self.lock)
        self.handed_out = fresh
        self._last_read = None  # the successor is in the store; the next call reads it
        return fresh

    @staticmethod
    def _replaces(token: UserToken, stale_access_token: str) -> bool:
        return token.access_token != stale_access_token and not token.expires_within(refresh_window(token))

    def _refresh_locked(self, stale_access_token: str) -> str:
        # Another worker may have refreshed between our read and taking the lock.
        current = self.stored()
        if self._replaces(current, stale_access_token):
            return current.access_token

        def persist(grant: dict[str, Any], refresh_token: str | None = None, **_: Any) -> None:
            self.store.put_user(
                self.member_id,
                self.user_id,
                user_token_from(grant, client_endpoint=current.client_endpoint, server=current.server),
            )

        grant_input = {
            "access_token": current.access_token,
            "refresh_token": current.refresh_token,
            "token_type": "Bearer",
            "expires_at": int(current.expires_at),
        }
        try:
            grant = self.client.refresh(current.server, grant_input, persist)
        except (InvalidGrant, ExpiredToken, InvalidToken) as exc:
            # A frame open may have stored a new pair while ours was being refused.
            again = self.stored()
            if again.refresh_token != current.refresh_token:
                return again.access_token
            log.info("refresh token of user %s on %s is dead (%s)", self.user_id, self.member_id, exc.code)
            raise InvalidToken(exc.code, "the refresh token is no longer valid", exc.status) from None
        except (NotInstalled, PortalDeleted):
            self.store.mark_deleted(self.member_id)
            raise
        return str(grant["access_token"])


class PortalRestClient(RestClient):
    """A ``RestClient`` for one stored user, aware of what only the token layer knows.

    - ``invalid_token``: under strict rotation a refresh by another worker kills the
      access token this request holds (already while the new pair is on its way). The
      call did not run, so it is repeated once with the successor, waiting for the
      refresh in flight if there is one (safe even for a toggle).
    - ``NOT_INSTALLED`` / ``PORTAL_DELETED``: the portal is marked deleted.
    """

    tokens: UserTokens

    def __init__(self, tokens: UserTokens, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, tokens=tokens, **kwargs)

    def _guarded(self, send: Callable[[], T]) -> T:
        try:
            try:
                return send()
            except InvalidToken as exc:
                if exc.code != "invalid_token" or self.tokens.handed_out is None:
                    raise
                self.tokens.refresh(self.tokens.handed_out)
                return send()
        except (NotInstalled, PortalDeleted):
            self.tokens.store.mark_deleted(self.tokens.member_id)
            raise

    def call(self, *args: Any, **kwargs: Any) -> RestResult:
        return self._guarded(lambda: super(PortalRestClient, self).call(*args, **kwargs))

    def batch(self, *args: Any, **kwargs: Any) -> BatchResult:
        return self._guarded(lambda: super(PortalRestClient, self).batch(*args, **kwargs))


def user_tokens(member_id: str, user_id: int, stored: UserToken | None = None) -> UserTokens:
    """The ``TokenSource`` of a (portal, user), wired to the current app's store and client."""
    import oauth

    return UserTokens(
        oauth.store(),
        oauth.client(),
        member_id,
        user_id,
        lock_timeout=oauth.refresh_lock_timeout(),
        stored=stored,
    )


def portal_limiter(member_id: str, *, who: str = "", background: bool = False) -> PortalRateLimiter:
    """The portal's shared request budget and operating-time window, for ``who`` (a user id) or
    for background work."""
    import oauth

    config = current_app.config
    burst, rate = config["B24_RATE_LIMIT_PARSED"]
    r = oauth.store().redis
    window = MethodWindow(
        r,
        member_id,
        limit=float(config["B24_OPERATING_LIMIT"]),
        default=float(config["B24_OPERATING_BACKOFF"]),
        longest=float(config["B24_OPERATING_BACKOFF_MAX"]),
        background=background,
    )
    return PortalRateLimiter(r, member_id, burst, rate, who=who, background=background, window=window)


def rest_client_for(member_id: str, user_id: int, *, interactive: bool = True) -> RestClient:
    """The one way services get a portal's REST API, acting as ``user_id`` with their own token.

    ``interactive``: a user waits for the answer, so a spent portal budget (their fair share
    of it) is waited out for at most ``B24_RATE_WAIT`` seconds (then ``RateLimited``); else
    the request is background work, which yields to people and waits up to ``B24_HTTP_TIMEOUT``.
    The portal record and the user's pair are read in one Redis round trip.

    Raises ``InvalidToken`` when the user has no stored tokens (they open the app again)
    and ``NotInstalled`` when the portal is known to have removed the app.
    """
    import oauth

    portal, stored = oauth.store().get_portal_and_user(member_id, user_id)
    if portal is not None and portal.status == STATUS_DELETED:
        raise NotInstalled("NOT_INSTALLED", "the app was removed from this portal")
    tokens = user_tokens(member_id, user_id, stored)
    config = current_app.config
    return PortalRestClient(
        tokens,
        (stored or tokens.stored()).client_endpoint,
        limiter=portal_limiter(member_id, who=str(user_id) if interactive else "", background=not interactive),
        timeout=float(config["B24_HTTP_TIMEOUT"]),
        rate_wait=float(config["B24_RATE_WAIT" if interactive else "B24_HTTP_TIMEOUT"]),
    )
