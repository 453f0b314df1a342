"""The frame POST: what the portal sends when it opens the app (or the installer) in its iframe.

Query: ``DOMAIN, PROTOCOL, LANG, APP_SID``; body: ``AUTH_ID, REFRESH_ID, AUTH_EXPIRES,
SERVER_ENDPOINT, member_id, PLACEMENT, PLACEMENT_OPTIONS, ...``. Everything in it is a
claim until ``app.info`` on an allow-listed authorization server confirms the token;
the portal and the user then come from that answer, never from the POST.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import oauth
from core.urls import origin_of
from oauth.tokens import keep_tokens
from oauth.verify import VerificationFailed, Verified


@dataclass(frozen=True)
class FrameContext:
    """A verified frame open: who (``user_id``) in which portal (``member_id``)."""

    member_id: str
    user_id: int
    domain: str
    client_endpoint: str
    lang: str
    app_sid: str
    placement: str
    placement_options: dict[str, Any] = field(default_factory=dict)
    #: the portal's origin for postMessage and CSP ``frame-ancestors``, e.g. https://x.bitrix24.com
    portal_origin: str = ""
    #: the allow-listed authorization server that verified the token
    server: str = ""
    #: the POST's ``APPLICATION_TOKEN``: a claim every user of the portal sees, used only to
    #: complete the record of a portal whose install event never arrived (from an administrator)
    application_token: str = field(default="", repr=False)


#: the only fields read from the query string; everything else, the tokens above all, comes
#: from the body only: a query string ends up in access logs, proxies and browser history
QUERY_FIELDS = frozenset({"DOMAIN", "PROTOCOL", "LANG", "APP_SID"})
#: the longest ``APPLICATION_TOKEN`` kept (Bitrix24's are 32 hex characters)
MAX_APPLICATION_TOKEN = 128


def _field(args: Mapping[str, str], form: Mapping[str, str], name: str) -> str:
    # The portal puts DOMAIN/PROTOCOL/LANG/APP_SID in the query and may repeat them in
    # the body; the body wins, as in Bitrix24's own request parsing.
    from_query = args.get(name) if name in QUERY_FIELDS else None
    return str(form.get(name) or from_query or "").strip()


def _placement_options(raw: str) -> dict[str, Any]:
    try:
        options = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return options if isinstance(options, dict) else {}


def context_from(
    verified: Verified,
    *,
    lang: str = "en",
    app_sid: str = "",
    placement: str = "DEFAULT",
    placement_options: dict[str, Any] | None = None,
    application_token: str = "",
) -> FrameContext:
    """A ``FrameContext`` for a verified token (also used by the code flow outside the frame)."""
    return FrameContext(
        member_id=verified.member_id,
        user_id=verified.user_id,
        domain=verified.domain,
        client_endpoint=verified.client_endpoint,
        lang=lang,
        app_sid=app_sid,
        placement=placement,
        placement_options=placement_options or {},
        portal_origin=origin_of(verified.client_endpoint),
        server=verified.server,
        application_token=application_token,
    )


def accept_frame_post(
    args: Mapping[str, str], form: Mapping[str, str], *, installing: bool = False, client_address: str = ""
) -> FrameContext:
    """Verify the frame POST, store the user's tokens, and describe the verified frame.

    Raises ``VerificationFailed`` (403) for anything forged or foreign and
    ``AuthServerUnavailable`` (503) when the authorization server does not answer.
    ``installing=True`` (the installer page) accepts a portal where the app is not yet
    installed.
    """
    access_token = _field(args, form, "AUTH_ID")
    refresh_token = _field(args, form, "REFRESH_ID")
    if not access_token or not refresh_token:
        raise VerificationFailed("frame POST without AUTH_ID/REFRESH_ID")
    verified = oauth.verifier().verify(
        access_token,
        member_id=_field(args, form, "member_id"),
        domain=_field(args, form, "DOMAIN"),
        server_endpoint=_field(args, form, "SERVER_ENDPOINT"),
        installing=installing,
        client_address=client_address,
    )
    keep_tokens(
        verified,
        {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_in": _field(args, form, "AUTH_EXPIRES"),
            "scope": _field(args, form, "APPLICATION_SCOPE"),
        },
    )
    return context_from(
        verified,
        lang=_field(args, form, "LANG")[:8] or "en",
        app_sid=_field(args, form, "APP_SID")[:64],
        placement=_field(args, form, "PLACEMENT")[:64] or "DEFAULT",
        placement_options=_placement_options(_field(args, form, "PLACEMENT_OPTIONS")),
        application_token=_field(args, form, "APPLICATION_TOKEN")[:MAX_APPLICATION_TOKEN],
    )
