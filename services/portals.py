"""A portal's installation: the installer run by an administrator, and the portal-level tokens.

The installing administrator's tokens are the portal-level ones: background work
(discovery) runs with them. When they die, the next administrator who opens the app
(or connects from outside) takes the role over, so nobody has to reinstall.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from b24.client import RestClient
from b24.errors import AuthServerUnavailable, InvalidToken
from oauth import store
from oauth.store import STATUS_ACTIVE, STATUS_DELETED, STATUS_NEW, Portal
from oauth.tokens import rest_client_for, user_tokens
from services import discovery, event_bindings, uninstall
from services.errors import AdminOnly
from services.frames import FrameContext, accept_frame_post

log = logging.getLogger(__name__)

def run_installer(
    args: Mapping[str, str], form: Mapping[str, str], *, events_url: str, client_address: str = ""
) -> FrameContext:
    """The installer page's POST: verify it, then ``install``; the verified frame for the page."""
    ctx = accept_frame_post(args, form, installing=True, client_address=client_address)
    install(ctx, events_url=events_url)
    return ctx


def install(ctx: FrameContext, *, events_url: str) -> Portal:
    """Record the portal and bind the app's events as the installing administrator.

    Safe to run again: each binding is removed and re-added in one ``batch``. The
    admin's tokens were stored by ``accept_frame_post``. Raises ``AdminOnly`` for a user
    who is not a portal administrator: the installer makes its user the holder of the
    portal-level tokens.
    """
    # The verified installer POST proves the app is on the portal again, even if we had
    # marked the portal deleted (an uninstall event that never reached us) or deleted it.
    uninstall.installed_again(ctx.member_id)
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
        raise AdminOnly()
    admin_token = store().get_user(ctx.member_id, ctx.user_id)
    assert admin_token is not None  # rest_client_for found it

    def record(current: Portal | None) -> Portal:
        # Keeps the status: the install event may already have made the portal active. The
        # installer runs at install and after updates with the installation's current
        # APPLICATION_TOKEN, so the uninstall event can be recognised even if the install
        # or update event that carries it never arrives (events come through a queue).
        portal = current_or_new(current, ctx.member_id, ctx.domain, ctx.client_endpoint, admin_token.server)
        return replace(
            portal,
            installer_user_id=ctx.user_id,
            scope=admin_token.scope,
            application_token=ctx.application_token or portal.application_token,
        )

    portal = store().update_portal(ctx.member_id, record)
    assert portal is not None
    event_bindings.bind(client, events_url=events_url)  # removed by every update: bound on each run
    discovery.start(ctx.member_id)  # in the background, with the installer's token
    return portal


def current_or_new(
    current: Portal | None, member_id: str, domain: str, client_endpoint: str, server: str
) -> Portal:
    """The live record (a deleted one counts as none) with the verified addresses."""
    if current is None or current.status == STATUS_DELETED:
        return Portal(member_id=member_id, domain=domain, client_endpoint=client_endpoint, server=server)
    return replace(current, domain=domain, client_endpoint=client_endpoint, server=server)


def is_admin(client: RestClient) -> bool:
    """Whether the client's user administers the portal (``user.admin``)."""
    return bool(client.call("user.admin").result)


def check_admin(member_id: str, user_id: int) -> None:
    """Raise ``AdminOnly`` unless Bitrix24 says ``user_id`` administers the portal (their own token asks)."""
    if not is_admin(rest_client_for(member_id, user_id)):
        raise AdminOnly()


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


def admin_opened(ctx: FrameContext) -> None:
    """An administrator opened the app (the page's ``user.admin`` said so): mend the portal's record.

    - A record without an ``application_token`` (the install event was lost: Bitrix24's
      events come through a queue, without retries) takes the frame POST's, so the
      genuine uninstall event will be recognised. Only an administrator's: every user
      sees the token, but only an administrator installs the app.
    - Dead portal-level tokens become this administrator's (``adopt_if_orphaned``).

    One Redis read when nothing is missing.
    """
    portal = store().get_portal(ctx.member_id)
    if (portal is None or not portal.application_token) and ctx.application_token:
        portal = _complete(ctx)
    if portal is not None:
        adopt_if_orphaned(portal, ctx.user_id)


def _complete(ctx: FrameContext) -> Portal | None:
    if uninstall.uninstalled_lately(ctx.member_id):
        return store().get_portal(ctx.member_id)  # a frame of before the uninstall: nothing to mend

    completed = False

    def complete(current: Portal | None) -> Portal | None:
        nonlocal completed
        completed = current is None or current.status == STATUS_DELETED or not current.application_token
        if not completed:
            return None
        portal = current_or_new(current, ctx.member_id, ctx.domain, ctx.client_endpoint, ctx.server)
        return replace(
            portal,
            status=STATUS_ACTIVE,
            application_token=ctx.application_token,
            installer_user_id=portal.installer_user_id or ctx.user_id,
        )

    portal = store().update_portal(ctx.member_id, complete)
    if completed:
        log.info("Portal %s: record completed from an administrator's frame", ctx.member_id)
    return portal


def adopt_if_orphaned(portal: Portal, user_id: int) -> bool:
    """When an admin opens the app and the portal-level tokens are dead, make theirs the new ones.

    The caller knows ``user_id`` is a portal admin (the page asked ``user.admin``).
    Background work (discovery) then goes on without asking anyone to reconnect.
    """
    if portal.installer_user_id == user_id or _installer_tokens_alive(portal):
        return False
    _make_installer(portal.member_id, user_id)
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
