"""The REST endpoint: token sources, parsing, envelope, method lookup, scope, pagination."""

from __future__ import annotations

import pytest
import requests

from sandbox.data import ADMIN, MEMBER, OUTSIDER, OWNER


@pytest.fixture
def token(sandbox) -> str:
    return sandbox.issue_tokens(MEMBER)["access_token"]


def user_id_of(answer: requests.Response) -> str:
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]["ID"]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_bearer_header_in_any_case(sandbox, token, scheme):
    answer = requests.get(
        sandbox.client_endpoint + "user.current", headers={"Authorization": f"{scheme} {token}"}
    )
    assert user_id_of(answer) == str(MEMBER)


@pytest.mark.parametrize("key", ["auth", "access_token"])
def test_auth_param_from_query_form_and_json(sandbox, token, key):
    url = sandbox.client_endpoint + "user.current"
    assert user_id_of(requests.get(url, params={key: token})) == str(MEMBER)
    assert user_id_of(requests.post(url, data={key: token})) == str(MEMBER)
    assert user_id_of(requests.post(url, json={key: token})) == str(MEMBER)


def test_bearer_wins_over_auth_param_and_auth_keys_never_reach_the_method(sandbox, token):
    other = sandbox.issue_tokens(OWNER)["access_token"]
    answer = requests.post(
        sandbox.client_endpoint + "app.option.get",
        json={"auth": other},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.json()["result"] == []  # "auth" was stripped, so no `option` lookup happened
    assert (
        requests.post(sandbox.client_endpoint + "user.current", json={"auth": other}).json()["result"]["ID"]
        == "2"
    )


def test_body_keys_override_query_keys(sandbox, token):
    url = sandbox.client_endpoint + "tasks.flow.Flow.get"
    form = requests.post(url, params={"auth": token, "flowId": "6"}, data={"flowId": "1"})
    assert form.status_code == 200 and form.json()["result"]["id"] == 1
    as_json = requests.post(url, params={"auth": token, "flowId": "6"}, json={"flowId": 1})
    assert as_json.status_code == 200 and as_json.json()["result"]["id"] == 1
    query_only = requests.post(url, params={"auth": token, "flowId": "1"})
    assert query_only.json()["result"]["id"] == 1


def test_invalid_json_body_is_an_empty_request(sandbox, token):
    answer = requests.post(
        sandbox.client_endpoint + "tasks.flow.Flow.get",
        params={"auth": token, "flowId": "1"},
        data="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 200 and answer.json()["result"]["id"] == 1


def test_php_nested_form_keys(sandbox):
    admin = sandbox.issue_tokens(ADMIN)["access_token"]
    answer = requests.post(
        sandbox.client_endpoint + "tasks.task.list",
        data={
            "auth": admin,
            "filter[CREATED_BY]": str(OUTSIDER),
            "select[]": ["ID", "FLOW_ID"],
            "order[ID]": "desc",
        },
    )
    tasks = answer.json()["result"]["tasks"]
    assert [set(t) for t in tasks] == [{"id", "flowId"}]
    assert tasks[0]["flowId"] is None


def test_success_envelope_has_time_and_error_envelope_does_not(sandbox, token):
    ok = requests.post(sandbox.client_endpoint + "user.admin", json={"auth": token})
    assert ok.headers["Content-Type"] == "application/json; charset=utf-8"
    body = ok.json()
    assert body["result"] is False
    assert set(body["time"]) >= {
        "start",
        "finish",
        "duration",
        "processing",
        "date_start",
        "date_finish",
        "operating",
    }
    assert body["time"]["finish"] >= body["time"]["start"]
    missing = requests.post(sandbox.client_endpoint + "user.current")
    assert missing.status_code == 401
    assert missing.json() == {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}


@pytest.mark.parametrize("suffix", ["", ".json", "/", ".json/"])
def test_url_forms(sandbox, token, suffix):
    answer = requests.get(f"{sandbox.client_endpoint}user.current{suffix}", params={"auth": token})
    assert user_id_of(answer) == str(MEMBER)


def test_unknown_and_expired_tokens(sandbox, token):
    url = sandbox.client_endpoint + "user.current"
    unknown = requests.get(url, params={"auth": "a" * 70})
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_token"
    sandbox.expire_access_tokens(MEMBER)
    expired = requests.get(url, params={"auth": token})
    assert expired.status_code == 401 and expired.json()["error"] == "expired_token"


def test_insufficient_scope_but_global_methods_pass(sandbox):
    sandbox.register_app(
        "local.narrow", "s", "http://localhost/", "http://localhost/i", "", scope="task", installed=True
    )
    narrow = sandbox.issue_tokens(MEMBER)["access_token"]
    refused = requests.get(sandbox.client_endpoint + "user.current", params={"auth": narrow})
    assert refused.status_code == 401 and refused.json()["error"] == "insufficient_scope"
    assert (
        requests.get(sandbox.client_endpoint + "profile", params={"auth": narrow}).json()["result"]["ID"]
        == "3"
    )
    assert requests.get(sandbox.client_endpoint + "scope", params={"auth": narrow}).json()["result"] == [
        "task"
    ]


def test_tokens_of_an_uninstalled_app_stop_working(sandbox, token):
    sandbox.uninstall()
    answer = requests.get(sandbox.client_endpoint + "user.current", params={"auth": token})
    assert answer.status_code == 401 and answer.json()["error"] == "APPLICATION_NOT_FOUND"


def test_flow_methods_are_case_sensitive_by_default(sandbox, rest):
    assert rest("tasks.flow.Flow.get", {"flowId": 1}).status_code == 200
    for spelling in ("tasks.flow.flow.get", "TASKS.FLOW.FLOW.GET", "Tasks.Flow.Flow.Get"):
        answer = rest(spelling, {"flowId": 1})
        assert answer.status_code == 404
        assert answer.json() == {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
    assert rest("USER.Current").status_code == 200  # classic methods: lowercase lookup first
    assert sandbox.calls("tasks.flow.Flow.get") == 1


def test_lowercase_flow_methods_resolve_setting(sandbox, rest):
    sandbox.settings.lowercase_flow_methods = "resolve"
    answer = rest("tasks.flow.flow.activate", {"flowId": 1}, user=OWNER)
    assert answer.status_code == 200 and answer.json()["result"] is True
    assert sandbox.flow(1).active is False
    assert sandbox.calls("tasks.flow.Flow.activate", user_id=OWNER) == 1


def test_task_list_pages_of_fifty_with_total_and_next(sandbox, rest):
    sandbox.seed_many_flows(120, with_tasks=True)
    first = rest(
        "tasks.task.list", {"select": ["ID", "FLOW_ID"], "order": {"ID": "desc"}}, user=MEMBER
    ).json()
    assert first["total"] == 5 + 120 and first["next"] == 50
    ids = [int(t["id"]) for t in first["result"]["tasks"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 50
    last = rest("tasks.task.list", {"start": 100}, user=MEMBER).json()
    assert len(last["result"]["tasks"]) == 25 and "next" not in last
    unfiltered = rest("tasks.task.list", {"filter": {"FLOW_ID": 1}}, user=MEMBER).json()
    assert unfiltered["total"] == 125  # FLOW_ID is not a documented filter: ignored


def test_task_visibility_and_get(sandbox, rest):
    mine = rest("tasks.task.list", {"filter": {"RESPONSIBLE_ID": MEMBER}}, user=MEMBER).json()["result"][
        "tasks"
    ]
    assert {t["responsibleId"] for t in mine} == {str(MEMBER)}
    everyone = rest("tasks.task.list", user=ADMIN).json()
    outsider = rest("tasks.task.list", user=OUTSIDER).json()
    assert everyone["total"] == len(sandbox.world.tasks) and outsider["total"] == 1
    task = rest("tasks.task.get", {"taskId": 1, "select": ["ID", "FLOW_ID"]}, user=MEMBER).json()["result"][
        "task"
    ]
    assert task == {"id": "1", "flowId": "1"}
    hidden = rest("tasks.task.get", {"taskId": 1}, user=OUTSIDER)
    assert hidden.status_code == 400 and "error" in hidden.json()


def test_user_methods(sandbox, rest):
    assert rest("user.current", user=OWNER).json()["result"]["NAME"] == "Oleg"
    names = rest("user.get", {"filter": {"ID": [1, 3]}}).json()
    assert [u["ID"] for u in names["result"]] == ["1", "3"] and names["total"] == 2
    assert rest("profile", user=ADMIN).json()["result"]["ADMIN"] is True
    assert rest("user.admin", user=ADMIN).json()["result"] is True
    assert rest("user.admin", user=OWNER).json()["result"] is False


def test_portal_app_info_and_options(sandbox, rest):
    info = rest("app.info").json()["result"]
    # A local app's code is its client id (AppTable::onAfterAdd sets CODE = CLIENT_ID).
    assert info["CODE"] == sandbox.app.client_id and info["INSTALLED"] is True and info["STATUS"] == "L"
    refused = rest("app.option.set", {"options": {"a": 1}}, user=MEMBER)
    assert refused.status_code == 403 and refused.json()["error"] == "ACCESS_DENIED"
    assert rest("app.option.set", {"options": {"a": [1, 2]}}, user=ADMIN).json()["result"] is True
    assert rest("app.option.get", {"option": "a"}).json()["result"] == [1, 2]
    assert rest("app.option.get", {"option": "missing"}).json()["result"] is None


def test_a_market_apps_code_is_its_vendor_code_not_its_client_id(sandbox, rest):
    sandbox.register_app("app.5f1a9b2c3d4e5f.12345678", "s", "http://localhost:5000/", "", "", installed=True)
    info = rest("app.info").json()["result"]
    assert info["CODE"] == "sandbox.flowswitch" != sandbox.app.client_id and info["STATUS"] == "F"
    sandbox.register_app(
        "app.5f1a9b2c3d4e5f.12345678",
        "s",
        "http://localhost:5000/",
        "",
        "",
        installed=True,
        code="acme.flows",
    )
    assert rest("app.info").json()["result"]["CODE"] == "acme.flows"


@pytest.mark.parametrize(
    ("name", "existing", "available"),
    [
        ("tasks.flow.Flow.get", True, True),
        ("tasks.flow.flow.activate", False, False),  # the lowercased controller class does not load
        ("tasks.flow.Flow.isExists", True, True),
        ("user.get", True, True),
        ("User.Get", False, False),  # classic methods: the lowercase key only, as the docs ask
        ("tasks.flow.Flow.list", True, True),
        ("tasks.flow.Flow.nosuch", False, False),
        ("", False, False),
    ],
)
def test_method_get_knows_the_flow_methods(rest, name, existing, available):
    assert rest("method.get", {"name": name}).json()["result"] == {
        "isExisting": existing,
        "isAvailable": available,
    }


def test_event_and_placement_bindings(sandbox, rest):
    handler = "http://localhost:5000/events"
    assert rest("event.bind", {"event": "onAppUninstall", "handler": handler}).json()["result"] is True
    duplicate = rest("event.bind", {"event": "ONAPPUNINSTALL", "handler": handler})
    assert duplicate.json()["error"] == "ERROR_HANDLER_ALREADY_EXIST"
    assert (
        rest("event.bind", {"event": "ONNOTHING", "handler": handler}).json()["error"]
        == "ERROR_EVENT_NOT_FOUND"
    )
    no_handler = rest("event.bind", {"event": "ONAPPUPDATE"}).json()
    assert no_handler["error"] == "ERROR_ARGUMENT" and no_handler["argument"] == "HANDLER"
    assert rest("event.get").json()["result"] == [
        {"event": "ONAPPUNINSTALL", "handler": handler, "auth_type": "0", "offline": 0}
    ]
    assert rest("event.unbind", {"event": "ONAPPUNINSTALL", "handler": handler}).json()["result"] == {
        "count": 1
    }

    widget = {"PLACEMENT": "TASK_VIEW_TAB", "HANDLER": "http://localhost:5000/tab", "TITLE": "Flows"}
    assert rest("placement.bind", widget, user=MEMBER).status_code == 403
    assert rest("placement.bind", widget, user=ADMIN).json()["result"] is True
    missing = rest("placement.bind", {"HANDLER": "x"}, user=ADMIN).json()
    assert missing == {
        "error": "ERROR_ARGUMENT",
        "error_description": "Argument 'PLACEMENT' is null or empty",
        "argument": "PLACEMENT",
    }
    bound = rest("placement.get", user=ADMIN).json()["result"]
    assert bound[0]["placement"] == "TASK_VIEW_TAB" and bound[0]["options"] == []
    assert rest("placement.unbind", {"PLACEMENT": "TASK_VIEW_TAB"}, user=ADMIN).json()["result"] == {
        "count": 2
    }
