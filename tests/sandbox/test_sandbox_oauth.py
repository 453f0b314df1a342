"""The authorization server: grants, rotation, expiry, error shapes and statuses, app.info, authorize."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox.data import ADMIN, MEMBER, OWNER


def refresh(
    token_url: str, credentials: dict, refresh_token: str, *, method: str = "POST"
) -> requests.Response:
    params = {"grant_type": "refresh_token", **credentials, "refresh_token": refresh_token}
    if method == "GET":
        return requests.get(token_url, params=params, timeout=10)
    return requests.post(token_url, data=params, timeout=10)


def who(sandbox, access_token: str) -> requests.Response:
    return requests.post(sandbox.client_endpoint + "user.current", data={"auth": access_token}, timeout=10)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_refresh_grant_answers_the_documented_shape(sandbox, token_url, credentials, method):
    pair = sandbox.issue_tokens(OWNER)
    answer = refresh(token_url, credentials, pair["refresh_token"], method=method)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {
        "access_token",
        "client_endpoint",
        "domain",
        "expires",
        "expires_in",
        "member_id",
        "refresh_token",
        "scope",
        "server_endpoint",
        "status",
        "user_id",
    }
    assert body["domain"] == urlsplit(sandbox.auth_url).netloc  # the auth server, not the portal
    assert body["client_endpoint"] == sandbox.client_endpoint
    assert body["server_endpoint"] == sandbox.server_endpoint
    assert body["user_id"] == OWNER and body["expires_in"] == 3600
    assert abs(body["expires"] - (time.time() + 3600)) < 5
    assert len(body["access_token"]) == 70 and body["access_token"] != pair["access_token"]
    assert who(sandbox, body["access_token"]).json()["result"]["ID"] == str(OWNER)
    assert sandbox.refresh_grants == 1


def test_token_url_without_trailing_slash_works(sandbox, credentials):
    pair = sandbox.issue_tokens(MEMBER)
    answer = refresh(f"{sandbox.auth_url}/oauth/token", credentials, pair["refresh_token"])
    assert answer.status_code == 200 and "access_token" in answer.json()


def test_strict_rotation_kills_the_used_pair(sandbox, token_url, credentials):
    pair = sandbox.issue_tokens(MEMBER)
    new = refresh(token_url, credentials, pair["refresh_token"]).json()
    again = refresh(token_url, credentials, pair["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    old_access = who(sandbox, pair["access_token"])
    assert old_access.status_code == 401 and old_access.json()["error"] == "invalid_token"
    assert who(sandbox, new["access_token"]).status_code == 200
    assert refresh(token_url, credentials, new["refresh_token"]).status_code == 200
    assert sandbox.refresh_grants == 2 and sandbox.rejected("invalid_grant") == 1


def test_lenient_rotation_keeps_the_old_pair(sandbox, token_url, credentials):
    sandbox.settings.strict_rotation = False
    pair = sandbox.issue_tokens(MEMBER)
    assert refresh(token_url, credentials, pair["refresh_token"]).status_code == 200
    assert refresh(token_url, credentials, pair["refresh_token"]).status_code == 200
    assert who(sandbox, pair["access_token"]).status_code == 200


def test_access_token_expires_after_access_ttl(sandbox, token_url, credentials):
    sandbox.settings.access_ttl = 1
    pair = sandbox.issue_tokens(MEMBER)
    assert pair["expires_in"] == 1
    assert who(sandbox, pair["access_token"]).status_code == 200
    time.sleep(1.1)
    expired = who(sandbox, pair["access_token"])
    assert expired.status_code == 401
    assert expired.json() == {
        "error": "expired_token",
        "error_description": "The access token provided has expired.",
    }
    renewed = refresh(token_url, credentials, pair["refresh_token"]).json()
    assert who(sandbox, renewed["access_token"]).status_code == 200


def test_expire_access_tokens_control(sandbox):
    mine, theirs = sandbox.issue_tokens(MEMBER), sandbox.issue_tokens(OWNER)
    assert sandbox.expire_access_tokens(MEMBER) == 1
    assert who(sandbox, mine["access_token"]).json()["error"] == "expired_token"
    assert who(sandbox, theirs["access_token"]).status_code == 200


def test_expired_refresh_token_is_invalid_grant(sandbox, token_url, credentials):
    sandbox.settings.refresh_ttl = 0
    pair = sandbox.issue_tokens(MEMBER)
    answer = refresh(token_url, credentials, pair["refresh_token"])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def authorize(sandbox, user: int = ADMIN, **params) -> requests.Response:
    query = {"client_id": sandbox.app.client_id, "state": "xyz", "user": user, **params}
    return requests.get(
        f"{sandbox.portal_url}/oauth/authorize/", params=query, allow_redirects=False, timeout=10
    )


def code_grant(token_url: str, credentials: dict, code: str) -> requests.Response:
    return requests.get(
        token_url, params={"grant_type": "authorization_code", **credentials, "code": code}, timeout=10
    )


def test_authorize_redirects_with_code_and_portal_details(sandbox, token_url, credentials):
    answer = authorize(sandbox, user=OWNER)
    assert answer.status_code == 302
    target = urlsplit(answer.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == sandbox.app.redirect_uri
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert query["state"] == "xyz"
    assert query["domain"] == sandbox.domain
    assert query["member_id"] == sandbox.member_id
    assert query["scope"] == "task,user,placement"
    assert query["server_domain"] == urlsplit(sandbox.auth_url).netloc
    granted = code_grant(token_url, credentials, query["code"])
    assert granted.status_code == 200 and granted.json()["user_id"] == OWNER
    reused = code_grant(token_url, credentials, query["code"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert sandbox.code_grants == 1


def test_authorization_code_lives_code_ttl_seconds(sandbox, token_url, credentials):
    sandbox.settings.code_ttl = 0
    code = parse_qs(urlsplit(authorize(sandbox).headers["Location"]).query)["code"][0]
    answer = code_grant(token_url, credentials, code)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_authorize_shows_an_error_page_when_the_app_is_not_installed(sandbox):
    sandbox.uninstall()
    answer = authorize(sandbox)
    assert answer.status_code == 404 and "Location" not in answer.headers
    assert "not found" in answer.text
    wrong = authorize(sandbox, client_id="someone.else")
    assert "Location" not in wrong.headers


def test_token_endpoint_errors(sandbox, token_url, credentials):
    pair = sandbox.issue_tokens(MEMBER)
    base = {"grant_type": "refresh_token", **credentials, "refresh_token": pair["refresh_token"]}

    missing = requests.post(
        token_url, data={k: v for k, v in base.items() if k != "refresh_token"}, timeout=10
    )
    assert missing.status_code == 400
    assert missing.json() == {
        "error": "invalid_request",
        "error_description": 'No "refresh_token" parameter found',
    }

    wrong_client = requests.get(token_url, params={**base, "client_id": "app.unknown"}, timeout=10)
    assert wrong_client.status_code == 200 and wrong_client.json()["error"] == "wrong_client"

    bad_secret = requests.post(token_url, data={**base, "client_secret": "nope"}, timeout=10)
    assert bad_secret.status_code == 400 and bad_secret.json()["error"] == "invalid_client"
    sandbox.settings.invalid_client_status = 401
    assert requests.post(token_url, data={**base, "client_secret": "nope"}, timeout=10).status_code == 401

    bad_grant = requests.post(token_url, data={**base, "refresh_token": "0" * 70}, timeout=10)
    assert bad_grant.status_code == 400 and bad_grant.json()["error"] == "invalid_grant"

    sandbox.uninstall()
    gone = requests.post(token_url, data=base, timeout=10)
    assert gone.status_code == 401 and gone.json()["error"] == "NOT_INSTALLED"
    assert sandbox.refresh_grants == 0


def test_auth_fault_makes_the_token_endpoint_fail(sandbox, token_url, credentials):
    pair = sandbox.issue_tokens(MEMBER)
    sandbox.settings.auth_fault = "500"
    assert refresh(token_url, credentials, pair["refresh_token"]).status_code == 500
    sandbox.settings.auth_fault, sandbox.settings.auth_timeout_sleep = "timeout", 0.3
    started = time.monotonic()
    assert refresh(token_url, credentials, pair["refresh_token"]).status_code == 500
    assert time.monotonic() - started >= 0.3
    sandbox.settings.auth_fault = None
    assert refresh(token_url, credentials, pair["refresh_token"]).status_code == 200


@pytest.mark.parametrize("path", ["/rest/app.info", "/rest/app.info.json", "/rest/app.info/"])
def test_auth_server_app_info(sandbox, path):
    pair = sandbox.issue_tokens(OWNER)
    answer = requests.get(sandbox.auth_url + path, params={"auth": pair["access_token"]}, timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert "time" in body
    result = body["result"]
    assert result["client_id"] == sandbox.app.client_id and result["user_id"] == OWNER
    assert result["install"] == {
        "installed": True,
        "version": "1",
        "status": "L",
        "scope": "task,user,placement",
        "domain": sandbox.domain,
        "uri": sandbox.portal_url,
        "client_endpoint": sandbox.client_endpoint,
        "member_id": sandbox.member_id,
        "member_type": "user",
    }
    bearer = requests.post(
        sandbox.auth_url + path, headers={"Authorization": f"Bearer {pair['access_token']}"}, timeout=10
    )
    assert bearer.json()["result"]["user_id"] == OWNER
    assert sandbox.rest_requests == 0  # not a portal round trip


def test_auth_server_app_info_errors(sandbox):
    """Each refusal of fact sheet §12 is reachable: unknown token-like and other strings, expired,
    and the tokens of an uninstalled app."""
    url = sandbox.auth_url + "/rest/app.info"
    assert requests.get(url, timeout=10).json()["error"] == "NO_AUTH_FOUND"
    token_like = requests.get(url, params={"auth": "f" * 70}, timeout=10)
    assert token_like.status_code == 400 and token_like.json()["error"] == "invalid_client"
    garbage = requests.get(url, params={"auth": "not-a-token"}, timeout=10)
    assert garbage.status_code == 401 and garbage.json() == {
        "error": "invalid_token",
        "error_description": "Unable to get application by token",
    }
    pair = sandbox.issue_tokens(MEMBER)
    sandbox.expire_access_tokens()
    expired = requests.get(url, params={"auth": pair["access_token"]}, timeout=10)
    assert expired.status_code == 401 and expired.json()["error"] == "expired_token"
    live = sandbox.issue_tokens(MEMBER)["access_token"]
    sandbox.uninstall()
    removed = requests.post(url, data={"auth": live}, timeout=10)
    assert removed.status_code == 401 and removed.json() == {
        "error": "NOT_INSTALLED",
        "error_description": "Application not installed",
    }
    # The portal itself still says APPLICATION_NOT_FOUND for the same token.
    portal = requests.post(sandbox.client_endpoint + "user.current", data={"auth": live}, timeout=10)
    assert portal.status_code == 401 and portal.json()["error"] == "APPLICATION_NOT_FOUND"
    assert sandbox.app_info_checks == 4


def test_auth_server_app_info_confirmed_fields_only(sandbox):
    sandbox.settings.app_info_shape = "confirmed"
    pair = sandbox.issue_tokens(OWNER)
    answer = requests.post(
        sandbox.auth_url + "/rest/app.info", data={"auth": pair["access_token"]}, timeout=10
    )
    assert answer.status_code == 200
    assert answer.json()["result"] == {
        "client_id": sandbox.app.client_id,
        "user_id": str(OWNER),
        "install": {
            "member_id": sandbox.member_id,
            "uri": sandbox.portal_url,
            "version": "1",
            "domain": sandbox.domain,
        },
    }
