"""Limits and faults: the leaky bucket, forced 429s, injected errors, added latency."""

from __future__ import annotations

import time

from sandbox.data import OWNER


def test_burst_then_query_limit_exceeded_then_drain(sandbox, rest):
    sandbox.settings.rate_limit = (5, 1.0)
    sandbox.settings.refused_requests_count = False
    statuses = [rest("user.admin").status_code for _ in range(7)]
    assert statuses == [200] * 5 + [503] * 2
    refused = rest("user.admin")
    assert refused.json() == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    assert sandbox.calls("user.admin") == 5  # refused requests did not run
    assert sandbox.rejected("QUERY_LIMIT_EXCEEDED") == 3
    time.sleep(1.05)  # drains one request
    assert rest("user.admin").status_code == 200


def test_refused_requests_fill_the_bucket_too(sandbox, rest):
    """limits.md: "Each incoming request ... increases a conditional request counter"."""
    assert sandbox.settings.refused_requests_count
    sandbox.settings.rate_limit = (5, 10.0)
    assert [rest("user.admin").status_code for _ in range(5)] == [200] * 5
    hammering = [rest("user.admin").status_code for _ in range(20)]
    assert hammering.count(503) >= 15  # refused requests keep the counter above the limit
    assert sandbox.world.bucket.level > 5 + 1  # above the burst: the refusals were counted
    assert sandbox.calls("user.admin") == 5 + hammering.count(200)


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


OPERATION_TIME_LIMIT = {
    "error": "OPERATION_TIME_LIMIT",
    "error_description": "Method is blocked due to operation time limit.",
}


def test_success_answers_carry_operating_and_its_reset_time(sandbox, rest):
    before = time.time()
    timing = rest("tasks.flow.Flow.get", {"flowId": 1}).json()["time"]
    assert list(timing)[-2:] == ["operating_reset_at", "operating"]
    assert timing["operating"] == 0  # a fast call stays under the 0.1 s the core records
    assert int(before) + 600 <= timing["operating_reset_at"] <= int(time.time()) + 600


def test_operating_time_window_blocks_the_method_until_its_oldest_bucket_leaves(sandbox, rest):
    """10 one-minute buckets per (app, method); the call that crosses the limit finishes, the next
    is refused with 429 until the window moves on (limits.md, CRestServer::processCall)."""
    sandbox.settings.operating_limit = 10.0
    sandbox.settings.operating_cost = {"tasks.flow.Flow.get": 4.0}
    first = rest("tasks.flow.Flow.get", {"flowId": 1}).json()["time"]
    assert first["operating"] == 4.0
    reset_at = first["operating_reset_at"]
    sandbox.advance_clock(120)  # two minutes later: a second bucket
    assert [rest("tasks.flow.Flow.get", {"flowId": 1}).status_code for _ in range(2)] == [200, 200]
    assert sandbox.operating("tasks.flow.Flow.get") == 12.0
    blocked = rest("tasks.flow.Flow.get", {"flowId": 1})
    assert blocked.status_code == 429 and blocked.json() == OPERATION_TIME_LIMIT  # no time block
    inside = rest("batch", {"cmd": {"f": "tasks.flow.Flow.get?flowId=1", "u": "user.admin"}}).json()["result"]
    assert inside["result_error"]["f"] == OPERATION_TIME_LIMIT and inside["result"]["u"] is False
    assert rest("tasks.flow.Flow.pin", {"flowId": 1}).status_code == 200  # other methods keep working
    assert sandbox.calls("tasks.flow.Flow.get") == 3

    # Past the reset time (a whole second: the core reports it as an int, cut down).
    sandbox.advance_clock(reset_at + 1 - sandbox.world.clock.time())
    timing = rest("tasks.flow.Flow.get", {"flowId": 1}).json()["time"]
    assert timing["operating"] == 12.0  # 8 s left from the later bucket, 4 s from this call
    # Now the second bucket, begun two minutes (and a few milliseconds) later, is the oldest.
    assert reset_at + 120 <= timing["operating_reset_at"] <= reset_at + 121


def test_the_outer_batch_is_not_timed_its_items_are(sandbox, rest):
    sandbox.settings.operating_limit = 1.0
    sandbox.settings.operating_cost = {"user.admin": 0.6, "batch": 100.0}
    answer = rest("batch", {"cmd": {"a": "user.admin", "b": "user.admin", "c": "user.admin"}}).json()
    assert answer["time"]["operating"] == 0
    assert answer["result"]["result_time"]["b"]["operating"] == 1.2
    assert answer["result"]["result_error"]["c"] == OPERATION_TIME_LIMIT
    assert sandbox.operating("batch") == 0


def test_per_call_injection_refuses_method_calls_one_by_one(sandbox, rest):
    """The drills' tool: the next N calls of a method answer 429, batch items included."""
    sandbox.inject_rest_errors("OPERATION_TIME_LIMIT", 2, methods=["tasks.flow.Flow.get"], per_call=True)
    blocked = rest("tasks.flow.Flow.get", {"flowId": 1})
    assert blocked.status_code == 429 and blocked.json() == OPERATION_TIME_LIMIT
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
