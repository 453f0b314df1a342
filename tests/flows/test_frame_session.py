"""The signed frame session: round trip, key rotation, tampering and expiry."""

from __future__ import annotations

import pytest

from app import create_app
from services import frame_session
from services.errors import SessionInvalid
from services.frame_session import FrameSession

SESSION = FrameSession(
    member_id="a223c6b3710f85df22e9377d6c4f7553",
    user_id=7,
    app_sid="dd8cec11e347088fe87c44870a9f1dba",
    domain="portal.example",
    portal_origin="https://portal.example",
    lang="de",
    is_admin=False,
)


def test_a_session_round_trips(app) -> None:
    with app.app_context():
        assert frame_session.load(frame_session.issue(SESSION)) == SESSION


@pytest.mark.parametrize("token", [None, "", "garbage", "eyJtZW1iZXJfaWQiOiJ4In0.forged.signature"])
def test_missing_or_forged_tokens_are_refused(app, token: str | None) -> None:
    with app.app_context(), pytest.raises(SessionInvalid):
        frame_session.load(token)


def test_a_changed_payload_breaks_the_signature(app) -> None:
    with app.app_context():
        token = frame_session.issue(SESSION)
        middle = len(token) // 3
        tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
        with pytest.raises(SessionInvalid):
            frame_session.load(tampered)


def test_an_old_session_expires(app, moved_clock) -> None:
    app.config["FRAME_SESSION_TTL"] = 60
    with app.app_context():
        token = frame_session.issue(SESSION)
        moved_clock(59)
        assert frame_session.load(token) == SESSION
        moved_clock(2)
        with pytest.raises(SessionInvalid):
            frame_session.load(token)


def test_sessions_survive_a_key_rotation_but_not_a_foreign_key(app_config: dict) -> None:
    old = create_app({**app_config, "SECRET_KEY": "old-key-" + "x" * 32})
    with old.app_context():
        token = frame_session.issue(SESSION)
    rotated = create_app(
        {**app_config, "SECRET_KEY": "new-key-" + "y" * 32, "SECRET_KEY_FALLBACKS": ["old-key-" + "x" * 32]}
    )
    with rotated.app_context():
        assert frame_session.load(token) == SESSION
    foreign = create_app({**app_config, "SECRET_KEY": "other-key-" + "z" * 32})
    with foreign.app_context(), pytest.raises(SessionInvalid):
        frame_session.load(token)
