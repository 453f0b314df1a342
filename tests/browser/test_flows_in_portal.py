"""The flows page as each sandbox user sees it inside the portal, in headless Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis
from playwright.sync_api import FrameLocator, Page, expect

from sandbox import data
from sandbox.server import SandboxServer
from services import flows, known_flows
from tests.install.live import LiveApp, eventually

pytestmark = pytest.mark.browser

SUPPORT = 1
DESIGN_REVIEWS = 2  # the seeded flow without a task
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"


def open_app(page: Page, sandbox: SandboxServer, user_id: int, lang: str = "en") -> FrameLocator:
    page.goto(f"{sandbox.portal_url}/?user={user_id}&lang={lang}")
    frame = page.frame_locator("#app-frame")
    expect(frame.locator("#fs-status")).not_to_be_empty()
    expect_settled(page)
    return frame


def expect_settled(page: Page) -> None:
    """Wait until the sections that load after the page have come and the portal has fitted
    the frame to them, so a test acts on the page a person would see. Clicks made while the
    page was still loading and being fitted twice left no trace in CI ("Add flow" at the
    bottom of the page, a switch over HTTPS), and were never reproduced here."""
    frame = page.frame_locator("#app-frame")
    expect(frame.locator("[aria-busy=true]")).to_have_count(0)
    height = frame.locator("body").evaluate("body => body.scrollHeight")  # what BX24.fitWindow() sends
    expect(page.locator("#app-frame")).to_have_attribute("data-fit-height", str(height))


def test_the_owner_switches_her_flow_off_and_on(
    page: Page, sandbox: SandboxServer, live_app: LiveApp
) -> None:
    frame = open_app(page, sandbox, data.OWNER)
    switch = frame.get_by_role("switch", name="Support requests")
    expect(switch).to_be_checked()

    switch.click()
    eventually(lambda: sandbox.flow(SUPPORT).active is False)
    expect(switch).not_to_be_checked()
    expect(frame.locator(f"#fs-alert-{SUPPORT}")).to_be_empty()

    switch.focus()
    page.keyboard.press("Space")  # the keyboard works too
    eventually(lambda: sandbox.flow(SUPPORT).active is True)
    expect(switch).to_be_checked()
    # No cookie anywhere: the frame session travels in a header.
    assert page.context.cookies(live_app.url) == []


def test_a_team_member_sees_the_flow_but_is_refused(
    page: Page, sandbox: SandboxServer, live_app: LiveApp
) -> None:
    frame = open_app(page, sandbox, data.MEMBER)
    switch = frame.get_by_role("switch", name="Support requests")
    expect(switch).to_be_checked()
    switch.click()
    alert = frame.locator(f"#fs-alert-{SUPPORT}")
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text("You don't have the right to switch this flow")
    # Bitrix24's own words beside the app's sentence, as the API quotes them.
    expect(alert.locator(".fs-quote")).to_have_text("Bitrix24 says: “Access denied or flow not found”")
    expect(switch).to_be_checked()  # back to the true state
    assert sandbox.flow(SUPPORT).active is True


def test_a_busy_portal_is_retried_by_the_page(page: Page, sandbox: SandboxServer, live_app: LiveApp) -> None:
    frame = open_app(page, sandbox, data.OWNER)
    switch = frame.get_by_role("switch", name="Support requests")
    # More refusals than the server's own retries: the first answer is "busy", then the page retries.
    sandbox.inject_rest_errors("QUERY_LIMIT_EXCEEDED", count=5)
    switch.click()
    alert = frame.locator(f"#fs-alert-{SUPPORT}")
    expect(alert).to_have_text("Bitrix24 is busy, retrying…")
    expect(alert).to_be_empty(timeout=15_000)
    expect(switch).not_to_be_checked()
    assert sandbox.flow(SUPPORT).active is False


def test_a_page_opened_while_bitrix24_is_busy_loads_its_flows_a_moment_later(
    page: Page, sandbox: SandboxServer, live_app: LiveApp
) -> None:
    sandbox.inject_rest_errors("QUERY_LIMIT_EXCEEDED", count=5)  # more than the server retries
    frame = open_app(page, sandbox, data.OWNER)
    expect(frame.locator("#fs-status")).to_have_text("Bitrix24 is busy, retrying…")
    expect(frame.get_by_role("switch", name="Support requests")).to_be_checked(timeout=15_000)


def test_the_outsider_does_not_see_the_flow(page: Page, sandbox: SandboxServer, live_app: LiveApp) -> None:
    frame = open_app(page, sandbox, data.OUTSIDER)
    expect(frame.get_by_role("switch")).to_have_count(0)
    expect(frame.get_by_text("Support requests")).to_have_count(0)
    expect(frame.locator("#fs-status")).to_contain_text("No flows yet")


def test_a_flow_name_with_html_shows_as_text(page: Page, sandbox: SandboxServer, live_app: LiveApp) -> None:
    frame = open_app(page, sandbox, data.OWNER)
    expect(frame.get_by_role("switch", name=data.HTML_FLOW_NAME)).to_have_count(1)
    expect(frame.locator("#fs-list b")).to_have_count(0)
    expect(frame.locator("#fs-list script")).to_have_count(0)


def test_a_flow_new_to_the_app_shows_at_once_where_the_portal_lists_flows(
    page: Page, sandbox: SandboxServer, live_app: LiveApp, redis_db: redis.Redis
) -> None:
    new_flow = sandbox.add_flow("Hiring pipeline", owner_id=data.ADMIN)  # no task, never discovered
    frame = open_app(page, sandbox, data.ADMIN)
    expect(frame.get_by_role("switch", name="Hiring pipeline")).to_be_checked()
    assert new_flow in known_flows.known_ids(redis_db, sandbox.member_id)
    assert sandbox.calls(flows.GET) == 0  # the list said it all


def test_a_missing_flow_is_added_by_pasting_its_link(
    page: Page, sandbox: SandboxServer, live_app: LiveApp, redis_db: redis.Redis
) -> None:
    sandbox.settings.flow_list_method = False  # an older portal: the page shows the known flows only
    redis_db.srem(known_flows.flows_key(sandbox.member_id), DESIGN_REVIEWS)
    frame = open_app(page, sandbox, data.OWNER)
    expect(frame.get_by_role("switch", name="Design reviews")).to_have_count(0)
    frame.get_by_label("Flow number or link to the flow in Bitrix24").fill(
        flows.flow_url(sandbox.portal_url, data.OWNER, DESIGN_REVIEWS)
    )
    frame.get_by_role("button", name="Add flow").click()
    expect(frame.locator("#fs-add-alert")).to_have_text("Flow “Design reviews” added.")
    expect(frame.get_by_role("switch", name="Design reviews")).to_be_checked()
    # The portal frame grew with the page.
    height = int(page.locator("#app-frame").get_attribute("data-fit-height") or 0)
    assert height >= frame.locator("body").evaluate("body => body.scrollHeight")


def test_an_admin_searches_bitrix24_for_flows_again(
    page: Page, sandbox: SandboxServer, live_app: LiveApp, redis_db: redis.Redis
) -> None:
    sandbox.settings.flow_list_method = False  # an older portal: the page shows the known flows only
    new_flow = sandbox.add_flow("Hiring pipeline", owner_id=data.ADMIN)
    frame = open_app(page, sandbox, data.ADMIN)
    expect(frame.get_by_role("switch", name="Hiring pipeline")).to_have_count(0)
    frame.get_by_role("button", name="Search Bitrix24 for flows again").click()
    expect(frame.get_by_role("switch", name="Hiring pipeline")).to_be_checked(timeout=10_000)
    assert new_flow in known_flows.known_ids(redis_db, sandbox.member_id)


def test_search_and_filters(page: Page, sandbox: SandboxServer, live_app: LiveApp) -> None:
    frame = open_app(page, sandbox, data.OWNER)
    switches = frame.locator("#fs-list .fs-flow:not([hidden]) [role=switch]")
    expect(switches).to_have_count(6)
    frame.get_by_label("Search").fill("support")
    expect(switches).to_have_count(1)
    frame.get_by_label("Search").fill("")
    frame.get_by_role("radio", name="Off").check()
    expect(switches).to_have_count(1)  # "Archived onboarding"
    frame.get_by_role("radio", name="Mine").check()
    expect(switches).to_have_count(5)  # OWNER's own flows, not ADMIN's budget flow
    expect(frame.locator("#fs-status")).to_have_text("Flows shown: 5 of 6")


@pytest.mark.parametrize(
    ("lang", "title", "on"),
    [("en", "Task flows", "On"), ("ru", "Потоки задач", "Вкл."), ("de", "Aufgaben-Flows", "An")],
)
def test_the_page_renders_in_each_language_fits_and_never_scrolls_sideways(
    page: Page, sandbox: SandboxServer, live_app: LiveApp, lang: str, title: str, on: str
) -> None:
    frame = open_app(page, sandbox, data.OWNER, lang=lang)
    expect(frame.locator("html")).to_have_attribute("lang", lang)
    expect(frame.get_by_role("heading", level=1)).to_have_text(title)
    row = frame.locator(".fs-flow", has=frame.locator(f"#fs-name-{SUPPORT}"))
    expect(row.locator(".fs-switch__state")).to_have_text(on)
    # BX24.fitWindow() told the portal the page's height.
    expect(page.locator("#app-frame")).not_to_have_attribute("data-fit-height", "")
    widths = frame.locator("html").evaluate(
        "el => [el.scrollWidth, el.clientWidth, document.body.scrollWidth, window.innerWidth]"
    )
    assert widths[0] <= widths[1] and widths[2] <= widths[3], widths
    if lang == "en" and os.environ.get("UPDATE_SCREENSHOT"):
        page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_a_page_whose_tokens_died_reopens_through_the_portal(
    page: Page, sandbox: SandboxServer, live_app: LiveApp, redis_db: redis.Redis
) -> None:
    page.clock.install()  # the page's clock, moved instead of waited for
    frame = open_app(page, sandbox, data.OWNER)
    switch = frame.get_by_role("switch", name="Support requests")
    expect(switch).to_be_checked()
    page.clock.fast_forward(6000)  # only a page open for a while reopens itself (no loops)
    # The stored pair is gone (e.g. its refresh token was burned by a worker killed mid-refresh).
    redis_db.delete(f"fs:{{{sandbox.member_id}}}:user:{data.OWNER}")
    with page.expect_navigation(timeout=10_000):  # BX24.reloadWindow(): the portal posts the frame anew
        switch.click()
    switch = page.frame_locator("#app-frame").get_by_role("switch", name="Support requests")
    expect(switch).to_be_checked()
    expect_settled(page)
    switch.click()
    eventually(lambda: sandbox.flow(SUPPORT).active is False)
