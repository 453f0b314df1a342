"""The app events Bitrix24 POSTs to ``/events``: install, update, uninstall.

Bitrix24 delivers events once, without retries, and anyone can POST to ``/events``,
so nothing in an event is trusted until it is proven: events that carry tokens are
checked with ``app.info`` and must come from a portal administrator; ``ONAPPUNINSTALL``
carries none and is handled by ``services/uninstall.py``, which fails closed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from b24.client import RestClient
from b24.errors import B24Error
from oauth import store, verifier
from oauth.store import STATUS_ACTIVE, STATUS_DELETED, Portal
from oauth.tokens import EventToken, keep_tokens, portal_limiter
from oauth.verify import VerificationFailed
from services import event_bindings
from services.portals import current_or_new, is_admin
from services.uninstall import same_secret, uninstall, uninstalled_lately

log = logging.getLogger(__name__)


def nested(form: Mapping[str, str], name: str) -> dict[str, str]:
    """``auth[access_token]=...`` form fields as ``{"access_token": ...}``."""
    prefix = f"{name}["
    return {
        key[len(prefix) : -1]: str(value)
        for key, value in form.items()
        if key.startswith(prefix) and key.endswith("]")
    }


def handle_event(form: Mapping[str, str], *, client_address: str = "", events_url: str = "") -> str:
    """Process one event POST; returns what was done. Raises ``VerificationFailed`` (403).

    ``events_url``: where the app's handlers are bound (an update removes them: bound again).
    """
    event = str(form.get("event") or "").upper()
    auth = nested(form, "auth")
    if event == "ONAPPUNINSTALL":
        return uninstall(auth.get("member_id", ""), auth.get("application_token", ""))
    if event in ("ONAPPINSTALL", "ONAPPUPDATE"):
        update = event == "ONAPPUPDATE"
        return app_installed(auth, update=update, client_address=client_address, events_url=events_url)
    # Only the events above are bound; anything else is not ours to act on.
    return "ignored"


def app_installed(auth: Mapping[str, str], *, update: bool, client_address: str = "", events_url: str = "") -> str:
    """``ONAPPINSTALL`` / ``ONAPPUPDATE``: prove the carried token, then trust what comes with it.

    An update removes the app's event handlers: they are bound again with the event's token
    (an administrator's), so the uninstall event keeps reaching the app.
    """
    verified = verifier().verify(
        auth.get("access_token", ""),
        member_id=auth.get("member_id", ""),
        domain=auth.get("domain", ""),
        server_endpoint=auth.get("server_endpoint", ""),
        # After an update an app with an installer counts as not installed until that
        # installer calls installFinish again; the update event comes before.
        installing=update,
        client_address=client_address,
    )
    application_token = auth.get("application_token", "")
    if not application_token:
        raise VerificationFailed("install event without application_token")
    if uninstalled_lately(verified.member_id):
        # Events come through a queue: this one left before the uninstall we already saw.
        log.info("Portal %s: %s event after the uninstall ignored", verified.member_id, "update" if update else "install")
        return "ignored"
    # Any user of the portal holds a token app.info confirms; only an administrator
    # installs or updates the app (and so may set the application_token).
    event_client = RestClient(
        verified.client_endpoint,
        EventToken(auth["access_token"]),
        # Through the portal's budget, on a share of its own: forged events cannot spend it
        # all, and none waits for it (Bitrix24 does not retry an event; a forger may).
        limiter=portal_limiter(verified.member_id, who="events"),
        timeout=verifier().timeout,
        rate_wait=0.0,
    )
    if not is_admin(event_client):
        raise VerificationFailed("install event from a user who is not a portal administrator")

    repeated = False

    def activate(current: Portal | None) -> Portal | None:
        nonlocal repeated
        # The record of this installation, with its application_token (not a deleted one).
        live = current if current is not None and current.status != STATUS_DELETED else None
        live = live if live is not None and live.application_token else None
        repeated = (
            live is not None
            and live.status == STATUS_ACTIVE
            and (not update or same_secret(live.application_token, application_token))
        )
        if repeated:
            return None  # delivered twice, or an install event overtaken by an update's
        portal = current_or_new(
            current, verified.member_id, verified.domain, verified.client_endpoint, verified.server
        )
        return replace(
            portal,
            status=STATUS_ACTIVE,
            # An update brings a new token; an install event never replaces the token this
            # installation already has (the installer's, or a later update's that overtook it).
            application_token=application_token if update or live is None else live.application_token,
            scope=verified.scope or portal.scope,
            installer_user_id=portal.installer_user_id or verified.user_id,
        )

    store().update_portal(verified.member_id, activate)
    if auth.get("refresh_token"):
        keep_tokens(verified, auth)
    if update and events_url:
        try:
            event_bindings.bind(event_client, events_url=events_url)
        except B24Error as exc:  # the next administrator's page open binds them (event_bindings)
            log.warning("Portal %s: binding the event handlers after the update failed: %s", verified.member_id, exc.code)
    if repeated:
        return "already active"
    log.info("Portal %s %s (%s)", verified.member_id, "updated" if update else "installed", verified.domain)
    return "updated" if update else "installed"
