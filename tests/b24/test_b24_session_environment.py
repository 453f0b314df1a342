"""The pooled session reads the CA bundle once, and searches the environment per call only for a proxy."""

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


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "https_proxy"])
def test_a_configured_proxy_is_honoured(bare_environment, name: str):
    value = "http://proxy.internal:3128"
    bare_environment.setenv(name, value)
    session = new_session()
    assert session.trust_env is True
    assert (
        session.merge_environment_settings("https://portal.example/rest/", {}, None, None, None)["proxies"]["https"]
        == value
    )


@pytest.mark.parametrize("name", CA_BUNDLE_VARIABLES)
def test_a_configured_ca_bundle_is_honoured_without_searching_per_call(bare_environment, name: str):
    bare_environment.setenv(name, "/etc/ssl/private-ca.pem")
    session = new_session()
    assert session.verify == "/etc/ssl/private-ca.pem"
    assert session.trust_env is False


def test_no_proxy_alone_does_not_make_every_call_search_the_environment(bare_environment):
    bare_environment.setenv("NO_PROXY", "localhost")
    assert new_session().trust_env is False
