"""The baselines: minimal Flask views, served under the same gunicorn settings as the app.

``GET /api/flows``: a JSON answer and nothing else (throughput). ``POST /api/flows/<id>``:
the two portal requests a switch needs (the read, then ``activate`` and the re-read in one
batch), sent with the app's own HTTP client and nothing else; ``MINIMAL_PORTAL`` and
``MINIMAL_TOKEN`` name the portal's REST endpoint and a token (switch benchmark).
"""

from __future__ import annotations

import os

from flask import Flask, jsonify

from b24.http import get_session, post


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/readyz")  # what start_gunicorn waits for
    @app.get("/api/flows")
    def answer():  # type: ignore[no-untyped-def]
        return jsonify(flows=[], discovering=False)

    @app.post("/api/flows/<int:flow_id>")
    def toggle(flow_id: int):  # type: ignore[no-untyped-def]
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
        after = (answer or {}).get("result", {}).get("result", {}).get("after", {})
        return jsonify(id=flow_id, active=bool(after.get("active")), changed=True)

    return app
