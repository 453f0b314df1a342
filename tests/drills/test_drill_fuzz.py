"""Drill: bad input on every route (hypothesis): no 5xx, no traceback, nothing written to Redis.

Malformed forms, JSON, query strings and headers, 1 MB fields and bytes that are not
UTF-8, sent through the Flask test client to the app configured for the sandbox, so
tokens the app checks (``app.info``) get real answers. The API is fuzzed with and
without a valid frame session (of a user who may read flows but switch none); the
one request that legitimately writes, a genuine frame open, happens before the
snapshot and is never generated.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oauth
from oauth.store import STATUS_ACTIVE, Portal, portal_key
from sandbox import data
from sandbox.server import SandboxServer
from services import frame_session
from tests.flows.conftest import open_page
from tests.install.live import redis_dump

pytestmark = pytest.mark.drill

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
HUGE = "A" * 1_000_000
NOT_UTF8 = [b"\xff\xfe\xfa", b"\xc3\x28", b"\xed\xa0\x80", b"\x80abc", b"%ff%fe"]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
PATHS = [
    "/",
    "/install",
    "/events",
    "/oauth/callback",
    "/connect",
    "/api/flows",
    "/api/flows/1",
    "/api/flows/6",
    "/api/flows/0",
    "/api/flows/99999999999999999999999",
    "/api/flows/-1",
    "/api/flows/abc",
    "/api/discovery",
    "/api/",
    "/healthz",
    "/readyz",
]
# What the portal, the events and the connect flow send, plus the bracketed event fields.
FIELDS = [
    "AUTH_ID",
    "REFRESH_ID",
    "AUTH_EXPIRES",
    "SERVER_ENDPOINT",
    "member_id",
    "DOMAIN",
    "PROTOCOL",
    "LANG",
    "APP_SID",
    "PLACEMENT",
    "PLACEMENT_OPTIONS",
    "APPLICATION_SCOPE",
    "event",
    "auth[access_token]",
    "auth[refresh_token]",
    "auth[member_id]",
    "auth[domain]",
    "auth[server_endpoint]",
    "auth[application_token]",
    "auth[expires_in]",
    "portal",
    "code",
    "state",
    "domain",
    "server_domain",
    "ref",
    "active",
]
_NOT_IN_HEADERS = re.compile(r"[\r\n\x00]|[^\x00-\xff]")
TRACEBACK_MARKS = ("Traceback", 'File "', "werkzeug/", "site-packages")


@pytest.fixture
def fuzz_target(
    drill_app: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> tuple[Flask, dict[str, Any], str]:
    """The app with an installed portal, a valid frame session, and the values the fuzz may use."""
    with drill_app.app_context():
        oauth.store().update_portal(
            sandbox.member_id,
            lambda _: Portal(
                member_id=sandbox.member_id,
                domain=sandbox.domain,
                client_endpoint=sandbox.client_endpoint,
                server=sandbox.auth_url,
                status=STATUS_ACTIVE,
                application_token=secrets.token_hex(16),
                installer_user_id=data.ADMIN,
            ),
        )
    client = drill_app.test_client()
    page = open_page(client, sandbox, data.MEMBER)  # the legitimate write, before the snapshot
    assert client.get("/api/flows", headers=page.headers()).status_code == 200  # names cached
    plausible = {
        "member_id": sandbox.member_id,
        "domain": sandbox.domain,
        "server_endpoint": sandbox.server_endpoint,
        "auth_url": sandbox.auth_url,
        "token": secrets.token_hex(35),
        "event": "ONAPPUNINSTALL",
    }
    return drill_app, plausible, page.session


def values(plausible: dict[str, Any]) -> st.SearchStrategy[str]:
    """Field values: the portal's own (so requests get deep), junk, huge, or bytes that are not UTF-8."""
    return st.one_of(
        st.sampled_from(
            [*plausible.values(), "ONAPPINSTALL", "ONAPPUPDATE", "1", "true", "{}", "[]", "null"]
        ),
        st.text(max_size=200),
        st.just(HUGE),
        st.sampled_from(NOT_UTF8).map(lambda raw: raw.decode("latin-1")),
    )


def forms(plausible: dict[str, Any]) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(
        st.one_of(st.sampled_from(FIELDS), st.text(max_size=20)), values(plausible), max_size=8
    )


def header_values(session: str) -> st.SearchStrategy[str]:
    # A server hands the app header bytes as latin-1 text; CR, LF and NUL never get that far.
    free = st.one_of(st.binary(max_size=300).map(lambda b: b.decode("latin-1")), st.text(max_size=100))
    return st.one_of(
        st.just(session),
        st.just(session + "x"),
        st.just(HUGE),
        free.map(lambda v: _NOT_IN_HEADERS.sub("", v)),
    )


@st.composite
def bodies(draw: st.DrawFn, plausible: dict[str, Any]) -> tuple[bytes | None, dict[str, str]]:
    """A body in some encoding, often broken, and the ``Content-Type`` that claims it."""
    kind = draw(st.sampled_from(["none", "form", "json", "raw", "multipart"]))
    if kind == "none":
        return None, {}
    if kind == "form":
        body = urlencode(draw(forms(plausible)), encoding="latin-1", errors="replace").encode()
        if draw(st.booleans()):
            body += draw(st.sampled_from(NOT_UTF8))
        return body, {"Content-Type": "application/x-www-form-urlencoded"}
    if kind == "json":
        payload = draw(
            st.one_of(
                st.fixed_dictionaries({"active": st.one_of(st.booleans(), st.none(), st.text(max_size=5))}),
                st.fixed_dictionaries({"ref": values(plausible)}),
                st.recursive(
                    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                    lambda inner: (
                        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
                    ),
                    max_leaves=12,
                ),
            )
        )
        body = json.dumps(payload).encode()
        if draw(st.booleans()):
            body = body[: draw(st.integers(0, len(body)))] + draw(st.sampled_from(NOT_UTF8))
        return body, {
            "Content-Type": draw(st.sampled_from(["application/json", "application/json; charset=latin-1"]))
        }
    if kind == "raw":
        body = draw(st.one_of(st.binary(max_size=500), st.just(HUGE.encode())))
        return body, {
            "Content-Type": draw(st.sampled_from(["text/plain", "application/octet-stream", "", "a/b; c"]))
        }
    boundary = draw(st.sampled_from(["xyz", "", "a" * 200]))
    body = draw(st.binary(max_size=300)) + f"--{boundary}--".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@st.composite
def headers(draw: st.DrawFn, session: str) -> dict[str, str]:
    names = [frame_session.HEADER, "Accept", "Accept-Language", "X-Forwarded-For", "Cookie", "Origin"]
    chosen = draw(st.lists(st.sampled_from(names), max_size=4, unique=True))
    return {name: draw(header_values(session)) for name in chosen}


def queries(plausible: dict[str, Any]) -> st.SearchStrategy[str]:
    """The raw query as the server passes it on (bytes as latin-1 text, as WSGI does)."""
    return st.one_of(
        st.just(""),
        forms(plausible).map(urlencode),
        st.sampled_from(NOT_UTF8).map(lambda raw: raw.decode("latin-1")),
    )


@st.composite
def requests_(
    draw: st.DrawFn,
    plausible: dict[str, Any],
    session: str,
    *,
    methods: list[str] = METHODS,
    paths: list[str] = PATHS,
    with_session: bool = False,
) -> dict[str, Any]:
    """One request: method, path, query, body and headers."""
    path = draw(st.sampled_from(paths))
    if draw(st.integers(0, 9)) == 0:
        path += "/x"
    body, body_headers = draw(bodies(plausible))
    extra = draw(headers(session))
    if with_session:
        extra[frame_session.HEADER] = session
    return {
        "method": draw(st.sampled_from(methods)),
        "path": path,
        "query_string": draw(queries(plausible)),
        "data": body,
        "headers": {**body_headers, **extra},
    }


def send(app: Flask, request: dict[str, Any]) -> Any:
    return app.test_client().open(
        request["path"],
        method=request["method"],
        query_string=request["query_string"],
        data=request["data"],
        headers=request["headers"],
    )


def assert_harmless(response: Any, request: dict[str, Any]) -> None:
    body = response.get_data(as_text=True)
    summary = f"{request['method']} {request['path']} -> {response.status_code}: {body[:500]}"
    assert response.status_code < 500, summary
    assert not any(mark in body for mark in TRACEBACK_MARKS), summary


def snapshot(r: redis.Redis, member_id: str) -> dict[str, Any]:
    """Every key but the portal's rate-limit bucket, which each REST call legitimately moves."""
    dump = redis_dump(r)
    dump.pop(portal_key(member_id, "bucket"), None)
    return dump


def fuzz(app: Flask, sandbox: SandboxServer, r: redis.Redis, strategy: st.SearchStrategy) -> None:
    """Send what ``strategy`` makes; each answer is harmless and Redis stays as it was."""
    before = snapshot(r, sandbox.member_id)
    flows_before = {flow_id: flow.active for flow_id, flow in sandbox.world.flows.items()}

    @SETTINGS
    @given(request=strategy)
    def run(request: dict[str, Any]) -> None:
        assert_harmless(send(app, request), request)
        assert snapshot(r, sandbox.member_id) == before, request

    run()
    # The session's user may switch no flow, so no request switched one either.
    assert {flow_id: flow.active for flow_id, flow in sandbox.world.flows.items()} == flows_before


def test_fuzz_every_route(fuzz_target: Any, sandbox: SandboxServer, redis_db: redis.Redis):
    app, plausible, session = fuzz_target
    fuzz(app, sandbox, redis_db, requests_(plausible, session))


def test_fuzz_the_api_with_a_valid_session(fuzz_target: Any, sandbox: SandboxServer, redis_db: redis.Redis):
    app, plausible, session = fuzz_target
    paths = [path for path in PATHS if path.startswith("/api/")]
    strategy = requests_(plausible, session, methods=["GET", "POST", "PUT"], paths=paths, with_session=True)
    fuzz(app, sandbox, redis_db, strategy)


def test_fuzz_what_the_portal_posts(fuzz_target: Any, sandbox: SandboxServer, redis_db: redis.Redis):
    """Frame opens, the installer and events: forged tokens are checked with the sandbox's ``app.info``."""
    app, plausible, session = fuzz_target
    strategy = requests_(plausible, session, methods=["POST"], paths=["/", "/install", "/events"])
    fuzz(app, sandbox, redis_db, strategy)


def test_fuzz_the_connect_flow(fuzz_target: Any, sandbox: SandboxServer, redis_db: redis.Redis):
    app, plausible, session = fuzz_target
    strategy = requests_(
        plausible, session, methods=["GET", "POST"], paths=["/connect", "/oauth/callback", "/"]
    )
    fuzz(app, sandbox, redis_db, strategy)
