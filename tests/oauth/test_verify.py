"""``app.info`` verification of frame POSTs: allow-list, claims, cache, normalisation."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from flask import Flask

import oauth
from app import create_app
from core.keys import portal_key
from oauth.verify import VerificationFailed, normalize_domain, origin_of
from sandbox import data
from tests.install.live import LiveApp


def _verify(app: Flask, sandbox: Any, token: str, **claims: str) -> Any:
    with app.app_context():
        return oauth.verifier().verify(
            token,
            member_id=claims.get("member_id", sandbox.member_id),
            domain=claims.get("domain", sandbox.domain),
            server_endpoint=claims.get("server_endpoint", sandbox.server_endpoint),
        )


def test_verification_is_cached_briefly_and_never_stores_the_token(
    installed_portal: Any, live_app: LiveApp, redis_db: Any
):
    token = installed_portal.issue_tokens(data.MEMBER)["access_token"]
    installed_portal.reset_counters()

    first = _verify(live_app.app, installed_portal, token)
    second = _verify(live_app.app, installed_portal, token, domain=installed_portal.domain.upper() + ":80")

    assert first == second
    assert (first.user_id, first.member_id, first.client_endpoint) == (
        data.MEMBER,
        installed_portal.member_id,
        installed_portal.client_endpoint,
    )
    assert installed_portal.app_info_checks == 1
    key = portal_key(installed_portal.member_id, "verified", hashlib.sha256(token.encode()).hexdigest())
    assert 0 < redis_db.ttl(key) <= live_app.app.config["VERIFY_CACHE_TTL"]
    assert not [k for k in redis_db.scan_iter("*") if token in k or token in repr(redis_db.dump(k))]
    with pytest.raises(VerificationFailed):  # the cache still checks the claims
        _verify(live_app.app, installed_portal, token, domain="evil.example")


def test_a_token_of_another_application_is_refused(installed_portal: Any, sandbox_config: dict):
    other_app = create_app({**sandbox_config, "B24_CLIENT_ID": "local.someone.else"})
    token = installed_portal.issue_tokens(data.ADMIN)["access_token"]
    with pytest.raises(VerificationFailed) as refused:
        _verify(other_app, installed_portal, token)
    assert refused.value.reason == "token belongs to another application"


def test_the_installer_accepts_a_portal_that_is_not_installed_yet_and_the_app_page_does_not(
    live_app: LiveApp, sandbox: Any
):
    sandbox.install()
    token = sandbox.issue_tokens(data.ADMIN)["access_token"]
    with pytest.raises(VerificationFailed):
        _verify(live_app.app, sandbox, token)
    with live_app.app.app_context():
        verified = oauth.verifier().verify(
            token,
            member_id=sandbox.member_id,
            domain=sandbox.domain,
            server_endpoint=sandbox.server_endpoint,
            installing=True,
        )
    assert verified.installed is False and verified.user_id == data.ADMIN


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Portal.Bitrix24.com", "portal.bitrix24.com"),
        ("portal.bitrix24.com:443", "portal.bitrix24.com"),
        ("portal.bitrix24.com:80", "portal.bitrix24.com"),
        ("127.0.0.1:8443", "127.0.0.1:8443"),
    ],
)
def test_domains_compare_without_default_ports(raw: str, normal: str):
    assert normalize_domain(raw) == normal


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://oauth.bitrix.info/rest/", "https://oauth.bitrix.info"),
        ("https://OAUTH.bitrix.info", "https://oauth.bitrix.info"),
        ("javascript:alert(1)", ""),
        ("//oauth.bitrix.info/rest/", ""),
        ("", ""),
    ],
)
def test_server_endpoint_origin(url: str, origin: str):
    assert origin_of(url) == origin
