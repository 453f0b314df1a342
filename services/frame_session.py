"""The frame session: a short-lived signed token the page carries instead of a cookie.

The portal frames the app from another site, so browsers that block third-party
cookies (Safari, Firefox, Chrome with the setting on) would drop a session cookie.
The page gets this token in its HTML and sends it back in the ``X-Frame-Session``
header with every API call. It names the verified portal and user (and records the
frame's ``APP_SID`` for the logs; nothing the browser sends later could prove an
``APP_SID``, so the session is not bound to it); it is signed with ``SECRET_KEY`` (older
keys in ``SECRET_KEY_FALLBACKS`` still verify) and expires after ``FRAME_SESSION_TTL``
seconds. ``is_admin`` only picks wording and shows admin-only buttons; it grants nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from flask import current_app
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from core import clock
from services.errors import SessionInvalid

HEADER = "X-Frame-Session"
_SALT = "frame-session"
_VERIFIED = "flow_switch.verified_sessions"
#: checked tokens kept per process (a page's token is checked once, then only its age)
_VERIFIED_MAX = 10_000
_EXTENSION = "flow_switch.frame_session"


@dataclass(frozen=True)
class FrameSession:
    member_id: str
    user_id: int
    app_sid: str
    domain: str
    portal_origin: str
    lang: str
    is_admin: bool


class _Signer(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(clock.now())


def _serializer() -> URLSafeTimedSerializer:
    # Built once per app (the keys do not change while it runs): building one costs about as
    # much as checking a signature, and every API request checks one.
    serializer = current_app.extensions.get(_EXTENSION)
    if serializer is None:
        config = current_app.config
        # itsdangerous signs with the last key and accepts any of them.
        keys = [*config["SECRET_KEY_FALLBACKS"], config["SECRET_KEY"]]
        serializer = current_app.extensions[_EXTENSION] = URLSafeTimedSerializer(keys, salt=_SALT, signer=_Signer)
    return serializer


def issue(session: FrameSession) -> str:
    """A signed token for ``session``."""
    return _serializer().dumps(asdict(session))


def load(token: str | None) -> FrameSession:
    """The session in ``token``; raises ``SessionInvalid``.

    A page sends the same token with every call: its signature is checked once per process
    and app, then only its age (``_verified``).
    """
    if not token:
        raise SessionInvalid("no frame session")
    ttl = current_app.config["FRAME_SESSION_TTL"]
    verified = _verified()
    known = verified.get(token)
    if known is None:
        known = verified[token] = _check(token, ttl)
        if len(verified) > _VERIFIED_MAX:  # a bound, not a policy: rebuilt from the next calls
            verified.clear()
    session, signed_at = known
    if clock.now() - signed_at > ttl:
        raise SessionInvalid("SignatureExpired")
    return session


def _verified() -> dict[str, tuple[FrameSession, float]]:
    """This app's checked tokens (per app: another key must not accept them)."""
    return current_app.extensions.setdefault(_VERIFIED, {})


def _check(token: str, ttl: int) -> tuple[FrameSession, float]:
    try:
        data, signed_at = _serializer().loads(token, max_age=ttl, return_timestamp=True)
        session = FrameSession(
            member_id=str(data["member_id"]),
            user_id=int(data["user_id"]),
            app_sid=str(data["app_sid"]),
            domain=str(data["domain"]),
            portal_origin=str(data["portal_origin"]),
            lang=str(data["lang"]),
            is_admin=bool(data["is_admin"]),
        )
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise SessionInvalid(type(exc).__name__) from None
    return session, signed_at.timestamp()
