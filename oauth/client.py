"""Authlib's OAuth 2.0 client for Bitrix24: the code exchange and the refresh grant.

The token endpoint is ``<allow-listed server>/oauth/token/``; the client secret goes
only into that POST body (``client_secret_post``), never into a URL. Every answer is
translated into the typed errors of ``b24.errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError as AuthlibOAuthError
from authlib.integrations.requests_client import OAuth2Session

from b24.errors import AuthServerUnavailable, B24Error, error_from_payload

TokenDict = dict[str, Any]


def token_endpoint(server: str) -> str:
    return f"{server}/oauth/token/"


@contextmanager
def token_endpoint_errors() -> Iterator[None]:
    """Authlib / requests failures as ``b24.errors`` types (5xx, timeouts, garbage → unavailable)."""
    try:
        yield
    except AuthlibOAuthError as exc:
        payload = {"error": exc.error or "", "error_description": exc.description or ""}
        raise error_from_payload(payload) or B24Error(str(exc.error)) from None
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        raise AuthServerUnavailable("ERROR_UNEXPECTED_ANSWER", f"HTTP {status}", status) from None
    except (requests.RequestException, ValueError) as exc:
        raise AuthServerUnavailable("CONNECTION_ERROR", type(exc).__name__) from None


class OAuthClient:
    """Our ``client_id``/``client_secret`` and the calls that use them."""

    def __init__(self, client_id: str, client_secret: str, *, timeout: float) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout

    def session(
        self, token: TokenDict | None = None, update_token: Callable[..., None] | None = None
    ) -> OAuth2Session:
        session = OAuth2Session(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
            token=token,
            update_token=update_token,
            default_timeout=self.timeout,
        )
        # A redirect answer is an error, never followed: a 307 would re-POST the client secret.
        session.max_redirects = 0
        return session

    def authorization_url(self, portal_origin: str, state: str) -> str:
        """The portal's sign-in page (Bitrix24 takes redirect_uri and scope from the app card)."""
        with self.session() as session:
            url, _ = session.create_authorization_url(f"{portal_origin}/oauth/authorize/", state=state)
        return url

    def exchange_code(self, server: str, code: str) -> TokenDict:
        with self.session() as session, token_endpoint_errors():
            return dict(
                session.fetch_token(token_endpoint(server), grant_type="authorization_code", code=code)
            )

    def refresh(self, server: str, token: TokenDict, update_token: Callable[..., None]) -> TokenDict:
        """One refresh grant; ``update_token(new_token, refresh_token=old)`` persists the new pair."""
        with self.session(token, update_token) as session, token_endpoint_errors():
            return dict(session.refresh_token(token_endpoint(server), refresh_token=token["refresh_token"]))
