"""``batch``: halt, references, the 50-command limit, PHP empty arrays, per-item errors, counting."""

from __future__ import annotations

import requests

from sandbox.data import MEMBER, OWNER


def batch(rest, cmd, halt=0, user=MEMBER):
    answer = rest("batch", {"halt": halt, "cmd": cmd}, user=user)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_results_references_and_one_round_trip(sandbox, rest):
    sandbox.reset_counters()
    body = batch(
        rest,
        {
            "me": "user.current",
            "same": "user.get?ID=$result[me][ID]",
            "flow": "tasks.flow.Flow.get?flowId=$result[same][0][ID]",
            "tasks": "tasks.task.list?select[]=ID&filter[RESPONSIBLE_ID]=$result[ME][ID]",
        },
    )
    result = body["result"]
    assert result["result"]["same"][0]["ID"] == str(MEMBER)
    assert result["result"]["flow"]["id"] == 3 and result["result"]["flow"]["name"].startswith("<b>Urgent")
    assert result["result_total"] == {"same": 1, "tasks": 4}
    assert result["result_error"] == [] and result["result_next"] == []
    assert set(result["result_time"]) == {"me", "same", "flow", "tasks"}
    assert "time" in body
    assert sandbox.rest_requests == 1
    assert sandbox.calls("batch") == 1 and sandbox.calls("tasks.flow.Flow.get", user_id=MEMBER) == 1
    assert sandbox.calls() == 5


def test_per_item_errors_without_halt(sandbox, rest):
    result = batch(rest, {"a": "tasks.flow.Flow.get?flowId=6", "b": "no.such.method", "c": "user.current"})[
        "result"
    ]
    assert result["result_error"] == {
        "a": {"error": "0", "error_description": "Access denied or flow not found"},
        "b": {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"},
    }
    assert list(result["result"]) == ["c"] and list(result["result_time"]) == ["c"]


def test_halt_stops_after_the_first_error(sandbox, rest):
    result = batch(
        rest,
        {
            "on": "tasks.flow.Flow.activate?flowId=1",
            "bad": "tasks.flow.Flow.get?flowId=999",
            "again": "tasks.flow.Flow.activate?flowId=1",
        },
        halt=1,
        user=OWNER,
    )["result"]
    assert list(result["result"]) == ["on"] and list(result["result_error"]) == ["bad"]
    assert sandbox.flow(1).active is False  # the third command never ran
    assert sandbox.calls("tasks.flow.Flow.activate") == 1


def test_halt_is_php_truthy(sandbox, rest):
    result = batch(rest, {"bad": "no.such", "ok": "user.current"}, halt="false")["result"]
    assert result["result"] == []  # "false" is a true string in PHP: the batch halted


def test_list_commands_and_all_errors_give_php_arrays(sandbox, rest):
    result = batch(rest, ["user.current", "tasks.flow.Flow.get?flowId=1"])["result"]
    assert isinstance(result["result"], list) and result["result"][1]["id"] == 1
    failed = batch(rest, ["nope.one", "nope.two"])["result"]
    assert failed["result"] == [] and failed["result_time"] == []
    assert [e["error"] for e in failed["result_error"]] == ["ERROR_METHOD_NOT_FOUND"] * 2


def test_more_than_fifty_commands(sandbox, rest):
    commands = {f"c{i}": "user.admin" for i in range(53)}
    result = batch(rest, commands)["result"]
    assert len(result["result"]) == 50
    assert result["result_error"] == {
        f"c{i}": {"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"}
        for i in (50, 51, 52)
    }
    assert sandbox.calls("user.admin") == 50


def test_nested_batch_is_not_allowed(sandbox, rest):
    result = batch(rest, {"inner": "batch?cmd[x]=user.current"})["result"]
    assert result["result_error"]["inner"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"


def test_form_encoded_batch_like_bx24(sandbox):
    token = sandbox.issue_tokens(MEMBER)["access_token"]
    answer = requests.post(
        sandbox.client_endpoint + "batch",
        data={"auth": token, "halt": "0", "cmd[a]": "tasks.flow.Flow.get?flowId=1", "cmd[b]": "user.current"},
    )
    result = answer.json()["result"]
    assert result["result"]["a"]["id"] == 1 and result["result"]["b"]["ID"] == "3"


def test_sub_calls_check_scope(sandbox):
    sandbox.register_app(
        "local.narrow", "s", "http://localhost/", "http://localhost/i", "", scope="task", installed=True
    )
    token = sandbox.issue_tokens(MEMBER)["access_token"]
    answer = requests.post(
        sandbox.client_endpoint + "batch", json={"auth": token, "cmd": {"u": "user.current"}}
    )
    assert answer.json()["result"]["result_error"]["u"]["error"] == "insufficient_scope"
