"""The baselines: minimal Flask views, served under the same gunicorn settings as the app.

``GET /api/flows``: a JSON answer and nothing else (throughput); ``GET /api/flows/redis``:
the same after one Redis round trip, the one issue 10 allows a list reload. ``POST /api/flows/<id>``:
the two portal requests a switch needs (the read, then ``activate`` and the re-read in one
batch), sent with the app's own HTTP client and nothing else; ``MINIMAL_PORTAL`` and
``MINIMAL_TOKEN`` name the portal's REST endpoint and a token (switch benchmark).
``POST /api/flows/<id>/redis``: the same, with the three Redis round trips issue 10 allows a
switch (two before the portal requests, one after, as the app makes them). The Redis is the
one at ``REDIS_URL``; the views with Redis show what any app within issue 10's budget pays
here before doing any work of its own.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify

from b24.http import get_session, post
from core.redis_client import connect


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/readyz")  # what start_gunicorn waits for
    @app.get("/api/flows")
    def answer():  # type: ignore[no-untyped-def]
        return jsonify(flows=[], discovering=False)

    redis = connect(os.environ["REDIS_URL"])  # connects at the first command: unused by the other views

    @app.get("/api/flows/redis")
    def answer_with_redis():  # type: ignore[no-untyped-def]
        redis.ping()
        return jsonify(flows=[], discovering=False)

    def portal_requests(flow_id: int) -> bool:
        endpoint, token = os.environ["MINIMAL_PORTAL"], os.environ["MINIMAL_TOKEN"]
        get = "tasks.flow.Flow.get"
        post(get_session(), f"{endpoint}{get}", json={"flowId": flow_id}, token=token, timeout=30)
        command = {
            "activate": f"tasks.flow.Flow.activate?flowId={flow_id}",
            "after": f"{get}?flowId={flow_id}",
        }
        _, answer = post(
            get_session(), f"{endpoint}batch", json={"halt": 1, "cmd": command}, token=token, timeout=30
        )
        return bool((answer or {}).get("result", {}).get("result", {}).get("after", {}).get("active"))

    @app.post("/api/flows/<int:flow_id>")
    def toggle(flow_id: int):  # type: ignore[no-untyped-def]
        return jsonify(id=flow_id, active=portal_requests(flow_id), changed=True)

    @app.post("/api/flows/<int:flow_id>/redis")
    def toggle_with_redis(flow_id: int):  # type: ignore[no-untyped-def]
        redis.ping()
        redis.ping()
        active = portal_requests(flow_id)
        redis.ping()
        return jsonify(id=flow_id, active=active, changed=True)

    return app
