"""The app against each variant where the Bitrix24 docs disagree (the sandbox's settings)."""

from __future__ import annotations

import pytest
import redis
from flask.testing import FlaskClient

from sandbox import data
from sandbox.flow_texts import ACCESS_DENIED, flow_text
from sandbox.server import SandboxServer
from services import known_flows
from tests.flows.conftest import SEEDED_FLOWS, open_page
from tests.flows.test_flows_page import SUPPORT, switch


@pytest.mark.parametrize("status", [400, 200], ids=["flow-errors-400", "flow-errors-200"])
@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_refusal_reaches_the_user_in_every_documented_shape(
    portal_client: FlaskClient, sandbox: SandboxServer, status: int, language: str
) -> None:
    # The method's page shows the flow errors with HTTP 200, the core answers 400; the
    # text is localized with the portal's language.
    sandbox.settings.flow_error_status = status
    sandbox.settings.language = language
    page = open_page(portal_client, sandbox, data.MEMBER)
    refused = switch(portal_client, page, SUPPORT, False)
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "forbidden"
    assert refused.get_json()["active"] is True
    assert sandbox.flow(SUPPORT).active is True


@pytest.mark.parametrize("lowercase", ["404", "resolve"])
def test_the_switch_uses_the_documented_spelling_whatever_lowercase_does(
    portal_client: FlaskClient, sandbox: SandboxServer, lowercase: str
) -> None:
    sandbox.settings.lowercase_flow_methods = lowercase
    page = open_page(portal_client, sandbox, data.OWNER)
    assert switch(portal_client, page, SUPPORT, False).get_json()["active"] is False
    assert sandbox.calls("tasks.flow.Flow.activate") == 1
    assert sandbox.flow(SUPPORT).active is False


@pytest.mark.parametrize("strict", [True, False], ids=["strict-rotation", "lenient-rotation"])
def test_expired_tokens_are_refreshed_once_in_either_rotation_mode(
    portal_client: FlaskClient, sandbox: SandboxServer, strict: bool
) -> None:
    sandbox.settings.strict_rotation = strict
    page = open_page(portal_client, sandbox, data.OWNER)
    sandbox.expire_access_tokens(data.OWNER)
    sandbox.reset_counters()
    for active in (False, True):
        assert switch(portal_client, page, SUPPORT, active).get_json()["active"] is active
    assert sandbox.refresh_grants == 1
    assert sandbox.flow(SUPPORT).active is True


# --- every portal language (issue 15.3) -------------------------------------------------

BUDGET = 6  # "Budget approvals": ADMIN's, MEMBER may not read it
GONE = 999  # no such flow


@pytest.mark.parametrize("language", ["es", "pl", "br", "ua"])
def test_on_a_portal_in_any_language_a_refusal_is_forbidden_with_bitrix24s_words_and_reloads_come_from_redis(
    portal_client: FlaskClient, older_portal: SandboxServer, language: str
) -> None:
    # Texts the app has never seen: it may not read them, only pass them on. An older portal
    # (no flow list): the page reads each known flow, and some of those reads are refused.
    sandbox = older_portal
    sandbox.settings.language = language
    denied = flow_text(ACCESS_DENIED, language)
    assert denied != ACCESS_DENIED
    page = open_page(portal_client, sandbox, data.MEMBER, lang=language)
    assert BUDGET not in {flow["id"] for flow in page.data["flows"]}  # its read was refused

    # The read refused in the portal's language still tells what the member may see:
    # the list is cached, and a reload costs the portal nothing.
    before = sandbox.rest_requests
    reload = portal_client.get("/api/flows", headers=page.headers())
    assert reload.status_code == 200
    assert reload.get_json()["cached"] is True
    assert sandbox.rest_requests == before

    refused = switch(portal_client, page, SUPPORT, False)
    assert refused.status_code == 403
    body = refused.get_json()
    assert (body["error"], body["bitrix24"], body["active"]) == ("forbidden", denied, True)
    assert body["message"] != denied  # the app's own sentence, beside Bitrix24's
    assert sandbox.flow(SUPPORT).active is True


def test_a_flow_is_forgotten_only_when_an_administrators_read_of_it_is_refused(
    portal_client: FlaskClient, older_portal: SandboxServer, redis_db: redis.Redis
) -> None:
    sandbox = older_portal  # no flow list: the page reads each known flow
    sandbox.settings.language = "de"  # "Zugriff verweigert oder Flow nicht gefunden"
    known_flows.remember(redis_db, sandbox.member_id, [GONE])
    open_page(portal_client, sandbox, data.OWNER)  # may not read it either: proves nothing
    assert GONE in known_flows.known_ids(redis_db, sandbox.member_id)
    open_page(portal_client, sandbox, data.ADMIN)  # reads every flow but this one: it is gone
    assert known_flows.known_ids(redis_db, sandbox.member_id) == list(SEEDED_FLOWS)

