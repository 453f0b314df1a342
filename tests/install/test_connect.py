"""Opening the app outside the portal: the authorization-code flow through the sandbox portal."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import redis
import requests

import oauth
from core.keys import portal_key
from core.urls import portal_origin
from oauth.tokens import user_tokens
from sandbox import data
from services import portals
from tests.install.live import Attacker, LiveApp, app_state, spend_refresh_token


def form_token(http: requests.Session, live_app: LiveApp) -> str:
    """The connect form's token against cross-site POSTs (the form page sets it in the session)."""
    page = http.get(f"{live_app.url}/connect", timeout=10).text
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def _start(http: requests.Session, live_app: LiveApp, portal: str) -> str:
    answer = http.post(
        f"{live_app.url}/connect",
        data={"portal": portal, "csrf": form_token(http, live_app)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    return answer.headers["Location"]


def _authorize(http: requests.Session, authorize_url: str, user_id: int) -> str:
    """The portal's authorize page for ``user_id``: the redirect back to the app, not followed."""
    answer = http.get(f"{authorize_url}&user={user_id}", allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    return answer.headers["Location"]


def test_connect_signs_the_user_in_and_shows_the_flows_page(
    installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis
):
    http = requests.Session()
    assert "portal" in http.get(f"{live_app.url}/connect", timeout=10).text

    authorize_url = _start(http, live_app, installed_portal.portal_url)
    parts = urlsplit(authorize_url)
    query = dict(parse_qsl(parts.query))
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{installed_portal.portal_url}/oauth/authorize/"
    # Authlib's authorization URL: client_id, state and response_type; the secret never travels in a URL.
    assert set(query) == {"client_id", "state", "response_type"} and query["response_type"] == "code"

    page = http.get(_authorize(http, authorize_url, data.OWNER), timeout=10)

    assert page.status_code == 200
    assert installed_portal.code_grants == 1
    assert redis_db.exists(portal_key(installed_portal.member_id, "user", data.OWNER))
    assert 'id="fs-app"' in page.text  # the flows page, as the owner


def test_callback_with_a_foreign_state_is_refused(installed_portal: Any, live_app: LiveApp):
    http = requests.Session()
    authorize_url = _start(http, live_app, installed_portal.portal_url)
    back = _authorize(http, authorize_url, data.ADMIN)
    forged = back.replace(dict(parse_qsl(urlsplit(back).query))["state"], "x" * 32)
    assert http.get(forged, timeout=10).status_code == 400
    assert http.get(back, timeout=10).status_code == 400  # the state was used up by the attempt
    assert installed_portal.code_grants == 0


@pytest.mark.parametrize("field", ["server_domain", "domain"])
def test_callback_naming_a_foreign_server_or_portal_sends_nothing_there(
    installed_portal: Any, live_app: LiveApp, attacker: Attacker, redis_db: redis.Redis, field: str
):
    http = requests.Session()
    back = _authorize(http, _start(http, live_app, installed_portal.portal_url), data.ADMIN)
    parts = urlsplit(back)
    query = dict(parse_qsl(parts.query))
    query[field] = urlsplit(attacker.url).netloc
    before = app_state(redis_db)

    answer = http.get(f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}", timeout=10)

    assert answer.status_code == 403
    assert attacker.requests == []
    assert installed_portal.code_grants == 0
    assert app_state(redis_db) == before


@pytest.mark.parametrize(
    "address", ["javascript:alert(1)", "ftp://portal.example", "a b.example", "x@portal.example:1"]
)
def test_connect_form_refuses_an_address_that_is_not_a_portal(live_app: LiveApp, address: str):
    http = requests.Session()
    answer = http.post(
        f"{live_app.url}/connect",
        data={"portal": address, "csrf": form_token(http, live_app)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert "address" in answer.text


def test_a_cross_site_post_to_connect_is_refused(installed_portal: Any, live_app: LiveApp):
    # Another site's form, posted by a visitor's browser: no form token (the cookie is SameSite=Lax).
    answer = requests.post(
        f"{live_app.url}/connect",
        data={"portal": installed_portal.portal_url},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 400 and "Location" not in answer.headers
    http = requests.Session()
    stolen = form_token(requests.Session(), live_app)  # a token of another browser's session
    answer = http.post(
        f"{live_app.url}/connect",
        data={"portal": installed_portal.portal_url, "csrf": stolen},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 400


def test_the_connect_page_cannot_be_framed_and_its_cookie_stays_first_party(live_app: LiveApp):
    answer = requests.get(f"{live_app.url}/connect", timeout=10)
    assert answer.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "SameSite=Lax" in answer.headers["Set-Cookie"] and "HttpOnly" in answer.headers["Set-Cookie"]


@pytest.mark.parametrize(
    ("address", "origin"),
    [
        ("Acme.Bitrix24.com", "https://acme.bitrix24.com"),
        ("https://acme.bitrix24.com:443/company/", "https://acme.bitrix24.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_portal_addresses_as_people_type_them(address: str, origin: str):
    assert portal_origin(address, allow_http=True) == origin
    assert portal_origin("http://acme.bitrix24.com", allow_http=False) == ""


def test_an_admin_connecting_takes_over_dead_portal_level_tokens(
    installed_portal: Any, live_app: LiveApp, redis_db: redis.Redis
):
    world = installed_portal.world
    world.users[data.OWNER] = replace(world.users[data.OWNER], admin=True)  # a second admin
    with live_app.app.app_context():
        installer = user_tokens(installed_portal.member_id, data.ADMIN).stored()
    # The installer's refresh token gets spent elsewhere and the access token expires: dead.
    spend_refresh_token(installed_portal, installer.refresh_token)
    installed_portal.expire_access_tokens(data.ADMIN)
    with live_app.app.app_context():
        store = oauth.store()
        store.put_user(installed_portal.member_id, data.ADMIN, replace(installer, expires_at=time.time() - 1))
        assert not portals.portal_tokens_alive(installed_portal.member_id)

    http = requests.Session()
    assert http.get(f"{live_app.url}/connect?portal={installed_portal.domain}", timeout=10).status_code == 200
    page = http.get(
        _authorize(http, _start(http, live_app, installed_portal.portal_url), data.OWNER), timeout=10
    )

    assert page.status_code == 200
    with live_app.app.app_context():
        assert store.get_portal(installed_portal.member_id).installer_user_id == data.OWNER
        assert portals.portal_tokens_alive(installed_portal.member_id)
