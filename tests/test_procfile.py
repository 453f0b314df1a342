"""The Procfile as a platform runs it: gunicorn, the embedded Redis, clean shutdown."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from core.gunicorn_server import answers_ok
from core.redis_server import answers_ping, free_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.gunicorn


def procfile_command() -> list[str]:
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
    return shlex.split(line.removeprefix("web:"))


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("B24_", "REDIS_", "APP_", "SECRET_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({"PORT": str(free_port()), "INSTANCE_DIR": str(tmp_path / "instance"), "WEB_CONCURRENCY": "2"})
    return env


def test_procfile_serves_on_the_embedded_redis_and_stops_it(tmp_path):
    env = {**base_env(tmp_path), "SECRET_KEY": "k" * 48}
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            procfile_command(), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        base = f"http://127.0.0.1:{env['PORT']}"
        assert answers_ok(f"{base}/healthz", process, timeout=20), "gunicorn did not answer /healthz"
        ready = requests.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        port = int(re.search(r"embedded Redis at redis://127\.0\.0\.1:(\d+)", log.read_text()).group(1))
        assert answers_ping(port)
        assert (tmp_path / "instance" / "redis").is_dir()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
    assert not answers_ping(port), "the embedded Redis outlived gunicorn"


@pytest.mark.parametrize("app_env", ["production", "development"])
def test_procfile_refuses_to_start_without_a_secret_key(tmp_path, app_env):
    # No default key: one printed in the code would let anyone forge a frame session.
    env = {**base_env(tmp_path), "APP_ENV": app_env, "B24_CLIENT_ID": "a", "B24_CLIENT_SECRET": "b"}
    result = subprocess.run(procfile_command(), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Refusing to start: SECRET_KEY is not set" in result.stderr + result.stdout
    assert not (tmp_path / "instance" / "redis").exists(), "started Redis despite refusing"


def test_embedded_redis_keeps_data_across_restarts(tmp_path):
    from core.redis_client import connect
    from core.redis_server import RedisServer

    server = RedisServer(tmp_path / "redis").start()
    client = connect(server.url)
    client.set("fs:{portal}:probe", "kept")
    client.close()
    server.stop()
    server.start()
    try:
        assert connect(server.url).get("fs:{portal}:probe") == "kept"
    finally:
        server.stop()
