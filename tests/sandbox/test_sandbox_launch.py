"""``python -m sandbox.launch``: starts the sandbox and the app, forwards signals, leaves nothing behind."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import requests
from rq import Worker

from core.gunicorn_server import answers_ok
from core.redis_server import free_port
from tests.install.live import eventually

ROOT = Path(__file__).resolve().parents[2]
# A stand-in app: prints the variables the launcher must pass, then waits for a signal.
FAKE_APP = (
    "import json, os, time; "
    "keys = ['PORT', 'B24_CLIENT_ID', 'B24_CLIENT_SECRET', 'B24_OAUTH_SERVERS', 'B24_ALLOW_HTTP', "
    "'B24_JS_SDK_URL', 'KEEP_ME']; "
    "print(json.dumps({'pid': os.getpid(), **{k: os.environ.get(k) for k in keys}}), flush=True); "
    "time.sleep(60)"
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def launch(extra_env: dict[str, str]) -> tuple[subprocess.Popen, dict[str, str]]:
    ports = {
        "SANDBOX_PORTAL_PORT": str(free_port()),
        "SANDBOX_AUTH_PORT": str(free_port()),
        "PORT": str(free_port()),
    }
    env = {**os.environ, **ports, **extra_env}
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.launch"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # what a person sees in the terminal: both streams
        text=True,
    )
    return process, ports


def read_line(process: subprocess.Popen, contains: str) -> str:
    seen = []
    for line in process.stdout:
        if contains in line:
            return line
        seen.append(line)
    raise AssertionError(f"the launcher exited without printing {contains!r}; it printed:\n{''.join(seen)}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_launch_passes_the_sandbox_env_and_stops_cleanly(signum):
    process, ports = launch(
        {"SANDBOX_APP_CMD": f"{sys.executable} -c {json.dumps(FAKE_APP)}", "KEEP_ME": "yes"}
    )
    try:
        portal = f"http://127.0.0.1:{ports['SANDBOX_PORTAL_PORT']}"
        assert f"Open {portal}/ and install Flow Switch as Anna Admin" in read_line(process, "Open ")
        child = json.loads(read_line(process, '"pid"'))
        assert child["PORT"] == ports["PORT"] and child["KEEP_ME"] == "yes"
        assert child["B24_CLIENT_ID"] == "local.flowswitch.sandbox" and len(child["B24_CLIENT_SECRET"]) >= 32
        assert child["B24_OAUTH_SERVERS"] == f"http://127.0.0.1:{ports['SANDBOX_AUTH_PORT']}"
        assert child["B24_ALLOW_HTTP"] == "1" and child["B24_JS_SDK_URL"] == f"{portal}/bx24.js"
        page = requests.get(f"{portal}/", params={"user": 1}, timeout=10)
        assert f"http://localhost:{ports['PORT']}/install?" in page.text  # the installer comes first
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
        assert not alive(child["pid"])
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{portal}/", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.gunicorn
@pytest.mark.parametrize("redis_kind", ["embedded", "given"])
def test_launch_runs_the_app_under_gunicorn_and_its_job_worker(redis_server, redis_db, tmp_path, redis_kind):
    given = redis_kind == "given"
    settings = {"REDIS_URL": redis_server.url} if given else {"REDIS_URL": "", "INSTANCE_DIR": str(tmp_path)}
    process, ports = launch({**settings, "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "2"})
    try:
        read_line(process, "Open ")
        health = f"http://localhost:{ports['PORT']}/healthz"
        assert answers_ok(health, process, timeout=30), "the app did not come up under gunicorn"
        # python worker.py, on the same Redis (the embedded one: found through instance/redis/url)
        url = redis_server.url if given else (tmp_path / "redis" / "url").read_text().strip()
        jobs_redis = redis.Redis.from_url(url)
        # One worker, in its job loop (a signal before that ends it without its shutdown).
        eventually(lambda: [w.get_state() for w in Worker.all(connection=jobs_redis)] == ["idle"], timeout=30)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        if given:
            assert Worker.all(connection=jobs_redis) == []  # it stopped with the app (and its Redis did)
        with pytest.raises(requests.ConnectionError):
            requests.get(health, timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


#: the one shape of every line ``make run`` prints (core/logs.py TEXT_FORMAT)
LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \[[^\]\s]*\] [\w.]+: .*")


@pytest.mark.gunicorn
def test_make_run_prints_one_log_format(redis_server):
    process, ports = launch({"REDIS_URL": redis_server.url, "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "2"})
    try:
        opened = read_line(process, "Open ")
        app = f"http://localhost:{ports['PORT']}"
        assert answers_ok(f"{app}/healthz", process, timeout=30)
        requests.get(f"{app}/healthz", headers={"X-Request-Id": "rid-check"}, timeout=10)
        requests.post(f"{app}/", data={"AUTH_ID": "forged", "member_id": "x", "DOMAIN": "evil.example"}, timeout=10)
        portal = ("127.0.0.1", int(ports["SANDBOX_PORTAL_PORT"]))
        with socket.create_connection(portal, timeout=5) as raw:  # the sandbox logs a malformed request
            raw.sendall(b"NOT HTTP\r\n\r\n")
            raw.recv(1024)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = [opened.rstrip("\n"), *(line for line in output.splitlines() if line.strip())]
    assert [line for line in lines if not LINE.fullmatch(line)] == []
    loggers = {LINE.fullmatch(line).group(0).split("] ", 1)[1].split(":", 1)[0] for line in lines}
    assert {"gunicorn.error", "gunicorn.access", "werkzeug"} <= loggers  # the app server's and the sandbox's
    assert any("[rid-check] gunicorn.access: " in line and '"GET /healthz HTTP/1.1" 200' in line for line in lines)
    assert "[-] sandbox.launch: Open " in lines[0]
