"""The pooled session reads proxy and CA-bundle settings from the environment only when some are set."""

from __future__ import annotations

import pytest

from b24.http import CA_BUNDLE_VARIABLES, new_session

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*PROXY_VARIABLES, *CA_BUNDLE_VARIABLES):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_without_proxy_or_ca_bundle_the_environment_is_not_searched_per_call(bare_environment):
    assert new_session().trust_env is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HTTPS_PROXY", "http://proxy.internal:3128"),
        ("https_proxy", "http://proxy.internal:3128"),
        ("REQUESTS_CA_BUNDLE", "/etc/ssl/private-ca.pem"),
    ],
)
def test_a_configured_proxy_or_ca_bundle_is_honoured(bare_environment, name: str, value: str):
    bare_environment.setenv(name, value)
    session = new_session()
    assert session.trust_env is True
    if "PROXY" in name.upper():
        assert (
            session.merge_environment_settings("https://portal.example/rest/", {}, None, None, None)[
                "proxies"
            ]["https"]
            == value
        )
