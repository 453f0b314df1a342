"""``python -m sandbox``: the sandbox portal alone, for an app you start yourself."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import threading

from sandbox.launch import CLIENT_ID, start_sandbox


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--portal-port", type=int, default=8081)
    parser.add_argument("--auth-port", type=int, default=8082)
    parser.add_argument("--app-url", default="http://localhost:5000")
    args = parser.parse_args()
    # Give the app the same secret through B24_CLIENT_SECRET; without one a throwaway is made.
    secret = os.environ.get("B24_CLIENT_SECRET") or secrets.token_urlsafe(32)
    server = start_sandbox(args.portal_port, args.auth_port, args.app_url, secret)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"Sandbox portal: {server.portal_url}/  (authorization server {server.auth_url})", flush=True)
    print("Start the app with:", flush=True)
    print(f"  B24_CLIENT_ID={CLIENT_ID} B24_OAUTH_SERVERS={server.auth_url} B24_ALLOW_HTTP=1", flush=True)
    print(
        f"  B24_JS_SDK_URL={server.portal_url}/bx24.js B24_CLIENT_SECRET=<the secret you exported>",
        flush=True,
    )
    if "B24_CLIENT_SECRET" not in os.environ:
        print("  (no B24_CLIENT_SECRET was exported, so the app cannot use the token endpoint)", flush=True)
    try:
        stop.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
