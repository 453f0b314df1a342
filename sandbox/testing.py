"""pytest plugin (``pytest_plugins = ["sandbox.testing"]``): a fresh sandbox portal per test, a test CA, Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.server import SandboxServer
from sandbox.tls import CertFiles, issue_cert_files, nss_home

# Registered and installed by the fixture so REST calls work at once; register your own app to start over.
DEFAULT_CLIENT_ID = "local.flowswitch.test"
DEFAULT_CLIENT_SECRET = "sandbox-test-secret"
DEFAULT_APP_URL = "http://localhost:5000/"

# The system Chromium, as these machines run it (never `playwright install`).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def install_default_app(server: SandboxServer) -> SandboxServer:
    server.register_app(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        app_url=DEFAULT_APP_URL,
        installer_url=f"{DEFAULT_APP_URL}install",
        redirect_uri=f"{DEFAULT_APP_URL}oauth/callback",
        installed=True,
    )
    return server


def ca_environment(ca_pem: Path) -> dict[str, str]:
    """Environment that makes ``requests`` (the app's HTTP client) trust the test CA; for an app
    started as its own process (gunicorn), or see ``trust_test_ca`` in this one."""
    return {"REQUESTS_CA_BUNDLE": str(ca_pem)}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """Portal + authorization server on free loopback ports, seeded, with an installed default app."""
    with SandboxServer() as server:
        yield install_default_app(server)


@pytest.fixture(scope="session")
def test_ca() -> Any:
    """A certificate authority made in-process for this test run (``trustme.CA``)."""
    import trustme  # test-only dependency

    return trustme.CA()


@pytest.fixture(scope="session")
def test_ca_pem(test_ca: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test CA's certificate as a PEM file."""
    path = tmp_path_factory.mktemp("test-ca") / "ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def https_sandbox(test_ca: Any) -> Iterator[SandboxServer]:
    """Like ``sandbox``, over HTTPS: each host on port 443 of its own 127.x.y.z, certificates
    from ``test_ca``; ``PROTOCOL=1`` and a ``DOMAIN`` without a port, as on a real portal."""
    with SandboxServer(tls=test_ca) as server:
        yield install_default_app(server)


@pytest.fixture
def trust_test_ca(test_ca_pem: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``requests`` in this process trusts the test CA (the variables of ``ca_environment``).

    ``requests`` reads them when a call is made; a ``Session`` that decided earlier not to look
    at the environment (``trust_env = False``) keeps using the system CAs.
    """
    for name, value in ca_environment(test_ca_pem).items():
        monkeypatch.setenv(name, value)
    return test_ca_pem


@pytest.fixture(scope="session")
def app_tls_cert(test_ca: Any, tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    """A server certificate for the app (``localhost``, ``127.0.0.1``) from the test CA, as files;
    ``app_tls_cert.gunicorn_args`` goes into ``GUNICORN_CMD_ARGS``."""
    return issue_cert_files(test_ca, tmp_path_factory.mktemp("app-tls"), "localhost", "127.0.0.1")


@pytest.fixture(scope="session")
def chromium(test_ca_pem: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless system Chromium through Playwright, one per test session (a Playwright ``Browser``).

    It runs with a ``$HOME`` whose NSS database trusts the test CA, so HTTPS sandbox pages load
    with no certificate error and nothing is switched off.
    """
    if not Path(CHROMIUM).exists() or shutil.which("certutil") is None:
        pytest.skip("needs /usr/bin/chromium and certutil (make system-deps)")
    from playwright.sync_api import sync_playwright  # test-only dependency

    home = nss_home(test_ca_pem, tmp_path_factory.mktemp("chromium-home"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, env={**os.environ, "HOME": str(home)}
        )
        yield browser
        browser.close()
