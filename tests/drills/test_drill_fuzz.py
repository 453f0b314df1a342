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
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import redis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.keys import portal_key
from sandbox import data
from sandbox.server import SandboxServer
from services import frame_session
from tests.flows.conftest import open_page
from tests.install.live import app_state, record_active_portal

pytestmark = pytest.mark.drill

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    # The same examples on every run: a fuzz that found nothing today must not fail tomorrow
    # by the luck of the draw (and one that finds something fails every time).
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
HUGE = "A" * 1_000_000
# gunicorn refuses a header field longer than 8190 bytes before the app sees it (and
# werkzeug's Accept parser takes seconds on a megabyte), so headers stop at that length.
LONGEST_HEADER = "A" * 8190
LONGEST_QUERY = 4000
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
    "/api/schedules",
    "/api/schedules/0123456789abcdef01234567",
    "/api/schedules/..%2Fuser",
    "/api/",
    "/healthz",
    "/readyz",
]
#: stands for the ``state`` of a connect flow started just before the request (see ``send``)
STATE = "STATEFROMCONNECT"
ODD = ["", "0", "-1", "null", "{}", "[]", "true", "9" * 40, "../../etc/passwd", "<script>x</script>"]
_NOT_IN_HEADERS = re.compile(r"[\r\n\x00]|[^\x00-\xff]")
TRACEBACK_MARKS = ("Traceback", 'File "', "werkzeug/", "site-packages")


@pytest.fixture
def fuzz_target(
    drill_app: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> tuple[Flask, dict[str, Any], str]:
    """The app with an installed portal, a valid frame session, and the values the fuzz may use."""
    with drill_app.app_context():
        record_active_portal(sandbox, application_token=secrets.token_hex(16))
    client = drill_app.test_client()
    page = open_page(client, sandbox, data.MEMBER)  # the legitimate write, before the snapshot
    assert client.get("/api/flows", headers=page.headers()).status_code == 200  # names cached
    forged = secrets.token_hex(35)  # a token the authorization server never issued
    events = ["ONAPPINSTALL", "ONAPPUPDATE", "ONAPPUNINSTALL"]
    # What the portal, the events and the connect flow send, as they would send it.
    realistic: dict[str, list[str]] = {
        "AUTH_ID": [forged],
        "REFRESH_ID": [forged],
        "AUTH_EXPIRES": ["3600"],
        "SERVER_ENDPOINT": [sandbox.server_endpoint],
        "member_id": [sandbox.member_id],
        "DOMAIN": [sandbox.domain],
        "PROTOCOL": ["0", "1"],
        "LANG": ["en", "ru", "de"],
        "APP_SID": [secrets.token_hex(16)],
        "PLACEMENT": ["DEFAULT"],
        "PLACEMENT_OPTIONS": ['{"any": "thing"}'],
        "event": events,
        "auth[access_token]": [forged],
        "auth[refresh_token]": [forged],
        "auth[member_id]": [sandbox.member_id],
        "auth[domain]": [sandbox.domain],
        "auth[server_endpoint]": [sandbox.server_endpoint],
        "auth[application_token]": [forged],
        "auth[expires_in]": ["3600"],
        "portal": [sandbox.portal_url, sandbox.domain],
        "code": [secrets.token_hex(16)],
        "state": [STATE],
        "domain": [sandbox.domain],
        "server_domain": [sandbox.auth_url.split("://")[1]],
        "ref": ["1", "7", f"{sandbox.portal_url}/company/personal/user/3/tasks/flow/?ID_from=2"],
        "active": ["true", "false"],
        "flow_id": ["1", "6"],
        "pause_at": ["2031-12-24T18:00", "2031-03-09T02:30", "yesterday"],
        "resume_at": ["2031-12-24T18:00", "2032-01-08T09:00+01:00"],
        "time_zone": ["Europe/Berlin", "Not/AZone"],
        "tz": ["America/New_York", "../x"],
    }
    return drill_app, realistic, page.session


def values() -> st.SearchStrategy[str]:
    """Junk: odd values, any text, 1 MB, or bytes that are not UTF-8."""
    return st.one_of(
        st.sampled_from(ODD),
        st.text(max_size=200),
        st.just(HUGE),
        st.sampled_from(NOT_UTF8).map(lambda raw: raw.decode("latin-1")),
    )


@st.composite
def forms(draw: st.DrawFn, realistic: dict[str, list[str]]) -> dict[str, str]:
    """Mostly what the portal would send, so requests get deep; some fields dropped or junk; extra keys."""
    form = {}
    for name, choices in realistic.items():
        roll = draw(st.integers(0, 9))
        if roll < 7:
            form[name] = draw(st.sampled_from(choices))
        elif roll < 9:
            form[name] = draw(values())
    extra = draw(st.dictionaries(st.text(max_size=20), values(), max_size=2))
    return {**extra, **form}


def header_values(session: str) -> st.SearchStrategy[str]:
    # A server hands the app header bytes as latin-1 text; CR, LF and NUL never get that far.
    free = st.one_of(st.binary(max_size=300).map(lambda b: b.decode("latin-1")), st.text(max_size=100))
    return st.one_of(
        st.just(session),
        st.just(session + "x"),
        st.just(LONGEST_HEADER),
        free.map(lambda v: _NOT_IN_HEADERS.sub("", v)),
    )


@st.composite
def bodies(draw: st.DrawFn, realistic: dict[str, list[str]]) -> tuple[bytes | None, dict[str, str]]:
    """A body in some encoding, often broken, and the ``Content-Type`` that claims it."""
    # Forms are what the portal sends: most bodies are one, so most requests get past parsing.
    kind = draw(st.sampled_from(["form", "form", "form", "none", "json", "raw", "multipart"]))
    if kind == "none":
        return None, {}
    if kind == "form":
        body = urlencode(draw(forms(realistic)), encoding="latin-1", errors="replace").encode()
        if draw(st.booleans()):
            body += draw(st.sampled_from(NOT_UTF8))
        return body, {"Content-Type": "application/x-www-form-urlencoded"}
    if kind == "json":
        payload = draw(
            st.one_of(
                st.fixed_dictionaries({"active": st.one_of(st.booleans(), st.none(), st.text(max_size=5))}),
                st.fixed_dictionaries({"ref": st.one_of(values(), st.sampled_from(realistic["ref"]))}),
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


def query_forms(realistic: dict[str, list[str]]) -> st.SearchStrategy[str]:
    # gunicorn refuses a request line over 4094 bytes, so a query longer than that never arrives.
    return forms(realistic).map(lambda form: urlencode(form)[:LONGEST_QUERY])


def queries(realistic: dict[str, list[str]]) -> st.SearchStrategy[str]:
    """The raw query as the server passes it on (bytes as latin-1 text, as WSGI does)."""
    return st.one_of(
        st.just(""),
        query_forms(realistic),
        st.sampled_from(NOT_UTF8).map(lambda raw: raw.decode("latin-1")),
    )


@st.composite
def requests_(
    draw: st.DrawFn,
    realistic: dict[str, list[str]],
    session: str,
    *,
    methods: list[str] = METHODS,
    paths: list[str] = PATHS,
    with_session: bool = False,
    query: st.SearchStrategy[str] | None = None,
) -> dict[str, Any]:
    """One request: method, path, query, body and headers."""
    path = draw(st.sampled_from(paths))
    if draw(st.integers(0, 9)) == 0:
        path += "/x"
    body, body_headers = draw(bodies(realistic))
    extra = draw(headers(session))
    if with_session:
        extra[frame_session.HEADER] = session
    return {
        "method": draw(st.sampled_from(methods)),
        "path": path,
        "query_string": draw(queries(realistic) if query is None else query),
        "data": body,
        "headers": {**body_headers, **extra},
    }


def send(app: Flask, request: dict[str, Any], portal_url: str) -> Any:
    """Send ``request`` from a fresh browser; a ``STATE`` in it becomes that of a connect flow it just began."""
    client = app.test_client()
    query, body = request["query_string"], request["data"]
    if STATE in query or (body and STATE.encode() in body):
        form = client.get("/connect").get_data(as_text=True)
        token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        started = client.post("/connect", data={"portal": portal_url, "csrf": token})
        state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
        query, body = query.replace(STATE, state), body and body.replace(STATE.encode(), state.encode())
    return client.open(
        request["path"], method=request["method"], query_string=query, data=body, headers=request["headers"]
    )


def assert_harmless(response: Any, request: dict[str, Any]) -> None:
    body = response.get_data(as_text=True)
    summary = f"{request['method']} {request['path']} -> {response.status_code}: {body[:500]}"
    assert response.status_code < 500, summary
    assert not any(mark in body for mark in TRACEBACK_MARKS), summary


def snapshot(r: redis.Redis, member_id: str) -> dict[str, Any]:
    """Every key but the read caches a valid session's reads legitimately move.

    Those are the portal's rate-limit bucket and what Bitrix24 last said about flows and users
    (``flow:<id>``, ``visible:<user>``, a user's time zone ``tz:<user>``); everything else must
    stay as it was.
    """
    caches = re.compile(re.escape(portal_key(member_id, "")) + r"(bucket|flow:\d+|visible:\d+|tz:\d+)$")
    return {key: value for key, value in app_state(r).items() if not caches.match(key)}


def fuzz(app: Flask, sandbox: SandboxServer, r: redis.Redis, strategy: st.SearchStrategy) -> None:
    """Send what ``strategy`` makes; each answer is harmless and Redis stays as it was."""
    before = snapshot(r, sandbox.member_id)
    flows_before = {flow_id: flow.active for flow_id, flow in sandbox.world.flows.items()}

    @SETTINGS
    @given(request=strategy)
    def run(request: dict[str, Any]) -> None:
        assert_harmless(send(app, request, sandbox.portal_url), request)
        assert snapshot(r, sandbox.member_id) == before, request

    run()
    # The session's user may switch no flow, so no request switched one either.
    assert {flow_id: flow.active for flow_id, flow in sandbox.world.flows.items()} == flows_before


def test_fuzz_every_route(fuzz_target: Any, sandbox: SandboxServer, redis_db: redis.Redis):
    app, realistic, session = fuzz_target
    fuzz(app, sandbox, redis_db, requests_(realistic, session))


def test_fuzz_the_api_with_a_valid_session(fuzz_target: Any, sandbox: SandboxServer, redis_db: redis.Redis):
    app, realistic, session = fuzz_target
    paths = [path for path in PATHS if path.startswith("/api/")]
    strategy = requests_(realistic, session, methods=["GET", "POST", "PUT"], paths=paths, with_session=True)
    fuzz(app, sandbox, redis_db, strategy)


def test_fuzz_what_the_portal_posts(fuzz_target: Any, sandbox: SandboxServer, redis_db: redis.Redis):
    """Frame opens, the installer and events: forged tokens are checked with the sandbox's ``app.info``."""
    app, realistic, session = fuzz_target
    strategy = requests_(realistic, session, methods=["POST"], paths=["/", "/install", "/events"])
    fuzz(app, sandbox, redis_db, strategy)
    assert sandbox.app_info_checks > 0  # forged tokens got as far as the authorization server


def test_fuzz_the_connect_flow(fuzz_target: Any, sandbox: SandboxServer, redis_db: redis.Redis):
    """The OAuth callback's query, often with the ``state`` of a connect flow really begun."""
    app, realistic, session = fuzz_target
    callback = query_forms(realistic)
    strategy = requests_(
        realistic, session, methods=["GET"], paths=["/oauth/callback", "/connect"], query=callback
    )
    fuzz(app, sandbox, redis_db, strategy)
    assert sandbox.rejected("invalid_grant") > 0  # forged codes got as far as the token endpoint


@pytest.mark.parametrize("code", ["", "x" * 5000])
def test_callback_with_a_missing_or_odd_code_is_a_clear_400(
    fuzz_target: Any, sandbox: SandboxServer, redis_db: redis.Redis, code: str
):
    """Found by the fuzz: the token endpoint's ``invalid_request`` for an empty code was a 500."""
    app, realistic, _ = fuzz_target
    before = snapshot(redis_db, sandbox.member_id)
    query = urlencode(
        {
            "state": STATE,
            "code": code,
            "domain": sandbox.domain,
            "server_domain": realistic["server_domain"][0],
        }
    )
    request = {"method": "GET", "path": "/oauth/callback", "query_string": query, "data": None, "headers": {}}

    answer = send(app, request, sandbox.portal_url)

    assert answer.status_code == 400
    assert "no longer valid" in answer.get_data(as_text=True)
    assert snapshot(redis_db, sandbox.member_id) == before
