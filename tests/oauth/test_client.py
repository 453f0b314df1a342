"""The Authlib client against the sandbox's token endpoint: every answer becomes a typed error."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import oauth
from app import create_app
from b24.errors import AuthServerUnavailable, B24Error, InvalidClient, InvalidGrant, NotInstalled, WrongClient
from oauth.client import OAuthClient
from sandbox import data
from tests.install.live import CLIENT_ID, CLIENT_SECRET, Attacker


def _refresh(sandbox: Any, client: OAuthClient, refresh_token: str, server: str = "") -> dict:
    stored: list[dict] = []
    grant = client.refresh(
        server or sandbox.auth_url,
        {"access_token": "x", "refresh_token": refresh_token, "token_type": "Bearer"},
        lambda token, refresh_token=None: stored.append(dict(token)),
    )
    assert stored == [grant]  # update_token saw exactly the new pair
    return grant


def test_refresh_grant_posts_the_secret_and_hands_the_new_pair_to_update_token(live_app: Any, sandbox: Any):
    sandbox.install()
    pair = sandbox.issue_tokens(data.ADMIN)
    grant = _refresh(sandbox, OAuthClient(CLIENT_ID, CLIENT_SECRET, timeout=3), pair["refresh_token"])
    assert grant["refresh_token"] != pair["refresh_token"]
    assert grant["expires_at"] > grant["expires"] - 5
    assert sandbox.refresh_grants == 1


@pytest.mark.parametrize(
    ("client_id", "secret", "error"),
    [("local.unknown", CLIENT_SECRET, WrongClient), (CLIENT_ID, "wrong-secret", InvalidClient)],
)
@pytest.mark.parametrize("invalid_client_status", [400, 401])  # PYSDK saw 400, PHPSDK maps 401
def test_client_errors_are_typed(
    live_app: Any, sandbox: Any, client_id: str, secret: str, error: type, invalid_client_status: int
):
    sandbox.settings.invalid_client_status = invalid_client_status
    sandbox.install()
    pair = sandbox.issue_tokens(data.ADMIN)
    with pytest.raises(error):
        _refresh(sandbox, OAuthClient(client_id, secret, timeout=3), pair["refresh_token"])


def test_grant_errors_are_typed(live_app: Any, sandbox: Any):
    client = OAuthClient(CLIENT_ID, CLIENT_SECRET, timeout=3)
    sandbox.install()
    with pytest.raises(InvalidGrant):
        _refresh(sandbox, client, "0" * 70)
    with pytest.raises(InvalidGrant):
        client.exchange_code(sandbox.auth_url, "expired-or-made-up")
    sandbox.uninstall()
    with pytest.raises(NotInstalled):
        _refresh(sandbox, client, "0" * 70)


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_an_authorization_server_outage_is_one_typed_error(live_app: Any, sandbox: Any, fault: str):
    sandbox.install()
    pair = sandbox.issue_tokens(data.ADMIN)
    sandbox.settings.auth_fault = fault
    sandbox.settings.auth_timeout_sleep = 1.0
    with pytest.raises(AuthServerUnavailable) as down:
        _refresh(sandbox, OAuthClient(CLIENT_ID, CLIENT_SECRET, timeout=0.5), pair["refresh_token"])
    assert isinstance(down.value, B24Error)
    sandbox.settings.auth_fault = None
    assert _refresh(sandbox, OAuthClient(CLIENT_ID, CLIENT_SECRET, timeout=3), pair["refresh_token"])


def test_a_redirecting_authorization_server_gets_no_secret_through(
    sandbox_config: dict, sandbox: Any, attacker: Attacker
):
    """An allow-listed server answering 307 (re-POST elsewhere) must not forward token or secret."""

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", f"{attacker.url}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_port}"
    try:
        app = create_app({**sandbox_config, "B24_OAUTH_SERVERS": [origin]})
        with app.app_context(), pytest.raises(AuthServerUnavailable):
            oauth.verifier().verify(
                "a" * 70,
                member_id=sandbox.member_id,
                domain=sandbox.domain,
                server_endpoint=f"{origin}/rest/",
            )
        with pytest.raises(AuthServerUnavailable):
            _refresh(sandbox, OAuthClient(CLIENT_ID, CLIENT_SECRET, timeout=3), "r" * 70, origin)
    finally:
        server.shutdown()
        server.server_close()
    assert attacker.requests == []
