"""``im.notify.system.add`` / ``im.notify.personal.add``: storage, TAG replacement, errors, and the portal's panel."""

from __future__ import annotations

import json

import pytest
import requests
from playwright.sync_api import Browser

from sandbox.data import ADMIN, MEMBER, OWNER
from sandbox.session_auth import USER_COOKIE
from sandbox.testing import DEFAULT_APP_URL, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

SYSTEM, PERSONAL = "im.notify.system.add", "im.notify.personal.add"


@pytest.fixture
def im_app(sandbox):
    """The default app, installed again with the ``im`` scope."""
    return sandbox.register_app(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_APP_URL,
        f"{DEFAULT_APP_URL}install",
        "",
        scope="task,user,placement,im",
        installed=True,
    )


def error_of(answer: requests.Response) -> tuple[int, dict]:
    return answer.status_code, answer.json()


def test_system_notice_is_stored_under_the_app_name(sandbox, im_app, rest):
    answer = rest(
        SYSTEM, {"USER_ID": MEMBER, "MESSAGE": "  Flow paused  ", "MESSAGE_OUT": "for mail"}, user=OWNER
    )
    assert answer.status_code == 200 and isinstance(answer.json()["result"], int)
    [notice] = sandbox.notifications(MEMBER)
    assert notice.id == answer.json()["result"]
    assert notice.message == "Flow Switch\nFlow paused"  # the name, #BR# as a line break, trimmed
    assert notice.message_out == "Flow Switch#BR#for mail"
    assert (notice.kind, notice.from_user_id, notice.client_id) == ("system", 0, DEFAULT_CLIENT_ID)
    assert abs((notice.at - sandbox.now()).total_seconds()) < 5
    assert sandbox.notifications(OWNER) == [] and sandbox.notifications_sent == 1


def test_personal_notice_comes_from_the_calling_user(sandbox, im_app, rest):
    rest(PERSONAL, {"user_id": MEMBER, "message": "Please resume the flow"}, user=OWNER)
    [notice] = sandbox.notifications(MEMBER)
    assert (notice.kind, notice.from_user_id, notice.message) == ("personal", OWNER, "Please resume the flow")


def test_tag_replaces_the_apps_earlier_notice_for_that_user_only(sandbox, im_app, rest):
    for user, text in ((MEMBER, "paused"), (OWNER, "paused"), (MEMBER, "resumed")):
        assert rest(SYSTEM, {"USER_ID": user, "MESSAGE": text, "TAG": "FLOW_1"}).status_code == 200
    rest(SYSTEM, {"USER_ID": MEMBER, "MESSAGE": "other flow", "TAG": "FLOW_2", "SUB_TAG": "FLOW|2"})
    assert [n.message.split("\n")[1] for n in sandbox.notifications(MEMBER)] == ["other flow", "resumed"]
    assert [n.message.split("\n")[1] for n in sandbox.notifications(OWNER)] == ["paused"]
    assert sandbox.notifications(MEMBER)[1].notify_tag.startswith("MP|") and sandbox.notifications_sent == 4


def test_tags_are_scoped_per_app(sandbox, im_app, rest, http):
    rest(SYSTEM, {"USER_ID": MEMBER, "MESSAGE": "first app", "TAG": "T"})
    sandbox.register_app(
        "local.other", "s", DEFAULT_APP_URL, "", "", scope="im", installed=True, name="Other App"
    )
    token = sandbox.issue_tokens(ADMIN)["access_token"]
    http.post(
        sandbox.client_endpoint + SYSTEM, json={"auth": token, "USER_ID": MEMBER, "MESSAGE": "x", "TAG": "T"}
    )
    assert [n.message for n in sandbox.notifications(MEMBER)] == ["Other App\nx", "Flow Switch\nfirst app"]


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({"MESSAGE": "hi"}, "USER_ID_EMPTY", "User ID can't be empty"),
        ({"USER_ID": "0", "MESSAGE": "hi"}, "USER_ID_EMPTY", "User ID can't be empty"),
        ({"USER_ID": MEMBER}, "MESSAGE_EMPTY", "Message can't be empty"),
        ({"USER_ID": MEMBER, "MESSAGE": "   "}, "MESSAGE_EMPTY", "Message can't be empty"),
        ({"USER_ID": MEMBER, "MESSAGE": 5}, "MESSAGE_EMPTY", "Message can't be empty"),
        (
            {"USER_ID": MEMBER, "MESSAGE": "hi", "ATTACH": "{not json"},
            "ATTACH_ERROR",
            "Incorrect attach params",
        ),
        (
            {"USER_ID": MEMBER, "MESSAGE": "hi", "ATTACH": [{"MESSAGE": "x" * 31_000}]},
            "ATTACH_OVERSIZE",
            "You have exceeded the maximum allowable size of attach",
        ),
    ],
)
@pytest.mark.parametrize("name", [SYSTEM, PERSONAL])
def test_documented_errors(sandbox, im_app, rest, name, params, code, text):
    assert error_of(rest(name, params)) == (400, {"error": code, "error_description": text})
    assert sandbox.notifications(MEMBER) == [] and sandbox.notifications_sent == 0


def test_unknown_or_inactive_recipient_answers_false(sandbox, im_app, rest):
    sandbox.world.user(OWNER).active = False
    for user in (999, OWNER):
        answer = rest(SYSTEM, {"USER_ID": user, "MESSAGE": "hi"})
        assert answer.status_code == 200 and answer.json()["result"] is False
    assert sandbox.notifications_sent == 0


def test_attach_as_object_or_json_string(sandbox, im_app, rest):
    blocks = [{"LINK": {"NAME": "Support requests", "LINK": "https://example.test/flow/1"}}]
    rest(SYSTEM, {"TO": MEMBER, "MESSAGE": "a", "ATTACH": blocks})
    rest(SYSTEM, {"TO": MEMBER, "MESSAGE": "b", "ATTACH": json.dumps(blocks)})
    assert [n.attach for n in sandbox.notifications(MEMBER)] == [blocks, blocks]


def test_without_the_im_scope(sandbox, rest):
    answer = rest(SYSTEM, {"USER_ID": MEMBER, "MESSAGE": "hi"})  # the default app has no im scope
    assert error_of(answer) == (
        401,
        {
            "error": "insufficient_scope",
            "error_description": "The request requires higher privileges than provided by the access token",
        },
    )
    assert sandbox.notifications(MEMBER) == []


def test_session_authorization_is_refused(sandbox, im_app):
    cookies = {USER_COOKIE: str(OWNER)}
    session = {"sessid": sandbox.sessid}
    refused = requests.post(
        sandbox.client_endpoint + SYSTEM,
        json={**session, "USER_ID": MEMBER, "MESSAGE": "hi"},
        cookies=cookies,
    )
    assert error_of(refused) == (
        403,
        {
            "error": "WRONG_AUTH_TYPE",
            "error_description": "Access for this method not allowed by session authorization.",
        },
    )
    # The same session may call other methods, so it is the auth type that is refused.
    who = requests.post(sandbox.client_endpoint + "user.current", json=session, cookies=cookies)
    assert who.json()["result"]["ID"] == str(OWNER)
    forged = requests.post(sandbox.client_endpoint + "user.current", json={"sessid": "x"}, cookies=cookies)
    assert forged.status_code == 401 and forged.json()["error"] == "NO_AUTH_FOUND"
    assert sandbox.notifications(MEMBER) == []


def test_one_recipient_per_call_in_batch(sandbox, im_app, rest):
    cmd = {f"u{u}": f"{SYSTEM}?USER_ID={u}&MESSAGE=Paused&TAG=FLOW_1" for u in (ADMIN, OWNER, MEMBER)}
    answer = rest("batch", {"cmd": cmd}, user=OWNER).json()["result"]
    assert sorted(answer["result"]) == ["u1", "u2", "u3"] and answer["result_error"] == []
    assert sandbox.calls(SYSTEM, OWNER) == 3 and sandbox.rest_requests == 1
    assert all(len(sandbox.notifications(u)) == 1 for u in (ADMIN, OWNER, MEMBER))


def test_portal_page_shows_the_current_users_notices_escaped(sandbox, im_app, rest):
    message = "Paused <script>alert(1)</script> [b]Support[/b] [url=https://example.test/f/1]open[/url]"
    rest(SYSTEM, {"USER_ID": MEMBER, "MESSAGE": message})
    page = requests.get(f"{sandbox.portal_url}/", params={"user": MEMBER}, timeout=10).text
    assert 'id="notification-count">1<' in page and "Flow Switch<br>Paused" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert '<b>Support</b> <a href="https://example.test/f/1"' in page
    assert " UTC</time>" in page  # MEMBER has no zone: times in UTC
    rest(SYSTEM, {"USER_ID": ADMIN, "MESSAGE": "hi"})
    admin_panel = requests.get(
        f"{sandbox.portal_url}/_sandbox/notifications", params={"user": ADMIN}, timeout=10
    )
    assert "Flow Switch<br>hi" in admin_panel.text and " UTC</time>" not in admin_panel.text  # Europe/Berlin
    other = requests.get(f"{sandbox.portal_url}/_sandbox/notifications", params={"user": OWNER}, timeout=10)
    assert "No notifications." in other.text


@pytest.mark.browser
def test_a_notice_arrives_on_the_open_page(sandbox, im_app, rest, chromium: Browser):
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(f"{sandbox.portal_url}/?user={MEMBER}")
        assert page.locator("#notification-count").text_content() == "0"
        rest(SYSTEM, {"USER_ID": MEMBER, "MESSAGE": "Flow [b]Support requests[/b] paused by Oleg Owner"})
        page.locator("#notifications b", has_text="Support requests").wait_for(timeout=10_000)
        assert page.locator("#notification-count").text_content() == "1"
        assert "Flow Switch" in page.locator("#notifications .b24-notify-text").text_content()
    finally:
        context.close()
