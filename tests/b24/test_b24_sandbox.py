"""The REST client over real HTTP against the sandbox portal (fixture ``sandbox``)."""

from __future__ import annotations

import time

import pytest
import requests
from requests.adapters import HTTPAdapter

from b24.client import RestClient
from b24.errors import (
    ExpiredToken,
    FlowError,
    MethodNotFound,
    OperationTimeLimit,
    PortalUnreachable,
    RateLimited,
)
from b24.http import new_session
from b24.operating import MethodWindow
from b24.ratelimit import PortalRateLimiter
from sandbox.data import ADMIN, HTML_FLOW_NAME, MEMBER, OUTSIDER, OWNER
from sandbox.server import SandboxServer
from sandbox.testing import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from tests.install.live import eventually

GET, ACTIVATE = "tasks.flow.Flow.get", "tasks.flow.Flow.activate"
SUPPORT_FLOW = 1  # seeded: owner OWNER, team MEMBER, active


class SandboxTokens:
    """A ``TokenSource`` test double that refreshes at the sandbox's real token endpoint."""

    def __init__(self, sandbox: SandboxServer, user_id: int) -> None:
        pair = sandbox.issue_tokens(user_id)
        self.token_url = pair["server_endpoint"].removesuffix("/rest/") + "/oauth/token/"
        self.access, self.refresh_token = pair["access_token"], pair["refresh_token"]
        self.refreshed: list[str] = []

    def access_token(self) -> str:
        return self.access

    def refresh(self, stale_access_token: str) -> str:
        self.refreshed.append(stale_access_token)
        answer = requests.post(
            self.token_url,
            data={
                "grant_type": "refresh_token",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "refresh_token": self.refresh_token,
            },
            timeout=5,
        )
        answer.raise_for_status()
        grant = answer.json()
        self.access, self.refresh_token = grant["access_token"], grant["refresh_token"]
        return self.access


def client_for(sandbox: SandboxServer, user_id: int = MEMBER, **kwargs) -> RestClient:
    kwargs.setdefault("backoff", 0.01)
    return RestClient(
        sandbox.client_endpoint, kwargs.pop("tokens", None) or SandboxTokens(sandbox, user_id), **kwargs
    )


def test_call_returns_result_and_envelope(sandbox):
    result = client_for(sandbox).call(GET, {"flowId": SUPPORT_FLOW})
    assert result.result["name"] == "Support requests"
    assert result.result["active"] is True
    assert result.time["duration"] >= 0
    me = client_for(sandbox, OWNER).call("user.current")
    assert me.result["ID"] == str(OWNER)
    assert sandbox.calls(GET, MEMBER) == 1
    assert sandbox.rest_requests == 2


def test_paged_list_carries_total_and_next(sandbox):
    sandbox.seed_many_flows(60, with_tasks=True)
    page = client_for(sandbox, ADMIN).call("tasks.task.list", {"select": ["ID", "FLOW_ID"]})
    assert len(page.result["tasks"]) == 50
    assert page.total > 50
    assert page.next == 50


def test_typed_errors_from_the_portal(sandbox):
    client = client_for(sandbox, OUTSIDER)
    with pytest.raises(FlowError) as caught:
        client.call(GET, {"flowId": SUPPORT_FLOW})
    assert caught.value.status == 400
    with pytest.raises(FlowError):
        client_for(sandbox, ADMIN).call("tasks.flow.Flow.update", {"flowData": {"id": 9999, "name": "x"}})
    with pytest.raises(MethodNotFound):
        client.call("no.such.method")
    # Flow methods are case-sensitive: the client must not lowercase them.
    with pytest.raises(MethodNotFound):
        client.call("tasks.flow.flow.get", {"flowId": SUPPORT_FLOW})


def test_russian_portal_texts_map_to_the_same_errors(sandbox):
    sandbox.settings.language = "ru"
    with pytest.raises(FlowError) as caught:
        client_for(sandbox, OUTSIDER).call(GET, {"flowId": SUPPORT_FLOW})
    assert caught.value.description == "Доступ запрещен или поток не найден"


def test_batch_results_errors_and_references(sandbox):
    batch = client_for(sandbox).batch(
        {
            "me": ("user.current", {}),
            "same": ("user.get", {"ID": "$result[me][ID]"}),
            "flow": (GET, {"flowId": SUPPORT_FLOW}),
            "hidden": (GET, {"flowId": 6}),  # Budget approvals: MEMBER is not in it
            "missing": (GET, {"flowId": 9999}),
        }
    )
    assert sandbox.rest_requests == 1
    assert batch.get("me")["ID"] == str(MEMBER)
    assert [user["ID"] for user in batch.get("same")] == [str(MEMBER)]
    assert batch.get("flow")["id"] == SUPPORT_FLOW
    assert set(batch.errors) == {"hidden", "missing"}
    with pytest.raises(FlowError):
        batch.get("hidden")


def test_batch_of_a_list_and_halt(sandbox):
    batch = client_for(sandbox).batch([(GET, {"flowId": 1}), (GET, {"flowId": 2}), (GET, {"flowId": 3})])
    assert sorted(batch.results) == [0, 1, 2]
    assert batch.results[1]["id"] == 2
    halted = client_for(sandbox).batch(
        [(GET, {"flowId": 1}), (GET, {"flowId": 9999}), (GET, {"flowId": 3})], halt=True
    )
    assert list(halted.results) == [0]
    assert list(halted.errors) == [1]
    with pytest.raises(KeyError):
        halted.get(2)
    failed = client_for(sandbox, OUTSIDER).batch({"a": (GET, {"flowId": 1}), "b": (GET, {"flowId": 2})})
    assert failed.results == {}
    assert set(failed.errors) == {"a", "b"}


def test_expired_token_is_refreshed_once_and_the_call_repeated(sandbox):
    tokens = SandboxTokens(sandbox, MEMBER)
    client = client_for(sandbox, tokens=tokens)
    first = tokens.access
    sandbox.expire_access_tokens(MEMBER)
    assert client.call(GET, {"flowId": SUPPORT_FLOW}).result["id"] == SUPPORT_FLOW
    assert tokens.refreshed == [first]
    assert sandbox.refresh_grants == 1
    sandbox.expire_access_tokens(MEMBER)
    assert client.batch({"me": ("user.current", {})}).get("me")["ID"] == str(MEMBER)
    assert len(tokens.refreshed) == 2


def test_a_refresh_that_does_not_help_is_not_looped(sandbox):
    class Stale(SandboxTokens):
        def refresh(self, stale_access_token: str) -> str:
            self.refreshed.append(stale_access_token)
            return stale_access_token

    tokens = Stale(sandbox, MEMBER)
    sandbox.expire_access_tokens(MEMBER)
    with pytest.raises(ExpiredToken):
        client_for(sandbox, tokens=tokens).call("user.current")
    assert len(tokens.refreshed) == 1
    assert sandbox.rest_requests == 2


def test_activate_after_expired_token_runs_exactly_once(sandbox):
    # expired_token means the method did not run, so the repeat is safe even for a toggle.
    sandbox.expire_access_tokens(OWNER)
    assert (
        client_for(sandbox, OWNER).call(ACTIVATE, {"flowId": SUPPORT_FLOW}, idempotent=False).result is True
    )
    assert sandbox.calls(ACTIVATE) == 1
    assert sandbox.flow(SUPPORT_FLOW).active is False


def test_the_request_limit_is_retried_for_reads(sandbox):
    sandbox.inject_rest_errors("QUERY_LIMIT_EXCEEDED", 2, methods=[GET])
    assert client_for(sandbox).call(GET, {"flowId": SUPPORT_FLOW}).result["id"] == SUPPORT_FLOW
    assert sandbox.rest_requests == 3
    sandbox.inject_rest_errors("QUERY_LIMIT_EXCEEDED", 5, methods=[GET])
    with pytest.raises(RateLimited):
        client_for(sandbox, max_retries=2).call(GET, {"flowId": SUPPORT_FLOW})
    assert sandbox.rest_requests == 3 + 3


def test_a_method_over_its_operating_time_is_not_called_again_until_its_window_resets(sandbox, redis_db):
    # OPERATION_TIME_LIMIT lasts until the method's ten-minute window moves on: a retry in
    # seconds is refused again, so the method is left alone for the portal until the reset
    # time of its last successful answer; other methods go on.
    window = MethodWindow(redis_db, sandbox.member_id, longest=600)
    limiter = PortalRateLimiter(redis_db, sandbox.member_id, burst=1000, rate=1000, window=window)
    client = client_for(sandbox, limiter=limiter)
    reset_at = client.call(GET, {"flowId": SUPPORT_FLOW}).time["operating_reset_at"]
    sandbox.inject_rest_errors("OPERATION_TIME_LIMIT", 1, methods=[GET])
    sandbox.reset_counters()
    with pytest.raises(OperationTimeLimit) as refused:
        client.call(GET, {"flowId": SUPPORT_FLOW})
    assert sandbox.rest_requests == 1  # not repeated
    assert reset_at - time.time() - 5 < refused.value.retry_after <= reset_at - time.time() + 1
    other_worker = client_for(sandbox, OWNER, limiter=limiter)
    with pytest.raises(OperationTimeLimit) as again:
        other_worker.batch({"f": (GET, {"flowId": 2})})
    assert again.value.code == "LOCAL_OPERATION_LIMIT" and again.value.retry_after > 500
    assert sandbox.rest_requests == 1  # refused without a request
    assert other_worker.call("user.current").result["ID"] == str(OWNER)  # other methods work


@pytest.mark.parametrize("code", ["QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT"])
def test_limits_are_not_retried_for_a_toggle(sandbox, code):
    sandbox.inject_rest_errors(code, 1, methods=[ACTIVATE])
    client = client_for(sandbox, OWNER)
    with pytest.raises((RateLimited, OperationTimeLimit)):
        client.batch({"activate": (ACTIVATE, {"flowId": SUPPORT_FLOW})}, idempotent=False)
    assert sandbox.rest_requests == 1
    assert sandbox.calls(ACTIVATE) == 0
    assert sandbox.flow(SUPPORT_FLOW).active is True


class CountingAdapter(HTTPAdapter):
    """Counts the HTTP requests a session sends (a timed-out one included: it has no response)."""

    sent = 0

    def send(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        CountingAdapter.sent += 1
        return super().send(*args, **kwargs)


def test_a_toggle_that_timed_out_is_never_repeated(sandbox):
    # The portal runs activate but answers too late: a repeat would switch the flow back.
    session = new_session()
    session.mount("http://", CountingAdapter(max_retries=0))
    CountingAdapter.sent = 0
    sandbox.settings.latency = 0.4
    with pytest.raises(PortalUnreachable) as caught:
        client_for(sandbox, OWNER, timeout=0.2, session=session).call(
            ACTIVATE, {"flowId": SUPPORT_FLOW}, idempotent=False
        )
    assert caught.value.request_sent
    assert CountingAdapter.sent == 1  # the client is done: it sent the toggle once, and no more
    eventually(lambda: sandbox.calls(ACTIVATE) == 1)  # the portal ran it, late
    assert sandbox.rest_requests == 1
    assert sandbox.flow(SUPPORT_FLOW).active is False


def test_connections_are_reused(sandbox):
    sandbox.settings.rate_limit = None
    client = client_for(sandbox)
    for _ in range(100):
        client.call("user.current")
    assert sandbox.rest_requests == 100
    assert sandbox.connections_opened <= 2


def test_limiter_keeps_the_portal_under_its_limit(sandbox, redis_db):
    # Same bucket on both sides: 5 deep, 20/s. With our margin of 1 the portal never refuses.
    sandbox.settings.rate_limit = (5, 20.0)
    limiter = PortalRateLimiter(redis_db, sandbox.member_id, burst=5, rate=20.0, margin=1)
    clients = [client_for(sandbox, user, limiter=limiter, max_retries=0) for user in (MEMBER, OWNER)]
    started = time.monotonic()
    for index in range(24):
        clients[index % 2].call("user.current")
    assert sandbox.rejected("QUERY_LIMIT_EXCEEDED") == 0
    assert time.monotonic() - started >= (24 - 4) / 20.0 - 0.05


def test_without_the_limiter_the_portal_refuses(sandbox):
    # The control for the test above: the same load without our bucket overflows the portal's.
    sandbox.settings.rate_limit = (5, 20.0)
    client = client_for(sandbox, max_retries=0)
    with pytest.raises(RateLimited):
        for _ in range(24):
            client.call("user.current")


def test_batch_params_survive_php_parsing(sandbox):
    # Nested keys, UTF-8, "&", quotes and "+" reach the portal intact through parse_str.
    exists = "tasks.flow.Flow.isExists"
    batch = client_for(sandbox).batch(
        {
            "ru": (exists, {"flowData": {"name": "Поток продаж"}}),
            "html": (exists, {"flowData": {"name": HTML_FLOW_NAME}}),
            "other": (exists, {"flowData": {"name": "Поток продаж+"}}),
        }
    )
    assert batch.results == {"ru": {"exists": True}, "html": {"exists": True}, "other": {"exists": False}}
