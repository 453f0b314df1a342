"""The app against each variant where the Bitrix24 docs disagree (the sandbox's settings)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from sandbox import data
from sandbox.server import SandboxServer
from tests.flows.conftest import open_page
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
