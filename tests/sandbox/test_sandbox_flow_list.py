"""``tasks.flow.Flow.list``: access check, bare-list paging by ``start``, validation, filters, the on/off switch."""

from __future__ import annotations

import pytest

from sandbox.data import ADMIN, MEMBER, OUTSIDER, OWNER
from sandbox.flow_texts import flow_text

LIST = "tasks.flow.Flow.list"
# Flow.toJson of a row built from every scalar column (description only when it is not empty).
ROW_KEYS = {
    "id",
    "ownerId",
    "creatorId",
    "groupId",
    "templateId",
    "efficiency",
    "active",
    "plannedCompletionTime",
    "activity",
    "name",
    "distributionType",
    "demo",
}


def ids(answer) -> list[int]:
    assert answer.status_code == 200, answer.text
    return [row["id"] for row in answer.json()["result"]]


@pytest.mark.parametrize(
    ("user", "visible"),
    [(ADMIN, [1, 2, 3, 4, 5, 6]), (OWNER, [1, 2, 3, 4, 5, 6]), (MEMBER, [1, 2, 3, 4, 5]), (OUTSIDER, [])],
)
def test_only_the_flows_the_caller_may_read(rest, user, visible):
    answer = rest(LIST, user=user)
    assert ids(answer) == visible
    assert "next" not in answer.json() and "total" not in answer.json()  # a bare list, not a Page


def test_row_shape_follows_flow_to_json(rest):
    rows = {row["id"]: row for row in rest(LIST, user=MEMBER).json()["result"]}
    assert set(rows[1]) == ROW_KEYS | {"description"} and rows[1]["description"] == "Customer tickets"
    assert set(rows[2]) == ROW_KEYS  # no description: the Flow constructor skips empty strings
    assert rows[5]["active"] is False and rows[2]["distributionType"] == "queue"
    assert rows[1]["ownerId"] == OWNER and rows[1]["activity"].endswith("+00:00")
    assert "team" not in rows[1] and "responsibleList" not in rows[1]  # members are not selected


def test_select_keeps_the_id_and_star_means_all(rest):
    assert rest(LIST, {"select": ["NAME"]}).json()["result"][0] == {"id": 1, "name": "Support requests"}
    assert set(rest(LIST, {"select": ["*"]}).json()["result"][1]) == ROW_KEYS
    assert rest(LIST, {"select": ["ACTIVE"], "filter": {"ID": 5}}).json()["result"] == [
        {"id": 5, "active": False}
    ]


def test_pages_of_fifty_by_start_rounded_down(sandbox, rest):
    sandbox.seed_many_flows(120)  # MEMBER now reads 125 flows
    pages = {start: ids(rest(LIST, {"start": start, "select": ["ID"]})) for start in (0, 30, 50, 100, 150)}
    assert len(pages[0]) == 50 and pages[30] == pages[0]
    assert pages[50][0] == pages[0][-1] + 1 and len(pages[100]) == 25 and pages[150] == []
    assert len(set(pages[0] + pages[50] + pages[100])) == 125


def test_counted_paging_variant(sandbox, rest):
    sandbox.seed_many_flows(120)
    sandbox.settings.flow_list_paging = "counted"
    first, last = rest(LIST).json(), rest(LIST, {"start": 100}).json()
    assert (first["next"], first["total"]) == (50, 125)
    assert "next" not in last and last["total"] == 125 and len(last["result"]) == 25
    assert "total" not in rest(LIST, {"start": -1}).json()  # start=-1: the count is skipped


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"order": {"TITLE": "asc"}}, "Incorrect sort field"),
        ({"order": ["NAME"]}, "Incorrect sort field"),
        ({"select": ["name"]}, "Invalid select data"),
        ({"select": ["TEAM"]}, "Invalid select data"),
        ({"filter": {"FLOW_NAME": "x"}}, "Invalid filter data"),
        ({"filter": {"name": "x"}}, "Invalid filter data"),
        ({"filter": {">ID": [1, 2]}}, "Invalid filter data"),
        ({"filter": {"!ID": 1}}, "Invalid filter data"),
        ({"group": ["TEAM"]}, "Invalid group data"),
        ({"order": {"X": "asc"}, "select": ["Y"], "filter": {"Z": 1}}, "Incorrect sort field"),
        ({"select": ["Y"], "filter": {"Z": 1}}, "Invalid select data"),
        ({"order": {"NAME": "sideways"}}, "Unknown error"),
        ({"filter": {"><ID": [1]}}, "Unknown error"),
    ],
)
def test_validation_answers_like_the_controller(sandbox, rest, params, error):
    # The controller's own checks are literals, never translated; its "Unknown error" is a Loc message.
    sandbox.settings.language = "ru"
    answer = rest(LIST, params, user=ADMIN)
    assert answer.status_code == 400
    assert answer.json() == {"error": "0", "error_description": flow_text(error, "ru")}
    assert (error == "Unknown error") == (flow_text(error, "ru") == "Неизвестная ошибка")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"ID": 3}, [3]),
        ({"=ID": ["1", "3"]}, [1, 3]),
        ({"@ID": [2, 4]}, [2, 4]),
        ({"!=ID": [1, 2]}, [3, 4, 5, 6]),
        ({"<>ID": 6}, [1, 2, 3, 4, 5]),
        ({">=ID": 5}, [5, 6]),
        ({"<ID": 2}, [1]),
        ({"><ID": [2, 4]}, [2, 3, 4]),
        ({"ACTIVE": False}, [5]),
        ({"ACTIVE": "1", "OWNER_ID": OWNER}, [1, 2, 3, 4]),
        ({"ACTIVE": "Y"}, []),  # not a value BooleanField normalizes: unconfirmed, so nothing matches
        ({"NAME": "support requests"}, [1]),  # MySQL's collation ignores case
        ({"%NAME": "%REVIEW%"}, [2]),
        ({"%NAME": "review"}, []),  # LIKE without wildcards is an equality test
        ({"DISTRIBUTION_TYPE": "queue"}, [2]),
        ({"OWNER_ID": ADMIN, "CREATOR_ID": ADMIN}, [6]),
    ],
)
def test_filters(rest, filters, expected):
    assert ids(rest(LIST, {"filter": filters}, user=ADMIN)) == expected


def test_order_then_page(sandbox, rest):
    assert ids(rest(LIST, {"order": {"ID": "DESC"}}, user=ADMIN)) == [6, 5, 4, 3, 2, 1]
    by_name = rest(LIST, {"order": {"name": "asc"}, "select": ["NAME"]}, user=ADMIN).json()["result"]
    names = [row["name"] for row in by_name]
    assert names == sorted(names, key=str.casefold)
    assert ids(rest(LIST, {"order": {"ACTIVE": "asc", "ID": "desc"}}, user=ADMIN))[:2] == [5, 6]


def test_form_encoded_parameters(sandbox, http):
    token = sandbox.issue_tokens(ADMIN)["access_token"]
    answer = http.post(
        sandbox.client_endpoint + LIST,
        data={"auth": token, "filter[>=ID]": "4", "select[]": "ID", "order[ID]": "desc"},
        timeout=10,
    )
    assert answer.json()["result"] == [{"id": 6}, {"id": 5}, {"id": 4}]


def test_older_portal_has_no_list_method(sandbox, rest):
    sandbox.settings.flow_list_method = False
    answer = rest(LIST)
    assert answer.status_code == 404
    assert (
        answer.json()
        == rest("tasks.flow.Flow.nosuch").json()
        == {
            "error": "ERROR_METHOD_NOT_FOUND",
            "error_description": "Method not found!",
        }
    )
    assert sandbox.calls(LIST) == 0
    assert rest("method.get", {"name": LIST}).json()["result"] == {"isExisting": False, "isAvailable": False}
    sandbox.settings.flow_list_method = True
    assert rest("method.get", {"name": LIST}).json()["result"] == {"isExisting": True, "isAvailable": True}


def test_spellings(sandbox, rest):
    assert rest("tasks.flow.flow.list").status_code == 404  # the lowercased controller class does not load
    assert rest("method.get", {"name": "tasks.flow.flow.list"}).json()["result"]["isExisting"] is False
    sandbox.settings.lowercase_flow_methods = "resolve"
    assert ids(rest("tasks.flow.flow.list")) == [1, 2, 3, 4, 5]


def test_scope_task_is_needed(sandbox, http):
    sandbox.register_app("local.noscope", "s", "http://localhost:5000/", "", "", scope="user", installed=True)
    token = sandbox.issue_tokens(ADMIN)["access_token"]
    answer = http.post(sandbox.client_endpoint + LIST, json={"auth": token}, timeout=10)
    assert answer.status_code == 401 and answer.json()["error"] == "insufficient_scope"
    available = http.post(
        sandbox.client_endpoint + "method.get", json={"auth": token, "name": LIST}, timeout=10
    )
    assert available.json()["result"] == {"isExisting": True, "isAvailable": False}


def test_inside_batch_with_paging_and_references(sandbox, rest):
    sandbox.seed_many_flows(60)
    sandbox.reset_counters()
    cmd = {
        "page0": f"{LIST}?select[]=ID&start=0",
        "page1": f"{LIST}?select[]=ID&start=50",
        "first": "tasks.flow.Flow.get?flowId=$result[page1][0][id]",
    }
    answer = rest("batch", {"halt": 0, "cmd": cmd}).json()["result"]
    assert [len(answer["result"]["page0"]), len(answer["result"]["page1"])] == [50, 15]
    assert (
        answer["result"]["first"]["id"] == answer["result"]["page1"][0]["id"] == 52
    )  # flow 6 is not MEMBER's
    assert answer["result_total"] == [] and answer["result_next"] == []
    assert sandbox.calls(LIST, MEMBER) == 2 and sandbox.rest_requests == 1
