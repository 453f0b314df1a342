"""Install, install-finish, update and uninstall, with the app events each one sends (§2.3-§2.5).

Events go out as form-encoded POSTs (``event``, ``event_handler_id``, ``data[...]``, ``ts``,
``auth[...]``), after the state change and outside the world lock, one POST per handler,
through the world's ``Dispatcher`` (at once, or queued). There are no retries, like Bitrix24.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.delivery import Outgoing
from sandbox.models import Delivery
from sandbox.php import build_pairs
from sandbox.state import ABSENT, INSTALLED, PENDING, World

# Events whose auth block carries a refresh token (CRestProvider: "sendRefreshToken" => true).
WITH_REFRESH = {"ONAPPINSTALL", "ONAPPUPDATE", "ONAPPTEST"}

Target = tuple[str, int, int | None]  # (handler URL, event_handler_id, user whose tokens go along)


def _auth(world: World, event: str, user_id: int | None) -> dict[str, Any]:
    base = {
        "domain": world.domain,
        "server_endpoint": world.server_endpoint,
        "client_endpoint": world.client_endpoint,
        "member_id": world.member_id,
    }
    if user_id is None:
        return {**base, "application_token": world.application_token}
    tokens = world.issue_tokens(user_id)
    auth = {
        "access_token": tokens["access_token"],
        "expires": tokens["expires"],
        "expires_in": tokens["expires_in"],
        "scope": tokens["scope"],
        **base,
        "status": tokens["status"],
        "user_id": user_id,
    }
    if event in WITH_REFRESH:
        auth["refresh_token"] = tokens["refresh_token"]
    auth["application_token"] = world.application_token
    return auth


def _targets(world: World, event: str, user_id: int | None) -> list[Target]:
    """Handlers bound with ``event.bind``; a binding with ``auth_type`` gets that user's tokens."""
    return [
        (b.handler, b.id, (b.auth_type or user_id) if user_id is not None else None)
        for b in world.event_bindings
        if b.event == event and b.handler
    ]


def _payloads(world: World, event: str, data: dict[str, Any], targets: list[Target]) -> list[Outgoing]:
    stamp = str(int(time.time()))
    return [
        Outgoing(
            url,
            event,
            build_pairs(
                {
                    "event": event,
                    "event_handler_id": handler_id,
                    "data": data,
                    "ts": stamp,
                    "auth": _auth(world, event, user),
                }
            ),
        )
        for url, handler_id, user in targets
    ]


def install(world: World) -> None:
    """The admin installs the app from the market: the installer runs next."""
    with world.lock:
        world.require_registration()
        if world.install_state == ABSENT:
            world.start_install()


def finish_install(world: World, user_id: int) -> list[Delivery]:
    """What ``BX24.installFinish()`` does: installed, then ONAPPINSTALL; no effect unless installing."""
    with world.lock:
        if world.install_state != PENDING:
            return []
        world.install_state = INSTALLED
        app = world.require_app()
        targets = _targets(world, "ONAPPINSTALL", user_id)
        if app.install_event_url:
            targets.append((app.install_event_url, world.next_id("handler"), user_id))
        data = {
            "VERSION": app.version,
            "ACTIVE": "Y",
            "INSTALLED": "Y",
            "LANGUAGE_ID": world.settings.language,
        }
        outgoing = _payloads(world, "ONAPPINSTALL", data, targets)
    return world.dispatcher.send(outgoing)


def update_app(world: World, user_id: int) -> list[Delivery]:
    """A new version: ``application_token`` changes, ONAPPUPDATE carries the new one.

    With ``update_reinstalls``, as Bitrix24 does: ONAPPUPDATE goes to the handlers bound so far
    (``CRestUtil::UpdateApp`` fires the event, then cleans up), then the app's event handlers are
    removed ("When deleting and updating the application, its actions will be removed",
    event.bind) and an app with an installer is not installed again until the installer of the
    new version calls installFinish (``Marketplace/Application::install``: INSTALLED = N).
    """
    with world.lock:
        app = world.require_app()
        previous = app.version
        app.version += 1
        world.renew_application_token()
        data = {"VERSION": app.version, "PREVIOUS_VERSION": previous, "LANGUAGE_ID": world.settings.language}
        targets = _targets(world, "ONAPPUPDATE", user_id) if world.install_state == INSTALLED else []
        outgoing = _payloads(world, "ONAPPUPDATE", data, targets)
        if world.settings.update_reinstalls:
            world.event_bindings.clear()
            if app.installer_url:
                world.install_state = PENDING
    return world.dispatcher.send(outgoing)


def _revoke(world: World, clean: bool) -> None:
    """The authorization server forgets the installation (``unInstallApplication``)."""
    with world.lock:
        world.install_state = ABSENT
        world.tokens.revoke_all()
        world.frames.clear()
        if clean:
            world.app_options.clear()
            world.user_options.clear()


def uninstall(world: World, clean: bool = True) -> list[Delivery]:
    """``AppTable::uninstall``: ``cleanApp`` (queues ONAPPUNINSTALL without tokens, drops handlers
    and widgets), then the authorization server revokes the app; options go only with ``clean``.

    Events leave after that hit, so by default the tokens are dead before ONAPPUNINSTALL
    arrives; ``uninstall_event_before_revocation`` delivers it first and revokes afterwards.
    """
    with world.lock:
        if world.install_state == ABSENT:
            return []
        targets = _targets(world, "ONAPPUNINSTALL", None) if world.install_state == INSTALLED else []
        data = {"LANGUAGE_ID": world.settings.language, "CLEAN": int(clean)}
        outgoing = _payloads(world, "ONAPPUNINSTALL", data, targets)
        world.event_bindings.clear()
        world.placements.clear()
        revoke_later = world.settings.uninstall_event_before_revocation
        if not revoke_later:
            _revoke(world, clean)
    if revoke_later:
        return world.dispatcher.send(outgoing, after=lambda: _revoke(world, clean))
    return world.dispatcher.send(outgoing)
