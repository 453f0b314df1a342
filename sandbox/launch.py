"""``python -m sandbox.launch`` (what ``make run`` calls): the sandbox portal, then the app and its job
worker as the Procfile runs them.

The app and the worker run as child process groups; the worker starts once the app answers,
so the app's gunicorn owns the embedded Redis they share (``instance/redis/url``).
SIGINT/SIGTERM are forwarded to both, the launcher waits for them to exit, stops the sandbox
and exits, so nothing is left behind.
"""

from __future__ import annotations

import logging
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.gunicorn_server import answers_ok
from core.logs import install
from sandbox.server import SandboxServer

log = logging.getLogger("sandbox.launch")

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "local.flowswitch.sandbox"
# The Procfile's commands: gunicorn --config gunicorn.conf.py 'app:create_app()', and python worker.py
APP_COMMAND = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "app:create_app()"]
WORKER_COMMAND = [sys.executable, "worker.py"]
STOP_GRACE = 25.0  # gunicorn's graceful_timeout is 20 s
#: every permission the app can use, notices included (README, "Registering the app")
APP_SCOPE = "task,user,placement,im,department,sonet_group"
#: how long the worker waits for the app to answer before it starts anyway
APP_START_WAIT = 60.0


def start_sandbox(portal_port: int, auth_port: int, app_url: str, client_secret: str) -> SandboxServer:
    """The sandbox on fixed ports with Flow Switch registered (installer not run yet)."""
    server = SandboxServer(portal_port=portal_port, auth_port=auth_port).start()
    base = app_url.rstrip("/")
    server.register_app(
        CLIENT_ID,
        client_secret,
        app_url=f"{base}/",
        installer_url=f"{base}/install",
        redirect_uri=f"{base}/oauth/callback",
        scope=APP_SCOPE,
    )
    return server


def local_secret_key(instance_dir: Path) -> str:
    """``SECRET_KEY`` for local runs: made once, kept in ``instance/secret_key`` (owner-only)."""
    path = instance_dir / "secret_key"
    if not path.exists():
        instance_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def app_environment(server: SandboxServer, client_secret: str, port: str) -> dict[str, str]:
    """The user's environment plus what points the app at the sandbox."""
    instance_dir = Path(os.environ.get("INSTANCE_DIR") or ROOT / "instance")
    return {
        **os.environ,
        "SECRET_KEY": os.environ.get("SECRET_KEY") or local_secret_key(instance_dir),
        "PORT": port,
        "B24_CLIENT_ID": CLIENT_ID,
        "B24_CLIENT_SECRET": client_secret,
        "B24_OAUTH_SERVERS": server.auth_url,
        "B24_ALLOW_HTTP": "1",
        "B24_JS_SDK_URL": f"{server.portal_url}/bx24.js",
    }


def run_children(app: list[str], worker: list[str] | None, env: dict[str, str], health_url: str) -> int:
    """Run the app (and, once it answers, the worker) until the app exits; forward SIGINT/SIGTERM to
    both process groups, SIGKILL after a grace period; the worker is stopped with the app."""
    children = [subprocess.Popen(app, cwd=ROOT, env=env, process_group=0)]  # noqa: S603 - our command or the developer's own
    deadline: list[float] = []

    def forward(signum: int, _frame: object) -> None:
        if not deadline:
            deadline.append(time.monotonic() + STOP_GRACE)
        for index, child in enumerate(children):
            if child.poll() is None:
                # The worker gets SIGTERM: RQ's warm shutdown once it runs, and while Python is
                # still starting it a quiet end, where SIGINT would print a KeyboardInterrupt.
                os.killpg(child.pid, signum if index == 0 else signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    if worker and answers_ok(health_url, children[0], APP_START_WAIT) and not deadline:
        children.append(subprocess.Popen(worker, cwd=ROOT, env=env, process_group=0))  # noqa: S603
    while True:
        try:
            code = children[0].wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if deadline and time.monotonic() > deadline[0]:
                for child in children:
                    if child.poll() is None:
                        os.killpg(child.pid, signal.SIGKILL)
    for child in children[1:]:
        # The worker got the stop signal already, unless the app exited by itself; a second
        # signal would make RQ cut its shutdown short (cold shutdown) and leave it registered.
        if not deadline and child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    return 0 if deadline else code


def main() -> int:
    # The launcher's lines and the sandbox's in the shape of the app's and gunicorn's: one log
    # format for everything `make run` prints (the format belongs to the app, core/logs.py).
    install(json_lines=False)
    portal_port = int(os.environ.get("SANDBOX_PORTAL_PORT", "8081"))
    auth_port = int(os.environ.get("SANDBOX_AUTH_PORT", "8082"))
    port = os.environ.get("PORT", "5000")
    client_secret = secrets.token_urlsafe(32)  # a new one per launch; only the child learns it
    server = start_sandbox(portal_port, auth_port, f"http://localhost:{port}", client_secret)
    command = shlex.split(os.environ["SANDBOX_APP_CMD"]) if os.environ.get("SANDBOX_APP_CMD") else APP_COMMAND
    worker = shlex.split(os.environ.get("SANDBOX_WORKER_CMD", shlex.join(WORKER_COMMAND))) or None
    try:
        log.info("Sandbox portal on %s, authorization server on %s", server.portal_url, server.auth_url)
        log.info("Open %s/ and install Flow Switch as Anna Admin", server.portal_url)
        env = app_environment(server, client_secret, port)
        return run_children(command, worker, env, f"http://localhost:{port}/healthz")
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
