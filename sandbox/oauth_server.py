"""The authorization server (``oauth.bitrix.info`` stand-in): ``/oauth/token/`` and its ``/rest/app.info``."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

from sandbox.envelope import envelope, time_block
from sandbox.errors import RestError
from sandbox.models import AccessToken, AppRegistration
from sandbox.rest import error_response, json_response, pop_token, request_params, world
from sandbox.settings import CONFIRMED
from sandbox.state import ABSENT, INSTALLED, World

OUTAGE_PAGE = "<html><head><title>500 Internal Server Error</title></head><body><h1>500</h1></body></html>"
GRANT_SECRETS = {"authorization_code": "code", "refresh_token": "refresh_token"}
# Opaque tokens: 70 hex characters today, 32 in older docs.
TOKEN_SHAPE = re.compile(r"[0-9a-f]{32,70}")


def oauth_error(code: str, description: str, status: int) -> RestError:
    return RestError(code, description, status=status)


def misbehave() -> Response | None:
    """``auth_latency`` and ``auth_fault``: the outage drills of the install engineer."""
    settings = world().settings
    if settings.auth_latency:
        time.sleep(settings.auth_latency)
    if settings.auth_fault == "timeout":
        time.sleep(settings.auth_timeout_sleep)
    if settings.auth_fault in ("500", "timeout"):
        return Response(OUTAGE_PAGE, status=500, content_type="text/html")
    return None


def grant(params: dict[str, Any]) -> dict[str, Any]:
    """Both grants; every check answers the error shape and status of fact sheet §1.6."""
    state = world()
    grant_type = params.get("grant_type")
    for name in ("grant_type", "client_id", "client_secret", GRANT_SECRETS.get(str(grant_type), "code")):
        if not params.get(name):
            raise oauth_error("invalid_request", f'No "{name}" parameter found', 400)
    if grant_type not in GRANT_SECRETS:
        raise oauth_error("invalid_request", "Unsupported grant type", 400)
    with state.lock:
        app = state.app
        if app is None or params["client_id"] != app.client_id:
            raise oauth_error("wrong_client", "Wrong client", 200)
        if state.install_state == ABSENT:
            raise oauth_error("NOT_INSTALLED", "Application not installed", 401)
        if params["client_secret"] != app.client_secret:
            raise oauth_error(
                "invalid_client", "Invalid client credentials", state.settings.invalid_client_status
            )
        if grant_type == "authorization_code":
            user_id = state.tokens.redeem(str(params["code"])).user_id
            state.code_grants += 1
        else:
            user_id = state.tokens.rotate(str(params["refresh_token"])).user_id
            state.refresh_grants += 1
        return state.issue_tokens(user_id)


def token_endpoint() -> Response:
    outage = misbehave()
    if outage is not None:
        return outage
    params = {**request.args.to_dict(), **request.form.to_dict()}
    try:
        return json_response(grant(params))
    except RestError as error:
        return error_response(error)


def refusal(token: str, error: RestError) -> RestError:
    """The auth server's words for a token it will not confirm (fact sheet §12): the app was
    removed (``NOT_INSTALLED``), an unknown token shaped like a real one (``invalid_client``), or
    any other unknown string (``invalid_token``); an expired one stays ``expired_token``."""
    if error.code == "APPLICATION_NOT_FOUND":
        return RestError("NOT_INSTALLED", "Application not installed", status=401)
    if error.code == "invalid_token" and TOKEN_SHAPE.fullmatch(token):
        return oauth_error("invalid_client", "Invalid client", 400)
    return error


def install_info(state: World, app: AppRegistration, record: AccessToken) -> dict[str, Any]:
    """b24pysdk's ``B24AppInfoResultData`` ("full"), or only the fields that readers other than
    that SDK rely on, with ``version`` and ``user_id`` as strings ("confirmed")."""
    if state.settings.app_info_shape == CONFIRMED:
        return {
            "client_id": app.client_id,
            "user_id": str(record.user_id),
            "install": {
                "member_id": state.member_id,
                "uri": state.portal_url,
                "version": str(app.version),
                "domain": state.domain,
            },
        }
    return {
        "client_id": app.client_id,
        "scope": record.scope,
        "expires": datetime.fromtimestamp(record.expires, UTC).isoformat(timespec="seconds"),
        "install": {
            "installed": state.install_state == INSTALLED,
            "version": str(app.version),
            "status": app.status,
            "scope": app.scope,
            "domain": state.domain,
            "uri": state.portal_url,
            "client_endpoint": state.client_endpoint,
            "member_id": state.member_id,
            "member_type": "user",
        },
        "user_id": record.user_id,
    }


def app_info() -> Response:
    """The trusted status check (§1.7): who the token belongs to, for which app and portal."""
    started = time.time()
    outage = misbehave()
    if outage is not None:
        return outage
    state = world()
    params = request_params(request)
    token = pop_token(request, params)
    try:
        if not token:
            raise RestError("NO_AUTH_FOUND")
        with state.lock:
            state.app_info_checks += 1
            try:
                record = state.tokens.lookup(token)
            except RestError as error:
                raise refusal(token, error) from None
            result = install_info(state, state.require_app(), record)
    except RestError as error:
        return error_response(error)
    return json_response(envelope(result, time_block(started, 0.0)))


def create_auth_app(state: World) -> Flask:
    app = Flask("sandbox.auth", root_path=str(Path(__file__).parent), static_folder=None)
    app.extensions["sandbox_world"] = state
    app.add_url_rule("/oauth/token/", "token", token_endpoint, methods=["GET", "POST"], strict_slashes=False)
    app.add_url_rule("/rest/app.info/", "app_info", app_info, methods=["GET", "POST"], strict_slashes=False)
    app.add_url_rule("/rest/app.info.json", "app_info_json", app_info, methods=["GET", "POST"])
    return app
