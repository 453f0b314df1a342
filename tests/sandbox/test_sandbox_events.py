"""App events: ONAPPINSTALL on install finish, ONAPPUPDATE, ONAPPUNINSTALL, as real form-encoded POSTs."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
import requests

from sandbox.data import ADMIN, MEMBER
from sandbox.frames import NotAvailable
from sandbox.php import parse_str


@pytest.fixture
def installing(sandbox, receiver):
    """An app registered but not finished installing; its installer bound two handlers."""
    sandbox.register_app(
        "local.events.test",
        "secret",
        app_url=f"{receiver.url}/",
        installer_url=f"{receiver.url}/install",
        redirect_uri="",
    )
    token = sandbox.issue_tokens(ADMIN)["access_token"]
    for event in ("ONAPPINSTALL", "ONAPPUNINSTALL"):
        bound = requests.post(
            sandbox.client_endpoint + "event.bind",
            json={"auth": token, "event": event, "handler": f"{receiver.url}/events"},
        )
        assert bound.json()["result"] is True
    return sandbox


def test_install_finish_delivers_onappinstall_form_encoded(installing, receiver):
    sandbox = installing
    assert receiver.requests == []  # nothing is sent before the install finishes
    deliveries = sandbox.finish_install()
    assert [(d.event, d.status) for d in deliveries] == [("ONAPPINSTALL", 200)]
    [sent] = receiver.requests
    assert sent["path"] == "/events" and sent["content_type"] == "application/x-www-form-urlencoded"
    raw_keys = [k for k, _ in parse_qsl(sent["raw"])]
    assert raw_keys[:4] == ["event", "event_handler_id", "data[VERSION]", "data[ACTIVE]"]
    form = sent["form"]
    assert form["event"] == "ONAPPINSTALL" and form["event_handler_id"].isdigit()
    assert (form["data[ACTIVE]"], form["data[INSTALLED]"], form["data[LANGUAGE_ID]"]) == ("Y", "Y", "en")
    assert form["ts"].isdigit()
    payload = parse_str(sent["raw"])
    auth = payload["auth"]
    assert auth["application_token"] == sandbox.application_token and len(auth["application_token"]) == 32
    assert auth["domain"] == sandbox.domain and auth["member_id"] == sandbox.member_id
    assert (
        auth["client_endpoint"] == sandbox.client_endpoint
        and auth["server_endpoint"] == sandbox.server_endpoint
    )
    assert (
        auth["user_id"] == str(ADMIN)
        and auth["expires_in"] == "3600"
        and auth["scope"] == "task,user,placement"
    )
    assert auth["status"] == "L" and auth["expires"].isdigit()
    who = requests.post(sandbox.client_endpoint + "user.current", data={"auth": auth["access_token"]})
    assert who.json()["result"]["ID"] == str(ADMIN)
    refreshed = requests.post(
        f"{sandbox.auth_url}/oauth/token/",
        data={
            "grant_type": "refresh_token",
            "client_id": "local.events.test",
            "client_secret": "secret",
            "refresh_token": auth["refresh_token"],
        },
    )
    assert refreshed.status_code == 200
    assert sandbox.install_state == "installed"
    assert sandbox.events_delivered == deliveries
    assert sandbox.finish_install() == []  # a second installFinish has no effect


def test_install_event_url_also_receives_onappinstall(sandbox, receiver):
    sandbox.register_app(
        "local.noui",
        "s",
        f"{receiver.url}/",
        f"{receiver.url}/i",
        "",
        install_event_url=f"{receiver.url}/installed",
    )
    sandbox.finish_install()
    assert [r["path"] for r in receiver.requests] == ["/installed"]


def test_update_sends_the_new_application_token(installing, receiver):
    sandbox = installing
    sandbox.finish_install()
    token = sandbox.issue_tokens(ADMIN)["access_token"]
    requests.post(
        sandbox.client_endpoint + "event.bind",
        json={"auth": token, "event": "ONAPPUPDATE", "handler": f"{receiver.url}/u"},
    )
    old = sandbox.application_token
    [delivery] = sandbox.update_app()
    form = delivery.form
    assert form["event"] == "ONAPPUPDATE" and (form["data[VERSION]"], form["data[PREVIOUS_VERSION]"]) == (
        "2",
        "1",
    )
    assert form["auth[application_token]"] == sandbox.application_token != old
    assert "auth[refresh_token]" in form


def test_uninstall_sends_no_tokens_and_cleans_up(installing, receiver):
    sandbox = installing
    sandbox.finish_install()
    member_token = sandbox.issue_tokens(MEMBER)["access_token"]
    application_token = sandbox.application_token
    [delivery] = sandbox.uninstall(clean=True)
    form = receiver.requests[-1]["form"]
    assert delivery.event == "ONAPPUNINSTALL" and form["event"] == "ONAPPUNINSTALL"
    assert (form["data[CLEAN]"], form["data[LANGUAGE_ID]"]) == ("1", "en")
    assert {k for k in form if k.startswith("auth[")} == {
        "auth[domain]",
        "auth[server_endpoint]",
        "auth[client_endpoint]",
        "auth[member_id]",
        "auth[application_token]",
    }
    assert form["auth[application_token]"] == application_token
    dead = requests.post(sandbox.client_endpoint + "user.current", data={"auth": member_token})
    assert dead.status_code == 401
    assert sandbox.install_state == "absent" and sandbox.world.event_bindings == []
    sandbox.install()
    assert sandbox.install_state == "pending" and sandbox.application_token != application_token


def test_failed_delivery_is_recorded(sandbox):
    sandbox.register_app("local.down", "s", "http://127.0.0.1:9/", "http://127.0.0.1:9/i", "")
    token = sandbox.issue_tokens(ADMIN)["access_token"]
    requests.post(
        sandbox.client_endpoint + "event.bind",
        json={"auth": token, "event": "ONAPPINSTALL", "handler": "http://127.0.0.1:9/events"},
    )
    [delivery] = sandbox.finish_install()
    assert delivery.status is None and delivery.error == "ConnectionError"


def bind(sandbox, event: str, handler: str) -> None:
    token = sandbox.issue_tokens(ADMIN)["access_token"]
    answer = requests.post(
        sandbox.client_endpoint + "event.bind", json={"auth": token, "event": event, "handler": handler}
    )
    assert answer.json()["result"] is True


def bound_events(sandbox) -> list[str]:
    token = sandbox.issue_tokens(ADMIN)["access_token"]
    listed = requests.post(sandbox.client_endpoint + "event.get", json={"auth": token}).json()["result"]
    return sorted(item["event"] for item in listed)


def test_an_update_keeps_handlers_unless_update_reinstalls(installing, receiver):
    sandbox = installing
    sandbox.finish_install()
    sandbox.settings.update_reinstalls = False
    sandbox.update_app()
    assert bound_events(sandbox) == ["ONAPPINSTALL", "ONAPPUNINSTALL"]
    assert sandbox.install_state == "installed"


def test_an_update_removes_handlers_and_reopens_the_installer(installing, receiver):
    """event.bind: "When deleting and updating the application, its actions will be removed.
    Therefore, in the installer of each version, they need to be set from scratch.\""""
    sandbox = installing
    sandbox.finish_install()
    bind(sandbox, "ONAPPUPDATE", f"{receiver.url}/events")
    sandbox.settings.update_reinstalls = True

    [delivery] = sandbox.update_app()

    assert (delivery.event, delivery.status) == ("ONAPPUPDATE", 200)  # to the handler bound before
    assert bound_events(sandbox) == []
    assert sandbox.install_state == "pending"
    installer, _ = sandbox.frame_post(ADMIN)
    assert installer.startswith(f"{receiver.url}/install?")
    with pytest.raises(NotAvailable, match="not fully installed"):
        sandbox.frame_post(MEMBER)
    assert sandbox.uninstall(clean=False) == []  # no handler is left to hear about it

    sandbox.install()
    bind(sandbox, "ONAPPUNINSTALL", f"{receiver.url}/events")  # the new installer binds again
    sandbox.finish_install()
    assert sandbox.install_state == "installed"
    assert [d.event for d in sandbox.uninstall()] == ["ONAPPUNINSTALL"]


def test_the_portal_pages_update_button_updates_the_app(installing):
    sandbox = installing
    sandbox.finish_install()
    sandbox.settings.update_reinstalls = True
    requests.post(f"{sandbox.portal_url}/_sandbox/update", data={"user": ADMIN}, timeout=10)
    assert sandbox.app.version == 2 and sandbox.install_state == "pending" and bound_events(sandbox) == []
