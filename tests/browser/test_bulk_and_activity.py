"""Bulk switching and the activity view in headless Chromium, inside the sandbox portal."""

from __future__ import annotations

from pathlib import Path

import redis
from playwright.sync_api import Page, expect

from sandbox import data
from sandbox.server import SandboxServer
from tests.browser.test_flows_in_portal import SUPPORT, open_app
from tests.install.live import LiveApp, eventually

URGENT = 3  # the seeded flow whose name holds HTML


def test_select_all_shown_then_pause_selected_with_one_summary_and_each_refusal_under_its_flow(
    page: Page, sandbox: SandboxServer, live_app: LiveApp
) -> None:
    frame = open_app(page, sandbox, data.OWNER)
    expect(frame.get_by_role("checkbox", name="Select Support requests")).to_be_visible()
    # Flow 6 is the admin's: Oleg may not switch it, so it has no box.
    expect(frame.get_by_role("checkbox", name="Select Budget approvals")).to_have_count(0)
    # Since the page opened, flow 3 went to the admin: Bitrix24 will refuse it to Oleg.
    sandbox.flow(URGENT).owner_id = sandbox.flow(URGENT).creator_id = data.ADMIN
    frame.get_by_role("radio", name="On").check()
    frame.get_by_role("checkbox", name="Select all shown").check()
    expect(frame.locator("#fs-selected-count")).to_have_text("Selected: 4")  # 1-4 are on and his
    frame.get_by_role("button", name="Pause selected").click()
    dialog = frame.get_by_role("dialog", name="Pause the selected flows?")
    expect(dialog).to_contain_text("Flows selected: 4.")
    dialog.get_by_role("button", name="Pause", exact=True).click()

    summary = frame.locator("#fs-bulk-summary")
    expect(summary).to_have_attribute("role", "status")
    expect(summary).to_have_text("3 paused, 1 refused")
    alert = frame.locator(f"#fs-alert-{URGENT}")
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text("You don't have the right to switch this flow.")
    expect(alert).to_contain_text("Bitrix24 says: “Access denied or flow not found”")
    assert [sandbox.flow(flow_id).active for flow_id in (1, 2, URGENT, 4)] == [False, False, True, False]
    # The "On" filter now shows what is still on; the selection is spent.
    expect(frame.locator("#fs-list .fs-flow:not([hidden])")).to_have_count(2)
    expect(frame.locator("#fs-selected-count")).to_have_text("Selected: 0")
    expect(frame.get_by_role("button", name="Pause selected")).to_be_disabled()


def test_select_all_follows_the_search(page: Page, sandbox: SandboxServer, live_app: LiveApp) -> None:
    frame = open_app(page, sandbox, data.OWNER)
    select_all = frame.get_by_role("checkbox", name="Select all shown")
    frame.get_by_label("Search").fill("support")
    select_all.check()
    expect(frame.locator("#fs-selected-count")).to_have_text("Selected: 1")
    frame.get_by_label("Search").fill("")
    expect(frame.locator("#fs-selected-count")).to_have_text("Selected: 1")
    assert select_all.evaluate("box => box.indeterminate")
    frame.get_by_label("Search").fill("reviews")  # the selected flow is hidden: no longer selected
    expect(frame.locator("#fs-selected-count")).to_have_text("Selected: 0")
    expect(frame.get_by_role("button", name="Resume selected")).to_be_disabled()


def test_cancel_sends_nothing(page: Page, sandbox: SandboxServer, live_app: LiveApp) -> None:
    frame = open_app(page, sandbox, data.OWNER)
    frame.get_by_role("checkbox", name="Select Support requests").check()
    sandbox.reset_counters()
    opener = frame.get_by_role("button", name="Pause selected")
    opener.click()
    frame.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(frame.get_by_role("dialog")).to_be_hidden()
    expect(opener).to_be_focused()
    assert sandbox.rest_requests == 0 and sandbox.flow(SUPPORT).active is True


def test_a_team_member_gets_no_bulk_controls(page: Page, sandbox: SandboxServer, live_app: LiveApp) -> None:
    frame = open_app(page, sandbox, data.MEMBER)  # may read flows 1-5, switch none
    expect(frame.get_by_role("switch", name="Support requests")).to_be_visible()
    expect(frame.locator("#fs-bulk")).to_be_hidden()
    expect(frame.get_by_role("checkbox", name="Select Support requests")).to_have_count(0)


def test_the_activity_view_shows_filters_and_downloads_the_log(
    page: Page, sandbox: SandboxServer, live_app: LiveApp, redis_db: redis.Redis
) -> None:
    frame = open_app(page, sandbox, data.OWNER)
    frame.get_by_role("switch", name="Support requests").click()
    eventually(lambda: sandbox.flow(SUPPORT).active is False)
    frame.get_by_role("switch", name="Design reviews").click()
    eventually(lambda: sandbox.flow(2).active is False)
    frame.get_by_role("link", name="Activity").click()
    expect(frame.get_by_role("link", name="Activity")).to_have_attribute("aria-current", "page")
    expect(frame.get_by_role("heading", name="Activity")).to_be_visible()
    expect(frame.get_by_role("switch")).to_have_count(0)  # the flows are another section
    entries = frame.locator("#fs-activity-list .fs-entry")
    expect(entries).to_have_count(2)
    expect(entries.first).to_contain_text("Design reviews")
    expect(entries.last).to_contain_text("Support requests On → Off")
    expect(entries.last).to_contain_text("Single switch Done")
    expect(entries.last).to_contain_text("Oleg Owner")
    expect(frame.locator("#fs-activity-lead")).to_contain_text("Your own changes")
    expect(frame.get_by_label("User")).to_be_hidden()  # only administrators see everyone's

    frame.get_by_label("Flow", exact=True).select_option(label="Support requests")
    frame.get_by_role("button", name="Apply").click()
    expect(entries).to_have_count(1)
    expect(frame.locator("#fs-activity-status")).to_have_text("Entries shown: 1")

    with page.expect_download() as download:
        frame.get_by_role("button", name="Download CSV").click()
    raw = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename.startswith("flow-switch-activity-")
    assert raw.startswith("\ufeff".encode()) and b"\r\n" in raw
    text = raw.decode("utf-8")
    assert "Support requests" in text and "Design reviews" not in text  # the filter applies

    frame.get_by_role("link", name="Flows").click()
    expect(frame.get_by_role("switch", name="Support requests")).not_to_be_checked()


def test_an_administrator_sees_everyone_and_filters_by_user(
    page: Page, sandbox: SandboxServer, live_app: LiveApp
) -> None:
    owner = open_app(page, sandbox, data.OWNER)
    owner.get_by_role("switch", name="Support requests").click()
    eventually(lambda: sandbox.flow(SUPPORT).active is False)
    frame = open_app(page, sandbox, data.ADMIN)
    frame.get_by_role("switch", name="Budget approvals").click()
    eventually(lambda: sandbox.flow(6).active is False)
    frame.get_by_role("link", name="Activity").click()
    entries = frame.locator("#fs-activity-list .fs-entry")
    expect(entries).to_have_count(2)
    expect(frame.locator("#fs-activity-lead")).to_contain_text("Every change")
    frame.get_by_label("User").select_option(label="Oleg Owner")
    frame.get_by_role("button", name="Apply").click()
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text("Oleg Owner")
