"""The activity log: what a switch records, in the same Redis round trip, and who sees what of it."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from redis.connection import AbstractConnection

import oauth
from app import create_app
from sandbox import data
from sandbox.server import SandboxServer
from services import activity, flow_cache, known_flows, switching
from tests.flows.conftest import SEEDED_FLOWS, Page, mark_discovery_fresh, open_page, portal_settings
from tests.flows.test_bulk import pause
from tests.flows.test_flows_page import SUPPORT, switch

BUDGET = 6


def entries(r: redis.Redis, member_id: str) -> list[dict[str, str]]:
    """The portal's stream, oldest first, each item's fields with its id."""
    return [{"id": i, **fields} for i, fields in r.xrange(activity.stream_key(member_id))]


def view(client: FlaskClient, page: Page, **query: object) -> dict:
    answer = client.get("/api/activity", query_string=query, headers=page.headers())
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Redis round trips made by this thread (a pipeline is one): a counter, not a stand-in."""
    counted = [0]
    send = AbstractConnection.send_packed_command
    me = threading.get_ident()

    def counting(self, command, check_health=True):
        if threading.get_ident() == me:
            counted[0] += 1
        return send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    yield counted


def load_scripts(client: FlaskClient, page: Page) -> None:
    """A switch that changes nothing (flow 5 is off already, so nothing is logged): the scripts go
    by SHA, and the first call on a fresh server loads them (NOSCRIPT, SCRIPT LOAD)."""
    answer = switch(client, page, 5, False)
    assert answer.get_json() == {"id": 5, "active": False, "changed": False}


# --- what is written --------------------------------------------------------------------


def test_a_switch_is_recorded_without_an_extra_redis_round_trip(
    portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis, round_trips: list[int]
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    load_scripts(portal_client, page)
    round_trips[0] = 0
    before_ms = int(time.time() * 1000)
    assert switch(portal_client, page, SUPPORT, False).status_code == 200
    # The portal record and the user's pair; the admission; the release (lock, mark, cache, log).
    assert round_trips[0] == 3
    [entry] = entries(redis_db, sandbox.member_id)
    # The same id in the user's and the flow's index: a filtered view reads only those.
    assert redis_db.xrange(activity.user_index_key(sandbox.member_id, data.OWNER)) == [(entry["id"], {"flow": "1"})]
    assert redis_db.xrange(activity.flow_index_key(sandbox.member_id, SUPPORT)) == [(entry["id"], {"user": "2"})]
    at_ms = int(entry.pop("id").split("-")[0])
    assert before_ms - 1000 <= at_ms <= int(time.time() * 1000) + 1000  # the Redis server's clock, UTC
    assert entry == {
        "user": str(data.OWNER),
        "user_name": "Oleg Owner",
        "flow": str(SUPPORT),
        "flow_name": "Support requests",
        "from": "1",
        "to": "0",
        "how": "switch",
        "result": "done",
        "answer": "",
    }


def test_a_bulk_is_recorded_in_its_three_round_trips(
    portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis, round_trips: list[int]
) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    load_scripts(portal_client, page)
    round_trips[0] = 0
    assert pause(portal_client, page, [1, 2, 5, BUDGET]).status_code == 200
    assert round_trips[0] == 3
    logged = {int(e["flow"]): e for e in entries(redis_db, sandbox.member_id)}
    assert sorted(logged) == [1, 2, BUDGET]  # flow 5 was off already: nothing was tried
    assert {e["how"] for e in logged.values()} == {"bulk"}
    assert logged[BUDGET]["result"] == "refused"
    assert logged[BUDGET]["answer"] == "Access denied or flow not found"  # Bitrix24's own words
    assert (logged[BUDGET]["from"], logged[BUDGET]["to"]) == ("1", "0")


def test_refusals_are_recorded_and_nothing_for_flows_the_user_cannot_see(
    portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    member = open_page(portal_client, sandbox, data.MEMBER)
    assert switch(portal_client, member, SUPPORT, False).status_code == 403
    outsider = open_page(portal_client, sandbox, data.OUTSIDER)
    assert switch(portal_client, outsider, SUPPORT, False).status_code == 404
    assert pause(portal_client, outsider, [1, 2, 3]).status_code == 200
    owner = open_page(portal_client, sandbox, data.OWNER)
    assert switch(portal_client, owner, SUPPORT, True).status_code == 200  # on already: nothing tried
    [entry] = entries(redis_db, sandbox.member_id)
    assert (entry["user"], entry["user_name"], entry["result"]) == (str(data.MEMBER), "Maria Member", "refused")


def test_a_scheduled_edge_is_recorded_as_a_schedule(portal_app: Flask, sandbox: SandboxServer, redis_db) -> None:
    open_page(portal_app.test_client(), sandbox, data.OWNER)  # stores her tokens, as scheduling does
    with portal_app.app_context():
        result = switching.switch_as(sandbox.member_id, data.OWNER, SUPPORT, False, how="schedule")
    assert result.changed
    [entry] = entries(redis_db, sandbox.member_id)
    assert (entry["how"], entry["result"]) == ("schedule", "done")


def test_an_unknown_how_is_refused_before_anything_is_recorded(portal_app: Flask) -> None:
    with portal_app.app_context(), pytest.raises(ValueError, match="how must be one of"):
        activity.record_args(1, "later", [])


# --- retention and uninstall ----------------------------------------------------------


@pytest.fixture
def roomy_app(app_config: dict, sandbox: SandboxServer, redis_db: redis.Redis) -> Flask:
    sandbox.settings.rate_limit = None
    app = create_app(
        {**portal_settings(app_config, sandbox), "B24_RATE_LIMIT": "10000/1000", "ACTIVITY_MAX_ENTRIES": 100}
    )
    known_flows.remember(redis_db, sandbox.member_id, SEEDED_FLOWS)
    mark_discovery_fresh(redis_db, sandbox.member_id)
    return app


def test_the_log_keeps_at_most_about_the_configured_number_of_entries(
    roomy_app: Flask, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    client = roomy_app.test_client()
    ids = sandbox.seed_many_flows(120)
    known_flows.remember(redis_db, sandbox.member_id, ids)
    page = open_page(client, sandbox, data.OWNER)
    for state in (False, True, False):
        assert pause(client, page, ids, active=state).get_json()["counts"]["changed"] == 120
    # MAXLEN ~ trims whole nodes of the stream (100 entries each by default), never below the bound.
    assert 100 <= redis_db.xlen(activity.stream_key(sandbox.member_id)) < 100 + 100


def test_entries_older_than_the_configured_age_go_and_the_keys_expire(
    portal_app: Flask, portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    key = activity.stream_key(sandbox.member_id)
    old = int(time.time() * 1000) - 8 * 86400 * 1000
    for n in range(150):  # more than a stream node, so that MINID ~ can drop whole nodes
        redis_db.xadd(key, {"user": "2", "flow": "1", "how": "switch"}, id=f"{old}-{n}")
    portal_app.config["ACTIVITY_MAX_DAYS"] = 7
    page = open_page(portal_client, sandbox, data.OWNER)
    assert switch(portal_client, page, SUPPORT, False).status_code == 200
    assert redis_db.xlen(key) < 150  # the week-old entries go as the next one is written
    assert 0 < redis_db.pttl(key) <= 7 * 86400 * 1000
    assert 0 < redis_db.pttl(activity.people_key(sandbox.member_id)) <= 7 * 86400 * 1000


def test_uninstall_deletes_the_log(portal_app: Flask, portal_client: FlaskClient, sandbox, redis_db) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    switch(portal_client, page, SUPPORT, False)
    assert redis_db.exists(activity.stream_key(sandbox.member_id), activity.people_key(sandbox.member_id)) == 2
    with portal_app.app_context():
        oauth.store().delete_portal(sandbox.member_id)
    assert redis_db.keys(f"fs:{{{sandbox.member_id}}}:activity*") == []


# --- who sees what ----------------------------------------------------------------------


def everyones_changes(client: FlaskClient, sandbox: SandboxServer) -> dict[int, Page]:
    pages = {user: open_page(client, sandbox, user) for user in (data.ADMIN, data.OWNER, data.MEMBER)}
    switch(client, pages[data.OWNER], SUPPORT, False)
    switch(client, pages[data.MEMBER], 2, False)  # refused
    switch(client, pages[data.ADMIN], BUDGET, False)
    switch(client, pages[data.OWNER], SUPPORT, True)
    return pages


def test_an_admin_sees_the_whole_portal_and_others_their_own(
    portal_client: FlaskClient, sandbox: SandboxServer
) -> None:
    pages = everyones_changes(portal_client, sandbox)
    admin = view(portal_client, pages[data.ADMIN])
    assert admin["admin"] is True
    assert [(e["user"]["id"], e["flow"]["id"]) for e in admin["entries"]] == [
        (data.OWNER, SUPPORT), (data.ADMIN, BUDGET), (data.MEMBER, 2), (data.OWNER, SUPPORT)
    ]  # newest first
    assert admin["people"] == [
        {"id": data.ADMIN, "name": "Anna Admin"},
        {"id": data.OWNER, "name": "Oleg Owner"},
        {"id": data.MEMBER, "name": "Maria Member"},
    ]
    assert [flow["id"] for flow in admin["flows"]] == [SUPPORT, 2, BUDGET]
    owner = view(portal_client, pages[data.OWNER])
    assert owner["admin"] is False and owner["people"] == []
    assert [(e["user"]["id"], e["from"], e["to"]) for e in owner["entries"]] == [
        (data.OWNER, False, True), (data.OWNER, True, False)
    ]
    member = view(portal_client, pages[data.MEMBER], user=data.OWNER)  # asking for someone else's
    assert [(e["user"]["id"], e["result"]) for e in member["entries"]] == [(data.MEMBER, "refused")]
    assert member["entries"][0]["answer"] == "Access denied or flow not found"


def test_nothing_about_a_flow_bitrix24_no_longer_shows_the_user(
    portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    pages = everyones_changes(portal_client, sandbox)
    assert [e["flow"]["id"] for e in view(portal_client, pages[data.MEMBER])["entries"]] == [2]
    flow = sandbox.flow(2)
    flow.team, flow.task_creators = [], []  # Maria is out of the flow: Bitrix24 no longer shows it to her
    redis_db.delete(flow_cache.visible_key(sandbox.member_id, data.MEMBER))  # her cached list has aged out
    sandbox.reset_counters()
    member = view(portal_client, pages[data.MEMBER])
    assert member["entries"] == []
    assert [flow["id"] for flow in member["flows"]] == [SUPPORT]  # flows 2 and 6: not even their names
    # Asked with her own token: user.admin, and a read of the log's flows.
    assert sandbox.calls("user.admin", data.MEMBER) == 1
    assert sandbox.calls("tasks.flow.Flow.get", data.MEMBER) >= 1
    assert sandbox.rest_requests <= 2


def test_a_current_visibility_entry_spares_the_portal(portal_client: FlaskClient, sandbox: SandboxServer) -> None:
    pages = everyones_changes(portal_client, sandbox)
    open_page(portal_client, sandbox, data.OWNER)  # her list, just read
    sandbox.reset_counters()
    assert len(view(portal_client, pages[data.OWNER])["entries"]) == 2
    assert sandbox.rest_requests == 0


def test_filters_by_flow_user_and_date(portal_client: FlaskClient, sandbox: SandboxServer) -> None:
    pages = everyones_changes(portal_client, sandbox)
    admin = pages[data.ADMIN]
    by_flow = view(portal_client, admin, flow=SUPPORT)["entries"]
    assert [e["flow"]["id"] for e in by_flow] == [SUPPORT, SUPPORT]
    by_user = view(portal_client, admin, user=data.MEMBER)["entries"]
    assert [e["user"]["id"] for e in by_user] == [data.MEMBER]
    newest = view(portal_client, admin)["entries"]
    at = [int(e["id"].split("-")[0]) for e in newest]
    assert view(portal_client, admin, since=at[0] + 1)["entries"] == []
    assert len(view(portal_client, admin, until=at[0])["entries"]) == 4
    assert view(portal_client, admin, since=at[-1], until=at[-1])["entries"][-1]["id"] == newest[-1]["id"]


@pytest.mark.parametrize("viewer", [data.OWNER, data.ADMIN], ids=["her own, by her index", "the whole portal"])
def test_pages_follow_the_cursor(roomy_app: Flask, sandbox: SandboxServer, redis_db: redis.Redis, viewer) -> None:
    client = roomy_app.test_client()
    ids = sandbox.seed_many_flows(60)
    known_flows.remember(redis_db, sandbox.member_id, ids)
    owner = open_page(client, sandbox, data.OWNER)
    pause(client, owner, ids)
    pause(client, owner, ids, active=True)
    page = open_page(client, sandbox, viewer)
    seen: list[str] = []
    cursor = None
    sizes = []
    while True:
        answer = view(client, page, **({"before": cursor} if cursor else {}))
        sizes.append(len(answer["entries"]))
        seen += [e["id"] for e in answer["entries"]]
        cursor = answer["next"]
        if cursor is None:
            break
    assert sizes == [50, 50, 20]
    assert len(set(seen)) == 120 and seen == sorted(seen, key=lambda i: tuple(map(int, i.split("-"))), reverse=True)


@pytest.mark.parametrize(
    "query", [{"flow": "x"}, {"user": "-1"}, {"since": "1e9"}, {"until": "9" * 16}, {"before": "12;DROP"}]
)
def test_a_bad_filter_is_a_400(portal_client: FlaskClient, sandbox: SandboxServer, query: dict) -> None:
    page = open_page(portal_client, sandbox, data.OWNER)
    for path in ("/api/activity", "/api/activity.csv"):
        answer = portal_client.get(path, query_string=query, headers=page.headers())
        assert answer.status_code == 400
        assert answer.get_json()["error"] == "bad_request"


def test_the_view_needs_the_frame_session(portal_client: FlaskClient) -> None:
    for path in ("/api/activity", "/api/activity.csv"):
        assert portal_client.get(path).status_code == 401


# --- CSV -----------------------------------------------------------------------------


def test_csv_is_rfc_4180_utf8_with_bom_and_neutralises_formulas(
    portal_client: FlaskClient, sandbox: SandboxServer, redis_db: redis.Redis
) -> None:
    evil = sandbox.add_flow('=HYPERLINK("http://x","a, b")', owner_id=data.OWNER)
    plus = sandbox.add_flow("+1 line\nbreak", owner_id=data.OWNER)
    known_flows.remember(redis_db, sandbox.member_id, [evil, plus])
    page = open_page(portal_client, sandbox, data.OWNER, lang="de")
    pause(portal_client, page, [evil, plus, SUPPORT])
    answer = portal_client.get("/api/activity.csv", headers=page.headers())
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv" and answer.mimetype_params["charset"] == "utf-8"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="flow-switch-activity-')
    raw = answer.get_data()
    assert raw.startswith("\ufeff".encode())
    text = raw.decode("utf-8")[1:]
    assert text.endswith("\r\n") and "\r\n" in text.split('"+1 line', 1)[0]
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == [
        "Zeit (UTC)", "Benutzer-ID", "Benutzer", "Flow-ID", "Flow", "Von", "Nach", "Wie", "Ergebnis",
        "Antwort von Bitrix24",
    ]
    names = {int(row[3]): row[4] for row in rows[1:]}
    assert names[evil] == '\'=HYPERLINK("http://x","a, b")'
    assert names[plus] == "'+1 line\nbreak"
    support = next(row for row in rows[1:] if int(row[3]) == SUPPORT)
    assert support[2] == "Oleg Owner" and support[5:9] == ["An", "Aus", "Mehrfachauswahl", "Erledigt"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_csv_follows_the_filters_and_the_viewers_rights(portal_client: FlaskClient, sandbox: SandboxServer) -> None:
    pages = everyones_changes(portal_client, sandbox)

    def rows(page: Page, **query: object) -> list[list[str]]:
        text = portal_client.get("/api/activity.csv", query_string=query, headers=page.headers()).get_data(True)
        return list(csv.reader(io.StringIO(text[1:], newline="")))[1:]

    assert len(rows(pages[data.ADMIN])) == 4
    assert [row[3] for row in rows(pages[data.ADMIN], flow=SUPPORT)] == [str(SUPPORT)] * 2
    assert {row[1] for row in rows(pages[data.OWNER])} == {str(data.OWNER)}
    assert len(rows(pages[data.MEMBER], user=data.ADMIN)) == 1  # only her own, whatever she asks
