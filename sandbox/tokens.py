"""Access tokens, refresh tokens and authorization codes of the emulated authorization server.

Not locked on its own: ``World`` holds the one lock and calls in here while holding it.
"""

from __future__ import annotations

import secrets

from sandbox.clock import SandboxClock
from sandbox.errors import RestError
from sandbox.models import AccessToken, AuthCode, RefreshToken
from sandbox.settings import SandboxSettings


def opaque_token() -> str:
    """70 hex chars, like the tokens real portals hand out."""
    return secrets.token_hex(35)


def invalid_grant(text: str) -> RestError:
    return RestError("invalid_grant", text, status=400)


class TokenBook:
    def __init__(self, settings: SandboxSettings, clock: SandboxClock) -> None:
        self.settings = settings
        self.clock = clock
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.codes: dict[str, AuthCode] = {}
        # Tokens of an uninstalled app: known to the server, but the app is gone.
        self.revoked: set[str] = set()

    def issue(self, user_id: int, scope: str) -> tuple[str, str, int]:
        """A new (access, refresh, expires-at) chain link for ``user_id``."""
        now = self.clock.time()
        access, refresh = opaque_token(), opaque_token()
        expires = now + self.settings.access_ttl
        self.access[access] = AccessToken(user_id, expires, scope, refresh)
        self.refresh[refresh] = RefreshToken(user_id, now + self.settings.refresh_ttl, access)
        return access, refresh, int(expires)  # shown as a Unix time; kept exact for the check

    def lookup(self, token: str) -> AccessToken:
        """The live token or the error a portal answers for it (fact sheet §5.3)."""
        record = self.access.get(token)
        if record is None:
            if token in self.revoked:
                raise RestError("APPLICATION_NOT_FOUND")
            raise RestError("invalid_token")
        if record.expires <= self.clock.time():
            raise RestError("expired_token")
        return record

    def rotate(self, refresh_token: str) -> RefreshToken:
        """Consume a refresh token for the refresh grant; strict mode kills the old pair."""
        record = self.refresh.get(refresh_token)
        if record is None or record.expires <= self.clock.time():
            raise invalid_grant("Invalid refresh token")
        if record.used and self.settings.strict_rotation:
            raise invalid_grant("Refresh token has already been used")
        record.used = True
        if self.settings.strict_rotation:
            self.access.pop(record.access_token, None)
        return record

    def new_code(self, user_id: int) -> str:
        code = secrets.token_hex(16)
        self.codes[code] = AuthCode(user_id, self.clock.time() + self.settings.code_ttl)
        return code

    def redeem(self, code: str) -> AuthCode:
        record = self.codes.get(code)
        if record is None or record.used or record.expires <= self.clock.time():
            raise invalid_grant("Invalid authorization code")
        record.used = True
        return record

    def expire(self, user_id: int | None = None) -> int:
        """Make access tokens (of one user, or all) expired now; returns how many."""
        past = self.clock.time() - 1
        hit = [r for r in self.access.values() if user_id is None or r.user_id == user_id]
        for record in hit:
            record.expires = past
        return len(hit)

    def revoke_all(self) -> None:
        self.revoked.update(self.access)
        self.revoked.update(self.refresh)
        self.access.clear()
        self.refresh.clear()
        self.codes.clear()
