"""The transport reads the CA bundle and the proxies once, when it is made; no_proxy exempts hosts."""

from __future__ import annotations

import certifi
import pytest

from b24.http import CA_BUNDLE_VARIABLES, new_session

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
PORTAL = "https://portal.example/rest/"


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*PROXY_VARIABLES, *CA_BUNDLE_VARIABLES):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_without_settings_portals_are_reached_directly_and_certifi_is_trusted(bare_environment):
    transport = new_session()
    assert transport.pool_for(PORTAL) is transport.direct
    assert transport.ca_certs == certifi.where()


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"])
def test_a_configured_proxy_is_honoured(bare_environment, name: str):
    bare_environment.setenv(name, "http://proxy.internal:3128")
    pool = new_session().pool_for(PORTAL)
    assert pool.proxy is not None and pool.proxy.host == "proxy.internal" and pool.proxy.port == 3128


def test_no_proxy_exempts_its_hosts(bare_environment):
    bare_environment.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    bare_environment.setenv("NO_PROXY", "portal.example")
    transport = new_session()
    assert transport.pool_for(PORTAL) is transport.direct
    assert transport.pool_for("https://other.example/rest/") is not transport.direct


@pytest.mark.parametrize("name", CA_BUNDLE_VARIABLES)
def test_a_configured_ca_bundle_is_trusted(bare_environment, name: str):
    bare_environment.setenv(name, "/etc/ssl/private-ca.pem")
    assert new_session().ca_certs == "/etc/ssl/private-ca.pem"


def test_no_proxy_alone_names_no_proxy(bare_environment):
    bare_environment.setenv("NO_PROXY", "localhost")
    transport = new_session()
    assert transport.proxies == {}
    assert transport.pool_for(PORTAL) is transport.direct
