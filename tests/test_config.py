from __future__ import annotations

import pytest

from app import create_app
from core.config import ConfigError, load_config

GOOD_SECRET = "x" * 48


def test_defaults_work_with_only_a_secret_key():
    config = load_config(environ={"SECRET_KEY": GOOD_SECRET})
    assert config["B24_OAUTH_SERVERS"] == ["https://oauth.bitrix.info", "https://oauth.bitrix24.tech"]
    assert config["B24_ALLOW_HTTP"] is False
    assert config["B24_RATE_LIMIT_PARSED"] == (50, 2.0)


def test_environment_overrides_defaults_and_mapping_overrides_environment():
    environ = {"B24_OAUTH_SERVERS": "https://oauth.bitrix.info/", "LOG_LEVEL": "DEBUG"}
    config = load_config({"LOG_LEVEL": "WARNING"}, environ={**environ, "SECRET_KEY": GOOD_SECRET})
    assert config["B24_OAUTH_SERVERS"] == ["https://oauth.bitrix.info"]
    assert config["LOG_LEVEL"] == "WARNING"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("oauth.bitrix.info", "is not a URL"),
        ("ftp://oauth.bitrix.info", "is not a URL"),
        ("https://oauth.bitrix.info/oauth/token/", "bare origin"),
        ("https://user:pw@oauth.bitrix.info", "bare origin"),
        ("https://oauth.bitrix.info?x=1", "bare origin"),
        ("http://127.0.0.1:8082", "B24_ALLOW_HTTP=1"),
    ],
)
def test_bad_oauth_server_entries_are_refused_with_a_clear_message(entry, message):
    with pytest.raises(ConfigError, match="B24_OAUTH_SERVERS") as raised:
        load_config(
            environ={"B24_OAUTH_SERVERS": f"https://oauth.bitrix.info,{entry}", "SECRET_KEY": GOOD_SECRET}
        )
    assert message in str(raised.value)


def test_http_servers_are_allowed_only_with_allow_http():
    config = load_config(
        environ={
            "B24_OAUTH_SERVERS": "http://127.0.0.1:8082",
            "B24_ALLOW_HTTP": "1",
            "SECRET_KEY": GOOD_SECRET,
        }
    )
    assert config["B24_OAUTH_SERVERS"] == ["http://127.0.0.1:8082"]


def test_empty_server_list_is_refused():
    with pytest.raises(ConfigError, match="at least one"):
        load_config(environ={"B24_OAUTH_SERVERS": " , ", "SECRET_KEY": GOOD_SECRET})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("B24_ALLOW_HTTP", "maybe"),
        ("PROXY_COUNT", "two"),
        ("B24_RATE_LIMIT", "fast"),
        ("APP_ENV", "staging"),
        ("FLOW_LIST_REPROBE_SECONDS", "0"),
    ],
)
def test_malformed_values_name_the_variable(key, value):
    with pytest.raises(ConfigError, match=key):
        load_config(environ={key: value, "SECRET_KEY": GOOD_SECRET})


@pytest.mark.parametrize("app_env", ["production", "development", "testing"])
@pytest.mark.parametrize(("secret", "problem"), [(None, "not set"), ("", "not set"), ("short", "too short")])
def test_no_environment_starts_without_a_real_secret(app_env, secret, problem):
    environ = {"APP_ENV": app_env, "B24_CLIENT_ID": "app.1", "B24_CLIENT_SECRET": "s"}
    if secret is not None:
        environ["SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match=f"Refusing to start: SECRET_KEY is {problem}"):
        load_config(environ=environ)


def test_production_needs_the_public_url_or_a_trusted_proxy():
    environ = {
        "APP_ENV": "production",
        "SECRET_KEY": GOOD_SECRET,
        "B24_CLIENT_ID": "a",
        "B24_CLIENT_SECRET": "s",
    }
    with pytest.raises(ConfigError, match="APP_PUBLIC_URL"):
        load_config(environ=environ)
    assert load_config(environ={**environ, "PROXY_COUNT": "1"})["PROXY_COUNT"] == 1
    public = load_config(environ={**environ, "APP_PUBLIC_URL": "https://flows.example.com/"})
    assert public["APP_PUBLIC_URL"] == "https://flows.example.com"
    with pytest.raises(ConfigError, match="APP_PUBLIC_URL must be"):
        load_config(environ={**environ, "APP_PUBLIC_URL": "http://flows.example.com"})


def test_production_refuses_missing_client_credentials():
    with pytest.raises(ConfigError, match="B24_CLIENT_SECRET"):
        load_config(environ={"APP_ENV": "production", "SECRET_KEY": GOOD_SECRET, "B24_CLIENT_ID": "app.1"})


def test_production_starts_with_real_settings(app_config):
    app = create_app(
        {
            **app_config,
            "APP_ENV": "production",
            "SECRET_KEY": GOOD_SECRET,
            "APP_PUBLIC_URL": "https://f.example",
        }
    )
    assert app.config["APP_ENV"] == "production"


def test_proxy_fix_honours_the_configured_proxy_count(app_config):
    app = create_app({**app_config, "PROXY_COUNT": 1})

    @app.get("/_scheme")
    def scheme():
        from flask import request

        return request.scheme

    response = app.test_client().get("/_scheme", headers={"X-Forwarded-Proto": "https"})
    assert response.get_data(as_text=True) == "https"


def test_jobs_need_their_own_redis_beside_a_cluster(app_config):
    cluster = {**app_config, "REDIS_URL": "redis+cluster://127.0.0.1:7001"}
    with pytest.raises(ConfigError, match="JOBS_REDIS_URL must name a plain or Sentinel Redis"):
        create_app(cluster)
