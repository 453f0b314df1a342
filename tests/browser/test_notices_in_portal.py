"""Notices in headless Chromium, inside the sandbox portal: who is told about a flow (the dialog),
notices on or off (administrators), the job worker telling the team, a report shown once."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from flask import Flask
from playwright.sync_api import FrameLocator, Page, expect

from app import create_app
from sandbox import data
from sandbox.server import SandboxServer
from services import notice_store
from tests.browser.a11y import app_frame, assert_dialog_works_for_everyone
from tests.browser.test_flows_in_portal import open_app
from tests.install.live import LiveApp, app_env, eventually, serve
from tests.notices.conftest import NOTICE_SCOPE
from tests.worker_process import WorkerProcess

pytestmark = pytest.mark.browser

SUPPORT = 1


@pytest.fixture
def live_app(sandbox_config: dict, sandbox: SandboxServer) -> Iterator[LiveApp]:
    """The app, added to the portal with the scopes notices need (before the installer runs)."""
    app: Flask = create_app(sandbox_config)
    with serve(app, sandbox) as live:
        assert sandbox.app is not None
        sandbox.app.scope = NOTICE_SCOPE
        yield live


def notice_dialog(frame: FrameLocator, name: str = "Support requests"):
    return frame.get_by_role("dialog", name=f"Who is told about “{name}”?")


def test_the_owner_chooses_who_is_told_and_the_team_hears_of_the_pause(
    page: Page,
    sandbox: SandboxServer,
    live_app: LiveApp,
    redis_db: redis.Redis,
    job_worker: Callable[..., WorkerProcess],
) -> None:
    job_worker(app_env(sandbox))
    frame = open_app(page, sandbox, data.OWNER)
    expect(frame.locator("#fs-notices-status")).to_have_text(
        "When a flow is paused or resumed, its team is told in Bitrix24. Choose who is told with “Who is told…” "
        "under a flow you may switch."
    )
    expect(frame.get_by_role("checkbox", name="Tell a flow's people in Bitrix24 when it is paused or resumed")).to_have_count(0)
    opener = frame.get_by_role("button", name="Who is told about Support requests")
    opener.click()
    dialog = notice_dialog(frame)
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("at most 100 people a notice")
    expect(frame.get_by_role("radio", name="Its team")).to_be_checked()
    expect(frame.get_by_role("radio", name="Its team")).to_be_focused()
    frame.get_by_role("radio", name="Nobody").check()
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()
    expect(frame.locator("#fs-notices-status")).to_have_text("Saved: who is told about “Support requests”.")
    assert notice_store.load(redis_db, sandbox.member_id).audience(SUPPORT) == "nobody"
    opener.click()
    expect(frame.get_by_role("radio", name="Nobody")).to_be_checked()
    frame.get_by_role("radio", name="Its team").check()
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()

    # The switch answers at once; the worker tells the team; the member sees it in the portal.
    frame.get_by_role("switch", name="Support requests").click()
    eventually(lambda: sandbox.flow(SUPPORT).active is False)
    eventually(lambda: len(sandbox.notifications(data.MEMBER)) == 1, timeout=20)
    page.goto(f"{sandbox.portal_url}/?user={data.MEMBER}")
    expect(page.locator("body")).to_contain_text("Oleg Owner paused the flow")

    # A notice Bitrix24 refuses: the switch stands, and the owner hears of it once.
    sandbox.inject_rest_errors("INTERNAL_SERVER_ERROR", 1, methods=["im.notify.system.add"], per_call=True)
    frame = open_app(page, sandbox, data.OWNER)
    frame.get_by_role("switch", name="Support requests").click()
    eventually(lambda: sandbox.flow(SUPPORT).active is True)
    eventually(lambda: redis_db.exists(notice_store.reports_key(sandbox.member_id, data.OWNER)) == 1, timeout=20)
    frame = open_app(page, sandbox, data.OWNER)
    expect(frame.locator(".fs-notice-reports__item")).to_have_text(
        ["Not everyone was told that “Support requests” was resumed: Bitrix24 did not take the notice for 1 of 1 people."]
    )
    frame = open_app(page, sandbox, data.OWNER)
    expect(frame.locator("#fs-notices-status")).not_to_be_empty()
    expect(frame.locator(".fs-notice-reports__item")).to_have_count(0)


def test_a_team_member_gets_no_button(page: Page, sandbox: SandboxServer, live_app: LiveApp) -> None:
    frame = open_app(page, sandbox, data.MEMBER)
    expect(frame.locator("#fs-notices-status")).not_to_be_empty()
    expect(frame.get_by_role("switch", name="Support requests")).to_be_visible()
    expect(frame.get_by_role("button", name="Who is told about Support requests")).to_have_count(0)


def test_without_the_im_permission_the_page_says_notices_are_off(
    page: Page, sandbox: SandboxServer, live_app: LiveApp
) -> None:
    assert sandbox.app is not None
    sandbox.app.scope = "task,user,placement"  # the owner's tokens come without "im"
    frame = open_app(page, sandbox, data.OWNER)
    expect(frame.locator("#fs-notices-status")).to_contain_text("Notices are off: Flow Switch was installed without")
    expect(frame.get_by_role("button", name="Who is told about Support requests")).to_have_count(0)
    frame.get_by_role("switch", name="Support requests").click()  # switching works as ever
    eventually(lambda: sandbox.flow(SUPPORT).active is False)


def test_the_setting_works_for_everyone(page: Page, sandbox: SandboxServer, live_app: LiveApp) -> None:
    frame = open_app(page, sandbox, data.ADMIN)
    document = app_frame(page)
    opener = frame.get_by_role("button", name="Who is told about Budget approvals")
    assert_dialog_works_for_everyone(page, document, opener, "#fs-notice-dialog", "#fs-notices")

    # An administrator turns notices off for the whole portal, and on again.
    toggle = frame.get_by_role("checkbox", name="Tell a flow's people in Bitrix24 when it is paused or resumed")
    expect(toggle).to_be_checked()
    toggle.uncheck()
    expect(frame.locator("#fs-notices-status")).to_have_text("Notices are off for this Bitrix24.")
    expect(opener).to_be_hidden()
    toggle.check()
    expect(frame.locator("#fs-notices-status")).to_have_text("Notices are on for this Bitrix24.")
    expect(opener).to_be_visible()


@pytest.mark.parametrize(
    ("lang", "button", "title", "team"),
    [
        ("ru", "Кому сообщать о потоке Support requests", "Кому сообщать о потоке «Support requests»?", "Его команде"),
        ("de", "Wer über Support requests benachrichtigt wird", "Wer wird über „Support requests“ benachrichtigt?", "Seinem Team"),
    ],
)
def test_the_dialog_speaks_the_users_language(
    page: Page, sandbox: SandboxServer, live_app: LiveApp, lang: str, button: str, title: str, team: str
) -> None:
    frame = open_app(page, sandbox, data.OWNER, lang=lang)
    frame.get_by_role("button", name=button).click()
    expect(frame.get_by_role("dialog", name=title)).to_be_visible()
    expect(frame.get_by_role("radio", name=team)).to_be_focused()
