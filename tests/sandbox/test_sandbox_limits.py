"""Limits and faults: the leaky bucket, forced 429s, injected errors, added latency."""

from __future__ import annotations

import time

from sandbox.data import OWNER


def test_burst_then_query_limit_exceeded_then_drain(sandbox, rest):
    sandbox.settings.rate_limit = (5, 1.0)
    statuses = [rest("user.admin").status_code for _ in range(7)]
    assert statuses == [200] * 5 + [503] * 2
    refused = rest("user.admin")
    assert refused.json() == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    assert sandbox.calls("user.admin") == 5  # refused requests did not run
    assert sandbox.rejected("QUERY_LIMIT_EXCEEDED") == 3
    time.sleep(1.05)  # drains one request
    assert rest("user.admin").status_code == 200


def test_default_limit_is_fifty_and_a_batch_counts_once(sandbox, rest):
    assert sandbox.settings.rate_limit == (50, 2.0)
    commands = {f"c{i}": "user.admin" for i in range(50)}
    started, passed = time.monotonic(), 0
    while rest("batch", {"cmd": commands}).status_code == 200:
        passed += 1
    drained = 2.0 * (time.monotonic() - started)
    assert 50 <= passed <= 50 + drained + 1
    assert sandbox.rest_requests == passed + 1 and sandbox.calls("user.admin") == 50 * passed


def test_rate_limit_none_disables(sandbox, rest):
    sandbox.settings.rate_limit = None
    assert all(rest("user.admin").status_code == 200 for _ in range(60))


def test_operation_time_limit_setting(sandbox, rest):
    sandbox.settings.operation_time_limit = {"tasks.flow.Flow.get": 2}
    blocked = rest("tasks.flow.Flow.get", {"flowId": 1})
    assert blocked.status_code == 429
    assert blocked.json() == {
        "error": "OPERATION_TIME_LIMIT",
        "error_description": "Method is blocked due to operation time limit.",
    }
    inside_batch = rest("batch", {"cmd": {"f": "tasks.flow.Flow.get?flowId=1", "u": "user.admin"}}).json()
    assert inside_batch["result"]["result_error"]["f"]["error"] == "OPERATION_TIME_LIMIT"
    assert rest("user.admin").status_code == 200  # other methods keep working
    assert rest("tasks.flow.Flow.get", {"flowId": 1}).status_code == 200
    assert sandbox.calls("tasks.flow.Flow.get") == 1


def test_injected_errors_do_not_run_the_request(sandbox, rest):
    sandbox.inject_rest_errors("INTERNAL_SERVER_ERROR", 1, methods=["tasks.flow.Flow.activate"])
    sandbox.inject_rest_errors("OPERATION_TIME_LIMIT", 1)
    assert rest("user.admin").status_code == 429
    failed = rest("batch", {"cmd": {"a": "tasks.flow.Flow.activate?flowId=1"}}, user=OWNER)
    assert failed.status_code == 500 and failed.json()["error"] == "INTERNAL_SERVER_ERROR"
    assert sandbox.flow(1).active is True and sandbox.calls("tasks.flow.Flow.activate") == 0
    assert rest("tasks.flow.Flow.activate", {"flowId": 1}, user=OWNER).status_code == 200
    assert sandbox.flow(1).active is False


def test_latency_is_added_per_http_request(sandbox, rest):
    sandbox.settings.latency = 0.2
    started = time.monotonic()
    rest("batch", {"cmd": {f"c{i}": "user.admin" for i in range(10)}})
    assert 0.2 <= time.monotonic() - started < 1.0
