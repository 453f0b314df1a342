from __future__ import annotations

from app import create_app
from core.redis_server import RedisServer, free_port


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_follows_redis_without_restart(app_config, tmp_path):
    server = RedisServer(tmp_path / "r", port=free_port(), persistent=False).start()
    try:
        app = create_app({**app_config, "REDIS_URL": server.url})
        client = app.test_client()
        assert client.get("/readyz").status_code == 200
        server.stop()
        down = client.get("/readyz")
        assert down.status_code == 503
        assert "Redis is unreachable" in down.get_json()["reason"]
        server.start()
        assert client.get("/readyz").status_code == 200
    finally:
        server.stop()


def test_unknown_api_route_is_json_404(client):
    response = client.get("/api/nowhere")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
