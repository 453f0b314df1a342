"""Shared fixtures: a private Redis server per test run and an app per test (flaskr-style)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from app import create_app
from core import clock
from core.redis_server import RedisServer

#: the app's SECRET_KEY in tests (never a default of the app: it refuses to start without one)
TEST_SECRET_KEY = "test-secret-key-" + "0123456789abcdef" * 2

pytest_plugins = [
    "sandbox.testing",
    "tests.failures",
    "tests.gunicorn_app",
    "tests.install.live",
    "tests.redis_topologies",
    "tests.worker_process",
]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis server of this test run's own, on a free port; never the machine's shared one."""
    with RedisServer(tmp_path_factory.mktemp("redis"), persistent=True) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def redis_db(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client to the test server, emptied before each test."""
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def app_config(redis_db: redis.Redis, redis_server: RedisServer, tmp_path: Path) -> dict:
    return {
        "APP_ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET_KEY,
        "REDIS_URL": redis_server.url,
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "B24_CLIENT_ID": "local.test.app",
        "B24_CLIENT_SECRET": "test-client-secret",
        "LOG_FORMAT": "text",
    }


@pytest.fixture
def app(app_config: dict):
    return create_app(app_config)


@pytest.fixture
def client(app):
    return app.test_client()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # In CI a skipped test is a missing test: fail the run rather than pass quietly.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("CI") and reporter is not None and reporter.stats.get("skipped"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def moved_clock() -> Iterator[Callable[[float], None]]:
    """``moved_clock(seconds)`` moves the app's clock (``core.clock``) forward; put back after the test."""
    yield clock.advance
    clock.reset()
