"""HTTPS: both hosts on port 443 of their own loopback address, certificates from the test CA."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox.data import ADMIN, MEMBER
from sandbox.server import SandboxServer
from sandbox.testing import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

ROOT = Path(__file__).resolve().parents[2]


def peer_certificate(address: str, ca_pem: Path) -> dict:
    """The server's certificate, verified against the CA and checked for ``address``."""
    context = ssl.create_default_context(cafile=str(ca_pem))
    with (
        socket.create_connection((address, 443), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=address) as secured,
    ):
        return secured.getpeercert()


def test_both_hosts_serve_https_on_443_of_their_own_loopback_address(https_sandbox, test_ca_pem):
    portal, auth = urlsplit(https_sandbox.portal_url), urlsplit(https_sandbox.auth_url)
    assert (portal.scheme, auth.scheme) == ("https", "https")
    assert portal.port is None and auth.port is None  # 443: no port anywhere, like a real portal
    assert re.fullmatch(r"127\.\d+\.\d+\.\d+", https_sandbox.domain)
    assert https_sandbox.domain == portal.hostname != auth.hostname
    for address in (portal.hostname, auth.hostname):
        assert ("IP Address", address) in peer_certificate(address, test_ca_pem)["subjectAltName"]
    assert https_sandbox.client_endpoint == f"https://{https_sandbox.domain}/rest/"
    assert https_sandbox.server_endpoint == f"https://{auth.hostname}/rest/"
    assert requests.get(f"{https_sandbox.portal_url}/bx24.js", verify=test_ca_pem, timeout=10).ok


def test_nothing_is_switched_off_a_client_must_trust_the_ca(https_sandbox, trust_test_ca):
    with requests.Session() as system_cas_only:
        system_cas_only.trust_env = False  # ignores REQUESTS_CA_BUNDLE
        with pytest.raises(requests.exceptions.SSLError):
            system_cas_only.get(f"{https_sandbox.portal_url}/bx24.js", timeout=10)
    # trust_test_ca: REQUESTS_CA_BUNDLE points at the test CA, as the app's environment will.
    assert requests.get(f"{https_sandbox.portal_url}/bx24.js", timeout=10).status_code == 200


def test_rest_token_endpoint_and_app_info_over_https(https_sandbox, test_ca_pem):
    pair = https_sandbox.issue_tokens(MEMBER)
    assert pair["client_endpoint"].startswith("https://") and pair["server_endpoint"].startswith("https://")
    who = requests.post(
        pair["client_endpoint"] + "user.current", json={"auth": pair["access_token"]}, verify=test_ca_pem
    )
    assert who.json()["result"]["ID"] == str(MEMBER)
    refreshed = requests.post(
        f"{https_sandbox.auth_url}/oauth/token/",
        data={
            "grant_type": "refresh_token",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "refresh_token": pair["refresh_token"],
        },
        verify=test_ca_pem,
    ).json()
    info = requests.post(
        f"{https_sandbox.auth_url}/rest/app.info",
        data={"auth": refreshed["access_token"]},
        verify=test_ca_pem,
    ).json()["result"]["install"]
    assert info["domain"] == https_sandbox.domain and info["uri"] == https_sandbox.portal_url
    assert info["client_endpoint"] == f"https://{https_sandbox.domain}/rest/"


def test_frame_post_says_protocol_1_and_domain_without_port(https_sandbox, test_ca_pem):
    url, form = https_sandbox.frame_post(ADMIN)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["PROTOCOL"] == "1" and query["DOMAIN"] == https_sandbox.domain and ":" not in query["DOMAIN"]
    assert form["SERVER_ENDPOINT"] == https_sandbox.server_endpoint
    page = requests.get(
        f"{https_sandbox.portal_url}/marketplace/app/flow-switch/?user={ADMIN}",
        verify=test_ca_pem,
        timeout=10,
    ).text
    assert f'name="{https_sandbox.domain}|1|' in page
    assert '"PROTOCOL": 1' in page and f'"DOMAIN": "{https_sandbox.domain}"' in page


def test_events_reach_an_https_app_whose_certificate_comes_from_the_same_ca(
    https_sandbox, tls_receiver, test_ca_pem
):
    https_sandbox.register_app(
        "local.tls.app", "s", f"{tls_receiver.url}/", f"{tls_receiver.url}/install", ""
    )
    token = https_sandbox.issue_tokens(ADMIN)["access_token"]
    requests.post(
        https_sandbox.client_endpoint + "event.bind",
        json={"auth": token, "event": "ONAPPINSTALL", "handler": f"{tls_receiver.url}/events"},
        verify=test_ca_pem,
    )
    [delivery] = https_sandbox.finish_install()
    assert delivery.url.startswith("https://localhost:") and delivery.status == 200
    assert tls_receiver.requests[0]["form"]["auth[client_endpoint]"] == https_sandbox.client_endpoint


def test_parallel_sandboxes_take_different_addresses(test_ca):
    with SandboxServer(tls=test_ca) as one, SandboxServer(tls=test_ca) as two:
        addresses = {one.domain, urlsplit(one.auth_url).hostname, two.domain, urlsplit(two.auth_url).hostname}
        assert len(addresses) == 4


def test_app_certificate_files_for_gunicorn(app_tls_cert, test_ca_pem):
    assert app_tls_cert.gunicorn_args == f"--certfile={app_tls_cert.cert} --keyfile={app_tls_cert.key}"
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(app_tls_cert.cert, app_tls_cert.key)  # a matching pair
    assert b"BEGIN CERTIFICATE" in app_tls_cert.cert.read_bytes()


def test_without_the_right_to_bind_443_the_error_says_why():
    """Run as root without CAP_NET_BIND_SERVICE (setpriv drops it from the bounding set)."""
    script = (
        "import trustme; from sandbox.server import SandboxServer; SandboxServer(tls=trustme.CA()).start()"
    )
    child = subprocess.run(
        ["setpriv", "--bounding-set", "-net_bind_service", "--", sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode != 0
    assert "PermissionError: binding port 443" in child.stderr
    assert "CAP_NET_BIND_SERVICE" in child.stderr and "ip_unprivileged_port_start" in child.stderr


def test_plain_http_stays_the_default(sandbox):
    assert sandbox.portal_url.startswith("http://127.0.0.1:") and sandbox.world.protocol == 0
    url, _ = sandbox.frame_post(ADMIN)
    assert "PROTOCOL=0" in url and f"DOMAIN={sandbox.domain.replace(':', '%3A')}" in url
