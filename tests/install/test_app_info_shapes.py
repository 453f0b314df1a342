"""The authorization server's ``app.info`` read by what its readers confirm (issue 15.8).

Only b24pysdk's type names ``install.installed`` and ``install.client_endpoint``; Bitrix's own
modules, the PHP SDK and third-party apps read ``client_id``, ``user_id`` and ``install``'s
``member_id``, ``uri``, ``version`` and ``domain``, and the SDK's fixtures carry numbers as
strings. The sandbox's ``app_info_shape = "confirmed"`` answers with exactly those.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis
import requests
from flask import Flask

import oauth
from oauth.verify import VerificationFailed, Verified
from sandbox import data
from tests.flows.conftest import page_data
from tests.install.live import CLIENT_ID, LiveApp, install_app

SERVER = "https://oauth.bitrix.info"
SECRET_LOOKING = "4f1c0ffee" * 7


def confirmed(**install: Any) -> dict[str, Any]:
    """An answer with only the confirmed fields, numbers as strings; ``install`` overrides."""
    block = {"member_id": "a" * 32, "uri": "https://acme.bitrix24.com", "version": "3", "domain": "acme.bitrix24.com"}
    return {"client_id": CLIENT_ID, "user_id": "7", "install": {**block, **install}}


def parse(app: Flask, result: Any) -> Verified:
    with app.app_context():
        return oauth.verifier().parse(SERVER, result)


@pytest.fixture
def https_app(sandbox_config: dict) -> Flask:
    from app import create_app

    return create_app({**sandbox_config, "B24_ALLOW_HTTP": False, "B24_OAUTH_SERVERS": [SERVER]})


def test_the_confirmed_fields_are_enough(https_app: Flask) -> None:
    verified = parse(https_app, confirmed())
    assert verified == Verified(
        member_id="a" * 32,
        domain="acme.bitrix24.com",
        client_endpoint="https://acme.bitrix24.com/rest/",  # derived from install.uri
        server=SERVER,
        user_id=7,  # "7"
        scope="",
        installed=True,  # not said: the answer is about an installed app
    )


def test_the_endpoint_comes_from_the_domain_when_there_is_no_uri(https_app: Flask) -> None:
    answer = confirmed()
    del answer["install"]["uri"]
    assert parse(https_app, answer).client_endpoint == "https://acme.bitrix24.com/rest/"


@pytest.mark.parametrize("value", [False, "N", 0])
def test_a_present_installed_false_is_believed(https_app: Flask, value: Any) -> None:
    assert parse(https_app, confirmed(installed=value)).installed is False


@pytest.mark.parametrize(
    "install",
    [
        {"uri": "https://other.bitrix24.com"},  # uri and domain name different portals
        {"client_endpoint": "https://evil.example/rest/"},  # an endpoint off the portal
        {"uri": "http://acme.bitrix24.com"},  # plain http outside the sandbox
        {"uri": "", "domain": ""},  # no portal at all
    ],
)
def test_answers_that_do_not_name_one_https_portal_are_refused(https_app: Flask, install: dict) -> None:
    with pytest.raises(VerificationFailed):
        parse(https_app, confirmed(**install))


def test_an_unknown_shape_is_logged_once_without_its_values(
    https_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    odd = confirmed(secret_field=SECRET_LOOKING)
    odd["access_token"] = SECRET_LOOKING
    with caplog.at_level(logging.WARNING, logger="oauth.verify"):
        for _ in range(3):
            parse(https_app, odd)
        parse(https_app, confirmed())  # a known shape says nothing
    logged = [record.getMessage() for record in caplog.records if "shape" in record.getMessage()]
    assert len(logged) == 1
    assert '"access_token"' in logged[0] and '"secret_field": "str"' in logged[0]
    assert SECRET_LOOKING not in caplog.text


def test_install_page_and_switch_with_an_authorization_server_that_confirms_only_those_fields(
    live_app: LiveApp, sandbox: Any, redis_db: redis.Redis
) -> None:
    # Before: the install event and every frame open were refused with 403.
    sandbox.settings.app_info_shape = "confirmed"
    install_app(sandbox, redis_db)
    url, form = sandbox.frame_post(data.OWNER)
    page = requests.post(url, data=form, timeout=10)
    assert page.status_code == 200
    session = page_data(page.text)["session"]
    assert {flow["id"] for flow in page_data(page.text)["flows"]} >= {1, 2, 3}
    switched = requests.put(
        f"{live_app.url}/api/flows/1", json={"active": False}, headers={"X-Frame-Session": session}, timeout=10
    )
    assert switched.status_code == 200, switched.text
    assert switched.json()["active"] is False
    assert sandbox.flow(1).active is False


def test_error_answers_of_the_authorization_server_mean_not_verified_and_the_log_says_which(
    live_app: LiveApp, sandbox: Any, redis_db: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.settings.app_info_shape = "confirmed"
    install_app(sandbox, redis_db)
    url, form = sandbox.frame_post(data.OWNER)
    made_up = {**form, "AUTH_ID": "0123456789abcdef" * 4 + "012345"}  # shaped like a token
    with caplog.at_level(logging.INFO):
        assert requests.post(url, data=made_up, timeout=10).status_code == 403
        sandbox.expire_access_tokens(data.OWNER)
        assert requests.post(url, data=form, timeout=10).status_code == 403
        url, form = sandbox.frame_post(data.OWNER)
        sandbox.uninstall()
        assert requests.post(url, data=form, timeout=10).status_code == 403
    # What an operator of a real portal looks for (README, "Running against a real portal").
    refusals = [record.getMessage() for record in caplog.records if record.getMessage().startswith("Refused 403")]
    assert refusals == [
        f"Refused 403 forbidden: app.info error {code}" for code in ("invalid_client", "expired_token", "NOT_INSTALLED")
    ]
    assert form["AUTH_ID"] not in caplog.text and made_up["AUTH_ID"] not in caplog.text
