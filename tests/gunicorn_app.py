"""Pytest plugin: run the app under real gunicorn, as the Procfile does.

``gunicorn_app(env={...}, workers=4)`` starts ``gunicorn --config gunicorn.conf.py
'app:create_app()'`` on a free port with the test Redis and the given settings,
waits for ``/readyz`` and returns a ``GunicornApp``; every server started in a test
is stopped after it, and when the test failed its log is printed with the failure (a
server's side of a failure seen only in CI). Settings go through the environment, so
``env`` uses the variable names of ``core/config.py`` (``B24_OAUTH_SERVERS``,
``B24_ALLOW_HTTP``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from core.gunicorn_server import GunicornApp, start_gunicorn
from core.redis_server import RedisServer
from tests.failures import failed

__all__ = ["GunicornApp", "gunicorn_app", "start_gunicorn"]

#: the end of a failed test's server log that is printed
LOG_TAIL = 200


@pytest.fixture
def gunicorn_app(
    redis_server: RedisServer, redis_db: object, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., GunicornApp]]:
    """A starter for the app under gunicorn on the test Redis (emptied first by ``redis_db``)."""
    started: list[GunicornApp] = []

    def start(env: Mapping[str, str] | None = None, *, workers: int = 4, port: int | None = None) -> GunicornApp:
        log_path = tmp_path / f"gunicorn-{len(started)}.log"
        app = start_gunicorn(env or {}, redis_url=redis_server.url, log_path=log_path, workers=workers, port=port)
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()
    if failed(request):
        for app in started:
            print(f"--- {app.log_path.name} ({app.url}), its last {LOG_TAIL} lines:")
            print("\n".join(app.log().splitlines()[-LOG_TAIL:]))
