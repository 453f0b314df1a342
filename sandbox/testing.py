"""pytest plugin (``pytest_plugins = ["sandbox.testing"]``): a fresh sandbox portal per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.server import SandboxServer

# Registered and installed by the fixture so REST calls work at once; register your own app to start over.
DEFAULT_CLIENT_ID = "local.flowswitch.test"
DEFAULT_CLIENT_SECRET = "sandbox-test-secret"
DEFAULT_APP_URL = "http://localhost:5000/"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """Portal + authorization server on free loopback ports, seeded, with an installed default app."""
    with SandboxServer() as server:
        server.register_app(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            app_url=DEFAULT_APP_URL,
            installer_url=f"{DEFAULT_APP_URL}install",
            redirect_uri=f"{DEFAULT_APP_URL}oauth/callback",
            installed=True,
        )
        yield server
