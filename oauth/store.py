"""Portal and user token records in Redis, encrypted, one whole-record ``SET`` per write.

Every key of a portal carries ``{member_id}`` as a Redis Cluster hash tag (layout in
docs/design.md), so one portal lives in one slot and uninstall can find all of it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import redis

from core.keys import portal_key, portal_prefix
from oauth.crypto import TokenCipher, UndecryptableRecord

STATUS_NEW = "new"
STATUS_ACTIVE = "active"
STATUS_DELETED = "deleted"


@dataclass(frozen=True)
class Portal:
    member_id: str
    domain: str
    client_endpoint: str
    server: str
    status: str = STATUS_NEW
    application_token: str = ""
    scope: str = ""
    installer_user_id: int = 0
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class UserToken:
    access_token: str
    refresh_token: str
    expires_at: float
    scope: str
    client_endpoint: str
    server: str
    #: seconds the access token was issued for; sizes the refresh-ahead window
    lifetime: float = 3600.0
    stored_at: float = field(default_factory=time.time)

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        return self.expires_at - (time.time() if now is None else now) < seconds


def _load(cls: type, data: dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


class TokenStore:
    """Reads and writes ``Portal`` / ``UserToken`` records; values never leave it in plaintext."""

    def __init__(self, redis_client: redis.Redis, cipher: TokenCipher) -> None:
        self.redis = redis_client
        self.cipher = cipher

    def _decode(self, raw: str | None, cls: type) -> Any:
        if raw is None:
            return None
        try:
            return _load(cls, json.loads(self.cipher.decrypt(raw)))
        except UndecryptableRecord:
            # A record no key opens is as good as absent: the next frame open or
            # install event writes a fresh one under the current key.
            return None

    def _encode(self, record: Any) -> str:
        return self.cipher.encrypt(json.dumps(asdict(record)).encode())

    def get_portal(self, member_id: str) -> Portal | None:
        return self._decode(self.redis.get(portal_key(member_id, "portal")), Portal)

    def get_portal_and_user(self, member_id: str, user_id: int) -> tuple[Portal | None, UserToken | None]:
        """The portal record and one user's pair in one Redis round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(portal_key(member_id, "portal")).get(portal_key(member_id, "user", int(user_id)))
        portal, user = pipe.execute()
        return self._decode(portal, Portal), self._decode(user, UserToken)

    def _update(self, key: str, cls: type, change: Callable[[Any], Any]) -> tuple[Any, bool]:
        """Read-modify-write one record atomically (optimistic ``WATCH``; one key, so Cluster-safe).

        ``change`` gets the current record (or ``None``) and returns the new one, or
        ``None`` to leave it alone; it may run more than once. Returns the record as it
        is now and whether this call wrote it.
        """
        # transaction=True: Redis Cluster's pipeline only allows WATCH inside a transaction.
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    current = self._decode(pipe.get(key), cls)
                    updated = change(current)
                    if updated is None:
                        pipe.unwatch()
                        return current, False
                    pipe.multi()
                    pipe.set(key, self._encode(updated))
                    pipe.execute()
                    return updated, True
                except redis.WatchError:
                    continue

    def update_portal(
        self, member_id: str, change: Callable[[Portal | None], Portal | None]
    ) -> Portal | None:
        """Change the portal record atomically: the installer and the install event race for it."""

        def stamped(current: Portal | None) -> Portal | None:
            updated = change(current)
            return None if updated is None else replace(updated, updated_at=time.time())

        return self._update(portal_key(member_id, "portal"), Portal, stamped)[0]

    def mark_deleted(self, member_id: str) -> None:
        """Bitrix24 says the app is gone (``NOT_INSTALLED``, ``PORTAL_DELETED``): keep the data, stop using it."""
        self.update_portal(
            member_id,
            lambda portal: (
                replace(portal, status=STATUS_DELETED)
                if portal is not None and portal.status != STATUS_DELETED
                else None
            ),
        )

    def get_user(self, member_id: str, user_id: int) -> UserToken | None:
        return self._decode(self.redis.get(portal_key(member_id, "user", int(user_id))), UserToken)

    def put_user(self, member_id: str, user_id: int, token: UserToken) -> None:
        self.redis.set(portal_key(member_id, "user", int(user_id)), self._encode(token))

    def put_user_if_newer(self, member_id: str, user_id: int, token: UserToken) -> bool:
        """Store ``token`` unless the stored pair lives longer (a replayed POST or event)."""
        _, written = self._update(
            portal_key(member_id, "user", int(user_id)),
            UserToken,
            lambda current: token if current is None or token.expires_at > current.expires_at else None,
        )
        return written

    def user_ids(self, member_id: str) -> list[int]:
        """Users of the portal with a stored token pair."""
        prefix = portal_key(member_id, "user", "")
        return sorted(int(key[len(prefix) :]) for key in self.redis.scan_iter(match=prefix + "*", count=500))

    def delete_portal(self, member_id: str) -> int:
        """Delete every key of the portal (SCAN, so it also works on Redis Cluster)."""
        pattern = portal_prefix(member_id) + "*"
        deleted = 0
        batch: list[str] = []
        for key in self.redis.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += self.redis.delete(*batch)
                batch.clear()
        if batch:
            deleted += self.redis.delete(*batch)
        return deleted
