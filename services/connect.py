"""Opening the app outside the portal: "connect your portal" (the authorization-code flow).

``begin`` turns the address a person typed into the portal's sign-in URL; ``finish``
checks what the portal sent back, exchanges the code on the allow-listed authorization
server it names, verifies the token with ``app.info`` like a frame POST, and opens the
flows page. The HTTP side (the state in a first-party cookie, the form) is the blueprint's.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from flask import current_app

from b24.errors import InvalidGrant, InvalidRequest
from core.urls import normalize_domain, portal_origin
from oauth import client, verifier
from oauth.tokens import keep_tokens
from oauth.verify import VerificationFailed
from services import pages, portals
from services.errors import SignInLinkExpired
from services.frames import context_from


@dataclass(frozen=True)
class SignIn:
    """A sign-in under way: where to send the browser, and what to keep until it comes back."""

    authorize_url: str
    state: str
    portal: str  # the portal's origin the person chose


def begin(address: str) -> SignIn | None:
    """The portal's sign-in page for ``address``; ``None`` when it is not a portal's address."""
    origin = portal_origin(address, allow_http=current_app.config["B24_ALLOW_HTTP"])
    if not origin:
        return None
    state = secrets.token_urlsafe(24)
    return SignIn(client().authorization_url(origin, state), state, origin)


def finish(
    expected: Mapping[str, str], args: Mapping[str, str], *, lang: str, client_address: str = ""
) -> pages.OpenedPage:
    """The portal sent the browser back (``code``, ``state``, ``domain``, ``member_id``, ``server_domain``).

    Raises ``SignInLinkExpired`` for a state or code that cannot work (any more) and
    ``VerificationFailed`` for a callback from another portal than the one chosen.
    """
    state = args.get("state", "")
    if not expected or not secrets.compare_digest(state.encode(), str(expected.get("state", "")).encode()):
        raise SignInLinkExpired()
    domain = normalize_domain(args.get("domain", ""))
    if domain != normalize_domain(str(expected.get("portal", "")).split("://")[-1]):
        raise VerificationFailed("callback domain is not the portal the user chose")
    server = verifier().server_by_host(args.get("server_domain", ""))
    try:
        grant = client().exchange_code(server, args.get("code", ""))
    except (InvalidGrant, InvalidRequest):
        # A used, expired, missing or malformed code: this link will never work.
        raise SignInLinkExpired() from None
    verified = verifier().verify(
        str(grant.get("access_token") or ""),
        member_id=args.get("member_id", ""),
        domain=domain,
        server_endpoint=f"{server}/rest/",
        client_address=client_address,
    )
    keep_tokens(verified, grant)
    # An admin connecting while the portal-level tokens are dead takes them over ("reconnect").
    portals.reconnect(verified.member_id, verified.user_id)
    return pages.open_page(context_from(verified, lang=lang))
