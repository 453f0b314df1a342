from __future__ import annotations

import json
import logging

from app import create_app
from core.logs import JsonFormatter, redact

SECRETS = [
    "ydtj8pho532wydb5ixk78ol7uqlb7sch",
    "3s6lr4kr3cv2od4v853gvrchb875bwxb",
    "51856fefc120afa4b628cc82d3935cce",
]


def test_redact_masks_token_fields_in_every_spelling():
    line = (
        f"auth[access_token]={SECRETS[0]}&REFRESH_ID={SECRETS[1]} "
        f'{{"application_token": "{SECRETS[2]}"}} client_secret=s3cr3t AUTH_ID={SECRETS[0]}'
    )
    cleaned = redact(line)
    for secret in [*SECRETS, "s3cr3t"]:
        assert secret not in cleaned
    assert "***" in cleaned


def test_request_id_is_echoed_and_generated(client):
    assert client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"}).headers["X-Request-Id"]
    assert len(generated) == 32 and " " not in generated


def test_json_lines_in_production_carry_the_request_id(app_config, capsys):
    app = create_app({**app_config, "APP_ENV": "production", "PROXY_COUNT": 1, "LOG_FORMAT": ""})

    @app.get("/_log")
    def log_something():
        logging.getLogger("flow_switch.test").warning("refresh_token=%s stored", SECRETS[1])
        return "ok"

    app.test_client().get("/_log", headers={"X-Request-Id": "rid-1"})
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    entry = next(x for x in lines if x["logger"] == "flow_switch.test")
    assert entry["request_id"] == "rid-1"
    assert entry["level"] == "WARNING"
    assert SECRETS[1] not in entry["message"]


def test_json_formatter_redacts_exceptions():
    try:
        raise ValueError(f"access_token={SECRETS[0]}")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert SECRETS[0] not in JsonFormatter().format(record)
