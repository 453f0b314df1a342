"""Portal-level tokens (the installer's, used for discovery) heal when an admin opens the app."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import requests

from oauth import store
from sandbox import data
from tests.install.live import LiveApp, spend_refresh_token


def open_app(sandbox: Any, live_app: LiveApp, user_id: int) -> None:
    url, form = sandbox.frame_post(user_id)
    assert requests.post(url, data=form, timeout=10).status_code == 200


def installer_of(live_app: LiveApp, member_id: str) -> int:
    with live_app.app.app_context():
        return store().get_portal(member_id).installer_user_id


def test_an_admin_opening_the_app_takes_over_dead_portal_tokens(installed_portal: Any, live_app: LiveApp):
    member_id = installed_portal.member_id
    open_app(installed_portal, live_app, data.OWNER)
    with live_app.app.app_context():
        store().update_portal(member_id, lambda portal: replace(portal, installer_user_id=data.OWNER))
        # Unused for long: the stored access token has expired and its refresh token is dead.
        owner = store().get_user(member_id, data.OWNER)
        spend_refresh_token(installed_portal, owner.refresh_token)
        store().put_user(member_id, data.OWNER, replace(owner, expires_at=0.0))

    open_app(installed_portal, live_app, data.MEMBER)  # not an admin: nothing changes
    assert installer_of(live_app, member_id) == data.OWNER

    open_app(installed_portal, live_app, data.ADMIN)
    assert installer_of(live_app, member_id) == data.ADMIN


def test_live_portal_tokens_stay_with_the_installer(installed_portal: Any, live_app: LiveApp):
    member_id = installed_portal.member_id
    with live_app.app.app_context():
        store().update_portal(member_id, lambda portal: replace(portal, installer_user_id=data.OWNER))
    open_app(installed_portal, live_app, data.OWNER)
    open_app(installed_portal, live_app, data.ADMIN)
    assert installer_of(live_app, member_id) == data.OWNER
