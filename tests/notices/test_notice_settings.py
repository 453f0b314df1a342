"""Who is told about a flow (people who may switch it choose), notices off for a whole portal
(administrators), and the texts in the portal's language."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from sandbox import data
from sandbox.server import SandboxServer
from tests.flows.conftest import open_page
from tests.notices.conftest import SUPPORT, choose, queued, state, switch, texts


def test_people_who_may_switch_a_flow_choose_who_is_told(
    portal_client: FlaskClient, portal_app: Flask, with_notices: SandboxServer, run_jobs: Callable[[], int]
) -> None:
    sandbox = with_notices
    owner = open_page(portal_client, sandbox, data.OWNER)
    member = open_page(portal_client, sandbox, data.MEMBER)
    outsider = open_page(portal_client, sandbox, data.OUTSIDER)
    assert state(portal_client, owner)["audiences"] == {}  # the team, by default

    refused = choose(portal_client, member, SUPPORT, "nobody")  # in the team: may read it, not switch it
    assert (refused.status_code, refused.get_json()["error"]) == (403, "forbidden")
    assert choose(portal_client, outsider, SUPPORT, "nobody").status_code == 404  # Bitrix24 shows it no such flow
    for body in ({"audience": "everyone"}, {"audience": ["team"]}, []):
        bad = portal_client.put(f"/api/notices/flows/{SUPPORT}", json=body, headers=owner.headers())
        assert (bad.status_code, bad.get_json()["error"]) == (400, "bad_request")
    assert state(portal_client, owner)["audiences"] == {}  # nothing changed by any of them

    answer = choose(portal_client, owner, SUPPORT, "nobody")
    assert (answer.status_code, answer.get_json()) == (200, {"flow": SUPPORT, "audience": "nobody"})
    assert state(portal_client, member)["audiences"] == {str(SUPPORT): "nobody"}  # everyone's page shows it
    switch(portal_client, owner, SUPPORT, False)
    assert queued(portal_app) == 0 and sandbox.notifications(data.MEMBER) == []

    # The task creators: OWNER and MEMBER, named one by one (OWNER switched, so MEMBER alone).
    sandbox.flow(SUPPORT).task_creators.append(["meta-user", "all-users"])
    assert choose(portal_client, owner, SUPPORT, "creators").status_code == 200
    switch(portal_client, owner, SUPPORT, True)
    run_jobs()
    assert texts(sandbox, data.MEMBER)[0].startswith("Oleg Owner resumed the flow")
    # "All users" names nobody to tell: the switcher hears that not everyone was told.
    assert state(portal_client, owner)["reports"] == [
        "Not everyone was told that “Support requests” was resumed: Bitrix24 does not let you see some of "
        "its people (a department, a workgroup or “all users”)."
    ]
    assert choose(portal_client, owner, SUPPORT, "team").status_code == 200
    assert state(portal_client, owner)["audiences"] == {}


def test_an_administrator_turns_notices_off_for_the_whole_portal(
    portal_client: FlaskClient, portal_app: Flask, with_notices: SandboxServer
) -> None:
    sandbox = with_notices
    owner = open_page(portal_client, sandbox, data.OWNER)
    admin = open_page(portal_client, sandbox, data.ADMIN)
    refused = portal_client.put("/api/notices", json={"enabled": False}, headers=owner.headers())
    assert (refused.status_code, refused.get_json()["error"]) == (403, "admin_only")  # Bitrix24 says no
    assert portal_client.put("/api/notices", json={"enabled": "no"}, headers=admin.headers()).status_code == 400
    answer = portal_client.put("/api/notices", json={"enabled": False}, headers=admin.headers())
    assert (answer.status_code, answer.get_json()) == (200, {"enabled": False})
    assert state(portal_client, owner)["enabled"] is False
    assert switch(portal_client, owner, SUPPORT, False).json_body["changed"] is True
    assert queued(portal_app) == 0
    assert portal_client.put("/api/notices", json={"enabled": True}, headers=admin.headers()).status_code == 200
    switch(portal_client, owner, SUPPORT, True)
    assert queued(portal_app) == 1


def test_notices_and_reports_speak_the_language_of_the_page_that_switched(
    portal_client: FlaskClient, with_notices: SandboxServer, run_jobs: Callable[[], int]
) -> None:
    sandbox = with_notices
    expected = {
        "ru": ("Oleg Owner приостановил(а) поток «", "Не всем сообщили, что «Support requests» приостановлен"),
        "de": ("Oleg Owner hat den Flow „", "Nicht alle wurden benachrichtigt, dass „Support requests“ pausiert"),
        "fr": ("Oleg Owner paused the flow “", "Not everyone was told that “Support requests” was paused"),
    }
    for lang, (notice, report) in expected.items():
        owner = open_page(portal_client, sandbox, data.OWNER, lang=lang)
        sandbox.flow(SUPPORT).team.append(["project", 999])  # a workgroup nobody sees
        switch(portal_client, owner, SUPPORT, False)
        run_jobs()
        assert texts(sandbox, data.MEMBER)[0].startswith(notice), texts(sandbox, data.MEMBER)[0]
        [shown] = state(portal_client, owner)["reports"]
        assert shown.startswith(report), shown
        sandbox.flow(SUPPORT).team.pop()
        switch(portal_client, owner, SUPPORT, True)
        run_jobs()
