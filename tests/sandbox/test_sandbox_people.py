"""Departments, workgroups and who sees whom: ``department.get``, ``user.get`` by department,
``sonet_group.user.get``, and flow members given as departments."""

from __future__ import annotations

import pytest

from sandbox.data import ADMIN, MEMBER, OUTSIDER, OWNER
from sandbox.server import SandboxServer
from sandbox.testing import DEFAULT_APP_URL, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from tests.sandbox.conftest import Rest

COMPANY, FIELD_OFFICE = 1, 2  # the seeded structure: OUTSIDER in the field office, everyone else at the top


@pytest.fixture
def people_app(sandbox: SandboxServer) -> None:
    """The default app, installed again with the scopes of the structure and of workgroups."""
    sandbox.register_app(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_APP_URL,
        f"{DEFAULT_APP_URL}install",
        "",
        scope="task,user,placement,department,sonet_group",
        installed=True,
    )


def result(answer) -> object:
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


def ids(rows: list[dict]) -> list[int]:
    return [int(row.get("ID") or row.get("USER_ID")) for row in rows]


def test_department_get_lists_the_structure_in_tree_order(sandbox: SandboxServer, people_app: None, rest: Rest):
    sales = sandbox.add_department("Sales", head=OWNER)
    east = sandbox.add_department("Sales East", parent=sales)
    answer = rest("department.get", {})
    assert answer.json()["total"] == 4
    rows = answer.json()["result"]
    assert ids(rows) == [COMPANY, FIELD_OFFICE, sales, east]  # each department, then the ones under it
    assert rows[0] == {"ID": "1", "NAME": "Sandbox Inc.", "SORT": 500}  # the root: no PARENT
    assert rows[2] == {"ID": str(sales), "NAME": "Sales", "SORT": 500, "PARENT": "1", "UF_HEAD": str(OWNER)}
    # PARENT: the direct children only; a list is "any of them"; keys as spelled, lower case is no filter.
    assert ids(result(rest("department.get", {"PARENT": COMPANY}))) == [FIELD_OFFICE, sales]
    assert ids(result(rest("department.get", {"FILTER": {"PARENT": [sales, FIELD_OFFICE]}}))) == [east]
    assert len(result(rest("department.get", {"parent": COMPANY}))) == 4
    assert ids(result(rest("department.get", {"sort": "NAME", "order": "DESC"}))) == [COMPANY, east, sales, FIELD_OFFICE]


def test_department_get_pages_by_fifty_and_needs_its_scope(sandbox: SandboxServer, people_app: None, rest: Rest):
    for n in range(60):
        sandbox.add_department(f"Team {n}")
    first = rest("department.get", {}).json()
    assert (len(first["result"]), first["total"], first["next"]) == (50, 62, 50)
    assert len(rest("department.get", {"start": 50}).json()["result"]) == 12
    sandbox.register_app(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_APP_URL, "", "", installed=True)
    refused = rest("department.get", {}, user=ADMIN)
    assert (refused.status_code, refused.json()["error"]) == (401, "insufficient_scope")


def test_user_get_by_department_and_who_sees_whom(sandbox: SandboxServer, people_app: None, rest: Rest):
    sales = sandbox.add_department("Sales")
    sellers = sandbox.add_users(2, department=sales)
    [gone] = sandbox.add_users(1, department=sales, active=False)
    [guest] = sandbox.add_users(1, department=0)  # an extranet user
    assert ids(result(rest("user.get", {"FILTER": {"UF_DEPARTMENT": sales}}))) == [*sellers, gone]
    assert ids(result(rest("user.get", {"filter": {"uf_department": [sales, FIELD_OFFICE], "ACTIVE": True}}))) == [
        OUTSIDER,
        *sellers,
    ]
    # Employees do not see extranet users outside their groups, and an extranet user sees only
    # themselves and the people of their groups.
    assert guest not in ids(result(rest("user.get", {})))
    assert ids(result(rest("user.get", {}, user=guest))) == [guest]
    sandbox.add_group("Partners", owner_id=MEMBER, members=[guest])
    assert guest in ids(result(rest("user.get", {})))
    assert ids(result(rest("user.get", {}, user=guest))) == [MEMBER, guest]


def test_group_members_as_far_as_the_caller_sees_the_group(sandbox: SandboxServer, people_app: None, rest: Rest):
    [gone] = sandbox.add_users(1, active=False)
    open_group = sandbox.add_group("Support", owner_id=OWNER, members=[MEMBER, gone])
    secret = sandbox.add_group("Board", owner_id=ADMIN, members=[OWNER], visible=False)
    sandbox.world.groups[open_group].members[OUTSIDER] = "Z"  # asked to join: not a member yet
    sandbox.world.groups[open_group].members[MEMBER] = "E"
    assert result(rest("sonet_group.user.get", {"ID": open_group}, user=OUTSIDER)) == [
        {"USER_ID": str(OWNER), "ROLE": "A"},
        {"USER_ID": str(MEMBER), "ROLE": "E"},
    ]
    for user in (OWNER, ADMIN):  # a member, and a portal administrator
        assert ids(result(rest("sonet_group.user.get", {"ID": secret}, user=user))) == [ADMIN, OWNER]
    for params in ({"ID": secret}, {"ID": 999}):
        refused = rest("sonet_group.user.get", params, user=MEMBER)
        assert (refused.status_code, refused.json()) == (
            400,
            {"error": "", "error_description": "Socialnetwork group not found"},
        )
    wrong = rest("sonet_group.user.get", {"ID": 0})
    assert wrong.json()["error_description"] == "Wrong socialnetwork group ID"


def test_flow_members_given_as_departments(sandbox: SandboxServer, people_app: None, rest: Rest):
    whole = sandbox.add_flow("Whole company", owner_id=ADMIN, team=[["department", "1"]], task_creators=[])
    flat = sandbox.add_flow("Head office only", owner_id=ADMIN, team=[["department", "1:F"]], task_creators=[])
    as_int = sandbox.add_flow("Field office", owner_id=ADMIN, team=[["department", FIELD_OFFICE]], task_creators=[])
    # DR1 reaches the field office under the company; D1 ("1:F") does not; an int id is read as the core sends it.
    for flow, readable in ((whole, True), (flat, False), (as_int, True)):
        answer = rest("tasks.flow.Flow.get", {"flowId": flow}, user=OUTSIDER)
        assert (answer.status_code == 200) is readable, (flow, answer.text)
    # "All users" (UA) leaves extranet users out.
    everyone = sandbox.add_flow("Open", owner_id=ADMIN, team=[], task_creators=[["meta-user", "all-users"]])
    sandbox.move_user(OUTSIDER, 0)
    assert rest("tasks.flow.Flow.get", {"flowId": everyone}, user=OUTSIDER).status_code == 400
    assert rest("tasks.flow.Flow.get", {"flowId": everyone}, user=MEMBER).status_code == 200
