"""What the portal POSTs into the app's iframe (§3.1) and what its JS bridge tells the frame (§3.3)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sandbox.state import INSTALLED, PENDING, FrameSession, World

APP_PATH = "/marketplace/app/flow-switch/"
NOT_FULLY_INSTALLED = "The application is not fully installed yet. Please contact your Bitrix24 administrator to complete the installation."


class NotAvailable(Exception):
    """The portal shows a message instead of the app (not installed, or a non-admin during install)."""


@dataclass
class FramePost:
    url: str  # handler URL with DOMAIN, PROTOCOL, LANG, APP_SID in the query string
    form: dict[str, str]
    app_sid: str
    init_data: dict[str, Any]

    @property
    def frame_name(self) -> str:
        """``window.name`` of the iframe: ``DOMAIN|PROTOCOL|APP_SID``."""
        return f"{self.init_data['DOMAIN']}|{self.init_data['PROTOCOL']}|{self.app_sid}"


def with_query(url: str, query: dict[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"


def _handler(world: World, user_id: int, placement: str) -> str:
    app = world.require_registration()
    if world.install_state == INSTALLED:
        if placement == "DEFAULT":
            return app.app_url
        bound = next((p.handler for p in world.placements if p.placement == placement), None)
        if bound is None:
            raise NotAvailable(f"no handler is bound to placement {placement}")
        return bound
    if world.install_state == PENDING and placement == "DEFAULT":
        if world.is_admin(user_id):
            return app.installer_url
        raise NotAvailable(NOT_FULLY_INSTALLED)
    raise NotAvailable("The application is not installed.")


def open_frame(
    world: World,
    user_id: int,
    lang: str = "en",
    placement: str = "DEFAULT",
    placement_options: dict[str, Any] | None = None,
) -> FramePost:
    """A fresh token pair and APP_SID for one page load, like Bitrix24 renders on every open."""
    with world.lock:
        handler = _handler(world, user_id, placement)
        app = world.require_app()
        tokens = world.issue_tokens(user_id)
        app_sid = secrets.token_hex(16)
        options = dict(placement_options or {})
        world.frames[app_sid] = FrameSession(user_id, lang, placement, options)
        query = {"DOMAIN": world.domain, "PROTOCOL": str(world.protocol), "LANG": lang, "APP_SID": app_sid}
        form = {
            "AUTH_ID": tokens["access_token"],
            "AUTH_EXPIRES": str(tokens["expires_in"]),
            "REFRESH_ID": tokens["refresh_token"],
            "SERVER_ENDPOINT": world.server_endpoint,
            "APPLICATION_TOKEN": world.application_token,
            "APPLICATION_SCOPE": app.scope,
            "member_id": world.member_id,
            "status": app.status,
            "PLACEMENT": placement,
        }
        if placement != "DEFAULT" or options:
            form["PLACEMENT_OPTIONS"] = json.dumps(options)
        init_data = {
            "AUTH_ID": tokens["access_token"],
            "REFRESH_ID": tokens["refresh_token"],
            "AUTH_EXPIRES": str(tokens["expires_in"]),
            "DOMAIN": world.domain,
            "PROTOCOL": world.protocol,
            "PATH": APP_PATH,
            "LANG": lang,
            "MEMBER_ID": world.member_id,
            "IS_ADMIN": world.is_admin(user_id),
            "APP_OPTIONS": dict(world.app_options),
            "USER_OPTIONS": dict(world.user_options.get(user_id, {})),
            "PLACEMENT": placement,
            "PLACEMENT_OPTIONS": options,
            "INSTALL": world.install_state == PENDING,
            "FIRST_RUN": False,
        }
        return FramePost(with_query(handler, query), form, app_sid, init_data)
