"""A page for every screen and every user: axe-core, the keyboard alone, narrow frames (issue 9.3),
and the small things people met (9.4), in headless Chromium inside the sandbox portal."""

from __future__ import annotations

import pytest
import redis
from playwright.sync_api import Browser, FrameLocator, Page, expect

from sandbox import data
from sandbox.server import SandboxServer
from services import flows, known_flows
from tests.browser.a11y import (
    app_frame,
    assert_dialog_keeps_and_returns_focus,
    assert_keyboard_reaches_everything,
    assert_no_axe_violations,
    layout_problems,
    set_frame_width,
)
from tests.browser.test_flows_in_portal import SUPPORT, open_app
from tests.install.live import LiveApp, eventually

LANGUAGES = ["en", "ru", "de"]
PAUSE_SELECTED = {"en": "Pause selected", "ru": "Приостановить выбранные", "de": "Ausgewählte pausieren"}
ACTIVITY = {"en": "Activity", "ru": "Журнал", "de": "Verlauf"}
WIDTHS = [200, 220, 240, 280, 320, 360, 400, 480, 560, 640, 768, 1024]


@pytest.fixture
def tall_page(chromium: Browser) -> Page:
    """Tall enough that the fitted frame never scrolls (focus pictures stay in place)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 2400})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []


@pytest.fixture(params=LANGUAGES)
def lang(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def olegs_page(tall_page: Page, sandbox: SandboxServer, live_app: LiveApp, redis_db: redis.Redis, lang: str):
    """Oleg's page in ``lang``, with flows whose names test the wrapping: long words, long sentences."""
    ids = [
        sandbox.add_flow(
            "Quarterly procurement approvals for regional subsidiaries and their contractors",
            owner_id=data.OWNER,
            description="Requests above the threshold go to the committee before the end of the month",
        ),
        sandbox.add_flow("Rechnungsfreigabeverfahren der Tochtergesellschaften", owner_id=data.OWNER),
        sandbox.add_flow("Согласование закупок региональных подразделений", owner_id=data.OWNER),
    ]
    known_flows.remember(redis_db, sandbox.member_id, ids)
    return open_app(tall_page, sandbox, data.OWNER, lang=lang)


def activity_entries(sandbox: SandboxServer, frame: FrameLocator) -> None:
    """A change in the log."""
    frame.get_by_role("switch", name="Support requests").click()
    eventually(lambda: sandbox.flow(SUPPORT).active is False)


def admins_activity_view(page: Page, sandbox: SandboxServer) -> FrameLocator:
    """Anna's Activity section (the user filter too), with one entry."""
    frame = open_app(page, sandbox, data.ADMIN)
    activity_entries(sandbox, frame)
    frame.get_by_role("link", name="Activity").click()
    expect(frame.locator("#fs-activity-list .fs-entry")).to_have_count(1)
    return frame


# --- axe-core --------------------------------------------------------------------------------


def test_axe_finds_nothing_on_the_flows_page_the_dialog_and_the_activity_view(
    tall_page: Page, sandbox: SandboxServer, olegs_page: FrameLocator, lang: str
) -> None:
    frame = olegs_page
    document = app_frame(tall_page)
    assert_no_axe_violations(document)

    frame.locator(".fs-select__input").first.check()
    frame.get_by_role("button", name=PAUSE_SELECTED[lang]).click()
    expect(frame.get_by_role("dialog")).to_be_visible()
    assert_no_axe_violations(document)
    tall_page.keyboard.press("Escape")

    activity_entries(sandbox, frame)
    frame.get_by_role("link", name=ACTIVITY[lang]).click()
    expect(frame.locator("#fs-activity-list .fs-entry")).to_have_count(1)
    assert_no_axe_violations(document)


def test_axe_finds_nothing_in_an_administrators_activity_view(
    tall_page: Page, sandbox: SandboxServer, live_app: LiveApp
) -> None:
    frame = admins_activity_view(tall_page, sandbox)
    expect(frame.get_by_label("User")).to_be_visible()
    assert_no_axe_violations(app_frame(tall_page))


# --- the keyboard alone ----------------------------------------------------------------------


def test_every_action_on_the_flows_page_is_reachable_with_visible_focus(
    tall_page: Page, sandbox: SandboxServer, live_app: LiveApp
) -> None:
    frame = open_app(tall_page, sandbox, data.ADMIN)  # the admin also has "search again"
    frame.get_by_role("checkbox", name="Select Support requests").check()  # the bulk buttons are live
    labels = assert_keyboard_reaches_everything(tall_page, app_frame(tall_page), frame.locator("h1"))
    assert {"Flows", "Activity", "Search", "Select all shown", "Pause selected", "Resume selected",
            "Select Support requests", "Add flow", "Search Bitrix24 for flows again"} <= labels


def test_every_action_of_the_activity_view_is_reachable_with_visible_focus(
    tall_page: Page, sandbox: SandboxServer, live_app: LiveApp
) -> None:
    frame = admins_activity_view(tall_page, sandbox)
    labels = assert_keyboard_reaches_everything(tall_page, app_frame(tall_page), frame.locator("h1"))
    assert {"Flows", "Flow", "User", "Since", "Until", "Apply", "Download CSV"} <= labels


def test_the_keyboard_alone_pauses_selected_flows(tall_page: Page, sandbox: SandboxServer, live_app: LiveApp) -> None:
    frame = open_app(tall_page, sandbox, data.OWNER)
    box = frame.get_by_role("checkbox", name="Select Support requests")
    box.focus()
    tall_page.keyboard.press("Space")
    expect(box).to_be_checked()
    opener = frame.get_by_role("button", name="Pause selected")
    opener.focus()
    tall_page.keyboard.press("Enter")
    expect(frame.get_by_role("button", name="Cancel")).to_be_focused()  # the safe default
    tall_page.keyboard.press("Shift+Tab")
    expect(frame.get_by_role("button", name="Pause", exact=True)).to_be_focused()
    tall_page.keyboard.press("Enter")
    expect(frame.locator("#fs-bulk-summary")).to_have_text("1 paused")
    expect(opener).to_be_focused()  # back where the person was
    assert sandbox.flow(SUPPORT).active is False


def test_the_dialog_keeps_and_returns_focus(tall_page: Page, sandbox: SandboxServer, live_app: LiveApp) -> None:
    frame = open_app(tall_page, sandbox, data.OWNER)
    frame.get_by_role("checkbox", name="Select Support requests").check()
    assert_dialog_keeps_and_returns_focus(
        tall_page, app_frame(tall_page), frame.get_by_role("button", name="Resume selected"), "#fs-bulk-dialog"
    )


# --- narrow frames -----------------------------------------------------------------------------


def test_from_200_px_up_nothing_overflows_and_words_wrap_between_words(
    tall_page: Page, olegs_page: FrameLocator, lang: str
) -> None:
    frame = olegs_page
    quarterly = frame.get_by_role("switch", name="Quarterly procurement approvals", exact=False)
    quarterly.click()
    expect(quarterly).not_to_be_checked()
    frame.get_by_role("switch", name="Budget approvals").click()  # refused: the entry quotes Bitrix24
    expect(frame.locator("#fs-alert-6")).not_to_be_empty()
    frame.locator(".fs-select__input").first.check()
    document = app_frame(tall_page)
    flows_view, activity_view, dialog = (frame.locator(s) for s in ("#fs-flows-view", "#fs-activity", "#fs-bulk-dialog"))
    problems: dict[str, list[str]] = {}
    for width in WIDTHS:
        set_frame_width(tall_page, document, width)
        problems[f"flows {width}"] = layout_problems(document)
        frame.get_by_role("button", name=PAUSE_SELECTED[lang]).click()
        expect(dialog).to_be_visible()
        problems[f"dialog {width}"] = layout_problems(document)
        tall_page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        frame.get_by_role("link", name=ACTIVITY[lang]).click()
        expect(activity_view.locator(".fs-entry")).to_have_count(2)
        problems[f"activity {width}"] = layout_problems(document)
        frame.locator(".fs-views__link").first.click()
        expect(flows_view).to_be_visible()
    assert {where: found for where, found in problems.items() if found} == {}


# --- small things people met (9.4) ----------------------------------------------------------------


def test_the_mine_filter_with_nothing_in_it_says_so(page: Page, sandbox: SandboxServer, live_app: LiveApp) -> None:
    frame = open_app(page, sandbox, data.MEMBER)  # sees flows 1-5, owns none
    status = frame.locator("#fs-status")
    frame.get_by_role("radio", name="Mine").check()
    expect(status).to_have_text("None of these flows is yours: you neither created nor administer any of them.")
    frame.get_by_label("Search").fill("zzz")
    expect(status).to_have_text("No flows match your search.")  # only when something was typed
    frame.get_by_label("Search").fill("")
    frame.get_by_role("radio", name="Off").check()
    expect(status).to_have_text("Flows shown: 1 of 5")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_flows_administrator_has_one_name_in_each_language(
    page: Page, sandbox: SandboxServer, live_app: LiveApp, lang: str
) -> None:
    term = {"en": "Administrator", "ru": "Администратор", "de": "Administrator"}[lang]
    frame = open_app(page, sandbox, data.OWNER, lang=lang)
    expect(frame.locator(".fs-flow__owner").first).to_have_text(f"{term}: Oleg Owner")
    placeholder = frame.get_by_role("searchbox").get_attribute("placeholder") or ""
    assert term.lower() in placeholder.lower()


def add(frame: FrameLocator, ref: str) -> None:
    """Type ``ref`` into the "Missing a flow?" field and press "Add flow"."""
    frame.get_by_label("Flow number or link to the flow in Bitrix24").fill(ref)
    frame.get_by_role("button", name="Add flow").click()


def test_a_flow_is_added_by_hash_number_or_by_a_link_without_https(
    page: Page, sandbox: SandboxServer, live_app: LiveApp, redis_db: redis.Redis
) -> None:
    sandbox.settings.flow_list_method = False  # an older portal: the page shows the known flows only
    redis_db.srem(known_flows.flows_key(sandbox.member_id), 2, 4)
    frame = open_app(page, sandbox, data.OWNER)
    answer = frame.locator("#fs-add-alert")
    add(frame, "#2")
    expect(answer).to_have_text("Flow “Design reviews” added.")
    add(frame, flows.flow_url(sandbox.portal_url, data.OWNER, 4).removeprefix("http://"))
    expect(answer).to_have_text("Flow “Поток продаж” added.")
    expect(frame.get_by_role("switch", name="Поток продаж")).to_be_checked()


def test_submitting_the_empty_add_field_replaces_the_previous_message(
    page: Page, sandbox: SandboxServer, live_app: LiveApp
) -> None:
    frame = open_app(page, sandbox, data.OWNER)
    answer = frame.locator("#fs-add-alert")
    add(frame, "#1")
    expect(answer).to_have_text("Flow “Support requests” is already in the list.")
    add(frame, "   ")
    expect(answer).to_have_text("Type a flow number or paste a link to a flow first.")
    expect(frame.get_by_label("Flow number or link to the flow in Bitrix24")).to_be_focused()
