"""Event delivery: at once, held and released in any order, dropped, queued with delay and jitter;
and the uninstall event racing the authorization server's revocation."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
import requests

from sandbox.data import ADMIN
from tests.sandbox.conftest import Receiver


def register_with_handlers(sandbox, receiver: Receiver, *events: str) -> None:
    """A fresh app whose installer bound ``events`` to ``receiver``; the install is not finished."""
    sandbox.register_app("local.delivery", "s", f"{receiver.url}/", f"{receiver.url}/install", "")
    token = sandbox.issue_tokens(ADMIN)["access_token"]
    for event in events:
        answer = requests.post(
            sandbox.client_endpoint + "event.bind",
            json={"auth": token, "event": event, "handler": f"{receiver.url}/{event.lower()}"},
            timeout=10,
        )
        assert answer.json()["result"] is True


def received(receiver: Receiver) -> list[str]:
    return [r["form"]["event"] for r in receiver.requests]


def test_held_events_leave_only_when_released_in_the_order_asked(sandbox, receiver):
    register_with_handlers(sandbox, receiver, "ONAPPINSTALL", "ONAPPUPDATE", "ONAPPUNINSTALL")
    sandbox.settings.update_reinstalls = False  # the handlers stay, so the later uninstall is heard
    sandbox.hold_events()
    assert sandbox.finish_install() == [] and sandbox.update_app() == []
    assert receiver.requests == []
    assert [event for event, _ in sandbox.held_events] == ["ONAPPINSTALL", "ONAPPUPDATE"]

    [update] = sandbox.release_events(order=[1])  # the update overtakes the install
    assert update.event == "ONAPPUPDATE" and received(receiver) == ["ONAPPUPDATE"]
    assert [event for event, _ in sandbox.held_events] == ["ONAPPINSTALL"]
    sandbox.uninstall()  # still holding: the later uninstall waits too
    assert [d.event for d in sandbox.release_events()] == ["ONAPPINSTALL", "ONAPPUNINSTALL"]
    assert received(receiver) == ["ONAPPUPDATE", "ONAPPINSTALL", "ONAPPUNINSTALL"]
    assert [d.event for d in sandbox.events_delivered] == received(receiver)
    assert sandbox.held_events == []


def test_drop_next_loses_that_event_and_records_it_as_dropped(sandbox, receiver):
    register_with_handlers(sandbox, receiver, "ONAPPINSTALL", "ONAPPUNINSTALL")
    sandbox.drop_next("onAppInstall")
    [lost] = sandbox.finish_install()
    assert lost.dropped and lost.status is None and lost.event == "ONAPPINSTALL"
    assert receiver.requests == []  # never sent, never retried
    assert sandbox.install_state == "installed"
    [delivered] = sandbox.uninstall()  # only the next one was dropped
    assert not delivered.dropped and received(receiver) == ["ONAPPUNINSTALL"]
    assert [(d.event, d.dropped) for d in sandbox.events_delivered] == [
        ("ONAPPINSTALL", True),
        ("ONAPPUNINSTALL", False),
    ]


def test_a_drop_rate_of_one_loses_everything(sandbox, receiver):
    register_with_handlers(sandbox, receiver, "ONAPPINSTALL", "ONAPPUNINSTALL")
    sandbox.settings.event_drop_rate = 1.0
    assert all(d.dropped for d in sandbox.finish_install() + sandbox.uninstall())
    assert receiver.requests == [] and len(sandbox.events_delivered) == 2


def test_the_queue_delays_events(sandbox, receiver):
    register_with_handlers(sandbox, receiver, "ONAPPINSTALL")
    sandbox.settings.event_delivery = "queue"
    sandbox.settings.event_delay = 0.5
    started = time.monotonic()
    assert sandbox.finish_install() == []  # the portal action returns before the event leaves
    assert sandbox.wait_for_events(timeout=10)
    assert time.monotonic() - started >= 0.5
    assert received(receiver) == ["ONAPPINSTALL"] and sandbox.events_delivered[0].status == 200


def test_jitter_reorders_queued_events_repeatably_with_a_seed(sandbox, receiver):
    events = ["ONAPPINSTALL", "ONAPPUPDATE", "ONAPPUNINSTALL"]
    register_with_handlers(sandbox, receiver, *events)
    sandbox.finish_install()
    receiver.requests.clear()
    seed, jitter = 15, 1.5
    rng = random.Random(seed)
    waits = [rng.uniform(0, jitter) for _ in range(2)]  # update, then uninstall: the order they are sent
    assert waits[0] - waits[1] > 1.0  # with this seed the uninstall overtakes the update by far
    sandbox.settings.event_delivery, sandbox.settings.event_jitter = "queue", jitter
    sandbox.settings.event_seed = seed
    sandbox.settings.update_reinstalls = False  # the handlers stay, so the uninstall is heard
    sandbox.update_app()
    sandbox.uninstall()
    assert sandbox.wait_for_events(timeout=10)
    assert received(receiver) == ["ONAPPUNINSTALL", "ONAPPUPDATE"]


class AuthServerProbe:
    """What the authorization server says about a token while the app handles an event."""

    def __init__(self, sandbox, token: str) -> None:
        self.sandbox, self.token = sandbox, token

    def __call__(self, form: dict[str, str] | None = None) -> tuple[int, Any]:
        answer = requests.post(
            f"{self.sandbox.auth_url}/rest/app.info", data={"auth": self.token}, timeout=10
        )
        try:
            body: Any = answer.json()
        except ValueError:
            body = None
        return answer.status_code, body


@pytest.fixture
def uninstalling(sandbox):
    """An installed app whose ONAPPUNINSTALL handler asks app.info about the installer's token."""
    probe = AuthServerProbe(sandbox, token="")
    receiver = Receiver(on_request=probe)
    register_with_handlers(sandbox, receiver, "ONAPPUNINSTALL")
    sandbox.finish_install()
    probe.token = sandbox.issue_tokens(ADMIN)["access_token"]  # a token of this installation
    yield sandbox, receiver, probe
    receiver.stop()


def test_by_default_the_tokens_are_revoked_before_onappuninstall_arrives(uninstalling):
    sandbox, receiver, probe = uninstalling
    assert not sandbox.settings.uninstall_event_before_revocation
    assert probe()[0] == 200
    sandbox.uninstall()
    status, body = receiver.requests[0]["seen"]
    assert status == 401 and body["error"] == "NOT_INSTALLED"


def test_the_event_can_arrive_while_the_auth_server_still_confirms_the_app(uninstalling):
    sandbox, receiver, probe = uninstalling
    sandbox.settings.uninstall_event_before_revocation = True
    [delivery] = sandbox.uninstall()
    status, body = receiver.requests[0]["seen"]
    assert delivery.status == 200 and status == 200 and body["result"]["install"]["installed"] is True
    assert sandbox.install_state == "absent"  # revoked a moment later, once the event was delivered
    assert probe()[0] == 401 and probe()[1]["error"] == "NOT_INSTALLED"


def test_held_uninstall_event_keeps_the_app_confirmed_until_it_is_released(uninstalling):
    sandbox, receiver, probe = uninstalling
    sandbox.settings.uninstall_event_before_revocation = True
    sandbox.hold_events()
    assert sandbox.uninstall() == []
    assert probe()[0] == 200 and sandbox.world.event_bindings == []  # handlers already gone
    sandbox.release_events()
    assert receiver.requests[0]["seen"][0] == 200
    assert probe()[1]["error"] == "NOT_INSTALLED"


def test_an_auth_server_outage_at_the_same_time(uninstalling):
    sandbox, receiver, probe = uninstalling
    sandbox.settings.uninstall_event_before_revocation = True
    sandbox.settings.auth_fault = "500"
    sandbox.uninstall()
    assert receiver.requests[0]["seen"] == (500, None)
    sandbox.settings.auth_fault = None
    assert probe()[1]["error"] == "NOT_INSTALLED"
