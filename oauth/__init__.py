"""Portal tokens: the encrypted store, ``app.info`` verification and the Authlib client.

``init_app`` builds them once per app; request code reaches them through ``store()``,
``verifier()`` and ``client()``. This floor only raises (``b24.errors``, ``oauth.verify``);
what an error means to a person is decided in ``services/errors.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from core.redis_client import get_redis
from oauth.client import OAuthClient
from oauth.crypto import TokenCipher
from oauth.store import TokenStore
from oauth.verify import TokenVerifier

EXTENSION = "flow_switch.oauth"


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
    with app.app_context():
        redis_client = get_redis()
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
