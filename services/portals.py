"""A portal's life with the app: install, the app events, and uninstall cleanup.

Bitrix24 delivers events once, without retries, and anyone can POST to ``/events``,
so nothing in an event is trusted until it is proven: events that carry tokens are
checked with ``app.info`` and must come from a portal administrator; ``ONAPPUNINSTALL``
carries none and is accepted only with the ``application_token`` the install event gave
us (constant-time compare) and only once the authorization server no longer confirms
the app on the portal: every portal user sees ``APPLICATION_TOKEN`` in the frame POST,
so the token alone cannot prove that the app was removed.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import replace

from flask import current_app
from flask_babel import gettext

from b24.client import RestClient
from b24.errors import (
    AuthServerUnavailable,
    B24Error,
    ExpiredToken,
    InvalidToken,
    NotInstalled,
    PortalDeleted,
)
from core.errors import AppError
from core.jobs import run_later
from core.redis_client import get_redis
from oauth import store, verifier
from oauth.store import STATUS_ACTIVE, STATUS_DELETED, STATUS_NEW, BadMemberId, Portal, portal_key
from oauth.tokens import EventToken, keep_tokens, rest_client_for, user_tokens
from oauth.verify import TokenRefused, VerificationFailed
from services import discovery
from services.frame_auth import FrameContext

log = logging.getLogger(__name__)

#: the app events bound at install; their handlers are removed on every update, so
#: each installer run binds them again
EVENTS = ("ONAPPINSTALL", "ONAPPUPDATE", "ONAPPUNINSTALL")

#: widgets to bind at install as ``(placement code, title)``; the app has only its main page
PLACEMENTS: tuple[tuple[str, str], ...] = ()

_ALREADY_BOUND = "ERROR_HANDLER_ALREADY_EXIST"

INSTALLED, REMOVED, UNKNOWN = "installed", "removed", "unknown"
#: stored tokens asked whether the app is still installed (each costs an app.info call)
MAX_HOLDERS = 5
#: the longest pause between two checks of a pending uninstall
MAX_RECHECK_DELAY = 3600.0


def install(ctx: FrameContext, *, events_url: str, placement_url: str) -> Portal:
    """The installer: record the portal, bind events (and placements) as the installing admin.

    Safe to run again: each binding is removed and re-added in one ``batch``. The
    admin's tokens were stored by ``accept_frame_post``. Raises ``AppError`` (403) for
    a user who is not a portal administrator: the installer makes its user the holder
    of the portal-level tokens.
    """
    # The verified installer POST proves the app is on the portal again, even if we had
    # marked the portal deleted (an uninstall event that never reached us).
    store().update_portal(
        ctx.member_id,
        lambda current: (
            replace(current, status=STATUS_NEW)
            if current is not None and current.status == STATUS_DELETED
            else None
        ),
    )
    client = rest_client_for(ctx.member_id, ctx.user_id)
    if not is_admin(client):
        raise AppError(gettext("Only a Bitrix24 administrator can do this."), status=403, code="admin_only")
    admin_token = store().get_user(ctx.member_id, ctx.user_id)
    assert admin_token is not None  # rest_client_for found it

    def record(current: Portal | None) -> Portal:
        # Keeps the status: the install event may already have made the portal active.
        return replace(
            _current_or_new(current, ctx.member_id, ctx.domain, ctx.client_endpoint, admin_token.server),
            installer_user_id=ctx.user_id,
            scope=admin_token.scope,
        )

    portal = store().update_portal(ctx.member_id, record)
    assert portal is not None
    bind_handlers(client, events_url=events_url, placement_url=placement_url)
    discovery.start(ctx.member_id)  # in the background, with the installer's token
    return portal


def _current_or_new(
    current: Portal | None, member_id: str, domain: str, client_endpoint: str, server: str
) -> Portal:
    """The live record (a deleted one counts as none) with the verified addresses."""
    if current is None or current.status == STATUS_DELETED:
        return Portal(member_id=member_id, domain=domain, client_endpoint=client_endpoint, server=server)
    return replace(current, domain=domain, client_endpoint=client_endpoint, server=server)


def is_admin(client: RestClient) -> bool:
    """Whether the client's user administers the portal (``user.admin``)."""
    return bool(client.call("user.admin").result)


def bind_handlers(client: RestClient, *, events_url: str, placement_url: str) -> None:
    """Unbind, then bind, every event and placement in one ``batch`` (idempotent)."""
    commands: dict[str, tuple[str, dict[str, str]]] = {}
    for event in EVENTS:
        commands[f"unbind_{event}"] = ("event.unbind", {"event": event, "handler": events_url})
        commands[f"bind_{event}"] = ("event.bind", {"event": event, "handler": events_url})
    for code, title in PLACEMENTS:
        commands[f"unplace_{code}"] = ("placement.unbind", {"PLACEMENT": code, "HANDLER": placement_url})
        commands[f"place_{code}"] = (
            "placement.bind",
            {"PLACEMENT": code, "HANDLER": placement_url, "TITLE": title},
        )
    result = client.batch(commands)
    for key, error in result.errors.items():
        if key.startswith(("bind_", "place_")) and error.code != _ALREADY_BOUND:
            raise error


def portal_tokens_alive(member_id: str) -> bool:
    """Whether the portal-level tokens (the installer's, used for background work) still work.

    ``False`` means an administrator should reconnect (``/connect``); an outage of the
    authorization server is not a reason to ask, so it counts as alive.
    """
    return _installer_tokens_alive(store().get_portal(member_id))


def _installer_tokens_alive(portal: Portal | None) -> bool:
    if portal is None or not portal.installer_user_id:
        return False
    try:
        user_tokens(portal.member_id, portal.installer_user_id).access_token()
    except InvalidToken:
        return False
    except AuthServerUnavailable:
        return True
    return True


def adopt_if_orphaned(member_id: str, user_id: int) -> bool:
    """When an admin opens the app and the portal-level tokens are dead, make theirs the new ones.

    The caller knows ``user_id`` is a portal admin (the page asked ``user.admin``).
    Background work (discovery) then goes on without asking anyone to reconnect.
    """
    portal = store().get_portal(member_id)
    if portal is None or portal.installer_user_id == user_id or _installer_tokens_alive(portal):
        return False
    _make_installer(member_id, user_id)
    return True


def reconnect(member_id: str, user_id: int) -> bool:
    """Make ``user_id``'s fresh tokens the portal-level ones if those are dead and the user is an admin."""
    if portal_tokens_alive(member_id) or not is_admin(rest_client_for(member_id, user_id)):
        return False
    _make_installer(member_id, user_id)
    return True


def _make_installer(member_id: str, user_id: int) -> None:
    store().update_portal(
        member_id, lambda portal: replace(portal, installer_user_id=user_id) if portal is not None else None
    )
    log.info("Portal %s: portal-level tokens now those of admin %s", member_id, user_id)


# --- events -----------------------------------------------------------------------


def same_secret(expected: str, given: str) -> bool:
    """Constant-time comparison (the time taken must not reveal how much matched)."""
    return hmac.compare_digest(expected.encode(), given.encode())


def nested(form: Mapping[str, str], name: str) -> dict[str, str]:
    """``auth[access_token]=...`` form fields as ``{"access_token": ...}``."""
    prefix = f"{name}["
    return {
        key[len(prefix) : -1]: str(value)
        for key, value in form.items()
        if key.startswith(prefix) and key.endswith("]")
    }


def handle_event(form: Mapping[str, str], *, client_address: str = "") -> str:
    """Process one event POST; returns what was done. Raises ``VerificationFailed`` (403)."""
    event = str(form.get("event") or "").upper()
    auth = nested(form, "auth")
    if event == "ONAPPUNINSTALL":
        return uninstall(auth.get("member_id", ""), auth.get("application_token", ""))
    if event in ("ONAPPINSTALL", "ONAPPUPDATE"):
        return app_installed(auth, update=event == "ONAPPUPDATE", client_address=client_address)
    # Only the events above are bound; anything else is not ours to act on.
    return "ignored"


def app_installed(auth: Mapping[str, str], *, update: bool, client_address: str = "") -> str:
    """``ONAPPINSTALL`` / ``ONAPPUPDATE``: prove the carried token, then trust what comes with it."""
    verified = verifier().verify(
        auth.get("access_token", ""),
        member_id=auth.get("member_id", ""),
        domain=auth.get("domain", ""),
        server_endpoint=auth.get("server_endpoint", ""),
        client_address=client_address,
    )
    application_token = auth.get("application_token", "")
    if not application_token:
        raise VerificationFailed("install event without application_token")
    # Any user of the portal holds a token app.info confirms; only an administrator
    # installs or updates the app (and so may set the application_token).
    event_client = RestClient(
        verified.client_endpoint, EventToken(auth["access_token"]), timeout=verifier().timeout
    )
    if not is_admin(event_client):
        raise VerificationFailed("install event from a user who is not a portal administrator")

    repeated = False

    def activate(current: Portal | None) -> Portal | None:
        nonlocal repeated
        repeated = (
            current is not None
            and current.status == STATUS_ACTIVE
            and same_secret(current.application_token, application_token)
        )
        if repeated:
            return None  # the same install delivered twice (install-event URL and event.bind)
        portal = _current_or_new(
            current, verified.member_id, verified.domain, verified.client_endpoint, verified.server
        )
        return replace(
            portal,
            status=STATUS_ACTIVE,
            application_token=application_token,
            scope=verified.scope,
            installer_user_id=portal.installer_user_id or verified.user_id,
        )

    store().update_portal(verified.member_id, activate)
    if auth.get("refresh_token"):
        keep_tokens(verified, auth)
    if repeated:
        return "already active"
    log.info("Portal %s %s (%s)", verified.member_id, "updated" if update else "installed", verified.domain)
    return "updated" if update else "installed"


def uninstall(member_id: str, application_token: str) -> str:
    """``ONAPPUNINSTALL``: with the right ``application_token``, delete the portal once Bitrix24 confirms.

    Fail closed: every portal user sees ``APPLICATION_TOKEN``, so the event alone proves
    nothing. The portal's data goes only on a definite answer that the app is gone
    (``removed``); otherwise (still installed, an outage, no usable token) the uninstall
    is kept pending and checked again in the background (``recheck_uninstall``).
    Returns ``"uninstalled"`` or ``"pending"``; raises ``VerificationFailed`` (403).
    """
    try:
        portal = store().get_portal(member_id)
    except BadMemberId:
        raise VerificationFailed("malformed member_id") from None
    if (
        portal is None
        or not portal.application_token
        or not same_secret(portal.application_token, application_token)
    ):
        raise VerificationFailed("application_token does not match")
    if installation_state(portal) == REMOVED:
        _delete(member_id)
        return "uninstalled"
    pending = get_redis().hsetnx(uninstall_key(member_id), "since", f"{time.time():.3f}")
    if pending:  # one chain of re-checks per portal, however many events arrive
        _recheck_later(member_id, current_app.config["UNINSTALL_RECHECK_FIRST"])
    log.info("Portal %s: uninstall not confirmed by Bitrix24 yet; checking again later", member_id)
    return "pending"


def recheck_uninstall(member_id: str, delay: float = 0.0) -> str:
    """The background job: delete a pending uninstall's portal once Bitrix24 confirms it is gone.

    Checks again at doubling intervals; after ``UNINSTALL_RECHECK_FOR`` seconds without a
    definite answer the event counts as forged (or lost to an outage): the data stays.
    """
    r = get_redis()
    since = r.hget(uninstall_key(member_id), "since")
    portal = store().get_portal(member_id)
    if since is None or portal is None:
        return "not pending"
    if installation_state(portal) == REMOVED:
        _delete(member_id)
        return "uninstalled"
    config = current_app.config
    if time.time() - float(since) >= config["UNINSTALL_RECHECK_FOR"]:
        r.delete(uninstall_key(member_id))
        log.warning("Portal %s: an uninstall event was never confirmed by Bitrix24; data kept", member_id)
        return "kept"
    _recheck_later(member_id, min(max(2 * delay, config["UNINSTALL_RECHECK_FIRST"]), MAX_RECHECK_DELAY))
    return "pending"


def _recheck_later(member_id: str, delay: float) -> None:
    run_later(delay, recheck_uninstall, member_id, delay, job_id=f"uninstall-recheck-{member_id}")


def _delete(member_id: str) -> None:
    deleted = store().delete_portal(member_id)
    log.info("Portal %s uninstalled: %d keys deleted", member_id, deleted)


def uninstall_key(member_id: str) -> str:
    """A pending uninstall: ``since`` (epoch seconds). Under the portal's prefix: the delete takes it."""
    return portal_key(member_id, "uninstall")


def installation_state(portal: Portal) -> str:
    """What the authorization server says of the app on ``portal``, asked with the portal's own tokens.

    ``installed`` as soon as one token is confirmed; ``removed`` only on a definite answer
    (``app.info`` or the refresh grant says the app or the portal is gone, or
    ``installed: false``); ``unknown`` for outages, dead tokens (a spent refresh token is
    not proof) or no token at all.
    """
    removed = False
    for user_id in _token_holders(portal):
        tokens = user_tokens(portal.member_id, user_id)
        try:
            try:
                confirmed = verifier().app_info(portal.server, tokens.access_token()).installed
            except TokenRefused as refused:
                if not isinstance(refused.error, ExpiredToken | InvalidToken):
                    raise refused.error from None
                # A token the server no longer takes: its refresh grant says why.
                confirmed = verifier().app_info(portal.server, tokens.refresh(tokens.handed_out or "")).installed
        except (NotInstalled, PortalDeleted):
            removed = True
            continue
        except (B24Error, VerificationFailed) as exc:
            log.info("Portal %s: token of user %s cannot tell (%s)", portal.member_id, user_id, exc)
            continue
        if confirmed:
            return INSTALLED
        removed = True
    return REMOVED if removed else UNKNOWN


def _token_holders(portal: Portal) -> list[int]:
    """Users whose stored tokens can ask: the installer first, then others, at most ``MAX_HOLDERS``."""
    others = sorted(set(store().user_ids(portal.member_id)) - {portal.installer_user_id})
    holders = [portal.installer_user_id] if portal.installer_user_id else []
    return (holders + others)[:MAX_HOLDERS]
