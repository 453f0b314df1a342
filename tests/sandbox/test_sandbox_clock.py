"""The sandbox clock (tokens age without sleeping), users' time zones, and the log of flow switches."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfoNotFoundError

import pytest
import requests

from sandbox.data import ADMIN, MEMBER, OUTSIDER, OWNER

DAY = 86400


def refresh(token_url: str, credentials: dict, refresh_token: str) -> requests.Response:
    params = {"grant_type": "refresh_token", **credentials, "refresh_token": refresh_token}
    return requests.get(token_url, params=params, timeout=10)


def call(sandbox, method: str, user: int, **params) -> requests.Response:
    """A fresh token each time: moving the clock ages the ones issued before."""
    token = sandbox.issue_tokens(user)["access_token"]
    return requests.post(sandbox.client_endpoint + method, json={"auth": token, **params}, timeout=10)


def test_refresh_token_ages_out_with_the_clock(sandbox, token_url, credentials):
    old, young = sandbox.issue_tokens(MEMBER), sandbox.issue_tokens(MEMBER)
    sandbox.advance_clock(sandbox.settings.refresh_ttl - DAY)
    assert refresh(token_url, credentials, young["refresh_token"]).status_code == 200
    expired = requests.post(
        sandbox.client_endpoint + "profile", json={"auth": old["access_token"]}, timeout=10
    )
    assert expired.status_code == 401 and expired.json()["error"] == "expired_token"
    sandbox.advance_clock(DAY + 1)
    answer = refresh(token_url, credentials, old["refresh_token"])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_authorization_code_ages_with_the_clock(sandbox, token_url, credentials):
    location = requests.get(
        f"{sandbox.portal_url}/oauth/authorize/",
        params={"client_id": sandbox.app.client_id, "user": ADMIN},
        allow_redirects=False,
        timeout=10,
    ).headers["Location"]
    code = location.split("code=")[1].split("&")[0]
    sandbox.advance_clock(sandbox.settings.code_ttl + 1)
    grant = {"grant_type": "authorization_code", **credentials, "code": code}
    assert requests.get(token_url, params=grant, timeout=10).json()["error"] == "invalid_grant"


def test_the_clock_only_moves_forward(sandbox):
    before = sandbox.now()
    sandbox.advance_clock(3600)
    assert 3599 < (sandbox.now() - before).total_seconds() < 3700
    with pytest.raises(ValueError, match="forward"):
        sandbox.advance_clock(-1)


def advance_to(sandbox, moment: datetime) -> None:
    sandbox.advance_clock((moment - sandbox.now()).total_seconds())


@pytest.mark.parametrize(
    ("month", "offsets"),
    [
        (1, {ADMIN: 3600, OWNER: -5 * 3600, MEMBER: 0, OUTSIDER: 9 * 3600}),
        (7, {ADMIN: 7200, OWNER: -4 * 3600, MEMBER: 0, OUTSIDER: 9 * 3600}),
    ],
)
def test_time_zones_in_user_current_and_profile(sandbox, month, offsets):
    advance_to(sandbox, datetime(sandbox.now().year + 2, month, 15, 12, tzinfo=UTC))
    zones = {ADMIN: "Europe/Berlin", OWNER: "America/New_York", MEMBER: "", OUTSIDER: "Asia/Tokyo"}
    for user, zone in zones.items():
        assert call(sandbox, "user.current", user).json()["result"]["TIME_ZONE"] == zone
        profile = call(sandbox, "profile", user).json()["result"]
        assert (profile["TIME_ZONE"], profile["TIME_ZONE_OFFSET"]) == (zone, offsets[user])


def test_profile_without_offset_and_set_time_zone(sandbox):
    sandbox.settings.profile_time_zone_offset = False
    sandbox.set_time_zone(MEMBER, "Asia/Kolkata")
    profile = call(sandbox, "profile", MEMBER).json()["result"]
    assert profile["TIME_ZONE"] == "Asia/Kolkata" and "TIME_ZONE_OFFSET" not in profile
    users = call(sandbox, "user.get", ADMIN, filter={"ID": [MEMBER]}).json()["result"]
    assert users[0]["TIME_ZONE"] == "Asia/Kolkata"
    with pytest.raises(ZoneInfoNotFoundError):
        sandbox.set_time_zone(MEMBER, "Mars/Olympus")


def test_flow_changes_record_who_switched_and_when(sandbox):
    assert call(sandbox, "tasks.flow.Flow.activate", OWNER, flowId=1).json()["result"] is True
    assert (
        call(sandbox, "tasks.flow.Flow.activate", MEMBER, flowId=1).status_code == 400
    )  # refused: not logged
    sandbox.advance_clock(3600)
    assert call(sandbox, "tasks.flow.Flow.activate", ADMIN, flowId=1).json()["result"] is True
    first, second = sandbox.flow_changes()
    assert (first.flow_id, first.user_id, first.active) == (1, OWNER, False)
    assert (second.flow_id, second.user_id, second.active) == (1, ADMIN, True)
    assert 3599 < (second.at - first.at).total_seconds() < 3700
    flow = call(sandbox, "tasks.flow.Flow.get", OWNER, flowId=1).json()["result"]
    assert datetime.fromisoformat(flow["activity"]) == second.at.replace(microsecond=0)
    sandbox.reset_counters()
    assert sandbox.flow_changes() == []
