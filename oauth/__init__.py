"""Portal tokens: the encrypted store, ``app.info`` verification and the Authlib client.

``init_app`` builds them once per app; request code reaches them through ``store()``,
``verifier()`` and ``client()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, Response, current_app
from flask_babel import gettext, lazy_gettext

from b24.errors import AuthServerUnavailable, InvalidToken
from core.errors import error_response
from oauth.client import OAuthClient
from oauth.crypto import TokenCipher
from oauth.store import TokenStore
from oauth.verify import TokenVerifier

EXTENSION = "flow_switch.oauth"

#: what a user sees while the authorization server is down (the API answers it too)
AUTH_SERVER_DOWN = lazy_gettext("The Bitrix24 authorization server is not answering; please try again.")


@dataclass(frozen=True)
class OAuth:
    store: TokenStore
    verifier: TokenVerifier
    client: OAuthClient
    #: how long one refresh may hold the per-user lock (two HTTP timeouts and a margin)
    refresh_lock_timeout: float


def init_app(app: Flask) -> None:
    config = app.config
    timeout = float(config["B24_HTTP_TIMEOUT"])
    redis_client = app.extensions["redis"]
    app.extensions[EXTENSION] = OAuth(
        store=TokenStore(redis_client, TokenCipher.from_config(config)),
        verifier=TokenVerifier(
            redis_client,
            client_id=config["B24_CLIENT_ID"],
            servers=config["B24_OAUTH_SERVERS"],
            allow_http=config["B24_ALLOW_HTTP"],
            cache_ttl=int(config["VERIFY_CACHE_TTL"]),
            timeout=timeout,
        ),
        client=OAuthClient(config["B24_CLIENT_ID"], config["B24_CLIENT_SECRET"], timeout=timeout),
        refresh_lock_timeout=2 * timeout + 5,
    )
    app.register_error_handler(AuthServerUnavailable, _auth_server_unavailable)
    app.register_error_handler(InvalidToken, _signed_out)


def _oauth() -> OAuth:
    return current_app.extensions[EXTENSION]


def store() -> TokenStore:
    return _oauth().store


def verifier() -> TokenVerifier:
    return _oauth().verifier


def client() -> OAuthClient:
    return _oauth().client


def refresh_lock_timeout() -> float:
    return _oauth().refresh_lock_timeout


def _auth_server_unavailable(exc: AuthServerUnavailable) -> Response:
    return error_response(503, "auth_server_unavailable", str(AUTH_SERVER_DOWN))


def _signed_out(exc: InvalidToken) -> Response:
    return error_response(
        401,
        "reauth_required",
        gettext("Your Bitrix24 sign-in has expired. Please open the app again from your Bitrix24."),
    )
