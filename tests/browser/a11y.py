"""Checks that a page works for everyone, for the browser tests of any screen of the app.

- ``assert_no_axe_violations(frame)``: axe-core (``axe-playwright-python``) finds nothing.
- ``assert_keyboard_reaches_everything(page, frame, start)``: every action is a tab stop with a
  visible focus indicator (pixels around it change when it gains focus; ``tab_through``).
- ``assert_dialog_keeps_and_returns_focus(page, frame, opener, dialog)``: a modal dialog
  opened from ``opener`` keeps Tab and Shift+Tab inside, closes on Escape, and gives focus back.
- ``assert_dialog_works_for_everyone(page, frame, opener, dialog, *also)``: that, axe over the open
  dialog (and ``also``), and the layout at 320 and 1280 px.
- ``set_frame_width(page, frame, px)`` and ``layout_problems(frame)``: the frame as a narrow
  window beside the portal's menu; what overflows it and which words break in the middle.

The app runs inside the sandbox portal's ``#app-frame`` (another site: a real cross-site frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Frame, Locator, Page, expect

_AXE = Axe()

#: what a person can reach with Tab (radio groups count once: arrows move inside them)
INTERACTIVE = (
    "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), "
    "select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])"
)


def app_frame(page: Page) -> Frame:
    """The app's document inside the portal page."""
    handle = page.locator("#app-frame").element_handle()
    assert handle is not None
    frame = handle.content_frame()
    assert frame is not None
    return frame


def assert_no_axe_violations(frame: Frame, context: Any = None) -> None:
    """axe-core over the frame's document (or ``context``, a selector) reports no violation."""
    found = _AXE.run(frame, context=context).response["violations"]
    described = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}" for v in found
    ]
    assert described == [], "\n".join(described)


# --- the keyboard --------------------------------------------------------------------------

# How both lists below name an element, so that they can be compared.
_LABEL = (
    "const label = (el) => (el.getAttribute('aria-label') || (el.labels && el.labels[0] ? el.labels[0].textContent"
    " : '') || el.textContent || el.name || el.id || '').trim().replace(/\\s+/g, ' ');"
)

_ACTIVE = "() => {" + _LABEL + """
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  // An input drawn by its label (a switch, a filter pill) shows focus on what is drawn.
  const seen = getComputedStyle(el).opacity === "0" && el.closest("label") ? el.closest("label") : el;
  const box = seen.getBoundingClientRect();
  const path = [];
  for (let node = el; node && node !== document.body; node = node.parentElement) {
    const same = [...node.parentElement.children].filter((c) => c.tagName === node.tagName);
    path.unshift(`${node.tagName.toLowerCase()}:nth-of-type(${same.indexOf(node) + 1})`);
  }
  return {
    key: path.join(" > "),
    label: label(el),
    radio: el.type === "radio" ? el.name : "",
    box: [box.left, box.top, box.width, box.height],
  };
}"""

_REACHABLE = "(selector) => {" + _LABEL + """
  return [...document.querySelectorAll(selector)]
    .filter((el) => !el.closest("[hidden], dialog:not([open])") && el.getClientRects().length > 0)
    .map((el) => ({ label: label(el), radio: el.type === "radio" ? el.name : "" }));
}"""


@dataclass
class Stop:
    key: str  # where it is in the document
    label: str
    radio: str  # the group's name for a radio button
    focus_visible: bool


def _clip(page: Page, frame: Frame, box: list[float], margin: float = 5) -> dict[str, float]:
    origin = page.locator("#app-frame").bounding_box()
    assert origin is not None
    return {
        "x": max(0.0, origin["x"] + box[0] - margin),
        "y": max(0.0, origin["y"] + box[1] - margin),
        "width": box[2] + 2 * margin,
        "height": box[3] + 2 * margin,
    }


def tab_through(page: Page, frame: Frame, start: Locator, limit: int = 200) -> list[Stop]:
    """Every tab stop after ``start`` (clicked first) until focus leaves the frame.

    Focus visibility is judged by pixels: each stop's surroundings with focus, then again
    once the keyboard has moved on, must differ. Keep the viewport tall enough that nothing
    scrolls between the two pictures.
    """
    start.click()
    pictures: list[tuple[dict[str, Any], bytes, dict[str, float]]] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        active = frame.evaluate(_ACTIVE)
        if active is None or not frame.evaluate("() => document.hasFocus()"):
            break
        clip = _clip(page, frame, active["box"])
        pictures.append((active, page.screenshot(clip=clip), clip))
    else:
        raise AssertionError(f"more than {limit} tab stops: is focus trapped?")
    start.click()  # nothing focused: the same places without a focus indicator
    return [
        Stop(a["key"], a["label"], a["radio"], focus_visible=shot != page.screenshot(clip=clip))
        for a, shot, clip in pictures
    ]


def unreachable(frame: Frame, stops: list[Stop]) -> list[str]:
    """Interactive elements shown in the frame that no tab stop reached (a radio group once)."""
    reached = {stop.label for stop in stops} | {f"radio:{stop.radio}" for stop in stops if stop.radio}
    shown = frame.evaluate(_REACHABLE, INTERACTIVE)
    return sorted(
        {item["label"] for item in shown if not item["radio"] and item["label"] not in reached}
        | {f"radio:{item['radio']}" for item in shown if item["radio"] and f"radio:{item['radio']}" not in reached}
    )


def assert_keyboard_reaches_everything(page: Page, frame: Frame, start: Locator) -> set[str]:
    """Every action shown after ``start`` is a tab stop, each with a visible focus; their names."""
    stops = tab_through(page, frame, start)
    assert [stop.label for stop in stops if not stop.focus_visible] == [], "tab stops without a visible focus"
    assert unreachable(frame, stops) == [], "actions the keyboard cannot reach"
    return {stop.label for stop in stops}


def assert_dialog_keeps_and_returns_focus(page: Page, frame: Frame, opener: Locator, dialog: str) -> None:
    """``opener`` (a button) opens the modal ``dialog`` (a selector) from the keyboard; Tab and
    Shift+Tab stay inside it; Escape closes it and focus is back on ``opener``."""
    opener.focus()
    page.keyboard.press("Enter")
    expect(frame.locator(dialog)).to_be_visible()
    inside = f"() => !!document.activeElement && !!document.activeElement.closest({dialog!r})"
    assert frame.evaluate(inside), "focus moves into the dialog"
    stops = frame.locator(dialog).locator(INTERACTIVE).count()
    for key in ["Tab"] * (stops + 2) + ["Shift+Tab"] * (stops + 2):
        page.keyboard.press(key)
        assert frame.evaluate(inside), f"focus left the dialog after {key}"
    page.keyboard.press("Escape")
    expect(frame.locator(dialog)).to_be_hidden()
    expect(opener).to_be_focused()


def assert_dialog_works_for_everyone(page: Page, frame: Frame, opener: Locator, dialog: str, *also: str) -> None:
    """The checks every dialog passes: it keeps and returns focus; axe finds nothing in it (nor in
    the ``also`` selectors) while it is open; the page has no layout problem at 320 and 1280 px."""
    assert_dialog_keeps_and_returns_focus(page, frame, opener, dialog)
    opener.click()
    expect(frame.locator(dialog)).to_be_visible()
    assert_no_axe_violations(frame, context={"include": [[dialog], *([selector] for selector in also)]})
    page.keyboard.press("Escape")
    for width in (320, 1280):  # a narrow window beside the portal's menu, and a wide one
        set_frame_width(page, frame, width)
        assert layout_problems(frame) == []


# --- narrow frames ---------------------------------------------------------------------------


def set_frame_width(page: Page, frame: Frame, width: int) -> None:
    """The portal shows the app ``width`` CSS pixels wide (its menu and a narrow window around it)."""
    page.locator("#app-frame").evaluate("(el, w) => { el.style.width = w + 'px'; }", width)
    page.wait_for_function(
        "([el, w]) => el.contentWindow && el.getBoundingClientRect().width === w",
        arg=[page.locator("#app-frame").element_handle(), width],
    )
    frame.wait_for_function("w => window.innerWidth === w", arg=width)


_LAYOUT = """() => {
  const problems = [];
  const width = document.documentElement.clientWidth;
  const shown = (el) => !el.closest("[hidden], dialog:not([open]), template") && el.getClientRects().length > 0;
  for (const el of document.querySelectorAll("body *")) {
    if (!shown(el) || getComputedStyle(el).opacity === "0") continue;
    const box = el.getBoundingClientRect();
    if (box.width && (box.left < -0.5 || box.right > width + 0.5)) {
      problems.push(`overflows: <${el.tagName.toLowerCase()} class="${el.className}"> ${Math.round(box.left)}..${Math.round(box.right)} of ${width}`);
    }
    if ((el.tagName === "INPUT" || el.tagName === "SELECT") && el.scrollWidth > el.clientWidth + 1 && el.type !== "date") {
      problems.push(`content wider than <${el.tagName.toLowerCase()} id="${el.id}">`);
    }
  }
  // A word (as the language's word segmenter sees it) may break only when it is wider than its box.
  const words = new Intl.Segmenter(document.documentElement.lang, { granularity: "word" });
  const canvas = document.createElement("canvas").getContext("2d");
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!el || !shown(el) || ["SCRIPT", "STYLE", "OPTION"].includes(el.tagName)) continue;
    let block = el;
    while (getComputedStyle(block).display.startsWith("inline")) block = block.parentElement;
    const style = getComputedStyle(block);
    const room = block.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    canvas.font = getComputedStyle(el).font;
    for (const word of words.segment(node.data)) {
      if (!word.isWordLike) continue;
      range.setStart(node, word.index);
      range.setEnd(node, word.index + word.segment.length);
      const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
      if (lines.size > 1 && canvas.measureText(word.segment).width <= room) {
        problems.push(`"${word.segment}" breaks inside in <${el.tagName.toLowerCase()} class="${el.className}"> (${Math.round(room)} px)`);
      }
    }
  }
  return problems;
}"""


def layout_problems(frame: Frame) -> list[str]:
    """What overflows the frame's width, and words broken although they would fit on a line."""
    return frame.evaluate(_LAYOUT)
