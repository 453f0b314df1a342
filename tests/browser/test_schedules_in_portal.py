"""Scheduled pause and resume in headless Chromium, inside the sandbox portal: the dialog and the Scheduled list."""

from __future__ import annotations

import pytest
import redis
from playwright.sync_api import FrameLocator, Page, expect

from sandbox import data
from sandbox.server import SandboxServer
from services import schedule_store as store
from tests.browser.a11y import app_frame, assert_dialog_works_for_everyone
from tests.browser.test_flows_in_portal import open_app
from tests.install.live import LiveApp
from tests.schedules.conftest import wall

pytestmark = pytest.mark.browser

NEW_YORK = "America/New_York"  # OWNER's Bitrix24 zone


def schedule_dialog(frame: FrameLocator, name: str = "Support requests"):
    return frame.get_by_role("dialog", name=f"Schedule “{name}”")


def test_the_owner_plans_a_pause_and_resume_and_sees_it_under_the_flow_and_in_the_list(
    page: Page, sandbox: SandboxServer, live_app: LiveApp, redis_db: redis.Redis
) -> None:
    frame = open_app(page, sandbox, data.OWNER)
    expect(frame.locator("#fs-scheduled-status")).to_have_text("Nothing is scheduled.")
    opener = frame.get_by_role("button", name="Schedule Support requests")
    opener.click()
    dialog = schedule_dialog(frame)
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Times are in America/New_York.")
    expect(frame.get_by_label("Pause from")).to_be_focused()  # focus moved into the dialog

    pause, resume = wall(10, 18, NEW_YORK), wall(20, 9, NEW_YORK)
    frame.get_by_label("Pause from").fill(resume)
    frame.get_by_label("Resume at").fill(pause)
    dialog.get_by_role("button", name="Save").click()
    alert = dialog.get_by_role("alert")
    expect(alert).to_have_text("The resume time must come after the pause time.")
    expect(dialog).to_be_visible()  # nothing lost: the dialog stays with what was typed
    assert redis_db.zcard(store.DUE_KEY) == 0

    frame.get_by_label("Pause from").fill(pause)
    frame.get_by_label("Resume at").fill(resume)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()  # focus back on the button that opened it
    item = frame.locator(".fs-scheduled__item")
    expect(item).to_have_count(1)
    expect(item.locator(".fs-scheduled__summary")).to_contain_text("by Oleg Owner")
    expect(item.locator(".fs-scheduled__summary")).to_contain_text("6:00\u202fPM")
    row = frame.locator(".fs-flow", has=frame.locator(f"#fs-name-{1}"))
    expect(row.locator(".fs-flow__planned")).to_have_text(item.locator(".fs-scheduled__summary").inner_text())
    assert redis_db.zcard(store.DUE_KEY) == 2

    # Escape closes it too, and focus comes back.
    frame.get_by_role("button", name="Change the planned change of Support requests").click()
    expect(frame.get_by_label("Pause from")).to_have_value(pause)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(frame.get_by_role("button", name="Change the planned change of Support requests")).to_be_focused()

    frame.get_by_role("button", name="Cancel the planned change of Support requests").click()
    expect(frame.locator("#fs-scheduled-status")).to_have_text("Cancelled the planned change of “Support requests”.")
    expect(item).to_have_count(0)
    expect(row.locator(".fs-flow__planned")).to_be_empty()
    assert redis_db.zcard(store.DUE_KEY) == 0


def test_a_team_member_gets_no_schedule_button(page: Page, sandbox: SandboxServer, live_app: LiveApp) -> None:
    frame = open_app(page, sandbox, data.MEMBER)
    expect(frame.get_by_role("switch", name="Support requests")).to_be_visible()
    expect(frame.get_by_role("button", name="Schedule Support requests")).to_have_count(0)


def test_the_dialog_and_the_list_work_for_everyone(page: Page, sandbox: SandboxServer, live_app: LiveApp) -> None:
    frame = open_app(page, sandbox, data.ADMIN)
    document = app_frame(page)
    opener = frame.get_by_role("button", name="Schedule Budget approvals")
    assert_dialog_works_for_everyone(page, document, opener, "#fs-schedule-dialog", "#fs-scheduled")


@pytest.mark.parametrize(
    ("lang", "button", "pause_label"),
    [("ru", "Запланировать Support requests", "Пауза с"), ("de", "Support requests planen", "Pausieren ab")],
)
def test_the_dialog_speaks_the_users_language(
    page: Page, sandbox: SandboxServer, live_app: LiveApp, lang: str, button: str, pause_label: str
) -> None:
    frame = open_app(page, sandbox, data.OWNER, lang=lang)
    frame.get_by_role("button", name=button).click()
    expect(frame.get_by_label(pause_label)).to_be_focused()
