"""The throughput baseline: a minimal Flask JSON view, served under the same gunicorn settings."""

from __future__ import annotations

from flask import Flask, jsonify


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/readyz")  # what start_gunicorn waits for
    @app.get("/api/flows")
    def answer():  # type: ignore[no-untyped-def]
        return jsonify(flows=[], discovering=False)

    return app
