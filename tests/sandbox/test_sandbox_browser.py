"""The portal page in headless Chromium: the auto-POST lands in a cross-site iframe and bx24.js talks back."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Error, Page
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from sandbox.data import ADMIN, MEMBER
from sandbox.server import SandboxServer
from sandbox.tls import CertFiles

pytestmark = pytest.mark.browser

# The test app's page: tall content, then BX24.init; the installer finishes the install, the app fits.
PAGE = """<!doctype html><html><body>
<pre id="received">{received}</pre><pre id="bx24"></pre><div style="height:900px">content</div>
<script src="{portal}/bx24.js"></script>
<script>
BX24.init(function () {{
  document.getElementById("bx24").textContent = JSON.stringify({{
    auth: BX24.getAuth(), admin: BX24.isAdmin(), lang: BX24.getLang(),
    domain: BX24.getDomain(), placement: BX24.placement.info()
  }});
  {action}
}});
</script></body></html>"""


class FramedApp:
    """A stand-in app on http(s)://localhost:<port> (another site than the portal's 127.x address)."""

    def __init__(self, portal_url: str, tls: CertFiles | None = None) -> None:
        self.portal_url = portal_url
        self.posts: list[dict[str, Any]] = []
        context = None if tls is None else (str(tls.cert), str(tls.key))
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, ssl_context=context)
        self.url = f"{'http' if tls is None else 'https'}://localhost:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def _wsgi(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        received = {
            "method": request.method,
            "path": request.path,
            "args": request.args.to_dict(),
            "form": request.form.to_dict(),
        }
        self.posts.append(received)
        action = "BX24.installFinish();" if request.path == "/install" else "BX24.fitWindow();"
        if request.path == "/events":
            return Response("OK")(environ, start_response)
        html = PAGE.format(received=json.dumps(received), portal=self.portal_url, action=action)
        return Response(html, content_type="text/html")(environ, start_response)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def framed_app(sandbox) -> Iterator[FramedApp]:
    app = FramedApp(sandbox.portal_url)
    yield app
    app.stop()


@pytest.fixture
def tls_framed_app(https_sandbox, app_tls_cert) -> Iterator[FramedApp]:
    app = FramedApp(https_sandbox.portal_url, tls=app_tls_cert)
    yield app
    app.stop()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context()
    yield context.new_page()
    context.close()


def frame_json(page: Page, selector: str) -> dict[str, Any]:
    frame = page.frame_locator("#app-frame")
    frame.locator(selector).filter(has_text="{").wait_for(timeout=10_000)
    return json.loads(frame.locator(selector).text_content())


def test_auto_post_lands_in_the_cross_site_iframe(sandbox, framed_app, page):
    sandbox.register_app(
        "local.browser", "s", f"{framed_app.url}/", f"{framed_app.url}/install", "", installed=True
    )
    page.goto(f"{sandbox.portal_url}/?user={MEMBER}&lang=de")
    received = frame_json(page, "#received")
    assert received["method"] == "POST" and received["path"] == "/"
    assert received["args"]["DOMAIN"] == sandbox.domain and received["args"]["LANG"] == "de"
    assert received["form"]["member_id"] == sandbox.member_id and received["form"]["PLACEMENT"] == "DEFAULT"
    bx24 = frame_json(page, "#bx24")
    assert bx24["auth"]["access_token"] == received["form"]["AUTH_ID"]
    assert bx24["admin"] is False and bx24["lang"] == "de" and bx24["domain"] == sandbox.domain
    assert bx24["placement"] == {"placement": "DEFAULT", "options": {}}
    iframe = page.locator("#app-frame")
    page.wait_for_function("document.getElementById('app-frame').dataset.fitHeight > 900", timeout=10_000)
    assert int(iframe.get_attribute("data-fit-height")) > 900
    assert [f.url.split("?")[0] for f in page.frames[1:]] == [f"{framed_app.url}/"]
    refreshed = page.frames[1].evaluate("new Promise(done => BX24.refreshAuth(done))")
    assert refreshed["access_token"] != bx24["auth"]["access_token"]
    who = requests.post(
        sandbox.client_endpoint + "user.current", data={"auth": refreshed["access_token"]}, timeout=10
    )
    assert who.json()["result"]["ID"] == str(MEMBER)
    cross_site = "() => { try { return !document.getElementById('app-frame').contentWindow.document; }"
    assert page.evaluate(cross_site + " catch (error) { return error.name; } }") == "SecurityError"


def test_install_finish_installs_sends_onappinstall_and_reloads_the_app(sandbox, framed_app, page):
    sandbox.register_app("local.browser", "s", f"{framed_app.url}/", f"{framed_app.url}/install", "")
    admin_token = sandbox.issue_tokens(ADMIN)["access_token"]
    requests.post(
        sandbox.client_endpoint + "event.bind",
        json={"auth": admin_token, "event": "ONAPPINSTALL", "handler": f"{framed_app.url}/events"},
        timeout=10,
    )
    page.goto(f"{sandbox.portal_url}/?user={ADMIN}")
    page.wait_for_function("document.getElementById('app-frame').dataset.fitHeight > 0", timeout=10_000)
    assert sandbox.install_state == "installed"
    assert [d.event for d in sandbox.events_delivered] == ["ONAPPINSTALL"]
    paths = [p["path"] for p in framed_app.posts]
    assert paths == ["/install", "/events", "/"]
    installer_sid, app_sid = (p["args"]["APP_SID"] for p in framed_app.posts if p["path"] != "/events")
    assert installer_sid != app_sid  # a reload: new APP_SID and fresh tokens


def test_chromium_trusts_the_test_ca_through_its_nss_database(https_sandbox, page):
    answer = page.goto(f"{https_sandbox.portal_url}/?user={MEMBER}")
    assert answer is not None and answer.ok and page.url.startswith(f"https://{https_sandbox.domain}/")
    assert page.locator("#app-status").is_visible()


def test_a_page_signed_by_another_ca_does_not_load(page):
    import trustme

    with (
        SandboxServer(tls=trustme.CA()) as stranger,
        pytest.raises(Error, match="ERR_CERT_AUTHORITY_INVALID"),
    ):
        page.goto(f"{stranger.portal_url}/bx24.js")


def test_install_and_open_over_https_protocol_1_and_no_port(https_sandbox, tls_framed_app, page):
    """The whole frame path over TLS: the POST, window.name, postMessage to https://DOMAIN, installFinish."""
    sandbox, app = https_sandbox, tls_framed_app
    sandbox.register_app("local.browser.tls", "s", f"{app.url}/", f"{app.url}/install", "")
    page.goto(f"{sandbox.portal_url}/?user={ADMIN}")
    page.wait_for_function("document.getElementById('app-frame').dataset.fitHeight > 0", timeout=10_000)
    assert sandbox.install_state == "installed"
    received = frame_json(page, "#received")
    assert received["args"]["PROTOCOL"] == "1" and received["args"]["DOMAIN"] == sandbox.domain
    bx24 = frame_json(page, "#bx24")
    assert bx24["domain"] == sandbox.domain and bx24["admin"] is True
    assert page.frames[1].evaluate("window.name") == f"{sandbox.domain}|1|{received['args']['APP_SID']}"
    assert [p["path"] for p in app.posts] == ["/install", "/"]
