"""The portal page: the iframe and its auto-submitted form, switchers, install states, bx24.js."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import requests

from sandbox.data import ADMIN, MEMBER, OWNER
from sandbox.flow_texts import LANGUAGES
from sandbox.frames import NOT_FULLY_INSTALLED


class PageParser(HTMLParser):
    """Collects the app form, its hidden inputs and the iframe of the portal page."""

    def __init__(self) -> None:
        super().__init__()
        self.form: dict[str, str] | None = None
        self.fields: dict[str, str] = {}
        self.iframe: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form" and attributes.get("id") == "app-form":
            self.form = attributes
        elif tag == "input" and self.form is not None and attributes.get("type") == "hidden":
            self.fields[attributes["name"]] = attributes["value"]
        elif tag == "iframe":
            self.iframe = attributes


def open_page(sandbox, user: int, lang: str = "en") -> tuple[requests.Response, PageParser]:
    page = requests.get(f"{sandbox.portal_url}/", params={"user": user, "lang": lang}, timeout=10)
    parsed = PageParser()
    parsed.feed(page.text)
    return page, parsed


def test_page_posts_the_documented_frame_fields_into_a_named_iframe(sandbox):
    page, parsed = open_page(sandbox, MEMBER, "de")
    assert page.status_code == 200 and urlsplit(page.url).path == "/marketplace/app/flow-switch/"
    assert parsed.form is not None and parsed.iframe is not None
    assert parsed.form["method"] == "post" and parsed.form["target"] == parsed.iframe["name"]
    domain, protocol, app_sid = parsed.iframe["name"].split("|")
    assert (domain, protocol) == (sandbox.domain, "0") and len(app_sid) == 32
    action = urlsplit(parsed.form["action"])
    assert f"{action.scheme}://{action.netloc}{action.path}" == sandbox.app.app_url
    assert {k: v[0] for k, v in parse_qs(action.query).items()} == {
        "DOMAIN": sandbox.domain,
        "PROTOCOL": "0",
        "LANG": "de",
        "APP_SID": app_sid,
    }
    fields = parsed.fields
    assert set(fields) == {
        "AUTH_ID",
        "AUTH_EXPIRES",
        "REFRESH_ID",
        "SERVER_ENDPOINT",
        "APPLICATION_TOKEN",
        "APPLICATION_SCOPE",
        "member_id",
        "status",
        "PLACEMENT",
    }
    assert fields["AUTH_EXPIRES"] == "3600" and fields["PLACEMENT"] == "DEFAULT"
    assert fields["SERVER_ENDPOINT"] == sandbox.server_endpoint and fields["member_id"] == sandbox.member_id
    assert fields["APPLICATION_TOKEN"] == sandbox.application_token and fields["status"] == "L"
    who = requests.post(
        sandbox.client_endpoint + "user.current", data={"auth": fields["AUTH_ID"]}, timeout=10
    )
    assert who.json()["result"]["ID"] == str(MEMBER)
    assert "Maria Member" in page.text and 'id="uninstall-app"' not in page.text


def test_each_load_issues_a_fresh_pair(sandbox):
    first, second = open_page(sandbox, OWNER)[1].fields, open_page(sandbox, OWNER)[1].fields
    assert first["AUTH_ID"] != second["AUTH_ID"] and first["REFRESH_ID"] != second["REFRESH_ID"]


def test_switchers_remember_user_and_language(sandbox):
    with requests.Session() as browser:
        browser.post(f"{sandbox.portal_url}/_sandbox/switch", data={"user": OWNER, "lang": "ru"}, timeout=10)
        parsed = PageParser()
        parsed.feed(browser.get(f"{sandbox.portal_url}/", timeout=10).text)
    assert "LANG=ru" in parsed.form["action"]
    assert sandbox.settings.language == "ru"
    who = requests.post(
        sandbox.client_endpoint + "user.current", data={"auth": parsed.fields["AUTH_ID"]}, timeout=10
    )
    assert who.json()["result"]["ID"] == str(OWNER)


def test_language_switcher_offers_every_language_with_flow_texts(sandbox):
    page = requests.get(f"{sandbox.portal_url}/", params={"user": ADMIN, "lang": "br"}, timeout=10).text
    switcher = page[page.index('id="lang-switch"') : page.index("</select>", page.index('id="lang-switch"'))]
    offered = [part.split('"')[1] for part in switcher.split("<option value=")[1:]]
    assert offered == list(LANGUAGES) and len(offered) >= 12
    assert '<option value="br" selected>' in switcher and sandbox.settings.language == "br"


def test_installer_for_admins_message_for_others_while_installing(sandbox):
    sandbox.register_app("local.fresh", "s", "http://localhost:5000/", "http://localhost:5000/install", "")
    page, admin = open_page(sandbox, ADMIN)
    assert admin.form["action"].startswith("http://localhost:5000/install?")
    assert "pending" in page.text
    member_page, member = open_page(sandbox, MEMBER)
    assert member.form is None and member.iframe is None
    assert NOT_FULLY_INSTALLED in member_page.text


def test_frame_post_matches_the_page(sandbox):
    url, form = sandbox.frame_post(MEMBER, lang="ru")
    assert url.startswith(sandbox.app.app_url + "?") and "LANG=ru" in url
    assert form["PLACEMENT"] == "DEFAULT" and "PLACEMENT_OPTIONS" not in form
    sandbox.world.app_options["x"] = 1
    token = sandbox.issue_tokens(ADMIN)["access_token"]
    widget = {"auth": token, "PLACEMENT": "TASK_VIEW_TAB", "HANDLER": "http://localhost:5000/tab"}
    requests.post(sandbox.client_endpoint + "placement.bind", json=widget, timeout=10)
    tab_url, tab = sandbox.frame_post(MEMBER, placement="TASK_VIEW_TAB", placement_options={"taskId": "1"})
    assert tab_url.startswith("http://localhost:5000/tab?") and tab["PLACEMENT_OPTIONS"] == '{"taskId": "1"}'


def test_uninstall_and_install_buttons(sandbox):
    with requests.Session() as admin:
        admin.post(f"{sandbox.portal_url}/_sandbox/uninstall", data={"user": ADMIN, "clean": "1"}, timeout=10)
        assert sandbox.install_state == "absent"
        page = admin.get(f"{sandbox.portal_url}/", timeout=10).text
        assert 'id="install-app"' in page and 'id="app-frame"' not in page
        admin.post(f"{sandbox.portal_url}/_sandbox/install", timeout=10)
    assert sandbox.install_state == "pending"


def test_bx24_js_is_served(sandbox):
    script = requests.get(f"{sandbox.portal_url}/bx24.js", timeout=10)
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"]
    for api in (
        "installFinish",
        "fitWindow",
        "resizeWindow",
        "getAuth",
        "refreshAuth",
        "isAdmin",
        "getInitData",
    ):
        assert api in script.text


def test_flow_link_page_escapes_names(sandbox):
    page = requests.get(
        f"{sandbox.portal_url}/company/personal/user/1/tasks/flow/", params={"ID_from": 3}, timeout=10
    ).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert 'data-flow-id="3"' in page and 'data-flow-id="1"' not in page
