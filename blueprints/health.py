"""Liveness and readiness probes for the platform in front of the app."""

from __future__ import annotations

import redis
from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from core.redis_client import get_redis

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    try:
        get_redis().ping()
    except redis.RedisError as exc:
        return jsonify(status="unavailable", reason=f"Redis is unreachable ({type(exc).__name__})"), 503
    return jsonify(status="ready")
