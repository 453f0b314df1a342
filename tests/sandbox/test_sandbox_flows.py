"""``tasks.flow.Flow.*``: the rights matrix per seeded user, toggles, localized refusals, CRUD."""

from __future__ import annotations

import threading

import pytest

from sandbox.data import ADMIN, HTML_FLOW_NAME, MEMBER, OUTSIDER, OWNER
from sandbox.flow_texts import LANGUAGES, TRANSLATIONS
from tests.install.live import eventually

DENIED = {"error": "0", "error_description": "Access denied or flow not found"}

# flow 1: OWNER's, MEMBER in the team; flow 6: created by ADMIN, without MEMBER.
GET_RIGHTS = [
    (ADMIN, 1, True),
    (OWNER, 1, True),
    (MEMBER, 1, True),
    (OUTSIDER, 1, False),
    (ADMIN, 6, True),
    (OWNER, 6, True),
    (MEMBER, 6, False),
    (OUTSIDER, 6, False),
]
ACTIVATE_RIGHTS = [
    (ADMIN, 1, True),
    (OWNER, 1, True),
    (MEMBER, 1, False),
    (OUTSIDER, 1, False),
    (ADMIN, 6, True),
    (OWNER, 6, False),
    (MEMBER, 6, False),
]


@pytest.mark.parametrize(("user", "flow_id", "allowed"), GET_RIGHTS)
def test_get_rights(rest, user, flow_id, allowed):
    answer = rest("tasks.flow.Flow.get", {"flowId": flow_id}, user=user)
    if allowed:
        assert answer.status_code == 200 and answer.json()["result"]["id"] == flow_id
    else:
        assert answer.status_code == 400 and answer.json() == DENIED


@pytest.mark.parametrize(("user", "flow_id", "allowed"), ACTIVATE_RIGHTS)
def test_activate_rights(sandbox, rest, user, flow_id, allowed):
    answer = rest("tasks.flow.Flow.activate", {"flowId": flow_id}, user=user)
    if allowed:
        assert answer.status_code == 200 and answer.json()["result"] is True
    else:
        assert answer.status_code == 400 and answer.json() == DENIED
    assert sandbox.flow(flow_id).active is (not allowed)


def test_task_creators_all_users_may_read(sandbox, rest):
    flow_id = sandbox.add_flow("Open to all", owner_id=ADMIN, task_creators=[["meta-user", "all-users"]])
    assert rest("tasks.flow.Flow.get", {"flowId": flow_id}, user=OUTSIDER).status_code == 200
    assert rest("tasks.flow.Flow.activate", {"flowId": flow_id}, user=OUTSIDER).json() == DENIED


def test_activate_is_a_toggle(sandbox, rest):
    states = []
    for _ in range(3):
        assert rest("tasks.flow.Flow.activate", {"flowId": 5}, user=OWNER).json()["result"] is True
        states.append(rest("tasks.flow.Flow.get", {"flowId": 5}, user=OWNER).json()["result"]["active"])
    assert states == [True, False, True]  # flow 5 is seeded inactive


def test_missing_flow_and_missing_param(rest):
    assert rest("tasks.flow.Flow.get", {"flowId": 999}, user=ADMIN).json() == DENIED
    assert rest("tasks.flow.Flow.activate", {"flowId": 999}, user=ADMIN).json() == DENIED
    assert rest("tasks.flow.Flow.get", {}, user=ADMIN).json()["error_description"] == "Unknown error"


def refusals(rest) -> list[str]:
    """Each refusal text the flow methods produce, in the order of ``flow_texts``."""
    return [
        rest("tasks.flow.Flow.get", {"flowId": 1}, user=OUTSIDER).json()["error_description"],
        rest("tasks.flow.Flow.update", {"flowData": {"id": 999, "name": "x"}}, user=ADMIN).json()[
            "error_description"
        ],
        rest("tasks.flow.Flow.get", {}, user=ADMIN).json()["error_description"],
        rest("tasks.flow.Flow.update", {"flowData": {"id": 1, "name": " "}}, user=ADMIN).json()[
            "error_description"
        ],
        rest("tasks.flow.Flow.update", {"flowData": {"id": 1, "name": "Design reviews"}}, user=ADMIN).json()[
            "error_description"
        ],
    ]


@pytest.mark.parametrize("language", sorted(TRANSLATIONS))
def test_every_refusal_speaks_the_portal_language(sandbox, rest, language):
    english = refusals(rest)
    sandbox.settings.language = language
    texts = refusals(rest)
    assert texts == [TRANSLATIONS[language][key].format(field="name") for key in TRANSLATIONS["ru"]]
    assert all(local != en for local, en in zip(texts, english, strict=True))


def test_the_russian_texts_are_the_docs_and_other_languages_fall_back_to_english(sandbox, rest):
    assert set(LANGUAGES) >= {"en", "ru", "de", "es", "pl", "br", "ua", "fr", "it", "tr", "ja", "sc"}
    sandbox.settings.language = "ru"
    assert rest("tasks.flow.Flow.get", {"flowId": 1}, user=OUTSIDER).json() == {
        "error": "0",
        "error_description": "Доступ запрещен или поток не найден",
    }
    sandbox.settings.language = "kz"  # a language the sandbox has no texts for
    assert refusals(rest)[:3] == ["Access denied or flow not found", "Flow not found", "Unknown error"]


def test_the_200_variant(sandbox, rest):
    sandbox.settings.flow_error_status = 200
    answer = rest("tasks.flow.Flow.get", {"flowId": 1}, user=OUTSIDER)
    assert answer.status_code == 200 and answer.json() == DENIED


def test_flow_object_shape(sandbox, rest):
    flow = rest("tasks.flow.Flow.get", {"flowId": 3}, user=MEMBER).json()["result"]
    assert flow["name"] == HTML_FLOW_NAME
    assert (
        isinstance(flow["id"], int) and isinstance(flow["groupId"], int) and isinstance(flow["active"], bool)
    )
    assert flow["team"] == [["user", "3"]] and flow["ownerId"] == OWNER
    assert flow["activity"].endswith("+00:00")
    assert set(flow) >= {"efficiency", "templateId", "taskCreators", "responsibleList", "trialFeatureEnabled"}
    assert rest("tasks.flow.Flow.get", {"flowId": 4}, user=MEMBER).json()["result"]["name"] == "Поток продаж"


def test_create_update_is_exists_pin_delete(sandbox, rest):
    data = {
        "name": "New flow",
        "plannedCompletionTime": 3600,
        "distributionType": "queue",
        "responsibleList": [["user", "3"]],
    }
    created = rest("tasks.flow.Flow.create", {"flowData": data}, user=OWNER).json()["result"]
    flow_id = created["id"]
    assert created["creatorId"] == OWNER and created["groupId"] > 0 and created["active"] is True
    taken = rest("tasks.flow.Flow.create", {"flowData": data}, user=OWNER).json()
    assert taken["error_description"] == "A flow with this name already exists"
    bad = rest(
        "tasks.flow.Flow.create",
        {"flowData": {**data, "name": "x", "distributionType": "random"}},
        user=OWNER,
    )
    assert bad.json()["error_description"] == "'distributionType': field's value has an invalid value"

    updated = rest(
        "tasks.flow.Flow.update",
        {"flowData": {"id": flow_id, "name": "Renamed", "active": False}},
        user=OWNER,
    )
    assert updated.json()["result"]["name"] == "Renamed" and updated.json()["result"]["active"] is True
    assert (
        rest("tasks.flow.Flow.update", {"flowData": {"id": flow_id, "name": "y"}}, user=MEMBER).json()
        == DENIED
    )

    exists = rest("tasks.flow.Flow.isExists", {"flowData": {"name": "Renamed"}}).json()["result"]
    assert exists == {"exists": True}
    excluded = rest("tasks.flow.Flow.isExists", {"flowData": {"name": "Renamed", "id": flow_id}}).json()[
        "result"
    ]
    assert excluded == {"exists": False}

    assert rest("tasks.flow.Flow.pin", {"flowId": flow_id}, user=MEMBER).json()["result"] is True
    assert rest("tasks.flow.Flow.pin", {"flowId": flow_id}, user=MEMBER).json()["result"] is False

    assert rest("tasks.flow.Flow.delete", {"flowData": {"id": flow_id}}, user=OWNER).json()["result"] == {
        "deleted": True
    }
    assert rest("tasks.flow.Flow.get", {"flowId": flow_id}, user=OWNER).json() == DENIED


def test_seed_many_flows(sandbox, rest):
    ids = sandbox.seed_many_flows(300)
    assert len(ids) == 300 and ids[0] == 7
    assert rest("tasks.flow.Flow.get", {"flowId": ids[-1]}, user=MEMBER).json()["result"]["id"] == ids[-1]



def test_reply_latency_holds_the_answer_after_the_switch_happened(sandbox, rest):
    sandbox.settings.reply_latency = {"tasks.flow.Flow.activate": 2.0}
    answered = threading.Event()
    caller = threading.Thread(
        target=lambda: (rest("tasks.flow.Flow.activate", {"flowId": 1}, user=OWNER), answered.set())
    )
    caller.start()
    eventually(lambda: bool(sandbox.flow_changes()))
    assert sandbox.flow(1).active is False and not answered.is_set()  # switched; the caller does not know yet
    caller.join(10)
    assert answered.is_set()
