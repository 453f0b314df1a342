"""Flow Switch: the application factory (run it with ``gunicorn 'app:create_app()'``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import oauth
from blueprints import api, connect, events, frame, health, install
from core import http_guard, i18n, jobs, redis_client
from core.config import load_config
from core.errors import register_error_handlers
from core.json_provider import OrjsonProvider
from core.logs import configure_logging
from services.errors import ANSWERS

ROOT = Path(__file__).resolve().parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then the environment, then ``config`` (tests pass theirs here)."""
    settings = load_config(config)
    app = Flask(__name__, instance_path=settings["INSTANCE_DIR"] or str(ROOT / "instance"))
    app.config.update(settings)
    app.json = OrjsonProvider(app)
    app.config["SECRET_KEY_FALLBACKS"] = list(settings["SECRET_KEY_FALLBACKS"])
    configure_logging(app)
    http_guard.init_app(app)
    if app.config["PROXY_COUNT"]:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count)  # type: ignore[method-assign]

    redis_client.init_app(app)
    jobs.init_app(app)
    i18n.init_app(app)
    oauth.init_app(app)
    register_error_handlers(app, ANSWERS)
    for blueprint in (health.bp, install.bp, events.bp, connect.bp, frame.bp, api.bp):
        app.register_blueprint(blueprint)
    return app
